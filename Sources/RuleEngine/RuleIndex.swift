import EvidenceModel
import Synchronization

/// What a rule set is indexed by, apart from its rules: worked out from the rules once, then kept in
/// the snapshot, so that start-up neither decodes every rule nor walks every condition (together
/// most of a one-shot command's own work).
struct RuleIndex: Sendable {
    /// Rules with no usable anchor; checked every time.
    var always: [Int] = []
    /// Per text fact, rules one of whose alternatives is cased non-ASCII words only.
    var byNonASCII: [(fact: String, rules: [Int])] = []
    /// Fact name → the rules anchored on a value of it, or on its presence.
    var byName: [String: RuleSet.FactAnchors] = [:]
    /// Per text fact, the needles (a literal word's first bytes, ASCII-lowercased) and each one's rules.
    var needles: [(fact: String, needles: [[UInt8]], rules: [[Int]])] = []
    /// Per rule, the providers it can hold for (ProviderMask bits; 0: any).
    var providerMasks: [UInt32] = []
    /// Per rule, whether it is a fallback.
    var fallback: [Bool] = []

    /// How many leading bytes of a rule's literal word key the needle index.
    static let needleKeyLength = 10

    init() {}

    init(_ rules: [Rule]) {
        var needles: [String: (list: [[UInt8]], ids: [String: Int], rules: [[Int]])] = [:]
        var byNonASCII: [String: [Int]] = [:]
        for (index, rule) in rules.enumerated() {
            guard let keys = RuleSet.Anchor.best(for: rule.when) else { always.append(index); continue }
            for key in keys {
                switch key {
                case let .value(fact, value): byName[fact, default: RuleSet.FactAnchors()].values[value, default: []].append(index)
                case let .exists(fact): byName[fact, default: RuleSet.FactAnchors()].exists.append(index)
                case let .needle(fact, full) where full == LiteralPrefilter.nonASCII:
                    byNonASCII[fact, default: []].append(index)
                case let .needle(fact, full):
                    // The index only has to be a superset: a needle's first bytes occur wherever it
                    // does, and the rule's own test checks the whole. Short keys keep the automaton
                    // a fifth of the size, with few extra candidates.
                    let bytes = Array(full.prefix(Self.needleKeyLength))
                    let text = String(decoding: bytes, as: UTF8.self)
                    // Mutated in place: copying the entry out and back copied every list per needle.
                    Self.addNeedle(text, bytes, rule: index, to: &needles[fact, default: ([], [:], [])])
                }
            }
        }
        self.byNonASCII = byNonASCII.keys.sorted().map { ($0, byNonASCII[$0]!) }
        self.needles = needles.keys.sorted().map { fact in
            let entry = needles[fact]!
            return (fact, entry.list, entry.rules)
        }
        providerMasks = rules.map { ProviderMask.required(by: $0.when) }
        fallback = rules.map(\.fallback)
    }

    private static func addNeedle(_ text: String, _ bytes: [UInt8], rule: Int,
                                  to entry: inout (list: [[UInt8]], ids: [String: Int], rules: [[Int]])) {
        let id: Int
        if let known = entry.ids[text] { id = known } else {
            id = entry.list.count
            entry.ids[text] = id
            entry.list.append(bytes)
            entry.rules.append([])
        }
        entry.rules[id].append(rule)
    }
}

/// A rule set's rules by position: given decoded (parsed from YAML), or decoded from the snapshot
/// one by one the first time the matcher needs each. A one-shot command reads a few dozen of
/// more than a thousand. Lock-free once decoded: a batch's threads read the same rules.
final class RuleStore: @unchecked Sendable {
    let count: Int
    private let slots: UnsafeMutablePointer<AtomicLazyReference<Rule>>
    /// Where undecoded rules come from (nil: every slot was filled at creation).
    private let source: SnapshotRules?

    init(_ rules: [Rule]) {
        count = rules.count
        source = nil
        slots = .allocate(capacity: max(1, rules.count))
        for (index, rule) in rules.enumerated() {
            (slots + index).initialize(to: AtomicLazyReference())
            _ = slots[index].storeIfNil(rule)
        }
    }

    init(_ source: SnapshotRules) {
        count = source.count
        self.source = source
        slots = .allocate(capacity: max(1, source.count))
        for index in 0..<source.count { (slots + index).initialize(to: AtomicLazyReference()) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    subscript(index: Int) -> Rule {
        if let rule = slots[index].load() { return rule }
        // Two threads may decode the same rule at once; the first to store it wins, both return it.
        return slots[index].storeIfNil(source!.rule(at: index))
    }

    /// A rule's id without decoding the rest of it.
    func id(at index: Int) -> String {
        if let rule = slots[index].load() { return rule.id }
        return source!.id(at: index)
    }

    var all: [Rule] { (0..<count).map { self[$0] } }

    /// How many rules have been decoded so far (tests: a one-shot command decodes few).
    var decodedCount: Int { (0..<count).filter { slots[$0].load() != nil }.count }
}
