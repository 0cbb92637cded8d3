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
    /// Keyed by `FactName`, whose hash is a cheap one over the name's bytes: every record's facts are
    /// set and looked up by name hundreds of times, and SipHash of each name was a tenth of a batch.
    public private(set) var table: [FactName: FactValue] = [:]

    /// The facts by plain name (a copy: hot paths iterate `table`).
    public var values: [String: FactValue] {
        var out: [String: FactValue] = [:]
        out.reserveCapacity(table.count)
        for (name, value) in table { out[name.name] = value }
        return out
    }

    public init() {}
    public init(_ values: [String: FactValue]) {
        table.reserveCapacity(values.count)
        for (name, value) in values { table[FactName(name)] = value }
    }
    /// Room for a typical response's facts up front (growing the table rehashes every key).
    public init(capacity: Int) { table.reserveCapacity(capacity) }

    public subscript(name: String) -> FactValue? {
        get { table[FactName(name)] }
        set { table[FactName(name)] = newValue }
    }

    /// Lookup with a name whose hash is already known (rule conditions keep theirs).
    @inlinable public subscript(key: FactName) -> FactValue? { table[key] }

    public mutating func set(_ name: String, _ value: FactValue) { table[FactName(name)] = value }
    public mutating func set(_ name: String, _ value: String) { table[FactName(name)] = .string(value) }
    public mutating func set(_ name: String, _ value: Int) { table[FactName(name)] = .int(value) }
    public mutating func set(_ name: String, _ value: Bool) { table[FactName(name)] = .bool(value) }

    /// Sets the value unless the fact is already known (the first, most direct source wins).
    public mutating func setIfAbsent(_ name: String, _ value: FactValue) {
        let key = FactName(name)
        if table[key] == nil { table[key] = value }
    }

    /// Adds to a list fact (creating it), as values met inside JSON arrays do.
    public mutating func append(_ name: String, _ value: FactValue) {
        // One lookup, and the list is moved out and back so it grows in place (a JSON array of
        // n items used to cost n copies).
        let key = FactName(name)
        guard let index = table.index(forKey: key) else {
            table[key] = .list([value])
            return
        }
        var current = FactValue.null
        swap(&current, &table.values[index])
        switch consume current {
        case var .list(items):
            items.append(value)
            table.values[index] = .list(items)
        case let existing:
            table.values[index] = .list([existing, value])
        }
    }

    public mutating func merge(_ other: Facts, overwrite: Bool = false) {
        for (k, v) in other.table where overwrite || table[k] == nil { table[k] = v }
    }

    public var names: [String] { table.keys.map(\.name).sorted() }
    public var count: Int { table.count }

    public func string(_ name: String) -> String? { table[FactName(name)]?.stringValue }
    public func int(_ name: String) -> Int? {
        guard let v = table[FactName(name)] else { return nil }
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
        if case let .bool(b)? = table[FactName(name)] { return b }
        return nil
    }
}

/// A fact's name as a dictionary key: equal when the names are, hashed by FNV-1a over the UTF-8
/// bytes mixed with the table's seed, without the standard library's SipHash (names are short and
/// a record holds at most a few hundred, a hostile body's included: `FactExtractor.maxBodyFacts`).
public struct FactName: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    /// FNV-1a of the name, worked out once: a rule's condition keeps its FactName and looks up with it.
    public let bytesHash: UInt64

    @inlinable public init(_ name: String) {
        self.name = name
        if let hash = name.utf8.withContiguousStorageIfAvailable(Self.fnv1a) {
            bytesHash = hash
        } else {
            var copy = name
            bytesHash = copy.withUTF8(Self.fnv1a)
        }
    }

    public var description: String { name }

    @inlinable public static func == (a: FactName, b: FactName) -> Bool { a.bytesHash == b.bytesHash && a.name == b.name }

    public func hash(into hasher: inout Hasher) { hasher.combine(bytesHash) }

    public func _rawHashValue(seed: Int) -> Int {
        // A final avalanche (splitmix64's) so the table's low bits depend on every byte and on the seed.
        var z = bytesHash &+ UInt64(bitPattern: Int64(seed)) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(bitPattern: UInt(truncatingIfNeeded: z ^ (z >> 31)))
    }

    @inlinable static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}
