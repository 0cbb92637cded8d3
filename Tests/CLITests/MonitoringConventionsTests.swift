import AuthDoctorTestSupport
@testable import AuthDoctorCLI
import EvidenceModel
import Foundation
import HealthCheck
import Links
import XCTest

/// Issue 15, item 1: `check --format nagios` as Nagios plugins behave.
final class NagiosConventionTests: XCTestCase {
    let environment = CheckCommandTests.environment

    func connections(_ entries: [(name: String, token: String)]) throws -> String {
        var yaml = "connections:\n"
        for (name, token) in entries {
            yaml += "  - name: \(name)\n    provider: facebook\n    token-env: \(token)\n    client-id: \"5550001112223\"\n    client-secret-env: FB_SECRET\n"
        }
        return try write(yaml, to: makeTemporaryDirectory(self), "conns.yaml").path
    }

    func check(_ arguments: [String]) throws -> ProcessResult {
        try CLI.run(["check"] + arguments + CLI.repoRules, environment: environment)
    }

    /// Nothing checked is UNKNOWN (3), never "OK - 0 critical": an empty file, an empty store, a mistyped --db.
    func testNothingCheckedIsUnknown() throws {
        let directory = try makeTemporaryDirectory(self)
        for body in ["connections: []\n", "connections:\n"] {
            let empty = try write(body, to: directory, "empty.yaml").path
            let nagios = try check(["--connections", empty, "--format", "nagios"])
            XCTAssertEqual(nagios.status, 3, nagios.summary)
            XCTAssertEqual(nagios.stdoutLines, ["AUTHDOCTOR UNKNOWN - nothing to check: the connections file lists none"], nagios.summary)
            let text = try check(["--connections", empty])
            XCTAssertEqual(text.status, 3, "every format: nothing checked exits 3: \(text.summary)")
            XCTAssertTrue(text.stdoutText.contains("0 connections checked"), text.stdoutText)
        }
        // A --db path that names no store: UNKNOWN, and no store (or key file) made at the typo.
        let typo = directory.appendingPathComponent("authdoctr.sqlite").path
        let mistyped = try check(["--db", typo, "--format", "nagios"])
        XCTAssertEqual(mistyped.status, 3, mistyped.summary)
        XCTAssertTrue(mistyped.stdoutText.hasPrefix("AUTHDOCTOR UNKNOWN - ") && mistyped.stdoutText.contains("mistyped --db"), mistyped.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: typo), "no store is made at a mistyped path")
        assertOneLineError(try check(["--db", typo]), status: 66, mentions: [typo, "no store"])
        // An existing store with no active connection.
        let database = directory.appendingPathComponent("authdoctor.sqlite").path
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        _ = try StoreLocation.open(path: database, environment: ["AUTHDOCTOR_KEY": key])
        let emptyStore = try CLI.run(["check", "--db", database, "--format", "nagios"], environment: ["AUTHDOCTOR_KEY": key])
        XCTAssertEqual(emptyStore.status, 3, emptyStore.summary)
        XCTAssertTrue(emptyStore.stdoutText.hasPrefix("AUTHDOCTOR UNKNOWN - nothing to check: the store has no active connection"), emptyStore.summary)
    }

    /// A metrics file that cannot be written is found before probing: the status line is that
    /// error (UNKNOWN), not a CRITICAL line followed by exit 3.
    func testMetricsFileIsCheckedBeforeProbing() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = try connections([("gone", "T_EXPIRED")])
        for target in [directory.appendingPathComponent("no-such-dir/authdoctor.prom").path, directory.path] {
            let result = try check(["--sandbox", "--connections", file, "--format", "nagios", "--metrics-file", target])
            XCTAssertEqual(result.status, 3, result.summary)
            XCTAssertEqual(result.stdoutLines.count, 1, "only the UNKNOWN line, no verdicts: \(result.summary)")
            XCTAssertTrue(result.stdoutText.hasPrefix("AUTHDOCTOR UNKNOWN - ") && result.stdoutText.contains("metrics file"), result.summary)
        }
        let plain = try check(["--sandbox", "--connections", file, "--metrics-file", directory.appendingPathComponent("x/y.prom").path])
        assertOneLineError(plain, status: 74, mentions: ["metrics file"])
    }

    /// The Sandbox set is past Nagios Core's 8 KB: the default budget keeps the status line and the
    /// worst entries, and says how many were left out.
    func testOutputStaysWithinTheBudget() throws {
        let unlimited = try check(["--sandbox", "--format", "nagios", "--retries", "0", "--max-output", "0"])
        XCTAssertEqual(unlimited.status, 2, unlimited.summary)
        let all = unlimited.stdoutLines.dropFirst()
        XCTAssertGreaterThan(unlimited.stdout.count, 8192, "the Sandbox set needs a budget: \(unlimited.stdout.count) bytes")
        XCTAssertFalse(unlimited.stdoutText.contains("... and "), "no limit: every entry")

        for (arguments, budget) in [([String](), 8192), (["--max-output", "1000"], 1000)] {
            let result = try check(["--sandbox", "--format", "nagios", "--retries", "0"] + arguments)
            XCTAssertEqual(result.status, 2, result.summary)
            XCTAssertLessThanOrEqual(result.stdout.count, budget, "\(arguments): \(result.stdout.count) bytes")
            let lines = result.stdoutLines
            XCTAssertTrue(lines.first?.hasPrefix("AUTHDOCTOR CRITICAL - ") == true, result.stdoutText)
            let last = try XCTUnwrap(lines.last)
            XCTAssertTrue(last.hasPrefix("... and ") && last.hasSuffix(" more"), last)
            let left = Int(last.dropFirst("... and ".count).dropLast(" more".count)) ?? -1
            let shown = lines.dropFirst().dropLast()
            XCTAssertEqual(shown.count + left, all.count, "shown + left out = every entry that is not OK")
            // Worst first: the entries shown are the first ones of the full list, in order.
            XCTAssertEqual(Array(shown), Array(all.prefix(shown.count)))
        }
        assertOneLineError(try CLI.run(["check", "--sandbox", "--max-output", "100"]), status: 64, mentions: ["--max-output"])
    }

    /// One Nagios service per connection: `--connection NAME`, repeatable; a name that matches none is UNKNOWN with the nearest name.
    func testConnectionSelectsEntries() throws {
        let file = try connections([("shop-ads", "T_OK"), ("gone", "T_EXPIRED"), ("other", "T_OK")])
        let one = try check(["--sandbox", "--connections", file, "--connection", "shop-ads", "--format", "nagios"])
        XCTAssertEqual(one.status, 0, one.summary)
        XCTAssertTrue(one.stdoutText.hasPrefix("AUTHDOCTOR OK - 0 critical, 0 warning, 1 ok |"), one.stdoutText)
        let two = try check(["--sandbox", "--connections", file, "--connection", "shop-ads", "--connection", "gone", "--format", "json"])
        XCTAssertEqual(two.status, 2, two.summary)
        let names = try JSON.parse(two.stdoutText)["connections"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        XCTAssertEqual(names.map(Set.init), ["shop-ads", "gone"])
        let typo = try check(["--sandbox", "--connections", file, "--connection", "shop-ad", "--format", "nagios"])
        XCTAssertEqual(typo.status, 3, typo.summary)
        XCTAssertEqual(typo.stdoutLines.count, 1, typo.summary)
        XCTAssertTrue(typo.stdoutText.contains("no connection named 'shop-ad' (did you mean 'shop-ads'?)"), typo.stdoutText)
    }

    func testVersionFlags() throws {
        for arguments in [["-V"], ["--version"], ["check", "-V"], ["check", "--sandbox", "--format", "nagios", "-V"], ["diagnose", "--version"]] {
            let result = try CLI.run(arguments)
            assertSuccess(result)
            XCTAssertEqual(result.stdoutText, "0.1.0" + "\n", "\(arguments)")
        }
        // A -V that is an option's value stays that value.
        let text = try CLI.run(["classify", "--text", "-V", "--format", "brief"])
        XCTAssertNotEqual(text.stdoutText, "0.1.0" + "\n", text.summary)
    }

    /// Plugins must answer before Nagios's own 60 s timeout: --format nagios has a 50 s deadline unless told.
    func testNagiosHasADefaultDeadline() throws {
        XCTAssertEqual(try CheckCommand.parse(["--sandbox", "--format", "nagios"]).effectiveDeadline, 50)
        XCTAssertEqual(try CheckCommand.parse(["--sandbox", "--format", "nagios", "--deadline", "20"]).effectiveDeadline, 20)
        XCTAssertNil(try CheckCommand.parse(["--sandbox"]).effectiveDeadline)
        let help = try CLI.run(["check", "--help"], environment: ["COLUMNS": "300"])
        XCTAssertTrue(help.stdoutText.contains("50 with --format nagios"), help.stdoutText)
    }

    /// Each format keeps only what it prints (issue 18): rows for the table, nothing for the
    /// streams, the worst for Nagios, metric rows for Prometheus.
    func testEachFormatKeepsWhatItPrints() {
        XCTAssertEqual(CheckCommand.retention(format: .text, maxOutput: 0, metricsFile: false), .rows)
        XCTAssertEqual(CheckCommand.retention(format: .jsonl, maxOutput: 0, metricsFile: false), VerdictRetention.none)
        XCTAssertEqual(CheckCommand.retention(format: .json, maxOutput: 0, metricsFile: false), VerdictRetention.none)
        XCTAssertEqual(CheckCommand.retention(format: .nagios, maxOutput: 8000, metricsFile: false), NagiosOutput.retention(maxBytes: 8000))
        XCTAssertEqual(CheckCommand.retention(format: .prometheus, maxOutput: 0, metricsFile: false), .metrics)
        XCTAssertEqual(CheckCommand.retention(format: .prometheus, maxOutput: 0, metricsFile: true), .metrics, "one metric set for both")
        XCTAssertEqual(CheckCommand.retention(format: .text, maxOutput: 0, metricsFile: true), .all, "--metrics-file beside the table needs every verdict")
    }
}
