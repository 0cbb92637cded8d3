import Diagnose
import EvidenceModel
import Foundation
import LinkServer
import Links
import Probe
import RuleEngine

/// The console's overview under a large store: `count` stored connections (each made through a
/// link: issue, open, grant, Finish) with `verdicts` checks each in a SQLite file, the server
/// started in this process on 127.0.0.1, an operator signed in through the form, then `runs`
/// GETs of `/console` (first page, worst first), of a filtered and searched page and of a late
/// page, one at a time. Latency is libcurl's total time of each request.
func benchmarkConsole(count: Int, verdictsPerConnection: Int, runs: Int) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-bench-console-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try SQLiteStore(path: directory.appendingPathComponent("authdoctor.sqlite").path, secretBox: .ephemeral())
    let setupStart = now()
    let tokens = ProviderTokens(accessToken: "ya29.bench-access-token", refreshToken: "1//bench-refresh-token")
    let providers = ["google", "facebook", "hubspot", "linkedin"]
    let statuses = ["ok", "ok", "ok", "ok", "ok", "ok", "warning", "critical", "unknown", "ok"]
    let clock = Date()
    var verdicts: [CheckVerdict] = []
    verdicts.reserveCapacity(count * verdictsPerConnection)
    for i in 0..<count {
        let provider = providers[i % providers.count]
        let issued = try store.issueLink(client: "Client \(i)", sources: [provider], maxSources: nil, ttl: 86_400, now: clock)
        let opened = try store.openLink(token: issued.token, now: clock)
        let made = try store.addConnection(sessionID: opened.session.id, provider: provider, account: "acct-\(i)@example.com", tokens: tokens, now: clock)
        _ = try store.finishSession(id: opened.session.id, now: clock)
        for k in 0..<verdictsPerConnection {
            let status = statuses[(i + k * (i % 3 == 0 ? 1 : 0)) % statuses.count]
            verdicts.append(CheckVerdict(connection: made.id, checkedAt: clock.addingTimeInterval(Double(k - verdictsPerConnection) * 3600),
                                         status: status, failure: status == "ok" ? "none" : "revoked",
                                         summary: status == "ok" ? "healthy" : "The refresh token was revoked (invalid_grant).", provider: provider))
        }
    }
    try store.recordVerdicts(verdicts)
    let setup = now() - setupStart
    if ProcessInfo.processInfo.environment["AUTHDOCTOR_BENCH_PARTS"] != nil {
        for _ in 0..<3 {
            var t = now()
            let recent = try store.recentVerdicts(perConnection: 10)
            let a = now() - t; t = now()
            let all = try store.allConnections()
            let b = now() - t; t = now()
            _ = try store.operatorAccounts()
            let c = now() - t
            t = now()
            let version = try store.checkHistoryVersion()
            let d = now() - t; t = now()
            let after = try store.verdicts(afterID: 90_000, limit: 20_000) ?? []
            let e = now() - t
            print(String(format: "parts: recentVerdicts %.1f ms (%d), allConnections %.1f ms (%d), operatorAccounts %.1f ms, checkHistoryVersion %.1f ms (%@), verdicts after an id %.1f ms (%d)",
                         a * 1000, recent.count, b * 1000, all.count, c * 1000, d * 1000, version ?? "-", e * 1000, after.count))
        }
    }

    let (definitions, _) = try ProviderLibrary.load()
    let (ruleSet, _) = try RuleLibrary.load(includeBuiltin: true, directories: [])
    let configuration = LinkServerConfiguration(
        port: 0, clients: LinkServerConfiguration.sandboxClients(definitions: definitions, sandboxBaseURL: "http://127.0.0.1:9"))
    let catalog = LinkSourceCatalog(known: Set(definitions.keys), withOAuth: Set(definitions.values.filter { $0.oauth != nil }.map(\.id)))
    let started = DispatchSemaphore(value: 0)
    let urlBox = ConcurrentSlots<String>(count: 1)
    let application = buildApplication(configuration: configuration, store: store, logger: StandardErrorLogHandler.logger(level: .warning),
                                       console: OperatorConsole(catalog: catalog, engine: ClassifyEngine(ruleSet: ruleSet)),
                                       onServerRunning: { url in urlBox.set(0, url); started.signal() })
    Task { try await application.runService(gracefulShutdownSignals: []) }
    started.wait()
    let base = urlBox.values[0]

    // Sign in as a browser does: the form (its cookie and anti-forgery token), then the post.
    let account = try store.addOperator(name: "bench", now: Date())
    let prober = Prober()
    let form = prober.perform(ProbeRequest(url: "\(base)/console/login"))
    let loginCookie = form.headerValues("Set-Cookie").first.map { String($0.prefix(while: { $0 != ";" })) } ?? ""
    let csrf = form.bodyText.range(of: #"name="csrf" value=""#).map { String(form.bodyText[$0.upperBound...].prefix(while: { $0 != "\"" })) } ?? ""
    let signed = prober.perform(ProbeRequest(method: "POST", url: "\(base)/console/login",
                                             headers: [HTTPHeader("Cookie", loginCookie), HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                                             body: Array("csrf=\(csrf)&token=\(account.token)".utf8)))
    precondition(signed.status == 303, "sign-in answered \(signed.status.map(String.init) ?? signed.curlName)")
    let session = signed.headerValues("Set-Cookie").first { $0.hasPrefix(OperatorConsole.sessionCookie + "=") }.map { String($0.prefix(while: { $0 != ";" })) } ?? ""

    func measure(_ target: String) -> [Double] {
        let request = ProbeRequest(url: base + target, headers: [HTTPHeader("Cookie", session)], totalTimeout: 30)
        for _ in 0..<3 { precondition(prober.perform(request).status == 200, "\(target) did not answer 200") }
        return (0..<runs).map { _ in
            let result = prober.perform(request)
            precondition(result.status == 200, "\(target) did not answer 200")
            return result.timings.totalSeconds
        }
    }
    print(String(format: "console: %d stored connections with %d checks each (setup %.1f s)", count, verdictsPerConnection, setup))
    // The first overview after a check run: a run records one verdict for every connection, then the
    // overview merges them into what it kept (the run's writing is not timed, the request is).
    let connectionIDs = try store.allConnections().map(\.id)
    var cold: [Double] = []
    for run in 0..<max(3, runs / 6) {
        let checkedAt = Date().addingTimeInterval(Double(run))
        try store.recordVerdicts(connectionIDs.enumerated().map { i, id in
            let status = statuses[(i + run) % statuses.count]
            return CheckVerdict(connection: id, checkedAt: checkedAt, status: status, failure: status == "ok" ? "none" : "expiry",
                                summary: status == "ok" ? "healthy" : "expired", provider: providers[i % providers.count])
        })
        let result = prober.perform(ProbeRequest(url: base + "/console", headers: [HTTPHeader("Cookie", session)], totalTimeout: 30))
        precondition(result.status == 200, "/console did not answer 200")
        cold.append(result.timings.totalSeconds)
    }
    print(String(format: "console: overview, first request after a check run of every connection: median %.1f ms, p90 %.1f ms (%d runs)", percentile(cold, 0.5) * 1000, percentile(cold, 0.9) * 1000, cold.count))
    for (label, target) in [("overview, first page", "/console"), ("filtered (critical, google) and searched", "/console?status=critical&provider=google&q=client"),
                            ("page 100", "/console?page=100")] {
        let latencies = measure(target)
        print(String(format: "console: %@: median %.1f ms, p90 %.1f ms (%d runs)", label, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.9) * 1000, runs))
    }
}
