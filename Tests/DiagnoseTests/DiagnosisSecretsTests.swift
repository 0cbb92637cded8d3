import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// No secret in any output: tokens in query strings (access_token=, input_token=), in headers, in
/// bodies, echoed back by the provider, in every format and in --show-facts.
final class DiagnosisSecretsTests: XCTestCase {
    // Shapes the Redactor does not know, so only the diagnosis's own scrubbing can hide them.
    static let token = "plainUserToken7Q2xZ9"
    static let secret = "plainAppSecret4K8wR1"
    static let refresh = "plainRefresh3M5nB6"
    static let developer = "plainDevToken8J1cV4"

    func assertNoSecret(_ d: Diagnosis, _ secrets: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        var outputs = Diag.renderings(d.report)
        for (name, facts) in d.stepFacts { outputs["facts of \(name)"] = facts.names.map { "\($0)=\(facts[$0]!)" }.joined(separator: "\n") }
        outputs["diagnosis facts"] = d.facts.names.map { "\($0)=\(d.facts[$0]!)" }.joined(separator: "\n")
        for (format, text) in outputs {
            for secret in secrets {
                XCTAssertFalse(text.contains(secret), "\(secret) in \(format):\n\(text.prefix(3000))", file: file, line: line)
                let encoded = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? secret
                XCTAssertFalse(text.contains(encoded), "\(secret) (encoded) in \(format)", file: file, line: line)
            }
        }
        if let json = outputs["json"] { try assertConformsToReportSchema(json, "diagnose report", file: file, line: line) }
    }

    func testQueryTokensAndEchoedSecretsNeverShow() throws {
        // The provider echoes everything it was sent: the URL, the Authorization header.
        let echo = #"{"error":{"message":"Invalid OAuth access token: plainUserToken7Q2xZ9 (app plainAppSecret4K8wR1)","type":"OAuthException","code":190,"fbtrace_id":"FAKE"}}"#
        let fake = try FakeProvider(["*": .answer(400, [("Content-Type", "application/json"),
                                                        ("WWW-Authenticate", #"OAuth "Facebook Platform" "invalid_token" "plainUserToken7Q2xZ9""#),
                                                        ("X-Echo-Url", "/debug_token?input_token=plainUserToken7Q2xZ9")], echo)])
        var options = DiagnosisOptions()
        options.keepFacts = true
        let d = try Diag.run("facebook", at: fake.baseURL,
                             credentials: DiagnosisCredentials(token: Self.token, clientID: "5550001112223", clientSecret: Self.secret,
                                                               accountID: "1234567890"),
                             options: options)
        XCTAssertEqual(d.exitStatus, 2, summary(d))
        XCTAssertNotNil(d.report.facts)
        try assertNoSecret(d, [Self.token, Self.secret])
        // The app id and the account id are not secrets: they stay readable.
        XCTAssertTrue(d.probes.contains { $0.url.hasSuffix("/v23.0/act_1234567890?fields=id,name,account_status") }, summary(d))
        XCTAssertTrue(d.probes[0].url.contains("input_token=[REDACTED]"), d.probes[0].url)
    }

    func testFormBodiesHeadersAndPathsNeverShow() throws {
        let fake = try FakeProvider(["*": .answer(401, [("Content-Type", "application/json")],
                                                   #"{"error":"invalid_client","error_description":"client_secret plainAppSecret4K8wR1 is wrong for refresh plainRefresh3M5nB6"}"#)])
        var options = DiagnosisOptions()
        options.keepFacts = true
        let d = try Diag.run("google-ads", at: fake.baseURL,
                             credentials: DiagnosisCredentials(token: Self.token, refreshToken: Self.refresh, clientID: "000-x.apps.googleusercontent.com",
                                                               clientSecret: Self.secret, developerToken: Self.developer),
                             options: options)
        try assertNoSecret(d, [Self.token, Self.secret, Self.refresh, Self.developer])
        let hub = try FakeProvider(["*": .answer(404, [("Content-Type", "application/json")],
                                                  #"{"status":"error","message":"Access token plainUserToken7Q2xZ9 not found or expired"}"#)])
        let h = try Diag.run("hubspot", at: hub.baseURL, credentials: DiagnosisCredentials(token: Self.token), options: options)
        XCTAssertEqual(h.probes[0].url, hub.baseURL + "/oauth/v1/access-tokens/[REDACTED]")
        try assertNoSecret(h, [Self.token])
    }

    func testTransportErrorsNeverShowSecrets() throws {
        let base = "http://127.0.0.1:\(LoopbackServer.unusedPort())"
        let d = try Diag.run("linkedin", at: base, credentials: DiagnosisCredentials(token: Self.token, clientID: "86FAKE", clientSecret: Self.secret))
        XCTAssertEqual(topFailure(d), "connectivity", summary(d))
        try assertNoSecret(d, [Self.token, Self.secret])
    }

    func testTheReportOfEveryOutcomeConformsToTheSchema() throws {
        let fake = try FakeProvider([
            "GET /v23.0/debug_token": .fixture("sandbox/facebook/debug-token-healthy.http"),
            "GET /v23.0/me": .answer(200, [("Content-Type", "text/html")], "<html><body>portal</body></html>"),
            "GET /v23.0/me/permissions": .fixture("facebook/190-463-session-expired.http"),
            "GET /v23.0/me/adaccounts": .blackHole,
        ])
        var options = DiagnosisOptions(timeout: 1)
        options.keepFacts = true
        let d = try Diag.run("facebook", at: fake.baseURL,
                             credentials: DiagnosisCredentials(token: Self.token, clientID: "5550001112223", clientSecret: Self.secret), options: options)
        XCTAssertEqual(Set(d.probes.map(\.outcome)), [.ok, .unexpectedBody, .httpError, .transportError, .skipped], summary(d))
        let json = JSONReportWriter().render(d.report, pretty: true)
        let doc = try assertConformsToReportSchema(json, "mixed outcomes")
        let probes = try XCTUnwrap(doc["probes"]?.arrayValue)
        XCTAssertEqual(probes.count, 5)
        for probe in probes {
            for member in ["step", "method", "url", "outcome", "status", "curlCode"] {
                XCTAssertNotNil(probe[member], "every probe has \(member): \(probe)")
            }
        }
        XCTAssertEqual(probes[0]["timings"]?["totalMs"] != nil, true)
        XCTAssertEqual(probes[4]["outcome"], .string("skipped"))
        XCTAssertEqual(probes[4]["status"], .null)
        XCTAssertEqual(probes[3]["curlCode"], .int(28))
        let text = TextReportRenderer(color: false).render(d.report)
        XCTAssertTrue(text.contains("probes:"), text)
        XCTAssertTrue(text.contains("debug-token"), text)
        XCTAssertTrue(MarkdownReportRenderer().render(d.report).contains("#### Probes"))
        try assertNoSecret(d, [Self.token, Self.secret])
    }
}
