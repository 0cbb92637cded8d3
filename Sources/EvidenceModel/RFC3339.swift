import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Dates as reports and stores write them: RFC 3339 in UTC, whole seconds (`2026-11-23T11:16:38Z`).
/// Thread-safe and allocation-light (no shared formatter).
public enum RFC3339 {
    public static func string(_ date: Date) -> String {
        string(epoch: Int(date.timeIntervalSince1970.rounded(.down)))
    }

    /// Unix seconds as RFC 3339; the number itself when the platform cannot break it down.
    public static func string(epoch: Int) -> String {
        var seconds = time_t(epoch)
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return String(epoch) }
        let year = Int(parts.tm_year) + 1900
        guard year >= 0 && year < 10_000 else {
            func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
            return "\(year)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
        }
        // Twenty ASCII digits and separators written in place (every check verdict has two or more).
        return String(unsafeUninitializedCapacity: 20) { out in
            func put(_ value: Int, _ digits: Int, at offset: Int) {
                var v = value
                for k in stride(from: offset + digits - 1, through: offset, by: -1) {
                    out[k] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
            }
            put(year, 4, at: 0); out[4] = UInt8(ascii: "-")
            put(Int(parts.tm_mon) + 1, 2, at: 5); out[7] = UInt8(ascii: "-")
            put(Int(parts.tm_mday), 2, at: 8); out[10] = UInt8(ascii: "T")
            put(Int(parts.tm_hour), 2, at: 11); out[13] = UInt8(ascii: ":")
            put(Int(parts.tm_min), 2, at: 14); out[16] = UInt8(ascii: ":")
            put(Int(parts.tm_sec), 2, at: 17); out[19] = UInt8(ascii: "Z")
            return 20
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`; nil for anything else.
    public static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let d = formatter.date(from: text) { return d }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
