import AuthDoctorTestSupport
import EvidenceModel
import Foundation
@testable import Links
import XCTest

/// Issue 16, items 1 and 2 through the real binary: `--db postgres://...`, refused `--db` values,
/// `store migrate|status|copy` between SQLite and the PostgreSQL that `make test` starts.
final class PostgresStoreCommandTests: XCTestCase {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    static let passwordVariable = "AUTHDOCTOR_PG_TEST_STORE_PASSWORD"

    var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self)
    }

    func run(_ arguments: [String], environment: [String: String?] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        var env: [String: String?] = ["AUTHDOCTOR_KEY": Self.key, "AUTHDOCTOR_PUBLIC_URL": nil, "AUTHDOCTOR_DB": nil, "PGPASSWORD": nil]
        for (name, value) in environment { env[name] = value }
        return try CLI.run(arguments, environment: env, in: directory, file: file, line: line)
    }

    /// A new empty database on the test server, dropped after the test; its URL (no password in it).
    func freshDatabase() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        guard let port = environment["AUTHDOCTOR_PG_TEST_PORT"], environment[Self.passwordVariable] != nil else {
            throw XCTSkip("no PostgreSQL test server: run `make test` (AUTHDOCTOR_PG_TEST_PORT, \(Self.passwordVariable))")
        }
        let base = "postgres://storeowner@127.0.0.1:\(port)/"
        let admin = try PostgresLocation(url: base + "authdoctor_store?sslmode=disable", passwordVariable: Self.passwordVariable)
        let name = "c_" + LinkSecrets.newID(prefix: "")
        try PGConnection.connect(admin.parameters).exec("CREATE DATABASE \(name)")
        addTeardownBlock {
            if let c = try? PGConnection.connect(admin.parameters) { _ = try? c.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        }
        return base + name + "?sslmode=disable"
    }

    // MARK: item 1

    /// `--db postgres:...` used to make a directory `postgres:`; a value that is neither a path nor
    /// a supported URL is now refused (64) and nothing is created.
    func testUnsupportedStoreValuesAreRefusedAndCreateNothing() throws {
        for value in ["mysql://root@127.0.0.1/db", "postgres:authdoctor", "https://127.0.0.1/store"] {
            for command in [["links", "issue", "--client", "Acme"], ["links", "list"], ["store", "status"], ["history"]] {
                let result = try run(command + ["--db", value])
                assertOneLineError(result, status: 64, mentions: ["--db"])
            }
            let viaVariable = try run(["links", "list"], environment: ["AUTHDOCTOR_DB": value])
            assertOneLineError(viaVariable, status: 64, mentions: ["--db"])
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [], "no directory like `postgres:` was made")
    }

    func testAPasswordInTheURLIsRefusedAndNeverEchoed() throws {
        let result = try run(["links", "list", "--db", "postgres://storeowner:Pw-In-Argv-123@127.0.0.1:1/x"])
        assertOneLineError(result, status: 64, mentions: ["PGPASSWORD", "--db-password-env"])
        XCTAssertFalse(result.stderrText.contains("Pw-In-Argv-123"))
    }

    func testLinksOnPostgresWithThePasswordFromTheEnvironment() throws {
        let url = try freshDatabase()
        let password = ProcessInfo.processInfo.environment[Self.passwordVariable]!
        // The password through --db-password-env, then through PGPASSWORD (libpq reads it).
        let issued = try run(["links", "issue", "--client", "Acme Ltd", "--db", url, "--db-password-env", Self.passwordVariable, "--format", "json"])
        assertSuccess(issued)
        let id = try XCTUnwrap(try JSON.parse(issued.stdoutText)["id"]?.stringValue)
        let listed = try run(["links", "list", "--db", url], environment: ["PGPASSWORD": password])
        assertSuccess(listed)
        XCTAssertTrue(listed.stdoutText.contains(id), listed.stdoutText)
        XCTAssertTrue(listed.stdoutText.contains("Acme Ltd"))
        // AUTHDOCTOR_DB selects it as well.
        let shown = try run(["links", "show", id], environment: ["PGPASSWORD": password, "AUTHDOCTOR_DB": url])
        assertSuccess(shown)

        // Without the key every instance shares: refused (78), before anything is written.
        let keyless = try run(["links", "issue", "--client", "B", "--db", url], environment: ["PGPASSWORD": password, "AUTHDOCTOR_KEY": nil])
        assertOneLineError(keyless, status: 78, mentions: ["AUTHDOCTOR_KEY"])
        // A wrong password: 74, the server's reason, never the password.
        let wrong = try run(["links", "list", "--db", url], environment: ["PGPASSWORD": "Wrong-Pw-456"])
        assertOneLineError(wrong, status: 74, mentions: ["password authentication failed", "postgres://storeowner@127.0.0.1"])
        XCTAssertFalse(wrong.stderrText.contains("Wrong-Pw-456"))
        XCTAssertFalse(wrong.stderrText.contains(password))
    }

    // MARK: item 2

    func testMigrateAndStatusOnANewDatabase() throws {
        let url = try freshDatabase()
        let env: [String: String?] = ["PGPASSWORD": ProcessInfo.processInfo.environment[Self.passwordVariable], "AUTHDOCTOR_KEY": nil]
        let before = try run(["store", "status", "--db", url, "--format", "json"], environment: env)
        assertSuccess(before)
        let status = try JSON.parse(before.stdoutText)
        XCTAssertEqual(status["backend"]?.stringValue, "postgres")
        XCTAssertEqual(status["pending"]?.arrayValue?.compactMap(\.stringValue), ["v1", "v2", "v3", "v4", "v5"])
        let migrated = try run(["store", "migrate", "--db", url], environment: env)
        assertSuccess(migrated)
        XCTAssertTrue(migrated.stdoutText.contains("applied v1, v2"), migrated.stdoutText)
        let again = try run(["store", "migrate", "--db", url], environment: env)
        assertSuccess(again)
        XCTAssertTrue(again.stdoutText.contains("already up to date"), again.stdoutText)
        let after = try JSON.parse(try run(["store", "status", "--db", url, "--format", "json"], environment: env).stdoutText)
        XCTAssertEqual(after["applied"]?.arrayValue?.compactMap(\.stringValue), ["v1", "v2", "v3", "v4", "v5"])
        XCTAssertEqual(after["pending"]?.arrayValue?.count, 0)
    }

    /// SQLite → PostgreSQL → SQLite with `store copy`: every row arrives, the tokens still open
    /// with the source's key, and a destination that holds data is refused.
    func testCopyBetweenBackendsKeepsTokensSealedUnderTheSameKey() throws {
        let url = try freshDatabase()
        let env: [String: String?] = ["PGPASSWORD": ProcessInfo.processInfo.environment[Self.passwordVariable]]
        let source = directory.appendingPathComponent("source/authdoctor.sqlite").path
        let box = try SecretBox.load(environment: ["AUTHDOCTOR_KEY": Self.key], keyFile: "")
        let store = try StoreLocation.openSQLite(path: source, environment: ["AUTHDOCTOR_KEY": Self.key])
        let tokens = ProviderTokens(accessToken: "ya29.copied-" + LinkSecrets.newSecret(), refreshToken: "1//copied-" + LinkSecrets.newSecret(),
                                    expiresAt: Date(timeIntervalSince1970: 1_800_000_000.25), scopes: ["a", "b"])
        var ids: [String] = []
        for index in 0..<20 {
            let issued = try store.issueLink(client: "Client \(index)", sources: [], maxSources: nil, ttl: 3600, now: Date())
            let opened = try store.openLink(token: issued.token, now: Date())
            ids.append(try store.addConnection(sessionID: opened.session.id, provider: "google", account: "a\(index)", tokens: tokens, now: Date()).id)
            _ = try store.finishSession(id: opened.session.id, now: Date())
        }
        try store.recordVerdicts(ids.map { CheckVerdict(connection: $0, checkedAt: Date(), status: "ok", failure: "none", summary: "fine") })

        let there = try run(["store", "copy", "--from", source, "--to", url, "--format", "json"], environment: env)
        assertSuccess(there)
        let rows = try JSON.parse(there.stdoutText)["rows"]
        XCTAssertEqual(rows?["connections"]?.intValue, 20)
        XCTAssertEqual(rows?["verdicts"]?.intValue, 20)
        XCTAssertEqual(rows?["key_check"]?.intValue, 1)
        XCTAssertFalse(there.stdoutText.contains(tokens.accessToken))

        let back = directory.appendingPathComponent("back/authdoctor.sqlite").path
        assertSuccess(try run(["store", "copy", "--from", url, "--to", back], environment: env))
        let copied = try SQLiteStore(path: back, secretBox: box)
        for id in ids { XCTAssertEqual(try copied.connectionCredentials(id: id), tokens) }
        XCTAssertEqual(try copied.allConnections(), try store.allConnections())
        let onPostgres = try run(["connections", "list", "--db", url, "--format", "json"], environment: env)
        assertSuccess(onPostgres)
        XCTAssertTrue(onPostgres.stdoutText.contains(ids[0]), onPostgres.stdoutText)

        // Into a store that holds data: refused (65), nothing written.
        let refused = try run(["store", "copy", "--from", source, "--to", url], environment: env)
        assertOneLineError(refused, status: 65, mentions: ["already holds data"])
        let same = try run(["store", "copy", "--from", source, "--to", source], environment: env)
        assertOneLineError(same, status: 64, mentions: ["same store"])
    }

    // MARK: issue 17, notifications on a team store

    /// `notify add|list` on PostgreSQL, and two `check` workers that both see one connection break:
    /// the receiver hears of it once.
    func testTwoCheckWorkersOnPostgresAnnounceAChangeOnce() throws {
        let url = try freshDatabase()
        let receiver = try LoopbackServer { _ in .respond(status: 200) }
        defer { receiver.stop() }
        let db = ["--db", url, "--db-password-env", Self.passwordVariable]
        let added = try run(["notify", "add", receiver.baseURL + "/hook/PathSecret"] + db)
        XCTAssertEqual(added.status, 0, added.summary)
        let listed = try run(["notify", "list", "--format", "json"] + db)
        XCTAssertEqual(listed.status, 0, listed.summary)
        XCTAssertTrue(listed.stdoutText.contains("127.0.0.1") && !listed.stdoutText.contains("PathSecret"), listed.summary)

        let conns = try write(CLI.sandboxFacebookConnection, to: directory, "conns.yaml").path
        func check(_ token: String) throws -> ProcessResult {
            try run(["check", "--connections", conns, "--sandbox"] + db,
                    environment: ["AUTHDOCTOR_NOTIFY_SECRET": "pg-notify-secret", "FB_TOKEN": token, "FB_SECRET": "sbx-fb-app-secret"])
        }
        let healthy = try check("sbx-fb-healthy")
        XCTAssertEqual(healthy.status, 0, healthy.summary)
        XCTAssertEqual(receiver.receivedRequests.count, 0)

        // Two workers at once, each a real process.
        var environment: [String: String?] = ["AUTHDOCTOR_KEY": Self.key, "AUTHDOCTOR_PUBLIC_URL": nil, "AUTHDOCTOR_DB": nil, "PGPASSWORD": nil,
                                              "AUTHDOCTOR_NOTIFY_SECRET": "pg-notify-secret", "FB_TOKEN": "sbx-fb-expired",
                                              "FB_SECRET": "sbx-fb-app-secret"]
        environment[Self.passwordVariable] = ProcessInfo.processInfo.environment[Self.passwordVariable]
        let arguments = ["check", "--connections", conns, "--sandbox"] + db
        let processEnvironment = environment
        let folder: URL = directory
        let collected = ResultsBox<ProcessResult>(2)
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            collected.set(index, try? CLI.run(arguments, environment: processEnvironment, in: folder))
        }
        let both = collected.values.compactMap { $0 }
        XCTAssertEqual(both.count, 2)
        for result in both {
            XCTAssertEqual(result.status, 2, result.summary)
            XCTAssertFalse(result.stdoutText.contains("sbx-fb-expired") || result.stderrText.contains("PathSecret"), result.summary)
        }
        XCTAssertEqual(receiver.receivedRequests.count, 1, "one change, one announcement: \(both.map { $0.summary })")
    }
}

