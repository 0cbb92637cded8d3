import EvidenceModel

/// A rule that held, with the facts it looked at.
public struct RuleMatch: Sendable {
    public var rule: Rule
    /// The facts the rule's conditions read, in rule order, as they were (unredacted: redact on output).
    public var evidence: [(name: String, value: FactValue)]
}

/// The loaded rules and remediation catalog, indexed so a record is checked only against rules whose
/// anchor fact it actually has (DESIGN.md: never scan every rule for every record).
public final class RuleSet: Sendable {
    public let rules: [Rule]
    public let remediations: [String: Remediation]
    public let remediationOrder: [String]

    /// fact name → index key of a required value → rules anchored there.
    let byValue: [String: [String: [Int]]]
    /// fact name → rules that need the fact to exist (no equality condition to anchor on).
    let byFact: [String: [Int]]
    /// Rules with no positive condition at all; checked every time.
    let always: [Int]
    let anchorFacts: [String]

    public init(rules: [Rule], remediations: [Remediation]) {
        self.rules = rules
        var catalog: [String: Remediation] = [:]
        for r in remediations { catalog[r.id] = r }
        self.remediations = catalog
        remediationOrder = remediations.map(\.id)

        var byValue: [String: [String: [Int]]] = [:]
        var byFact: [String: [Int]] = [:]
        var always: [Int] = []
        for (index, rule) in rules.enumerated() {
            if let anchor = Self.valueAnchor(rule.when) {
                for value in anchor.values {
                    guard let key = value.indexKey else { continue }
                    byValue[anchor.fact, default: [:]][key, default: []].append(index)
                }
            } else if let fact = rule.when.all.first(where: \.needsFact)?.fact {
                byFact[fact, default: []].append(index)
            } else {
                always.append(index)
            }
        }
        self.byValue = byValue
        self.byFact = byFact
        self.always = always
        anchorFacts = Array(Set(byValue.keys).union(byFact.keys)).sorted()
    }

    /// The most selective equality condition: prefer anything over `provider`, which many rules share.
    static func valueAnchor(_ when: When) -> (fact: String, values: [FactValue])? {
        let candidates = when.all.compactMap { c -> (String, [FactValue])? in
            guard let values = c.indexValues, values.allSatisfy({ $0.indexKey != nil }) else { return nil }
            return (c.fact, values)
        }
        if let best = candidates.first(where: { $0.0 != "provider" && $0.0 != "input.kind" }) { return best }
        return candidates.first
    }

    /// Every rule that holds for these facts (fallback rules included; the classifier decides).
    public func matches(_ facts: Facts) -> [RuleMatch] {
        var candidates: [Int] = always
        for fact in anchorFacts {
            guard let value = facts[fact] else { continue }
            if let table = byValue[fact] {
                for element in value.elements {
                    if let key = element.indexKey, let hits = table[key] { candidates.append(contentsOf: hits) }
                }
            }
            if let hits = byFact[fact] { candidates.append(contentsOf: hits) }
        }
        if candidates.count > 1 {
            candidates.sort()
        }
        var results: [RuleMatch] = []
        var last = -1
        for index in candidates where index != last {
            last = index
            let rule = rules[index]
            guard rule.when.holds(in: facts) else { continue }
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

    public func rule(id: String) -> Rule? { rules.first { $0.id == id } }
}
