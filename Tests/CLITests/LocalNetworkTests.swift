import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// Issue 14: a local network outage is ours, not the client's. Loopback only: closed ports on
/// 127.0.0.1 and 127.0.0.2 (both loopback) refuse every connection, as a machine without a network
/// would fail on every provider host alike.
final class LocalNetworkTests: XCTestCase {
    static let environment: [String: String?] = ["HS_TOKEN": "pat-na1-00000000-0000-4000-8000-000000000000"]

    func connections(_ hosts: [String]) throws -> String {
        var yaml = "connections:\n"
        for (n, host) in hosts.enumerated() {
            yaml += "  - name: crm-\(n + 1)\n    provider: hubspot\n    token-env: HS_TOKEN\n    base-url:\n      hubspot: \"\(host)\"\n"
        }
        return try write(yaml, to: makeTemporaryDirectory(self), "conns.yaml").path
    }

    func testEveryHostRefusedIsUnknownOnceNotCriticalPerConnection() throws {
        let port = LoopbackServer.unusedPort()
        let conns = try connections(["http://127.0.0.1:\(port)", "http://127.0.0.2:\(port)"])
        let nagios = try CLI.run(["check", "--connections", conns, "--format", "nagios", "--retries", "0", "--timeout", "5"] + CLI.repoRules,
                                 environment: Self.environment)
        XCTAssertEqual(nagios.status, 3, nagios.summary)
        XCTAssertTrue(nagios.stdoutLines.first?.hasPrefix("AUTHDOCTOR UNKNOWN - 0 critical, 2 unknown") ?? false, nagios.summary)
        XCTAssertTrue(nagios.stdoutLines.first?.contains("this machine cannot reach the network") ?? false, nagios.summary)
        XCTAssertFalse(nagios.stdoutText.contains("CRITICAL"), nagios.summary)
        XCTAssertEqual(nagios.stdoutLines.filter { $0.contains("local-network") }.count, 2, nagios.summary)

        let text = try CLI.run(["check", "--connections", conns, "--retries", "0", "--timeout", "5"] + CLI.repoRules, environment: Self.environment)
        XCTAssertEqual(text.status, 3, text.summary)
        XCTAssertEqual(text.stdoutLines.filter { $0.hasPrefix("This machine cannot reach the network") }.count, 1, "said once:\n\(text.summary)")
        XCTAssertFalse(text.stdoutText.contains("CRITICAL"), text.summary)
    }

    func testOneRefusedHostIsStillTheConnectionsOwnFailure() throws {
        let port = LoopbackServer.unusedPort()
        let conns = try connections(["http://127.0.0.1:\(port)"])
        let result = try CLI.run(["check", "--connections", conns, "--format", "nagios", "--retries", "0", "--timeout", "5"] + CLI.repoRules,
                                 environment: Self.environment)
        XCTAssertNotEqual(result.status, 3, result.summary)
        XCTAssertFalse(result.stdoutText.contains("cannot reach the network"), result.summary)
        XCTAssertTrue(result.stdoutText.contains("connectivity"), result.summary)
    }

    func testDiagnoseWhoseEveryHostIsRefusedSaysSoOnceForTheEngineer() throws {
        let port = LoopbackServer.unusedPort()
        let result = try CLI.run(["diagnose", "--provider", "google", "--token-env", "G_TOKEN", "--timeout", "5",
                                  "--base-url", "oauth2=http://127.0.0.1:\(port)", "--base-url", "openidconnect=http://127.0.0.2:\(port)",
                                  "--format", "json"] + CLI.repoRules,
                                 environment: ["G_TOKEN": "ya29.FAKE-local-network-token"])
        XCTAssertEqual(result.status, 3, result.summary)
        let doc = try JSON.parse(result.stdoutText)
        XCTAssertEqual(doc["verdict"]?.stringValue, "unknown")
        XCTAssertTrue(doc["localNetwork"]?.stringValue?.hasPrefix("This machine cannot reach the network") ?? false, result.summary)
        XCTAssertEqual(doc["findings"]?.arrayValue?.count, 1, result.summary)
        XCTAssertEqual(doc.at("findings", 0, "rule")?.stringValue, "diagnose.network.local-outage")
        XCTAssertEqual(doc.at("findings", 0, "actor")?.stringValue, "engineer")
        XCTAssertEqual(doc.at("findings", 0, "remediation", 0, "id")?.stringValue, "check-local-network")
        XCTAssertNil(doc["clientMessage"], "nothing for the client")
        XCTAssertFalse(result.stdoutText.contains("ya29.FAKE"), "no secret")
    }
}
