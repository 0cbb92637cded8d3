import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import HealthCheck
import Probe
import Sandbox
import XCTest

final class CheckRunnerTests: XCTestCase {
    func testMixedConnectionsGetTheirStatusesAndTheRunIsCritical() async throws {
        let server = try SharedSandbox.server.get()
        var harness = CheckHarness()
        harness.environment = sandboxEnvironment
        let sink = RecordingSink()
        let run = try await harness.run(mixedConnections(server), sinks: [sink])

        XCTAssertEqual(run.total, 6)
        let expected: [String: (CheckStatus, String)] = [
            "fb-healthy": (.ok, "none"), "fb-expired": (.critical, "expiry"), "fb-scopes": (.critical, "scopes"),
            "ga-outage": (.warning, "outage"), "li-blackhole": (.warning, "connectivity"), "fb-reset": (.warning, "connectivity"),
        ]
        for (name, (status, failure)) in expected {
            let verdict = try XCTUnwrap(sink.verdict(name), name)
            XCTAssertEqual(verdict.status, status, "\(name): \(verdict.summary)")
            XCTAssertEqual(verdict.failure, failure, "\(name): \(verdict.summary)")
        }
        // Transient failures were retried (1 + 2 retries) before counting, never CRITICAL.
        XCTAssertEqual(sink.verdict("ga-outage")?.attempts, 3)
        XCTAssertEqual(sink.verdict("li-blackhole")?.attempts, 3)
        XCTAssertEqual(sink.verdict("fb-expired")?.attempts, 1, "a non-transient failure is not retried")
        XCTAssertEqual(run.worst, .critical)
        XCTAssertEqual(run.exitStatus, 2)
        XCTAssertEqual(run.count(.ok), 1)
        XCTAssertEqual(run.count(.critical), 2)
        XCTAssertEqual(run.count(.warning), 3)
        XCTAssertEqual(run.verdicts.map(\.connection), ["fb-healthy", "fb-expired", "fb-scopes", "ga-outage", "li-blackhole", "fb-reset"],
                       "the run's verdicts are in file order")
        XCTAssertNotNil(sink.verdict("fb-healthy")?.tokenExpiresAt, "the healthy token's expiry is known")
    }

    func testAHungProviderDoesNotDelayTheOthers() async throws {
        let server = try SharedSandbox.server.get()
        var harness = CheckHarness()
        harness.environment = sandboxEnvironment
        harness.options.retries = 0
        var yaml = """
        connections:
          - name: hung
            provider: linkedin
            token-env: LI_BLACKHOLE
            timeout: 3
            base-url: {linkedin: "\(server.faultURL(.blackhole))"}
          - name: resetting
            provider: facebook
            token-env: FB_HEALTHY
            timeout: 3
            base-url: {facebook: "\(server.faultURL(.reset))"}

        """
        for i in 0..<20 {
            yaml += """
              - name: healthy-\(i)
                provider: facebook
                token-env: FB_HEALTHY
                client-id: "5550001112223"
                client-secret-env: FB_SECRET
                base-url: {facebook: "\(server.baseURL)"}

            """
        }
        let sink = RecordingSink()
        let started = Date()
        let run = try await harness.run(yaml, sinks: [sink])
        let elapsed = Date().timeIntervalSince(started)

        XCTAssertEqual(run.count(.ok), 20)
        let hungAt = try XCTUnwrap(sink.arrival("hung"))
        for i in 0..<20 {
            let at = try XCTUnwrap(sink.arrival("healthy-\(i)"))
            XCTAssertLessThan(at, 2.0, "healthy-\(i) waited for the hung provider (\(at) s)")
            XCTAssertLessThan(at, hungAt, "healthy-\(i) arrived after the hung one")
        }
        // The hung provider costs its own timeout, not more.
        XCTAssertGreaterThanOrEqual(hungAt, 2.9)
        XCTAssertLessThan(hungAt, 5.5, "the black hole took \(hungAt) s with a 3 s timeout")
        XCTAssertLessThan(elapsed, 6.5)
        XCTAssertEqual(sink.verdict("hung")?.status, .warning)
    }

    func testTheDeadlineEndsUnfinishedConnectionsAsUnknown() async throws {
        let server = try SharedSandbox.server.get()
        var harness = CheckHarness()
        harness.environment = sandboxEnvironment
        harness.options.deadline = 1
        let yaml = """
        connections:
          - name: hung
            provider: linkedin
            token-env: LI_BLACKHOLE
            timeout: 30
            base-url: {linkedin: "\(server.faultURL(.blackhole))"}
          - name: fine
            provider: facebook
            token-env: FB_HEALTHY
            base-url: {facebook: "\(server.baseURL)"}
        """
        let started = Date()
        let run = try await harness.run(yaml)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3, "the deadline of 1 s ended the run")
        XCTAssertTrue(run.deadlineReached)
        XCTAssertEqual(run.verdicts.first { $0.connection == "hung" }?.status, .unknown)
        XCTAssertEqual(run.verdicts.first { $0.connection == "hung" }?.failure, "deadline")
        XCTAssertEqual(run.verdicts.first { $0.connection == "fine" }?.status, .ok)
        XCTAssertEqual(run.exitStatus, 3)
    }

    func testRetryAfterIsHonouredBeforeTheRetry() async throws {
        let times = TimeLog()
        let loopback = try LoopbackServer { _ in
            times.record()
            return .respond(status: 503, headers: [("Retry-After", "2"), ("Content-Type", "text/html")],
                            body: "<html><body>Service temporarily unavailable for maintenance</body></html>")
        }
        defer { loopback.stop() }
        var harness = CheckHarness()
        harness.environment = ["HS": "pat-na1-00000000-0000-0000-0000-000000000000"]
        harness.options.retries = 1
        harness.options.backoff = 0.01
        let yaml = """
        connections:
          - name: busy
            provider: hubspot
            token-env: HS
            base-url: {hubspot: "\(loopback.baseURL)"}
        """
        let run = try await harness.run(yaml)
        let verdict = try XCTUnwrap(run.verdicts.first)
        XCTAssertEqual(verdict.status, .warning, verdict.summary)
        XCTAssertEqual(verdict.attempts, 2)
        let stamps = times.values
        let perAttempt = stamps.count / 2
        XCTAssertGreaterThanOrEqual(stamps.count, 2)
        let firstAttemptEnd = stamps[perAttempt - 1]
        let secondAttemptStart = stamps[perAttempt]
        XCTAssertGreaterThanOrEqual(secondAttemptStart - firstAttemptEnd, 1.9, "the retry waited for Retry-After: 2")
    }

    func testARetryAfterBeyondTheCapIsNotWaitedFor() async throws {
        let loopback = try LoopbackServer { _ in
            .respond(status: 503, headers: [("Retry-After", "3600")], body: "<html><body>down for maintenance</body></html>")
        }
        defer { loopback.stop() }
        var harness = CheckHarness()
        harness.environment = ["HS": "pat-na1-00000000-0000-0000-0000-000000000000"]
        let yaml = """
        connections:
          - name: busy
            provider: hubspot
            token-env: HS
            base-url: {hubspot: "\(loopback.baseURL)"}
        """
        let started = Date()
        let run = try await harness.run(yaml)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        let verdict = try XCTUnwrap(run.verdicts.first)
        XCTAssertEqual(verdict.status, .warning, "a transient failure never pages as critical")
        XCTAssertEqual(verdict.attempts, 1)
        XCTAssertTrue(verdict.summary.contains("Retry-After"), verdict.summary)
    }

    func testAMissingCredentialVariableIsATokenMissingFinding() async throws {
        let server = try SharedSandbox.server.get()
        var harness = CheckHarness()
        harness.environment = sandboxEnvironment
        let yaml = """
        connections:
          - name: no-token
            provider: facebook
            token-env: FB_NOT_SET_ANYWHERE
            base-url: {facebook: "\(server.baseURL)"}
          - name: fine
            provider: facebook
            token-env: FB_HEALTHY
            base-url: {facebook: "\(server.baseURL)"}
        """
        let run = try await harness.run(yaml)
        let verdict = try XCTUnwrap(run.verdicts.first { $0.connection == "no-token" })
        XCTAssertEqual(verdict.failure, "token-missing")
        XCTAssertEqual(verdict.status, .critical)
        XCTAssertTrue(verdict.summary.contains("FB_NOT_SET_ANYWHERE"), verdict.summary)
        XCTAssertTrue(verdict.summary.contains("token-env"), verdict.summary)
        XCTAssertEqual(run.verdicts.first { $0.connection == "fine" }?.status, .ok)
    }

    func testBadEntriesAreUnknownAndTheOthersStillRun() async throws {
        let server = try SharedSandbox.server.get()
        var harness = CheckHarness()
        harness.environment = sandboxEnvironment
        let yaml = """
        connections:
          - name: typo
            provider: facebook
            token-envv: FB_HEALTHY
          - name: nowhere
            provider: myspace
            token-env: FB_HEALTHY
          - name: fine
            provider: facebook
            token-env: FB_HEALTHY
            base-url: {facebook: "\(server.baseURL)"}
        """
        let run = try await harness.run(yaml)
        let typo = try XCTUnwrap(run.verdicts.first { $0.connection == "typo" })
        XCTAssertEqual(typo.status, .unknown)
        XCTAssertEqual(typo.failure, "bad-entry")
        XCTAssertTrue(typo.summary.contains("entry 'typo'") && typo.summary.contains("token-envv") && typo.summary.contains("line 4"), typo.summary)
        let nowhere = try XCTUnwrap(run.verdicts.first { $0.connection == "nowhere" })
        XCTAssertEqual(nowhere.status, .unknown)
        XCTAssertTrue(nowhere.summary.contains("entry 'nowhere'") && nowhere.summary.contains("provider") && nowhere.summary.contains("myspace"),
                      nowhere.summary)
        XCTAssertEqual(run.verdicts.first { $0.connection == "fine" }?.status, .ok)
        XCTAssertEqual(run.exitStatus, 3)
    }

    func testSharedEngineReusesConnectionsAndKeepsResultsApart() async throws {
        let loopback = try LoopbackServer { request in
            .keepAlive(status: 200, headers: [("Content-Type", "text/plain")], body: Array(request.path.utf8))
        }
        defer { loopback.stop() }
        let engine = try XCTUnwrap(ProbeEngine(connections: 8, maxTransfers: 8))
        defer { engine.shutdown() }
        let requests = (0..<200).map { ProbeRequest(url: loopback.baseURL + "/item/\($0)") }
        let results = await engine.performAll(requests)
        XCTAssertEqual(results.count, 200)
        for (i, result) in results.enumerated() {
            XCTAssertEqual(result.status, 200)
            XCTAssertEqual(result.bodyText, "/item/\(i)", "result \(i) belongs to its request")
        }
        XCTAssertLessThanOrEqual(loopback.acceptedConnections, 16, "keep-alive connections are reused across requests")
    }

    func testCancellingAProbeOnTheEngineEndsItAtOnce() async throws {
        let loopback = try LoopbackServer { _ in .blackHole }
        defer { loopback.stop() }
        let engine = try XCTUnwrap(ProbeEngine(connections: 8))
        defer { engine.shutdown() }
        let started = Date()
        let task = Task { await engine.perform(ProbeRequest(url: loopback.baseURL + "/", totalTimeout: 30)) }
        try await Task.sleep(nanoseconds: 200_000_000)
        task.cancel()
        let result = await task.value
        XCTAssertEqual(result.curlCode, 42, "aborted: \(result.curlMessage)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
    }
}

/// Moments (seconds since creation) at which a loopback handler ran.
final class TimeLog: @unchecked Sendable {
    private let lock = NSLock()
    private let start = DispatchTime.now().uptimeNanoseconds
    private var stamps: [Double] = []
    func record() { lock.withLock { stamps.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) } }
    var values: [Double] { lock.withLock { stamps } }
}
