import Foundation
import Links

/// `authdoctor serve`'s `/metrics`: the latest verdict of every connection `check --db` recorded,
/// as the metric set `check --format prometheus` writes (`PrometheusExposition.render`, one code
/// path), so a scraper sees the last run without running it. Probe step durations are not kept in
/// the history (their family is declared without samples); the run-level values are the newest
/// check's time, and no duration or deadline (the store has no record of whole runs).
public enum StoredMetrics {
    public static func exposition(_ recent: [String: [CheckVerdict]], now: Date = Date()) -> String {
        var rows: [MetricRow] = []
        for name in recent.keys.sorted() {
            guard let latest = recent[name]?.first else { continue }
            let status = CheckStatus.allCases.first { $0.name == latest.status } ?? .unknown
            let history = ConnectionHistory(connection: name, verdicts: recent[name] ?? [])
            rows.append(MetricRow(connection: name, provider: latest.provider, status: status, failure: latest.failure,
                                  checkedAt: latest.checkedAt, seconds: latest.seconds, tokenExpiresAt: latest.tokenExpiresAt,
                                  flapping: history.flapping))
        }
        let newest = rows.map(\.checkedAt).max()
        return PrometheusExposition.render(rows: rows, run: MetricRun(startedAt: newest, seconds: nil, deadlineReached: nil))
    }
}
