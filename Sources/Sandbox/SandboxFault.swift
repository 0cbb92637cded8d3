// The network faults the Sandbox serves beside the provider scenarios (docs/PROVIDERS.md).

/// A way a connection can fail before or while a provider answers. Each one has its own URL
/// (`SandboxServer.faultURL(_:)`); any method and path under that URL meets the fault, so a
/// provider's base URL can be pointed at it.
public enum SandboxFault: String, CaseIterable, Sendable, Hashable, Codable {
    /// A port on 127.0.0.1 that is reserved but never listens: connect gets a RST (curl 7).
    case refused
    /// A host under `.invalid` (RFC 6761), which never resolves (curl 6).
    case dns
    /// Accepts the connection and reads, but never answers (the client's timeout ends it, curl 28).
    case blackhole
    /// Sends part of the response headers, then resets the connection (curl 56 or 52).
    case reset
    /// Sends the headers at once, then the body a few bytes at a time (`SlowBodyPace`).
    case slowBody = "slow-body"
    /// Answers 302 with a Location pointing at the same URL (curl 47 when redirects are followed).
    case redirectLoop = "redirect-loop"
    /// Answers 503 with a maintenance page.
    case outage
    /// Answers 429 with `Retry-After: 30`.
    case rateLimit = "rate-limit"
    /// HTTPS with a certificate made at start-up and signed by nobody: a verifying client fails (curl 60).
    case tlsSelfSigned = "tls-self-signed"

    /// One line for `authdoctor sandbox --list` and the start-up banner.
    public var summary: String {
        switch self {
        case .refused: return "a port where nothing listens (connection refused)"
        case .dns: return "a host name that never resolves (RFC 6761 .invalid)"
        case .blackhole: return "accepts the connection, never answers"
        case .reset: return "sends part of the headers, then resets the connection"
        case .slowBody: return "headers at once, then the body a few bytes at a time"
        case .redirectLoop: return "302 to itself, forever"
        case .outage: return "503 with a maintenance page"
        case .rateLimit: return "429 with Retry-After: 30"
        case .tlsSelfSigned: return "HTTPS with a self-signed certificate (must fail verification)"
        }
    }

    /// Where a fault's listener sits relative to the scenario port when that port is fixed
    /// (`--port N` puts the faults on N+1 … N+8, so their URLs are known before start-up).
    /// `dns` has no listener.
    var portOffset: Int? {
        switch self {
        case .refused: return 1
        case .dns: return nil
        case .blackhole: return 2
        case .reset: return 3
        case .slowBody: return 4
        case .redirectLoop: return 5
        case .outage: return 6
        case .rateLimit: return 7
        case .tlsSelfSigned: return 8
        }
    }

    /// The largest offset: a fixed scenario port must leave room for every fault after it.
    static let portSpan = 8

    /// The faults served by an accepting listener (all but `refused` and `dns`).
    static var listening: [SandboxFault] { allCases.filter { $0 != .refused && $0 != .dns } }

    /// The unresolvable host of the `dns` fault.
    public static let unresolvableHost = "sandbox-dns-failure.invalid"
}
