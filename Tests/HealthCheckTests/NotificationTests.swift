import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import HealthCheck
import Links
import Probe
import RuleEngine
import XCTest

/// Issue 17, notifications: real check runs against the Sandbox with the store's history, and a
/// real loopback HTTP receiver that records every POST.
final class NotificationTests: XCTestCase {
    static let secret = "notify-secret-7f3a9c0e5b21"
    static let connectionName = "shop-fb"

    /// One Facebook connection whose token (and so its state) each run picks.
    func connections(baseURL: String) -> String {
        """
        connections:
          - name: \(Self.connectionName)
            provider: facebook
            token-env: FB_TOKEN
            client-id: "5550001112223"
            client-secret-env: FB_SECRET
            base-url: {facebook: "\(baseURL)"}
        """
    }

    /// A check run of the connection with `token`, history and notifications on; returns the run
    /// and what the notifier says about each delivery.
    func check(token: String, store: SQLiteStore, configuration: NotifyConfiguration) async throws -> (CheckRun, [NotificationOutcome]) {
        let sandbox = try SharedSandbox.server.get()
        var harness = CheckHarness()
        harness.store = store
        harness.options.retries = 0
        harness.environment = ["FB_TOKEN": token, "FB_SECRET": "sbx-fb-app-secret"]
        let transport = try XCTUnwrap(ProbeEngine(connections: 8, evidenceLines: false))
        defer { transport.shutdown() }
        let notifier = CheckNotifier(configuration: configuration, store: store, claims: store, transport: transport)
        let run = try await harness.run(connections(baseURL: sandbox.baseURL), sinks: [CheckHistory(store: store), notifier])
        let outcomes = await notifier.settle()
        return (run, outcomes)
    }

    func configuration(_ url: String, retries: Int = 3) -> NotifyConfiguration {
        NotifyConfiguration(urls: [url], secret: Self.secret, consoleURL: "https://console.example.test/", retries: retries, backoff: 0.05,
                            maxBackoff: 0.2, timeout: 2)
    }

    /// HMAC-SHA256 by OpenSSL's command line: an implementation independent of the one under test.
    func opensslHMAC(_ body: [UInt8], key: String) throws -> String {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), ["dgst", "-sha256", "-hmac", key],
                                           stdin: Data(body), environment: [:], timeout: 30)
        XCTAssertEqual(result.status, 0, result.summary)
        return String(result.stdoutText.split(whereSeparator: { $0 == " " || $0 == "\n" }).last ?? "")
    }

    func json(_ request: LoopbackRequest) throws -> JSONValue {
        try JSON.parse(request.body)
    }

    func assertNoSecrets(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        for secret in [Self.secret, "sbx-fb-expired", "sbx-fb-healthy", "sbx-fb-app-secret"] {
            XCTAssertFalse(text.contains(secret), "\(secret) leaked: \(text)", file: file, line: line)
        }
    }

    func testAStateChangeSendsExactlyOneSignedPOST() async throws {
        let receiver = try LoopbackServer { _ in .respond(status: 204) }
        defer { receiver.stop() }
        let store = try SQLiteStore.inMemory()
        let config = configuration(receiver.baseURL + "/hooks/authdoctor")

        let (first, firstOutcomes) = try await check(token: "sbx-fb-healthy", store: store, configuration: config)
        XCTAssertEqual(first.exitStatus, 0)
        XCTAssertTrue(firstOutcomes.isEmpty, "a first verdict that is ok is no news")
        XCTAssertEqual(receiver.receivedRequests.count, 0)

        let (second, outcomes) = try await check(token: "sbx-fb-expired", store: store, configuration: config)
        XCTAssertEqual(second.exitStatus, 2)
        XCTAssertEqual(outcomes.count, 1)
        XCTAssertEqual(outcomes.first?.delivered, true)
        XCTAssertEqual(outcomes.first?.attempts, 1)
        let requests = receiver.receivedRequests
        XCTAssertEqual(requests.count, 1, "exactly one POST for one change")
        let request = try XCTUnwrap(requests.first)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.pathOnly, "/hooks/authdoctor")
        XCTAssertEqual(request.header("Content-Type"), "application/json")

        // The signature is the HMAC-SHA256 of the exact body under the secret, checked by OpenSSL.
        let signature = try XCTUnwrap(request.header("X-Authdoctor-Signature"))
        XCTAssertEqual(signature, "sha256=" + (try opensslHMAC(request.body, key: Self.secret)))
        XCTAssertNotEqual(signature, "sha256=" + (try opensslHMAC(request.body, key: "another-secret")))
        var tampered = request.body
        tampered[tampered.count / 2] ^= 0x01
        XCTAssertFalse(WebhookSignature.verify(body: tampered, secret: Self.secret, signature: signature))
        XCTAssertTrue(WebhookSignature.verify(body: request.body, secret: Self.secret, signature: signature))

        let body = try json(request)
        XCTAssertEqual(body["schema"], .string("authdoctor.notification/v1"))
        XCTAssertEqual(body["connection"], .string(Self.connectionName))
        XCTAssertEqual(body["provider"], .string("facebook"))
        XCTAssertEqual(body["oldStatus"], .string("ok"))
        XCTAssertEqual(body["newStatus"], .string("critical"))
        XCTAssertEqual(body["oldFailure"], .string("none"))
        XCTAssertEqual(body["failure"], .string("expiry"))
        XCTAssertEqual(body["client"], .null)
        XCTAssertEqual(body["consoleURL"], .string("https://console.example.test/console/connections/shop-fb"))
        guard case let .string(summary)? = body["summary"], case let .string(message)? = body["clientMessage"],
              case let .string(text)? = body["text"] else { return XCTFail("summary, clientMessage, text: \(body)") }
        XCTAssertFalse(summary.isEmpty)
        XCTAssertFalse(message.isEmpty)
        XCTAssertTrue(text.contains("shop-fb (facebook) OK → CRITICAL [expiry]"), text)
        XCTAssertTrue(text.contains(summary), text)
        let raw = String(decoding: request.body, as: UTF8.self)
        assertNoSecrets(raw + request.headers.map { $0.name + ": " + $0.value }.joined(separator: "\n"))
    }

    func testNoChangeSendsNothingAndRecoverySendsOne() async throws {
        let receiver = try LoopbackServer { _ in .respond(status: 200, body: "ok") }
        defer { receiver.stop() }
        let store = try SQLiteStore.inMemory()
        let config = configuration(receiver.baseURL + "/hook")

        _ = try await check(token: "sbx-fb-expired", store: store, configuration: config)
        XCTAssertEqual(receiver.receivedRequests.count, 1, "a first verdict that fails is news")
        XCTAssertEqual(try json(XCTUnwrap(receiver.receivedRequests.first))["oldStatus"], .null)

        let (_, again) = try await check(token: "sbx-fb-expired", store: store, configuration: config)
        XCTAssertTrue(again.isEmpty)
        XCTAssertEqual(receiver.receivedRequests.count, 1, "the same state again is no news")

        let (healed, back) = try await check(token: "sbx-fb-healthy", store: store, configuration: config)
        XCTAssertEqual(healed.exitStatus, 0)
        XCTAssertEqual(back.map(\.delivered), [true])
        XCTAssertEqual(receiver.receivedRequests.count, 2)
        let recovery = try json(XCTUnwrap(receiver.receivedRequests.last))
        XCTAssertEqual(recovery["oldStatus"], .string("critical"))
        XCTAssertEqual(recovery["newStatus"], .string("ok"))

        _ = try await check(token: "sbx-fb-healthy", store: store, configuration: config)
        XCTAssertEqual(receiver.receivedRequests.count, 2, "ok again is no news")
    }

    func testANewFailureClassIsAChange() throws {
        let before = CheckVerdict(connection: "c", checkedAt: Date(timeIntervalSince1970: 1), status: "critical", failure: "expiry", summary: "s")
        let same = ConnectionVerdict(index: 0, connection: "c", provider: nil, status: .critical, failure: "expiry", summary: "s")
        let other = ConnectionVerdict(index: 0, connection: "c", provider: nil, status: .critical, failure: "revoked", summary: "s")
        let warning = ConnectionVerdict(index: 0, connection: "c", provider: nil, status: .warning, failure: "outage", summary: "s")
        XCTAssertFalse(StateChange.isChange(previous: before, current: same))
        XCTAssertTrue(StateChange.isChange(previous: before, current: other))
        XCTAssertTrue(StateChange.isChange(previous: before, current: warning))
        XCTAssertNotEqual(StateChange.key(previous: before, current: same), StateChange.key(previous: before, current: other))
    }

    func testA500IsRetriedThenDelivered() async throws {
        let calls = Counter()
        let receiver = try LoopbackServer { _ in calls.next(key: "hook") == 1 ? .respond(status: 500, body: "busy") : .respond(status: 200) }
        defer { receiver.stop() }
        let store = try SQLiteStore.inMemory()
        let (run, outcomes) = try await check(token: "sbx-fb-expired", store: store, configuration: configuration(receiver.baseURL + "/hook"))
        XCTAssertEqual(run.exitStatus, 2)
        XCTAssertEqual(outcomes.count, 1)
        XCTAssertEqual(outcomes.first?.delivered, true)
        XCTAssertEqual(outcomes.first?.attempts, 2)
        let requests = receiver.receivedRequests
        XCTAssertEqual(requests.count, 2)
        XCTAssertEqual(requests.first?.body, requests.last?.body, "a retry sends the same document")
        XCTAssertEqual(requests.first?.header("X-Authdoctor-Signature"), requests.last?.header("X-Authdoctor-Signature"))
    }

    func testA4xxOtherThan408Or429IsNotRetried() async throws {
        let receiver = try LoopbackServer { _ in .respond(status: 404, body: "no such hook") }
        defer { receiver.stop() }
        let store = try SQLiteStore.inMemory()
        let (run, outcomes) = try await check(token: "sbx-fb-expired", store: store, configuration: configuration(receiver.baseURL + "/hook"))
        XCTAssertEqual(run.exitStatus, 2)
        XCTAssertEqual(receiver.receivedRequests.count, 1)
        XCTAssertEqual(outcomes.first?.delivered, false)
        XCTAssertEqual(outcomes.first?.problem, "HTTP 404")
    }

    func testA429IsRetriedUpToTheBound() async throws {
        let receiver = try LoopbackServer { _ in .respond(status: 429, headers: [("Retry-After", "0")], body: "slow down") }
        defer { receiver.stop() }
        let store = try SQLiteStore.inMemory()
        let (_, outcomes) = try await check(token: "sbx-fb-expired", store: store,
                                            configuration: configuration(receiver.baseURL + "/hook", retries: 2))
        XCTAssertEqual(receiver.receivedRequests.count, 3, "1 + 2 retries, no more")
        XCTAssertEqual(outcomes.first?.delivered, false)
        XCTAssertEqual(outcomes.first?.attempts, 3)
    }

    func testAReceiverThatIsDownNeverFailsTheRunAndIsSaid() async throws {
        let url = "http://127.0.0.1:\(LoopbackServer.unusedPort())/services/T0/B0/\(Self.secret)-path"
        let store = try SQLiteStore.inMemory()
        let (run, outcomes) = try await check(token: "sbx-fb-expired", store: store, configuration: configuration(url, retries: 1))
        XCTAssertEqual(run.exitStatus, 2, "the check's own status")
        XCTAssertEqual(run.verdicts.first?.failure, "expiry")
        let outcome = try XCTUnwrap(outcomes.first)
        XCTAssertFalse(outcome.delivered)
        XCTAssertEqual(outcome.attempts, 2)
        XCTAssertTrue(outcome.problem?.contains("CURLE_COULDNT_CONNECT") == true, outcome.problem ?? "nil")
        XCTAssertTrue(outcome.warning.contains("was not delivered"), outcome.warning)
        XCTAssertFalse(outcome.warning.contains("/services"), "the webhook's path is not shown: \(outcome.warning)")
        assertNoSecrets(outcome.warning)
        // The verdicts were still recorded.
        XCTAssertEqual(try store.verdicts(connection: Self.connectionName, limit: 5).count, 1)
    }

    func testAStoredConnectionsChangeNamesItsClientAndTheIssuedLink() async throws {
        let receiver = try LoopbackServer { _ in .respond(status: 200) }
        defer { receiver.stop() }
        let store = try SQLiteStore.inMemory()
        let now = Date()
        let issued = try store.issueLink(client: "Acme Retail", sources: ["google"], maxSources: nil, ttl: 3600, now: now)
        let opened = try store.openLink(token: issued.token, now: now)
        let connection = try store.addConnection(sessionID: opened.session.id, provider: "google", account: "ops@example.com",
                                                 tokens: ProviderTokens(accessToken: "ya29.FAKE-stored-access-token"), now: now)
        _ = try store.finishSession(id: opened.session.id, now: now)
        try store.recordVerdicts([CheckVerdict(connection: connection.id, checkedAt: now.addingTimeInterval(-3600), status: "ok",
                                               failure: "none", summary: "healthy")])

        var finding = Finding(rule: "google.oauth.invalid-grant", category: "api-token", failure: "revoked", severity: "error",
                              confidence: 0.9, summary: "The refresh token was revoked (invalid_grant).", actor: "client",
                              transient: false, evidence: [], remediation: [])
        let linkURL = "https://links.example.test/l/new-link-token-for-client"
        finding.link = FindingLink(id: "lnk_new", url: linkURL, expiresAt: now.addingTimeInterval(86_400))
        let report = Report(id: nil, inputKind: "diagnosis", source: nil, provider: "google", providerDetected: false, httpStatus: 400,
                            evidenceShowsFailure: true, findings: [finding])
        let verdict = ConnectionVerdict(index: 0, connection: connection.id, provider: "google", status: .critical, failure: "revoked",
                                        summary: finding.summary, report: report)
        let transport = try XCTUnwrap(ProbeEngine(connections: 8, evidenceLines: false))
        defer { transport.shutdown() }
        let notifier = CheckNotifier(configuration: configuration(receiver.baseURL + "/hook"), store: store, claims: store, transport: transport)
        notifier.receive(verdict)
        let outcomes = await notifier.settle()
        XCTAssertEqual(outcomes.map(\.delivered), [true])
        let body = try json(XCTUnwrap(receiver.receivedRequests.first))
        XCTAssertEqual(body["client"], .string("Acme Retail"))
        XCTAssertEqual(body["failure"], .string("revoked"))
        XCTAssertEqual(body["link"]?["url"], .string(linkURL))
        guard case let .string(text)? = body["text"] else { return XCTFail("text") }
        XCTAssertTrue(text.contains("(google, Acme Retail) OK → CRITICAL [revoked]"), text)
        XCTAssertTrue(text.contains("Re-authorization link: \(linkURL)"), text)
        XCTAssertFalse(String(decoding: try XCTUnwrap(receiver.receivedRequests.first).body, as: UTF8.self).contains("FAKE-stored-access-token"))
    }

    func testAHungReceiverIsGivenUpWhenTheRunsTimeIsOver() async throws {
        let receiver = try LoopbackServer { _ in .blackHole }
        defer { receiver.stop() }
        let store = try SQLiteStore.inMemory()
        let transport = try XCTUnwrap(ProbeEngine(connections: 8, evidenceLines: false))
        defer { transport.shutdown() }
        var config = configuration(receiver.baseURL + "/hook", retries: 3)
        config.timeout = 5
        let notifier = CheckNotifier(configuration: config, store: store, claims: store, transport: transport)
        notifier.receive(ConnectionVerdict(index: 0, connection: "con_9", provider: "google", status: .critical, failure: "revoked",
                                           summary: "The user revoked access."))
        let started = Date()
        let outcomes = await notifier.settle(within: 0.5)
        let waited = Date().timeIntervalSince(started)
        XCTAssertLessThan(waited, 3, "a 5 s timeout with 3 retries would take 20 s; the run's time caps it")
        XCTAssertEqual(outcomes.count, 1)
        XCTAssertEqual(outcomes.first?.delivered, false)
        XCTAssertTrue(outcomes.first?.problem?.contains("given up") == true, outcomes.first?.problem ?? "nil")
        XCTAssertEqual(receiver.receivedRequests.count, 1, "one attempt reached the receiver (it never answered), no retry started")
    }

    func testSeveralWorkersOnOneStoreAnnounceAChangeOnce() async throws {
        let receiver = try LoopbackServer { _ in .respond(status: 200) }
        defer { receiver.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("team.sqlite").path
        let box = SecretBox.ephemeral()
        // Two workers: two store handles on one file, as two processes would have.
        let stores = try (0..<4).map { _ in try SQLiteStore(path: path, secretBox: box) }
        try stores[0].recordVerdicts([CheckVerdict(connection: "con_1", checkedAt: Date(timeIntervalSince1970: 1000), status: "ok",
                                                   failure: "none", summary: "healthy")])
        let transport = try XCTUnwrap(ProbeEngine(connections: 8, evidenceLines: false))
        defer { transport.shutdown() }
        let notifiers = stores.map { CheckNotifier(configuration: configuration(receiver.baseURL + "/hook"), store: $0, claims: $0, transport: transport) }
        let verdict = ConnectionVerdict(index: 0, connection: "con_1", provider: "google", status: .critical, failure: "revoked",
                                        summary: "The user revoked access.")
        DispatchQueue.concurrentPerform(iterations: notifiers.count) { notifiers[$0].receive(verdict) }
        var outcomes: [NotificationOutcome] = []
        for notifier in notifiers { outcomes += await notifier.settle() }
        XCTAssertEqual(outcomes.count, 1)
        XCTAssertEqual(receiver.receivedRequests.count, 1, "one announcement of one change, however many workers saw it")
    }

    func testTheStoredURLsAreSealedAndListedInOrder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("a.sqlite").path
        let store = try SQLiteStore(path: path, secretBox: .ephemeral())
        let slack = "https://hooks.slack.example/services/T000/B000/SlackPathSecret123"
        try store.addNotifyURL(slack, now: Date())
        try store.addNotifyURL("http://127.0.0.1:9/hook", now: Date())
        try store.addNotifyURL(slack, now: Date())
        XCTAssertEqual(try store.notifyURLs(), [slack, "http://127.0.0.1:9/hook"])
        var bytes = Data()
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            bytes += try Data(contentsOf: directory.appendingPathComponent(name))
        }
        XCTAssertNil(bytes.range(of: Data("SlackPathSecret123".utf8)), "webhook URLs are sealed at rest")
        XCTAssertEqual(try store.removeNotifyURL(slack, now: Date()), ["http://127.0.0.1:9/hook"])
        XCTAssertEqual(NotifyURL.display(slack), "https://hooks.slack.example/…")
    }
}
