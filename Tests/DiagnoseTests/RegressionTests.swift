import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// Bugs found in Sources/ while writing these tests (all failed against the sources of commit 3cd8b51
/// and were fixed in cf67add); kept as regression tests.
final class DiagnoseRegressionTests: XCTestCase {
    /// Was a bug — a response with CRLF line ends (exactly what `curl -i` prints) is not parsed:
    /// ResponseParser splits the String on "\n", but "\r\n" is one Character in Swift, so nothing splits.
    /// Fully CRLF: "no HTTP status line" (exit 65 in the CLI); CRLF headers + LF body: headers and body lost.
    func testCRLFResponseParsesLikeLF() throws {
        let lf = try TestPaths.fixture("facebook/190-463-session-expired.http")
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        let evidence = try ResponseParser.parse(crlf, source: "crlf.http", provider: "facebook")
        XCTAssertEqual(evidence.finalResponse?.status, 400)
        XCTAssertEqual(evidence.finalResponse?.header("content-type").map { $0.hasPrefix("application/json") }, true)
        XCTAssertTrue(evidence.finalResponse?.body.contains("\"error_subcode\"") ?? false)

        let headersOnly = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nWWW-Authenticate: Bearer error=\"invalid_token\"\r\n\r\n{\"error\":\"invalid_token\"}\n"
        let report = try Repo.engine().report(for: [ResponseParser.parse(headersOnly, source: "x")], source: "x", keepFacts: true)
        XCTAssertEqual(report.facts?["http.header.content-type"], .string("application/json"))
        XCTAssertEqual(report.facts?["www-authenticate.error"], .string("invalid_token"))
        XCTAssertEqual(report.facts?["body.error"], .string("invalid_token"))
    }

    /// Was a bug — secret JSON members with camelCase names (accessToken, refreshToken, clientSecret, idToken)
    /// are not redacted: Redactor.isSecretJSONKey only knows snake_case names and the "_token"/"_secret"
    /// suffixes, so `--show-facts` (text and json) prints them verbatim.
    func testCamelCaseSecretMembersAreRedacted() throws {
        let raw = """
        HTTP/1.1 401 Unauthorized
        Content-Type: application/json

        {"error":"invalid_token","accessToken":"FAKEcamelACCESS0101","refreshToken":"FAKEcamelREFRESH0102","clientSecret":"FAKEcamelSECRET0103","idToken":"FAKEcamelID0104"}
        """
        let report = try Repo.engine().report(for: [ResponseParser.parse(raw, source: "camel.http")], source: "camel.http", keepFacts: true)
        let outputs = [JSONReportWriter().render(report), TextReportRenderer(color: false).render(report)]
        for output in outputs {
            for secret in ["FAKEcamelACCESS0101", "FAKEcamelREFRESH0102", "FAKEcamelSECRET0103", "FAKEcamelID0104"] {
                XCTAssertFalse(output.contains(secret), "\(secret) leaks:\n\(output)")
            }
        }
    }

    /// Was a bug — a numeric password in a JSON body is kept as a fact: FactExtractor masks only string
    /// members, so {"password": 12345678901} shows as `body.password = 12345678901` with --show-facts.
    func testNumericPasswordIsRedacted() throws {
        let raw = "HTTP/1.1 401 Unauthorized\nContent-Type: application/json\n\n{\"error\":\"invalid_client\",\"password\":12345678901,\"client_secret\":98765432109}\n"
        let report = try Repo.engine().report(for: [ResponseParser.parse(raw, source: "n.http")], source: "n.http", keepFacts: true)
        let json = JSONReportWriter().render(report)
        XCTAssertFalse(json.contains("12345678901"), json)
        XCTAssertFalse(json.contains("98765432109"), json)
    }

    /// Was a bug — the `message` fact of {"error": "<code>", "error_description": "<text>"} was "<code>: <text>";
    /// docs/RULES.md says `message` is the OAuth error_description (the code stays in body.error).
    /// Three repository rules rely on the documented value:
    /// google.oauth.invalid-grant-malformed, google.oauth.refresh-token-other-client, google.tokeninfo.invalid-token.
    func testMessageIsTheErrorDescription() throws {
        for (fixture, message) in [("google/token-invalid-grant-bad-request.http", "Bad Request"),
                                   ("google/token-unauthorized-client.http", "Unauthorized"),
                                   ("google/tokeninfo-invalid-value.http", "Invalid Value")] {
            let report = try Repo.report(fixture: fixture, keepFacts: true)
            XCTAssertEqual(report.facts?["message"], .string(message), fixture)
        }
    }

    /// Was a bug — a HAR with no failing entry (every request answered 2xx/3xx) gets verdict "unknown";
    /// Report.Verdict documents "ok" for evidence that shows no failure. httpStatus is nil for
    /// session-only HAR evidence, so the `< 400` test never applies.
    func testHARWithoutFailuresIsOK() throws {
        let report = try Repo.report(fixture: "looker-studio/connector-authorize-single-account-ok.har", keepFacts: true)
        XCTAssertEqual(report.facts?["har.failing"], .int(0), "precondition: nothing failed")
        // Issue 14: nothing failed, so no finding at all (not an `unknown` one).
        XCTAssertEqual(report.findings.count, 0, "no rule holds, nothing failed")
        XCTAssertNotNil(report.note)
        XCTAssertEqual(report.verdict, .ok)
    }

    /// Was a bug — a HAR whose entries are all redirects (a redirect loop, no failing entry) yields evidence
    /// without `url` / `url.host` facts (docs/RULES.md: "request URL when known (HAR, ...)"), so
    /// looker-studio.har.redirect-loop (needs url.host) never holds: its own `match` example
    /// looker-studio/redirect-loop-accounts.har classifies as `unknown` and fails `rules test`.
    func testRedirectLoopHARIsRecognised() throws {
        let report = try Repo.report(fixture: "looker-studio/redirect-loop-accounts.har", keepFacts: true)
        XCTAssertEqual(report.facts?["redirect.loop"], .bool(true), "precondition: the loop is seen")
        XCTAssertNotNil(report.facts?["url.host"], "the HAR's URLs are known")
        XCTAssertEqual(report.findings.first?.failure, "looker-400")
    }
}
