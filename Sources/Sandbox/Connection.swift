// One accepted connection, plain or TLS, and the HTTP/1.1 request reader on top of it.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes in and out of one accepted connection. Confined to the thread serving it.
protocol ByteStream: AnyObject {
    var fd: Int32 { get }
    /// Decrypted bytes already waiting inside the stream (TLS), so poll() on the socket would miss them.
    var hasBufferedInput: Bool { get }
    /// Appends what arrives; false on end of stream or error.
    func receive(into buffer: inout [UInt8]) -> Bool
    func send(_ bytes: [UInt8]) -> Bool
}

final class PlainStream: ByteStream {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }

    var hasBufferedInput: Bool { false }

    func receive(into buffer: inout [UInt8]) -> Bool {
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

    func send(_ bytes: [UInt8]) -> Bool { Sockets.sendAll(fd, bytes) }
}

/// Reads HTTP/1.1 requests one after another from a connection (keep-alive), with limits.
struct RequestReader {
    enum Outcome {
        case request(HTTPRequest)
        /// The peer closed, the connection idled past its timeout, or the sandbox is stopping.
        case finished
        /// Not HTTP, or beyond the limits: answer this status and close.
        case malformed(status: Int, message: String)
    }

    static let maxHeaderBytes = 64 * 1024
    static let maxBodyBytes = 4 * 1024 * 1024

    private var buffer: [UInt8] = []

    /// `idleSeconds` bounds the wait for the first byte of a request; `stop` ends every wait.
    mutating func next(from stream: ByteStream, stop: StopSignal, idleSeconds: Double) -> Outcome {
        var headerEnd: Int?
        var searchFrom = 0
        while true {
            headerEnd = Self.find([13, 10, 13, 10], in: buffer, from: searchFrom)
            if headerEnd != nil { break }
            if buffer.count > Self.maxHeaderBytes { return .malformed(status: 431, message: "request headers exceed 64 KiB") }
            searchFrom = max(0, buffer.count - 3)
            guard fill(from: stream, stop: stop, seconds: idleSeconds) else { return .finished }
        }
        let headEnd = headerEnd!
        let head = String(decoding: buffer[..<headEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        // Tolerate empty lines before a request (RFC 9112 2.2).
        while let first = lines.first, first.isEmpty { lines.removeFirst() }
        guard let requestLine = lines.first else { return .malformed(status: 400, message: "empty request") }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            return .malformed(status: 400, message: "not an HTTP/1.x request line")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .malformed(status: 400, message: "header line without ':'") }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let lower = headers.map { ($0.name.lowercased(), $0.value) }
        if lower.contains(where: { $0.0 == "transfer-encoding" }) {
            return .malformed(status: 501, message: "chunked request bodies are not supported; send a Content-Length")
        }
        var length = 0
        if let value = lower.first(where: { $0.0 == "content-length" })?.1 {
            guard let parsed = Int(value), parsed >= 0 else { return .malformed(status: 400, message: "bad Content-Length") }
            guard parsed <= Self.maxBodyBytes else { return .malformed(status: 413, message: "request body exceeds 4 MiB") }
            length = parsed
        }
        let bodyStart = headEnd + 4
        while buffer.count < bodyStart + length {
            // Once a request has begun, its body must follow promptly.
            guard fill(from: stream, stop: stop, seconds: 10) else { return .finished }
        }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return .request(HTTPRequest(method: String(parts[0]), target: String(parts[1]), version: String(parts[2]),
                                    headers: headers, body: body))
    }

    private mutating func fill(from stream: ByteStream, stop: StopSignal, seconds: Double) -> Bool {
        if !stream.hasBufferedInput {
            guard stop.wait(readable: stream.fd, seconds: seconds) == .ready else { return false }
        }
        return stream.receive(into: &buffer)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = start
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0] {
                var match = true
                for j in 1..<needle.count where haystack[i + j] != needle[j] { match = false; break }
                if match { return i }
            }
            i += 1
        }
        return nil
    }
}
