import Foundation
import HealthCheck
import Links
import XCTest

/// Issue 15: the Nagios output budget, nothing checked is UNKNOWN, one Prometheus metric set.
final class MonitoringOutputTests: XCTestCase {
    func run(_ statuses: [CheckStatus], summary: String = String(repeating: "s", count: 80)) -> CheckRun {
        var run = CheckRun(startedAt: Date(timeIntervalSince1970: 1_900_000_000), seconds: 1.5)
        for (i, status) in statuses.enumerated() {
            run.counts[status, default: 0] += 1
            run.verdicts.append(ConnectionVerdict(index: i, connection: "conn-\(i)", provider: "facebook", status: status,
                                                  failure: status == .ok ? "none" : "expiry", summary: summary, seconds: 0.25))
        }
        return run
    }

    func testEmptyRunIsUnknown() {
        let empty = CheckRun(startedAt: Date())
        XCTAssertEqual(empty.worst, .unknown)
        XCTAssertEqual(empty.exitStatus, 3)
        XCTAssertTrue(NagiosOutput.render(empty).hasPrefix("AUTHDOCTOR UNKNOWN - no connection checked |"))
    }

    func testBudgetKeepsStatusLineAndWorstEntries() {
        let statuses: [CheckStatus] = Array(repeating: .warning, count: 60) + Array(repeating: .critical, count: 60) + [.ok, .unknown]
        let run = run(statuses)
        let full = NagiosOutput.render(run)
        XCTAssertGreaterThan(full.utf8.count, 8192)
        for budget in [8192, 2000, 300] {
            let text = NagiosOutput.render(run, maxBytes: budget)
            XCTAssertLessThanOrEqual(text.utf8.count, budget, "budget \(budget)")
            let lines = text.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.first, full.split(separator: "\n").first.map(String.init), "the status line stays whole")
            let last = lines.last ?? ""
            XCTAssertTrue(last.hasPrefix("... and ") && last.hasSuffix(" more"), last)
            let shown = lines.dropFirst().dropLast()
            XCTAssertEqual(shown.count + (Int(last.split(separator: " ")[2]) ?? -1), 121, "every entry not OK is shown or counted")
            XCTAssertTrue(shown.allSatisfy { $0.hasPrefix("CRITICAL:") } || shown.count > 60, "the worst come first")
        }
        XCTAssertEqual(NagiosOutput.render(run, maxBytes: 0), full, "0: no limit")
        XCTAssertEqual(NagiosOutput.render(self.run([.critical]), maxBytes: 8192), NagiosOutput.render(self.run([.critical])), "within budget: unchanged")
    }

    /// `check` and `serve` write the same families with the same labels; failure moves to an info metric.
    func testOneMetricSetForCheckAndServe() throws {
        let checked = run([.ok, .critical])
        let fromCheck = PrometheusExposition.render(checked)
        let stored = Dictionary(grouping: checked.verdicts.map(CheckHistory.record), by: \.connection)
        let fromServe = StoredMetrics.exposition(stored)
        func families(_ text: String) -> [String] {
            text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) }
        }
        XCTAssertEqual(families(fromCheck), PrometheusExposition.families)
        XCTAssertEqual(families(fromServe), PrometheusExposition.families)
        for line in ["authdoctor_up{connection=\"conn-1\",provider=\"facebook\"} 0",
                     "authdoctor_failure_info{connection=\"conn-1\",provider=\"facebook\",failure=\"expiry\"} 1",
                     "authdoctor_check_status{connection=\"conn-1\",provider=\"facebook\"} 2",
                     "authdoctor_check_duration_seconds{connection=\"conn-1\",provider=\"facebook\"} 0.250000"] {
            XCTAssertTrue(fromCheck.contains(line + "\n"), "check: \(line)\n\(fromCheck)")
            XCTAssertTrue(fromServe.contains(line + "\n"), "serve: \(line)\n\(fromServe)")
        }
        XCTAssertFalse(fromCheck.contains("authdoctor_up{connection=\"conn-1\",provider=\"facebook\",failure"))
    }
}
