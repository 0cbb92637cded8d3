// A small real HTTP/1.1 server on 127.0.0.1 for tests: POSIX sockets, one accept thread, one thread
// per connection. It binds to the loopback address only and never connects anywhere.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request as the loopback server parsed it.
public struct LoopbackRequest: Sendable {
    public var method: String
    /// Request target as sent, query included ("/a/b?x=1").
    public var path: String
    public var version: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// First value of a header, case-insensitive.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// Path without the query.
    public var pathOnly: String { String(path.split(separator: "?", maxSplits: 1).first ?? "") }
}

/// What the server does with a request.
public enum LoopbackAction: Sendable {
    /// Write these bytes verbatim, then close the connection.
    case respond(raw: [UInt8])
    /// Keep the connection open, read and never answer, until the client goes or the server stops.
    case blackHole
    /// Send a partial status line + headers, then close with SO_LINGER 0 so the peer gets a RST.
    case reset
    /// Send a 200 with Content-Length of all chunks, then each chunk after `delay` seconds.
    case slowBody(chunks: [[UInt8]], delay: Double)
    /// A well-formed response with Content-Length; the connection stays open for further requests
    /// (keep-alive) unless the client asked to close. Build it with `respond(status:headers:body:)`.
    case keepAlive(status: Int, headers: [(String, String)], body: [UInt8])

    /// A well-formed response (Content-Length added unless given), connection kept alive.
    public static func respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) -> LoopbackAction {
        .keepAlive(status: status, headers: headers, body: body)
    }

    public static func respond(status: Int, headers: [(String, String)] = [], body: String) -> LoopbackAction {
        .keepAlive(status: status, headers: headers, body: Array(body.utf8))
    }

    /// A raw response from text (use "\r\n" line ends).
    public static func respond(rawText: String) -> LoopbackAction { .respond(raw: Array(rawText.utf8)) }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

public enum LoopbackError: Error, CustomStringConvertible {
    case socket(String, Int32)

    public var description: String {
        switch self {
        case let .socket(what, err): return "loopback server: \(what) failed: \(String(cString: strerror(err)))"
        }
    }
}

public final class LoopbackServer: @unchecked Sendable {
    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private let handler: @Sendable (LoopbackRequest) -> LoopbackAction
    private let listenFD: Int32
    private let lock = NSLock()
    private var clientFDs = Set<Int32>()
    private var stopped = false
    private var requests: [LoopbackRequest] = []
    private var connections = 0
    private let acceptDone = DispatchSemaphore(value: 0)

    /// Starts listening on 127.0.0.1 with a kernel-chosen port.
    public init(handler: @escaping @Sendable (LoopbackRequest) -> LoopbackAction) throws {
        self.handler = handler
        let fd = try LoopbackSocket.listen(port: 0)
        listenFD = fd
        port = LoopbackSocket.localPort(fd)
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "loopback-accept-\(port)"
        thread.start()
    }

    deinit { stop() }

    /// Requests received so far, in arrival order.
    public var receivedRequests: [LoopbackRequest] {
        lock.lock(); defer { lock.unlock() }
        return requests
    }

    /// TCP connections accepted so far.
    public var acceptedConnections: Int {
        lock.lock(); defer { lock.unlock() }
        return connections
    }

    /// Stops accepting, wakes and closes every open connection (black holes included). Idempotent.
    public func stop() {
        lock.lock()
        if stopped { lock.unlock(); return }
        stopped = true
        for fd in clientFDs { shutdown(fd, Int32(SHUT_RDWR)) }
        lock.unlock()
        shutdown(listenFD, Int32(SHUT_RDWR))
        acceptDone.wait()
        close(listenFD)
    }

    /// A 127.0.0.1 port where nothing listens (bound to find a free one, then closed).
    public static func unusedPort() -> Int {
        guard let fd = try? LoopbackSocket.bindOnly(port: 0) else { return 1 }
        let port = LoopbackSocket.localPort(fd)
        close(fd)
        return port
    }

    // MARK: internals

    private func acceptLoop() {
        defer { acceptDone.signal() }
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return  // shut down (EINVAL) or fatal
            }
            lock.lock()
            if stopped { lock.unlock(); close(fd); return }
            clientFDs.insert(fd)
            connections += 1
            lock.unlock()
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let thread = Thread { [self] in serve(fd) }
            thread.name = "loopback-conn"
            thread.start()
        }
    }

    private func forget(_ fd: Int32, abort: Bool = false) {
        lock.lock()
        clientFDs.remove(fd)
        lock.unlock()
        if abort {
            var l = linger(l_onoff: 1, l_linger: 0)  // close() now sends RST
            setsockopt(fd, Int32(SOL_SOCKET), SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        }
        close(fd)
    }

    private var isStopped: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopped
    }

    private func serve(_ fd: Int32) {
        var buffer: [UInt8] = []
        while true {
            guard let request = readRequest(fd, buffer: &buffer) else { forget(fd); return }
            lock.lock()
            requests.append(request)
            lock.unlock()
            switch handler(request) {
            case let .respond(raw):
                _ = LoopbackSocket.sendAll(fd, raw)
                shutdown(fd, Int32(SHUT_WR))
                LoopbackSocket.drain(fd, seconds: 1)
                forget(fd)
                return
            case let .keepAlive(status, headers, body):
                let close = request.header("connection")?.lowercased() == "close" || request.version == "HTTP/1.0"
                var head = "HTTP/1.1 \(status) \(LoopbackAction.reasonPhrase(status))\r\n"
                for (name, value) in headers { head += "\(name): \(value)\r\n" }
                if !headers.contains(where: { $0.0.lowercased() == "content-length" }) {
                    head += "Content-Length: \(body.count)\r\n"
                }
                if close { head += "Connection: close\r\n" }
                head += "\r\n"
                let bytes = Array(head.utf8) + (request.method == "HEAD" ? [] : body)
                guard LoopbackSocket.sendAll(fd, bytes), !close else { forget(fd); return }
            case .blackHole:
                var scratch = [UInt8](repeating: 0, count: 4096)
                while !isStopped {
                    let n = recv(fd, &scratch, scratch.count, 0)
                    if n == 0 || (n < 0 && errno != EINTR) { break }
                }
                forget(fd)
                return
            case .reset:
                _ = LoopbackSocket.sendAll(fd, Array("HTTP/1.1 200 OK\r\nContent-Type: text/pl".utf8))
                usleep(50_000)
                forget(fd, abort: true)
                return
            case let .slowBody(chunks, delay):
                let total = chunks.reduce(0) { $0 + $1.count }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(total)\r\nConnection: close\r\n\r\n"
                var ok = LoopbackSocket.sendAll(fd, Array(head.utf8))
                for chunk in chunks where ok && !isStopped {
                    usleep(useconds_t(max(0, delay) * 1_000_000))
                    ok = LoopbackSocket.sendAll(fd, chunk)
                }
                shutdown(fd, Int32(SHUT_WR))
                LoopbackSocket.drain(fd, seconds: 1)
                forget(fd)
                return
            }
        }
    }

    /// Reads one request (headers + Content-Length body; chunked request bodies are not supported).
    private func readRequest(_ fd: Int32, buffer: inout [UInt8]) -> LoopbackRequest? {
        let terminator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            headerEnd = LoopbackSocket.find(terminator, in: buffer)
            if headerEnd == nil {
                guard LoopbackSocket.receive(fd, into: &buffer) else { return nil }
            }
        }
        let headEnd = headerEnd!
        let head = String(decoding: buffer[..<headEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: true)
        guard requestLine.count >= 2 else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]),
                            line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        let bodyStart = headEnd + 4
        while buffer.count < bodyStart + length {
            guard LoopbackSocket.receive(fd, into: &buffer) else { return nil }
        }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return LoopbackRequest(method: String(requestLine[0]), path: String(requestLine[1]),
                               version: requestLine.count > 2 ? String(requestLine[2]) : "HTTP/1.0",
                               headers: headers, body: body)
    }
}

/// Thin POSIX helpers shared by the loopback servers.
enum LoopbackSocket {
    static func bindOnly(port: Int) throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw LoopbackError.socket("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, Int32(SOL_SOCKET), SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian  // 127.0.0.1 only
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let err = errno
            close(fd)
            throw LoopbackError.socket("bind", err)
        }
        return fd
    }

    static func listen(port: Int) throws -> Int32 {
        let fd = try bindOnly(port: port)
        #if canImport(Glibc)
        let rc = Glibc.listen(fd, 512)
        #else
        let rc = Darwin.listen(fd, 512)
        #endif
        guard rc == 0 else {
            let err = errno
            close(fd)
            throw LoopbackError.socket("listen", err)
        }
        return fd
    }

    static func localPort(_ fd: Int32) -> Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:port.
    static func canConnect(port: Int) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { raw in
                send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// Appends what arrives to `buffer`; false on EOF or error.
    static func receive(_ fd: Int32, into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
                return true
            }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    /// Reads and discards until EOF or `seconds` pass (lets the peer read our FIN before close).
    static func drain(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: 0)
        setsockopt(fd, Int32(SOL_SOCKET), SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var scratch = [UInt8](repeating: 0, count: 4096)
        while recv(fd, &scratch, scratch.count, 0) > 0 {}
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = 0
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
