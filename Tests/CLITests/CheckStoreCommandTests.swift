import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import Links
import XCTest

/// `authdoctor check --db` (stored connections, renewal, history) and `authdoctor history`, run as
/// a user runs them, against the in-process Sandbox and a store in a temporary directory.
final class CheckStoreCommandTests: XCTestCase {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    var directory: URL!
    var database: String { directory.appendingPathComponent("authdoctor.sqlite").path }

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(self) }

    func run(_ arguments: [String], environment: [String: String?] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        var env: [String: String?] = ["AUTHDOCTOR_KEY": Self.key, "AUTHDOCTOR_DB": nil]
        for (name, value) in environment { env[name] = value }
        return try CLI.run(arguments, environment: env, file: file, line: line)
    }

    func store() throws -> SQLiteStore { try StoreLocation.openSQLite(path: database, environment: ["AUTHDOCTOR_KEY": Self.key]) }

    func connectionsFile() throws -> String {
        try write("""
            connections:
              - name: sales-google
                provider: google
                token-env: G_TOKEN
                refresh-token-env: G_REFRESH
                client-id: 000000000000-sandbox.apps.googleusercontent.com
                client-secret-env: G_SECRET
            """, to: directory, "conns.yaml").path
    }

    func google(_ scenario: String) -> [String: String?] {
        ["G_TOKEN": "sbx-\(scenario)", "G_REFRESH": "sbx-\(scenario)-refresh", "G_SECRET": "sbx-google-client-secret"]
    }

    func databaseBytes() throws -> Data {
        var out = Data()
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasPrefix("authdoctor.sqlite") {
            out += try Data(contentsOf: directory.appendingPathComponent(name))
        }
        return out
    }

    func assertNoSecrets(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) {
        for secret in ["sbx-google-healthy", "sbx-google-expired", "sbx-google-client-secret", "sbx-link-client-secret"] {
            XCTAssertFalse(result.stdoutText.contains(secret) || result.stderrText.contains(secret), "\(secret) shown: \(result.summary)",
                           file: file, line: line)
        }
    }

    func testRenewStoresEncryptedTokensTheNextRunUsesThemAndHistoryShowsTheRuns() throws {
        let conns = try connectionsFile()
        let renewed = try run(["check", "--connections", conns, "--sandbox", "--db", database, "--renew"], environment: google("google-healthy"))
        XCTAssertEqual(renewed.status, 0, renewed.summary)
        XCTAssertTrue(renewed.stdoutText.contains("tokens renewed and stored"), renewed.summary)
        assertNoSecrets(renewed)
        let bytes = try databaseBytes()
        XCTAssertFalse(bytes.isEmpty)
        XCTAssertNil(bytes.range(of: Data("sbx-google-healthy".utf8)), "a token in clear in the database")
        XCTAssertEqual(try store().renewedTokens(connectionName: "sales-google")?.accessToken, "sbx-google-healthy")

        // The variables now name a dead grant: the renewed tokens in the store are used instead.
        let next = try run(["check", "--connections", conns, "--sandbox", "--db", database, "--format", "json"], environment: google("google-expired"))
        XCTAssertEqual(next.status, 0, next.summary)
        let doc = try JSON.parse(next.stdoutText)
        let entry = try XCTUnwrap(doc["connections"]?.arrayValue?.first)
        XCTAssertEqual(entry["usedRenewedTokens"], .bool(true))
        XCTAssertTrue(entry["summary"]?.stringValue?.contains("renewed by an earlier run") ?? false)
        assertNoSecrets(next)

        let history = try run(["history", "sales-google", "--db", database])
        assertSuccess(history)
        XCTAssertTrue(history.stdoutText.contains("last passed:"), history.summary)
        XCTAssertTrue(history.stdoutText.contains("flapping:      no"), history.summary)
        XCTAssertEqual(history.stdoutLines.filter { $0.hasPrefix("20") && $0.contains(" ok ") }.count, 2, history.summary)

        let overview = try run(["history", "--db", database, "--format", "json"])
        assertSuccess(overview)
        let rows = try XCTUnwrap(try JSON.parse(overview.stdoutText).arrayValue)
        XCTAssertEqual(rows.map { $0["connection"]?.stringValue }, ["sales-google"])
        XCTAssertEqual(rows.first?["status"]?.stringValue, "ok")

        assertOneLineError(try run(["history", "nope", "--db", database]), status: 66, mentions: ["nope", "no check history"])
    }

    func testAFailedRenewalIsItsFindingAndDryRunSkipsTheExchange() throws {
        let conns = try connectionsFile()
        let expired = try run(["check", "--connections", conns, "--sandbox", "--db", database, "--renew", "--retries", "0"],
                              environment: google("google-expired"))
        XCTAssertEqual(expired.status, 2, expired.summary)
        // Root cause first (issue 14): the dead refresh token (revoked) is the finding reported.
        XCTAssertTrue(expired.stdoutText.contains("revoked"), expired.summary)
        XCTAssertTrue(expired.stdoutText.contains("renewal failed, nothing stored"), expired.summary)
        XCTAssertNil(try store().renewedTokens(connectionName: "sales-google"))

        let dry = try run(["check", "--connections", conns, "--sandbox", "--db", database, "--dry-run", "--format", "json"],
                          environment: google("google-healthy"))
        XCTAssertEqual(dry.status, 0, dry.summary)
        let entry = try XCTUnwrap(try JSON.parse(dry.stdoutText)["connections"]?.arrayValue?.first)
        XCTAssertEqual(entry["renewal"]?.stringValue, "skipped")
        let refresh = entry["report"]?["probes"]?.arrayValue?.first { $0["step"]?.stringValue == "refresh" }
        XCTAssertEqual(refresh?["outcome"]?.stringValue, "skipped")
        XCTAssertNil(try store().renewedTokens(connectionName: "sales-google"))
    }

    func testStoredConnectionsAreCheckedByIDAndNoHistorySkipsTheRecord() throws {
        let store = try store()
        let now = Date()
        let issued = try store.issueLink(client: "Acme", sources: ["google"], maxSources: nil, ttl: 3600, now: now)
        let opened = try store.openLink(token: issued.token, now: now)
        let connection = try store.addConnection(sessionID: opened.session.id, provider: "google", account: "ops@example.com",
                                                 tokens: ProviderTokens(accessToken: "sbx-google-healthy", refreshToken: "sbx-google-healthy-refresh",
                                                                        expiresAt: now.addingTimeInterval(-60)), now: now)
        _ = try store.finishSession(id: opened.session.id, now: now)

        let result = try run(["check", "--db", database, "--sandbox", "--renew", "--no-history", "--format", "json"])
        XCTAssertEqual(result.status, 0, result.summary)
        assertNoSecrets(result)
        let entries = try XCTUnwrap(try JSON.parse(result.stdoutText)["connections"]?.arrayValue)
        XCTAssertEqual(entries.map { $0["name"]?.stringValue }, [connection.id], "the demo set is not added when --db is given")
        XCTAssertEqual(entries.first?["renewal"]?.stringValue, "renewed")
        XCTAssertNotNil(try store.connection(id: connection.id)?.renewedAt)
        XCTAssertEqual(try store.verdicts(connection: connection.id, limit: 5).count, 0, "--no-history")

        _ = try run(["check", "--db", database, "--sandbox"])
        XCTAssertEqual(try store.verdicts(connection: connection.id, limit: 5).map(\.status), ["ok"])
    }

    func testFlappingAndFailingSinceWithAPinnedClock() throws {
        let store = try store()
        let t0 = Date(timeIntervalSince1970: 1_790_000_000)  // 2026-09-21 14:13:20Z
        let statuses = ["ok", "critical", "ok", "critical", "ok", "warning", "critical"]
        try store.recordVerdicts(statuses.enumerated().map {
            CheckVerdict(connection: "shop-ads", checkedAt: t0.addingTimeInterval(Double($0.offset) * 3600), status: $0.element,
                         failure: $0.element == "ok" ? "none" : "revoked", summary: "run \($0.offset)")
        })
        let result = try run(["history", "shop-ads", "--db", database, "--format", "json", "--limit", "3"])
        assertSuccess(result)
        let doc = try JSON.parse(result.stdoutText)
        XCTAssertEqual(doc["status"]?.stringValue, "critical")
        XCTAssertEqual(doc["flapping"], .bool(true))
        XCTAssertEqual(doc["recentChanges"], .int(6))
        XCTAssertEqual(doc["lastPassed"]?.stringValue, "2026-09-21T18:13:20Z")
        XCTAssertEqual(doc["failingSince"]?.stringValue, "2026-09-21T19:13:20Z")
        XCTAssertEqual(doc["verdicts"]?.arrayValue?.map { $0["summary"]?.stringValue }, ["run 6", "run 5", "run 4"])

        let text = try run(["history", "shop-ads", "--db", database])
        assertSuccess(text)
        XCTAssertTrue(text.stdoutText.contains("flapping:      yes"), text.summary)
        XCTAssertTrue(text.stdoutText.contains("failing since: 2026-09-21 19:13:20Z"), text.summary)
    }

    func testUsageErrors() throws {
        let conns = try connectionsFile()
        assertOneLineError(try run(["check", "--connections", conns, "--db", database, "--renew", "--dry-run"]), status: 64,
                           mentions: ["--renew", "--dry-run"])
        assertOneLineError(try run(["check", "--connections", conns, "--renew"]), status: 64, mentions: ["--renew needs --db"])
        assertOneLineError(try run(["check", "--db", database, "--oauth-client", "google=abc"], environment: ["AUTHDOCTOR_OAUTH_GOOGLE_SECRET": nil]),
                           status: 78, mentions: ["AUTHDOCTOR_OAUTH_GOOGLE_SECRET"])
        assertOneLineError(try run(["check", "--db", database, "--oauth-client", "nosuch=abc"]), status: 64, mentions: ["nosuch"])
        assertOneLineError(try run(["history", "--db", database, "--limit", "0"]), status: 64, mentions: ["--limit"])
    }
}
