// The Sandbox: a real HTTP server on 127.0.0.1 that replays providers and serves network faults.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the `slow-body` fault trickles its body: `chunks` pieces of `chunkBytes`, one every `interval` seconds.
public struct SlowBodyPace: Sendable, Equatable {
    public var chunkBytes: Int
    public var interval: Double
    public var chunks: Int

    /// 4 bytes every half second for 20 seconds: longer than a probe's default 10 s timeout.
    public init(chunkBytes: Int = 4, interval: Double = 0.5, chunks: Int = 40) {
        self.chunkBytes = max(1, chunkBytes)
        self.interval = max(0, interval)
        self.chunks = max(1, chunks)
    }

    public var totalBytes: Int { chunkBytes * chunks }
    /// Seconds from the headers to the last byte.
    public var duration: Double { interval * Double(chunks) }
}

public struct SandboxOptions: Sendable {
    public var slowBody: SlowBodyPace
    /// Seconds an idle keep-alive connection stays open.
    public var idleTimeout: Double
    /// Called once for every request answered (and every fault met), on the connection's thread.
    /// Entries never carry a credential, a query or a raw path.
    public var accessLog: (@Sendable (SandboxAccess) -> Void)?
    /// Seconds every scenario answer waits before it is sent, like a provider's own latency
    /// (benchmarks use it to show that a diagnosis's steps overlap).
    public var latency: Double

    public init(slowBody: SlowBodyPace = SlowBodyPace(), idleTimeout: Double = 15,
                accessLog: (@Sendable (SandboxAccess) -> Void)? = nil, latency: Double = 0) {
        self.slowBody = slowBody
        self.idleTimeout = idleTimeout
        self.accessLog = accessLog
        self.latency = max(0, latency)
    }
}

/// A running Sandbox. Binds 127.0.0.1 only: one listener for the scenarios, one per fault (and a
/// reserved, closed port for `refused`). One thread accepts on every listener; each connection gets
/// a thread of its own. `stop()` (or releasing the last reference) closes everything and joins the threads.
public final class SandboxServer: Sendable {
    /// The scenario listener's port.
    public let port: Int
    /// "http://127.0.0.1:PORT": the base URL of every scenario.
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public let scenarios: ScenarioCatalog
    /// The `tls-self-signed` certificate (PEM), made at start-up. Trusting it is for tests that show
    /// the endpoint itself works; nothing in authdoctor ever switches verification off.
    public var tlsCertificatePEM: String { runtime.tls.certificatePEM }

    private let faultPorts: [SandboxFault: Int]
    private let runtime: SandboxRuntime
    private let lifecycle: Lifecycle

    /// Starts with the scenarios built into the binary.
    public static func start(port: Int = 0, options: SandboxOptions = SandboxOptions()) throws -> SandboxServer {
        try start(scenarios: try ScenarioCatalog.builtin(), port: port, options: options)
    }

    /// - Parameter port: 0 puts every listener on a free port the kernel picks; N puts the scenarios
    ///   on N and the faults on N+1 … N+8 (`plannedFaultURL`), so their URLs are known in advance.
    /// - Throws: `SandboxError` (`.invalidPort`, `.portInUse`, `.socket`, `.tls`).
    public static func start(scenarios: ScenarioCatalog, port: Int = 0, options: SandboxOptions = SandboxOptions()) throws -> SandboxServer {
        guard port == 0 || (1...(65535 - SandboxFault.portSpan)).contains(port) else { throw SandboxError.invalidPort(port) }
        // A peer that closes while OpenSSL writes must not kill the process (OpenSSL writes with
        // write(2), which raises SIGPIPE; plain sockets use MSG_NOSIGNAL). The probe does the same.
        signal(SIGPIPE, SIG_IGN)

        let tls = try SelfSignedTLS()
        let stop = try StopSignal()
        var opened: [Int32] = []
        func portFor(_ fault: SandboxFault) -> Int { port == 0 ? 0 : port + (fault.portOffset ?? 0) }
        do {
            let scenarioListener = try Sockets.listen(port: port)
            opened.append(scenarioListener)
            var listeners: [(fd: Int32, role: ListenerRole)] = [(scenarioListener, .scenarios)]
            var faultPorts: [SandboxFault: Int] = [:]
            for fault in SandboxFault.listening {
                let fd = try Sockets.listen(port: portFor(fault))
                opened.append(fd)
                listeners.append((fd, .fault(fault)))
                faultPorts[fault] = Sockets.localPort(fd)
            }
            let reserved = try Sockets.reserveClosedPort(portFor(.refused))
            opened.append(reserved)
            faultPorts[.refused] = Sockets.localPort(reserved)

            let runtime = SandboxRuntime(stop: stop, router: ScenarioRouter(catalog: scenarios), options: options,
                                         tls: tls, faultPorts: faultPorts)
            let lifecycle = Lifecycle(listeners: listeners, reserved: reserved, runtime: runtime)
            lifecycle.startAccepting()
            return SandboxServer(port: Sockets.localPort(scenarioListener), scenarios: scenarios,
                                 faultPorts: faultPorts, runtime: runtime, lifecycle: lifecycle)
        } catch {
            for fd in opened { close(fd) }
            stop.release()
            throw error
        }
    }

    private init(port: Int, scenarios: ScenarioCatalog, faultPorts: [SandboxFault: Int], runtime: SandboxRuntime, lifecycle: Lifecycle) {
        self.port = port
        self.scenarios = scenarios
        self.faultPorts = faultPorts
        self.runtime = runtime
        self.lifecycle = lifecycle
    }

    deinit { lifecycle.stop() }

    /// The URL of a fault. Any method and path under it meets the fault, so it can stand in for a
    /// provider's base URL. `dns` is always "http://sandbox-dns-failure.invalid/".
    public func faultURL(_ fault: SandboxFault) -> String {
        Self.faultURL(fault, port: faultPorts[fault] ?? 0)
    }

    /// Every fault with its URL, in `SandboxFault.allCases` order.
    public var faultURLs: [(fault: SandboxFault, url: String)] {
        SandboxFault.allCases.map { ($0, faultURL($0)) }
    }

    /// The URL a fault will have when the scenarios are started on `port` (nil for port 0, where
    /// the kernel picks the ports at start-up; `dns` never depends on the port).
    public static func plannedFaultURL(_ fault: SandboxFault, scenarioPort port: Int) -> String? {
        if fault == .dns { return faultURL(.dns, port: 0) }
        guard port > 0, let offset = fault.portOffset else { return nil }
        return faultURL(fault, port: port + offset)
    }

    static func faultURL(_ fault: SandboxFault, port: Int) -> String {
        switch fault {
        case .dns: return "http://\(SandboxFault.unresolvableHost)/"
        case .tlsSelfSigned: return "https://127.0.0.1:\(port)/"
        default: return "http://127.0.0.1:\(port)/"
        }
    }

    /// The test OAuth authorization servers on the scenario listener, one per provider with a
    /// healthy token scenario (`/oauth/{provider}/authorize` and `/oauth/{provider}/token`).
    public var oauthEndpoints: [SandboxOAuthEndpoint] { scenarios.oauthEndpoints }

    /// The authorize and token URLs of a provider's test authorization server, nil when the
    /// Sandbox runs none for it.
    public func oauthURLs(provider: String) -> (authorize: String, token: String)? {
        guard let endpoint = oauthEndpoints.first(where: { $0.provider == provider }) else { return nil }
        return (baseURL + endpoint.authorizePath, baseURL + endpoint.tokenPath)
    }

    /// Closes every listener and connection (the black hole's too) and joins every thread; the
    /// ports are free when it returns. Idempotent.
    public func stop() { lifecycle.stop() }
}

enum ListenerRole: Sendable {
    case scenarios
    case fault(SandboxFault)

    var name: String {
        switch self {
        case .scenarios: return "scenarios"
        case let .fault(fault): return fault.rawValue
        }
    }
}

/// The listeners, the accept thread and the shutdown order.
private final class Lifecycle: @unchecked Sendable {
    private let listeners: [(fd: Int32, role: ListenerRole)]
    private let reserved: Int32
    private let runtime: SandboxRuntime
    private let acceptorDone = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var stopped = false

    init(listeners: [(fd: Int32, role: ListenerRole)], reserved: Int32, runtime: SandboxRuntime) {
        self.listeners = listeners
        self.reserved = reserved
        self.runtime = runtime
    }

    func startAccepting() {
        let thread = Thread { [self] in
            acceptLoop()
            acceptorDone.signal()
        }
        thread.name = "sandbox-accept"
        thread.start()
    }

    private func acceptLoop() {
        let roles = Dictionary(uniqueKeysWithValues: listeners.map { ($0.fd, $0.role) })
        while let ready = runtime.stop.waitForAny(listeners.map(\.fd)) {
            for listener in ready {
                guard let role = roles[listener] else { continue }
                while let fd = Sockets.acceptPending(listener) {
                    runtime.tracker.spawn(fd, name: "sandbox-\(role.name)") { [runtime] fd in runtime.serve(fd, role: role) }
                }
            }
        }
    }

    func stop() {
        lock.lock()
        if stopped { lock.unlock(); return }
        stopped = true
        lock.unlock()

        runtime.stop.fire()
        let acceptorJoined = acceptorDone.wait(timeout: .now() + 5) == .success
        let connectionsJoined = runtime.tracker.stopAll(seconds: 5)
        for listener in listeners { close(listener.fd) }
        close(reserved)
        // The signal's descriptor may only be reused once nothing polls it any more.
        if acceptorJoined && connectionsJoined { runtime.stop.release() }
    }
}

/// Serves accepted connections. Shared (read-only) by every connection thread.
final class SandboxRuntime: Sendable {
    let stop: StopSignal
    let tracker = ConnectionTracker()
    let router: ScenarioRouter
    let options: SandboxOptions
    let tls: SelfSignedTLS
    let faultPorts: [SandboxFault: Int]

    init(stop: StopSignal, router: ScenarioRouter, options: SandboxOptions, tls: SelfSignedTLS, faultPorts: [SandboxFault: Int]) {
        self.stop = stop
        self.router = router
        self.options = options
        self.tls = tls
        self.faultPorts = faultPorts
    }

    /// What one connection's request gets.
    enum Action {
        case respond(HTTPResponse, SandboxAccess)
        case fault(SandboxFault, scenario: String?)
    }

    func serve(_ fd: Int32, role: ListenerRole) {
        switch role {
        case .scenarios:
            serveHTTP(PlainStream(fd: fd)) { request in
                switch self.router.answer(request) {
                case let .respond(response, access):
                    if self.options.latency > 0 { usleep(useconds_t(min(self.options.latency, 30) * 1_000_000)) }
                    return .respond(response, access)
                case let .fault(fault, scenario): return .fault(fault, scenario: scenario)
                }
            }
        case .fault(.blackhole):
            // Before any request: a black hole does not even read politely.
            log(SandboxAccess(listener: SandboxFault.blackhole.rawValue, method: "-", scenario: nil, route: nil, status: nil, note: "held open, never answered"))
            holdOpen(fd)
        case .fault(.tlsSelfSigned):
            let (stream, failure) = tls.accept(fd)
            guard let stream else {
                log(SandboxAccess(listener: SandboxFault.tlsSelfSigned.rawValue, method: "-", scenario: nil, route: nil, status: nil,
                                  note: "TLS handshake failed: \(failure ?? "unknown")"))
                return
            }
            serveHTTP(stream) { request in
                .respond(Self.trustedTLSAnswer, SandboxAccess(listener: SandboxFault.tlsSelfSigned.rawValue,
                                                              method: ScenarioRouter.loggable(request.method), scenario: nil,
                                                              route: nil, status: 200, note: "the client trusted the self-signed certificate"))
            }
        case let .fault(fault):
            serveHTTP(PlainStream(fd: fd)) { _ in .fault(fault, scenario: nil) }
        }
    }

    /// Only a client that was given this very certificate gets here.
    static let trustedTLSAnswer = HTTPResponse.json(200, [
        ("status", .string("ok")),
        ("note", .string("This sandbox endpoint's certificate is self-signed; clients must reject it unless they were given it.")),
    ])

    /// Requests one after another on a connection until it closes, idles out, or an answer ends it.
    private func serveHTTP(_ stream: ByteStream, answer: (HTTPRequest) -> Action) {
        var reader = RequestReader()
        while true {
            switch reader.next(from: stream, stop: stop, idleSeconds: options.idleTimeout) {
            case .finished:
                return
            case let .malformed(status, message):
                _ = stream.send(HTTPResponse.json(status, [("error", .string("bad_request")), ("error_description", .string(message))])
                    .serialized(closing: true))
                return
            case let .request(request):
                let closing = request.wantsClose
                switch answer(request) {
                case let .respond(response, access):
                    log(access)
                    guard stream.send(response.serialized(headOnly: request.method.uppercased() == "HEAD", closing: closing)), !closing else { return }
                case let .fault(fault, scenario):
                    guard meet(fault, on: stream, request: request, scenario: scenario), !closing else { return }
                }
            }
        }
    }

    /// Plays a fault on a connection whose request has been read. Returns whether the connection
    /// may carry another request (only for the faults that are ordinary answers).
    private func meet(_ fault: SandboxFault, on stream: ByteStream, request: HTTPRequest, scenario: String?) -> Bool {
        let method = ScenarioRouter.loggable(request.method)
        func access(_ status: Int?, _ note: String) -> SandboxAccess {
            SandboxAccess(listener: scenario == nil ? fault.rawValue : "scenarios", method: method, scenario: scenario,
                          route: nil, status: status, note: note)
        }
        let headOnly = method.uppercased() == "HEAD"
        switch fault {
        case .blackhole:
            log(access(nil, "blackhole: held open, never answered"))
            holdOpen(stream.fd)
            return false
        case .reset:
            log(access(nil, "reset after part of the headers"))
            _ = stream.send(Array("HTTP/1.1 200 OK\r\nContent-Type: application/js".utf8))
            // Let the partial headers reach the client before the RST does.
            _ = stop.wait(seconds: 0.05)
            Sockets.abortOnClose(stream.fd)
            return false
        case .slowBody:
            let pace = options.slowBody
            log(access(200, "slow body: \(pace.totalBytes) bytes over \(pace.duration) s"))
            let head = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                    body: [UInt8](repeating: 0, count: pace.totalBytes))
            // The head announces the full length; the body follows chunk by chunk.
            let headBytes = head.serialized(headOnly: true, closing: true)
            guard stream.send(headBytes), !headOnly else { return false }
            let text = Array(String(repeating: "slow body ", count: pace.totalBytes / 10 + 1).utf8.prefix(pace.totalBytes))
            var offset = 0
            while offset < text.count {
                guard stop.wait(seconds: pace.interval) == .timedOut else { return false }
                let end = min(text.count, offset + pace.chunkBytes)
                guard stream.send(Array(text[offset..<end])) else { return false }
                offset = end
            }
            return false
        case .redirectLoop:
            // An absolute Location on 127.0.0.1 (a relative "//x" target must not turn into a host).
            let target = request.target.hasPrefix("/") ? request.target : "/"
            let location = "http://127.0.0.1:\(Sockets.localPort(stream.fd))\(target)"
            log(access(302, "redirect to itself"))
            let response = HTTPResponse(status: 302, headers: [("Location", location), ("Content-Type", "text/plain; charset=utf-8")],
                                        body: Array("Redirecting to the same URL again.\n".utf8))
            return stream.send(response.serialized(headOnly: headOnly, closing: request.wantsClose))
        case .outage:
            log(access(503, "outage"))
            return stream.send(Self.outageAnswer.serialized(headOnly: headOnly, closing: request.wantsClose))
        case .rateLimit:
            log(access(429, "rate limit"))
            return stream.send(Self.rateLimitAnswer.serialized(headOnly: headOnly, closing: request.wantsClose))
        case .refused, .dns, .tlsSelfSigned:
            // A scenario naming a fault that needs its own address: the client should have been sent there.
            let url = SandboxServer.faultURL(fault, port: faultPorts[fault] ?? 0)
            log(access(421, "fault \(fault.rawValue) needs its own URL"))
            let response = HTTPResponse.json(421, [
                ("error", .string("misdirected_request")),
                ("error_description", .string("Scenario '\(scenario ?? "?")' is the '\(fault.rawValue)' fault; point the provider's base URL at \(url)")),
                ("fault_url", .string(url)),
            ])
            return stream.send(response.serialized(headOnly: headOnly, closing: request.wantsClose))
        }
    }

    static let outageAnswer = HTTPResponse(
        status: 503, headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
        body: Array("""
        <!DOCTYPE html>
        <html><head><title>503 Service Unavailable</title></head>
        <body><h1>Down for maintenance</h1><p>The service is temporarily unavailable because of scheduled maintenance. Please try again later.</p></body></html>

        """.utf8))

    static let rateLimitAnswer = HTTPResponse.json(429, [
        ("error", .string("rate_limit_exceeded")),
        ("error_description", .string("Too many requests. Retry after 30 seconds.")),
    ], headers: [("Retry-After", "30")])

    /// Reads and discards whatever arrives, never answering, until the peer closes or the sandbox stops.
    private func holdOpen(_ fd: Int32) {
        var scratch = [UInt8](repeating: 0, count: 4096)
        while stop.wait(readable: fd, seconds: nil) == .ready {
            let n = recv(fd, &scratch, scratch.count, 0)
            if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) { return }
        }
    }

    private func log(_ access: SandboxAccess) {
        options.accessLog?(access)
    }
}
