import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import HealthCheck
import Sandbox
import XCTest

final class CheckOutputTests: XCTestCase {
    /// The mixed run, written in one format.
    func output(_ format: CheckFormat) async throws -> (String, CheckRun) {
        let (text, _, run) = try await outputs(format)
        return (text, run)
    }

    /// The run written by a String writer and by a bytes writer (the one `check` uses for jsonl).
    func outputs(_ format: CheckFormat) async throws -> (String, String, CheckRun) {
        let server = try SharedSandbox.server.get()
        var harness = CheckHarness()
        harness.environment = sandboxEnvironment
        harness.options.retries = 0
        harness.options.keepReports = format.needsReports
        let collector = TextCollector()
        let writer = CheckWriter(format: format, emit: collector.append)
        let byteCollector = TextCollector()
        let byteWriter = CheckWriter(format: format, emit: byteCollector.append,
                                     emitBytes: { byteCollector.append(String(decoding: $0, as: UTF8.self)) })
        var yaml = mixedConnections(server)
        yaml += """

          - name: "bad \\"quoted\\" entry"
            provider: facebook
            token-env: FB_HEALTHY
            format: json
          - name: no-token
            provider: facebook
            token-env: FB_UNSET
        """
        let run = try await harness.run(yaml, sinks: [writer, byteWriter])
        return (collector.text, byteCollector.text, run)
    }

    static let secrets = ["sbx-fb-healthy", "sbx-fb-expired", "sbx-fb-declined", "sbx-fb-app-secret", "sbx-ga-outage", "sbx-li-blackhole"]

    func assertNoSecrets(_ text: String, _ format: CheckFormat, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(text.isEmpty, "\(format) wrote something", file: file, line: line)
        for secret in Self.secrets {
            XCTAssertFalse(text.contains(secret), "\(format) output shows the secret \(secret)", file: file, line: line)
        }
    }

    func testJSONLinesAreEachAValidReport() async throws {
        let (text, bytesText, run) = try await outputs(.jsonl)
        assertNoSecrets(text, .jsonl)
        XCTAssertEqual(bytesText, text, "the bytes writer wrote other lines than the String writer")
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, run.total, "one report per connection")
        let schema = try JSONSchemaValidator.reportSchema()
        var names: Set<String> = []
        for line in lines {
            let value = try JSON.parse(String(line))
            XCTAssertEqual(schema.validate(value), [], String(line.prefix(400)))
            XCTAssertEqual(value["schema"]?.stringValue, "authdoctor.report/v2")
            if let id = value["id"]?.stringValue { names.insert(id) }
        }
        XCTAssertTrue(names.contains("fb-expired") && names.contains("no-token"), "\(names)")
    }

    func testJSONIsOneDocumentWithReportsAndASummary() async throws {
        let (text, run) = try await output(.json)
        assertNoSecrets(text, .json)
        let doc = try JSON.parse(text)
        XCTAssertEqual(doc["schema"]?.stringValue, "authdoctor.check/v1")
        let connections = try XCTUnwrap(doc["connections"]?.arrayValue)
        XCTAssertEqual(connections.count, run.total)
        let schema = try JSONSchemaValidator.reportSchema()
        for connection in connections {
            XCTAssertNotNil(connection["status"]?.stringValue)
            let report = try XCTUnwrap(connection["report"])
            XCTAssertEqual(schema.validate(report), [])
        }
        XCTAssertEqual(doc["summary"]?["critical"]?.intValue, run.count(.critical))
        XCTAssertEqual(doc["summary"]?["exitStatus"]?.intValue, Int(run.exitStatus))
        let bad = connections.first { $0["name"]?.stringValue == "bad \"quoted\" entry" }
        XCTAssertEqual(bad?["status"]?.stringValue, "unknown")
        XCTAssertTrue(bad?["summary"]?.stringValue?.contains("field 'format'") == true, "\(String(describing: bad?["summary"]))")
    }

    func testNagiosIsOneStatusLineWithPerformanceData() async throws {
        let (text, run) = try await output(.nagios)
        assertNoSecrets(text, .nagios)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let first = String(lines.first ?? "")
        let pattern = #"^AUTHDOCTOR (OK|WARNING|CRITICAL|UNKNOWN) - [^|]+ \| ok=\d+;;; warning=\d+;;; critical=\d+;;; unknown=\d+;;; duration=[0-9.]+s;;;$"#
        XCTAssertNotNil(first.range(of: pattern, options: .regularExpression), first)
        XCTAssertTrue(first.hasPrefix("AUTHDOCTOR CRITICAL - 3 critical, 1 unknown, 3 warning, 1 ok"), first)
        XCTAssertTrue(first.contains("critical=\(run.count(.critical));;;"))
        // Long output: one line per connection that is not OK, no '|' in them.
        XCTAssertEqual(lines.count - 1, run.total - run.count(.ok))
        for line in lines.dropFirst() {
            XCTAssertFalse(line.contains("|"), String(line))
            XCTAssertNotNil(line.range(of: #"^(WARNING|CRITICAL|UNKNOWN): "#, options: .regularExpression), String(line))
        }
    }

    func testPrometheusExpositionIsWellFormed() async throws {
        let (text, run) = try await output(.prometheus)
        assertNoSecrets(text, .prometheus)
        XCTAssertTrue(text.hasSuffix("\n"))
        var families: [String: String] = [:]
        var samples: [String: [String]] = [:]
        let sample = try NSRegularExpression(pattern: #"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$"#)
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# HELP ") { continue }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                XCTAssertEqual(parts.count, 4, line)
                XCTAssertNil(families[String(parts[2])], "one TYPE per family: \(line)")
                families[String(parts[2])] = String(parts[3])
                continue
            }
            let match = sample.firstMatch(in: line, range: NSRange(line.startIndex..., in: line))
            XCTAssertNotNil(match, "not an exposition sample line: \(line)")
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            XCTAssertNotNil(families[name], "sample before its TYPE: \(line)")
            samples[name, default: []].append(line)
        }
        XCTAssertEqual(samples["authdoctor_up"]?.count, run.total)
        XCTAssertTrue(samples["authdoctor_up"]?.contains(#"authdoctor_up{connection="fb-healthy",provider="facebook"} 1"#) == true)
        XCTAssertTrue(samples["authdoctor_up"]?.contains(#"authdoctor_up{connection="fb-expired",provider="facebook"} 0"#) == true)
        // The failure class is an info metric, never a label of up (a new class starts no new up series).
        XCTAssertFalse(samples["authdoctor_up"]?.contains { $0.contains("failure=") } ?? true)
        XCTAssertEqual(samples["authdoctor_failure_info"]?.count, run.total)
        XCTAssertTrue(samples["authdoctor_failure_info"]?.contains(#"authdoctor_failure_info{connection="fb-expired",provider="facebook",failure="expiry"} 1"#) == true)
        XCTAssertEqual(Set(families.keys), Set(PrometheusExposition.families), "every family of the one metric set is declared")
        XCTAssertTrue(samples["authdoctor_up"]?.contains { $0.contains(#"connection="bad \"quoted\" entry""#) } == true, "label values are escaped")
        XCTAssertEqual(samples["authdoctor_check_duration_seconds"]?.count, run.total)
        XCTAssertTrue(samples["authdoctor_token_expiry_timestamp_seconds"]?.contains { $0.contains(#"connection="fb-healthy""#) } == true)
        XCTAssertTrue(samples["authdoctor_check_connections"]?.contains(#"authdoctor_check_connections{status="critical"} 3"#) == true)
        XCTAssertNotNil(samples["authdoctor_probe_duration_seconds"])
    }

    func testTextIsATableWorstFirstWithCounts() async throws {
        let (text, run) = try await output(.text)
        assertNoSecrets(text, .text)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("CONNECTION") && lines[0].contains("STATUS") && lines[0].contains("FAILURE"))
        XCTAssertTrue(lines[1].contains("CRITICAL"), "worst first: \(lines[1])")
        XCTAssertTrue(lines.contains { $0.hasPrefix("fb-healthy") && $0.contains("OK") })
        XCTAssertTrue(lines.last?.contains("\(run.total) connections checked") == true, lines.last ?? "")
        XCTAssertTrue(lines.last?.contains("1 ok, 3 warning, 3 critical, 1 unknown") == true, lines.last ?? "")
    }

    func testMetricsFileIsWrittenAtomically() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("authdoctor.prom").path
        try "old\n".write(toFile: path, atomically: false, encoding: .utf8)
        var run = CheckRun(startedAt: Date(), seconds: 1, counts: [.ok: 1])
        run.verdicts = [ConnectionVerdict(index: 0, connection: "a", provider: "facebook", status: .ok, failure: "none", summary: "fine")]
        try PrometheusExposition.writeAtomically(PrometheusExposition.render(run), to: path)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(written.contains(#"authdoctor_up{connection="a",provider="facebook"} 1"#))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["authdoctor.prom"], "no temporary file left")
        XCTAssertThrowsError(try PrometheusExposition.writeAtomically("x", to: "/nonexistent-dir-authdoctor/x.prom"))
    }

    func testLabelValuesAreEscaped() {
        XCTAssertEqual(PrometheusExposition.escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd")
    }
}
