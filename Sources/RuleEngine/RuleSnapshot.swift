import EmbeddedResources
import EvidenceModel
import Foundation

/// A compiled copy of the built-in rule set, cached on disk so that start-up skips YAML parsing
/// (most of a one-shot command's time). The cache is keyed by a hash of every rule file, so any
/// change to the rules (a rebuild, an upgrade) misses it; any problem reading it falls back to the
/// YAML. `AUTHDOCTOR_CACHE_DIR` moves it, `AUTHDOCTOR_NO_CACHE=1` turns it off.
public enum RuleSnapshot {
    /// /3: rule examples are left out (only `rules test` reads them, and it parses the YAML);
    /// remediation variants are kept. /4: a pattern's literal prefilter is stored with it.
    static let format = "authdoctor.rules-snapshot/4"

    /// The cache folder: `$AUTHDOCTOR_CACHE_DIR`, else `$XDG_CACHE_HOME/authdoctor`, else `~/.cache/authdoctor`.
    static var directory: String? {
        let env = ProcessInfo.processInfo.environment
        if let off = env["AUTHDOCTOR_NO_CACHE"], !off.isEmpty, off != "0" { return nil }
        if let dir = env["AUTHDOCTOR_CACHE_DIR"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/authdoctor" }
        if let home = env["HOME"], !home.isEmpty { return home + "/.cache/authdoctor" }
        return nil
    }

    /// FNV-1a over every file's path and text: cheap, and enough to tell rule sets apart.
    static func key(_ files: [SourceFile]) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        func mix(_ s: String) {
            for byte in s.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
            hash = (hash ^ 0xff) &* 0x100000001b3
        }
        mix(format)
        for file in files { mix(file.path); mix(file.text) }
        return String(hash, radix: 16)
    }

    /// The rule set's version in reports: a hash of every rule file's path and text (the same files,
    /// the same version; any edit, a new one).
    public static func contentHash(_ files: [SourceFile]) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for file in files {
            for byte in file.path.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
            hash = (hash ^ 0xff) &* 0x100000001b3
            for byte in file.text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
            hash = (hash ^ 0xfe) &* 0x100000001b3
        }
        let hex = String(hash, radix: 16)
        return "rules-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The built-in set's version: the build's digest of its rule files (no hashing at start-up).
    public static var builtinVersion: String { "rules-" + String(EmbeddedFiles.rulesDigest.prefix(16)) }

    /// The key of the built-in set: the digest the build computed over its rule files, so start-up
    /// finds the cache without decoding or hashing the rule texts.
    static var builtinKey: String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in (format + "|" + EmbeddedFiles.rulesDigest).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return "b" + String(hash, radix: 16)
    }

    static func path(key: String) -> String? {
        directory.map { "\($0)/rules-\(key).json" }
    }

    /// The cached rules and remediations for exactly these files, if present and readable.
    public static func load(for files: [SourceFile]) -> (rules: [Rule], remediations: [Remediation], variants: [RemediationVariant])? {
        load(key: key(files))
    }

    public static func store(_ rules: [Rule], _ remediations: [Remediation], _ variants: [RemediationVariant] = [], for files: [SourceFile]) {
        store(rules, remediations, variants, key: key(files))
    }

    /// The cached rules and remediations stored under `key`, if present and readable.
    public static func load(key: String) -> (rules: [Rule], remediations: [Remediation], variants: [RemediationVariant])? {
        guard let path = path(key: key), let data = FileManager.default.contents(atPath: path),
              let json = try? JSON.parse([UInt8](data)),
              json["format"]?.stringValue == format,
              let rules = json["rules"]?.arrayValue?.map(decodeRule), !rules.contains(where: { $0 == nil }),
              let remediations = json["remediations"]?.arrayValue?.map(decodeRemediation), !remediations.contains(where: { $0 == nil }),
              let variants = json["variants"]?.arrayValue?.map(decodeVariant), !variants.contains(where: { $0 == nil })
        else { return nil }
        parsedKeptAlive.keep(json)
        return (rules.compactMap { $0 }, remediations.compactMap { $0 }, variants.compactMap { $0 })
    }

    /// The last snapshot's parsed tree stays referenced: freeing its hundred thousand nodes one by
    /// one was a tenth of a one-shot command, and the process usually ends right after.
    static let parsedKeptAlive = KeptUntilReplaced<JSONValue>()

    /// Writes the snapshot (atomically: a temporary file renamed into place). Failures are ignored:
    /// the cache only saves time.
    public static func store(_ rules: [Rule], _ remediations: [Remediation], _ variants: [RemediationVariant] = [], key: String) {
        guard let path = path(key: key), let directory else { return }
        var w = JSONWriter(capacity: 256 * 1024)
        w.value(.object([
            ("format", .string(format)),
            ("rules", .array(rules.map(encode))),
            ("remediations", .array(remediations.map(encode))),
            ("variants", .array(variants.map(encode))),
        ]))
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = path + ".\(getpid()).tmp"
            try Data(w.bytes).write(to: URL(fileURLWithPath: temporary))
            if rename(temporary, path) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
        } catch {
            return
        }
        prune(directory, keeping: path)
    }

    /// How many snapshots the cache folder keeps: every edit of a local rules folder makes a new
    /// one, and nothing else ever removes the old.
    static let kept = 8

    /// Removes all but the `kept` most recently written snapshots (never `current`).
    static func prune(_ directory: String, keeping current: String) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return }
        let snapshots = names.filter { $0.hasPrefix("rules-") && $0.hasSuffix(".json") }.map { directory + "/" + $0 }
        guard snapshots.count > kept else { return }
        func written(_ path: String) -> Date { ((try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast }
        let byAge = snapshots.map { ($0, written($0)) }.sorted { $0.1 > $1.1 }
        for (path, _) in byAge.dropFirst(kept) where path != current { try? fm.removeItem(atPath: path) }
    }

    // MARK: - Encoding

    static func encode(_ rule: Rule) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .string(rule.id)), ("category", .string(rule.category)), ("failure", .string(rule.failure)),
            ("severity", .string(rule.severity)), ("confidence", .double(rule.confidence)), ("fallback", .bool(rule.fallback)),
            ("when", encode(rule.when)), ("summary", .string(rule.summary)),
            ("remediation", .array(rule.remediation.map { .string($0) })),
            ("file", .string(rule.file)), ("line", .int(rule.line)),
        ]
        if let actor = rule.actor { members.append(("actor", .string(actor))) }
        if let transient = rule.transient { members.append(("transient", .bool(transient))) }
        if !rule.explains.isEmpty { members.append(("explains", .array(rule.explains.map { .string($0) }))) }
        return .object(members)
    }

    static func encode(_ when: When) -> JSONValue {
        .object([("all", .array(when.all.map(encode))), ("any", .array(when.any.map(encode))), ("not", .array(when.not.map(encode)))])
    }

    static func encode(_ c: Condition) -> JSONValue {
        let (op, value): (String, JSONValue) = {
            switch c.op {
            case let .equals(v): return ("equals", json(v))
            case let .oneOf(vs): return ("in", .array(vs.map(json)))
            case let .matches(p):
                // A plain source has its prefilter analysed again when loaded: when there is none, or
                // when a word would not survive the trip through a JSON string.
                guard let prefilter = p.prefilter,
                      (prefilter.needles + prefilter.requirements.joined().joined()).allSatisfy({
                          $0 == LiteralPrefilter.nonASCII || Array(String(decoding: $0, as: UTF8.self).utf8) == $0
                      })
                else { return ("matches", .string(p.source)) }
                func words(_ list: [[UInt8]]) -> JSONValue {
                    .array(list.map { .string($0 == LiteralPrefilter.nonASCII ? "\u{FFFF}" : String(decoding: $0, as: UTF8.self)) })
                }
                return ("matches", .object([
                    ("source", .string(p.source)),
                    ("needles", words(prefilter.needles)),
                    ("requirements", .array(prefilter.requirements.map { .array($0.map(words)) })),
                ]))
            case let .contains(s, _): return ("contains", .string(s))
            case let .exists(b): return ("exists", .bool(b))
            case let .greaterThan(n): return ("gt", .double(n))
            case let .greaterOrEqual(n): return ("gte", .double(n))
            case let .lessThan(n): return ("lt", .double(n))
            case let .lessOrEqual(n): return ("lte", .double(n))
            }
        }()
        return .object([("fact", .string(c.fact)), ("op", .string(op)), ("value", value), ("line", .int(c.line))])
    }

    static func json(_ v: FactValue) -> JSONValue {
        switch v {
        case let .string(s): return .string(s)
        case let .int(i): return .int(i)
        case let .double(d): return .double(d)
        case let .bool(b): return .bool(b)
        case .null: return .null
        case let .list(items): return .array(items.map(json))
        }
    }

    static func encode(_ r: Remediation) -> JSONValue {
        .object([("id", .string(r.id)), ("title", .string(r.title)), ("doc", .string(r.doc)),
                 ("covers", .array(r.covers.map { .string($0) })), ("issuesLink", .bool(r.issuesLink)),
                 ("steps", .array(r.steps.map { .string($0) })), ("categories", .array(r.categories.map { .string($0) }))])
    }

    static func encode(_ v: RemediationVariant) -> JSONValue {
        func list(_ items: [String]) -> JSONValue { .array(items.map { .string($0) }) }
        var members: [(String, JSONValue)] = [
            ("id", .string(v.id)), ("remediation", .string(v.remediation)), ("providers", list(v.providers)),
            ("categories", list(v.categories)), ("failures", list(v.failures)), ("rules", list(v.rules)),
            ("requires", list(v.requires)), ("steps", list(v.steps)), ("file", .string(v.file)), ("line", .int(v.line)),
        ]
        if let title = v.title { members.append(("title", .string(title))) }
        if let doc = v.doc { members.append(("doc", .string(doc))) }
        return .object(members)
    }

    static func decodeVariant(_ v: JSONValue) -> RemediationVariant? {
        guard let id = v["id"]?.stringValue, let remediation = v["remediation"]?.stringValue, let providers = strings(v["providers"]),
              let categories = strings(v["categories"]), let failures = strings(v["failures"]), let rules = strings(v["rules"]),
              let requires = strings(v["requires"]), let steps = strings(v["steps"]), let file = v["file"]?.stringValue,
              let line = v["line"]?.intValue else { return nil }
        return RemediationVariant(id: id, remediation: remediation, providers: providers, categories: categories, failures: failures,
                                  rules: rules, requires: requires, title: v["title"]?.stringValue, doc: v["doc"]?.stringValue,
                                  steps: steps, file: file, line: line)
    }

    // MARK: - Decoding (nil on anything unexpected: the caller then parses the YAML)

    static func strings(_ v: JSONValue?) -> [String]? {
        guard let items = v?.arrayValue else { return nil }
        let out = items.compactMap(\.stringValue)
        return out.count == items.count ? out : nil
    }

    /// A prefilter's byte strings. The pseudo-needle 0xFF is not UTF-8, so it is stored as "\u{FFFF}".
    static func words(_ v: JSONValue?) -> [[UInt8]]? {
        guard let items = strings(v) else { return nil }
        return items.map { $0 == "\u{FFFF}" ? LiteralPrefilter.nonASCII : Array($0.utf8) }
    }

    static func number(_ v: JSONValue?) -> Double? {
        switch v {
        case let .int(i)?: return Double(i)
        case let .double(d)?: return d
        default: return nil
        }
    }

    static func decodeRule(_ v: JSONValue) -> Rule? {
        guard let id = v["id"]?.stringValue, let category = v["category"]?.stringValue, let failure = v["failure"]?.stringValue,
              let severity = v["severity"]?.stringValue, let confidence = number(v["confidence"]),
              case let .bool(fallback)? = v["fallback"], let whenJSON = v["when"], let when = decodeWhen(whenJSON),
              let summary = v["summary"]?.stringValue, let remediation = strings(v["remediation"]),
              let file = v["file"]?.stringValue, let line = v["line"]?.intValue else { return nil }
        var transient: Bool?
        if case let .bool(t)? = v["transient"] { transient = t }
        return Rule(id: id, category: category, failure: failure, severity: severity, confidence: confidence, fallback: fallback,
                    actor: v["actor"]?.stringValue, transient: transient, when: when, summary: summary, remediation: remediation,
                    examples: RuleExamples(), file: file, line: line,
                    explains: strings(v["explains"]) ?? [])
    }

    static func decodeWhen(_ v: JSONValue) -> When? {
        guard let all = v["all"]?.arrayValue, let any = v["any"]?.arrayValue, let not = v["not"]?.arrayValue else { return nil }
        var when = When()
        for c in all { guard let condition = decodeCondition(c) else { return nil }; when.all.append(condition) }
        for b in any { guard let branch = decodeWhen(b) else { return nil }; when.any.append(branch) }
        for b in not { guard let branch = decodeWhen(b) else { return nil }; when.not.append(branch) }
        // The snapshot keeps the cheapest-first order; the evaluation order flag is worked out again.
        when.anyFirst = when.decidesAnyFirst()
        return when
    }

    static func decodeCondition(_ v: JSONValue) -> Condition? {
        guard let fact = v["fact"]?.stringValue, let op = v["op"]?.stringValue, let value = v["value"],
              let line = v["line"]?.intValue else { return nil }
        let parsed: Operator
        switch op {
        case "equals": parsed = .equals(FactValue(value))
        case "in":
            guard let items = value.arrayValue else { return nil }
            parsed = .oneOf(items.map(FactValue.init))
        case "matches":
            // Built-in patterns were checked when the snapshot was made (and by `rules lint`).
            if let source = value.stringValue {
                parsed = .matches(Pattern(snapshotSource: source, prefilter: LiteralPrefilter(pattern: source)))
            } else {
                guard let source = value["source"]?.stringValue, let needles = words(value["needles"]),
                      let requirementsJSON = value["requirements"]?.arrayValue else { return nil }
                var requirements: [[[[UInt8]]]] = []
                for alternative in requirementsJSON {
                    guard let sets = alternative.arrayValue else { return nil }
                    var decoded: [[[UInt8]]] = []
                    for set in sets { guard let list = words(set) else { return nil }; decoded.append(list) }
                    requirements.append(decoded)
                }
                parsed = .matches(Pattern(snapshotSource: source, prefilter: LiteralPrefilter(needles: needles, requirements: requirements)))
            }
        case "contains":
            guard let s = value.stringValue else { return nil }
            parsed = .contains(s, s.utf8.allSatisfy { $0 < 0x80 } ? ByteSearch.lowered(s) : nil)
        case "exists":
            guard case let .bool(b) = value else { return nil }
            parsed = .exists(b)
        case "gt", "gte", "lt", "lte":
            guard let n = number(value) else { return nil }
            parsed = op == "gt" ? .greaterThan(n) : op == "gte" ? .greaterOrEqual(n) : op == "lt" ? .lessThan(n) : .lessOrEqual(n)
        default: return nil
        }
        return Condition(fact: fact, op: parsed, line: line)
    }

    static func decodeRemediation(_ v: JSONValue) -> Remediation? {
        guard let id = v["id"]?.stringValue, let title = v["title"]?.stringValue, let doc = v["doc"]?.stringValue,
              let covers = strings(v["covers"]), case let .bool(issuesLink)? = v["issuesLink"],
              let steps = strings(v["steps"]), let categories = strings(v["categories"]) else { return nil }
        return Remediation(id: id, title: title, doc: doc, covers: covers, issuesLink: issuesLink, steps: steps, categories: categories)
    }
}
