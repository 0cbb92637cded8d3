import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import Probe
import XCTest

/// `authdoctor operators add|list|remove` and `authdoctor audit` through the real binary, with a
/// real `authdoctor serve` on the same store answering the operator API in between.
final class OperatorsCommandTests: XCTestCase {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

    var directory: URL!
    var database: String { directory.appendingPathComponent("store/authdoctor.sqlite").path }

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self)
    }

    func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        try CLI.run(arguments + ["--db", database], environment: ["AUTHDOCTOR_KEY": Self.key, "AUTHDOCTOR_DB": nil, "AUTHDOCTOR_PUBLIC_URL": nil],
                    file: file, line: line)
    }

    static func call(_ method: String, _ url: String, token: String?, body: String? = nil) -> ProbeResult {
        var headers: [HTTPHeader] = []
        if let token { headers.append(HTTPHeader("Authorization", "Bearer " + token)) }
        if body != nil { headers.append(HTTPHeader("Content-Type", "application/json")) }
        return Prober().perform(ProbeRequest(method: method, url: url, headers: headers, body: body.map { Array($0.utf8) }, totalTimeout: 10))
    }

    func testOperatorsAddListRemoveAndTheAuditOfARealServer() throws {
        // add: the token once, on the first line; the name in use and a bad name refused in one line.
        let added = try run(["operators", "add", "alice"])
        assertSuccess(added)
        let token = try XCTUnwrap(added.stdoutLines.first)
        XCTAssertTrue(token.hasPrefix("ado_") && token.count == 47, token)
        XCTAssertTrue(added.stdoutText.contains("shown once"), added.stdoutText)
        assertOneLineError(try run(["operators", "add", "alice"]), status: 65, mentions: ["alice", "exists"])
        assertOneLineError(try run(["operators", "add", "bad name"]), status: 64, mentions: ["operator name"])
        let bot = try JSON.parse(try run(["operators", "add", "ci-bot", "--format", "json"]).stdoutText)
        let botToken = try XCTUnwrap(bot["token"]?.stringValue)
        XCTAssertNotEqual(botToken, token)

        let listed = try run(["operators", "list"])
        assertSuccess(listed)
        XCTAssertEqual(listed.stdoutLines.first?.split(separator: " ", omittingEmptySubsequences: true), ["NAME", "CREATED", "LAST", "USED"])
        XCTAssertTrue(listed.stdoutLines.contains { $0.hasPrefix("alice ") && $0.hasSuffix("never") }, listed.stdoutText)

        // A real server on the same store: the API answers alice, refuses a call without a token.
        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", database], environment: ["AUTHDOCTOR_KEY": Self.key])
        defer { serve.stop() }
        let refused = Self.call("GET", serve.url + "/api/links", token: nil)
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual(refused.header("WWW-Authenticate"), #"Bearer realm="authdoctor operators""#)
        let issued = Self.call("POST", serve.url + "/api/links", token: token, body: #"{"client": "Acme", "sources": ["google"]}"#)
        XCTAssertEqual(issued.status, 201, issued.bodyText)
        let linkID = try XCTUnwrap(JSON.parse(issued.bodyText)["id"]?.stringValue)
        XCTAssertTrue(try XCTUnwrap(JSON.parse(issued.bodyText)["url"]?.stringValue).hasPrefix(serve.url + "/l/"))
        XCTAssertEqual(Self.call("POST", serve.url + "/api/links/\(linkID)/revoke", token: token).status, 200)
        XCTAssertEqual(Self.call("GET", serve.url + "/api/connections", token: botToken).status, 200)

        let links = try JSON.parse(try run(["links", "list", "--format", "json"]).stdoutText)
        XCTAssertEqual(links.arrayValue?.first?["state"]?.stringValue, "revoked", "the API revoked the link the CLI lists")
        let accounts = try JSON.parse(try run(["operators", "list", "--format", "json"]).stdoutText).arrayValue ?? []
        XCTAssertEqual(accounts.map { $0["name"]?.stringValue ?? "" }, ["alice", "ci-bot"])
        XCTAssertTrue(accounts.allSatisfy { $0["lastUsedAt"]?.stringValue != nil }, "each token's last use is recorded")

        // audit: who, what, when, which link, the answer; filters; never a token.
        let audit = try run(["audit"])
        assertSuccess(audit)
        XCTAssertEqual(audit.stdoutLines.first?.split(separator: " ", omittingEmptySubsequences: true), ["WHEN", "OPERATOR", "CALL", "TARGET", "STATUS"])
        let rows = audit.stdoutLines.dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).joined(separator: " ") }
        XCTAssertEqual(rows, ["anonymous GET /api/links - 401", "alice POST /api/links \(linkID) 201",
                              "alice POST /api/links/{id}/revoke \(linkID) 200", "ci-bot GET /api/connections - 200"])
        let mine = try JSON.parse(try run(["audit", "--operator", "alice", "--since", "1h", "--format", "json"]).stdoutText)
        XCTAssertEqual(mine.arrayValue?.map { $0["route"]?.stringValue ?? "" }, ["/api/links", "/api/links/{id}/revoke"])
        XCTAssertEqual(mine.arrayValue?.first?["target"]?.stringValue, linkID)
        XCTAssertEqual(mine.arrayValue?.first?["status"]?.intValue, 201)
        XCTAssertEqual(try JSON.parse(try run(["audit", "--operator", "anonymous", "--format", "json"]).stdoutText).arrayValue?.count, 1)
        assertOneLineError(try run(["audit", "--since", "yesterday"]), status: 64, mentions: ["--since"])

        // remove: the token stops working at once, on the running server too; the audit stays.
        let removed = try run(["operators", "remove", "alice"])
        assertSuccess(removed)
        XCTAssertEqual(Self.call("GET", serve.url + "/api/links", token: token).status, 401)
        assertOneLineError(try run(["operators", "remove", "alice"]), status: 66, mentions: ["alice"])
        XCTAssertFalse(try run(["operators", "list"]).stdoutText.contains("alice"))
        XCTAssertEqual(try run(["audit", "--operator", "alice"]).stdoutLines.count, 3, "alice's entries stay")

        // No operator token anywhere but in the one answer of `operators add`: not in listings,
        // the audit, the server's log, nor (in clear) in the store's files.
        let log = serve.stop()
        var everything = log
        for arguments in [["operators", "list"], ["operators", "list", "--format", "json"], ["audit"], ["audit", "--format", "json"]] {
            everything += try run(arguments).stdoutText
        }
        var files = Data()
        let storeDirectory = directory.appendingPathComponent("store")
        for name in try FileManager.default.contentsOfDirectory(atPath: storeDirectory.path) {
            files.append(try Data(contentsOf: storeDirectory.appendingPathComponent(name)))
        }
        for secret in [token, botToken] {
            XCTAssertFalse(everything.contains(String(secret.dropFirst(4))), "a token was printed or logged")
            XCTAssertNil(files.range(of: Data(secret.dropFirst(4).utf8)), "a token is in the store in clear")
        }
    }
}
