/// One fact's value. Facts that pass through a JSON array are lists.
public enum FactValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null
    case list([FactValue])

    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .null
        case let .bool(b): self = .bool(b)
        case let .int(i): self = .int(i)
        case let .double(d): self = .double(d)
        case let .string(s): self = .string(s)
        case let .array(a): self = .list(a.map(FactValue.init))
        case .object: self = .string("{…}")
        }
    }

    /// The elements a condition looks at: a list's elements, or the value itself.
    @inlinable public var elements: [FactValue] {
        if case let .list(items) = self { return items }
        return [self]
    }

    /// A value is "present" when it is not null and not an empty list or string.
    public var isPresent: Bool {
        switch self {
        case .null: return false
        case let .list(items): return items.contains(where: \.isPresent)
        case let .string(s): return !s.isEmpty
        default: return true
        }
    }

    public var stringValue: String? {
        switch self {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .double(d): return d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case let .bool(b): return b ? "true" : "false"
        case .null: return nil
        case let .list(items): return items.compactMap(\.stringValue).joined(separator: ", ")
        }
    }

    public var numberValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        case let .string(s): return Double(s.trimmedWhitespace())
        case let .bool(b): return b ? 1 : 0
        default: return nil
        }
    }

    /// The key used to index rules by value: numbers and strings that are equal by value share it.
    public var indexKey: String? {
        switch self {
        case let .string(s):
            // Numeric text shares the key of the number ("190", " 190", "190.0" and 190 are equal).
            if let i = Int(s) { return String(i) }
            if let first = s.utf8.first, first == 0x20 || first == 0x2D || first == 0x2B || first == 0x2E || (first >= 0x30 && first <= 0x39),
               let d = Double(s.trimmedWhitespace()), d.isFinite {
                return FactValue.double(d).indexKey
            }
            return s
        case let .int(i): return String(i)
        case let .double(d): return d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case let .bool(b): return b ? "true" : "false"
        case .null: return "null"
        case .list: return nil
        }
    }

    /// Equality by value: `190` equals `"190"`; strings compare case-sensitively.
    public func looselyEquals(_ other: FactValue) -> Bool {
        switch (self, other) {
        case let (.string(a), .string(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case (.null, .null): return true
        case (.list, _), (_, .list): return false
        case (.bool, _), (_, .bool): 
            return stringValue == other.stringValue
        default:
            if let a = numberValue, let b = other.numberValue { return a == b }
            return false
        }
    }

    public var description: String {
        switch self {
        case let .string(s): return s
        case let .list(items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        default: return stringValue ?? "null"
        }
    }
}

import Foundation

/// The facts extracted from one piece of evidence: flat names (see docs/RULES.md) to values.
public struct Facts: Sendable, Equatable {
    public private(set) var values: [String: FactValue] = [:]

    public init() {}
    public init(_ values: [String: FactValue]) { self.values = values }
    /// Room for a typical response's facts up front (growing the table rehashes every key).
    public init(capacity: Int) { values.reserveCapacity(capacity) }

    public subscript(name: String) -> FactValue? {
        get { values[name] }
        set { values[name] = newValue }
    }

    public mutating func set(_ name: String, _ value: FactValue) { values[name] = value }
    public mutating func set(_ name: String, _ value: String) { values[name] = .string(value) }
    public mutating func set(_ name: String, _ value: Int) { values[name] = .int(value) }
    public mutating func set(_ name: String, _ value: Bool) { values[name] = .bool(value) }

    /// Sets the value unless the fact is already known (the first, most direct source wins).
    public mutating func setIfAbsent(_ name: String, _ value: FactValue) {
        if values[name] == nil { values[name] = value }
    }

    /// Adds to a list fact (creating it), as values met inside JSON arrays do.
    public mutating func append(_ name: String, _ value: FactValue) {
        // One lookup, and the list is moved out and back so it grows in place (a JSON array of
        // n items used to cost n copies).
        guard let index = values.index(forKey: name) else {
            values[name] = .list([value])
            return
        }
        var current = FactValue.null
        swap(&current, &values.values[index])
        switch consume current {
        case var .list(items):
            items.append(value)
            values.values[index] = .list(items)
        case let existing:
            values.values[index] = .list([existing, value])
        }
    }

    public mutating func merge(_ other: Facts, overwrite: Bool = false) {
        for (k, v) in other.values where overwrite || values[k] == nil { values[k] = v }
    }

    public var names: [String] { values.keys.sorted() }
    public var count: Int { values.count }

    public func string(_ name: String) -> String? { values[name]?.stringValue }
    public func int(_ name: String) -> Int? {
        guard let v = values[name] else { return nil }
        return Self.wholeNumber(v)
    }

    /// A value as a whole number: ints as they are, numbers and numeric text truncated; nil for
    /// anything else, including numbers no Int can hold (a provider's `1e300` must not trap).
    public static func wholeNumber(_ value: FactValue) -> Int? {
        if case let .int(i) = value { return i }
        guard let d = value.numberValue, d.isFinite, abs(d) < 9.2e18 else { return nil }
        return Int(d)
    }
    public func bool(_ name: String) -> Bool? {
        if case let .bool(b)? = values[name] { return b }
        return nil
    }
}
