// Helpers for the link server tests: a real Sandbox (its OAuth authorization servers on loopback),
// a real SQLite store (in memory), a clock the tests move, a log that keeps every line, and a
// browser with a cookie jar that talks to the server either through Hummingbird's router test
// client or over a real socket with libcurl.

import EvidenceModel
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import LinkServer
import Links
import Logging
import Probe
import RuleEngine
import Sandbox
import XCTest

/// The clock of a test: starts now, moves when the test says.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date()

    var now: Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func advance(_ seconds: TimeInterval) {
        lock.lock()
        current = current.addingTimeInterval(seconds)
        lock.unlock()
    }
}

/// Every log line the server writes, with its metadata, at any level.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return lines.joined(separator: "\n")
    }

    var logger: Logger {
        var logger = Logger(label: "authdoctor.serve.test") { label in CapturingLogHandler(label: label, sink: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let label: String
    let sink: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        let all = metadata.merging(extra ?? [:]) { $1 }
        let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.append("\(level) \(label): \(message) \(rendered)")
    }
}

/// One answer of the link server.
struct Reply: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: String

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    func headerValues(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }

    /// The anti-forgery token of the page's forms.
    var csrf: String? {
        guard let range = body.range(of: #"name="csrf" value=""#) else { return nil }
        return String(body[range.upperBound...].prefix(while: { $0 != "\"" }))
    }
}

/// Sends one request to the link server: method, path with query, headers, form body.
typealias Transport = @Sendable (_ method: String, _ target: String, _ headers: [(String, String)], _ body: String?) async throws -> Reply

/// A browser: keeps the cookies the server sets (name and path) and sends them where they apply.
final class Browser: @unchecked Sendable {
    private let lock = NSLock()
    private var jar: [String: (name: String, value: String, path: String)] = [:]
    let send: Transport
    let publicURL: String

    init(publicURL: String, send: @escaping Transport) {
        self.publicURL = publicURL
        self.send = send
    }

    var cookieValues: [String] {
        lock.lock()
        defer { lock.unlock() }
        return jar.values.map(\.value)
    }

    func cookieHeader(for target: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let path = String(target.prefix(while: { $0 != "?" }))
        let matching = jar.values.filter { path.hasPrefix($0.path) }.map { "\($0.name)=\($0.value)" }
        return matching.isEmpty ? nil : matching.sorted().joined(separator: "; ")
    }

    private func keep(_ reply: Reply) {
        lock.lock()
        defer { lock.unlock() }
        for line in reply.headerValues("Set-Cookie") {
            let parts = line.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let pair = parts.first, let equals = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<equals]), value = String(pair[pair.index(after: equals)...])
            let path = parts.first { $0.lowercased().hasPrefix("path=") }.map { String($0.dropFirst(5)) } ?? "/"
            jar[name + " " + path] = (name, value, path)
        }
    }

    /// A URL of the server as a target (path and query), or nil for another origin.
    func target(of url: String) -> String? {
        url.hasPrefix(publicURL + "/") ? String(url.dropFirst(publicURL.count)) : nil
    }

    func get(_ target: String, headers: [(String, String)] = []) async throws -> Reply {
        var all = headers
        if let cookie = cookieHeader(for: target) { all.append(("Cookie", cookie)) }
        let reply = try await send("GET", target, all, nil)
        keep(reply)
        return reply
    }

    func post(_ target: String, form: [(String, String)], origin: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
        var all = headers + [("Content-Type", "application/x-www-form-urlencoded")]
        if let origin { all.append(("Origin", origin)) }
        if let cookie = cookieHeader(for: target) { all.append(("Cookie", cookie)) }
        let reply = try await send("POST", target, all, FormEncoding.encode(form))
        keep(reply)
        return reply
    }
}

/// A Sandbox for the whole test run (its authorization servers keep their codes in memory).
enum SharedSandbox {
    static let server: SandboxServer = {
        do { return try SandboxServer.start() } catch { fatalError("the sandbox did not start: \(error)") }
    }()
}

/// The server under test with its store, clock and log.
struct Harness {
    static let publicURL = "http://127.0.0.1:8080"

    let store: SQLiteStore
    let clock = TestClock()
    let log = CapturedLog()
    let sandbox = SharedSandbox.server
    var configuration: LinkServerConfiguration

    init(publicURL: String? = Harness.publicURL) throws {
        store = try SQLiteStore.inMemory()
        let (definitions, issues) = try ProviderLibrary.load()
        XCTAssertEqual(issues, [])
        let clock = self.clock
        configuration = LinkServerConfiguration(
            port: 0, publicURL: publicURL,
            clients: LinkServerConfiguration.sandboxClients(definitions: definitions, sandboxBaseURL: sandbox.baseURL),
            exchangeTimeout: 5, now: { clock.now })
    }

    func application() -> some ApplicationProtocol {
        buildApplication(configuration: configuration, store: store, logger: log.logger)
    }

    func issue(sources: [String] = ["google", "facebook"], maxSources: Int? = nil, ttl: TimeInterval = 3600) throws -> IssuedLink {
        try store.issueLink(client: "Acme Ltd", sources: sources, maxSources: maxSources, ttl: ttl, now: clock.now)
    }

    /// Runs a test against the router (no socket): every browser it makes talks to the router client.
    func withRouter(_ test: @escaping @Sendable (@escaping () -> Browser) async throws -> Void) async throws {
        let url = configuration.publicURL ?? Harness.publicURL
        try await application().test(.router) { client in
            let transport: Transport = { method, target, headers, body in
                var fields = HTTPFields()
                for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
                let response = try await client.execute(uri: target, method: HTTPRequest.Method(method)!, headers: fields,
                                                        body: body.map { ByteBuffer(string: $0) })
                return Reply(status: response.status.code,
                             headers: response.headers.map { ($0.name.rawName, $0.value) },
                             body: String(buffer: response.body))
            }
            try await test { Browser(publicURL: url, send: transport) }
        }
    }

    /// Runs a test against the server on a real loopback socket; browsers use libcurl.
    func withLiveServer(_ test: @escaping @Sendable (_ publicURL: String, @escaping () -> Browser) async throws -> Void) async throws {
        try await application().test(.live) { client in
            let url = "http://127.0.0.1:\(client.port!)"
            let transport: Transport = { method, target, headers, body in
                let result = await Prober().perform(ProbeRequest(
                    method: method, url: url + target, headers: headers.map { HTTPHeader($0.0, $0.1) },
                    body: body.map { Array($0.utf8) }, totalTimeout: 10))
                guard let status = result.status else { throw TestFailure("no answer from \(target): \(result.curlName)") }
                return Reply(status: status, headers: result.headers.map { ($0.name, $0.value) }, body: result.bodyText)
            }
            try await test(url) { Browser(publicURL: url, send: transport) }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The steps of the flow as a browser takes them.
enum Flow {
    /// Opens the link as a person does: the GET shows the start page, Start posts to
    /// `/l/{token}/open`, the browser follows to its page. Returns that page (its CSRF token on
    /// `reply.csrf`), or the first answer that is not a step of that walk (a refusal).
    static func open(_ browser: Browser, _ token: String) async throws -> Reply {
        let first = try await browser.get("/l/\(token)")
        guard first.status == 200, first.body.contains("action=\"/l/\(token)/open\"") else { return first }
        let started = try await start(browser, token)
        guard started.status == 303 else { return started }
        return try await browser.get("/l/\(token)")
    }

    /// The start page's button.
    static func start(_ browser: Browser, _ token: String, origin: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
        try await browser.post("/l/\(token)/open", form: [("start", "1")], origin: origin ?? browser.publicURL, headers: headers)
    }

    static func connect(_ browser: Browser, _ token: String, _ provider: String, csrf: String?) async throws -> Reply {
        try await browser.post("/l/\(token)/connect/\(provider)", form: csrf.map { [("csrf", $0)] } ?? [], origin: browser.publicURL)
    }

    /// Follows a Connect redirect to the Sandbox's authorize endpoint (a real HTTP request through
    /// libcurl) and returns where the Sandbox sends the browser back (the callback URL).
    static func authorize(_ location: String, deny: Bool = false) async throws -> String {
        let url = location + (deny ? "&sandbox_decision=deny" : "")
        let result = await Prober().perform(ProbeRequest(url: url, totalTimeout: 5))
        guard result.status == 302, let back = result.header("Location") else {
            throw TestFailure("the sandbox authorize endpoint answered \(result.status.map(String.init) ?? result.curlName): \(result.bodyText)")
        }
        return back
    }

    /// Connect, authorize at the Sandbox, come back: the callback's answer (303 to the link page when connected).
    static func connectThrough(_ browser: Browser, _ token: String, _ provider: String, csrf: String?) async throws -> (callback: String, reply: Reply) {
        let started = try await connect(browser, token, provider, csrf: csrf)
        guard started.status == 303, let location = started.header("Location") else {
            throw TestFailure("connect answered \(started.status): \(started.body)")
        }
        let back = try await authorize(location)
        guard let target = browser.target(of: back) else { throw TestFailure("the sandbox sent the browser elsewhere: \(back)") }
        return (back, try await browser.get(target))
    }

    static func finish(_ browser: Browser, _ token: String, csrf: String?) async throws -> Reply {
        try await browser.post("/l/\(token)/finish", form: csrf.map { [("csrf", $0)] } ?? [], origin: browser.publicURL)
    }

    /// A query parameter of a URL.
    static func parameter(_ name: String, of url: String) -> String? {
        guard let query = url.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        return FormEncoding.value(name, in: FormEncoding.decode(query))
    }
}
