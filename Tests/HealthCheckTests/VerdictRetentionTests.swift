import Foundation
@testable import HealthCheck
import XCTest

/// Issue 18: a run keeps only what its output still needs once the writers have had each verdict
/// (memory of `check` over many connections). No network: every entry is a bad entry (UNKNOWN) or
/// names a credential variable that is not set (CRITICAL, with a full report).
final class VerdictRetentionTests: XCTestCase {
    /// `n` connections: every third an unknown provider (UNKNOWN), the others a missing token (CRITICAL).
    func connections(_ n: Int) -> String {
        var yaml = "connections:\n"
        for i in 0..<n {
            yaml += "  - name: conn-\(i)\n    provider: \(i % 3 == 0 ? "nosuch" : "facebook")\n    token-env: UNSET_TOKEN_\(i)\n"
        }
        return yaml
    }

    /// Counts, at each verdict, the lines the writer had already emitted.
    final class LineWatcher: CheckSink, @unchecked Sendable {
        let collector: TextCollector
        private(set) var linesSeen: [Int] = []
        private(set) var reportsSeen = 0
        init(_ collector: TextCollector) { self.collector = collector }
        func begin(total: Int) {}
        func receive(_ verdict: ConnectionVerdict) {
            linesSeen.append(collector.text.split(separator: "\n").count)
            if verdict.report != nil { reportsSeen += 1 }
        }
        func finish(_ run: CheckRun) {}
    }

    func testJSONLinesAreWrittenPerVerdictAndTheRunKeepsNone() async throws {
        var harness = CheckHarness()
        harness.options.retention = .none
        let collector = TextCollector()
        let writer = CheckWriter(format: .jsonl, emit: collector.append)
        let watcher = LineWatcher(collector)
        let run = try await harness.run(connections(30), sinks: [writer, watcher])

        XCTAssertEqual(Array(watcher.linesSeen), Array(1...30), "each report is written as its verdict comes, not at the end")
        XCTAssertEqual(watcher.reportsSeen, 20, "the writer had the full report of every diagnosed connection")
        XCTAssertEqual(run.verdicts.count, 0, "nothing kept once written")
        XCTAssertEqual(run.total, 30)
        XCTAssertEqual(run.count(.critical), 20)
        XCTAssertEqual(run.count(.unknown), 10)
        XCTAssertEqual(run.exitStatus, 2)
        XCTAssertEqual(collector.text.split(separator: "\n").count, 30)
    }

    func testEveryVerdictKeptHasDroppedItsReport() async throws {
        let harness = CheckHarness()  // retention .all, keepReports true
        let sink = RecordingSink()
        let run = try await harness.run(connections(9), sinks: [sink])
        XCTAssertEqual(sink.arrivals.filter { $0.verdict.report != nil }.count, 6, "the sinks got the reports")
        XCTAssertEqual(run.verdicts.map(\.connection), (0..<9).map { "conn-\($0)" }, "every verdict, in file order")
        XCTAssertEqual(run.verdicts.filter { $0.report != nil }.count, 0, "no full report retained")
    }

    func testNagiosKeepsOnlyTheWorstThatFitAndPrintsTheSame() async throws {
        var all = CheckHarness()
        all.options.concurrency = 4
        var worst = all
        for budget in [300, 1000, 0] {
            worst.options.retention = NagiosOutput.retention(maxBytes: budget)
            let full = try await all.run(connections(60))
            let kept = try await worst.run(connections(60))
            XCTAssertEqual(full.verdicts.count, 60)
            if budget > 0 {
                XCTAssertLessThanOrEqual(kept.verdicts.count, budget / NagiosOutput.shortestLine + 1, "budget \(budget)")
            } else {
                XCTAssertEqual(kept.verdicts.count, 60, "no budget: every verdict not OK")
            }
            if budget == 300 { XCTAssertTrue(kept.verdicts.allSatisfy { $0.status == .critical }, "CRITICAL before UNKNOWN") }
            XCTAssertEqual(kept.counts, full.counts)
            // Everything but the status line's duration is the same as with every verdict kept.
            func body(_ text: String) -> [Substring] { Array(text.split(separator: "\n").dropFirst()) }
            func head(_ text: String) -> Substring { text.split(separator: "|").first ?? "" }
            let expected = NagiosOutput.render(full, maxBytes: budget)
            let got = NagiosOutput.render(kept, maxBytes: budget)
            XCTAssertEqual(body(got), body(expected), "budget \(budget)")
            XCTAssertEqual(head(got), head(expected))
            if budget > 0 {
                XCTAssertLessThanOrEqual(got.utf8.count, budget)
                XCTAssertTrue(got.hasSuffix(" more\n"), got)
            }
        }
    }

    /// The same 24 connections checked twice: every verdict kept, then only what `retention` keeps.
    func runKeepingAllAnd(_ retention: VerdictRetention) async throws -> (full: CheckRun, kept: CheckRun) {
        var all = CheckHarness()
        all.options.concurrency = 4
        var some = all
        some.options.retention = retention
        return (try await all.run(connections(24)), try await some.run(connections(24)))
    }

    func testTheTextTableKeepsRowsOnlyAndPrintsTheSameTable() async throws {
        let (full, kept) = try await runKeepingAllAnd(.rows)
        XCTAssertEqual(kept.verdicts.count, 0, "no verdict kept, only what the table prints")
        XCTAssertEqual(kept.tableRows?.count, 24)
        XCTAssertNil(full.tableRows)
        // The same table but for the run's duration in the counts line.
        func withoutDuration(_ text: String) -> String {
            text.replacingOccurrences(of: #"checked in [0-9.]+ s"#, with: "checked in - s", options: .regularExpression)
        }
        func written(_ run: CheckRun) -> [String] {
            let collector = TextCollector()
            CheckWriter(format: .text, emit: collector.append).finish(run)
            return collector.pieces
        }
        let expected = CheckText.table(full.verdicts, run: full, color: false)
        XCTAssertTrue(expected.contains("CRITICAL") && expected.contains("conn-23"), expected)
        XCTAssertEqual(withoutDuration(written(full).joined()), withoutDuration(expected))
        // Written a row at a time (header, 24 rows, the counts), never as one string.
        let pieces = written(kept)
        XCTAssertEqual(pieces.count, 26)
        XCTAssertEqual(withoutDuration(pieces.joined()), withoutDuration(expected))
        XCTAssertTrue(pieces[1].hasPrefix("conn-1 ") && pieces[1].contains("CRITICAL"), "worst first, then file order: \(pieces[1])")
    }

    func testPrometheusIsWrittenALineAtATimeAsItWouldBeRendered() async throws {
        let run = try await CheckHarness().run(connections(12))
        let collector = TextCollector()
        CheckWriter(format: .prometheus, emit: collector.append).finish(run)
        XCTAssertEqual(collector.text, PrometheusExposition.render(run))
        XCTAssertTrue(collector.text.contains("authdoctor_up{connection=\"conn-11\""), collector.text)
        XCTAssertGreaterThan(collector.pieces.count, 12 * 3, "one piece a sample, never the whole exposition")
        XCTAssertTrue(collector.pieces.allSatisfy { $0.hasSuffix("\n") && $0.dropLast().split(separator: "\n").count <= 2 })
    }

    func testPrometheusKeepsMetricRowsOnlyAndWritesTheSameExposition() async throws {
        let (full, kept) = try await runKeepingAllAnd(.metrics)
        XCTAssertEqual(kept.verdicts.count, 0, "no verdict kept, only what the exposition prints")
        XCTAssertEqual(kept.metricRows?.map(\.connection), (0..<24).map { "conn-\($0)" }, "in source order, whatever the completion order")
        XCTAssertNil(full.metricRows)
        // The same exposition but for the times, which differ between two runs.
        func withoutTimes(_ text: String) -> String {
            text.split(separator: "\n").filter { !$0.contains("seconds") }.joined(separator: "\n")
        }
        let expected = PrometheusExposition.render(full)
        XCTAssertTrue(expected.contains("authdoctor_check_status{connection=\"conn-23\",provider=\"facebook\"} 2"), expected)
        XCTAssertEqual(withoutTimes(PrometheusExposition.render(kept)), withoutTimes(expected))
    }

    /// Rows come in completion order, with gaps where a deadline cut connections short; they are
    /// put in source order in place.
    func testMetricRowsArePutInSourceOrderInPlace() {
        var generator = SystemRandomNumberGenerator()
        for n in [0, 1, 2, 7, 100, 1000] {
            let positions = (0..<n).map { $0 * 3 + ($0 % 2) }.shuffled(using: &generator)
            var kept = RetainedVerdicts()
            for p in positions {
                kept.metricRows.append(MetricRow(connection: "conn-\(p)", provider: nil, status: .ok, failure: "none", checkedAt: Date()))
                kept.metricPositions.append(p)
            }
            kept.putMetricRowsInSourceOrder()
            XCTAssertEqual(kept.metricRows.map(\.connection), positions.sorted().map { "conn-\($0)" }, "n = \(n)")
        }
    }
}
