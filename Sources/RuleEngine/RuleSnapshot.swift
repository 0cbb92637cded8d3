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
    /// /5: binary instead of JSON (`SnapshotWriter`). /6: prefilters read positive lookaheads.
    /// /7: a checksum, each rule on its own (decoded when first needed), and the rule set's index.
    static let format = "authdoctor.rules-snapshot/7"

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
    /// The build's digest covers the code that compiles rules and their index too (RuleEngine,
    /// EvidenceModel), so a new build never reads an index an older one worked out.
    public static var builtinKey: String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in (format + "|" + EmbeddedFiles.snapshotDigest).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return "b" + String(hash, radix: 16)
    }

    static func path(key: String) -> String? {
        directory.map { "\($0)/rules-\(key).bin" }
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
        guard let path = path(key: key), let mapped = MappedSnapshot(path: path) else { return nil }
        return decode(mapped.bytes)
    }

    /// The rule set stored under `key`, its rules decoded only as the matcher needs them; nil when
    /// absent, unreadable, or stored without an index.
    static func loadSet(key: String, version: String) -> RuleSet? {
        guard let path = path(key: key), let mapped = MappedSnapshot(path: path) else { return nil }
        return decodeSet(mapped, version: version)
    }

    /// The snapshot's contents, or nil when the bytes are not a whole snapshot of this format.
    static func decode(_ bytes: [UInt8]) -> (rules: [Rule], remediations: [Remediation], variants: [RemediationVariant])? {
        bytes.withUnsafeBufferPointer { decode($0) }
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> (rules: [Rule], remediations: [Remediation], variants: [RemediationVariant])? {
        guard var reader = verifiedReader(bytes) else { return nil }
        do {
            let rules = try reader.list { r in
                var blob = try r.nested()
                let rule = try decodeRule(&blob)
                guard blob.atEnd else { throw SnapshotReader.Corrupt() }
                return rule
            }
            let remediations = try reader.list { try decodeRemediation(&$0) }
            let variants = try reader.list { try decodeVariant(&$0) }
            if try reader.bool() { _ = try decodeIndex(&reader, ruleCount: rules.count) }
            guard reader.atEnd else { return nil }
            return (rules, remediations, variants)
        } catch {
            return nil
        }
    }

    /// The rule set of a snapshot with an index: rules left encoded until first used.
    static func decodeSet(_ mapped: MappedSnapshot, version: String) -> RuleSet? {
        guard var reader = verifiedReader(mapped.bytes) else { return nil }
        do {
            let ranges = try reader.list { r in try r.nestedRange() }
            let remediations = try reader.list { try decodeRemediation(&$0) }
            let variants = try reader.list { try decodeVariant(&$0) }
            guard try reader.bool() else { return nil }
            let index = try decodeIndex(&reader, ruleCount: ranges.count)
            guard reader.atEnd else { return nil }
            let store = RuleStore(SnapshotRules(mapped, ranges: ranges))
            return RuleSet(store: store, index: index, remediations: remediations, variants: variants, version: version)
        } catch {
            return nil
        }
    }

    /// A reader past the format line and the checksum, when both are right. The checksum covers
    /// every byte after it, so rules decoded later (`SnapshotRules`) are known whole.
    static func verifiedReader(_ bytes: UnsafeBufferPointer<UInt8>) -> SnapshotReader? {
        var reader = SnapshotReader(bytes)
        guard (try? reader.string()) == format, let stored = try? reader.fixed64() else { return nil }
        guard checksum(UnsafeBufferPointer(rebasing: bytes[reader.offset...])) == stored else { return nil }
        return reader
    }

    /// A fast 64-bit checksum, eight bytes a step (a byte-wise hash of 1.5 MB took milliseconds):
    /// every step is a bijection of the state, so any single changed word changes the result.
    static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let raw = UnsafeRawBufferPointer(bytes)
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count)
        var i = 0
        while i + 8 <= raw.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        while i < raw.count {
            h = (h ^ UInt64(raw[i])) &* 0x0000_0100_0000_01B3
            i += 1
        }
        return h
    }

    /// The snapshot's bytes. The index is stored when the rules' ids are unique (as one layer
    /// assembles them); a set with duplicates is indexed after the library drops them.
    static func encode(_ rules: [Rule], _ remediations: [Remediation], _ variants: [RemediationVariant]) -> [UInt8] {
        var body = SnapshotWriter()
        body.list(rules) { w, rule in
            var blob = SnapshotWriter(capacity: 512)
            encode(rule, to: &blob)
            w.byteString(blob.bytes)
        }
        body.list(remediations) { encode($1, to: &$0) }
        body.list(variants) { encode($1, to: &$0) }
        let unique = Set(rules.map(\.id)).count == rules.count
        body.bool(unique)
        if unique { encode(RuleIndex(rules), to: &body) }
        var w = SnapshotWriter(capacity: body.bytes.count + 64)
        w.string(format)
        body.bytes.withUnsafeBufferPointer { w.fixed64(checksum($0)) }
        w.raw(body.bytes)
        return w.bytes
    }

    static func encode(_ index: RuleIndex, to w: inout SnapshotWriter) {
        w.list(index.always) { $0.int($1) }
        w.list(index.byNonASCII) { w, entry in w.string(entry.fact); w.list(entry.rules) { $0.int($1) } }
        w.list(index.byName.keys.sorted()) { w, name in
            let anchors = index.byName[name]!
            w.string(name)
            w.list(anchors.values.keys.sorted()) { w, value in w.string(value); w.list(anchors.values[value]!) { $0.int($1) } }
            w.list(anchors.exists) { $0.int($1) }
        }
        w.list(index.needles) { w, entry in
            w.string(entry.fact)
            w.list(entry.needles) { $0.byteString($1) }
            w.list(entry.rules) { w, rules in w.list(rules) { $0.int($1) } }
        }
        w.list(index.providerMasks) { $0.unsigned(UInt64($1)) }
        w.list(index.fallback) { $0.bool($1) }
    }

    static func decodeIndex(_ r: inout SnapshotReader, ruleCount: Int) throws -> RuleIndex {
        func position(_ r: inout SnapshotReader) throws -> Int {
            let n = try r.int()
            guard n >= 0, n < ruleCount else { throw SnapshotReader.Corrupt() }
            return n
        }
        var index = RuleIndex()
        index.always = try r.list(position)
        index.byNonASCII = try r.list { r in (try r.string(), try r.list(position)) }
        let names = try r.list { r -> (String, RuleSet.FactAnchors) in
            let name = try r.string()
            var anchors = RuleSet.FactAnchors()
            for (value, rules) in try r.list({ r in (try r.string(), try r.list(position)) }) { anchors.values[value] = rules }
            anchors.exists = try r.list(position)
            return (name, anchors)
        }
        index.byName = Dictionary(names, uniquingKeysWith: { first, _ in first })
        index.needles = try r.list { r in
            let fact = try r.string()
            let needles = try r.list { try $0.byteString() }
            let rules = try r.list { r in try r.list(position) }
            guard needles.count == rules.count, needles.allSatisfy({ !$0.isEmpty }) else { throw SnapshotReader.Corrupt() }
            return (fact, needles, rules)
        }
        index.providerMasks = try r.list { r in
            let mask = try r.unsigned()
            guard mask <= UInt64(UInt32.max) else { throw SnapshotReader.Corrupt() }
            return UInt32(mask)
        }
        index.fallback = try r.list { try $0.bool() }
        guard index.providerMasks.count == ruleCount, index.fallback.count == ruleCount else { throw SnapshotReader.Corrupt() }
        return index
    }

    /// Writes the snapshot (atomically: a temporary file renamed into place). Failures are ignored:
    /// the cache only saves time.
    public static func store(_ rules: [Rule], _ remediations: [Remediation], _ variants: [RemediationVariant] = [], key: String) {
        guard let path = path(key: key), let directory else { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = path + ".\(getpid()).tmp"
            try Data(encode(rules, remediations, variants)).write(to: URL(fileURLWithPath: temporary))
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
        func written(_ path: String) -> Date { ((try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast }
        // A process that ended while writing (a command that failed early while its rules loaded on
        // another thread) leaves its temporary file: gone once it is an hour old.
        for name in names where name.hasPrefix("rules-") && name.hasSuffix(".tmp") {
            let path = directory + "/" + name
            if written(path) < Date(timeIntervalSinceNow: -3600) { try? fm.removeItem(atPath: path) }
        }
        // `.json`: the snapshots of earlier versions, pruned like the rest.
        let snapshots = names.filter { $0.hasPrefix("rules-") && ($0.hasSuffix(".bin") || $0.hasSuffix(".json")) }.map { directory + "/" + $0 }
        guard snapshots.count > kept else { return }
        let byAge = snapshots.map { ($0, written($0)) }.sorted { $0.1 > $1.1 }
        for (path, _) in byAge.dropFirst(kept) where path != current { try? fm.removeItem(atPath: path) }
    }

    // MARK: - Encoding (field by field, in the order the decoder reads them)

    static func encode(_ rule: Rule, to w: inout SnapshotWriter) {
        w.string(rule.id); w.string(rule.category); w.string(rule.failure); w.string(rule.severity)
        w.double(rule.confidence); w.bool(rule.fallback)
        encode(rule.when, to: &w)
        w.string(rule.summary); w.strings(rule.remediation)
        w.string(rule.file); w.int(rule.line)
        w.optionalString(rule.actor)
        w.byte(rule.transient.map { $0 ? 2 : 1 } ?? 0)
        w.strings(rule.explains)
    }

    static func encode(_ when: When, to w: inout SnapshotWriter) {
        w.list(when.all) { encode($1, to: &$0) }
        w.list(when.any) { encode($1, to: &$0) }
        w.list(when.not) { encode($1, to: &$0) }
    }

    static func encode(_ c: Condition, to w: inout SnapshotWriter) {
        w.string(c.fact)
        w.int(c.line)
        switch c.op {
        case let .equals(v): w.byte(0); encode(v, to: &w)
        case let .oneOf(vs): w.byte(1); w.list(vs) { encode($1, to: &$0) }
        case let .matches(p):
            w.byte(2); w.string(p.source)
            // The analysed prefilter is stored with the pattern: analysing it again was a fifth of start-up.
            if let prefilter = p.prefilter {
                w.byte(1)
                w.list(prefilter.needles) { $0.byteString($1) }
                w.list(prefilter.requirements) { w, alternative in w.list(alternative) { w, set in w.list(set) { $0.byteString($1) } } }
            } else {
                w.byte(0)
            }
        case let .contains(s, _): w.byte(3); w.string(s)
        case let .exists(b): w.byte(4); w.bool(b)
        case let .greaterThan(n): w.byte(5); w.double(n)
        case let .greaterOrEqual(n): w.byte(6); w.double(n)
        case let .lessThan(n): w.byte(7); w.double(n)
        case let .lessOrEqual(n): w.byte(8); w.double(n)
        }
    }

    static func encode(_ v: FactValue, to w: inout SnapshotWriter) {
        switch v {
        case let .string(s): w.byte(0); w.string(s)
        case let .int(i): w.byte(1); w.int(i)
        case let .double(d): w.byte(2); w.double(d)
        case let .bool(b): w.byte(3); w.bool(b)
        case .null: w.byte(4)
        case let .list(items): w.byte(5); w.list(items) { encode($1, to: &$0) }
        }
    }

    static func encode(_ r: Remediation, to w: inout SnapshotWriter) {
        w.string(r.id); w.string(r.title); w.string(r.doc); w.strings(r.covers); w.bool(r.issuesLink)
        w.strings(r.steps); w.strings(r.categories)
    }

    static func encode(_ v: RemediationVariant, to w: inout SnapshotWriter) {
        w.string(v.id); w.string(v.remediation); w.strings(v.providers); w.strings(v.categories); w.strings(v.failures)
        w.strings(v.rules); w.strings(v.requires); w.optionalString(v.title); w.optionalString(v.doc); w.strings(v.steps)
        w.string(v.file); w.int(v.line)
    }

    // MARK: - Decoding (throws on anything unexpected: the caller then parses the YAML)

    static func decodeRule(_ r: inout SnapshotReader) throws -> Rule {
        let id = try r.string(), category = try r.string(), failure = try r.string(), severity = try r.string()
        let confidence = try r.double(), fallback = try r.bool()
        let when = try decodeWhen(&r)
        let summary = try r.string(), remediation = try r.strings()
        let file = try r.string(), line = try r.int()
        let actor = try r.optionalString()
        let transient: Bool?
        switch try r.byte() {
        case 0: transient = nil
        case 1: transient = false
        case 2: transient = true
        default: throw SnapshotReader.Corrupt()
        }
        let explains = try r.strings()
        return Rule(id: id, category: category, failure: failure, severity: severity, confidence: confidence, fallback: fallback,
                    actor: actor, transient: transient, when: when, summary: summary, remediation: remediation,
                    examples: RuleExamples(), file: file, line: line, explains: explains)
    }

    static func decodeWhen(_ r: inout SnapshotReader) throws -> When {
        var when = When()
        when.all = try r.list { try decodeCondition(&$0) }
        when.any = try r.list { try decodeWhen(&$0) }
        when.not = try r.list { try decodeWhen(&$0) }
        // The snapshot keeps the cheapest-first order; the evaluation order flag is worked out again.
        when.anyFirst = when.decidesAnyFirst()
        return when
    }

    static func decodeCondition(_ r: inout SnapshotReader) throws -> Condition {
        let fact = try r.string()
        let line = try r.int()
        let op: Operator
        switch try r.byte() {
        case 0: op = .equals(try decodeFactValue(&r))
        case 1: op = .oneOf(try r.list { try decodeFactValue(&$0) })
        case 2:
            // Built-in patterns were checked when the snapshot was made (and by `rules lint`).
            let source = try r.string()
            switch try r.byte() {
            case 0: op = .matches(Pattern(snapshotSource: source, prefilter: nil))
            case 1:
                let needles = try r.list { try $0.byteString() }
                let requirements = try r.list { r in try r.list { r in try r.list { try $0.byteString() } } }
                op = .matches(Pattern(snapshotSource: source, prefilter: LiteralPrefilter(needles: needles, requirements: requirements)))
            default: throw SnapshotReader.Corrupt()
            }
        case 3:
            let s = try r.string()
            op = .contains(s, s.utf8.allSatisfy { $0 < 0x80 } ? ByteSearch.lowered(s) : nil)
        case 4: op = .exists(try r.bool())
        case 5: op = .greaterThan(try r.double())
        case 6: op = .greaterOrEqual(try r.double())
        case 7: op = .lessThan(try r.double())
        case 8: op = .lessOrEqual(try r.double())
        default: throw SnapshotReader.Corrupt()
        }
        return Condition(fact: fact, op: op, line: line)
    }

    static func decodeFactValue(_ r: inout SnapshotReader) throws -> FactValue {
        switch try r.byte() {
        case 0: return .string(try r.string())
        case 1: return .int(try r.int())
        case 2: return .double(try r.double())
        case 3: return .bool(try r.bool())
        case 4: return .null
        case 5: return .list(try r.list { try decodeFactValue(&$0) })
        default: throw SnapshotReader.Corrupt()
        }
    }

    static func decodeRemediation(_ r: inout SnapshotReader) throws -> Remediation {
        let id = try r.string(), title = try r.string(), doc = try r.string(), covers = try r.strings(), issuesLink = try r.bool()
        let steps = try r.strings(), categories = try r.strings()
        return Remediation(id: id, title: title, doc: doc, covers: covers, issuesLink: issuesLink, steps: steps, categories: categories)
    }

    static func decodeVariant(_ r: inout SnapshotReader) throws -> RemediationVariant {
        let id = try r.string(), remediation = try r.string(), providers = try r.strings(), categories = try r.strings()
        let failures = try r.strings(), rules = try r.strings(), requires = try r.strings()
        let title = try r.optionalString(), doc = try r.optionalString(), steps = try r.strings()
        let file = try r.string(), line = try r.int()
        return RemediationVariant(id: id, remediation: remediation, providers: providers, categories: categories, failures: failures,
                                  rules: rules, requires: requires, title: title, doc: doc, steps: steps, file: file, line: line)
    }
}

/// The snapshot's binary form: LEB128 counts and integers (zigzag for signed), doubles as their 8
/// bytes, strings and byte strings length-prefixed. Read straight into rules, without a parse tree:
/// parsing a JSON snapshot and decoding its tree was a quarter of a one-shot command.
struct SnapshotWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 512 * 1024) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ b: [UInt8]) { bytes += b }

    mutating func fixed64(_ value: UInt64) {
        var v = value
        for _ in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v)); v >>= 8 }
    }

    mutating func byte(_ b: UInt8) { bytes.append(b) }
    mutating func bool(_ b: Bool) { bytes.append(b ? 1 : 0) }

    mutating func unsigned(_ value: UInt64) {
        var v = value
        while v >= 0x80 { bytes.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    mutating func int(_ value: Int) {
        let v = Int64(value)
        unsigned(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    mutating func double(_ d: Double) {
        var bits = d.bitPattern
        for _ in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: bits)); bits >>= 8 }
    }

    mutating func byteString(_ b: [UInt8]) { unsigned(UInt64(b.count)); bytes += b }
    mutating func string(_ s: String) { byteString(Array(s.utf8)) }
    mutating func strings(_ list: [String]) { self.list(list) { $0.string($1) } }

    mutating func optionalString(_ s: String?) {
        if let s { byte(1); string(s) } else { byte(0) }
    }

    mutating func list<T>(_ items: [T], _ each: (inout SnapshotWriter, T) -> Void) {
        unsigned(UInt64(items.count))
        for item in items { each(&self, item) }
    }
}

struct SnapshotReader {
    struct Corrupt: Error {}

    /// Valid while the reader is used (`RuleSnapshot.decode` holds the mapping or the array).
    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { at == bytes.count }
    var offset: Int { at }

    mutating func fixed64() throws -> UInt64 {
        guard bytes.count - at >= 8 else { throw Corrupt() }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[at + k]) << (8 * UInt64(k)) }
        at += 8
        return v
    }

    /// A length-prefixed part read by a reader of its own (which must end where the part does).
    mutating func nested() throws -> SnapshotReader {
        let range = try nestedRange()
        return SnapshotReader(UnsafeBufferPointer(rebasing: bytes[range]))
    }

    /// Where a length-prefixed part lies, skipped without reading it.
    mutating func nestedRange() throws -> Range<Int> {
        let n = try count()
        defer { at += n }
        return at..<(at + n)
    }

    mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw Corrupt() }
        defer { at += 1 }
        return bytes[at]
    }

    mutating func bool() throws -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        default: throw Corrupt()
        }
    }

    mutating func unsigned() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw Corrupt() }
            value |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return value }
            shift += 7
        }
    }

    mutating func int() throws -> Int {
        let u = try unsigned()
        return Int(truncatingIfNeeded: Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1))))
    }

    mutating func double() throws -> Double {
        guard bytes.count - at >= 8 else { throw Corrupt() }
        var bits: UInt64 = 0
        for k in 0..<8 { bits |= UInt64(bytes[at + k]) << (8 * UInt64(k)) }
        at += 8
        return Double(bitPattern: bits)
    }

    /// A count of things still to read: never more than the bytes left (each takes one at least),
    /// so a corrupt count cannot ask for a huge allocation.
    mutating func count() throws -> Int {
        let n = try unsigned()
        guard n <= UInt64(bytes.count - at) else { throw Corrupt() }
        return Int(n)
    }

    mutating func byteString() throws -> [UInt8] {
        let n = try count()
        defer { at += n }
        return Array(bytes[at..<(at + n)])
    }

    mutating func string() throws -> String {
        let n = try count()
        defer { at += n }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[at..<(at + n)]), as: UTF8.self)
    }

    mutating func strings() throws -> [String] { try list { try $0.string() } }

    mutating func optionalString() throws -> String? {
        try bool() ? try string() : nil
    }

    mutating func list<T>(_ each: (inout SnapshotReader) throws -> T) throws -> [T] {
        let n = try count()
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try each(&self)) }
        return out
    }
}

/// A snapshot file mapped into memory for as long as any rule decoded from it may still be needed
/// (the rule set keeps it): mapped, not read, so only the pages of rules actually used are touched.
final class MappedSnapshot: @unchecked Sendable {
    let bytes: UnsafeBufferPointer<UInt8>
    private let release: () -> Void

    init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0, let mapped = mmap(nil, Int(info.st_size), PROT_READ, MAP_PRIVATE, fd, 0),
              mapped != MAP_FAILED else { return nil }
        let size = Int(info.st_size)
        bytes = UnsafeBufferPointer(start: mapped.assumingMemoryBound(to: UInt8.self), count: size)
        release = { munmap(mapped, size) }
    }

    /// A copy of bytes in memory (tests).
    init(copying source: [UInt8]) {
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, source.count))
        _ = buffer.initialize(from: source)
        bytes = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(buffer)[0..<source.count])
        release = { buffer.deallocate() }
    }

    deinit { release() }
}

/// The encoded rules of a verified snapshot, each decoded on request.
struct SnapshotRules: Sendable {
    let mapped: MappedSnapshot
    let ranges: [Range<Int>]

    init(_ mapped: MappedSnapshot, ranges: [Range<Int>]) {
        self.mapped = mapped
        self.ranges = ranges
    }

    var count: Int { ranges.count }

    func rule(at index: Int) -> Rule {
        var reader = SnapshotReader(UnsafeBufferPointer(rebasing: mapped.bytes[ranges[index]]))
        // The checksum matched, so these are the bytes `encode` wrote: failing to read them back is
        // a bug in this file, not bad input.
        guard let rule = try? RuleSnapshot.decodeRule(&reader), reader.atEnd else {
            preconditionFailure("rule \(index) of a verified snapshot does not decode")
        }
        return rule
    }

    func id(at index: Int) -> String {
        var reader = SnapshotReader(UnsafeBufferPointer(rebasing: mapped.bytes[ranges[index]]))
        guard let id = try? reader.string() else { preconditionFailure("rule \(index) of a verified snapshot has no id") }
        return id
    }
}
