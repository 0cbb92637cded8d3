import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
@testable import HealthCheck
import Links
import Probe
import Sandbox
import XCTest

/// A store on a file in a fresh temporary directory (real SQLite), removed after the test.
func temporaryStore(_ test: XCTestCase) throws -> (SQLiteStore, URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-check-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
    let store = try SQLiteStore(path: directory.appendingPathComponent("authdoctor.sqlite").path, secretBox: .ephemeral())
    return (store, directory)
}

/// Every byte of the database and its WAL files.
func storeBytes(_ directory: URL) throws -> Data {
    var out = Data()
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
        out += try Data(contentsOf: directory.appendingPathComponent(name))
    }
    return out
}

/// A Google connection in a connections file, served by `baseURL`.
func googleEntry(_ name: String, baseURL: String) -> String {
    """
    connections:
      - name: \(name)
        provider: google
        token-env: G_TOKEN
        refresh-token-env: G_REFRESH
        client-id: 000000000000-sandbox.apps.googleusercontent.com
        client-secret-env: G_SECRET
        base-url: {google: "\(baseURL)"}
    """
}

func googleEnvironment(_ scenario: String) -> [String: String] {
    ["G_TOKEN": "sbx-\(scenario)", "G_REFRESH": "sbx-\(scenario)-refresh", "G_SECRET": "sbx-google-client-secret"]
}

final class RenewalTests: XCTestCase {
    func renewingHarness(_ store: SQLiteStore, _ scenario: String, mode: RenewalMode = .renew) -> CheckHarness {
        var harness = CheckHarness()
        harness.options.renewal = mode
        harness.options.retries = 0
        harness.environment = googleEnvironment(scenario)
        harness.store = store
        return harness
    }

    func testRenewStoresTheTokensEncryptedAndTheNextRunUsesThem() async throws {
        let server = try SharedSandbox.server.get()
        let (store, directory) = try temporaryStore(self)
        let first = try await renewingHarness(store, "google-healthy").run(googleEntry("sales-google", baseURL: server.baseURL))
        let verdict = try XCTUnwrap(first.verdicts.first)
        XCTAssertEqual(verdict.status, .ok, verdict.summary)
        XCTAssertEqual(verdict.renewal, .renewed)
        XCTAssertTrue(verdict.summary.contains("tokens renewed and stored"), verdict.summary)

        let stored = try XCTUnwrap(try store.renewedTokens(connectionName: "sales-google"))
        XCTAssertEqual(stored.accessToken, "sbx-google-healthy")
        // Google did not rotate it: the refresh token used stays with the renewed access token.
        XCTAssertEqual(stored.refreshToken, "sbx-google-healthy-refresh")
        let expiry = try XCTUnwrap(stored.expiresAt)
        XCTAssertEqual(expiry.timeIntervalSinceNow, 3599, accuracy: 60)
        let bytes = try storeBytes(directory)
        for secret in ["sbx-google-healthy", "sbx-google-client-secret"] {
            XCTAssertNil(bytes.range(of: Data(secret.utf8)), "\(secret) in clear in the store's files")
        }

        // Next run: the variables now hold a dead grant; the renewed tokens in the store win.
        let second = try await renewingHarness(store, "google-expired", mode: .diagnose).run(googleEntry("sales-google", baseURL: server.baseURL))
        let again = try XCTUnwrap(second.verdicts.first)
        XCTAssertEqual(again.status, .ok, again.summary)
        XCTAssertTrue(again.usedRenewedTokens)
        XCTAssertTrue(again.summary.contains("renewed by an earlier run"), again.summary)
        XCTAssertNil(again.renewal)

        // The same variables without the store: the dead grant is what is diagnosed.
        var noStore = renewingHarness(store, "google-expired", mode: .diagnose)
        noStore.store = nil
        let withoutStore = try await noStore.run(googleEntry("sales-google", baseURL: server.baseURL))
        // Root cause first (issue 14): the revoked refresh token explains the expired access token.
        XCTAssertEqual(withoutStore.verdicts.first?.failure, "revoked")
    }

    func testAFailedRefreshIsReportedAsItsFindingAndStoresNothing() async throws {
        let server = try SharedSandbox.server.get()
        for (scenario, failure) in [("google-expired", "revoked"), ("google-invalid-client", "credentials")] {
            let (store, _) = try temporaryStore(self)
            var harness = renewingHarness(store, scenario)
            if scenario == "google-invalid-client" {
                harness.environment["G_SECRET"] = "sbx-google-wrong-client-secret"
            }
            let run = try await harness.run(googleEntry("c", baseURL: server.baseURL))
            let verdict = try XCTUnwrap(run.verdicts.first)
            XCTAssertEqual(verdict.failure, failure, "\(scenario): \(verdict.summary)")
            XCTAssertEqual(verdict.status, .critical, scenario)
            XCTAssertEqual(verdict.renewal, .failed, scenario)
            XCTAssertTrue(verdict.summary.contains("renewal failed, nothing stored"), verdict.summary)
            XCTAssertNil(try store.renewedTokens(connectionName: "c"), scenario)
        }
    }

    /// A Google look-alike on loopback that rotates the refresh token and counts token requests
    /// (or, `echoing`, answers with the refresh token it was sent, as some servers do).
    func rotatingGoogle(echoing: Bool = false) throws -> LoopbackServer {
        try LoopbackServer { request in
            let json = [("content-type", "application/json")]
            switch request.pathOnly {
            case "/token":
                let refresh = echoing ? "lb-refresh-old" : "lb-refresh-rotated"
                return .respond(status: 200, headers: json, body: """
                    {"access_token":"lb-access-new","refresh_token":"\(refresh)","expires_in":3600,"scope":"https://www.googleapis.com/auth/userinfo.email openid","token_type":"Bearer"}
                    """)
            case "/tokeninfo":
                return .respond(status: 200, headers: json, body: """
                    {"aud":"000000000000-sandbox.apps.googleusercontent.com","sub":"1","email":"ops@example.com","expires_in":"3000","scope":"https://www.googleapis.com/auth/userinfo.email openid"}
                    """)
            default:
                return .respond(status: 200, headers: json, body: #"{"sub":"1","email":"ops@example.com"}"#)
            }
        }
    }

    func testDryRunMakesNoTokenRequestAndRenewStoresARotatedRefreshToken() async throws {
        let google = try rotatingGoogle()
        defer { google.stop() }
        let (store, directory) = try temporaryStore(self)
        var environment = ["G_TOKEN": "lb-access-old", "G_REFRESH": "lb-refresh-old", "G_SECRET": "lb-secret"]

        var dry = renewingHarness(store, "unused", mode: .dryRun)
        dry.environment = environment
        let dryRun = try await dry.run(googleEntry("rotating", baseURL: google.baseURL))
        let skipped = try XCTUnwrap(dryRun.verdicts.first)
        XCTAssertEqual(skipped.renewal, .skipped)
        XCTAssertTrue(skipped.summary.contains("renewal skipped: --dry-run"), skipped.summary)
        XCTAssertFalse(google.receivedRequests.isEmpty, "the other steps ran")
        XCTAssertEqual(google.receivedRequests.filter { $0.pathOnly == "/token" }.count, 0, "--dry-run sent the refresh token")
        XCTAssertNil(try store.renewedTokens(connectionName: "rotating"))

        var renew = renewingHarness(store, "unused", mode: .renew)
        renew.environment = environment
        let renewed = try await renew.run(googleEntry("rotating", baseURL: google.baseURL))
        XCTAssertEqual(renewed.verdicts.first?.renewal, .renewed, renewed.verdicts.first?.summary ?? "")
        XCTAssertEqual(google.receivedRequests.filter { $0.pathOnly == "/token" }.count, 1)
        let stored = try XCTUnwrap(try store.renewedTokens(connectionName: "rotating"))
        XCTAssertEqual(stored.accessToken, "lb-access-new")
        XCTAssertEqual(stored.refreshToken, "lb-refresh-rotated")
        XCTAssertNil(try storeBytes(directory).range(of: Data("lb-refresh-rotated".utf8)))

        // The next run sends the rotated refresh token, not the variable's old one.
        environment["G_REFRESH"] = "lb-refresh-old"
        renew.environment = environment
        _ = try await renew.run(googleEntry("rotating", baseURL: google.baseURL))
        let tokenRequests = google.receivedRequests.filter { $0.pathOnly == "/token" }
        let lastBody = String(decoding: try XCTUnwrap(tokenRequests.last).body, as: UTF8.self)
        XCTAssertTrue(lastBody.contains("refresh_token=lb-refresh-rotated"), "sent the old refresh token")
    }

    /// Without --renew or --dry-run the refresh step still runs; a rotation it causes is said, not hidden.
    func testARotationWithoutRenewIsAWarningThatKeepsNothing() async throws {
        let google = try rotatingGoogle()
        defer { google.stop() }
        let (store, directory) = try temporaryStore(self)
        var harness = renewingHarness(store, "unused", mode: .diagnose)
        harness.environment = ["G_TOKEN": "lb-access-old", "G_REFRESH": "lb-refresh-old", "G_SECRET": "lb-secret"]
        let run = try await harness.run(googleEntry("rotating", baseURL: google.baseURL))
        let verdict = try XCTUnwrap(run.verdicts.first)
        XCTAssertEqual(verdict.renewal, .rotatedNotStored, verdict.summary)
        XCTAssertEqual(verdict.status, .warning, verdict.summary)
        XCTAssertTrue(verdict.summary.contains("rotated the refresh token and the new one was not kept"), verdict.summary)
        XCTAssertFalse(verdict.summary.contains("lb-refresh-rotated"), verdict.summary)
        XCTAssertNil(try store.renewedTokens(connectionName: "rotating"))
        XCTAssertNil(try storeBytes(directory).range(of: Data("lb-refresh-rotated".utf8)))

        // A server that answers with the very refresh token it was sent rotated nothing.
        let echoing = try rotatingGoogle(echoing: true)
        defer { echoing.stop() }
        let echoed = try await harness.run(googleEntry("echoing", baseURL: echoing.baseURL))
        let quiet = try XCTUnwrap(echoed.verdicts.first)
        XCTAssertNil(quiet.renewal, quiet.summary)
        XCTAssertEqual(quiet.status, .ok, quiet.summary)
    }

    func testARetryAfterARotationSendsTheRotatedRefreshToken() async throws {
        let userinfoCalls = Counter()
        let google = try LoopbackServer { request in
            let json = [("content-type", "application/json")]
            switch request.pathOnly {
            case "/token":
                let n = userinfoCalls.next(key: "token")
                return .respond(status: 200, headers: json, body: """
                    {"access_token":"lb-access-\(n)","refresh_token":"lb-refresh-\(n)","expires_in":3600,"scope":"https://www.googleapis.com/auth/userinfo.email openid"}
                    """)
            case "/tokeninfo":
                return .respond(status: 200, headers: json, body: """
                    {"aud":"x","sub":"1","email":"ops@example.com","expires_in":"3000","scope":"https://www.googleapis.com/auth/userinfo.email openid"}
                    """)
            default:
                // The first answer is an outage (transient: retried), then it works.
                if userinfoCalls.next(key: "userinfo") == 1 {
                    return .respond(status: 503, headers: json, body: #"{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}"#)
                }
                return .respond(status: 200, headers: json, body: #"{"sub":"1","email":"ops@example.com"}"#)
            }
        }
        defer { google.stop() }
        let (store, _) = try temporaryStore(self)
        var harness = renewingHarness(store, "unused")
        harness.options.retries = 2
        harness.environment = ["G_TOKEN": "lb-access-0", "G_REFRESH": "lb-refresh-0", "G_SECRET": "lb-secret"]
        let run = try await harness.run(googleEntry("retried", baseURL: google.baseURL))
        let verdict = try XCTUnwrap(run.verdicts.first)
        XCTAssertEqual(verdict.attempts, 2, verdict.summary)
        let bodies = google.receivedRequests.filter { $0.pathOnly == "/token" }.map { String(decoding: $0.body, as: UTF8.self) }
        XCTAssertEqual(bodies.count, 2)
        XCTAssertTrue(bodies[0].contains("refresh_token=lb-refresh-0"), bodies[0])
        XCTAssertTrue(bodies[1].contains("refresh_token=lb-refresh-1"), "the retry replayed a rotated-away refresh token: \(bodies[1])")
        XCTAssertEqual(try store.renewedTokens(connectionName: "retried")?.refreshToken, "lb-refresh-2")
    }

    /// A connection made through a link, holding the Sandbox's google-healthy grant.
    func storedGoogleConnection(_ store: SQLiteStore, accessExpiresAt: Date?) throws -> StoredConnection {
        let now = Date()
        let issued = try store.issueLink(client: "Acme", sources: ["google"], maxSources: nil, ttl: 3600, now: now)
        let opened = try store.openLink(token: issued.token, now: now)
        let connection = try store.addConnection(sessionID: opened.session.id, provider: "google", account: "ops@example.com",
                                                 tokens: ProviderTokens(accessToken: "sbx-google-healthy", refreshToken: "sbx-google-healthy-refresh",
                                                                        expiresAt: accessExpiresAt), now: now)
        _ = try store.finishSession(id: opened.session.id, now: now)
        return connection
    }

    func testStoredConnectionsAreCheckedByIDAndRenewedInTheirRecord() async throws {
        let server = try SharedSandbox.server.get()
        let (store, directory) = try temporaryStore(self)
        // Past its expiry: left out, the refresh step provides a fresh one for the later steps.
        let stale = try storedGoogleConnection(store, accessExpiresAt: Date().addingTimeInterval(-7200))
        let removed = try storedGoogleConnection(store, accessExpiresAt: nil)
        _ = try store.removeConnection(id: removed.id, now: Date())

        let source = StoredConnections(
            store: store, definitions: try CheckRepo.definitions.get(), engine: try CheckRepo.engine.get(),
            oauthClients: ["google": .init(clientID: "000000000000-sandbox.apps.googleusercontent.com", clientSecret: "sbx-google-client-secret")],
            sandboxURL: { _ in server.baseURL }, firstIndex: 3)
        let entries = try source.connections()
        XCTAssertEqual(entries.map(\.name), [stale.id], "only active connections")
        XCTAssertEqual(entries.first?.index, 3)
        XCTAssertEqual(entries.first?.storedConnectionID, stale.id)

        var harness = CheckHarness()
        harness.options.renewal = .renew
        harness.store = store
        let run = try await harness.run(entries: entries)
        let verdict = try XCTUnwrap(run.verdicts.first)
        XCTAssertEqual(verdict.connection, stale.id)
        XCTAssertEqual(verdict.status, .ok, verdict.summary)
        XCTAssertEqual(verdict.renewal, .renewed)
        let record = try XCTUnwrap(try store.connection(id: stale.id))
        XCTAssertNotNil(record.renewedAt)
        XCTAssertEqual(try XCTUnwrap(record.accessTokenExpiresAt).timeIntervalSinceNow, 3599, accuracy: 60)
        let tokens = try store.connectionCredentials(id: stale.id)
        XCTAssertEqual(tokens.refreshToken, "sbx-google-healthy-refresh", "the refresh token Google did not rotate is kept")
        XCTAssertNil(try storeBytes(directory).range(of: Data("sbx-google-healthy".utf8)))
    }

    func testStoredConnectionWithoutAnOAuthAppChecksItsAccessTokenOnly() async throws {
        let server = try SharedSandbox.server.get()
        let (store, _) = try temporaryStore(self)
        let connection = try storedGoogleConnection(store, accessExpiresAt: Date().addingTimeInterval(3000))
        let source = StoredConnections(store: store, definitions: try CheckRepo.definitions.get(), engine: try CheckRepo.engine.get(),
                                       sandboxURL: { _ in server.baseURL })
        var harness = CheckHarness()
        harness.options.renewal = .renew
        harness.store = store
        let run = try await harness.run(entries: try source.connections())
        let verdict = try XCTUnwrap(run.verdicts.first)
        XCTAssertEqual(verdict.connection, connection.id)
        XCTAssertEqual(verdict.status, .ok, verdict.summary)
        XCTAssertNil(verdict.renewal, "no exchange ran, nothing to say")
        XCTAssertNil(try store.connection(id: connection.id)?.renewedAt)
    }
}

final class HistoryTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_790_000_000)

    func verdict(_ name: String, _ hour: Int, _ status: String) -> CheckVerdict {
        CheckVerdict(connection: name, checkedAt: t0.addingTimeInterval(Double(hour) * 3600), status: status,
                     failure: status == "ok" ? "none" : "expiry", summary: "run \(hour)")
    }

    func testLastPassedFailingSinceAndFlappingFromTheStore() throws {
        let (store, _) = try temporaryStore(self)
        // steady: ok ok ok critical critical critical (oldest first)
        let steady = ["ok", "ok", "ok", "critical", "warning", "critical"]
        // flapping: ok critical ok critical ok critical ok ok
        let flapping = ["ok", "critical", "ok", "critical", "ok", "critical", "ok", "ok"]
        try store.recordVerdicts(steady.enumerated().map { verdict("steady", $0.offset, $0.element) })
        try store.recordVerdicts(flapping.enumerated().map { verdict("flappy", $0.offset, $0.element) })

        let s = ConnectionHistory(connection: "steady", verdicts: try store.verdicts(connection: "steady", limit: 100))
        XCTAssertEqual(s.verdicts.map(\.summary), (0..<6).reversed().map { "run \($0)" }, "newest first")
        XCTAssertEqual(s.lastPassed, t0.addingTimeInterval(2 * 3600))
        XCTAssertEqual(s.failingSince, t0.addingTimeInterval(3 * 3600), "the oldest of the current non-ok streak")
        XCTAssertEqual(s.recentChanges, 3)
        XCTAssertFalse(s.flapping)

        let f = ConnectionHistory(connection: "flappy", verdicts: try store.verdicts(connection: "flappy", limit: 100))
        XCTAssertEqual(f.recentChanges, 6)
        XCTAssertTrue(f.flapping)
        XCTAssertNil(f.failingSince, "passing now")
        XCTAssertEqual(f.lastPassed, t0.addingTimeInterval(7 * 3600))

        // Changes older than the window do not count: 10 steady oks after the flapping.
        try store.recordVerdicts((8..<18).map { verdict("flappy", $0, "ok") })
        let calm = ConnectionHistory(connection: "flappy", verdicts: try store.verdicts(connection: "flappy", limit: 100))
        XCTAssertEqual(calm.recentChanges, 0)
        XCTAssertFalse(calm.flapping)

        // Exactly the threshold: 4 changes among the last 10.
        try store.recordVerdicts(["critical", "ok", "critical", "ok"].enumerated().map { verdict("flappy", 18 + $0.offset, $0.element) })
        let edge = ConnectionHistory(connection: "flappy", verdicts: try store.verdicts(connection: "flappy", limit: 100))
        XCTAssertEqual(edge.recentChanges, 4)
        XCTAssertTrue(edge.flapping)

        let never = ConnectionHistory(connection: "n", verdicts: [verdict("n", 1, "critical"), verdict("n", 0, "unknown")])
        XCTAssertNil(never.lastPassed)
        XCTAssertEqual(never.failingSince, t0)

        let overview = try store.recentVerdicts(perConnection: ConnectionHistory.flapWindow)
        XCTAssertEqual(overview.keys.sorted(), ["flappy", "steady"])
        XCTAssertEqual(overview["flappy"]?.count, 10)
        XCTAssertEqual(overview["flappy"]?.first?.summary, "run 21")
        XCTAssertEqual(overview["steady"]?.first?.status, "critical")
    }

    func testTheHistorySinkRecordsEveryVerdictOfARun() async throws {
        let server = try SharedSandbox.server.get()
        let (store, _) = try temporaryStore(self)
        var harness = CheckHarness()
        harness.environment = sandboxEnvironment
        harness.options.retries = 0
        let history = CheckHistory(store: store)
        let yaml = """
            connections:
              - name: fb-healthy
                provider: facebook
                token-env: FB_HEALTHY
                base-url: {facebook: "\(server.baseURL)"}
              - name: fb-expired
                provider: facebook
                token-env: FB_EXPIRED
                base-url: {facebook: "\(server.baseURL)"}
              - name: broken
                provider: nosuch
            """
        let run = try await harness.run(yaml, sinks: [history])
        XCTAssertNil(history.failure)
        for verdict in run.verdicts {
            let recorded = try store.verdicts(connection: verdict.connection, limit: 5)
            XCTAssertEqual(recorded.count, 1, verdict.connection)
            XCTAssertEqual(recorded.first?.status, verdict.status.name)
            XCTAssertEqual(recorded.first?.failure, verdict.failure)
            XCTAssertEqual(recorded.first?.summary, verdict.summary)
        }
        XCTAssertEqual(try store.verdicts(connection: "fb-expired", limit: 1).first?.status, "critical")
        XCTAssertEqual(try store.verdicts(connection: "broken", limit: 1).first?.failure, "bad-entry")
    }
}

/// Numbers calls per key (1, 2, ...) across the loopback server's threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    func next(key: String) -> Int {
        lock.withLock {
            counts[key, default: 0] += 1
            return counts[key]!
        }
    }
}
