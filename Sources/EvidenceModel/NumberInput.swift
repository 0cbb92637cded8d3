import Foundation

/// Every number that comes from the command line, a file or the network goes through here: parsed,
/// checked against the range its use can take (argv: EX_USAGE 64, files: EX_DATAERR 65, naming the
/// range), or, from the network, clamped. Nothing downstream multiplies an unchecked number into an
/// overflow (`UInt64(seconds * 1e9)`, `Int(seconds)`).
public enum NumberInput {
    /// A range and how to word it ("from 0 to 3153600000 seconds").
    public struct Bounds: Sendable {
        public var lower: Double
        public var upper: Double
        /// The lower bound itself is refused ("more than 0").
        public var lowerExclusive: Bool
        public var unit: String

        public init(_ lower: Double, _ upper: Double, lowerExclusive: Bool = false, unit: String = "seconds") {
            self.lower = lower
            self.upper = upper
            self.lowerExclusive = lowerExclusive
            self.unit = unit
        }

        public func contains(_ value: Double) -> Bool {
            value.isFinite && (lowerExclusive ? value > lower : value >= lower) && value <= upper
        }

        public var wording: String {
            let low = lowerExclusive ? "more than \(Self.format(lower))" : "from \(Self.format(lower))"
            return "\(low) \(lowerExclusive ? "and at most" : "to") \(Self.format(upper))\(unit.isEmpty ? "" : " " + unit)"
        }

        static func format(_ v: Double) -> String {
            v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
        }
    }

    /// The ranges of the numbers authdoctor takes.
    public enum Range {
        /// `--warn-expiry`, an entry's `warn-expiry`: up to a century, 36500d (0 turns the warning off).
        public static let warnExpiry = Bounds(0, 3_153_600_000)
        /// `--timeout`, an entry's `timeout`: each probe.
        public static let timeout = Bounds(0, 600, lowerExclusive: true)
        /// `check --deadline`: the whole run, at most a week.
        public static let deadline = Bounds(0, 604_800, lowerExclusive: true)
        /// `check --retry-after-max`: at most a day.
        public static let retryAfterMax = Bounds(0, 86_400)
        /// A provider's Retry-After, clamped (not refused: it is evidence) to a year.
        public static let retryAfterNetwork = Bounds(0, 31_536_000)
    }

    /// A plain number ("1e3" and "-1" are numbers; "inf", "nan" and text are not).
    public static func number(_ text: String) -> Double? {
        let t = text.trimmedWhitespace()
        guard !t.isEmpty, let value = Double(t), value.isFinite else { return nil }
        let lower = t.lowercased()
        if lower.contains("inf") || lower.contains("nan") || lower.hasPrefix("0x") { return nil }
        return value
    }

    private static let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]

    /// A duration's seconds: a number, optionally followed by s, m, h, d or w. Nil when it is not one.
    public static func seconds(_ text: String) -> Double? {
        let t = text.trimmedWhitespace().lowercased()
        var number = Substring(t)
        var factor = 1.0
        if let last = t.last, let unit = units[last] { number = number.dropLast(); factor = unit }
        guard let value = self.number(String(number)) else { return nil }
        let seconds = value * factor
        return seconds.isFinite ? seconds : nil
    }

    /// A duration checked against `bounds`: "bad --warn-expiry '1e19': must be from 0 to 3153600000 seconds".
    public static func duration(_ text: String, what: String, bounds: Bounds, kind: InputError.Kind = .usage,
                                place: String? = nil) throws(InputError) -> Double {
        guard let value = seconds(text) else {
            throw InputError(kind, "bad \(what) '\(text)': expected a duration such as 7d, 36h, 90m or 3600 (\(bounds.wording))", place: place)
        }
        guard bounds.contains(value) else {
            throw InputError(kind, "bad \(what) '\(text)': must be \(bounds.wording)", place: place)
        }
        return value
    }

    /// A number already parsed (by the argument parser) checked against `bounds`.
    @discardableResult
    public static func check(_ value: Double, what: String, bounds: Bounds, kind: InputError.Kind = .usage,
                             place: String? = nil) throws(InputError) -> Double {
        guard bounds.contains(value) else {
            throw InputError(kind, "\(what) must be \(bounds.wording), not \(Bounds.format(value))", place: place)
        }
        return value
    }

    /// An integer checked against a range: "--jobs must be from 1 to 256, not 0".
    @discardableResult
    public static func check(_ value: Int, what: String, range: ClosedRange<Int>, kind: InputError.Kind = .usage,
                             place: String? = nil) throws(InputError) -> Int {
        guard range.contains(value) else {
            throw InputError(kind, "\(what) must be from \(range.lowerBound) to \(range.upperBound), not \(value)", place: place)
        }
        return value
    }

    /// A number from the network, brought into range (NaN → the lower bound).
    public static func clamp(_ value: Double, to bounds: Bounds) -> Double {
        guard !value.isNaN else { return bounds.lower }
        return min(max(value, bounds.lower), bounds.upper)
    }

    /// An integer from the network, brought into range.
    public static func clamp(_ value: Int, to bounds: Bounds) -> Int {
        min(max(value, Int(bounds.lower)), Int(bounds.upper))
    }
}
