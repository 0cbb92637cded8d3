import Diagnose
import EvidenceModel
import Foundation
import HealthCheck
import Links
import Probe
import RuleEngine

/// `serve`'s `GET /probe?connection=NAME` (blackbox_exporter's shape): one stored connection checked
/// now, answered in the metric set of `check --format prometheus`, plus `probe_success` and
/// `probe_duration_seconds` as blackbox_exporter names them. A probe never exchanges a refresh
/// token (a rotated token would be lost: `--dry-run`'s behaviour) and records nothing in the history.
struct ServeProbe: Sendable {
    let store: any AuthDoctorStore
    let definitions: [String: ProviderDefinition]
    let engine: ClassifyEngine
    let oauthClients: [String: StoredConnections.OAuthClient]
    let sandboxURL: (@Sendable (String) -> String)?

    func run(_ name: String, scrapeTimeout: Double?) async -> (status: Int, body: String) {
        let entries: [ConnectionEntry]
        do {
            entries = try StoredConnections(store: store, definitions: definitions, engine: engine, oauthClients: oauthClients,
                                            sandboxURL: sandboxURL).connections()
        } catch {
            return (500, "cannot read the store's connections\n")
        }
        guard let entry = entries.first(where: { $0.name == name }) else {
            let hint = Suggestion.hint(name, among: entries.map(\.name))
            return (404, "no active connection named '\(Redactor.redact(name))'\(hint)\n")
        }
        // Within Prometheus's scrape timeout (less half a second for the answer), at most 30 s.
        let deadline = min(30, max(1, (scrapeTimeout ?? 10) - 0.5))
        var options = CheckOptions(concurrency: 1, deadline: deadline, retries: 0, backoff: 0.5, retryAfterCap: 0, keepReports: false)
        options.renewal = .dryRun
        let runner = CheckRunner(engine: engine, definitions: definitions, options: options, transport: Prober(),
                                 sandboxURL: sandboxURL, store: nil)
        let run = await runner.run([entry], sinks: [])
        let ok = run.verdicts.first?.status == .ok
        var body = PrometheusExposition.render(run)
        body += "# HELP probe_success 1 when the probed connection's check is OK, else 0.\n# TYPE probe_success gauge\n"
        body += "probe_success \(ok ? 1 : 0)\n"
        body += "# HELP probe_duration_seconds Seconds the probe took.\n# TYPE probe_duration_seconds gauge\n"
        body += "probe_duration_seconds \(String(format: "%.6f", run.seconds))\n"
        return (200, body)
    }
}
