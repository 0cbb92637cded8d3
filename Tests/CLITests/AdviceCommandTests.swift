import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// Issue 14 through the binary: `--format client`, reports that say when they were made, healthy
/// connections that agree across text, brief, json and check.
final class AdviceCommandTests: XCTestCase {
    func testFormatClientPrintsOnlyTheMessageForTheClient() throws {
        let snowflake = try CLI.run(["classify", "--response", CLI.fixture("snowflake/login-390422-ip-not-allowed.http"), "--format", "client"])
        assertSuccess(snowflake)
        XCTAssertTrue(snowflake.stdoutText.hasPrefix("Hello,\n\nOur connection to Snowflake stopped working"), snowflake.summary)
        XCTAssertTrue(snowflake.stdoutText.contains("203.0.113.45"), snowflake.summary)
        for word in ["rule", "confidence", "fix-authentication-errors", "verdict"] {
            XCTAssertFalse(snowflake.stdoutText.lowercased().contains(word), "\(word): \(snowflake.summary)")
        }
        // The provider throttles: nothing for the client, said on stderr, still exit 0.
        let throttled = try CLI.run(["classify", "--response", CLI.fixture("generic/429-retry-after-120.http"), "--format", "client"])
        XCTAssertEqual(throttled.status, 0, throttled.summary)
        XCTAssertEqual(throttled.stdoutText, "")
        XCTAssertTrue(throttled.stderrText.contains("no message for the client"), throttled.summary)
    }

    func testEveryReportSaysWhenItWasMadeAndWithWhichRules() throws {
        let result = try CLI.run(["classify", "--response", CLI.fixture("generic/429-retry-after-120.http"), "--format", "json"],
                                 environment: ["SOURCE_DATE_EPOCH": "1800000000"])
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText, "429")
        XCTAssertEqual(doc["generatedAt"]?.stringValue, "2027-01-15T08:00:00Z")
        XCTAssertEqual(doc.at("tool", "rulesVersion")?.stringValue?.hasPrefix("rules-"), true)
        let now = try CLI.run(["classify", "--response", CLI.fixture("generic/429-retry-after-120.http"), "--format", "json"])
        let stamp = try XCTUnwrap(try JSON.parse(now.stdoutText)["generatedAt"]?.stringValue)
        let made = try XCTUnwrap(RFC3339.date(stamp))
        XCTAssertLessThan(abs(made.timeIntervalSinceNow), 120, stamp)
        XCTAssertTrue(stamp.hasSuffix("Z"), "UTC: \(stamp)")
    }

    func testAHealthyConnectionHasNoFindingInEveryFormatAndInCheck() throws {
        let env: [String: String?] = ["FB_TOKEN": "sbx-fb-healthy", "FB_SECRET": "sbx-fb-app-secret"]
        let base = ["diagnose", "--provider", "facebook", "--token-env", "FB_TOKEN", "--client-id", "5550001112223",
                    "--client-secret-env", "FB_SECRET", "--sandbox"] + CLI.repoRules
        let text = try CLI.run(base, environment: env)
        XCTAssertEqual(text.status, 0, text.summary)
        XCTAssertFalse(text.stdoutText.contains("unknown"), text.summary)
        XCTAssertFalse(text.stdoutText.contains("confidence 0%"), text.summary)
        XCTAssertTrue(text.stdoutText.contains("Every probe answered as expected"), text.summary)
        let brief = try CLI.run(base + ["--format", "brief"], environment: env)
        XCTAssertEqual(brief.stdoutText, "ok\t-\t-\t-\t-\n", brief.summary)
        let json = try CLI.run(base + ["--format", "json"], environment: env)
        let doc = try assertReportJSON(json.stdoutText, "healthy diagnose")
        XCTAssertEqual(doc["verdict"]?.stringValue, "ok")
        XCTAssertEqual(doc["findings"]?.arrayValue?.count, 0)

        let conns = try write("connections:\n  - name: shop\n    provider: facebook\n    token-env: FB_TOKEN\n    client-id: \"5550001112223\"\n    client-secret-env: FB_SECRET\n",
                              to: makeTemporaryDirectory(self), "conns.yaml").path
        let check = try CLI.run(["check", "--connections", conns, "--sandbox", "--format", "json"] + CLI.repoRules, environment: env)
        XCTAssertEqual(check.status, 0, check.summary)
        let run = try JSON.parse(check.stdoutText)
        XCTAssertEqual(run.at("connections", 0, "failure")?.stringValue, "none")
        XCTAssertEqual(run.at("connections", 0, "report", "verdict")?.stringValue, "ok")
        XCTAssertEqual(run.at("connections", 0, "report", "findings")?.arrayValue?.count, 0, "the embedded report agrees: no finding")
    }
}
