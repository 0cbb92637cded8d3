import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import HealthCheck
import XCTest

/// `authdoctor check` as scripts and monitoring run it: the built binary, the in-process Sandbox.
final class CheckCommandTests: XCTestCase {
    static let environment: [String: String?] = [
        "T_OK": "sbx-fb-healthy", "T_EXPIRED": "sbx-fb-expired", "T_SOON": "sbx-fb-expiring-soon", "FB_SECRET": "sbx-fb-app-secret",
    ]
    static let secrets = ["sbx-fb-healthy", "sbx-fb-expired", "sbx-fb-expiring-soon", "sbx-fb-app-secret"]

    func connections(_ entries: [(name: String, token: String)], extra: String = "") throws -> String {
        var yaml = "connections:\n"
        for (name, token) in entries {
            yaml += "  - name: \(name)\n    provider: facebook\n    token-env: \(token)\n    client-id: \"5550001112223\"\n    client-secret-env: FB_SECRET\n"
        }
        yaml += extra
        return try write(yaml, to: makeTemporaryDirectory(self), "conns.yaml").path
    }

    func check(_ arguments: [String]) throws -> ProcessResult {
        try CLI.run(["check", "--sandbox"] + arguments + CLI.repoRules, environment: Self.environment)
    }

    func testExitStatusFollowsTheWorstConnection() throws {
        let healthy = try connections([("a", "T_OK"), ("b", "T_OK")])
        XCTAssertEqual(try check(["--connections", healthy, "--format", "nagios"]).status, 0)

        let warning = try connections([("a", "T_OK")], extra: "  - name: soon\n    provider: facebook\n    token-env: T_SOON\n    client-id: \"5550001112223\"\n    client-secret-env: FB_SECRET\n    warn-expiry: 3650d\n")
        let warned = try check(["--connections", warning, "--format", "nagios"])
        XCTAssertEqual(warned.status, 1, warned.summary)
        XCTAssertTrue(warned.stdoutText.hasPrefix("AUTHDOCTOR WARNING - 0 critical, 1 warning, 1 ok |"), warned.stdoutText)

        let critical = try connections([("a", "T_OK"), ("gone", "T_EXPIRED")])
        let failed = try check(["--connections", critical, "--format", "nagios"])
        XCTAssertEqual(failed.status, 2, failed.summary)
        XCTAssertTrue(failed.stdoutLines.contains { $0.hasPrefix("CRITICAL: gone (facebook): expiry - ") }, failed.stdoutText)

        let unknown = try connections([("a", "T_OK")], extra: "  - name: typo\n    provider: facebook\n    tokn-env: T_OK\n")
        let bad = try check(["--connections", unknown, "--format", "nagios"])
        XCTAssertEqual(bad.status, 3, bad.summary)
        XCTAssertTrue(bad.stdoutText.contains("UNKNOWN: typo (facebook): bad-entry - entry 'typo' (line 7): field 'tokn-env' (line 9): unknown field"),
                      bad.stdoutText)
    }

    /// To a pipe, jsonl is written in blocks: more than one block's worth of lines must all arrive,
    /// whole and in order of completion, each line one report.
    func testJSONLinesToAPipeArriveWholeBeyondOneBlock() throws {
        let names = (1...120).map { "c\($0)" }
        let file = try connections(names.map { ($0, "T_OK") })
        let result = try check(["--connections", file, "--format", "jsonl"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertGreaterThan(result.stdoutText.utf8.count, 64 * 1024, "the run must fill more than one block")
        XCTAssertEqual(result.stdoutLines.count, names.count)
        var seen: [String] = []
        for line in result.stdoutLines {
            let report = try JSON.parse(String(line))
            seen.append(try XCTUnwrap(report["id"]?.stringValue))
        }
        XCTAssertEqual(Set(seen), Set(names))
    }

    func testEveryFormatRunsAndShowsNoSecret() throws {
        let file = try connections([("a", "T_OK"), ("gone", "T_EXPIRED")],
                                   extra: "  - name: unset\n    provider: facebook\n    token-env: T_NOT_SET\n")
        for format in CheckFormat.allCases {
            let result = try check(["--connections", file, "--format", format.rawValue])
            XCTAssertEqual(result.status, 2, "\(format): \(result.summary)")
            XCTAssertFalse(result.stdoutText.isEmpty, "\(format)")
            for secret in Self.secrets {
                XCTAssertFalse(result.stdoutText.contains(secret) || result.stderrText.contains(secret), "\(format) shows \(secret)")
            }
            switch format {
            case .jsonl:
                XCTAssertEqual(result.stdoutLines.count, 3)
                for line in result.stdoutLines { try assertReportJSON(line, "jsonl line") }
            case .json:
                let doc = try JSON.parse(result.stdoutText)
                XCTAssertEqual(doc["schema"]?.stringValue, "authdoctor.check/v1")
                XCTAssertEqual(doc["connections"]?.arrayValue?.count, 3)
                let unset = doc["connections"]?.arrayValue?.first { $0["name"]?.stringValue == "unset" }
                XCTAssertEqual(unset?["failure"]?.stringValue, "token-missing")
            case .text:
                XCTAssertTrue(result.stdoutText.contains("3 connections checked"), result.stdoutText)
                XCTAssertTrue(result.stdoutLines.contains { $0.hasPrefix("unset") && $0.contains("token-missing") }, result.stdoutText)
            case .nagios:
                XCTAssertTrue(result.stdoutLines.first?.hasPrefix("AUTHDOCTOR CRITICAL - 2 critical, 0 warning, 1 ok |") == true, result.stdoutText)
            case .prometheus:
                XCTAssertTrue(result.stdoutText.contains("# TYPE authdoctor_up gauge"))
                XCTAssertTrue(result.stdoutText.contains(#"authdoctor_up{connection="unset",provider="facebook"} 0"#))
                XCTAssertTrue(result.stdoutText.contains(#"authdoctor_failure_info{connection="unset",provider="facebook",failure="token-missing"} 1"#))
            }
            XCTAssertEqual(result.stderrText, "", "\(format): nothing on stderr (not a terminal)")
        }
    }

    func testMetricsFileIsWrittenBesideTheOutput() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = try connections([("a", "T_OK")])
        let metrics = directory.appendingPathComponent("authdoctor.prom").path
        let result = try check(["--connections", file, "--format", "nagios", "--metrics-file", metrics])
        XCTAssertEqual(result.status, 0, result.summary)
        let text = try String(contentsOfFile: metrics, encoding: .utf8)
        XCTAssertTrue(text.contains(#"authdoctor_up{connection="a",provider="facebook"} 1"#), text)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["authdoctor.prom"], "no temporary file left")
    }

    func testNagiosUsageErrorsAreUnknown() throws {
        let directory = try makeTemporaryDirectory(self)
        let notYAML = try write("connections: [\n  - name: x\n", to: directory, "broken.yaml").path
        for arguments in [["check", "--format", "nagios", "--concurrency", "0"],
                          ["check", "--format", "nagios", "--connections", directory.appendingPathComponent("missing.yaml").path],
                          ["check", "--format", "nagios", "--connections", notYAML],
                          ["check", "--format", "nagios", "--no-such-flag"],
                          ["check", "--format=nagios"]] {
            let result = try CLI.run(arguments)
            XCTAssertEqual(result.status, 3, "\(arguments): \(result.summary)")
            XCTAssertEqual(result.stdoutLines.count, 1, result.summary)
            XCTAssertTrue(result.stdoutText.hasPrefix("AUTHDOCTOR UNKNOWN - "), result.summary)
            XCTAssertEqual(result.stderrLines.count, 1, result.summary)
            XCTAssertFalse(result.stderrText.contains("Fatal error"))
        }
    }

    func testInputErrorsUseSysexitsWithoutNagios() throws {
        let directory = try makeTemporaryDirectory(self)
        let notYAML = try write("connections: [\n  - name: x\n", to: directory, "broken.yaml").path
        let noList = try write("hosts: []\n", to: directory, "hosts.yaml").path
        assertOneLineError(try CLI.run(["check", "--connections", directory.appendingPathComponent("nope.yaml").path]),
                           status: 66, mentions: ["nope.yaml", "no such connections file"])
        assertOneLineError(try CLI.run(["check", "--connections", notYAML]), status: 65, mentions: ["broken.yaml", "not YAML"])
        assertOneLineError(try CLI.run(["check", "--connections", noList]), status: 65, mentions: ["hosts.yaml", "'hosts'"])
        assertOneLineError(try CLI.run(["check"]), status: 64, mentions: ["--connections"])
        assertOneLineError(try CLI.run(["check", "--sandbox", "--format", "markdown"]), status: 64, mentions: ["--format"])
    }

    /// One vocabulary: every connections-file key is a diagnose flag, and every diagnose flag that
    /// describes the connection is a key.
    func testConnectionKeysAreDiagnoseFlags() throws {
        let help = try CLI.run(["diagnose", "--help"])
        XCTAssertEqual(help.status, 0)
        let regex = try NSRegularExpression(pattern: #"(?m)^\s+--([a-z][a-z-]*)"#)
        let text = help.stdoutText
        var flags = Set(regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
            String(text[Range($0.range(at: 1), in: text)!])
        })
        let commandOnly: Set<String> = ["sandbox", "providers", "format", "show-facts", "rules", "no-builtin-rules", "help", "version",
                                        "link", "issue-link", "client", "link-ttl", "public-url", "db", "color"]  // links: about the report, not the connection
        flags.subtract(commandOnly)
        XCTAssertEqual(flags, Set(ConnectionSettings.keys.map(\.key)), "diagnose's flags and the connection keys drifted apart")
    }

    func testSandboxDemoConnectionsRun() throws {
        let result = try CLI.run(["check", "--sandbox", "--retries", "0", "--format", "json"] + CLI.repoRules)
        XCTAssertEqual(result.status, 2, result.summary)
        let doc = try JSON.parse(result.stdoutText)
        let connections = try XCTUnwrap(doc["connections"]?.arrayValue)
        XCTAssertGreaterThan(connections.count, 40)
        let healthy = connections.first { $0["name"]?.stringValue == "facebook-healthy" }
        XCTAssertEqual(healthy?["status"]?.stringValue, "ok")
        let expired = connections.first { $0["name"]?.stringValue == "facebook-expired" }
        XCTAssertEqual(expired?["status"]?.stringValue, "critical")
        XCTAssertEqual(expired?["failure"]?.stringValue, "expiry")
    }
}
