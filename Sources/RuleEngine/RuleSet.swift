import EvidenceModel
import Foundation
import Synchronization

/// A rule that held, with the facts it looked at.
public struct RuleMatch: Sendable {
    public var rule: Rule
    /// The facts the rule's conditions read, in rule order, as they were (unredacted: redact on output).
    public var evidence: [(name: String, value: FactValue)]
}

/// The loaded rules and remediation catalog, indexed so a record is checked only against rules whose
/// anchor fact it actually has (DESIGN.md: never scan every rule for every record).
public final class RuleSet: Sendable {
    /// The rules, in load order: all of them decoded (use sparingly; the matcher reads `store`).
    public var rules: [Rule] { store.all }
    /// How many rules the set has.
    public var ruleCount: Int { store.count }

    /// Decodes every rule still encoded in the snapshot. A long-running process (`serve`, `check`)
    /// calls it at start-up, so that it never reads the mapped cache file again: a file truncated
    /// in place under a running server could otherwise fault it.
    public func decodeAll() { _ = store.all }
    /// The rules by position, each decoded from the snapshot the first time it is needed.
    let store: RuleStore
    public let remediations: [String: Remediation]
    public let remediationOrder: [String]
    /// Provider- and finding-specific steps by catalog id, best fit first when tied on load order.
    public let variants: [String: [RemediationVariant]]
    /// Identifies this rule set in reports (a hash of the rule files; set by RuleLibrary).
    public let version: String

    /// Rules anchored on literal words of a text fact.
    let byNeedle: [NeedleIndex]
    /// Rules one of whose alternatives is cased non-ASCII words only (a translated message): worth
    /// evaluating when the fact's text holds a non-ASCII byte.
    let byNonASCII: [(fact: String, rules: [Int])]
    /// Rules with no usable anchor; checked every time.
    let always: [Int]
    /// fact name → the rules anchored on it (by a required value, or by its presence when there is
    /// no better anchor); one table so a fact name is hashed once per record.
    let byName: [String: FactAnchors]
    /// Rules out most fact names that anchor nothing before `byName` hashes them.
    let nameFilter: NameFilter
    /// Rule id → position, made on first use (a one-shot command that finds one rule never needs it).
    private let idTable = AtomicLazyReference<IDTable>()
    /// The remediations each (catalog id, rule, provider family) can show; filled on first use.
    let fittedRemediations = FittedRemediationCache()
    /// Per rule, the providers it can hold for (ProviderMask bits; 0: any).
    let providerMasks: [UInt32]
    /// Per rule, whether it is a fallback (read before the rule itself is decoded).
    let fallbackFlags: [Bool]

    public convenience init(rules: [Rule], remediations: [Remediation], variants: [RemediationVariant] = [], version: String = "local") {
        self.init(store: RuleStore(rules), index: RuleIndex(rules), remediations: remediations, variants: variants, version: version)
    }

    /// A rule set over rules and an index already worked out (a snapshot keeps both).
    init(store: RuleStore, index: RuleIndex, remediations: [Remediation], variants: [RemediationVariant], version: String) {
        self.store = store
        self.version = version
        // Later variants (local folders) come first so they win ties.
        self.variants = Dictionary(grouping: variants.reversed(), by: \.remediation)
        var catalog: [String: Remediation] = [:]
        for r in remediations { catalog[r.id] = r }
        self.remediations = catalog
        remediationOrder = remediations.map(\.id)
        always = index.always
        byNonASCII = index.byNonASCII
        byNeedle = index.needles.map { NeedleIndex(fact: $0.fact, needles: $0.needles, rules: $0.rules) }
        byName = index.byName
        nameFilter = NameFilter(index.byName.keys)
        providerMasks = index.providerMasks
        fallbackFlags = index.fallback
    }

    final class IDTable: Sendable {
        let positions: [String: Int]
        init(_ store: RuleStore) {
            var positions: [String: Int] = [:]
            positions.reserveCapacity(store.count)
            for index in 0..<store.count {
                let id = store.id(at: index)
                if positions[id] == nil { positions[id] = index }
            }
            self.positions = positions
        }
    }

    /// The rules anchored on one fact name: by a value it must have, or by its mere presence.
    struct FactAnchors: Sendable {
        var values: [String: [Int]] = [:]
        var exists: [Int] = []

        func collect(_ value: FactValue, into candidates: inout [Int]) {
            if !values.isEmpty {
                if case let .list(items) = value {
                    for element in items {
                        if let key = element.indexKey, let hits = values[key] { candidates.append(contentsOf: hits) }
                    }
                } else if let key = value.indexKey, let hits = values[key] {
                    candidates.append(contentsOf: hits)
                }
            }
            if !exists.isEmpty { candidates.append(contentsOf: exists) }
        }
    }

    /// What makes a rule worth evaluating: any one of its keys is present in the facts.
    enum Anchor {
        case value(String, String)
        case exists(String)
        case needle(String, [UInt8])

        /// The most selective set of keys such that the rule can only hold when one is present.
        static func best(for when: When) -> [Anchor]? {
            var options: [(rank: Int, keys: [Anchor])] = []
            for c in when.all {
                switch c.op {
                case let .equals(v):
                    if let key = v.indexKey { options.append((c.fact == "provider" || c.fact == "input.kind" ? 3 : 0, [.value(c.fact, key)])) }
                case let .oneOf(vs):
                    let keys = vs.compactMap(\.indexKey)
                    if keys.count == vs.count { options.append((1, keys.map { .value(c.fact, $0) })) }
                case let .matches(pattern):
                    if let prefilter = pattern.prefilter { options.append((2, prefilter.needles.map { .needle(c.fact, $0) })) }
                case let .contains(_, needle?):
                    if needle.count >= 2 { options.append((2, [.needle(c.fact, needle)])) }
                default: break
                }
                if c.needsFact { options.append((4, [.exists(c.fact)])) }
            }
            if !when.any.isEmpty {
                var union: [Anchor] = []
                var complete = true
                for branch in when.any {
                    if let keys = best(for: branch) { union += keys } else { complete = false; break }
                }
                if complete { options.append((2, union)) }
            }
            return options.min { $0.rank < $1.rank }?.keys
        }
    }

    /// Rule indexes worth evaluating for these facts, sorted and unique.
    func candidates(_ facts: Facts) -> [Int] {
        var candidates: [Int] = always
        // Walk whichever side is smaller: the record's facts or the indexed fact names.
        if facts.count < byName.count {
            for (key, value) in facts.table where nameFilter.mayContain(key.name) {
                byName[key.name]?.collect(value, into: &candidates)
            }
        } else {
            for (fact, anchors) in byName {
                guard let value = facts[fact] else { continue }
                anchors.collect(value, into: &candidates)
            }
        }
        for index in byNeedle {
            guard let value = facts[index.fact] else { continue }
            func scan(_ element: FactValue) {
                guard var text = element.stringValue else { return }
                text.withUTF8 { buffer in
                    // Rules see a text's start only (Pattern.maxMatchBytes): so does the index.
                    let visible = UnsafeBufferPointer(rebasing: buffer.prefix(Pattern.maxMatchBytes))
                    index.scan(visible) { candidates.append(contentsOf: index.rules[$0]) }
                }
            }
            if case let .list(items) = value { items.forEach(scan) } else { scan(value) }
        }
        for entry in byNonASCII {
            guard let value = facts[entry.fact] else { continue }
            let nonASCII = value.elements.contains { element in
                guard var text = element.stringValue else { return false }
                return text.withUTF8 { LiteralPrefilter.hasNonASCII(UnsafeBufferPointer(rebasing: $0.prefix(Pattern.maxMatchBytes))) }
            }
            if nonASCII { candidates.append(contentsOf: entry.rules) }
        }
        // A rule for another provider is out before any of its conditions is read: most of a
        // record's text-anchored candidates belong to providers it is not from.
        let recordProviders = ProviderMask.of(facts)
        candidates.removeAll { providerMasks[$0] != 0 && providerMasks[$0] & recordProviders == 0 }
        candidates.sort()
        var unique: [Int] = []
        unique.reserveCapacity(candidates.count)
        for c in candidates where c != unique.last { unique.append(c) }
        return unique
    }

    /// Every rule that holds for these facts (fallback rules included).
    public func matches(_ facts: Facts) -> [RuleMatch] {
        matches(facts, fallback: nil)
    }

    /// The rules that hold, restricted to fallback or non-fallback rules when `fallback` says so:
    /// the classifier asks for fallbacks only when nothing specific held, which skips most phrase
    /// rules on most records.
    public func matches(_ facts: Facts, fallback: Bool?) -> [RuleMatch] {
        matches(facts, candidates: candidates(facts), fallback: fallback)
    }

    /// The same with the candidates already worked out (the classifier asks twice per fact set:
    /// specific rules first, fallbacks when none held).
    func matches(_ facts: Facts, candidates: [Int], fallback: Bool?) -> [RuleMatch] {
        var results: [RuleMatch] = []
        let context = MatchContext(facts)
        for index in candidates {
            // The flag first: a rule of the other kind is not even decoded.
            if let fallback, fallbackFlags[index] != fallback { continue }
            let rule = store[index]
            guard rule.when.holds(in: facts, context: context) else { continue }
            var seen = Set<String>()
            let names = rule.when.matchedFactNames(in: facts).filter { seen.insert($0).inserted }
            results.append(RuleMatch(rule: rule, evidence: names.compactMap { name in facts[name].map { (name, $0) } }))
        }
        return results
    }

    /// Checks every rule against every fact set, bypassing the index (tests prove the index agrees).
    public func matchesScanningAll(_ facts: Facts) -> [String] {
        rules.filter { $0.when.holds(in: facts) }.map(\.id)
    }

    /// Builds the id lookup `rule(id:)` uses (a table over every rule id) ahead of need.
    public func prepareIDLookup() {
        _ = rule(id: "")
    }

    public func rule(id: String) -> Rule? {
        let table = idTable.load() ?? idTable.storeIfNil(IDTable(store))
        return table.positions[id].map { store[$0] }
    }

    // MARK: - Remediation variants

    /// The variants of a catalog entry that fit a rule and provider family, best first (before
    /// their `requires` are checked).
    public func fittingVariants(_ id: String, rule: Rule, providerFamily: [String]) -> [RemediationVariant] {
        guard let candidates = variants[id] else { return [] }
        return candidates.enumerated().compactMap { offset, v in
            v.fit(rule: rule.id, category: rule.category, failure: rule.failure, providerFamily: providerFamily).map { (v, $0, offset) }
        }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.2 < $1.2 }.map(\.0)
    }

    /// The catalog entry with the best-fitting variant's steps (if one fits and its required facts
    /// are present), `{fact}` placeholders filled from the facts and redacted. nil: unknown id.
    public func remediation(_ id: String, for rule: Rule, facts: Facts) -> Remediation? {
        var family = facts["provider"]?.elements.compactMap(\.stringValue) ?? []
        if family.isEmpty, let implied = rule.impliedProviders, implied.count == 1 { family = ProviderDetector.family(of: implied[0]) }
        // Which variants fit depends on the rule and the provider family only: worked out once per
        // pair (per finding it was an eighth of `classify --batch`), the facts then pick among them.
        guard let fit = fittedRemediations.entry(id: id, rule: rule.id, family: family, make: {
            guard let base = remediations[id] else { return nil }
            return FittedRemediation(base: base, variants: fittingVariants(id, rule: rule, providerFamily: family))
        }) else { return nil }
        var r = fit.choose(facts: facts)
        if r.filled {
            r.steps = r.steps.map { Self.fill($0, facts: facts) }
        }
        return r
    }

    static func apply(_ variant: RemediationVariant, to base: Remediation) -> Remediation {
        var r = base
        r.steps = variant.steps
        if let title = variant.title { r.title = title }
        if let doc = variant.doc {
            r.doc = doc
            // A variant that cites another section is written for that section's categories (its
            // own `category:` only says where it applies; `rules lint` checks the two agree).
            r.categories = base.categories.isEmpty ? [] : Remediation.categories(declared: [], doc: doc)
        }
        r.variant = variant.id
        return r
    }

    /// Every version of a catalog entry a rule can show for a provider family: the variants that can
    /// win (each with the facts it is sure of), then the catalog steps when no unconditional variant
    /// shadows them. For `rules lint` and the advice tests.
    public func reachableRemediations(_ id: String, for rule: Rule, providerFamily: [String]) -> [(remediation: Remediation, sureFacts: Set<String>)] {
        guard let base = remediations[id] else { return [] }
        var out: [(Remediation, Set<String>)] = []
        for variant in fittingVariants(id, rule: rule, providerFamily: providerFamily) {
            out.append((Self.apply(variant, to: base), Set(variant.requires)))
            if variant.requires.isEmpty { return out }
        }
        out.append((base, []))
        return out
    }

    /// Replaces `{fact}` with the fact's value, redacted (lists: items joined with ", ", or "; " when
    /// an item has spaces, as SQL statements do). A missing fact reads "(unknown)" (lint prevents it).
    public static func fill(_ template: String, facts: Facts) -> String {
        var out = ""
        let bytes = Array(template.utf8)
        var i = 0
        while let open = bytes[i...].firstIndex(of: UInt8(ascii: "{")), let close = bytes[open...].firstIndex(of: UInt8(ascii: "}")) {
            out += String(decoding: bytes[i..<open], as: UTF8.self)
            let name = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
            i = close + 1
            if let value = facts[name] {
                let shown: String
                if case let .list(items) = value {
                    let texts = items.map { $0.stringValue ?? $0.description }
                    shown = texts.joined(separator: texts.contains { $0.contains(" ") } ? "; " : ", ")
                } else {
                    shown = value.stringValue ?? value.description
                }
                out += Redactor.redact(shown)
            } else {
                out += "(unknown)"
            }
        }
        return out + String(decoding: bytes[i...], as: UTF8.self)
    }
}

/// Rules anchored on literal words in one fact (usually `text` or `message`).
struct NeedleIndex: Sendable {
    let fact: String
    /// ASCII-lowercased words; a needle's id is its place here.
    let needles: [[UInt8]]
    /// needle id → rules
    let rules: [[Int]]
    private let automaton = LazyAutomaton()

    init(fact: String, needles: [[UInt8]], rules: [[Int]]) {
        self.fact = fact
        self.needles = needles
        self.rules = rules
    }

    /// Calls `found` with the id of every needle in `text` (possibly more than once).
    /// The first few texts are searched needle by needle: building the automaton costs as much as
    /// a hundred such searches, and a one-shot command only ever classifies one record.
    func scan(_ text: UnsafeBufferPointer<UInt8>, _ found: (Int) -> Void) {
        if let built = automaton.get(needles) {
            built.automaton.scan(text, found)
            return
        }
        var lowered = Array(text)
        for i in lowered.indices { lowered[i] = lowered[i].asciiLowercased }
        lowered.withUnsafeBufferPointer { haystack in
            for (id, needle) in needles.enumerated() where ByteSearch.contains(haystack, needle) { found(id) }
        }
    }

    /// The Aho–Corasick automaton over the needles, once a set has searched enough texts to repay it.
    final class LazyAutomaton: @unchecked Sendable {
        static let searchesBeforeBuilding = 8
        private let lock = NSLock()
        private var searches = 0
        private var built: Built?

        /// A reference, so that handing it out costs one retain, not a copy of three tables.
        final class Built: Sendable {
            let automaton: NeedleAutomaton
            init(_ automaton: NeedleAutomaton) { self.automaton = automaton }
        }

        func get(_ needles: [[UInt8]]) -> Built? {
            lock.lock()
            defer { lock.unlock() }
            if let built { return built }
            searches += 1
            guard searches > Self.searchesBeforeBuilding else { return nil }
            let made = Built(NeedleAutomaton(needles: needles))
            built = made
            return made
        }
    }
}

/// A bitset over a cheap fingerprint of names (length, first, middle and last bytes): a name whose
/// bit is clear is certainly not in the set, found without hashing the whole name. Most facts of a
/// record (body members, headers) anchor no rule, and `check` asks for every fact of every record.
struct NameFilter: Sendable {
    private var bits = [UInt64](repeating: 0, count: 64)

    init<S: Sequence>(_ names: S) where S.Element == String {
        for name in names {
            let slot = Self.slot(name)
            bits[slot >> 6] |= 1 << UInt64(slot & 63)
        }
    }

    @inline(__always)
    func mayContain(_ name: String) -> Bool {
        let slot = Self.slot(name)
        return bits[slot >> 6] & (1 << UInt64(slot & 63)) != 0
    }

    @inline(__always)
    static func slot(_ name: String) -> Int {
        var copy = name
        return copy.withUTF8 { bytes -> Int in
            let n = bytes.count
            guard n > 0 else { return 0 }
            var h = UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15
            h ^= UInt64(bytes[0]) &* 0xBF58_476D_1CE4_E5B9
            h ^= UInt64(bytes[n >> 1]) &* 0x94D0_49BB_1331_11EB
            h ^= UInt64(bytes[n - 1]) &* 0x2545_F491_4F6C_DD1D
            if n > 2 { h ^= UInt64(bytes[n - 2]) &* 0x6A09_E667_F3BC_C909 }
            h ^= h >> 31
            return Int(truncatingIfNeeded: h & 4095)
        }
    }
}

/// A catalog entry as one rule shows it for one provider family: the fitting variants (best first)
/// already applied to the entry, each with the facts it requires; placeholders still unfilled.
struct FittedRemediation: Sendable {
    var options: [(requires: [String], remediation: Remediation)]
    var base: Remediation

    init(base: Remediation, variants: [RemediationVariant]) {
        self.base = Self.prepared(base)
        options = variants.map { ($0.requires, Self.prepared(RuleSet.apply($0, to: base))) }
    }

    /// Marks steps with `{fact}` placeholders as to be filled (`filled`), with the facts they quote.
    static func prepared(_ remediation: Remediation) -> Remediation {
        var r = remediation
        if r.steps.contains(where: { $0.utf8.contains(UInt8(ascii: "{")) }) {
            r.quotedFacts = r.steps.flatMap(RuleLoader.placeholders).uniqued()
            r.filled = true
        }
        return r
    }

    /// The best option whose required facts are present, else the catalog entry.
    func choose(facts: Facts) -> Remediation {
        for option in options where option.requires.allSatisfy({ facts[$0]?.isPresent ?? false }) {
            return option.remediation
        }
        return base
    }
}

/// (catalog id, rule, provider family) → FittedRemediation, shared by the threads of a batch.
final class FittedRemediationCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: FittedRemediation?] = [:]

    func entry(id: String, rule: String, family: [String], make: () -> FittedRemediation?) -> FittedRemediation? {
        var key = id
        key.append("\u{1}")
        key.append(rule)
        for member in family { key.append("\u{1}"); key.append(member) }
        lock.lock()
        if let cached = entries[key] { lock.unlock(); return cached }
        lock.unlock()
        let made = make()
        lock.lock()
        entries[key] = made
        lock.unlock()
        return made
    }
}

/// Providers as bits, to rule out another provider's rules cheaply. A superset test only: names
/// outside ProviderDetector.known share one bit, and the rule's own conditions still decide.
enum ProviderMask {
    static let other: UInt32 = 1 << 31

    static func bit(_ name: String) -> UInt32 {
        guard let index = ProviderDetector.known.firstIndex(of: name), index < 31 else { return other }
        return 1 << UInt32(index)
    }

    /// The providers named by the rule's first `provider` condition in `when.all` (0: no such condition).
    static func required(by when: When) -> UInt32 {
        for condition in when.all where condition.fact == "provider" {
            switch condition.op {
            case let .equals(value):
                guard let name = value.stringValue else { return 0 }
                return bit(name)
            case let .oneOf(values):
                var mask: UInt32 = 0
                for value in values {
                    guard let name = value.stringValue else { return 0 }
                    mask |= bit(name)
                }
                return mask
            default:
                continue
            }
        }
        return 0
    }

    /// The record's providers (its `provider` fact: the family, e.g. bigquery and google).
    static func of(_ facts: Facts) -> UInt32 {
        guard let value = facts["provider"] else { return 0 }
        var mask: UInt32 = 0
        for element in value.elements {
            if let name = element.stringValue { mask |= bit(name) }
        }
        return mask
    }
}

/// The fact names a rule set reads, split by the providers whose rules read them: a rule that
/// requires a provider is never a candidate for another provider's record (RuleSet.candidates),
/// so what it reads cannot change such a record's report. Names only ever tested with `exists`
/// are kept apart: of those, only whether they are present decides which rules hold.
public struct FactNamesRead: Sendable {
    /// What a rule or report reads, by value or by presence.
    struct Names: Sendable {
        var values = Set<String>()
        var presence = Set<String>()
        mutating func formUnion(_ other: Names) {
            values.formUnion(other.values)
            presence.formUnion(other.presence)
        }
    }

    /// Read whatever the record's provider: rules for any provider, summaries' and remediation
    /// steps' placeholders, variants' requirements.
    var common: Names
    /// ProviderMask bit → what that provider's rules read beside `common`.
    var byProvider: [UInt32: Names]

    init(common: Names, byProvider: [UInt32: Names]) {
        self.common = common
        self.byProvider = byProvider
    }

    /// Adds names whose values are read for every record (the classifier's and the report's own).
    public mutating func formUnion(_ names: some Sequence<String>) { common.values.formUnion(names) }

    /// Names read for every record, however read.
    public var readForEveryProvider: Set<String> { common.values.union(common.presence) }

    /// The key for `names(forProviders:)`: the record's providers as bits.
    public static func providers(of facts: Facts) -> UInt32 { ProviderMask.of(facts) }

    /// The names read for a record of these providers (`providers(of:)`): `values`, whose values a
    /// rule or the report reads, and `presenceOnly`, tested with `exists` alone. A presence-only
    /// fact's value still reaches the report when a rule that tests it holds (its evidence), so a
    /// report showing one must not be reused for a record with another value (BatchMemo).
    public func names(forProviders mask: UInt32) -> (values: Set<String>, presenceOnly: Set<String>) {
        var names = common
        for (bit, read) in byProvider where bit & mask != 0 { names.formUnion(read) }
        return (names.values, names.presence.subtracting(names.values))
    }
}

extension RuleSet {
    /// Every fact name the set can read while classifying (the conditions of every rule, the
    /// `{fact}` placeholders of summaries and remediation steps, the facts variants require), split
    /// by provider and by how each name is read (FactNamesRead). Two fact sets that agree on the
    /// names read for their providers get the same findings (`classify --batch` memo). Decodes
    /// every rule.
    public func factNamesReadByProvider() -> FactNamesRead {
        var common = FactNamesRead.Names()
        var byProvider: [UInt32: FactNamesRead.Names] = [:]
        func collect(_ when: When, into names: inout FactNamesRead.Names) {
            for condition in when.all {
                if case .exists = condition.op { names.presence.insert(condition.fact) } else { names.values.insert(condition.fact) }
            }
            for branch in when.any { collect(branch, into: &names) }
            for branch in when.not { collect(branch, into: &names) }
        }
        for (index, rule) in rules.enumerated() {
            var names = FactNamesRead.Names(values: Set(RuleLoader.placeholders(in: rule.summary)))
            collect(rule.when, into: &names)
            let mask = providerMasks[index]
            if mask == 0 { common.formUnion(names); continue }
            for shift in 0..<32 where mask & (1 << UInt32(shift)) != 0 {
                byProvider[1 << UInt32(shift), default: FactNamesRead.Names()].formUnion(names)
            }
        }
        for remediation in remediations.values {
            for step in remediation.steps { common.values.formUnion(RuleLoader.placeholders(in: step)) }
        }
        for variant in variants.values.joined() {
            common.values.formUnion(variant.requires)
            for step in variant.steps { common.values.formUnion(RuleLoader.placeholders(in: step)) }
        }
        return FactNamesRead(common: common, byProvider: byProvider)
    }
}
