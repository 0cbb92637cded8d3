import EvidenceModel
import Foundation

/// How often each rule pattern reached ICU (its prefilter let it through), for finding the rules
/// that make a batch slow: `AUTHDOCTOR_REGEX_RUNS=1 authdoctor classify --batch FILE` prints the
/// most-run patterns on standard error at the end.
public enum RegexRuns {
    public static let counting = ProcessInfo.processInfo.environment["AUTHDOCTOR_REGEX_RUNS"].map { !$0.isEmpty && $0 != "0" } ?? false
    private static let lock = NSLock()
    nonisolated(unsafe) private static var counts: [String: Int] = [:]

    static func count(_ source: String) {
        lock.lock()
        counts[source, default: 0] += 1
        lock.unlock()
    }

    /// The `limit` most-run patterns, most first.
    public static func top(_ limit: Int) -> [(pattern: String, runs: Int)] {
        lock.lock()
        defer { lock.unlock() }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(limit).map { ($0.key, $0.value) }
    }
}

/// A compiled ICU regular expression (NSRegularExpression is immutable once built).
public final class Pattern: @unchecked Sendable {
    public let source: String
    let prefilter: LiteralPrefilter?
    private let lock = NSLock()
    private var compiled: NSRegularExpression?

    /// With `compileNow` the syntax is checked at once (local rules, lint, tests). The built-in set,
    /// checked by `rules lint` in CI, is compiled on first use instead: most patterns of a one-shot
    /// classification never run (their prefilter rules them out) and ICU compiles are slow.
    public init(_ source: String, compileNow: Bool = true) throws {
        self.source = source
        prefilter = LiteralPrefilter(pattern: source)
        if compileNow {
            compiled = try NSRegularExpression(pattern: source, options: [])
        }
    }

    /// A built-in pattern with its prefilter already analysed (from the rule snapshot), compiled on
    /// first use.
    init(snapshotSource source: String, prefilter: LiteralPrefilter?) {
        self.source = source
        self.prefilter = prefilter
    }

    var regex: NSRegularExpression {
        lock.lock()
        defer { lock.unlock() }
        if let compiled { return compiled }
        // Only lazily compiled built-in patterns get here; lint proves they compile. Should one not,
        // it matches nothing rather than stopping a classification.
        let made = (try? NSRegularExpression(pattern: source, options: [])) ?? (try! NSRegularExpression(pattern: "(?!)", options: []))
        compiled = made
        return made
    }

    public func matches(_ text: String) -> Bool {
        if let prefilter {
            let lowered = Self.visiblePrefix(text)
            guard lowered.withUnsafeBufferPointer({ prefilter.mayMatch($0) }) else { return false }
        }
        if RegexRuns.counting { RegexRuns.count(source) }
        return regex.firstMatch(in: text, options: [], range: Self.searchRange(text)) != nil
    }

    /// Like `matches`, with the text's ASCII-lowercased bytes already at hand.
    func matches(_ text: String, lowered: [UInt8]) -> Bool {
        if let prefilter, !lowered.withUnsafeBufferPointer({ prefilter.mayMatch($0) }) { return false }
        if RegexRuns.counting { RegexRuns.count(source) }
        return regex.firstMatch(in: text, options: [], range: Self.searchRange(text)) != nil
    }

    /// The most UTF-16 units of a text a rule's regex sees (its start): ICU backtracks, and even a
    /// pattern without nested quantifiers can be polynomial in the length of a pasted log.
    public static let maxMatchLength = 16_384
    /// The UTF-8 bytes that hold those units at most: word tests (`contains`, the prefilter, the
    /// rule index) look at no more, so a pasted megabyte costs what its start costs.
    public static let maxMatchBytes = 4 * maxMatchLength

    /// The ASCII-lowercased first `maxMatchBytes` bytes of a text.
    static func visiblePrefix(_ text: String) -> [UInt8] {
        var out = Array(text.utf8.prefix(maxMatchBytes))
        for i in out.indices where out[i] >= 65 && out[i] <= 90 { out[i] += 32 }
        return out
    }

    static func searchRange(_ text: String) -> NSRange {
        let length = text.utf16.count
        guard length > maxMatchLength else { return NSRange(location: 0, length: length) }
        // Not in the middle of a surrogate pair.
        var end = text.utf16.index(text.utf16.startIndex, offsetBy: maxMatchLength)
        if UTF16.isTrailSurrogate(text.utf16[end]) { end = text.utf16.index(before: end) }
        return NSRange(location: 0, length: text.utf16.distance(from: text.utf16.startIndex, to: end))
    }

    /// Rule patterns nest groups 4 deep at most; the pattern analyses (the literal prefilter, the
    /// nested-quantifier check) recurse per group, so a file nesting thousands deep is refused.
    public static let maxGroupDepth = 32

    /// How deep the pattern's groups nest (escapes and character classes skipped), or nil for 0.
    public static func groupDepth(of source: String) -> Int? {
        var depth = 0, deepest = 0
        var inClass = false
        var escaped = false
        for c in source.utf8 {
            if escaped { escaped = false; continue }
            switch c {
            case UInt8(ascii: "\\"): escaped = true
            case UInt8(ascii: "["): inClass = true
            case UInt8(ascii: "]"): inClass = false
            case UInt8(ascii: "(") where !inClass: depth += 1; deepest = max(deepest, depth)
            case UInt8(ascii: ")") where !inClass: depth = max(0, depth - 1)
            default: break
            }
        }
        return deepest == 0 ? nil : deepest
    }

    /// Why a pattern may backtrack exponentially, or nil: a quantified group that itself holds a
    /// quantifier (`(a+)+`, `(x*y)*`, `(?:a|b+){2,}`), the shape behind catastrophic backtracking.
    /// Rule files refuse such patterns (`rules lint` and every load).
    public static func nestedQuantifier(in source: String) -> String? {
        let chars = Array(source.unicodeScalars)
        // For each open group: whether something inside it is quantified without bound.
        var stack: [Bool] = []
        var i = 0
        var lastClosedGroupHadQuantifier = false
        func unboundedQuantifier(at j: Int) -> (Bool, Int)? {
            guard j < chars.count else { return nil }
            switch chars[j] {
            case "*", "+": return (true, j + 1)
            case "?": return (false, j + 1)
            case "{":
                var k = j + 1
                var text = ""
                while k < chars.count && chars[k] != "}" { text.unicodeScalars.append(chars[k]); k += 1 }
                guard k < chars.count else { return nil }
                let parts = text.split(separator: ",", omittingEmptySubsequences: false)
                guard parts.count <= 2, parts.allSatisfy({ $0.isEmpty || Int($0) != nil }), !(parts.first ?? "").isEmpty else { return nil }
                if parts.count == 1 { return ((Int(parts[0]) ?? 0) > 1, k + 1) }
                return (parts[1].isEmpty || (Int(parts[1]) ?? 0) > 1, k + 1)
            default: return nil
            }
        }
        while i < chars.count {
            let c = chars[i]
            var atomEnd = i + 1
            var isGroupClose = false
            switch c {
            case "\\":
                // \Q...\E quotes literally.
                if i + 1 < chars.count && chars[i + 1] == "Q" {
                    var k = i + 2
                    while k + 1 < chars.count && !(chars[k] == "\\" && chars[k + 1] == "E") { k += 1 }
                    i = k + 2
                    continue
                }
                atomEnd = i + 2
            case "[":
                var k = i + 1
                if k < chars.count && chars[k] == "^" { k += 1 }
                if k < chars.count && chars[k] == "]" { k += 1 }
                var depth = 1
                while k < chars.count && depth > 0 {
                    if chars[k] == "\\" { k += 2; continue }
                    if chars[k] == "[" { depth += 1 } else if chars[k] == "]" { depth -= 1 }
                    k += 1
                }
                atomEnd = k
            case "(":
                stack.append(false)
                i += 1
                continue
            case ")":
                let inner = stack.popLast() ?? false
                lastClosedGroupHadQuantifier = inner
                isGroupClose = true
            default: break
            }
            i = atomEnd
            if let (unbounded, next) = unboundedQuantifier(at: i) {
                var after = next
                if after < chars.count && (chars[after] == "?" || chars[after] == "+") { after += 1 }
                if isGroupClose && lastClosedGroupHadQuantifier && unbounded {
                    return "nested quantifiers (a quantified group holding a quantifier, as in (a+)+) can take exponential time"
                }
                if (unbounded || (isGroupClose && lastClosedGroupHadQuantifier)), !stack.isEmpty { stack[stack.count - 1] = true }
                i = after
            } else if isGroupClose && lastClosedGroupHadQuantifier && !stack.isEmpty {
                // A group with a quantifier inside, not itself quantified: its parent holds one.
                stack[stack.count - 1] = true
            }
        }
        return nil
    }
}

/// Per-evaluation memo: the lowered bytes of fact strings that text conditions look at, and which
/// fact names the record may have.
final class MatchContext {
    /// Keyed by the condition's FactName, whose hash is already worked out.
    private var lowered: [FactName: [UInt8]] = [:]
    let presence: FactPresence

    init(_ facts: Facts? = nil) {
        presence = facts.map(FactPresence.init) ?? .everything
    }

    func loweredBytes(of fact: FactName, _ text: String) -> [UInt8] {
        if let cached = lowered[fact] { return cached }
        let bytes = Pattern.visiblePrefix(text)
        lowered[fact] = bytes
        return bytes
    }
}

public enum Operator: Sendable {
    case equals(FactValue)
    case oneOf([FactValue])
    case matches(Pattern)
    /// The needle as given, and ASCII-lowercased (nil when not ASCII: Foundation compares then).
    case contains(String, [UInt8]?)
    case exists(Bool)
    case greaterThan(Double), greaterOrEqual(Double), lessThan(Double), lessOrEqual(Double)
}

/// One test of one fact: `http.status: { gte: 400 }`.
public struct Condition: Sendable {
    public var fact: String { didSet { factBit = FactPresence.bit(fact); factKey = FactName(fact) } }
    public var op: Operator
    public var line: Int
    /// The fact name's bit in a record's FactPresence: most conditions read facts a record does not
    /// have, and the bit says so without hashing the name.
    private(set) var factBit: UInt64
    /// The fact name with its hash worked out once (a condition is tested for every candidate record).
    private(set) var factKey: FactName

    public init(fact: String, op: Operator, line: Int) {
        self.fact = fact
        self.op = op
        self.line = line
        factBit = FactPresence.bit(fact)
        factKey = FactName(fact)
    }

    public func holds(in facts: Facts) -> Bool {
        holds(in: facts, context: MatchContext())
    }

    func holds(in facts: Facts, context: MatchContext) -> Bool {
        let value = context.presence.mayHave(factBit) ? facts[factKey] : nil
        if case let .exists(expected) = op {
            return (value?.isPresent ?? false) == expected
        }
        guard let value else { return false }
        if case let .string(s) = value {
            switch op {
            case let .matches(pattern): return pattern.matches(s, lowered: context.loweredBytes(of: factKey, s))
            case let .contains(_, needle?):
                return context.loweredBytes(of: factKey, s).withUnsafeBufferPointer { ByteSearch.contains($0, needle) }
            default: break
            }
        }
        if case let .list(items) = value, case let .contains(_, needle?) = op {
            for item in items {
                guard let text = item.stringValue else { continue }
                if Pattern.visiblePrefix(text).withUnsafeBufferPointer({ ByteSearch.contains($0, needle) }) { return true }
            }
            return false
        }
        // A list's elements, or the value itself (without building a one-element array per test).
        if case let .list(items) = value {
            for element in items where test(element) { return true }
            return false
        }
        return test(value)
    }

    /// Cheap tests first, regular expressions last.
    var cost: Int {
        switch op {
        case .exists, .equals, .greaterThan, .greaterOrEqual, .lessThan, .lessOrEqual: return 0
        case .oneOf: return 1
        case .contains: return 2
        case .matches: return 3
        }
    }

    @inline(__always) func test(_ element: FactValue) -> Bool {
        switch op {
        case let .equals(expected): return element.looselyEquals(expected)
        case let .oneOf(options): return options.contains { element.looselyEquals($0) }
        case let .matches(pattern):
            guard let s = element.stringValue else { return false }
            return pattern.matches(s)
        case let .contains(needle, _):
            guard let s = element.stringValue else { return false }
            return s.range(of: needle, options: [.caseInsensitive]) != nil
        case .exists: return true
        case let .greaterThan(n): return (element.numberValue ?? -.infinity) > n
        case let .greaterOrEqual(n): return (element.numberValue ?? -.infinity) >= n
        case let .lessThan(n): return (element.numberValue ?? .infinity) < n
        case let .lessOrEqual(n): return (element.numberValue ?? .infinity) <= n
        }
    }

    /// Values whose presence this condition needs, for the rule index (equality conditions only).
    var indexValues: [FactValue]? {
        switch op {
        case let .equals(v): return [v]
        case let .oneOf(vs): return vs
        default: return nil
        }
    }

    /// Whether the condition can only hold when the fact exists.
    var needsFact: Bool {
        if case let .exists(expected) = op { return expected }
        return true
    }
}

/// `when`: every condition holds, at least one `any` branch holds (if there are any), no `not` branch holds.
public struct When: Sendable {
    public var all: [Condition] = []
    public var any: [When] = []
    public var not: [When] = []
    /// Whether the `any` branches are tested before `all`: when every branch is cheaper than the
    /// costliest `all` condition (`any: [body.error: invalid_grant, ...]` beside a long regex over
    /// the text), most records are ruled out without running the regex. Set by `cheapestFirst()`.
    var anyFirst = false

    public func holds(in facts: Facts) -> Bool {
        holds(in: facts, context: MatchContext())
    }

    func holds(in facts: Facts, context: MatchContext) -> Bool {
        // Indices, not `for c in all`: the iterator copies each condition out (retaining its
        // strings and pattern), and this runs for every candidate rule of every record.
        if anyFirst && !anyBranchHolds(in: facts, context: context) { return false }
        for i in all.indices where !all[i].holds(in: facts, context: context) { return false }
        if !anyFirst && !any.isEmpty && !anyBranchHolds(in: facts, context: context) { return false }
        for i in not.indices where not[i].holds(in: facts, context: context) { return false }
        return true
    }

    private func anyBranchHolds(in facts: Facts, context: MatchContext) -> Bool {
        for i in any.indices where any[i].holds(in: facts, context: context) { return true }
        return false
    }

    /// See `anyFirst`.
    func decidesAnyFirst() -> Bool {
        guard let costliestBranch = any.map(\.maxCost).max() else { return false }
        return costliestBranch < (all.map(\.cost).max() ?? 0)
    }

    /// The same conditions, cheapest first in every group (the order never changes the result).
    func cheapestFirst() -> When {
        var copy = self
        copy.all = all.enumerated().sorted { ($0.element.cost, $0.offset) < ($1.element.cost, $1.offset) }.map(\.element)
        copy.any = any.map { $0.cheapestFirst() }.sorted { $0.maxCost < $1.maxCost }
        copy.not = not.map { $0.cheapestFirst() }
        copy.anyFirst = copy.decidesAnyFirst()
        return copy
    }

    var maxCost: Int { max(all.map(\.cost).max() ?? 0, any.map(\.maxCost).max() ?? 0) }

    /// Every fact this `when` reads, for evidence in reports.
    public var factNames: [String] {
        var names = all.map(\.fact)
        for branch in any { names += branch.factNames }
        return names
    }

    /// The fact names of the branches that hold (for reporting what matched).
    public func matchedFactNames(in facts: Facts) -> [String] {
        var names = all.map(\.fact)
        let context = MatchContext()
        for branch in any where branch.holds(in: facts, context: context) { names += branch.matchedFactNames(in: facts); break }
        return names
    }

    var conditionCount: Int { all.count + (any.map(\.conditionCount).min() ?? 0) }
}

public struct RuleExamples: Sendable {
    public var match: [String] = []
    public var noMatch: [String] = []
}

/// A loaded rule. A class, so that matching many records shares one copy instead of copying
/// (and retaining) every field per candidate.
public final class Rule: Sendable {
    public let id: String
    public let category: String
    public let failure: String
    public let severity: String
    public let confidence: Double
    public let fallback: Bool
    public let actor: String?
    public let transient: Bool?
    public let when: When
    public let summary: String
    public let remediation: [String]
    public let examples: RuleExamples
    /// What this rule's finding explains (rule ids, or failure classes): the cause comes first in a
    /// report (a revoked refresh token explains an expired access token). docs/RULES.md "Root cause first".
    public let explains: [String]
    /// Where the rule was defined ("rules/facebook/token.yaml:3").
    public let file: String
    public let line: Int

    public init(id: String, category: String, failure: String, severity: String, confidence: Double, fallback: Bool,
                actor: String?, transient: Bool?, when: When, summary: String, remediation: [String],
                examples: RuleExamples, file: String, line: Int, explains: [String] = []) {
        self.id = id
        self.category = category
        self.failure = failure
        self.severity = severity
        self.confidence = confidence
        self.fallback = fallback
        self.actor = actor
        self.transient = transient
        self.when = when
        self.summary = summary
        self.remediation = remediation
        self.examples = examples
        self.explains = explains
        self.file = file
        self.line = line
    }

    public var place: String { "\(file):\(line)" }

    /// Whether this rule's finding explains another finding (by its rule id or its failure class).
    /// The class defaults (Vocabulary.defaultExplains) hold only between findings of different
    /// evidence (a probe step, a HAR entry): two rules reading the same answer two ways ("expired
    /// or revoked") are two readings, not a cause and its effect.
    public func explains(_ other: Finding, sameEvidence: Bool = false) -> Bool {
        guard other.rule != id else { return false }
        if explains.isEmpty {
            if sameEvidence { return false }
            let defaults = Vocabulary.defaultExplains(for: failure)
            return defaults.contains(other.rule) || defaults.contains(other.failure)
        }
        return explains.contains(other.rule) || explains.contains(other.failure)
    }

    /// The providers the rule is restricted to by a `provider:` condition (nil: any provider).
    public var providers: [String]? {
        for c in when.all where c.fact == "provider" {
            switch c.op {
            case let .equals(v): return v.stringValue.map { [$0] }
            case let .oneOf(vs): return vs.compactMap(\.stringValue)
            default: continue
            }
        }
        return nil
    }

    /// The providers a rule speaks for: its `provider:` condition, else the provider its id is
    /// named after (`bigquery.access-denied`, `google-ads.auth.…`), else nil (any provider).
    public var impliedProviders: [String]? {
        if let providers { return providers }
        let prefix = String(id.prefix { $0 != "." })
        return ProviderDetector.known.contains(prefix) ? [prefix] : nil
    }

    /// Facts the rule cannot hold without: required by every path through its `when`.
    public var guaranteedFacts: Set<String> { when.guaranteedFacts }
}

extension When {
    /// Facts present whenever this `when` holds: each `all` condition that needs its fact, plus the
    /// facts every `any` branch guarantees.
    public var guaranteedFacts: Set<String> {
        var facts = Set(all.filter(\.needsFact).map(\.fact))
        if let first = any.first {
            var common = first.guaranteedFacts
            for branch in any.dropFirst() { common.formIntersection(branch.guaranteedFacts) }
            facts.formUnion(common)
        }
        return facts
    }
}

/// One step-by-step fix from rules/remediations.yaml.
public struct Remediation: Sendable {
    public var id: String
    public var title: String
    public var doc: String
    public var covers: [String]
    public var issuesLink: Bool
    public var steps: [String]
    /// The finding categories the steps are written for (`categories:`; empty: derived from `doc`).
    public var categories: [String] = []
    /// The variant (rules/remediation-variants/) whose steps these are, when one applied.
    public var variant: String? = nil
    /// Whether the steps had `{fact}` placeholders filled from a finding's facts.
    public var filled: Bool = false
    /// The facts the filled steps quote (they join the finding's evidence).
    public var quotedFacts: [String] = []

    /// The categories the steps suit: as declared, else by the document section they follow
    /// (fix-authentication-errors 1.x and 3.x: sources and API tokens; 2.x: destinations;
    /// authorize-via-link: links and the sources a link connects; `none`: any).
    public var suitableCategories: [String] { Self.categories(declared: categories, doc: doc) }

    public static func categories(declared: [String], doc: String) -> [String] {
        if !declared.isEmpty { return declared }
        if doc.hasPrefix("fix-authentication-errors 2.") { return ["destination"] }
        if doc.hasPrefix("fix-authentication-errors 1.") || doc.hasPrefix("fix-authentication-errors 3.") { return ["source", "api-token"] }
        if doc.hasPrefix("authorize-via-link") { return ["link", "source", "api-token"] }
        return ["source", "destination", "api-token", "link"]
    }
}

/// Provider- or finding-specific steps for a catalog remediation (rules/remediation-variants/*.yaml):
/// which one applies is data, chosen by the finding's provider, category, failure class, rule and
/// the facts it needs. docs/RULES.md "Remediation variants".
public struct RemediationVariant: Sendable {
    public var id: String
    public var remediation: String
    public var providers: [String]
    public var categories: [String]
    public var failures: [String]
    public var rules: [String]
    /// Facts that must be present for the variant to apply (its placeholders may use them).
    public var requires: [String]
    public var title: String?
    public var doc: String?
    public var steps: [String]
    public var file: String
    public var line: Int

    public init(id: String, remediation: String, providers: [String] = [], categories: [String] = [], failures: [String] = [],
                rules: [String] = [], requires: [String] = [], title: String? = nil, doc: String? = nil, steps: [String],
                file: String = "", line: Int = 1) {
        self.id = id
        self.remediation = remediation
        self.providers = providers
        self.categories = categories
        self.failures = failures
        self.rules = rules
        self.requires = requires
        self.title = title
        self.doc = doc
        self.steps = steps
        self.file = file
        self.line = line
    }

    public var place: String { "\(file):\(line)" }

    /// How well the variant fits (nil: it does not), before its `requires` are checked: a named rule
    /// beats a provider, which beats a failure class, which beats a category; a provider named
    /// first in the finding's provider family (`redshift` before `postgres`) beats a later one.
    func fit(rule: String, category: String, failure: String, providerFamily: [String]) -> Int? {
        var score = 0
        if !rules.isEmpty { guard rules.contains(rule) else { return nil }; score += 1000 }
        if !providers.isEmpty {
            guard let index = providerFamily.firstIndex(where: providers.contains) else { return nil }
            score += 500 - index * 10
        }
        if !failures.isEmpty { guard failures.contains(failure) else { return nil }; score += 40 }
        if !categories.isEmpty { guard categories.contains(category) else { return nil }; score += 20 }
        return score + requires.count
    }
}

/// A 64-bit summary of a record's fact names: a name whose bit is clear is certainly absent (a bit
/// that is set may be another name's: the dictionary then decides).
struct FactPresence {
    var bits: UInt64

    static let everything = FactPresence(bits: ~0)

    init(bits: UInt64) { self.bits = bits }

    init(_ facts: Facts) {
        var bits: UInt64 = 0
        for key in facts.table.keys { bits |= Self.bit(key.name) }
        self.bits = bits
    }

    @inline(__always) func mayHave(_ bit: UInt64) -> Bool { bits & bit != 0 }

    /// FNV-1a of the name's UTF-8 bytes, folded to one of 64 bits.
    static func bit(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return 1 << ((hash ^ (hash >> 32)) & 63)
    }
}
