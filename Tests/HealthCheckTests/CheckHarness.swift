import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import HealthCheck
import Links
import Probe
import RuleEngine
import Sandbox
import XCTest

/// The repository's rules and provider definitions, loaded once.
enum CheckRepo {
    static let engine: Result<ClassifyEngine, any Error> = Result {
        let (set, _) = try RuleLibrary.load(includeBuiltin: false, directories: [TestPaths.rulesDirectory])
        return ClassifyEngine(ruleSet: set)
    }
    static let definitions: Result<[String: ProviderDefinition], any Error> = Result {
        let (all, issues) = try ProviderLibrary.load(includeBuiltin: false, directories: [TestPaths.rulesDirectory + "/providers"])
        guard issues.isEmpty else { throw InputError(.config, issues.map(\.message).joined(separator: "; ")) }
        return all
    }
}

/// Records every verdict with the moment it arrived (seconds since the run began).
final class RecordingSink: CheckSink, @unchecked Sendable {
    private let lock = NSLock()
    private var started = DispatchTime.now().uptimeNanoseconds
    private(set) var arrivals: [(verdict: ConnectionVerdict, at: Double)] = []
    private(set) var finished: CheckRun?

    func begin(total: Int) { lock.withLock { started = DispatchTime.now().uptimeNanoseconds } }
    func receive(_ verdict: ConnectionVerdict) {
        lock.withLock {
            arrivals.append((verdict, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
        }
    }
    func finish(_ run: CheckRun) { lock.withLock { finished = run } }

    func verdict(_ name: String) -> ConnectionVerdict? { arrivals.first { $0.verdict.connection == name }?.verdict }
    func arrival(_ name: String) -> Double? { arrivals.first { $0.verdict.connection == name }?.at }
}

/// Collects what a `CheckWriter` emits.
final class TextCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [String] = []
    func append(_ s: String) { lock.withLock { parts.append(s) } }
    var text: String { lock.withLock { parts.joined() } }
    /// What was emitted, one element per call.
    var pieces: [String] { lock.withLock { parts } }
}

/// A check run over a connections file's text, against loopback servers.
struct CheckHarness {
    var options = CheckOptions(concurrency: 16, deadline: nil, retries: 2, backoff: 0.05, retryAfterCap: 10, keepReports: true)
    var environment: [String: String] = [:]
    var sandboxURL: (@Sendable (String) -> String)?
    /// `--db`: renewed tokens are read from and stored in it.
    var store: (any AuthDoctorStore)?

    func entries(_ yaml: String, defaults: ConnectionSettings = ConnectionSettings()) throws -> [ConnectionEntry] {
        try ConnectionsFile(path: "conns.yaml", text: yaml, defaults: defaults).connections()
    }

    func run(_ yaml: String, sinks: [any CheckSink] = [], defaults: ConnectionSettings = ConnectionSettings()) async throws -> CheckRun {
        try await run(entries: try entries(yaml, defaults: defaults), sinks: sinks)
    }

    func run(entries: [ConnectionEntry], sinks: [any CheckSink] = []) async throws -> CheckRun {
        try await run(feed: EntryList(entries), sinks: sinks)
    }

    func run(feed: any CheckFeed, sinks: [any CheckSink] = []) async throws -> CheckRun {
        let transport = try XCTUnwrap(ProbeEngine(connections: 64))
        defer { transport.shutdown() }
        let runner = CheckRunner(engine: try CheckRepo.engine.get(), definitions: try CheckRepo.definitions.get(), options: options,
                                 transport: transport, sandboxURL: sandboxURL, environment: environment, store: store)
        return await runner.run(feed: feed, sinks: sinks)
    }
}

/// The Sandbox, started once for the suite (scenarios from the repository's fixtures).
enum SharedSandbox {
    static let server: Result<SandboxServer, any Error> = Result {
        let catalog = try ScenarioCatalog.load(fixturesDirectory: TestPaths.fixturesDirectory)
        return try SandboxServer.start(scenarios: catalog)
    }
}

/// The environment of the Sandbox connections used across the tests (tokens made for the Sandbox).
let sandboxEnvironment: [String: String] = [
    "FB_HEALTHY": "sbx-fb-healthy", "FB_EXPIRED": "sbx-fb-expired", "FB_DECLINED": "sbx-fb-declined",
    "FB_SECRET": "sbx-fb-app-secret", "GA_OUTAGE": "sbx-ga-outage", "LI_BLACKHOLE": "sbx-li-blackhole",
]

/// A connections file mixing every state: healthy, expired, scopes, an outage (retried), a black
/// hole (1 s timeout) and a resetting host.
func mixedConnections(_ server: SandboxServer) -> String {
    """
    connections:
      - name: fb-healthy
        provider: facebook
        token-env: FB_HEALTHY
        client-id: "5550001112223"
        client-secret-env: FB_SECRET
        base-url: {facebook: "\(server.baseURL)"}
      - name: fb-expired
        provider: facebook
        token-env: FB_EXPIRED
        client-id: "5550001112223"
        client-secret-env: FB_SECRET
        base-url: {facebook: "\(server.baseURL)"}
      - name: fb-scopes
        provider: facebook
        token-env: FB_DECLINED
        base-url: {facebook: "\(server.baseURL)"}
      - name: ga-outage
        provider: google-analytics
        token-env: GA_OUTAGE
        base-url: {google-analytics: "\(server.faultURL(.outage))"}
      - name: li-blackhole
        provider: linkedin
        token-env: LI_BLACKHOLE
        timeout: 1
        base-url: {linkedin: "\(server.faultURL(.blackhole))"}
      - name: fb-reset
        provider: facebook
        token-env: FB_HEALTHY
        timeout: 2
        base-url: {facebook: "\(server.faultURL(.reset))"}
    """
}

