import EvidenceModel
import Foundation

/// A compiled ICU regular expression (NSRegularExpression is immutable once built).
public final class Pattern: @unchecked Sendable {
    public let source: String
    let regex: NSRegularExpression

    public init(_ source: String) throws {
        self.source = source
        regex = try NSRegularExpression(pattern: source, options: [])
    }

    public func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, options: [], range: NSRange(text.startIndex..., in: text)) != nil
    }
}

public enum Operator: Sendable {
    case equals(FactValue)
    case oneOf([FactValue])
    case matches(Pattern)
    case contains(String)
    case exists(Bool)
    case greaterThan(Double), greaterOrEqual(Double), lessThan(Double), lessOrEqual(Double)
}

/// One test of one fact: `http.status: { gte: 400 }`.
public struct Condition: Sendable {
    public var fact: String
    public var op: Operator
    public var line: Int

    public func holds(in facts: Facts) -> Bool {
        let value = facts[fact]
        if case let .exists(expected) = op {
            return (value?.isPresent ?? false) == expected
        }
        guard let value else { return false }
        for element in value.elements where test(element) { return true }
        return false
    }

    @inline(__always) func test(_ element: FactValue) -> Bool {
        switch op {
        case let .equals(expected): return element.looselyEquals(expected)
        case let .oneOf(options): return options.contains { element.looselyEquals($0) }
        case let .matches(pattern):
            guard let s = element.stringValue else { return false }
            return pattern.matches(s)
        case let .contains(needle):
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

    public func holds(in facts: Facts) -> Bool {
        for c in all where !c.holds(in: facts) { return false }
        if !any.isEmpty && !any.contains(where: { $0.holds(in: facts) }) { return false }
        for n in not where n.holds(in: facts) { return false }
        return true
    }

    /// Every fact this `when` reads, for evidence in reports.
    public var factNames: [String] {
        var names = all.map(\.fact)
        for branch in any { names += branch.factNames }
        return names
    }

    /// The fact names of the branches that hold (for reporting what matched).
    public func matchedFactNames(in facts: Facts) -> [String] {
        var names = all.map(\.fact)
        for branch in any where branch.holds(in: facts) { names += branch.matchedFactNames(in: facts); break }
        return names
    }

    var conditionCount: Int { all.count + (any.map(\.conditionCount).min() ?? 0) }
}

public struct RuleExamples: Sendable {
    public var match: [String] = []
    public var noMatch: [String] = []
}

public struct Rule: Sendable {
    public var id: String
    public var category: String
    public var failure: String
    public var severity: String
    public var confidence: Double
    public var fallback: Bool
    public var actor: String?
    public var transient: Bool?
    public var when: When
    public var summary: String
    public var remediation: [String]
    public var examples: RuleExamples
    /// Where the rule was defined ("rules/facebook/token.yaml:3").
    public var file: String
    public var line: Int

    public var place: String { "\(file):\(line)" }
}

/// One step-by-step fix from rules/remediations.yaml.
public struct Remediation: Sendable {
    public var id: String
    public var title: String
    public var doc: String
    public var covers: [String]
    public var issuesLink: Bool
    public var steps: [String]
}
