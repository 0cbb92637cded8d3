import EvidenceModel
import Foundation
import Probe
@testable import Sandbox
import XCTest

/// The Sandbox's test OAuth authorization servers, through real libcurl on 127.0.0.1, with the
/// scenarios built into the binary (their healthy credentials are what the servers issue).
final class OAuthServerTests: SandboxTestCase {
    /// RFC 7636 appendix B.
    static let rfcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static let rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    static let redirect = "http://127.0.0.1:8765/callback"
    static let client = "000000000000-sandbox.apps.googleusercontent.com"

    func startBuiltinSandbox() throws -> SandboxServer {
        try startSandbox(catalog: try ScenarioCatalog.builtin())
    }

    func authorizeURL(_ sandbox: SandboxServer, provider: String = "google", client: String? = client,
                      redirect: String? = redirect, state: String? = "st-Abc123xyz",
                      challenge: String? = rfcChallenge, method: String? = "S256", responseType: String? = "code",
                      extra: [(String, String)] = []) -> String {
        var parameters: [(String, String)] = []
        if let responseType { parameters.append(("response_type", responseType)) }
        if let client { parameters.append(("client_id", client)) }
        if let redirect { parameters.append(("redirect_uri", redirect)) }
        if let state { parameters.append(("state", state)) }
        if let challenge { parameters.append(("code_challenge", challenge)) }
        if let method { parameters.append(("code_challenge_method", method)) }
        parameters += extra
        return OAuthAuthorizationServers.appending(parameters, to: sandbox.baseURL + "/oauth/\(provider)/authorize")
    }

    /// The query of the redirect's Location, as name → value.
    func redirectParameters(_ result: ProbeResult, file: StaticString = #filePath, line: UInt = #line) -> [String: String] {
        XCTAssertEqual(result.curlCode, 0, result.curlMessage, file: file, line: line)
        XCTAssertEqual(result.status, 302, result.bodyText, file: file, line: line)
        guard let location = result.header("location"), let components = URLComponents(string: location) else {
            XCTFail("no Location", file: file, line: line)
            return [:]
        }
        XCTAssertTrue(location.hasPrefix(Self.redirect + "?") || !location.hasPrefix("http://127.0.0.1:8765"), location, file: file, line: line)
        return Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
    }

    func approvedCode(_ sandbox: SandboxServer, provider: String = "google", client: String = client,
                      extra: [(String, String)] = [], file: StaticString = #filePath, line: UInt = #line) -> String {
        let answer = get(authorizeURL(sandbox, provider: provider, client: client, extra: extra))
        let parameters = redirectParameters(answer, file: file, line: line)
        XCTAssertEqual(parameters["state"], "st-Abc123xyz", file: file, line: line)
        XCTAssertNil(parameters["error"], file: file, line: line)
        return parameters["code"] ?? ""
    }

    func exchange(_ sandbox: SandboxServer, provider: String = "google", _ fields: [(String, String)],
                  headers: [HTTPHeader] = []) -> ProbeResult {
        let body = fields.map { "\(OAuthAuthorizationServers.percentEncode($0.0))=\(OAuthAuthorizationServers.percentEncode($0.1))" }
            .joined(separator: "&")
        return get(sandbox.baseURL + "/oauth/\(provider)/token",
                   headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")] + headers, method: "POST", body: body)
    }

    func codeFields(_ code: String, verifier: String? = rfcVerifier, redirect: String? = redirect,
                    client: String? = client) -> [(String, String)] {
        var fields = [("grant_type", "authorization_code"), ("code", code)]
        if let redirect { fields.append(("redirect_uri", redirect)) }
        if let client { fields.append(("client_id", client)) }
        if let verifier { fields.append(("code_verifier", verifier)) }
        return fields
    }

    func json(_ result: ProbeResult, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
        guard let value = try? JSON.parse(result.bodyText) else {
            XCTFail("not JSON: \(result.bodyText)", file: file, line: line)
            return .null
        }
        return value
    }

    // MARK: PKCE

    func testS256MatchesRFC7636TestVector() {
        XCTAssertEqual(OAuthAuthorizationServers.s256Challenge(of: Self.rfcVerifier), Self.rfcChallenge)
        XCTAssertNotEqual(OAuthAuthorizationServers.s256Challenge(of: Self.rfcVerifier + "x"), Self.rfcChallenge)
        // A second vector, computed with Python's hashlib (a near-miss of the RFC's verifier).
        XCTAssertEqual(OAuthAuthorizationServers.s256Challenge(of: "dBjftJeZ4CVP-mJ92IgKnjtSVUXI3I9Z4KsEnq7pYb4"),
                       "C0-PoOy72q-fDb16PsMgAL8R5dKq-WpdmRTP3vBRRE0")
        XCTAssertTrue(OAuthAuthorizationServers.isS256Challenge(Self.rfcChallenge))
        XCTAssertFalse(OAuthAuthorizationServers.isS256Challenge(Self.rfcVerifier + "="))
    }

    // MARK: the happy path

    func testApproveThenExchangeIssuesTheHealthyScenariosTokens() throws {
        let sandbox = try startBuiltinSandbox()
        let code = approvedCode(sandbox, extra: [("scope", "openid email")])
        XCTAssertGreaterThanOrEqual(code.count, 43, "at least 256 bits, base64url")

        let token = exchange(sandbox, codeFields(code))
        XCTAssertEqual(token.status, 200, token.bodyText)
        XCTAssertEqual(token.header("cache-control"), "no-store")
        let body = json(token)
        XCTAssertEqual(body["access_token"]?.stringValue, "sbx-google-healthy")
        XCTAssertEqual(body["refresh_token"]?.stringValue, "sbx-google-healthy-refresh")
        XCTAssertEqual(body["token_type"]?.stringValue, "Bearer")
        XCTAssertEqual(body["expires_in"]?.intValue, 3600)
        XCTAssertEqual(body["scope"]?.stringValue, "openid email")
        // Issue 15: with `openid`, an ID token names the account (so `connections list` can show it).
        let idToken = try XCTUnwrap(body["id_token"]?.stringValue, token.bodyText)
        let parts = idToken.split(separator: ".", omittingEmptySubsequences: false)
        XCTAssertEqual(parts.count, 3)
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        let claims = try JSON.parse(Array(try XCTUnwrap(Data(base64Encoded: payload))))
        XCTAssertEqual(claims["email"]?.stringValue, "client.analyst@example.com")

        // The issued token is the healthy scenario's: the provider's API answers it.
        let userinfo = get(sandbox.baseURL + "/v1/userinfo", headers: Self.bearer(body["access_token"]?.stringValue ?? ""))
        XCTAssertEqual(userinfo.status, 200, userinfo.bodyText)
    }

    func testEveryOAuthProviderCompletesTheFlow() throws {
        let sandbox = try startBuiltinSandbox()
        let providers = sandbox.oauthEndpoints.map(\.provider)
        for expected in ["google", "google-ads", "google-analytics", "google-sheets", "facebook", "linkedin", "hubspot"] {
            XCTAssertTrue(providers.contains(expected), "\(expected) has no OAuth server: \(providers)")
        }
        for endpoint in sandbox.oauthEndpoints {
            let scenario = try XCTUnwrap(sandbox.scenarios.scenario(id: endpoint.scenario))
            XCTAssertEqual(scenario.expect, "none")
            let code = approvedCode(sandbox, provider: endpoint.provider, client: "client-\(endpoint.provider)")
            let token = exchange(sandbox, provider: endpoint.provider, codeFields(code, client: "client-\(endpoint.provider)"))
            XCTAssertEqual(token.status, 200, "\(endpoint.provider): \(token.bodyText)")
            XCTAssertEqual(json(token)["access_token"]?.stringValue, scenario.credentials["token"], endpoint.provider)
            XCTAssertEqual(json(token)["refresh_token"]?.stringValue, scenario.credentials["refresh-token"], endpoint.provider)
        }
        XCTAssertEqual(sandbox.oauthEndpoints.first { $0.provider == "hubspot" }?.scenario, "hubspot-healthy",
                       "the OAuth scenario, not the private app")
        XCTAssertEqual(sandbox.oauthURLs(provider: "facebook")?.token, sandbox.baseURL + "/oauth/facebook/token")
        XCTAssertNil(sandbox.oauthURLs(provider: "bigquery"), "a service-account provider has no OAuth server")
    }

    func testClientMayAuthenticateWithHTTPBasic() throws {
        let sandbox = try startBuiltinSandbox()
        let code = approvedCode(sandbox)
        let basic = Data("\(Self.client):sbx-google-client-secret".utf8).base64EncodedString()
        let token = exchange(sandbox, codeFields(code, client: nil), headers: [HTTPHeader("Authorization", "Basic \(basic)")])
        XCTAssertEqual(token.status, 200, token.bodyText)

        // Basic naming one client and the form another is refused.
        let other = approvedCode(sandbox)
        let mixed = exchange(sandbox, codeFields(other, client: "someone-else"), headers: [HTTPHeader("Authorization", "Basic \(basic)")])
        XCTAssertEqual(mixed.status, 400)
        XCTAssertEqual(json(mixed)["error"]?.stringValue, "invalid_request")
    }

    func testRedirectKeepsTheClientsOwnQueryAndLoopbackForms() throws {
        let sandbox = try startBuiltinSandbox()
        for redirect in ["http://localhost:9/cb?app=1", "http://[::1]:9/cb", "https://127.7.8.9/cb", "http://127.0.0.1"] {
            let answer = get(authorizeURL(sandbox, redirect: redirect))
            XCTAssertEqual(answer.status, 302, "\(redirect): \(answer.bodyText)")
            let location = answer.header("location") ?? ""
            XCTAssertTrue(location.hasPrefix(redirect + (redirect.contains("?") ? "&" : "?")), location)
            XCTAssertTrue(location.contains("code="), location)
        }
    }

    // MARK: refusals

    func testDenyRedirectsWithAccessDeniedAndIssuesNoCode() throws {
        let sandbox = try startBuiltinSandbox()
        for url in [authorizeURL(sandbox, extra: [("sandbox_decision", "deny")]), authorizeURL(sandbox, client: "sbx-deny")] {
            let parameters = redirectParameters(get(url))
            XCTAssertEqual(parameters["error"], "access_denied")
            XCTAssertEqual(parameters["state"], "st-Abc123xyz")
            XCTAssertNotNil(parameters["error_description"])
            XCTAssertNil(parameters["code"])
        }
    }

    func testMalformedAuthorizeRequestsRedirectWithInvalidRequest() throws {
        let sandbox = try startBuiltinSandbox()
        let cases: [(String, String)] = [
            ("no challenge", authorizeURL(sandbox, challenge: nil)),
            ("plain method", authorizeURL(sandbox, method: "plain")),
            ("no method", authorizeURL(sandbox, method: nil)),
            ("not a S256 challenge", authorizeURL(sandbox, challenge: "short")),
            ("implicit grant", authorizeURL(sandbox, responseType: "token")),
            ("no client", authorizeURL(sandbox, client: nil)),
        ]
        for (name, url) in cases {
            let parameters = redirectParameters(get(url))
            XCTAssertEqual(parameters["error"], "invalid_request", name)
            XCTAssertEqual(parameters["state"], "st-Abc123xyz", name)
            XCTAssertNil(parameters["code"], name)
        }
    }

    func testNonLoopbackRedirectURIGets400AndNoRedirect() throws {
        let sandbox = try startBuiltinSandbox()
        let bad = ["https://evil.example/cb", "http://127.0.0.1.evil.example/cb", "http://evil.example@127.0.0.1/cb",
                   "http://127.0.0.1@evil.example/cb", "/callback", "ftp://127.0.0.1/cb", "http://127.0.0.1/cb#frag",
                   "http://10.0.0.1/cb", "http://[::2]/cb", "javascript:alert(1)", ""]
        for redirect in bad {
            let answer = get(authorizeURL(sandbox, redirect: redirect))
            XCTAssertEqual(answer.curlCode, 0, answer.curlMessage)
            XCTAssertEqual(answer.status, 400, redirect)
            XCTAssertNil(answer.header("location"), redirect)
            XCTAssertTrue(answer.bodyText.contains("loopback"), answer.bodyText)
        }
        let missing = get(authorizeURL(sandbox, redirect: nil))
        XCTAssertEqual(missing.status, 400)
        XCTAssertNil(missing.header("location"))
    }

    func testCodeIsSingleUse() throws {
        let sandbox = try startBuiltinSandbox()
        let code = approvedCode(sandbox)
        XCTAssertEqual(exchange(sandbox, codeFields(code)).status, 200)
        let again = exchange(sandbox, codeFields(code))
        XCTAssertEqual(again.status, 400)
        XCTAssertEqual(json(again)["error"]?.stringValue, "invalid_grant")
        XCTAssertNil(json(again)["access_token"])
    }

    func testWrongVerifierRedirectOrClientIsInvalidGrant() throws {
        let sandbox = try startBuiltinSandbox()
        let cases: [(String, (String) -> [(String, String)])] = [
            ("wrong verifier", { self.codeFields($0, verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj") }),
            ("wrong redirect_uri", { self.codeFields($0, redirect: "http://127.0.0.1:8765/other") }),
            ("missing redirect_uri", { self.codeFields($0, redirect: nil) }),
            ("wrong client", { self.codeFields($0, client: "another-client") }),
            ("no client", { self.codeFields($0, client: nil) }),
            ("unknown code", { _ in self.codeFields("not-a-code-the-sandbox-issued") }),
        ]
        for (name, fields) in cases {
            let code = approvedCode(sandbox)
            let refused = exchange(sandbox, fields(code))
            XCTAssertEqual(refused.status, 400, name)
            XCTAssertEqual(json(refused)["error"]?.stringValue, "invalid_grant", name)
            XCTAssertNil(json(refused)["access_token"], name)
        }
        // A code is also bound to its provider.
        let googleCode = approvedCode(sandbox)
        XCTAssertEqual(json(exchange(sandbox, provider: "google-ads", codeFields(googleCode)))["error"]?.stringValue, "invalid_grant")
    }

    func testMissingVerifierIsInvalidRequest() throws {
        let sandbox = try startBuiltinSandbox()
        let code = approvedCode(sandbox)
        let refused = exchange(sandbox, codeFields(code, verifier: nil))
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(json(refused)["error"]?.stringValue, "invalid_request")
    }

    func testRefreshTokenGrant() throws {
        let sandbox = try startBuiltinSandbox()
        let refreshed = exchange(sandbox, [("grant_type", "refresh_token"), ("refresh_token", "sbx-google-healthy-refresh"),
                                           ("client_id", Self.client)])
        XCTAssertEqual(refreshed.status, 200, refreshed.bodyText)
        XCTAssertEqual(json(refreshed)["access_token"]?.stringValue, "sbx-google-healthy")
        XCTAssertEqual(json(refreshed)["expires_in"]?.intValue, 3600)

        for other in ["sbx-google-expired-refresh", "sbx-gads-healthy-refresh", "nonsense"] {
            let refused = exchange(sandbox, [("grant_type", "refresh_token"), ("refresh_token", other)])
            XCTAssertEqual(refused.status, 400, other)
            XCTAssertEqual(json(refused)["error"]?.stringValue, "invalid_grant", other)
        }
        let unsupported = exchange(sandbox, [("grant_type", "password"), ("username", "u"), ("password", "p")])
        XCTAssertEqual(unsupported.status, 400)
        XCTAssertEqual(json(unsupported)["error"]?.stringValue, "unsupported_grant_type")
    }

    func testUnknownProviderIs404() throws {
        let sandbox = try startBuiltinSandbox()
        for provider in ["nope", "bigquery", "snowflake"] {
            let authorize = get(authorizeURL(sandbox, provider: provider))
            XCTAssertEqual(authorize.status, 404, provider)
            XCTAssertEqual(json(authorize)["error"]?.stringValue, "not_found")
            XCTAssertNil(authorize.header("location"))
            let token = exchange(sandbox, provider: provider, codeFields("x"))
            XCTAssertEqual(token.status, 404, provider)
        }
    }

    func testProviderRoutesUnderOAuthStillReachTheirScenarios() throws {
        // LinkedIn's introspection and HubSpot's token info live under /oauth/ too.
        let sandbox = try startBuiltinSandbox()
        let introspect = get(sandbox.baseURL + "/oauth/v2/introspectToken", headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                             method: "POST", body: "token=sbx-li-healthy&client_id=86SANDBOXclient01&client_secret=sbx-li-client-secret")
        XCTAssertEqual(introspect.status, 200, introspect.bodyText)
        XCTAssertEqual(get(sandbox.baseURL + "/oauth/v1/access-tokens/sbx-hs-healthy").status, 200)
    }

    func testAccessLogNeverShowsCodeOrState() throws {
        let sandbox = try startBuiltinSandbox()
        let code = approvedCode(sandbox)
        _ = exchange(sandbox, codeFields(code))
        let lines = accessLog.entries.map(\.description)
        XCTAssertTrue(lines.contains { $0.contains("/oauth/{provider}/authorize") && $0.contains("302") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("/oauth/{provider}/token") && $0.contains("200") }, "\(lines)")
        for line in lines {
            XCTAssertFalse(line.contains(code), line)
            XCTAssertFalse(line.contains("st-Abc123xyz"), line)
            XCTAssertFalse(line.contains(Self.rfcChallenge), line)
        }
    }

    func testConcurrentFlowsEachGetTheirOwnCode() throws {
        let sandbox = try startBuiltinSandbox()
        let results = ConcurrentResults()
        let authorize = authorizeURL(sandbox)
        let tokenURL = sandbox.baseURL + "/oauth/google/token"
        DispatchQueue.concurrentPerform(iterations: 12) { _ in
            let prober = Prober()
            let answer = prober.perform(ProbeRequest(method: "GET", url: authorize, connectTimeout: 2, totalTimeout: 5))
            let code = answer.header("location").flatMap { URLComponents(string: $0)?.queryItems?.first { $0.name == "code" }?.value } ?? ""
            let fields = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Self.redirect),
                          ("client_id", Self.client), ("code_verifier", Self.rfcVerifier)]
            let body = fields.map { "\($0.0)=\(OAuthAuthorizationServers.percentEncode($0.1))" }.joined(separator: "&")
            let token = prober.perform(ProbeRequest(method: "POST", url: tokenURL,
                                                    headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                                                    body: Array(body.utf8), connectTimeout: 2, totalTimeout: 5))
            results.add(code: code, status: token.status ?? 0)
        }
        XCTAssertEqual(Set(results.codes).count, 12, "every code distinct")
        XCTAssertFalse(results.codes.contains(""))
        XCTAssertEqual(results.statuses, Array(repeating: 200, count: 12))
    }

    // MARK: expiry (a clock the test moves; no socket needed)

    func testCodeExpiresAfterTenMinutes() throws {
        let clock = TestClock()
        let servers = OAuthAuthorizationServers(catalog: try ScenarioCatalog.builtin(), clock: { clock.now })
        func request(_ method: String, _ target: String, body: String = "") -> HTTPRequest {
            HTTPRequest(method: method, target: target, version: "HTTP/1.1",
                        headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(body.utf8))
        }
        func code() throws -> String {
            let authorize = try XCTUnwrap(servers.answer(request("GET", authorizeTarget)))
            let location = try XCTUnwrap(authorize.0.headers.first { $0.name == "Location" }?.value)
            return try XCTUnwrap(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
        }
        func redeem(_ code: String) -> Int? {
            let body = codeFields(code).map { "\($0.0)=\(OAuthAuthorizationServers.percentEncode($0.1))" }.joined(separator: "&")
            return servers.answer(request("POST", "/oauth/google/token", body: body))?.0.status
        }
        let fresh = try code()
        clock.advance(599)
        XCTAssertEqual(redeem(fresh), 200, "still valid just before ten minutes")
        let stale = try code()
        clock.advance(601)
        XCTAssertEqual(redeem(stale), 400, "expired after ten minutes")
        XCTAssertEqual(servers.outstandingCodes, 0, "an expired code is gone after its attempt")
        XCTAssertNil(servers.answer(request("GET", "/oauth/v2/introspectToken")), "other /oauth/ paths are the scenarios'")
    }

    var authorizeTarget: String {
        OAuthAuthorizationServers.appending([("response_type", "code"), ("client_id", Self.client), ("redirect_uri", Self.redirect),
                                             ("state", "s"), ("code_challenge", Self.rfcChallenge), ("code_challenge_method", "S256")],
                                            to: "/oauth/google/authorize")
    }
}

final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.lock(); defer { lock.unlock() }; return current }
    func advance(_ seconds: TimeInterval) { lock.lock(); current += seconds; lock.unlock() }
}

final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(String, Int)] = []
    func add(code: String, status: Int) { lock.lock(); items.append((code, status)); lock.unlock() }
    var codes: [String] { lock.lock(); defer { lock.unlock() }; return items.map(\.0) }
    var statuses: [Int] { lock.lock(); defer { lock.unlock() }; return items.map(\.1) }
}
