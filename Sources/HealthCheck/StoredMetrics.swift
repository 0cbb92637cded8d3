import Foundation
import Links

/// `authdoctor serve`'s `/metrics`: the latest verdict of every connection `check --db` recorded,
/// in the Prometheus text exposition (0.0.4), so a scraper sees the last run without running it.
/// The metric names and labels are those `check --format prometheus` writes, where the history
/// keeps the value (durations and token expiry are not stored; the textfile of `--metrics-file`
/// has them).
public enum StoredMetrics {
    public static func exposition(_ recent: [String: [CheckVerdict]], now: Date = Date()) -> String {
        let names = recent.keys.sorted()
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        let escape = PrometheusExposition.escape
        family("authdoctor_up", "gauge", "1 when the connection's last check was OK, else 0; the failure class found is a label.")
        for name in names {
            guard let latest = recent[name]?.first else { continue }
            out += "authdoctor_up{connection=\"\(escape(name))\",failure=\"\(escape(latest.failure))\"} \(latest.status == "ok" ? 1 : 0)\n"
        }
        family("authdoctor_check_status", "gauge", "The connection's monitoring state at its last check: 0 ok, 1 warning, 2 critical, 3 unknown.")
        for name in names {
            guard let latest = recent[name]?.first else { continue }
            let value = CheckStatus.allCases.first { $0.name == latest.status }?.rawValue ?? 3
            out += "authdoctor_check_status{connection=\"\(escape(name))\"} \(value)\n"
        }
        family("authdoctor_check_last_timestamp_seconds", "gauge", "When the connection was last checked (Unix time).")
        for name in names {
            guard let latest = recent[name]?.first else { continue }
            out += "authdoctor_check_last_timestamp_seconds{connection=\"\(escape(name))\"} \(Int(latest.checkedAt.timeIntervalSince1970))\n"
        }
        family("authdoctor_flapping", "gauge", "1 when the connection's state changed often in its recent checks (authdoctor history).")
        for name in names {
            let history = ConnectionHistory(connection: name, verdicts: recent[name] ?? [])
            out += "authdoctor_flapping{connection=\"\(escape(name))\"} \(history.flapping ? 1 : 0)\n"
        }
        family("authdoctor_check_connections", "gauge", "Connections by state at their last check.")
        for status in CheckStatus.allCases {
            let count = names.filter { recent[$0]?.first?.status == status.name }.count
            out += "authdoctor_check_connections{status=\"\(status.name)\"} \(count)\n"
        }
        return out
    }
}
