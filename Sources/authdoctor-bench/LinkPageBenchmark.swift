import EvidenceModel
import Foundation
import LinkServer
import Links
import Probe
import RuleEngine

/// The link page under load: `clients` browsers, each holding the session of its own link, ask for
/// their link page again and again through one libcurl multi handle (`clients` transfers in flight,
/// keep-alive connections), against the link server started in this process on 127.0.0.1 with a
/// SQLite store in a file. Latency is libcurl's total time of each request.
func benchmarkLinkPage(clients: Int, requests: Int) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-bench-serve-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try SQLiteStore(path: directory.appendingPathComponent("links.sqlite").path, secretBox: .ephemeral())
    let (definitions, _) = try ProviderLibrary.load()
    // Endpoints are never called here: the page lists the sources, Connect is not pressed.
    let configuration = LinkServerConfiguration(
        port: 0, clients: LinkServerConfiguration.sandboxClients(definitions: definitions, sandboxBaseURL: "http://127.0.0.1:9"))

    let started = DispatchSemaphore(value: 0)
    let urlBox = ConcurrentSlots<String>(count: 1)
    let application = buildApplication(configuration: configuration, store: store, logger: StandardErrorLogHandler.logger(level: .warning),
                                       onServerRunning: { url in urlBox.set(0, url); started.signal() })
    // Runs until the process exits (the benchmark ends with it).
    Task { try await application.runService(gracefulShutdownSignals: []) }
    started.wait()
    let base = urlBox.values[0]

    // Each browser opens its link once (the first open starts the session and sets the cookie).
    let prober = Prober()
    var pages: [ProbeRequest] = []
    for _ in 0..<clients {
        let issued = try store.issueLink(client: "Bench client", sources: ["google", "facebook", "linkedin", "hubspot"],
                                         maxSources: nil, ttl: 3600, now: Date())
        // The GET shows the start page; Start (a same-origin form post) starts the session.
        let opened = prober.perform(ProbeRequest(method: "POST", url: "\(base)/l/\(issued.token)/open",
                                                 headers: [HTTPHeader("Origin", base), HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                                                 body: Array("start=1".utf8)))
        precondition(opened.status == 303, "Start answered \(opened.status.map(String.init) ?? opened.curlName)")
        let cookies = opened.headerValues("Set-Cookie").filter { $0.contains("Path=/l/") }.map { $0.prefix(while: { $0 != ";" }) }
        pages.append(ProbeRequest(url: "\(base)/l/\(issued.token)", headers: [HTTPHeader("Cookie", cookies.joined(separator: "; "))]))
    }
    let warmUp = prober.performAll(Array(repeating: pages, count: 10).flatMap { $0 }, maxConcurrent: clients)
    precondition(warmUp.allSatisfy { $0.status == 200 }, "a session page did not answer 200")

    let work = (0..<requests).map { pages[$0 % clients] }
    let start = DispatchTime.now().uptimeNanoseconds
    let results = prober.performAll(work, maxConcurrent: clients)
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let failed = results.filter { $0.status != 200 }.count
    precondition(failed == 0, "\(failed) of \(requests) link pages did not answer 200")
    let latencies = results.map(\.timings.totalSeconds)
    let reused = results.filter(\.connectionReused).count
    print(String(format: "serve: link page (session cookie, 4 sources) with %d concurrent clients: median %.2f ms, p90 %.2f ms, p99 %.2f ms; %.0f requests/s (%d requests, %d%% on kept-alive connections)",
                 clients, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.9) * 1000, percentile(latencies, 0.99) * 1000,
                 Double(requests) / elapsed, requests, reused * 100 / max(1, requests)))
}
