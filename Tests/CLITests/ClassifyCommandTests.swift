import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

final class ClassifyCommandTests: XCTestCase {
    let facebook = "facebook/190-463-session-expired.http"

    func testResponseFileText() throws {
        let path = CLI.fixture(facebook)
        let result = try CLI.run(["classify", "--response", path])
        assertSuccess(result)
        let lines = result.stdoutLines
        XCTAssertEqual(lines.first, "authdoctor · \(path) · facebook (recognised from the evidence) · HTTP 400", result.summary)
        XCTAssertTrue(lines.dropFirst().first?.hasPrefix("generated ") ?? false, result.summary)
        XCTAssertEqual(lines.dropFirst(2).first, "verdict: failure")
        let first = try XCTUnwrap(lines.first { $0.hasPrefix("✖ ") || $0.hasPrefix("! ") || $0.hasPrefix("i ") }, result.summary)
        XCTAssertTrue(first.hasPrefix("✖ expiry [api-token] The Facebook access token has expired"), first)
        XCTAssertTrue(lines.contains { $0.hasPrefix("   rule facebook.token.session-expired · confidence ") }, result.summary)
        XCTAssertTrue(lines.contains("   what to do:"))
        // Issue 14: the Facebook variant of `reauthorize` (rules/remediation-variants/social-and-crm.yaml).
        XCTAssertTrue(lines.contains { $0.hasPrefix("     1. Have the client log in to Facebook again through a new link (fix-authentication-errors 1.1)") }, result.summary)
        XCTAssertFalse(result.stdoutText.contains("\u{1B}"))
    }

    func testResponseJSONConformsToSchema() throws {
        let path = CLI.fixture(facebook)
        let result = try CLI.run(["classify", "--response", path, "--provider", "facebook", "--format", "json"])
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText, "classify --format json")
        XCTAssertEqual(doc.at("schema")?.stringValue, "authdoctor.report/v2")
        XCTAssertNotNil(doc.at("generatedAt")?.stringValue)
        XCTAssertEqual(doc.at("tool", "rulesVersion")?.stringValue?.hasPrefix("rules-"), true)
        XCTAssertEqual(doc.at("input", "kind")?.stringValue, "response")
        XCTAssertEqual(doc.at("input", "source")?.stringValue, path)
        XCTAssertEqual(doc.at("provider")?.stringValue, "facebook")
        XCTAssertEqual(doc.at("providerDetected"), .bool(false))
        XCTAssertEqual(doc.at("verdict")?.stringValue, "failure")
        XCTAssertEqual(doc.at("findings", 0, "failure")?.stringValue, "expiry")
        XCTAssertEqual(doc.at("findings", 0, "rule")?.stringValue, "facebook.token.session-expired")
        XCTAssertEqual(doc.at("findings", 0, "evidence", "body.error.error_subcode"), .int(463))
        XCTAssertEqual(doc.at("findings", 0, "remediation", 0, "id")?.stringValue, "reauthorize")
        XCTAssertNil(doc.at("facts"))
        XCTAssertTrue(result.stdoutText.hasPrefix("{\n  \"schema\": \"authdoctor.report/v2\""), "pretty printed")
    }

    func testResponseFromStdin() throws {
        let body = try TestPaths.fixture(facebook)
        let fromStdin = try CLI.run(["classify", "--response", "-", "--format", "json"], stdin: body)
        assertSuccess(fromStdin)
        let doc = try assertReportJSON(fromStdin.stdoutText, "--response -")
        XCTAssertEqual(doc.at("input", "source")?.stringValue, "stdin")
        let fromFile = try CLI.run(["classify", "--response", CLI.fixture(facebook), "--format", "json"])
        XCTAssertEqual(doc.at("findings"), try JSON.parse(fromFile.stdoutText).at("findings"), "stdin and file classify alike")
        XCTAssertEqual(doc.at("findings", 0, "failure")?.stringValue, "expiry")
    }

    func testText() throws {
        let result = try CLI.run(["classify", "--text", "Token has been expired or revoked.", "--provider", "google", "--format", "json"])
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText, "--text")
        XCTAssertEqual(doc.at("input", "kind")?.stringValue, "text")
        XCTAssertEqual(doc.at("provider")?.stringValue, "google")
        XCTAssertTrue(["revoked", "expiry"].contains(doc.at("findings", 0, "failure")?.stringValue ?? ""), result.stdoutText)
        XCTAssertEqual(doc.at("verdict")?.stringValue, "failure")

        let stdin = try CLI.run(["classify", "--text", "-", "--format", "json"], stdin: "ERROR: the link has expired\n")
        assertSuccess(stdin)
        XCTAssertEqual(try assertReportJSON(stdin.stdoutText, "--text -").at("findings", 0, "failure")?.stringValue, "link-expired")
    }

    func testCurlExit() throws {
        let result = try CLI.run(["classify", "--curl-exit", "6", "--format", "json"])
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText, "--curl-exit 6")
        XCTAssertEqual(doc.at("input", "kind")?.stringValue, "curl-exit")
        XCTAssertEqual(doc.at("findings", 0, "failure")?.stringValue, "connectivity")
        XCTAssertEqual(doc.at("findings", 0, "evidence", "transport.error")?.stringValue, "dns")
        XCTAssertEqual(doc.at("provider"), .null)

        let text = try CLI.run(["classify", "--curl-exit", "6"])
        assertSuccess(text)
        XCTAssertTrue(text.stdoutText.contains("✖ connectivity [source] "), text.summary)

        let timeout = try CLI.run(["classify", "--text", "Operation timed out after 30001 milliseconds", "--curl-exit", "28", "--format", "json"])
        assertSuccess(timeout)
        let t = try assertReportJSON(timeout.stdoutText, "--text --curl-exit 28")
        XCTAssertEqual(t.at("input", "kind")?.stringValue, "text")
        XCTAssertEqual(t.at("findings", 0, "failure")?.stringValue, "connectivity")
        XCTAssertEqual(t.at("findings", 0, "transient"), .bool(true), "a timeout may pass")
    }

    func testHAR() throws {
        let path = CLI.fixture("looker-studio/connector-authorize-two-accounts-400.har")
        let result = try CLI.run(["classify", "--har", path, "--format", "json"])
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText, "--har")
        XCTAssertEqual(doc.at("input", "kind")?.stringValue, "har")
        XCTAssertEqual(doc.at("input", "source")?.stringValue, path)
        XCTAssertEqual(doc.at("findings", 0, "failure")?.stringValue, "looker-400")

        let markdown = try CLI.run(["classify", "--har", path, "--format", "markdown"])
        assertSuccess(markdown)
        XCTAssertTrue(markdown.stdoutText.hasPrefix("### authdoctor report: failure\n"), markdown.summary)
        XCTAssertTrue(markdown.stdoutText.contains("\n#### 1. `looker-400` "), markdown.summary)
        XCTAssertTrue(markdown.stdoutLines.contains("| Verdict | failure |"), markdown.summary)
    }

    func testBatchJSONL() throws {
        let dir = try makeTemporaryDirectory(self)
        let records = [
            #"{"id":"a","curl_exit":6}"#,
            #"{"id":"b","provider":"postgres","sqlstate":"28P01","text":"FATAL: password authentication failed for user \"u\""}"#,
            #"{"id":"c","status":"oops"}"#,
            #"not json"#,
            #"{"id":5,"status":503,"body":"Service Unavailable"}"#,
        ]
        let file = try write(records.joined(separator: "\n") + "\n", to: dir, "records.jsonl")
        for arguments in [["classify", "--batch", file.path, "--format", "jsonl"], ["classify", "--batch", file.path]] {
            let result = try CLI.run(arguments)
            assertSuccess(result)
            let lines = result.stdoutLines
            XCTAssertEqual(lines.count, records.count, result.summary)
            let docs = try lines.map { try assertReportJSON($0, "batch line") }
            guard docs.count == records.count else { continue }
            XCTAssertEqual(docs.map { $0["id"]?.stringValue ?? "" }, ["a", "b", "c", "line 4", "5"])
            XCTAssertEqual(docs.map { $0["verdict"]?.stringValue ?? "" }, ["failure", "failure", "error", "error", "failure"])
            XCTAssertEqual(docs[0].at("findings", 0, "failure")?.stringValue, "connectivity")
            XCTAssertEqual(docs[1].at("findings", 0, "failure")?.stringValue, "credentials")
            XCTAssertEqual(docs[4].at("findings", 0, "failure")?.stringValue, "outage")
        }
        let stdin = try CLI.run(["classify", "--batch", "-", "--format", "jsonl"], stdin: records[0] + "\n" + records[4])
        assertSuccess(stdin)
        XCTAssertEqual(stdin.stdoutLines.map { (try? JSON.parse($0))?["id"]?.stringValue ?? "" }, ["a", "5"])
    }

    func testShowFacts() throws {
        let json = try CLI.run(["classify", "--response", CLI.fixture(facebook), "--format", "json", "--show-facts"])
        assertSuccess(json)
        let doc = try assertReportJSON(json.stdoutText, "--show-facts")
        XCTAssertEqual(doc.at("facts", "http.status"), .int(400))
        XCTAssertEqual(doc.at("facts", "body.error.code"), .int(190))
        XCTAssertEqual(doc.at("facts", "input.kind")?.stringValue, "response")

        let text = try CLI.run(["classify", "--response", CLI.fixture(facebook), "--show-facts"])
        assertSuccess(text)
        XCTAssertTrue(text.stdoutLines.contains("facts:"), text.summary)
        XCTAssertTrue(text.stdoutLines.contains("  http.status = 400"), text.summary)
    }

    func testLocalRulesReplaceBuiltins() throws {
        let root = try makeTemporaryDirectory(self)
        let rules = try LocalRules.make(in: root)
        let response = root.appendingPathComponent("fixtures/generic/401.http").path
        let only = try CLI.run(["classify", "--response", response, "--no-builtin-rules", "--rules", rules.path, "--format", "json"])
        assertSuccess(only)
        let doc = try assertReportJSON(only.stdoutText, "local rules")
        XCTAssertEqual(doc.at("findings", 0, "rule")?.stringValue, "local.unauthorized")
        XCTAssertEqual(doc.at("findings", 0, "remediation", 0, "steps", 0)?.stringValue, "Check them against the provider console.")

        let env = try CLI.run(["classify", "--response", response, "--no-builtin-rules", "--format", "json"],
                              environment: ["AUTHDOCTOR_RULES": rules.path])
        assertSuccess(env)
        XCTAssertEqual(try JSON.parse(env.stdoutText).at("findings", 0, "rule")?.stringValue, "local.unauthorized")
    }

    /// `curl -i` prints CRLF line ends (rejected with exit 65 "no HTTP status line" before cf67add).
    func testCRLFResponseFile() throws {
        let dir = try makeTemporaryDirectory(self)
        let lf = try TestPaths.fixture(facebook)
        let file = try write(lf.replacingOccurrences(of: "\n", with: "\r\n"), to: dir, "crlf.http")
        let result = try CLI.run(["classify", "--response", file.path, "--format", "json"])
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText, "CRLF response")
        XCTAssertEqual(doc.at("findings", 0, "failure")?.stringValue, "expiry")
        XCTAssertEqual(doc.at("findings", 0, "rule")?.stringValue, "facebook.token.session-expired")
    }

    func testBatchJobsGiveIdenticalOutput() throws {
        let dir = try makeTemporaryDirectory(self)
        var lines: [String] = []
        for n in 1...120 {
            switch n % 4 {
            case 0: lines.append(#"{"id":"n\#(n)","curl_exit":6}"#)
            case 1: lines.append(#"{"id":"n\#(n)","status":503,"body":"Service Unavailable"}"#)
            case 2: lines.append(#"{"id":"n\#(n)","provider":"postgres","sqlstate":"28P01"}"#)
            default: lines.append(n % 9 == 0 ? "{not json" : #"{"id":"n\#(n)","status":429}"#)
            }
        }
        let file = try write(lines.joined(separator: "\n") + "\n", to: dir, "jobs.jsonl")
        // Every report carries generatedAt; SOURCE_DATE_EPOCH fixes it so separate runs compare byte for byte.
        let fixedTime: [String: String?] = ["SOURCE_DATE_EPOCH": "1800000000"]
        let one = try CLI.run(["classify", "--batch", file.path, "--jobs", "1"], environment: fixedTime)
        XCTAssertTrue(one.stdoutText.contains(#""generatedAt":"2027-01-15T08:00:00Z""#), String(one.stdoutText.prefix(300)))
        assertSuccess(one)
        XCTAssertEqual(one.stdoutLines.count, 120)
        for jobs in ["2", "5"] {
            let many = try CLI.run(["classify", "--batch", file.path, "--jobs", jobs], environment: fixedTime)
            assertSuccess(many)
            XCTAssertEqual(many.stdout, one.stdout, "--jobs \(jobs) writes the same bytes")
        }
        assertOneLineError(try CLI.run(["classify", "--batch", file.path, "--jobs", "0"]), status: 64, mentions: ["--jobs"])
    }

    /// --show-facts applies to markdown (a Facts table) and to --batch (a "facts" member per line);
    /// both were silently ignored before a02f6d3.
    func testShowFactsWithMarkdownAndBatch() throws {
        let markdown = try CLI.run(["classify", "--curl-exit", "6", "--format", "markdown", "--show-facts"])
        assertSuccess(markdown)
        XCTAssertTrue(markdown.stdoutLines.contains("| `curl.code` | `6` |"), markdown.summary)
        XCTAssertTrue(markdown.stdoutLines.contains("| `curl.name` | `CURLE_COULDNT_RESOLVE_HOST` |"), markdown.summary)
        let without = try CLI.run(["classify", "--curl-exit", "6", "--format", "markdown"])
        XCTAssertFalse(without.stdoutText.contains("| `curl.code` |"), "facts only when asked")

        let dir = try makeTemporaryDirectory(self)
        let file = try write(#"{"id":"a","curl_exit":6}"# + "\n" + #"{"id":"b","status":"x"}"# + "\n", to: dir, "two.jsonl")
        let batch = try CLI.run(["classify", "--batch", file.path, "--show-facts"])
        assertSuccess(batch)
        XCTAssertEqual(batch.stdoutLines.count, 2)
        let first = try assertReportJSON(batch.stdoutLines.first ?? "", "batch --show-facts")
        XCTAssertEqual(first.at("facts", "curl.code"), .int(6))
        XCTAssertEqual(first.at("facts", "input.kind")?.stringValue, "record")
        let error = try assertReportJSON(batch.stdoutLines.last ?? "", "batch error with --show-facts")
        XCTAssertEqual(error.at("verdict")?.stringValue, "error")
        let plain = try CLI.run(["classify", "--batch", file.path])
        XCTAssertNil(try JSON.parse(plain.stdoutLines.first ?? "").at("facts"), "facts only when asked")
    }

    func testBriefFormatIsOneTabSeparatedLine() throws {
        let result = try CLI.run(["classify", "--curl-exit", "6", "--format", "brief"])
        assertSuccess(result)
        XCTAssertEqual(result.stdoutLines.count, 1, result.summary)
        let fields = (result.stdoutLines.first ?? "").split(separator: "\t", omittingEmptySubsequences: false)
        XCTAssertEqual(fields.count, 5, result.summary)
        XCTAssertEqual(fields.first.map(String.init), "connectivity", result.summary)
        XCTAssertEqual(fields.count > 2 ? String(fields[2]) : nil, "engineer", result.summary)
        XCTAssertTrue(fields.last?.contains("fix-authentication-errors") ?? false, result.summary)
    }
}

/// `authdoctor demo` and `diagnose --sandbox`: the Sandbox started in-process, probes over loopback.
final class DemoCommandTests: XCTestCase {
    func testDemoClassifiesEveryScenarioAsExpected() throws {
        let result = try CLI.run(["demo", "--timeout", "1"])
        XCTAssertEqual(result.status, 0, result.summary)
        let rows = result.stdoutLines.filter { $0.contains(" ✓ ") || $0.contains(" ✗ ") }
        XCTAssertGreaterThanOrEqual(rows.count, 30, result.summary)
        XCTAssertEqual(rows.filter { $0.contains(" ✗ ") }, [String](), result.summary)
        for failure in ["credentials", "token-missing", "scopes", "permissions", "expiry", "revoked", "multi-account",
                        "connectivity", "outage", "rate-limit"] {
            XCTAssertTrue(rows.contains { $0.contains(" \(failure) ") }, "the demo shows \(failure)")
        }
        XCTAssertTrue(rows.contains { $0.contains(" healthy ") }, "the demo shows a healthy connection")
        XCTAssertTrue(result.stdoutText.contains("every one classified as expected"), result.summary)
        // The authorization link, end to end: six steps and two diagnoses, each as expected.
        let linkLines = result.stdoutLines.filter { $0.hasPrefix("  ✔ ") || $0.hasPrefix("  ✖ ") }
        XCTAssertEqual(linkLines.count, 8, result.summary)
        XCTAssertEqual(linkLines.filter { $0.hasPrefix("  ✖ ") }, [String](), result.summary)
        XCTAssertTrue(result.stdoutText.contains("HTTP 200; 2 of 2 connections active"), result.summary)
        XCTAssertTrue(result.stdoutText.contains("HTTP 410 (single use)"), result.summary)
        XCTAssertFalse(result.stdoutText.contains("/l/"), "no link token in the demo output")
    }

    func testDemoJSONIsOneValidReportPerConnection() throws {
        let result = try CLI.run(["demo", "--only", "facebook", "--format", "json", "--timeout", "1"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertGreaterThanOrEqual(result.stdoutLines.count, 5, result.summary)
        for line in result.stdoutLines {
            let doc = try assertReportJSON(line, "demo --format json")
            XCTAssertTrue(doc.at("id")?.stringValue?.hasPrefix("facebook") ?? false, line)
        }
    }

    func testDemoRejectsAnUnknownScenarioPrefix() throws {
        let result = try CLI.run(["demo", "--only", "no-such-provider"])
        assertOneLineError(result, status: 64, mentions: ["no-such-provider"])
    }

    func testDiagnoseWithSandboxFindsTheScenariosFailure() throws {
        let result = try CLI.run(["diagnose", "--provider", "facebook", "--token-env", "T", "--sandbox", "--format", "brief"],
                                 environment: ["T": "sbx-fb-expired"])
        XCTAssertEqual(result.status, 2, result.summary)
        XCTAssertEqual(result.stdoutText.split(separator: "\t").first.map(String.init), "expiry", result.summary)
        XCTAssertFalse(result.stdoutText.contains("sbx-fb-expired"), "the token never appears in output")
    }

    func testDiagnoseWithSandboxHealthyExitsZero() throws {
        let result = try CLI.run(["diagnose", "--provider", "hubspot", "--token-env", "T", "--sandbox", "--format", "json"],
                                 environment: ["T": "sbx-hs-healthy"])
        XCTAssertEqual(result.status, 0, result.summary)
        let doc = try assertReportJSON(result.stdoutText, "diagnose --sandbox")
        XCTAssertEqual(doc.at("verdict")?.stringValue, "ok", result.summary)
        XCTAssertGreaterThanOrEqual(doc.at("probes")?.arrayValue?.count ?? 0, 1, result.summary)
    }
}

/// A reader that stops early (`| head`) must not make authdoctor crash or print a trace.
final class ClosedOutputTests: XCTestCase {
    func testDemoPipedIntoHeadEndsQuietly() throws {
        let script = "'\(CLI.binary.path)' demo --only hubspot --timeout 1 | head -1 >/dev/null; echo \"status=${PIPESTATUS[0]}\""
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/bin/bash"), ["-c", script], timeout: 60)
        XCTAssertTrue(result.stdoutText.contains("status=0"), result.summary)
        XCTAssertFalse(result.stderrText.contains("crashed"), result.summary)
        XCTAssertFalse(result.stderrText.contains("Fatal error"), result.summary)
    }
}
