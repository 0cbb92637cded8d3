import EvidenceModel
import Foundation
import Probe
@testable import Sandbox
import XCTest

/// The scenario listener through the real libcurl path on 127.0.0.1.
final class ScenarioRoutingTests: SandboxTestCase {
    // MARK: credentials pick the scenario

    func testBearerTokenPicksScenarioAndRoute() throws {
        let sandbox = try startSandbox()
        let expired = get(sandbox.baseURL + "/v19.0/me?fields=id,name", headers: Self.bearer("sbx-fb-expired"))
        XCTAssertEqual(expired.curlCode, 0, expired.curlMessage)
        XCTAssertEqual(expired.status, 400)
        XCTAssertTrue(expired.bodyText.contains("\"error_subcode\":463"), expired.bodyText)

        let healthy = get(sandbox.baseURL + "/v19.0/me", headers: Self.bearer("sbx-fb-healthy"))
        XCTAssertEqual(healthy.status, 200)
        XCTAssertEqual(healthy.bodyText, #"{"id":"10000000001","name":"Sandbox User"}"#)
    }

    func testOAuthSchemeAndQueryAccessTokenPickTheScenario() throws {
        let sandbox = try startSandbox()
        let oauthScheme = get(sandbox.baseURL + "/v19.0/me", headers: [HTTPHeader("Authorization", "OAuth sbx-fb-healthy")])
        XCTAssertEqual(oauthScheme.status, 200)
        let query = get(sandbox.baseURL + "/v19.0/me?fields=id&access_token=sbx-fb-expired")
        XCTAssertEqual(query.status, 400)
    }

    func testInputTokenWinsOverTheAppAccessToken() throws {
        // Facebook's debug_token: the user token in input_token, the app token (id|secret) in access_token.
        let sandbox = try startSandbox()
        let r = get(sandbox.baseURL + "/v19.0/debug_token?input_token=sbx%2Dfb%2Dexpired&access_token=5550001112223%7Csbx-app-secret")
        XCTAssertEqual(r.curlCode, 0, r.curlMessage)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.bodyText.contains("\"is_valid\":false"), r.bodyText)
        XCTAssertEqual(accessLog.entries.last?.scenario, "facebook-expired")
        XCTAssertEqual(accessLog.entries.last?.route, "/v19.0/debug_token")

        // Even when access_token is itself a known token, input_token names the token being inspected.
        let both = get(sandbox.baseURL + "/v19.0/debug_token?access_token=sbx-fb-healthy&input_token=sbx-fb-expired")
        XCTAssertEqual(both.status, 200, "facebook-healthy has no debug_token route; facebook-expired has")
        XCTAssertEqual(accessLog.entries.last?.scenario, "facebook-expired")
    }

    func testFormRefreshTokenPicksTheScenario() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.baseURL + "/token", headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                    method: "POST", body: "grant_type=refresh_token&refresh_token=sbx-refresh-revoked&client_id=sbx-client-a")
        XCTAssertEqual(r.curlCode, 0, r.curlMessage)
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.bodyText, #"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#)
        XCTAssertEqual(r.header("cache-control"), "no-store")
        XCTAssertNil(r.header("location"), "a curl -iL chain replays its final answer, not the redirect")
    }

    func testClientCredentialsWithoutTokenPickTheScenario() throws {
        let sandbox = try startSandbox()
        let basic = Data("cc-client-7:sbx-cc-secret".utf8).base64EncodedString()
        let r = get(sandbox.baseURL + "/token", headers: [HTTPHeader("Authorization", "Basic \(basic)"),
                                                          HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                    method: "POST", body: "grant_type=client_credentials")
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertTrue(r.bodyText.contains("sbx-issued"))

        // The same client secret beside an unknown token: the token decides, so 401.
        let withToken = get(sandbox.baseURL + "/token", headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                            method: "POST", body: "grant_type=refresh_token&refresh_token=sbx-nobody&client_secret=sbx-cc-secret")
        XCTAssertEqual(withToken.status, 401)
    }

    func testTokenInThePath() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.baseURL + "/oauth/v1/access-tokens/sbx-hs-ok")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.bodyText.contains("crm.objects.contacts.read"))
        // Escaped the way some clients escape a path, and with the double slash a base URL ending in "/" gives.
        XCTAssertEqual(get(sandbox.baseURL + "//oauth/v1/access-tokens/sbx%2Dhs%2Dok").status, 200)
    }

    // MARK: unknown, missing, no route

    func testUnknownTokenGetsRFC6750Challenge() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.baseURL + "/v19.0/me", headers: Self.bearer("ya29.FAKE-unknown-scenario-token"))
        XCTAssertEqual(r.curlCode, 0)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.header("www-authenticate"), #"Bearer realm="sandbox", error="invalid_token""#)
        XCTAssertEqual(r.bodyText, #"{"error":"invalid_token","error_description":"The sandbox knows no scenario for this token"}"#)
        XCTAssertTrue(r.header("content-type")?.hasPrefix("application/json") ?? false)
        // The access log never carries the credential.
        let logged = accessLog.entries.map(\.description).joined(separator: "\n")
        XCTAssertFalse(logged.contains("ya29"), logged)
        XCTAssertEqual(accessLog.entries.last?.status, 401)
    }

    func testRequestWithoutCredentialGetsChallengeWithoutErrorCode() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.baseURL + "/v19.0/me")
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.header("www-authenticate"), #"Bearer realm="sandbox""#)
        XCTAssertTrue(r.bodyText.contains("invalid_request"), r.bodyText)
    }

    func testKnownScenarioWithoutRouteIs404() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.baseURL + "/v19.0/me/adaccounts", headers: Self.bearer("sbx-fb-healthy"))
        XCTAssertEqual(r.status, 404)
        let body = try JSON.parse(r.body)
        XCTAssertEqual(body["error"]?.stringValue, "not_found")
        XCTAssertEqual(body["scenario"]?.stringValue, "facebook-healthy")
        XCTAssertEqual(body["routes"]?.arrayValue?.compactMap(\.stringValue), ["GET /v19.0/me"])
        // The method counts: POST to a GET route is not the route.
        XCTAssertEqual(get(sandbox.baseURL + "/v19.0/me", headers: Self.bearer("sbx-fb-healthy"), method: "POST", body: "").status, 404)
    }

    func testHealthz() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.baseURL + "/healthz")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(try JSON.parse(r.body)["scenarios"]?.intValue, 8)
    }

    // MARK: replay is faithful

    func testFixtureIsReplayedAsRecorded() throws {
        let catalog = try makeCatalog()
        let sandbox = try startSandbox(catalog: catalog)
        let recorded = try XCTUnwrap(catalog.scenario(id: "facebook-expired")?.route(method: "GET", path: "/v19.0/me")?.recorded)
        let r = get(sandbox.baseURL + "/v19.0/me", headers: Self.bearer("sbx-fb-expired"))
        XCTAssertEqual(r.status, recorded.status)
        XCTAssertEqual(r.httpVersion, "1.1")
        // Every recorded header but the framing ones, in order, then the recomputed Content-Length.
        let expected = recorded.headers.filter { !["transfer-encoding", "content-encoding", "content-length"].contains($0.name.lowercased()) }
        XCTAssertEqual(r.headers.map(\.name), expected.map(\.name) + ["Content-Length"])
        XCTAssertEqual(r.headers.dropLast().map(\.value), expected.map(\.value))
        XCTAssertEqual(r.headerValues("x-fb-trace-id"), ["FAKEtrace01", "FAKEtrace02"])
        XCTAssertEqual(r.body, Array(recorded.body.utf8))
        XCTAssertEqual(r.header("content-length"), String(recorded.body.utf8.count))
        XCTAssertTrue(r.bodyText.contains("Zürich-✓"))
        XCTAssertTrue(r.bodyText.contains("\n \"type\""), "the body's line break is kept")
    }

    func testWireFormatIsHTTP11WithContentLengthAndNoChunking() throws {
        let sandbox = try startSandbox()
        let raw = try XCTUnwrap(RawClient.exchange(port: sandbox.port, "GET /v19.0/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sbx-fb-expired\r\nConnection: close\r\n\r\n"))
        let text = String(decoding: raw, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 400 Bad Request\r\nvary: Origin\r\n"), text)
        let head = text.components(separatedBy: "\r\n\r\n")[0].lowercased()
        XCTAssertFalse(head.contains("transfer-encoding"))
        XCTAssertFalse(head.contains("content-encoding"))
        XCTAssertFalse(head.contains("9999"))
        XCTAssertTrue(head.contains("connection: close"))
        XCTAssertTrue(text.hasSuffix("\"fbtrace_id\":\"FAKE-Zürich-✓\"}}"), text)
    }

    func testHeadGetsTheGetRouteWithoutBody() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.baseURL + "/v19.0/me", headers: Self.bearer("sbx-fb-healthy"), method: "HEAD")
        XCTAssertEqual(r.curlCode, 0, r.curlMessage)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("etag"), "\"fake-etag\"")
        XCTAssertEqual(r.header("content-length"), "42")
        XCTAssertTrue(r.body.isEmpty)
    }

    func testMalformedRequestGets400AndClose() throws {
        let sandbox = try startSandbox()
        let raw = try XCTUnwrap(RawClient.exchange(port: sandbox.port, "NOT-HTTP\r\n\r\n"))
        XCTAssertTrue(String(decoding: raw, as: UTF8.self).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }

    // MARK: a scenario that names a fault

    func testScenarioFaultIsMetOnTheScenarioListener() throws {
        let sandbox = try startSandbox()
        let outage = get(sandbox.baseURL + "/v1/anything", headers: Self.bearer("sbx-google-outage"))
        XCTAssertEqual(outage.status, 503)

        let start = Date()
        let hole = get(sandbox.baseURL + "/v1/anything", headers: Self.bearer("sbx-google-blackhole"), totalTimeout: 1)
        XCTAssertEqual(hole.curlCode, 28)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)

        // DNS cannot happen after a connection was accepted: the answer names the fault's URL instead.
        let dns = get(sandbox.baseURL + "/v1/anything", headers: Self.bearer("sbx-google-dns"))
        XCTAssertEqual(dns.status, 421)
        XCTAssertEqual(try JSON.parse(dns.body)["fault_url"]?.stringValue, "http://sandbox-dns-failure.invalid/")
    }

    // MARK: many at once

    func testTwoHundredConcurrentRequests() throws {
        let sandbox = try startSandbox()
        var requests: [ProbeRequest] = []
        var expected: [Int] = []
        for i in 0..<200 {
            switch i % 4 {
            case 0:
                requests.append(ProbeRequest(url: sandbox.baseURL + "/v19.0/me?i=\(i)", headers: Self.bearer("sbx-fb-expired")))
                expected.append(400)
            case 1:
                requests.append(ProbeRequest(url: sandbox.baseURL + "/v19.0/me?i=\(i)", headers: Self.bearer("sbx-fb-healthy")))
                expected.append(200)
            case 2:
                requests.append(ProbeRequest(url: sandbox.baseURL + "/v19.0/me?i=\(i)", headers: Self.bearer("sbx-unknown-\(i)")))
                expected.append(401)
            default:
                requests.append(ProbeRequest(method: "POST", url: sandbox.baseURL + "/token",
                                             headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                                             body: Array("grant_type=refresh_token&refresh_token=sbx-refresh-revoked".utf8)))
                expected.append(400)
            }
        }
        let start = Date()
        let results = prober.performAll(requests, maxConcurrent: 32)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
        XCTAssertEqual(results.map(\.curlCode), Array(repeating: 0, count: 200), "\(Set(results.map(\.curlMessage)))")
        XCTAssertEqual(results.map { $0.status ?? -1 }, expected)
        XCTAssertEqual(accessLog.entries.count, 200)
    }

    func testLatencyDelaysEveryScenarioAnswer() throws {
        let server = try SandboxServer.start(scenarios: makeCatalog(), options: SandboxOptions(latency: 0.3))
        addTeardownBlock { server.stop() }
        let start = Date()
        let r = get(server.baseURL + "/v19.0/me", headers: Self.bearer("sbx-fb-healthy"))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 200)
        XCTAssertGreaterThanOrEqual(elapsed, 0.29, "the answer waited for the latency")
        XCTAssertLessThan(elapsed, 2)
    }
}
