import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// Issue 17: `authdoctor check --notify URL`, `authdoctor notify add|list|remove`, run as a user
/// runs them: the built binary, the in-process Sandbox, a store in a temporary directory and a
/// real loopback receiver.
final class NotifyCommandTests: XCTestCase {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    static let secret = "cli-notify-secret-51d0e2"
    var directory: URL!
    var database: String { directory.appendingPathComponent("authdoctor.sqlite").path }

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(self) }

    func run(_ arguments: [String], token: String = "sbx-fb-expired", secret: String? = NotifyCommandTests.secret,
             file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        let env: [String: String?] = ["AUTHDOCTOR_KEY": Self.key, "AUTHDOCTOR_DB": nil, "AUTHDOCTOR_NOTIFY_SECRET": secret,
                                      "FB_TOKEN": token, "FB_SECRET": "sbx-fb-app-secret"]
        return try CLI.run(arguments, environment: env, file: file, line: line)
    }

    func connectionsFile() throws -> String {
        try write(CLI.sandboxFacebookConnection, to: directory, "conns.yaml").path
    }

    func assertNoSecrets(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) {
        for secret in [Self.secret, "sbx-fb-expired", "sbx-fb-healthy", "sbx-fb-app-secret", "PathSecret"] {
            XCTAssertFalse(result.stdoutText.contains(secret) || result.stderrText.contains(secret), "\(secret) shown: \(result.summary)",
                           file: file, line: line)
        }
    }

    func hmac(_ body: [UInt8]) throws -> String {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), ["dgst", "-sha256", "-hmac", Self.secret], stdin: Data(body))
        return "sha256=" + String(result.stdoutText.split(whereSeparator: { $0 == " " || $0 == "\n" }).last ?? "")
    }

    func testCheckNotifiesOnTheChangeOnlyWithASignedPOST() throws {
        let receiver = try LoopbackServer { _ in .respond(status: 200, body: "ok") }
        defer { receiver.stop() }
        let conns = try connectionsFile()
        let args = ["check", "--connections", conns, "--sandbox", "--db", database, "--notify", receiver.baseURL + "/hook/PathSecret",
                    "--console-url", "https://console.example.test"]
        let healthy = try run(args, token: "sbx-fb-healthy")
        XCTAssertEqual(healthy.status, 0, healthy.summary)
        XCTAssertEqual(receiver.receivedRequests.count, 0)

        let broken = try run(args + ["--format", "json"], token: "sbx-fb-expired")
        XCTAssertEqual(broken.status, 2, broken.summary)
        XCTAssertEqual(receiver.receivedRequests.count, 1, broken.summary)
        let request = try XCTUnwrap(receiver.receivedRequests.first)
        XCTAssertEqual(request.header("X-Authdoctor-Signature"), try hmac(request.body))
        let body = try JSON.parse(request.body)
        XCTAssertEqual(body["connection"], .string("shop-fb"))
        XCTAssertEqual(body["oldStatus"], .string("ok"))
        XCTAssertEqual(body["newStatus"], .string("critical"))
        XCTAssertEqual(body["consoleURL"], .string("https://console.example.test/console/connections/shop-fb"))
        XCTAssertFalse(String(decoding: request.body, as: UTF8.self).contains("sbx-fb-expired"))
        XCTAssertFalse(String(decoding: request.body, as: UTF8.self).contains(Self.secret))
        XCTAssertNoThrow(try JSON.parse(broken.stdoutText), broken.summary)
        assertNoSecrets(broken)

        let same = try run(args, token: "sbx-fb-expired")
        XCTAssertEqual(same.status, 2, same.summary)
        XCTAssertEqual(receiver.receivedRequests.count, 1, "no change, no POST")
    }

    func testAReceiverThatIsDownKeepsTheExitStatusAndIsSaidOnStderr() throws {
        let conns = try connectionsFile()
        let url = "http://127.0.0.1:\(LoopbackServer.unusedPort())/services/T0/B0/PathSecret"
        for (format, status) in [("text", Int32(2)), ("nagios", Int32(2))] {
            let result = try run(["check", "--connections", conns, "--sandbox", "--db", database + format, "--notify", url,
                                  "--notify-retries", "1", "--format", format])
            XCTAssertEqual(result.status, status, result.summary)
            XCTAssertTrue(result.stderrText.contains("was not delivered after 2 attempts"), result.summary)
            XCTAssertTrue(result.stderrText.contains("http://127.0.0.1:"), result.summary)
            XCTAssertTrue(result.stdoutText.contains("CRITICAL"), result.summary)
            assertNoSecrets(result)
        }
    }

    func testStoredURLsAreNotifiedAndListedWithoutTheirPath() throws {
        let receiver = try LoopbackServer { _ in .respond(status: 202) }
        defer { receiver.stop() }
        let url = receiver.baseURL + "/services/PathSecret"
        let added = try run(["notify", "add", url, "--db", database])
        XCTAssertEqual(added.status, 0, added.summary)
        let list = try run(["notify", "list", "--db", database])
        XCTAssertEqual(list.stdoutText, "1  \(receiver.baseURL)/…\n", list.summary)
        assertNoSecrets(list)

        let conns = try connectionsFile()
        let checked = try run(["check", "--connections", conns, "--sandbox", "--db", database])
        XCTAssertEqual(checked.status, 2, checked.summary)
        XCTAssertEqual(receiver.receivedRequests.map(\.pathOnly), ["/services/PathSecret"])

        let removed = try run(["notify", "remove", "1", "--db", database])
        XCTAssertEqual(removed.status, 0, removed.summary)
        XCTAssertEqual(try run(["notify", "list", "--db", database]).stdoutText, "no webhook URLs (authdoctor notify add URL)\n")
        let missing = try run(["notify", "remove", "3", "--db", database])
        assertOneLineError(missing, status: 64, mentions: ["no webhook URL number 3"])
    }

    func testBadNotifyUsageIsAOneLineError() throws {
        let conns = try connectionsFile()
        assertOneLineError(try run(["check", "--connections", conns, "--sandbox", "--notify", "http://127.0.0.1:9/h"]),
                           status: 64, mentions: ["--notify needs --db"])
        assertOneLineError(try run(["check", "--connections", conns, "--sandbox", "--db", database, "--notify", "ftp://x/h"]),
                           status: 64, mentions: ["--notify takes an http:// or https:// URL"])
        let noSecret = try run(["check", "--connections", conns, "--sandbox", "--db", database, "--notify", "http://127.0.0.1:9/h"], secret: nil)
        assertOneLineError(noSecret, status: 78, mentions: ["AUTHDOCTOR_NOTIFY_SECRET"])
    }

    func testCheckHelpDocumentsNotifications() throws {
        let help = try run(["check", "--help"])
        XCTAssertEqual(help.status, 0)
        for needle in ["--notify <URL>", "--console-url", "--notify-retries", "AUTHDOCTOR_NOTIFY_SECRET", "X-Authdoctor-Signature"] {
            XCTAssertTrue(help.stdoutText.contains(needle), needle)
        }
    }
}
