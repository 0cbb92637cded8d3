import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import Probe
import RuleEngine
import XCTest

/// `DiagnosisRunner` end to end: real libcurl against a fake provider on 127.0.0.1.
final class DiagnosisRunnerTests: XCTestCase {
    static let fbCredentials = DiagnosisCredentials(token: "EAAFAKEuserTOKEN0001", clientID: "5550001112223", clientSecret: "fake-app-secret-0001")

    static let fbHealthy: [String: FakeProvider.Route] = [
        "GET /v23.0/debug_token": .fixture("sandbox/facebook/debug-token-healthy.http"),
        "GET /v23.0/me": .fixture("sandbox/facebook/me.http"),
        "GET /v23.0/me/permissions": .fixture("sandbox/facebook/me-permissions-granted.http"),
        "GET /v23.0/me/adaccounts": .fixture("sandbox/facebook/me-adaccounts.http"),
    ]

    func testHealthyFacebookConnection() throws {
        let fake = try FakeProvider(Self.fbHealthy)
        let d = try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials)
        XCTAssertEqual(d.report.verdict, .ok, summary(d))
        XCTAssertEqual(d.exitStatus, 0)
        XCTAssertEqual(d.report.inputKind, "probe")
        XCTAssertEqual(d.report.provider, "facebook")
        XCTAssertEqual(d.probes.map(\.step), ["debug-token", "me", "permissions", "ad-accounts", "ad-account"])
        XCTAssertEqual(d.probes.map(\.outcome), [.ok, .ok, .ok, .ok, .skipped])
        XCTAssertEqual(d.probes.last?.note, "needs an account id (--account-id ID)")
        XCTAssertEqual(d.probes.first?.round, 1)
        XCTAssertEqual(d.facts["token.valid"], .bool(true))
        XCTAssertEqual(d.facts["token.expires_at"], .int(4_102_444_800))
        XCTAssertEqual(d.facts["token.expiring_soon"], .bool(false))
        XCTAssertEqual(d.facts["scopes.missing"], nil)
        XCTAssertEqual(d.facts["account.id"], .string("10000000000000042"))
        XCTAssertEqual(d.facts["account.ad_accounts.count"], .int(2))
        XCTAssertEqual(d.facts["probe.ok"], .int(4))
        XCTAssertEqual(d.facts["probe.failed"], .int(0))
        // Healthy means healthy (issue 14): no finding at all, a note of what was seen.
        XCTAssertEqual(d.report.findings.count, 0)
        XCTAssertEqual(d.report.verdict, .ok)
        XCTAssertTrue(d.report.note?.contains("Every probe answered") ?? false, d.report.note ?? "no note")
        XCTAssertNil(d.report.clientMessage)

        // What was sent: the debug_token query carries the user token and the app token, encoded.
        let debug = try XCTUnwrap(fake.requests.first { $0.pathOnly == "/v23.0/debug_token" })
        XCTAssertTrue(debug.path.contains("input_token=EAAFAKEuserTOKEN0001"), debug.path)
        XCTAssertTrue(debug.path.contains("access_token=5550001112223|fake-app-secret-0001"), debug.path)
        let me = try XCTUnwrap(fake.requests.first { $0.pathOnly == "/v23.0/me" })
        XCTAssertEqual(me.header("authorization"), "Bearer EAAFAKEuserTOKEN0001")
        XCTAssertEqual(me.header("accept"), "application/json")
        XCTAssertEqual(me.header("user-agent"), "authdoctor/\(Report.toolVersion)")
        // What is shown: never the secrets.
        XCTAssertEqual(d.probes[0].url, fake.baseURL + "/v23.0/debug_token?input_token=[REDACTED]&access_token=[REDACTED]")
    }

    func testExpiredFacebookToken() throws {
        let fake = try FakeProvider([
            "GET /v23.0/debug_token": .fixture("facebook/debug-token-session-expired.http"),
            "GET /v23.0/me": .fixture("facebook/190-463-session-expired.http"),
            "GET /v23.0/me/permissions": .fixture("facebook/190-463-session-expired.http"),
            "GET /v23.0/me/adaccounts": .fixture("facebook/190-463-session-expired.http"),
        ])
        let d = try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials)
        XCTAssertEqual(topFailure(d), "expiry", summary(d))
        XCTAssertEqual(d.exitStatus, 2)
        XCTAssertEqual(d.facts["token.valid"], .bool(false))
        XCTAssertEqual(d.facts["token.expired"], .bool(true))
        XCTAssertEqual(d.facts["probe.failed"], .int(3))
        XCTAssertEqual(d.probes.map(\.outcome), [.ok, .httpError, .httpError, .httpError, .skipped])
        // The finding says which step it came from.
        let top = try XCTUnwrap(d.report.findings.first)
        XCTAssertTrue(top.evidence.contains { $0.name == "probe.step" }, "\(top.evidence)")
        // No scopes finding for a dead token whose debug_token lists few scopes.
        XCTAssertFalse(d.report.findings.contains { $0.failure == "scopes" }, summary(d))
    }

    func testRevokedLinkedInToken() throws {
        let fake = try FakeProvider([
            "POST /oauth/v2/introspectToken": .fixture("linkedin/introspect-revoked.http"),
            "GET /rest/adAccountUsers": .fixture("linkedin/401-65601-revoked-by-user.http"),
        ])
        let d = try Diag.run("linkedin", at: fake.baseURL,
                             credentials: DiagnosisCredentials(token: "AQVFAKElinkedin0001", clientID: "86FAKEclient", clientSecret: "fake-li-secret"))
        XCTAssertEqual(topFailure(d), "revoked", summary(d))
        XCTAssertEqual(d.facts["token.status"], .string("revoked"))
        XCTAssertEqual(d.facts["token.valid"], .bool(false))
        let introspect = try XCTUnwrap(fake.requests.first { $0.pathOnly == "/oauth/v2/introspectToken" })
        XCTAssertEqual(introspect.method, "POST")
        XCTAssertEqual(introspect.header("content-type"), "application/x-www-form-urlencoded")
        XCTAssertEqual(String(decoding: introspect.body, as: UTF8.self), "client_id=86FAKEclient&client_secret=fake-li-secret&token=AQVFAKElinkedin0001")
        let api = try XCTUnwrap(fake.requests.first { $0.pathOnly == "/rest/adAccountUsers" })
        XCTAssertEqual(api.header("linkedin-version"), "202510")
        XCTAssertEqual(api.header("x-restli-protocol-version"), "2.0.0")
    }

    func testMissingScopesWhileEveryCallAnswers() throws {
        // Every step answers 200, but the grant lacks business_management: the diagnosis-level rule finds it.
        var routes = Self.fbHealthy
        routes["GET /v23.0/debug_token"] = .answer(200, [("Content-Type", "application/json")],
            #"{"data":{"app_id":"5550001112223","type":"USER","data_access_expires_at":4102444800,"expires_at":4102444800,"is_valid":true,"scopes":["ads_read","public_profile"],"user_id":"10000000000000042"}}"#)
        routes["GET /v23.0/me/permissions"] = .answer(200, [("Content-Type", "application/json")],
            #"{"data":[{"permission":"ads_read","status":"granted"},{"permission":"public_profile","status":"granted"},{"permission":"business_management","status":"declined"}]}"#)
        let fake = try FakeProvider(routes)
        let d = try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials)
        XCTAssertEqual(topFailure(d), "scopes", summary(d))
        XCTAssertEqual(d.report.findings.first?.rule, "diagnose.scopes.missing")
        XCTAssertEqual(d.facts["scopes.missing"], .list([.string("business_management")]))
        XCTAssertEqual(d.facts["scopes.declined"], .list([.string("business_management")]))
        XCTAssertTrue(d.report.findings[0].summary.contains("business_management"), d.report.findings[0].summary)
        XCTAssertTrue(d.probes.allSatisfy { $0.outcome == .ok || $0.outcome == .skipped })

        // --expect-scopes replaces the definition's scopes.
        var options = DiagnosisOptions()
        options.expectScopes = ["ads_read"]
        let relaxed = try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials, options: options)
        XCTAssertEqual(relaxed.facts["scopes.required"], .list([.string("ads_read")]))
        XCTAssertNil(relaxed.facts["scopes.missing"])
        XCTAssertFalse(relaxed.report.findings.contains { $0.rule == "diagnose.scopes.missing" }, summary(relaxed))
        // (The declined permission itself is still worth saying: /me/permissions lists it.)
        XCTAssertEqual(relaxed.report.findings.first?.rule, "facebook.scopes.permission-declined", summary(relaxed))
    }

    func testAnotherGoogleAccountIsMultiAccount() throws {
        let fake = try FakeProvider([
            "GET /tokeninfo": .fixture("google/tokeninfo-valid.http"),
            "GET /v1beta/accountSummaries": .fixture("sandbox/google-analytics/account-summaries.http"),
        ])
        var options = DiagnosisOptions()
        options.expectAccount = "marketing@client.example"
        let d = try Diag.run("google-analytics", at: fake.baseURL, credentials: DiagnosisCredentials(token: "ya29.FAKE-access-0001"), options: options)
        XCTAssertEqual(topFailure(d), "multi-account", summary(d))
        XCTAssertEqual(d.report.findings.first?.rule, "diagnose.account.google-other-account")
        XCTAssertEqual(d.facts["account.email"], .string("client.analyst@example.com"))
        XCTAssertEqual(d.facts["account.mismatch"], .bool(true))
        XCTAssertTrue(d.report.findings[0].remediation.map(\.id).contains("single-google-account"))

        // The expected account, in other letter case: healthy.
        options.expectAccount = "Client.Analyst@Example.com"
        let same = try Diag.run("google-analytics", at: fake.baseURL, credentials: DiagnosisCredentials(token: "ya29.FAKE-access-0001"), options: options)
        XCTAssertEqual(same.report.verdict, .ok, summary(same))
        XCTAssertEqual(same.facts["account.mismatch"], .bool(false))
        // A Google access token's hour is shown, not warned about.
        XCTAssertEqual(same.facts["token.access_expires_in"], .int(3245))
        XCTAssertNil(same.facts["token.expiring_soon"])
    }

    func testExpiringSoonIsAWarning() throws {
        let soon = Int(Date().timeIntervalSince1970) + 3 * 86_400
        var routes = Self.fbHealthy
        routes["GET /v23.0/debug_token"] = .answer(200, [("Content-Type", "application/json")],
            #"{"data":{"app_id":"5550001112223","type":"USER","data_access_expires_at":4102444800,"expires_at":\#(soon),"is_valid":true,"scopes":["ads_read","business_management"],"user_id":"10000000000000042"}}"#)
        let fake = try FakeProvider(routes)
        let d = try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials)
        XCTAssertEqual(d.report.verdict, .warning, summary(d))
        XCTAssertEqual(d.exitStatus, 1)
        XCTAssertEqual(d.report.findings.first?.rule, "diagnose.token.expiring-soon")
        XCTAssertEqual(d.facts["token.expiring_soon"], .bool(true))
        let left = try XCTUnwrap(d.facts.int("token.expires_in"))
        XCTAssertTrue((3 * 86_400 - 120...3 * 86_400).contains(left), "\(left)")

        // A shorter window (--warn-expiry 2d) or none (0): healthy.
        var options = DiagnosisOptions()
        options.warnExpiry = 2 * 86_400
        XCTAssertEqual(try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials, options: options).exitStatus, 0)
        options.warnExpiry = 0
        let off = try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials, options: options)
        XCTAssertEqual(off.exitStatus, 0)
        XCTAssertNil(off.facts["token.expiring_soon"])
    }

    func testHTMLWhereJSONWasExpectedIsEvidence() throws {
        let html = "<!DOCTYPE html><html><head><title>Welcome to the Guest Wi-Fi</title></head><body><p>Accept the terms to continue.</p></body></html>"
        let fake = try FakeProvider(["*": .answer(200, [("Content-Type", "text/html; charset=utf-8")], html)])
        let d = try Diag.run("hubspot", at: fake.baseURL, credentials: DiagnosisCredentials(token: "CFAKEhubspotOAuth0001"))
        XCTAssertEqual(topFailure(d), "configuration", summary(d))
        XCTAssertEqual(d.exitStatus, 2)
        XCTAssertEqual(d.probes.filter { $0.outcome == .unexpectedBody }.count, 2, summary(d))
        XCTAssertEqual(d.probes.first?.note, "an HTML page where JSON was expected")
        XCTAssertEqual(d.facts["probe.html_body"], .list([.string("token-info"), .string("contacts")]))
    }

    func testTruncatedJSONIsEvidence() throws {
        // A body cut inside a string, and one cut short of its Content-Length (curl 18).
        let cut = #"{"active":true,"client_id":"86FAKEclient","scope":"r_ads,r_ads_rep"#
        let fake = try FakeProvider([
            "POST /oauth/v2/introspectToken": .answer(200, [("Content-Type", "application/json")], cut),
            "GET /rest/adAccountUsers": .raw("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"elements\":[{\"role\":\"ACCOUNT_MAN"),
        ])
        let d = try Diag.run("linkedin", at: fake.baseURL,
                             credentials: DiagnosisCredentials(token: "AQVFAKElinkedin0002", clientID: "86FAKEclient", clientSecret: "fake-li-secret"))
        XCTAssertEqual(topFailure(d), "connectivity", summary(d))
        XCTAssertEqual(d.probes.map(\.outcome), [.unexpectedBody, .unexpectedBody], summary(d))
        XCTAssertEqual(d.probes[0].note, "truncated or invalid JSON")
        XCTAssertEqual(d.probes[1].curlCode, 18, summary(d))
        XCTAssertTrue(d.report.findings[0].transient)
    }

    func testRefusedPortIsConnectivity() throws {
        let base = "http://127.0.0.1:\(LoopbackServer.unusedPort())"
        let d = try Diag.run("hubspot", at: base, credentials: DiagnosisCredentials(token: "CFAKEhubspotOAuth0002"))
        XCTAssertEqual(topFailure(d), "connectivity", summary(d))
        XCTAssertEqual(d.exitStatus, 2)
        XCTAssertEqual(d.probes.first?.outcome, .transportError)
        XCTAssertEqual(d.probes.first?.curlCode, 7)
        XCTAssertEqual(d.probes.first?.curlName, "CURLE_COULDNT_CONNECT")
        XCTAssertNil(d.probes.first?.status)
    }

    func testABlackHoleCostsOneTimeout() throws {
        let fake = try FakeProvider(["*": .blackHole])
        var options = DiagnosisOptions()
        options.timeout = 1
        let start = Date()
        let d = try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials, options: options)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertLessThan(elapsed, 3, "a black hole costs about --timeout, not more")
        XCTAssertGreaterThanOrEqual(elapsed, 0.9)
        XCTAssertEqual(topFailure(d), "connectivity", summary(d))
        XCTAssertTrue(d.probes.filter { $0.outcome != .skipped }.allSatisfy { $0.curlCode == 28 }, summary(d))
        XCTAssertTrue(d.report.findings[0].transient, "a timeout is transient")
    }

    func testStepsRunConcurrently() throws {
        var routes: [String: FakeProvider.Route] = [:]
        for (key, route) in Self.fbHealthy { routes[key] = .delayed(0.5, route) }
        let fake = try FakeProvider(routes)
        let d = try Diag.run("facebook", at: fake.baseURL, credentials: Self.fbCredentials)
        XCTAssertEqual(d.report.verdict, .ok, summary(d))
        XCTAssertEqual(d.probes.filter { $0.outcome == .ok }.count, 4)
        XCTAssertGreaterThanOrEqual(d.seconds, 0.45)
        XCTAssertLessThan(d.seconds, 1.3, "4 steps of 0.5 s each cost about the slowest step, not the sum (2 s)")
        XCTAssertEqual(Set(d.probes.compactMap(\.round)), [1])
    }

    func testTheAsyncRunGivesTheSameDiagnosis() async throws {
        let fake = try FakeProvider(Self.fbHealthy)
        let runner = try Diag.runner("facebook", at: fake.baseURL, credentials: Self.fbCredentials)
        let d = await runner.run()
        XCTAssertEqual(d.report.verdict, .ok, summary(d))
        XCTAssertEqual(d.probes.filter { $0.outcome == .ok }.count, 4)
    }

    func testARefreshTokenAloneFeedsTheLaterSteps() throws {
        let fake = try FakeProvider([
            "POST /token": .fixture("sandbox/google/token-refresh-ok.http"),
            "GET /tokeninfo": .fixture("google/tokeninfo-valid.http"),
            "GET /v1/userinfo": .fixture("sandbox/google/userinfo.http"),
        ])
        let credentials = DiagnosisCredentials(refreshToken: "1//FAKE-refresh/with+chars", clientID: "000-fake.apps.googleusercontent.com",
                                               clientSecret: "fake-google-secret")
        let d = try Diag.run("google", at: fake.baseURL, credentials: credentials)
        XCTAssertEqual(d.report.verdict, .ok, summary(d))
        XCTAssertEqual(d.probes.map(\.step), ["refresh", "tokeninfo", "userinfo"])
        XCTAssertEqual(d.probes.map(\.round), [1, 2, 2])
        // The refresh body is form-encoded; the token it returned went to the later steps.
        let refresh = try XCTUnwrap(fake.requests.first { $0.pathOnly == "/token" })
        XCTAssertEqual(String(decoding: refresh.body, as: UTF8.self),
                       "grant_type=refresh_token&refresh_token=1%2F%2FFAKE-refresh%2Fwith%2Bchars&client_id=000-fake.apps.googleusercontent.com&client_secret=fake-google-secret")
        let userinfo = try XCTUnwrap(fake.requests.first { $0.pathOnly == "/v1/userinfo" })
        XCTAssertEqual(userinfo.header("authorization"), "Bearer sbx-google-healthy")
        let tokeninfo = try XCTUnwrap(fake.requests.first { $0.pathOnly == "/tokeninfo" })
        XCTAssertEqual(tokeninfo.path, "/tokeninfo?access_token=sbx-google-healthy")
        // The provided token is a secret too.
        for (format, text) in Diag.renderings(d.report) {
            XCTAssertFalse(text.contains("sbx-google-healthy"), format)
            XCTAssertFalse(text.contains("FAKE-refresh"), format)
        }
    }

    func testAFailedRefreshSkipsTheStepsThatNeededItsToken() throws {
        let fake = try FakeProvider(["POST /token": .fixture("google/token-invalid-grant-expired-or-revoked.http")])
        let credentials = DiagnosisCredentials(refreshToken: "1//FAKE-dead-refresh", clientID: "000-fake.apps.googleusercontent.com",
                                               clientSecret: "fake-google-secret")
        let d = try Diag.run("google", at: fake.baseURL, credentials: credentials)
        // One answer ("expired or revoked") read two ways: Google's own rule (expiry) is the more
        // confident reading; a class default (revoked explains expiry) holds across evidence only.
        XCTAssertEqual(topFailure(d), "expiry", summary(d))
        XCTAssertTrue(d.report.findings.allSatisfy { $0.explainedBy == nil })
        XCTAssertEqual(d.probes.map(\.outcome), [.httpError, .skipped, .skipped])
        XCTAssertEqual(d.probes[1].note, "needs token (step 'refresh' did not provide one)")
    }

    func testHubSpotPrivateAppTokensUseTheirOwnStep() throws {
        let fake = try FakeProvider([
            "POST /oauth/v2/private-apps/get/access-token-info": .fixture("sandbox/hubspot/private-app-token-info.http"),
            "GET /crm/v3/objects/contacts": .fixture("sandbox/hubspot/contacts.http"),
        ])
        let token = "pat-na1-11111111-2222-3333-4444-555555555555"
        let d = try Diag.run("hubspot", at: fake.baseURL, credentials: DiagnosisCredentials(token: token))
        XCTAssertEqual(d.report.verdict, .ok, summary(d))
        XCTAssertEqual(d.probes.map(\.outcome), [.skipped, .ok, .ok])
        XCTAssertEqual(d.probes[0].note, "not for hubspot-private-app tokens")
        let info = try XCTUnwrap(fake.requests.first { $0.method == "POST" })
        XCTAssertEqual(String(decoding: info.body, as: UTF8.self), #"{"tokenKey": "\#(token)"}"#)
        XCTAssertEqual(info.header("content-type"), "application/json")
        XCTAssertEqual(d.facts["account.hub_id"], .int(1_000_001))
        XCTAssertEqual(d.facts["scopes.granted"]?.elements.count, 3)
    }

    func testHubSpotOAuthTokenGoesInThePathEncoded() throws {
        let fake = try FakeProvider([
            "GET /oauth/v1/access-tokens/CFAKE%2Fslash%20space": .fixture("hubspot/access-token-info-valid.http"),
            "GET /crm/v3/objects/contacts": .fixture("sandbox/hubspot/contacts.http"),
        ])
        let d = try Diag.run("hubspot", at: fake.baseURL, credentials: DiagnosisCredentials(token: "CFAKE/slash space"))
        XCTAssertEqual(d.report.verdict, .ok, summary(d))
        XCTAssertEqual(d.probes[0].url, fake.baseURL + "/oauth/v1/access-tokens/[REDACTED]")
        XCTAssertEqual(d.facts["account.email"], .string("ops@example.com"))
        XCTAssertEqual(d.facts["token.access_expires_in"], .int(1520))
    }

    func testProvidersThatAnswerWithErrorsOnEveryStepAreClassified() throws {
        // A 503 maintenance page everywhere: outage, transient, exit 2.
        let fake = try FakeProvider(["*": .fixture("generic/503-maintenance.http")])
        let d = try Diag.run("google-ads", at: fake.baseURL,
                             credentials: DiagnosisCredentials(token: "ya29.FAKE-ads-0001", developerToken: "FAKE-dev-token-0001"))
        XCTAssertEqual(topFailure(d), "outage", summary(d))
        XCTAssertTrue(d.report.findings[0].transient)
        let ads = try XCTUnwrap(fake.requests.first { $0.pathOnly.hasPrefix("/v21/") })
        XCTAssertEqual(ads.pathOnly, "/v21/customers:listAccessibleCustomers")
        XCTAssertEqual(ads.header("developer-token"), "FAKE-dev-token-0001")
    }

    func testEveryBaseURLNameCanBeOverriddenAlone() throws {
        let oauth = try FakeProvider(["*": .fixture("google/tokeninfo-valid.http")])
        let api = try FakeProvider(["*": .fixture("sandbox/google-analytics/account-summaries.http")])
        var options = DiagnosisOptions()
        options.baseURLOverrides = [("oauth2", oauth.baseURL + "/"), ("analyticsadmin", api.baseURL)]
        let d = try Diag.run("google-analytics", at: nil, credentials: DiagnosisCredentials(token: "ya29.FAKE-0002"), options: options)
        XCTAssertEqual(d.report.verdict, .ok, summary(d))
        XCTAssertEqual(oauth.requests.map(\.pathOnly), ["/tokeninfo"])
        XCTAssertEqual(api.requests.map(\.pathOnly), ["/v1beta/accountSummaries"])
    }
}
