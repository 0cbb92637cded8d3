import EvidenceModel
import Foundation
import Links
import RuleEngine

/// One provider a link can connect: its OAuth endpoints (from the provider definition, or the
/// Sandbox's) and the platform's OAuth app registered there.
public struct OAuthClientSetup: Sendable {
    public var provider: String
    /// Shown on the link page ("Google Ads").
    public var displayName: String
    public var endpoints: OAuthEndpoints
    public var clientID: String
    /// Nil for a public client (PKCE only); every provider here expects one.
    public var clientSecret: String?

    public init(provider: String, displayName: String, endpoints: OAuthEndpoints, clientID: String, clientSecret: String?) {
        self.provider = provider
        self.displayName = displayName
        self.endpoints = endpoints
        self.clientID = clientID
        self.clientSecret = clientSecret
    }
}

public struct LinkServerConfiguration: Sendable {
    /// Address to bind; loopback by default (a TLS proxy in front publishes it).
    public var host: String
    /// 0 = any free port (the running server reports the one it got).
    public var port: Int
    /// What browsers and providers see (`https://links.example.com`): every redirect and the OAuth
    /// `redirect_uri` are built from it, never from the request's Host header. Nil = `http://host:port`
    /// of the running server.
    public var publicURL: String?
    /// Providers a link can connect, by provider id.
    public var clients: [String: OAuthClientSetup]
    /// Seconds the code exchange at a token endpoint may take.
    public var exchangeTimeout: Double
    /// Trust anchors for the token endpoints (tests with a self-signed provider); libcurl's default otherwise.
    public var caBundlePath: String?
    /// The clock (tests move it past a link's expiry).
    public var now: @Sendable () -> Date
    /// Header-read/idle and body timeouts, and the connection cap of the listener.
    public var limits: ConnectionLimits

    public init(host: String = "127.0.0.1", port: Int = 8080, publicURL: String? = nil, clients: [String: OAuthClientSetup],
                exchangeTimeout: Double = 10, caBundlePath: String? = nil, limits: ConnectionLimits = ConnectionLimits(),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.limits = limits
        self.host = host
        self.port = port
        self.publicURL = publicURL
        self.clients = clients
        self.exchangeTimeout = exchangeTimeout
        self.caBundlePath = caBundlePath
        self.now = now
    }

    /// The public URL as the server uses it (no trailing slash), or a one-line usage error.
    public static func validatedPublicURL(_ url: String) throws(InputError) -> String {
        let trimmed = ProviderLoader.trimmingSlash(url.trimmingCharacters(in: .whitespaces))
        if let problem = ProviderLoader.baseURLProblem(trimmed) {
            throw InputError(.usage, "--public-url \(problem) (e.g. https://links.example.com)")
        }
        let afterScheme = trimmed.drop(while: { $0 != ":" }).dropFirst(3)
        if afterScheme.contains("/") {
            throw InputError(.usage, "--public-url must be the server's origin without a path (e.g. https://links.example.com)")
        }
        return trimmed
    }

    /// The browser-facing setups for the providers that have an `oauth:` section, pointed at the
    /// Sandbox's test authorization servers (`{sandbox}/oauth/{provider}/authorize|token`).
    public static func sandboxClients(definitions: [String: ProviderDefinition], sandboxBaseURL: String) -> [String: OAuthClientSetup] {
        var out: [String: OAuthClientSetup] = [:]
        let base = ProviderLoader.trimmingSlash(sandboxBaseURL)
        for (id, definition) in definitions {
            guard let endpoints = definition.oauth else { continue }
            out[id] = OAuthClientSetup(
                provider: id, displayName: definition.name,
                endpoints: endpoints.pointed(authorizeURL: "\(base)/oauth/\(id)/authorize", tokenURL: "\(base)/oauth/\(id)/token"),
                clientID: SandboxOAuthClient.clientID, clientSecret: SandboxOAuthClient.clientSecret)
        }
        return out
    }
}
