import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import Links
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue 12, items 12-18: the store commands as an attacker or a careless copy would meet them.
final class StoreHardeningTests: XCTestCase {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

    var directory: URL!
    var database: String { directory.appendingPathComponent("store/authdoctor.sqlite").path }

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self)
    }

    func run(_ arguments: [String], db: String? = nil, environment: [String: String?] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        var env: [String: String?] = ["AUTHDOCTOR_KEY": Self.key, "AUTHDOCTOR_PUBLIC_URL": nil, "AUTHDOCTOR_DB": nil]
        for (name, value) in environment { env[name] = value }
        return try CLI.run(arguments + ["--db", db ?? database], environment: env, file: file, line: line)
    }

    func store(key: String = StoreHardeningTests.key, path: String? = nil) throws -> SQLiteStore {
        try StoreLocation.openSQLite(path: path ?? database, environment: ["AUTHDOCTOR_KEY": key])
    }

    /// A link opened, with one connection granted (pending) and one finished session's connection.
    @discardableResult
    func connect(_ store: SQLiteStore, client: String = "Acme Ltd", account: String = "analyst@client.example", finish: Bool = true,
                 now: Date = Date(), ttl: TimeInterval = 3600) throws -> StoredConnection {
        let issued = try store.issueLink(client: client, sources: ["google"], maxSources: nil, ttl: ttl, now: now)
        let opened = try store.openLink(token: issued.token, now: now)
        let connection = try store.addConnection(sessionID: opened.session.id, provider: "google", account: account,
                                                 tokens: ProviderTokens(accessToken: "ya29.secret-" + LinkSecrets.newSecret(), refreshToken: "1//r-" + LinkSecrets.newSecret()),
                                                 now: now)
        if finish { _ = try store.finishSession(id: opened.session.id, now: now) }
        return connection
    }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0, path)
        return info.st_mode & 0o777
    }

    // MARK: item 12: nothing from the network reaches the terminal raw

    func testListingsStripTerminalEscapesFromStoredValues() throws {
        let store = try store()
        let hostile = "evil\u{1B}[2J\u{1B}]0;pwned\u{07}\r\u{202E}moc.elgoog@x\u{9B}31m"
        let connection = try connect(store, client: "Acme \u{1B}[31mLtd", account: hostile)
        try store.recordVerdicts([CheckVerdict(connection: connection.id, checkedAt: Date(), status: "critical", failure: "revoked",
                                               summary: "provider said \u{1B}[2Jgone")])
        for command in [["connections", "list"], ["links", "list"], ["links", "show", connection.linkID], ["history"], ["history", connection.id]] {
            let result = try run(command)
            XCTAssertEqual(result.status, 0, result.summary)
            for raw in ["\u{1B}", "\u{07}", "\r", "\u{202E}", "\u{9B}"] {
                XCTAssertFalse(result.stdoutText.unicodeScalars.contains(raw.unicodeScalars.first!), "\(command): \(raw.debugDescription) printed raw")
            }
        }
        let list = try run(["connections", "list"])
        XCTAssertTrue(list.stdoutText.contains("evil?[2J"), list.stdoutText)
        // JSON escapes control characters itself.
        let json = try run(["connections", "list", "--format", "json"])
        XCTAssertFalse(json.stdoutText.contains("\u{1B}"), json.stdoutText)
        XCTAssertEqual(try JSON.parse(json.stdoutText).arrayValue?.first?["account"]?.stringValue, hostile)
    }

    // MARK: item 14: a database others can read is fixed to 0600, with a message

    func testDatabaseReadableByOthersIsSetTo0600WithAWarning() throws {
        try connect(try store())
        XCTAssertEqual(chmod(database, 0o644), 0)
        let result = try run(["links", "list"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderrText.contains("could be read by group or others"), result.summary)
        XCTAssertTrue(result.stderrText.contains("600"), result.summary)
        XCTAssertEqual(mode(database), 0o600)
        XCTAssertEqual(chmod(database, 0o640), 0)
        let issue = try run(["links", "issue", "--client", "Acme"])
        XCTAssertEqual(issue.status, 0, issue.summary)
        XCTAssertEqual(mode(database), 0o600)
        let quiet = try run(["links", "list"])
        XCTAssertEqual(quiet.stderrText, "", "no warning once it is 0600")
    }

    // MARK: item 16: read-only commands create nothing and need no key

    func testReadOnlyCommandsOnAMissingStoreCreateNothing() throws {
        let missing = directory.appendingPathComponent("missing/dir/x.sqlite").path
        for command in [["history"], ["history", "shop-ads"], ["connections", "list"], ["links", "list"], ["links", "show", "lnk_aaaaaaaaaaaa"]] {
            let result = try run(command, db: missing, environment: ["AUTHDOCTOR_KEY": nil])
            assertOneLineError(result, status: 66, mentions: [missing])
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("missing").path), "no directory was made")
    }

    func testListingACopiedDatabaseNeedsNoKeyAndWritesNone() throws {
        let original = try store()
        let connection = try connect(original)
        try original.recordVerdicts([CheckVerdict(connection: connection.id, checkedAt: Date(), status: "ok", failure: "none", summary: "fine")])
        // A copy elsewhere, without its key (checkpointed first so the copy is whole).
        let copyDirectory = directory.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copyDirectory, withIntermediateDirectories: true)
        let copy = copyDirectory.appendingPathComponent("authdoctor.sqlite").path
        let vacuum = Process()
        vacuum.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        vacuum.arguments = ["python3", "-c", "import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d); d.close()", database, copy]
        try vacuum.run()
        vacuum.waitUntilExit()
        XCTAssertEqual(vacuum.terminationStatus, 0)
        XCTAssertEqual(chmod(copy, 0o600), 0)
        let keyFile = copyDirectory.appendingPathComponent("authdoctor.key").path
        for command in [["connections", "list"], ["links", "list"], ["links", "show", connection.linkID], ["history"], ["history", connection.id]] {
            let result = try run(command, db: copy, environment: ["AUTHDOCTOR_KEY": nil])
            XCTAssertEqual(result.status, 0, result.summary)
            XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile), "\(command) wrote a key: \(result.summary)")
        }
        let list = try run(["connections", "list", "--format", "json"], db: copy, environment: ["AUTHDOCTOR_KEY": nil])
        XCTAssertEqual(try JSON.parse(list.stdoutText).arrayValue?.first?["id"]?.stringValue, connection.id)
        // Something that is not a store is said to be so.
        let notStore = directory.appendingPathComponent("plain.sqlite").path
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        make.arguments = ["python3", "-c", "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('create table t(x)')", notStore]
        try make.run()
        make.waitUntilExit()
        assertOneLineError(try run(["links", "list"], db: notStore), status: 65, mentions: ["not an authdoctor database"])
    }

    // MARK: item 17: links issue refuses what cannot be connected

    func testIssueRefusesProvidersThatCannotBeConnected() throws {
        let refused = try run(["links", "issue", "--client", "Acme", "--sources", "snowflake,google"])
        assertOneLineError(refused, status: 64, mentions: ["snowflake", "OAuth", "facebook", "google", "hubspot"])
        let postgres = try run(["links", "issue", "--client", "Acme", "--sources", "postgres"])
        assertOneLineError(postgres, status: 64, mentions: ["postgres"])
        XCTAssertEqual(try store().allLinks(), [], "nothing was issued")
        XCTAssertEqual(try run(["links", "issue", "--client", "Acme", "--sources", "google,facebook"]).status, 0)

        // Once `serve` has said what it can connect (here: only Google), the rest is refused too.
        try store().recordConnectableProviders(["google", "hubspot"], now: Date())
        let noClient = try run(["links", "issue", "--client", "Acme", "--sources", "facebook"])
        assertOneLineError(noClient, status: 64, mentions: ["facebook", "--oauth-client", "google, hubspot"])
        XCTAssertEqual(try run(["links", "issue", "--client", "Acme", "--sources", "hubspot"]).status, 0)
    }

    func testServeRecordsWhatItCanConnect() throws {
        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", database, "--quiet"], environment: ["AUTHDOCTOR_KEY": Self.key])
        serve.stop()
        let recorded = try XCTUnwrap(try store().connectableProviders())
        XCTAssertTrue(recorded.contains("google") && recorded.contains("facebook"), "\(recorded)")
        XCTAssertFalse(recorded.contains("snowflake"))
    }

    // MARK: item 13: prune

    func testPruneRemovesSpentAttemptsAndExpiredSessions() throws {
        let store = try store()
        let past = Date().addingTimeInterval(-7200)
        let stale = try connect(store, finish: false, now: past, ttl: 600)       // expired, never finished
        let kept = try connect(store, finish: true)                             // finished: stays whole
        let issued = try store.issueLink(client: "Live", sources: [], maxSources: nil, ttl: 3600, now: Date())
        let live = try store.openLink(token: issued.token, now: Date())
        for _ in 0..<3 {
            _ = try store.beginAuthorization(PendingAuthorization(sessionID: live.session.id, linkID: issued.link.id, provider: "google",
                                                                  codeVerifier: PKCE43.verifier, redirectURI: "http://127.0.0.1/oauth/callback",
                                                                  createdAt: Date().addingTimeInterval(-3600)))
        }
        let result = try run(["store", "prune", "--format", "json"])
        XCTAssertEqual(result.status, 0, result.summary)
        let report = try JSON.parse(result.stdoutText)
        XCTAssertEqual(report["authorizations"]?.intValue, 3, result.stdoutText)
        XCTAssertEqual(report["pendingConnectionsErased"]?.intValue, 1, result.stdoutText)
        XCTAssertThrowsError(try store.connectionCredentials(id: stale.id), "the never-activated tokens are erased")
        XCTAssertNoThrow(try store.connectionCredentials(id: kept.id))
        XCTAssertEqual(try store.pendingAuthorizations(sessionID: live.session.id), 0)
        let again = try run(["store", "prune"])
        XCTAssertTrue(again.stdoutText.contains("Pruned 0 OAuth attempts"), again.summary)
        assertOneLineError(try run(["store", "prune"], db: directory.appendingPathComponent("none.sqlite").path), status: 66, mentions: ["no authdoctor store"])
    }

    // MARK: item 18: rotate-key

    func testRotateKeyWithTheKeyFileReencryptsEverything() throws {
        let path = directory.appendingPathComponent("kf/authdoctor.sqlite").path
        let keyFile = directory.appendingPathComponent("kf/authdoctor.key").path
        let first = try StoreLocation.openSQLite(path: path, environment: [:])
        let connection = try connect(first)
        let before = try first.connectionCredentials(id: connection.id)
        try first.storeRenewedTokens(connectionName: "shop-ads", tokens: ProviderTokens(accessToken: "EAAB-renewed-secret"), now: Date())
        let oldKey = try String(contentsOfFile: keyFile, encoding: .utf8)

        let result = try run(["store", "rotate-key"], db: path, environment: ["AUTHDOCTOR_KEY": nil])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stdoutText.contains("Re-encrypted 2 stored values"), result.summary)
        XCTAssertFalse(result.stdoutText.contains(oldKey.trimmingCharacters(in: .whitespacesAndNewlines)))
        let newKey = try String(contentsOfFile: keyFile, encoding: .utf8)
        XCTAssertNotEqual(newKey, oldKey)
        XCTAssertEqual(mode(keyFile), 0o600)
        XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile + ".new"))
        // The store opens with the new key file and every token reads back the same.
        let reopened = try StoreLocation.openSQLite(path: path, environment: [:])
        XCTAssertEqual(try reopened.connectionCredentials(id: connection.id), before)
        XCTAssertEqual(try reopened.renewedTokens(connectionName: "shop-ads")?.accessToken, "EAAB-renewed-secret")
        // The old key opens nothing any more.
        XCTAssertThrowsError(try StoreLocation.openSQLite(path: path, environment: ["AUTHDOCTOR_KEY": oldKey]))
    }

    func testRotateKeyFromTheVariableNeedsTheNewKeyInAnother() throws {
        let store = try store()
        let connection = try connect(store)
        let before = try store.connectionCredentials(id: connection.id)
        assertOneLineError(try run(["store", "rotate-key"]), status: 64, mentions: ["--new-key-env"])
        assertOneLineError(try run(["store", "rotate-key", "--new-key-env", "NEW_KEY"], environment: ["NEW_KEY": "short"]), status: 78, mentions: ["NEW_KEY"])
        let newKey = Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString()
        let result = try run(["store", "rotate-key", "--new-key-env", "NEW_KEY"], environment: ["NEW_KEY": newKey])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertFalse(result.stdoutText.contains(newKey) || result.stderrText.contains(newKey), "the key is never printed")
        XCTAssertEqual(try self.store(key: newKey).connectionCredentials(id: connection.id), before)
        XCTAssertThrowsError(try self.store(key: Self.key), "the old key is refused by the key check")
    }
}

enum PKCE43 {
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
}
