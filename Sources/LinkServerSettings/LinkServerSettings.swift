import Foundation
#if canImport(Glibc)
import Glibc
#endif

// What `authdoctor serve` validates before the server starts. It lives apart from LinkServer so that
// the `authdoctor` executable checks serve's flags without linking Hummingbird and NIO; the server
// itself runs in `authdoctor-serve` (Sources/ServeCLI).

/// Limits of the link server's listener against slow, idle and piled-up connections (issue 12):
///
/// - `idleTimeout` (header-read and idle timeout): seconds a connection has to complete a request
///   head, counted from when it opens or from the end of the previous answer (keep-alive). An idle
///   connection, or a slow-loris client sending its headers a byte at a time, is closed then.
/// - `bodyTimeout`: seconds, once the head is in, for the rest of the request (the form body).
/// - `maxConnections`: open connections at once, capped below the process's descriptor limit
///   (RLIMIT_NOFILE) minus a reserve for the store and the exchanges. At the cap, a new connection
///   takes the place of the one that has waited longest without a request in progress (idle, or
///   still trickling its request head), which is closed; when every connection is busy with a
///   request, the new one is closed instead. Idle connections can thus never lock out `/healthz`
///   or a real client, and a client's request once read is never cut for room.
public struct ConnectionLimits: Sendable, Equatable {
    public var idleTimeout: Double
    public var bodyTimeout: Double
    public var maxConnections: Int

    public static let defaultIdleTimeout: Double = 15
    public static let defaultBodyTimeout: Double = 10
    public static let defaultMaxConnections = 512
    /// Descriptors kept free for the database, the log and outgoing token exchanges.
    package static let descriptorReserve = 64

    public init(idleTimeout: Double = ConnectionLimits.defaultIdleTimeout, bodyTimeout: Double = ConnectionLimits.defaultBodyTimeout,
                maxConnections: Int = ConnectionLimits.defaultMaxConnections) {
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.maxConnections = maxConnections
    }

    /// `maxConnections`, lowered to fit the process's descriptor limit.
    public var effectiveMaxConnections: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return maxConnections }
        let available = Int(clamping: limit.rlim_cur) - Self.descriptorReserve
        return max(1, min(maxConnections, available))
    }
}

/// `--metrics-listen`'s value.
public enum ListenAddress {
    /// `ADDRESS:PORT` (`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:0`), or nil when it is not that.
    public static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, host.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || ".:-".unicodeScalars.contains($0)) }),
              let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        return (host, port)
    }
}
