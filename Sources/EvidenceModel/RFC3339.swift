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
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let year = Int(parts.tm_year) + 1900
        let yearText = year >= 0 && year < 10_000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        return "\(yearText)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`; nil for anything else.
    public static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let d = formatter.date(from: text) { return d }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
