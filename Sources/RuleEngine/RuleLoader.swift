import EvidenceModel
import Foundation
import YAMLSupport
import Yams

/// A problem in a rule or remediation file, with its place.
public struct LintIssue: Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// Parses rule files and the remediation catalog, reporting every problem with file and line.
public struct RuleLoader {
    public private(set) var rules: [Rule] = []
    public private(set) var remediations: [Remediation] = []
    public private(set) var variants: [RemediationVariant] = []
    public private(set) var issues: [LintIssue] = []

    /// Compile regular expressions while loading (and so report bad ones); off only for the built-in set.
    public var compileRegexesNow = true

    public init(compileRegexesNow: Bool = true) { self.compileRegexesNow = compileRegexesNow }

    static let ruleKeys: Set<String> = [
        "id", "category", "failure", "severity", "confidence", "fallback", "actor", "transient", "when", "summary",
        "remediation", "examples", "description", "references", "tags", "explains",
    ]
    static let remediationKeys: Set<String> = ["id", "title", "doc", "covers", "issues-link", "steps", "categories"]
    static let variantKeys: Set<String> = [
        "id", "remediation", "provider", "category", "failure", "rule", "requires", "title", "doc", "steps", "description",
    ]
    static let operatorKeys: Set<String> = ["equals", "in", "matches", "contains", "exists", "gt", "gte", "lt", "lte"]

    /// Loads files on all cores (YAML parsing is most of start-up time), keeping file order.
    public static func loadConcurrently(_ files: [SourceFile], compileRegexesNow: Bool = true) -> RuleLoader {
        let results = ConcurrentSlots<RuleLoader>(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            var loader = RuleLoader(compileRegexesNow: compileRegexesNow)
            loader.load(yaml: files[index].text, file: files[index].path)
            results.set(index, loader)
        }
        var merged = RuleLoader()
        for part in results.values {
            merged.rules += part.rules
            merged.remediations += part.remediations
            merged.variants += part.variants
            merged.issues += part.issues
        }
        return merged
    }

    /// Loads one YAML file: a rule, a `rules:` list, or the `remediations:` catalog.
    public mutating func load(yaml: String, file: String) {
        let node: Node?
        do {
            // The basic resolver skips Yams' regex-based tag guessing (most of load time); scalars are typed here.
            node = try Yams.compose(yaml: yaml, .basic)
        } catch {
            issues.append(LintIssue(file: file, line: YAMLProblems.line(of: error), message: "invalid YAML: \(YAMLProblems.oneLine(error))"))
            return
        }
        guard let node else { return }
        // Aliases of aliases: bounded before anything walks the tree.
        if let problem = YAMLProblems.expansionProblem(node) {
            issues.append(LintIssue(file: file, line: problem.line, message: problem.message))
            return
        }
        guard let mapping = node.mapping else {
            issue(file, node, "expected a mapping (a rule, `rules:`, `remediations:` or `variants:`)")
            return
        }
        if let list = mapping["remediations"] {
            guard let items = list.sequence else { issue(file, list, "`remediations` must be a list"); return }
            for item in items { loadRemediation(item, file: file) }
        } else if let list = mapping["variants"] {
            guard let items = list.sequence else { issue(file, list, "`variants` must be a list"); return }
            for item in items { loadVariant(item, file: file) }
        } else if let list = mapping["rules"] {
            guard let items = list.sequence else { issue(file, list, "`rules` must be a list"); return }
            for item in items { loadRule(item, file: file) }
        } else {
            loadRule(node, file: file)
        }
    }

    mutating func issue(_ file: String, _ node: Node?, _ message: String) {
        issues.append(LintIssue(file: file, line: (node?.mark?.line).map { $0 } ?? 1, message: message))
    }


    // MARK: - Rules

    mutating func loadRule(_ node: Node, file: String) {
        guard let map = node.mapping else { issue(file, node, "a rule must be a mapping"); return }
        let fields = Self.fields(map)
        for (key, _) in map {
            guard let name = key.string, Self.ruleKeys.contains(name) else {
                issue(file, key, "unknown key '\(key.string ?? "?")' in rule\(Suggestion.hint(key.string ?? "", among: Self.ruleKeys.sorted())) (allowed: \(Self.ruleKeys.sorted().joined(separator: ", ")))")
                continue
            }
        }
        let startIssues = issues.count
        func required(_ key: String) -> String? {
            guard let value = fields[key] else { issue(file, node, "rule is missing '\(key)'"); return nil }
            guard let s = value.string, !s.isEmpty else { issue(file, value, "'\(key)' must be a non-empty string"); return nil }
            return s
        }
        let id = required("id") ?? "?"
        if id != "?" && !id.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) {
            issue(file, fields["id"], "rule id '\(id)' must be lower-case letters, digits, '.', '-' or '_'")
        }
        let category = required("category") ?? "?"
        if category != "?" && !Vocabulary.categories.contains(category) {
            issue(file, fields["category"], "unknown category '\(category)'\(Suggestion.hint(category, among: Vocabulary.categories.sorted())) (known: \(Vocabulary.categories.sorted().joined(separator: ", ")))")
        }
        let failure = required("failure") ?? "?"
        if failure != "?" && !Vocabulary.failures.contains(failure) {
            issue(file, fields["failure"], "unknown failure '\(failure)'\(Suggestion.hint(failure, among: Vocabulary.failures)) (known: \(Vocabulary.failures.joined(separator: ", ")))")
        }
        let severity = fields["severity"]?.string ?? "error"
        if !Vocabulary.severities.contains(severity) {
            issue(file, fields["severity"], "unknown severity '\(severity)'\(Suggestion.hint(severity, among: Vocabulary.severities)) (known: error, warning, info)")
        }
        let summary = required("summary") ?? ""
        var confidence: Double?
        if let c = fields["confidence"] {
            if let v = Self.number(c), (0...1).contains(v) { confidence = v }
            else { issue(file, c, "'confidence' must be a number from 0 to 1") }
        }
        var fallback = false
        if let f = fields["fallback"] {
            if let b = Self.bool(f) { fallback = b } else { issue(file, f, "'fallback' must be true or false") }
        }
        var transient: Bool?
        if let t = fields["transient"] {
            if let b = Self.bool(t) { transient = b } else { issue(file, t, "'transient' must be true or false") }
        }
        var actor: String?
        if let a = fields["actor"] {
            if let s = a.string, Vocabulary.actors.contains(s) { actor = s }
            else { issue(file, a, "'actor' must be one of client, engineer, provider") }
        }
        var remediation: [String] = []
        if let r = fields["remediation"] {
            if let items = r.sequence {
                for item in items {
                    if let s = item.string { remediation.append(s) } else { issue(file, item, "remediation ids are strings") }
                }
            } else { issue(file, r, "'remediation' must be a list of ids") }
        } else {
            issue(file, node, "rule is missing 'remediation'")
        }
        var when = When()
        if let w = fields["when"] {
            when = parseWhen(w, file: file)
            if when.all.isEmpty && when.any.isEmpty { issue(file, w, "'when' has no condition") }
        } else {
            issue(file, node, "rule is missing 'when'")
        }
        var examples = RuleExamples()
        if let e = fields["examples"] {
            if let em = e.mapping {
                for (key, value) in em {
                    let paths = (value.sequence ?? []).compactMap(\.string)
                    switch key.string {
                    case "match": examples.match = paths
                    case "no-match": examples.noMatch = paths
                    default: issue(file, key, "unknown key '\(key.string ?? "?")' in examples (allowed: match, no-match)")
                    }
                }
            } else { issue(file, e, "'examples' must be a mapping with match / no-match lists") }
        }
        var explains: [String] = []
        if let e = fields["explains"] {
            if let items = e.sequence, items.allSatisfy({ $0.string != nil }) { explains = items.compactMap(\.string) }
            else { issue(file, e, "'explains' must be a list of rule ids or failure classes") }
        }
        for fact in Self.placeholders(in: summary) where !Vocabulary.isKnownFact(fact) {
            issue(file, fields["summary"], "summary names unknown fact '{\(fact)}'")
        }
        guard issues.count == startIssues else { return }
        let specificity = Double(when.conditionCount)
        let derived = fallback ? min(0.45, 0.25 + 0.05 * specificity) : min(0.95, 0.55 + 0.08 * specificity)
        rules.append(Rule(id: id, category: category, failure: failure, severity: severity,
                          confidence: confidence ?? derived, fallback: fallback, actor: actor, transient: transient,
                          when: when.cheapestFirst(), summary: summary, remediation: remediation, examples: examples,
                          file: file, line: node.mark?.line ?? 1, explains: explains))
    }

    static func placeholders(in summary: String) -> [String] {
        // On UTF-8 bytes: Character-by-Character search ran for every finding of a batch.
        var names: [String] = []
        let bytes = Array(summary.utf8)
        var i = 0
        while let open = bytes[i...].firstIndex(of: UInt8(ascii: "{")), let close = bytes[open...].firstIndex(of: UInt8(ascii: "}")) {
            names.append(String(decoding: bytes[(open + 1)..<close], as: UTF8.self))
            i = close + 1
        }
        return names
    }

    mutating func parseWhen(_ node: Node, file: String) -> When {
        var when = When()
        guard let map = node.mapping else { issue(file, node, "'when' must be a mapping of fact names to conditions"); return when }
        for (key, value) in map {
            guard let name = key.string else { issue(file, key, "condition keys are fact names"); continue }
            let line = key.mark?.line ?? 1
            switch name {
            case "any", "not":
                guard let branches = value.sequence, !branches.isEmpty else {
                    issue(file, value, "'\(name)' must be a non-empty list of condition mappings"); continue
                }
                let parsed = branches.map { parseWhen($0, file: file) }
                if name == "any" { when.any += parsed } else { when.not += parsed }
            default:
                if !Vocabulary.isKnownFact(name) {
                    issue(file, key, "unknown fact '\(name)'\(Vocabulary.factHint(name)) (see docs/RULES.md for fact names)")
                    continue
                }
                if name == "provider" {
                    let named = value.string.map { [(value, $0)] } ?? (value.mapping.map(Self.fields)?.values.flatMap { v in
                        (v.sequence ?? [v]).compactMap { n in n.string.map { (n, $0) } }
                    } ?? [])
                    for (node, p) in named where !ProviderDetector.known.contains(p) {
                        issue(file, node, "unknown provider '\(p)'\(Suggestion.hint(p, among: ProviderDetector.known)) (known: \(ProviderDetector.known.joined(separator: ", ")))")
                    }
                }
                if let ops = value.mapping {
                    for (opKey, opValue) in ops {
                        guard let op = opKey.string, Self.operatorKeys.contains(op) else {
                            issue(file, opKey, "unknown operator '\(opKey.string ?? "?")'\(Suggestion.hint(opKey.string ?? "", among: Self.operatorKeys.sorted())) (allowed: \(Self.operatorKeys.sorted().joined(separator: ", ")))")
                            continue
                        }
                        if let parsed = parseOperator(op, opValue, file: file) {
                            when.all.append(Condition(fact: name, op: parsed, line: line))
                        }
                    }
                } else if value.sequence != nil {
                    issue(file, value, "a list needs an operator: '\(name): { in: [...] }'")
                } else {
                    when.all.append(Condition(fact: name, op: .equals(Self.scalar(value)), line: line))
                }
            }
        }
        return when
    }

    mutating func parseOperator(_ op: String, _ value: Node, file: String) -> Operator? {
        switch op {
        case "equals": return .equals(Self.scalar(value))
        case "in":
            guard let items = value.sequence else { issue(file, value, "'in' takes a list"); return nil }
            return .oneOf(items.map(Self.scalar))
        case "matches":
            guard let source = value.string else { issue(file, value, "'matches' takes a regular expression string"); return nil }
            // A hostile file's pattern can be huge: the message quotes its start only.
            let quoted = source.count > 120 ? String(source.prefix(120)) + "…" : source
            if let depth = Pattern.groupDepth(of: source), depth > Pattern.maxGroupDepth {
                issue(file, value, "regular expression '\(quoted)' refused: groups nested \(depth) deep (at most \(Pattern.maxGroupDepth))")
                return nil
            }
            if let problem = Pattern.nestedQuantifier(in: source) {
                issue(file, value, "regular expression '\(quoted)' refused: \(problem); write it without the outer quantifier")
                return nil
            }
            do { return .matches(try Pattern(source, compileNow: compileRegexesNow)) } catch {
                issue(file, value, "bad regular expression '\(quoted)'")
                return nil
            }
        case "contains":
            guard let s = value.string, !s.isEmpty else { issue(file, value, "'contains' takes a non-empty string"); return nil }
            let ascii = s.utf8.allSatisfy { $0 < 0x80 }
            return .contains(s, ascii ? ByteSearch.lowered(s) : nil)
        case "exists":
            guard let b = Self.bool(value) else { issue(file, value, "'exists' takes true or false"); return nil }
            return .exists(b)
        default:
            guard let n = Self.number(value) else { issue(file, value, "'\(op)' takes a number"); return nil }
            switch op {
            case "gt": return .greaterThan(n)
            case "gte": return .greaterOrEqual(n)
            case "lt": return .lessThan(n)
            default: return .lessOrEqual(n)
            }
        }
    }

    /// A mapping's entries by key (the last of duplicate keys wins, as YAML loaders usually do).
    static func fields(_ map: Node.Mapping) -> [String: Node] {
        var out: [String: Node] = [:]
        for (key, value) in map { if let k = key.string { out[k] = value } }
        return out
    }

    static func bool(_ node: Node) -> Bool? {
        guard let s = node.scalar?.string, node.scalar?.style == .plain else { return nil }
        switch s {
        case "true", "True", "TRUE", "yes": return true
        case "false", "False", "FALSE", "no": return false
        default: return nil
        }
    }

    static func number(_ node: Node) -> Double? {
        guard let s = node.scalar?.string, node.scalar?.style == .plain else { return nil }
        return Double(s)
    }

    /// A YAML scalar as a fact value: plain numbers and booleans are typed, quoted text stays a string.
    static func scalar(_ node: Node) -> FactValue {
        guard let s = node.scalar else { return .string(node.string ?? "") }
        if s.style == .plain {
            if let i = Int(s.string) { return .int(i) }
            if let d = Double(s.string), s.string.contains(".") { return .double(d) }
            switch s.string {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            case "null", "~", "": return .null
            default: break
            }
        }
        return .string(s.string)
    }

    // MARK: - Remediations

    mutating func loadRemediation(_ node: Node, file: String) {
        guard let map = node.mapping else { issue(file, node, "a remediation must be a mapping"); return }
        let fields = Self.fields(map)
        let start = issues.count
        for (key, _) in map where !Self.remediationKeys.contains(key.string ?? "") {
            issue(file, key, "unknown key '\(key.string ?? "?")' in remediation\(Suggestion.hint(key.string ?? "", among: Self.remediationKeys.sorted())) (allowed: \(Self.remediationKeys.sorted().joined(separator: ", ")))")
        }
        func string(_ key: String) -> String? {
            guard let v = fields[key]?.string, !v.isEmpty else { issue(file, fields[key] ?? node, "remediation is missing '\(key)'"); return nil }
            return v
        }
        let id = string("id") ?? "?"
        let title = string("title") ?? ""
        let doc = string("doc") ?? ""
        var steps: [String] = []
        for step in fields["steps"]?.sequence ?? [] {
            if let text = step.string, step.scalar != nil { steps.append(text) } else {
                issue(file, step, "a step of remediation '\(id)' is not plain text (quote it if it contains ': ')")
            }
        }
        if steps.isEmpty { issue(file, fields["steps"] ?? node, "remediation '\(id)' has no steps") }
        let covers = (fields["covers"]?.sequence ?? []).compactMap(\.string)
        let issuesLink = fields["issues-link"].flatMap(Self.bool) ?? false
        let categories = stringList(fields["categories"], key: "categories", file: file)
        for c in categories where !Vocabulary.categories.contains(c) { issue(file, fields["categories"], "unknown category '\(c)' in remediation '\(id)'") }
        for step in steps { checkPlaceholders(step, node: fields["steps"], file: file) }
        guard issues.count == start else { return }
        remediations.append(Remediation(id: id, title: title, doc: doc, covers: covers, issuesLink: issuesLink, steps: steps,
                                        categories: categories))
    }

    /// A string or a list of strings (`provider: snowflake` or `provider: [redshift, postgres]`).
    mutating func stringList(_ node: Node?, key: String, file: String) -> [String] {
        guard let node else { return [] }
        if let s = node.string, node.scalar != nil { return [s] }
        if let items = node.sequence, items.allSatisfy({ $0.string != nil && $0.scalar != nil }) { return items.compactMap(\.string) }
        issue(file, node, "'\(key)' must be a string or a list of strings")
        return []
    }

    mutating func checkPlaceholders(_ step: String, node: Node?, file: String) {
        for fact in Self.placeholders(in: step) where !Vocabulary.isKnownFact(fact) {
            issue(file, node, "step names unknown fact '{\(fact)}'")
        }
    }

    // MARK: - Variants

    mutating func loadVariant(_ node: Node, file: String) {
        guard let map = node.mapping else { issue(file, node, "a variant must be a mapping"); return }
        let fields = Self.fields(map)
        let start = issues.count
        for (key, _) in map where !Self.variantKeys.contains(key.string ?? "") {
            issue(file, key, "unknown key '\(key.string ?? "?")' in variant (allowed: \(Self.variantKeys.sorted().joined(separator: ", ")))")
        }
        guard let remediation = fields["remediation"]?.string, !remediation.isEmpty else {
            issue(file, node, "variant is missing 'remediation' (the catalog id it specialises)"); return
        }
        let line = node.mark?.line ?? 1
        let id = fields["id"]?.string ?? "\(remediation)@\(file):\(line)"
        let providers = stringList(fields["provider"], key: "provider", file: file)
        for p in providers where !ProviderDetector.known.contains(p) {
            issue(file, fields["provider"], "unknown provider '\(p)' (known: \(ProviderDetector.known.joined(separator: ", ")))")
        }
        let categories = stringList(fields["category"], key: "category", file: file)
        for c in categories where !Vocabulary.categories.contains(c) { issue(file, fields["category"], "unknown category '\(c)'") }
        let failures = stringList(fields["failure"], key: "failure", file: file)
        for f in failures where !Vocabulary.failures.contains(f) { issue(file, fields["failure"], "unknown failure '\(f)'") }
        let rules = stringList(fields["rule"], key: "rule", file: file)
        let requires = stringList(fields["requires"], key: "requires", file: file)
        for f in requires where !Vocabulary.isKnownFact(f) { issue(file, fields["requires"], "unknown fact '\(f)' in requires") }
        var steps: [String] = []
        for step in fields["steps"]?.sequence ?? [] {
            if let text = step.string, step.scalar != nil { steps.append(text) } else {
                issue(file, step, "a step of a '\(remediation)' variant is not plain text (quote it if it contains ': ')")
            }
        }
        if steps.isEmpty { issue(file, fields["steps"] ?? node, "variant of '\(remediation)' has no steps") }
        for step in steps { checkPlaceholders(step, node: fields["steps"], file: file) }
        if providers.isEmpty && categories.isEmpty && failures.isEmpty && rules.isEmpty && requires.isEmpty {
            issue(file, node, "variant of '\(remediation)' says nowhere it applies (give provider, category, failure, rule or requires)")
        }
        guard issues.count == start else { return }
        variants.append(RemediationVariant(id: id, remediation: remediation, providers: providers, categories: categories,
                                           failures: failures, rules: rules, requires: requires, title: fields["title"]?.string,
                                           doc: fields["doc"]?.string, steps: steps, file: file, line: line))
    }
}
