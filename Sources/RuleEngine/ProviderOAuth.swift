import EvidenceModel
import Foundation
import Yams

// The `oauth:` section of a provider definition (docs/PROVIDERS.md): how a client grants the
// platform access through an OAuth 2.0 authorization-code flow with PKCE (`authdoctor serve`).
// Data only: the link server builds the authorize URL and the token request from it.

/// How the client (the platform's OAuth app) proves itself at the token endpoint.
public enum OAuthClientAuthentication: String, Sendable, CaseIterable {
    /// `client_id` and `client_secret` in the form body (RFC 6749 2.3.1's second option).
    case form
    /// HTTP Basic with the client id and secret (RFC 6749 2.3.1's first option).
    case basic
}

public struct OAuthEndpoints: Sendable, Equatable {
    /// Where the browser goes to sign in and consent (absolute http(s) URL, no query).
    public var authorizeURL: String
    /// Where the server exchanges the code for tokens.
    public var tokenURL: String
    /// Requested scopes; the definition's `required-scopes` when the section names none.
    public var scopes: [String]
    /// Joins the scopes in the `scope` parameter: " " (RFC 6749) or "," (Facebook).
    public var scopeSeparator: String
    /// Extra authorize-URL parameters, in file order (Google: access_type=offline, prompt=consent).
    public var authorizeParameters: [OAuthParameter]
    public var clientAuthentication: OAuthClientAuthentication

    public init(authorizeURL: String, tokenURL: String, scopes: [String], scopeSeparator: String = " ",
                authorizeParameters: [OAuthParameter] = [], clientAuthentication: OAuthClientAuthentication = .form) {
        self.authorizeURL = authorizeURL
        self.tokenURL = tokenURL
        self.scopes = scopes
        self.scopeSeparator = scopeSeparator
        self.authorizeParameters = authorizeParameters
        self.clientAuthentication = clientAuthentication
    }

    /// The same flow against other endpoints (the Sandbox's test authorization server, a proxy).
    public func pointed(authorizeURL: String, tokenURL: String) -> OAuthEndpoints {
        var copy = self
        copy.authorizeURL = authorizeURL
        copy.tokenURL = tokenURL
        return copy
    }
}

public struct OAuthParameter: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

extension ProviderLoader {
    static let oauthKeys: Set<String> = [
        "authorize-url", "token-url", "scopes", "scope-separator", "authorize-parameters", "client-authentication", "docs",
    ]
    /// Parameters the server sets itself; a definition may not override them.
    public static let reservedAuthorizeParameters: Set<String> = [
        "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
    ]

    mutating func loadOAuth(_ node: Node, file: String, requiredScopes: [String]) -> OAuthEndpoints? {
        guard let map = node.mapping else {
            issue(file, node, "'oauth' must be a mapping (authorize-url, token-url, scopes, ...)")
            return nil
        }
        let start = issues.count
        for (key, _) in map where !Self.oauthKeys.contains(key.string ?? "") {
            issue(file, key, "unknown key '\(key.string ?? "?")' in oauth (allowed: \(Self.oauthKeys.sorted().joined(separator: ", ")))")
        }
        let fields = RuleLoader.fields(map)
        func endpoint(_ key: String) -> String? {
            guard let value = fields[key] else { issue(file, node, "'oauth' is missing '\(key)'"); return nil }
            guard let url = value.scalar?.string, !url.isEmpty else { issue(file, value, "'\(key)' must be a URL"); return nil }
            if let problem = Self.oauthURLProblem(url) { issue(file, value, "'\(key)' \(problem)"); return nil }
            return url
        }
        let authorizeURL = endpoint("authorize-url")
        let tokenURL = endpoint("token-url")

        var scopes = requiredScopes
        if fields["scopes"] != nil {
            scopes = strings(fields["scopes"], "scopes", file: file)
        }
        var separator = " "
        if let s = fields["scope-separator"] {
            switch s.scalar?.string {
            case " ", "space": separator = " "
            case ",", "comma": separator = ","
            default: issue(file, s, "'scope-separator' must be space or comma")
            }
        }
        for scope in scopes where scope.contains(where: { $0 == " " || $0 == "," || $0.isNewline }) {
            issue(file, fields["scopes"], "scope '\(scope)' must not contain spaces or commas")
        }

        var parameters: [OAuthParameter] = []
        if let p = fields["authorize-parameters"] {
            if let pm = p.mapping {
                for (key, value) in pm {
                    guard let name = key.string, !name.isEmpty,
                          name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }) else {
                        issue(file, key, "authorize parameter names are letters, digits, '_', '-' and '.'"); continue
                    }
                    if Self.reservedAuthorizeParameters.contains(name) {
                        issue(file, key, "'\(name)' is set by the server; it cannot be an authorize parameter"); continue
                    }
                    guard let v = value.scalar?.string else { issue(file, value, "authorize parameter '\(name)' needs a text value"); continue }
                    parameters.append(OAuthParameter(name: name, value: v))
                }
            } else {
                issue(file, p, "'authorize-parameters' must map parameter names to values")
            }
        }
        var authentication = OAuthClientAuthentication.form
        if let a = fields["client-authentication"] {
            if let value = a.scalar.flatMap({ OAuthClientAuthentication(rawValue: $0.string) }) {
                authentication = value
            } else {
                issue(file, a, "'client-authentication' must be \(OAuthClientAuthentication.allCases.map(\.rawValue).joined(separator: " or "))")
            }
        }
        guard issues.count == start, let authorizeURL, let tokenURL else { return nil }
        return OAuthEndpoints(authorizeURL: authorizeURL, tokenURL: tokenURL, scopes: scopes, scopeSeparator: separator,
                              authorizeParameters: parameters, clientAuthentication: authentication)
    }

    /// Why an OAuth endpoint is unusable, or nil: an absolute URL without query, fragment or user
    /// info, and https unless it is on loopback (a local test server).
    public static func oauthURLProblem(_ url: String) -> String? {
        if let problem = baseURLProblem(url) { return problem }
        if url.lowercased().hasPrefix("http://"), !isLoopbackHost(URLFacts.host(of: url) ?? "") {
            return "must use https (plain http is allowed on loopback only)"
        }
        return nil
    }

    /// 127.0.0.0/8, localhost, ::1.
    public static func isLoopbackHost(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "::1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
