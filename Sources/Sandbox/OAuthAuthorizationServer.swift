// The Sandbox's test OAuth authorization servers: `/oauth/{provider}/authorize` and
// `/oauth/{provider}/token` on the scenario listener (docs/PROVIDERS.md, contract in DESIGN notes).
// They issue the provider's healthy scenario's token, so whatever completes the flow can then be
// diagnosed as healthy against the same Sandbox.

import COpenSSL
import EvidenceModel
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A provider the Sandbox runs a test authorization server for.
public struct SandboxOAuthEndpoint: Sendable, Equatable {
    public let provider: String
    /// The healthy scenario whose `token` (and `refresh-token`, when it has one) the server issues.
    public let scenario: String
    public var authorizePath: String { "/oauth/\(provider)/authorize" }
    public var tokenPath: String { "/oauth/\(provider)/token" }
}

extension ScenarioCatalog {
    /// One endpoint per provider with a healthy (`expect: none`) scenario that carries a `token`,
    /// in the order the providers first appear. Among several healthy scenarios, the first with a
    /// `refresh-token` wins, else the first (HubSpot's OAuth scenario comes before its private app).
    public var oauthEndpoints: [SandboxOAuthEndpoint] {
        var order: [String] = []
        var chosen: [String: SandboxScenario] = [:]
        for scenario in scenarios where scenario.expect == "none" && scenario.fault == nil && scenario.credentials["token"] != nil {
            guard let current = chosen[scenario.provider] else {
                order.append(scenario.provider)
                chosen[scenario.provider] = scenario
                continue
            }
            if current.credentials["refresh-token"] == nil && scenario.credentials["refresh-token"] != nil {
                chosen[scenario.provider] = scenario
            }
        }
        return order.compactMap { provider in chosen[provider].map { SandboxOAuthEndpoint(provider: provider, scenario: $0.id) } }
    }
}

/// Every provider's authorization server, with the codes issued so far (in memory, shared by all
/// connection threads).
final class OAuthAuthorizationServers: @unchecked Sendable {
    /// Provider id → the healthy scenario whose credentials are issued.
    private let issuers: [String: SandboxScenario]
    private let codeLifetime: TimeInterval
    private let clock: @Sendable () -> Date
    private let lock = NSLock()
    private var codes: [String: IssuedCode] = [:]

    /// Outstanding codes kept at most; beyond it the oldest go first (a client hammering
    /// `authorize` must not grow the Sandbox without bound).
    static let maximumOutstandingCodes = 10_000
    static let accessTokenLifetime = 3600

    struct IssuedCode {
        let provider: String
        let clientID: String
        let redirectURI: String
        let challenge: String
        let scope: String?
        let expires: Date
    }

    init(catalog: ScenarioCatalog, codeLifetime: TimeInterval = 600, clock: @escaping @Sendable () -> Date = { Date() }) {
        var issuers: [String: SandboxScenario] = [:]
        for endpoint in catalog.oauthEndpoints { issuers[endpoint.provider] = catalog.scenario(id: endpoint.scenario) }
        self.issuers = issuers
        self.codeLifetime = codeLifetime
        self.clock = clock
    }

    /// The answer to a request for `/oauth/{provider}/authorize|token`, nil for any other path
    /// (the scenarios answer those).
    func answer(_ request: HTTPRequest) -> (HTTPResponse, SandboxAccess)? {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard segments.count == 3, segments[0] == "oauth", segments[2] == "authorize" || segments[2] == "token" else { return nil }
        let provider = String(segments[1])
        let route = "/oauth/{provider}/\(segments[2])"
        let method = request.method.uppercased()
        func log(_ status: Int, _ note: String, scenario: String? = nil) -> SandboxAccess {
            SandboxAccess(listener: "scenarios", method: ScenarioRouter.loggable(method), scenario: scenario,
                          route: route, status: status, note: note)
        }
        guard let issuer = issuers[provider] else {
            return (.json(404, [("error", .string("not_found")),
                                ("error_description", .string("The sandbox runs no OAuth authorization server for this provider"))]),
                    log(404, "no OAuth server for this provider"))
        }
        let (response, note): (HTTPResponse, String)
        if segments[2] == "authorize" {
            guard method == "GET" else {
                return (Self.methodNotAllowed("GET"), log(405, "authorize takes GET", scenario: issuer.id))
            }
            (response, note) = authorize(request, provider: provider)
        } else {
            guard method == "POST" else {
                return (Self.methodNotAllowed("POST"), log(405, "token takes POST", scenario: issuer.id))
            }
            (response, note) = token(request, provider: provider, issuer: issuer)
        }
        return (response, log(response.status, note, scenario: issuer.id))
    }

    // MARK: authorize

    private func authorize(_ request: HTTPRequest, provider: String) -> (HTTPResponse, String) {
        let query = request.query
        func parameter(_ name: String) -> String? { query.first { $0.name == name }?.value }

        guard let redirectURI = parameter("redirect_uri"), Self.isLoopbackRedirect(redirectURI) else {
            // Never redirect anywhere but loopback: the browser stays on this page.
            return (HTTPResponse(status: 400, headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
                                 body: Array("""
                                 Bad request: redirect_uri must be an absolute http(s) URL on a loopback host \
                                 (127.0.0.0/8, localhost or [::1]) without a fragment or user information.

                                 """.utf8)),
                    "redirect_uri missing or not loopback")
        }
        let state = parameter("state")
        func redirect(_ parameters: [(String, String)], _ note: String) -> (HTTPResponse, String) {
            (HTTPResponse(status: 302, headers: [("Location", Self.appending(parameters + (state.map { [("state", $0)] } ?? []), to: redirectURI)),
                                                 ("Cache-Control", "no-store"), ("Content-Type", "text/plain; charset=utf-8")],
                          body: Array("Redirecting back to the client.\n".utf8)),
             note)
        }
        func invalid(_ description: String) -> (HTTPResponse, String) {
            redirect([("error", "invalid_request"), ("error_description", description)], "invalid_request")
        }

        guard parameter("response_type") == "code" else { return invalid("response_type must be code") }
        guard let clientID = parameter("client_id"), !clientID.isEmpty else { return invalid("client_id is missing") }
        guard let challenge = parameter("code_challenge"), !challenge.isEmpty else { return invalid("code_challenge is missing (PKCE is required)") }
        guard parameter("code_challenge_method") == "S256" else { return invalid("code_challenge_method must be S256") }
        guard Self.isS256Challenge(challenge) else { return invalid("code_challenge must be 43 base64url characters (BASE64URL(SHA256(code_verifier)))") }

        if parameter("sandbox_decision") == "deny" || clientID == "sbx-deny" {
            return redirect([("error", "access_denied"), ("error_description", "The user denied access in the sandbox")], "denied")
        }
        let scope = parameter("scope").flatMap { $0.isEmpty ? nil : $0 }
        let code = issue(IssuedCode(provider: provider, clientID: clientID, redirectURI: redirectURI, challenge: challenge,
                                    scope: scope, expires: clock().addingTimeInterval(codeLifetime)))
        return redirect([("code", code)], "approved, code issued")
    }

    private func issue(_ grant: IssuedCode) -> String {
        let code = Self.randomCode()
        lock.lock()
        defer { lock.unlock() }
        let now = clock()
        if codes.count >= Self.maximumOutstandingCodes {
            codes = codes.filter { $0.value.expires > now }
            while codes.count >= Self.maximumOutstandingCodes, let oldest = codes.min(by: { $0.value.expires < $1.value.expires }) {
                codes.removeValue(forKey: oldest.key)
            }
        }
        codes[code] = grant
        return code
    }

    /// Removes the code whatever happens next: a code is good for one exchange attempt only.
    private func redeem(_ code: String) -> IssuedCode? {
        lock.lock()
        defer { lock.unlock() }
        return codes.removeValue(forKey: code)
    }

    var outstandingCodes: Int {
        lock.lock()
        defer { lock.unlock() }
        return codes.count
    }

    // MARK: token

    private func token(_ request: HTTPRequest, provider: String, issuer: SandboxScenario) -> (HTTPResponse, String) {
        guard request.header("content-type")?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
            return Self.error(400, "invalid_request", "The token request must be application/x-www-form-urlencoded")
        }
        let form = request.form
        func field(_ name: String) -> String? { form.first { $0.name == name && !$0.value.isEmpty }?.value }

        let basicClient = Self.basicClientID(request)
        if let basicClient, let formClient = field("client_id"), basicClient != formClient {
            return Self.error(400, "invalid_request", "client_id in the form and in HTTP Basic differ")
        }
        let clientID = basicClient ?? field("client_id")

        switch field("grant_type") {
        case "authorization_code":
            guard let code = field("code") else { return Self.error(400, "invalid_request", "code is missing") }
            guard let verifier = field("code_verifier") else {
                return Self.error(400, "invalid_request", "code_verifier is missing (PKCE is required)")
            }
            guard let grant = redeem(code), grant.provider == provider else {
                return Self.error(400, "invalid_grant", "The code is unknown, was already used, or belongs to another provider")
            }
            guard grant.expires > clock() else { return Self.error(400, "invalid_grant", "The code has expired") }
            guard clientID == grant.clientID else { return Self.error(400, "invalid_grant", "The code was issued to another client") }
            guard field("redirect_uri") == grant.redirectURI else {
                return Self.error(400, "invalid_grant", "redirect_uri differs from the one the code was issued for")
            }
            guard Self.s256Challenge(of: verifier) == grant.challenge else {
                return Self.error(400, "invalid_grant", "code_verifier does not match the code_challenge")
            }
            return (issued(issuer, scope: grant.scope, withRefreshToken: true), "authorization code exchanged")
        case "refresh_token":
            guard let refreshToken = field("refresh_token") else { return Self.error(400, "invalid_request", "refresh_token is missing") }
            guard let healthy = issuer.credentials["refresh-token"], refreshToken == healthy else {
                return Self.error(400, "invalid_grant", "The refresh token is unknown or revoked")
            }
            return (issued(issuer, scope: field("scope"), withRefreshToken: false), "refresh token exchanged")
        case nil:
            return Self.error(400, "invalid_request", "grant_type is missing")
        default:
            return Self.error(400, "unsupported_grant_type", "Only authorization_code and refresh_token are supported")
        }
    }

    private func issued(_ issuer: SandboxScenario, scope: String?, withRefreshToken: Bool) -> HTTPResponse {
        var body: [(String, JSONValue)] = [
            ("access_token", .string(issuer.credentials["token"] ?? "")),
            ("token_type", .string("Bearer")),
            ("expires_in", .int(Self.accessTokenLifetime)),
        ]
        if withRefreshToken, let refreshToken = issuer.credentials["refresh-token"] { body.append(("refresh_token", .string(refreshToken))) }
        if let scope { body.append(("scope", .string(scope))) }
        // OpenID Connect: with the `openid` scope the answer carries an ID token naming the account
        // (Google does); the Sandbox's is unsigned (`alg: none`) and names the account its
        // token-info fixtures name, so `connections list` shows who connected.
        if let scope, scope.split(separator: " ").contains("openid") {
            body.append(("id_token", .string(Self.idToken(email: Self.sandboxAccount, audience: issuer.credentials["client-id"] ?? ""))))
        }
        return .json(200, body, headers: Self.noStore)
    }

    /// The account the Sandbox's OpenID Connect providers sign in (as fixtures/google/tokeninfo-valid.http).
    public static let sandboxAccount = "client.analyst@example.com"

    /// An unsigned JWT (`alg: none`): header, claims, empty signature, base64url without padding.
    static func idToken(email: String, audience: String) -> String {
        func base64url(_ json: JSONValue) -> String {
            Data(JSONWriter.serialize(json).utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let header = base64url(.object([("alg", .string("none")), ("typ", .string("JWT"))]))
        let claims = base64url(.object([("iss", .string("https://sandbox.authdoctor.invalid")), ("sub", .string("sandbox-1")),
                                        ("aud", .string(audience)), ("email", .string(email)), ("email_verified", .bool(true))]))
        return header + "." + claims + "."
    }

    static let noStore: [(name: String, value: String)] = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]

    private static func error(_ status: Int, _ code: String, _ description: String) -> (HTTPResponse, String) {
        (.json(status, [("error", .string(code)), ("error_description", .string(description))], headers: noStore), code)
    }

    private static func methodNotAllowed(_ allowed: String) -> HTTPResponse {
        .json(405, [("error", .string("method_not_allowed"))], headers: [("Allow", allowed)])
    }

    private static func basicClientID(_ request: HTTPRequest) -> String? {
        guard let authorization = request.header("authorization") else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let pair = String(data: data, encoding: .utf8) else { return nil }
        // RFC 6749 2.3.1: the id is form-encoded before it goes into Basic.
        let user = pair.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map { FormEncoding.percentDecode($0) } ?? ""
        return user.isEmpty ? nil : user
    }

    // MARK: PKCE, codes and URLs

    /// BASE64URL-NOPAD(SHA-256(verifier)), RFC 7636 4.2.
    static func s256Challenge(of verifier: String) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let bytes = Array(verifier.utf8)
        let ok = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        // A failed digest yields a value no challenge equals (challenges are 43 base64url characters).
        guard ok == 1, length == 32 else { return "" }
        return base64URL(digest)
    }

    static func isS256Challenge(_ text: String) -> Bool {
        text.utf8.count == 43 && text.utf8.allSatisfy { isBase64URLByte($0) }
    }

    private static func isBase64URLByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"): return true
        default: return false
        }
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// 256 random bits from the system's CSPRNG (getrandom on Linux).
    static func randomCode() -> String {
        var generator = SystemRandomNumberGenerator()
        return base64URL((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// An absolute http(s) URL whose host is loopback: 127.0.0.0/8 (dotted quad), `localhost`, or
    /// `[::1]`. No user information (a parser disagreeing about `a@b` must not move the host) and
    /// no fragment (RFC 6749 3.1.2).
    static func isLoopbackRedirect(_ text: String) -> Bool {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != "\\" }),
              !text.contains("#"), let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              components.user == nil, components.password == nil,
              let host = components.host?.lowercased(), !host.isEmpty else { return false }
        // The authority as written must be exactly what URLComponents saw (no "@", nothing odd).
        let afterScheme = text.dropFirst(scheme.count + 3)
        guard text.lowercased().hasPrefix(scheme + "://") else { return false }
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" }
        guard !authority.contains("@") else { return false }
        if host == "localhost" { return true }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare == "::1" || bare == "0:0:0:0:0:0:0:1" { return true }
        var address = in_addr()
        guard inet_pton(AF_INET, bare, &address) == 1 else { return false }
        return UInt32(bigEndian: address.s_addr) >> 24 == 127
    }

    /// `url` with `parameters` added to its query.
    static func appending(_ parameters: [(String, String)], to url: String) -> String {
        let query = parameters.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
        let separator = url.contains("?") ? (url.hasSuffix("?") || url.hasSuffix("&") ? "" : "&") : "?"
        return url + separator + query
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
