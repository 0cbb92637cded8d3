import EvidenceModel
import Foundation
@testable import Links
import XCTest

/// The PostgreSQL test server `make test` starts (scripts/pg-test-server.sh): role `storeowner`
/// (CREATEDB) and its database `authdoctor_store`. Each test gets a database of its own, dropped after.
enum PostgresTestServer {
    static let passwordVariable = "AUTHDOCTOR_PG_TEST_STORE_PASSWORD"

    static var port: Int? {
        ProcessInfo.processInfo.environment["AUTHDOCTOR_PG_TEST_PORT"].flatMap { Int($0) }
    }

    static func url(database: String) throws -> String {
        guard let port, ProcessInfo.processInfo.environment[passwordVariable] != nil else {
            throw XCTSkip("no PostgreSQL test server: run `make test`, or `eval \"$(scripts/pg-test-server.sh start)\"` and export "
                          + "AUTHDOCTOR_PG_TEST_PORT=$PGTEST_PORT \(passwordVariable)=$PGTEST_STORE_PASSWORD")
        }
        return "postgres://storeowner@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    static func location(database: String) throws -> PostgresLocation {
        try PostgresLocation(url: try url(database: database), passwordVariable: passwordVariable)
    }

    /// A new empty database for `test`, dropped (connections and all) at its end.
    static func freshDatabase(_ test: XCTestCase) throws -> PostgresLocation {
        let admin = try location(database: "authdoctor_store")
        let name = "t_" + LinkSecrets.newID(prefix: "")
        let connection = try PGConnection.connect(admin.parameters)
        try connection.exec("CREATE DATABASE \(name)")
        test.addTeardownBlock {
            if let c = try? PGConnection.connect(admin.parameters) { _ = try? c.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        }
        return try location(database: name)
    }
}

/// The conformance suite (every test of `StoreConformanceTests`) on the real PostgreSQL.
final class PostgresStoreConformanceTests: StoreConformanceTests {
    override func makeStore(box: SecretBox = .ephemeral()) throws -> any AuthDoctorStore {
        try PostgresStore(location: try PostgresTestServer.freshDatabase(self), secretBox: box)
    }

    override func makeSharedStores(_ count: Int, box: SecretBox = .ephemeral()) throws -> [any AuthDoctorStore] {
        let location = try PostgresTestServer.freshDatabase(self)
        return try (0..<max(1, count)).map { _ in try PostgresStore(location: location, secretBox: box) }
    }

    // XCTest on Linux discovers only the test methods a class declares, not inherited ones: every
    // test of the suite is named here once more (a new test in StoreConformanceTests goes here too).
    override func testIssuedLinkHasAStrongTokenAndAPublicID() throws { try super.testIssuedLinkHasAStrongTokenAndAPublicID() }
    override func testNonPositiveTTLIsAUsageError() throws { try super.testNonPositiveTTLIsAUsageError() }
    override func testAllLinksNewestFirst() throws { try super.testAllLinksNewestFirst() }
    override func testStateFollowsTheLifecycle() throws { try super.testStateFollowsTheLifecycle() }
    override func testOpenIsSingleUse() throws { try super.testOpenIsSingleUse() }
    override func testOpenRefusesExpiredRevokedAndFinishedLinks() throws { try super.testOpenRefusesExpiredRevokedAndFinishedLinks() }
    override func testRevokeIsIdempotentAndUnknownIDIsRefused() throws { try super.testRevokeIsIdempotentAndUnknownIDIsRefused() }
    override func testSessionNeedsTheRightCookieAndALiveLink() throws { try super.testSessionNeedsTheRightCookieAndALiveLink() }
    override func testAuthorizationStateIsConsumedOnce() throws { try super.testAuthorizationStateIsConsumedOnce() }
    override func testStaleStateIsSpentAndRefused() throws { try super.testStaleStateIsSpentAndRefused() }
    override func testBeginAuthorizationChecksTheSessionProviderAndLimit() throws { try super.testBeginAuthorizationChecksTheSessionProviderAndLimit() }
    override func testAddConnectionIsPendingUntilFinish() throws { try super.testAddConnectionIsPendingUntilFinish() }
    override func testEmptySourcesAllowAnyProvider() throws { try super.testEmptySourcesAllowAnyProvider() }
    override func testPlanLimitCountsTheSessionsLiveConnections() throws { try super.testPlanLimitCountsTheSessionsLiveConnections() }
    override func testFinishActivatesOnlyThatSessionsPendingConnections() throws { try super.testFinishActivatesOnlyThatSessionsPendingConnections() }
    override func testSessionFinishedAfterExpiryActivatesNothing() throws { try super.testSessionFinishedAfterExpiryActivatesNothing() }
    override func testUnfinishedSessionActivatesNothing() throws { try super.testUnfinishedSessionActivatesNothing() }
    override func testRevokedLinkCannotFinish() throws { try super.testRevokedLinkCannotFinish() }
    override func testRemoveConnectionKeepsTheRecordAndErasesTheTokens() throws { try super.testRemoveConnectionKeepsTheRecordAndErasesTheTokens() }
    override func testAllConnectionsNewestFirst() throws { try super.testAllConnectionsNewestFirst() }
    override func testRenewedTokensOfAStoredConnection() throws { try super.testRenewedTokensOfAStoredConnection() }
    override func testVerdictsNewestFirstWithLimit() throws { try super.testVerdictsNewestFirstWithLimit() }
    override func testCheckHistoryVersionChangesWithEveryRecordedVerdict() throws { try super.testCheckHistoryVersionChangesWithEveryRecordedVerdict() }
    override func testConnectionsVersionChangesWhenAConnectionIsAddedActivatedOrRemoved() throws {
        try super.testConnectionsVersionChangesWhenAConnectionIsAddedActivatedOrRemoved()
    }
    override func testRenewedTokensByConnectionName() throws { try super.testRenewedTokensByConnectionName() }
    override func testFiftyConcurrentOpensMakeExactlyOneSession() throws { try super.testFiftyConcurrentOpensMakeExactlyOneSession() }
    override func testVerdictsKeepProviderDurationAndExpiry() throws { try super.testVerdictsKeepProviderDurationAndExpiry() }
    override func testConcurrentConnectionsRespectThePlanLimit() throws { try super.testConcurrentConnectionsRespectThePlanLimit() }
    override func testConcurrentFinishesActivateOnce() throws { try super.testConcurrentFinishesActivateOnce() }
    override func testPruneRemovesSpentAttemptsAndDeadSessions() throws { try super.testPruneRemovesSpentAttemptsAndDeadSessions() }
    override func testRotateKeyReencryptsEverySealedValue() throws { try super.testRotateKeyReencryptsEverySealedValue() }
    override func testConnectableProvidersAndRecentVerdicts() throws { try super.testConnectableProvidersAndRecentVerdicts() }
    override func testMigrationsAreAppliedOnceAndListed() throws { try super.testMigrationsAreAppliedOnceAndListed() }
    override func testExportedRowsImportIntoAnEmptyStore() throws { try super.testExportedRowsImportIntoAnEmptyStore() }
    override func testConstantTimeEquality() { super.testConstantTimeEquality() }
    override func testOperatorTokenIsShownOnceAndKeptAsItsDigest() throws { try super.testOperatorTokenIsShownOnceAndKeptAsItsDigest() }
    override func testOperatorTokensAuthenticateAndRecordTheirLastUse() throws { try super.testOperatorTokensAuthenticateAndRecordTheirLastUse() }
    override func testOperatorNamesAreCheckedAndNeverReused() throws { try super.testOperatorNamesAreCheckedAndNeverReused() }
    override func testRemovedOperatorsTokenStopsWorkingAndItsAuditStays() throws { try super.testRemovedOperatorsTokenStopsWorkingAndItsAuditStays() }
    override func testAuditEntriesOldestFirstFilteredByTimeAndOperator() throws { try super.testAuditEntriesOldestFirstFilteredByTimeAndOperator() }
    override func testVerdictsAfterAnIDComeInIDOrder() throws { try super.testVerdictsAfterAnIDComeInIDOrder() }
    override func testNotifyURLsRoundTripInOrder() throws { try super.testNotifyURLsRoundTripInOrder() }
    override func testConcurrentAddsOfNotifyURLsAllLand() throws { try super.testConcurrentAddsOfNotifyURLsAllLand() }
    override func testANotificationIsClaimedExactlyOncePerChange() throws { try super.testANotificationIsClaimedExactlyOncePerChange() }
}

/// What only PostgreSQL has: URLs, passwords, migrations under a lock, the key check across instances.
final class PostgresStoreTests: XCTestCase {
    /// Every conformance test also runs on PostgreSQL: each is re-declared in the subclass (Linux
    /// XCTest does not discover inherited tests), so a test added to the suite alone fails here.
    func testEveryConformanceTestIsDeclaredForPostgres() throws {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let suite = try String(contentsOf: here.appendingPathComponent("StoreConformanceTests.swift"), encoding: .utf8)
        let base = try XCTUnwrap(suite.components(separatedBy: "final class SQLiteStoreTests").first)
        let names = base.components(separatedBy: "\n    func test").dropFirst().map { $0.prefix(while: { $0 != "(" }) }
        XCTAssertGreaterThan(names.count, 25)
        let mine = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        for name in names {
            XCTAssertTrue(mine.contains("override func test\(name)()"), "test\(name) is not declared in PostgresStoreConformanceTests")
        }
    }

    func testStoreTargetsAreParsedOrRefused() throws {
        XCTAssertEqual(try StoreTarget.parse("data/authdoctor.sqlite"), .sqlite(path: "data/authdoctor.sqlite"))
        XCTAssertEqual(try StoreTarget.parse(":memory:"), .sqlite(path: ":memory:"))
        guard case let .postgres(location) = try StoreTarget.parse("postgres://team@db.example:6432/authdoctor?sslmode=verify-full") else {
            return XCTFail("a postgres:// URL is PostgreSQL")
        }
        XCTAssertEqual(location.display, "postgres://team@db.example:6432/authdoctor")
        guard case .postgres = try StoreTarget.parse("postgresql://team@db.example/authdoctor") else { return XCTFail("postgresql:// too") }
        for bad in ["mysql://root@db/x", "http://127.0.0.1/store", "postgres:authdoctor", "postgres:/x", ""] {
            _ = assertInputError(.usage, try StoreTarget.parse(bad))
        }
        _ = assertInputError(.usage, try StoreTarget.parse("postgres://u@h:notaport/db?sslmode=disable&bogus=1"))
        _ = assertInputError(.usage, try StoreTarget.parse("file.sqlite", passwordVariable: "X", environment: ["X": "y"]))
    }

    func testAPasswordInTheURLIsRefusedWithoutEchoingIt() throws {
        for url in ["postgres://team:Sup3rSecretPw@db.example/authdoctor", "postgres://team@db.example/authdoctor?password=Sup3rSecretPw"] {
            let error = assertInputError(.usage, mentions: ["PGPASSWORD"], try StoreTarget.parse(url))
            XCTAssertFalse(error?.description.contains("Sup3rSecretPw") ?? true, error?.description ?? "")
        }
        _ = assertInputError(.usage, mentions: ["NOPE"], try StoreTarget.parse("postgres://u@h/db", passwordVariable: "NOPE", environment: [:]))
    }

    func testAWrongPasswordIsUnavailableAndNeverEchoed() throws {
        let url = try PostgresTestServer.url(database: "authdoctor_store")
        let location = try PostgresLocation(url: url, passwordVariable: "P", environment: ["P": "wrong-Pa55word-XYZ"])
        XCTAssertThrowsError(try PostgresStore(location: location, secretBox: .ephemeral())) { error in
            guard let failure = error as? PostgresStoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(failure.isUnavailable)
            XCTAssertTrue(failure.description.contains("password authentication failed"), failure.description)
            XCTAssertFalse(failure.description.contains("wrong-Pa55word-XYZ"))
        }
    }

    /// Three instances starting at once on an empty database: the migrations run once.
    func testConcurrentFirstStartsMigrateOnce() throws {
        let location = try PostgresTestServer.freshDatabase(self)
        let box = SecretBox.ephemeral()
        let outcomes = Locked<[Error?]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            do { _ = try PostgresStore(location: location, secretBox: box); outcomes.withLock { $0.append(nil) } } catch {
                outcomes.withLock { $0.append(error) }
            }
        }
        XCTAssertEqual(outcomes.withLock { $0.compactMap { $0.map { "\($0)" } } }, [])
        let store = try PostgresStore(location: location, secretBox: box, migrating: false)
        XCTAssertEqual(try store.schemaStatus().applied, ["v1", "v2", "v3", "v4", "v5"])
    }

    func testAnotherKeyIsRefusedAtOpen() throws {
        let location = try PostgresTestServer.freshDatabase(self)
        _ = try PostgresStore(location: location, secretBox: .ephemeral())
        XCTAssertThrowsError(try PostgresStore(location: location, secretBox: .ephemeral())) {
            XCTAssertEqual($0 as? StoreError, .cannotDecrypt)
        }
    }

    func testANewerSchemaIsRefused() throws {
        let location = try PostgresTestServer.freshDatabase(self)
        let store = try PostgresStore(location: location, secretBox: .ephemeral())
        try store.read { c in try c.exec("INSERT INTO authdoctor_migrations (identifier, applied_at) VALUES ('v99', 0)") }
        XCTAssertThrowsError(try PostgresStore(location: location, secretBox: .ephemeral(), checkingKey: false)) {
            guard case StoreOpeningError.newerSchema = $0 else { return XCTFail("\($0)") }
        }
    }

    /// The frozen schema: what v1 to v4 made, table by table and column by column.
    func testFrozenMigrationsMirrorSQLite() throws {
        let store = try PostgresStore(location: try PostgresTestServer.freshDatabase(self), secretBox: .ephemeral())
        for table in StoreTables.all {
            let columns = try store.read { c in
                try c.exec("SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
                           [.text(table.name)]).all.map { $0.string(0) }
            }
            XCTAssertEqual(columns, table.columns, table.name)
        }
    }

    /// SQLite → PostgreSQL → SQLite: sealed tokens move as they are and open with the same key.
    func testRowsMoveBetweenBackendsUnderTheSameKey() throws {
        let box = SecretBox.ephemeral()
        let sqlite = try SQLiteStore.inMemory(secretBox: box)
        let issued = try sqlite.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 1000, now: t0)
        let session = try sqlite.openLink(token: issued.token, now: at(1))
        let tokens = ProviderTokens(accessToken: "moved-access", refreshToken: "moved-refresh", expiresAt: at(99), scopes: ["a", "b"])
        let connection = try sqlite.addConnection(sessionID: session.session.id, provider: "google", account: "x", tokens: tokens, now: at(2))
        _ = try sqlite.finishSession(id: session.session.id, now: at(3))
        try sqlite.recordVerdicts((0..<3).map { CheckVerdict(connection: "c", checkedAt: at(Double($0) + 0.125), status: "ok", failure: "none", summary: "\($0)") })
        let alice = try sqlite.addOperator(name: "alice", now: at(4))
        for n in 0..<2 { try sqlite.recordAudit(AuditEntry(at: at(5 + Double(n)), actor: "alice", method: "GET", route: "/api/links", status: 200)) }

        let location = try PostgresTestServer.freshDatabase(self)
        let postgres = try PostgresStore(location: location, secretBox: .ephemeral(), checkingKey: false)
        try postgres.importRows(try StoreTables.all.map { ($0, try sqlite.exportRows($0)) })
        let opened = try PostgresStore(location: location, secretBox: box)
        XCTAssertEqual(try opened.connectionCredentials(id: connection.id), tokens)
        XCTAssertEqual(try opened.allLinks(), try sqlite.allLinks())
        XCTAssertEqual(try opened.verdicts(connection: "c", limit: 9), try sqlite.verdicts(connection: "c", limit: 9))
        try opened.recordVerdicts([CheckVerdict(connection: "c", checkedAt: at(9), status: "ok", failure: "none", summary: "after the copy")])
        XCTAssertEqual(try opened.authenticateOperator(token: alice.token, now: at(9))?.name, "alice")
        // The audit sequence follows the copied ids: the next entry does not collide.
        try opened.recordAudit(AuditEntry(at: at(10), actor: "alice", method: "GET", route: "/api/connections", status: 200))
        for table in StoreTables.all {
            XCTAssertEqual(try opened.exportRows(table).count,
                           try sqlite.exportRows(table).count + (table.name == "verdicts" || table.name == "audit" ? 1 : 0), table.name)
        }
    }
}
