import XCTest
@testable import EvidenceModel

/// Tests that should pass per docs/RULES.md, DESIGN.md and the issue but fail against the current
/// sources. Each names input, expected and actual; move a test to its topic file once fixed.
final class EvidenceModelKnownBugsTests: XCTestCase {
    /// PostgreSQL's own wording for SQLSTATE 53300 (too_many_connections) is
    /// "sorry, too many clients already"; SQLState.phrases does not know it.
    /// Actual: sqlstate is absent.
    func testSorryTooManyClientsImplies53300() {
        let facts = FactExtractor().facts(for: Evidence(kind: .text, text: "psql: error: connection to server at \"db.example.com\" (10.0.0.5), port 5432 failed: FATAL:  sorry, too many clients already"))
        XCTAssertEqual(facts["sqlstate"], .string("53300"))
    }

    /// An HTML error page whose text follows an inline <script> (or <style>, <title>) loses that text:
    /// HTML.visibleText leaves `inTag` set after skipping to </script>, so everything up to the next
    /// '>' is dropped. Actual: body.html.text absent, no message.
    func testHTMLTextAfterScriptIsKept() {
        let body = "<html><body><script>var a = 1;</script>Access denied for this account.</body></html>"
        let facts = FactExtractor().facts(for: Evidence(kind: .record, responses: [
            ResponseSnapshot(status: 403, headers: [("Content-Type", "text/html")], body: body)]))
        XCTAssertEqual(facts["body.format"], .string("html"))
        XCTAssertEqual(facts["body.html.text"], .string("Access denied for this account."))
        XCTAssertEqual(facts["message"], .string("Access denied for this account."))
    }

    /// A high surrogate followed by an escaped non-surrogate: the second escape is consumed and lost.
    /// Expected "\u{FFFD}A" (lone surrogate replaced, next character kept). Actual "\u{FFFD}".
    func testLoneHighSurrogateKeepsTheNextEscape() throws {
        XCTAssertEqual(try JSON.parse(#""\ud83d\u0041""#), .string("\u{FFFD}A"))
    }

    /// `Basic <base64>` where the base64 happens to be letters only and shorter than 20 characters
    /// ("user:pass" → dXNlcjpwYXNz) is not treated as a credential. Actual: unchanged.
    func testLettersOnlyBasicCredentialIsRedacted() {
        let output = Redactor.redact("the client sent Basic dXNlcjpwYXNz and got 401")
        XCTAssertEqual(output, "the client sent Basic [REDACTED] and got 401")
    }

    /// Header values written as HAR / batch JSON name-value pairs are not redacted by header name,
    /// so cookies survive (DESIGN.md: Cookie headers never reach a report or a message).
    /// Actual: the text is returned unchanged.
    func testCookieHeaderInHARJSONIsRedacted() {
        let output = Redactor.redact(#"{"name": "Cookie", "value": "SID=FAKEsid; HSID=FAKEhsid"}"#)
        XCTAssertFalse(output.contains("FAKEsid"), output)
        XCTAssertFalse(output.contains("FAKEhsid"), output)
    }

    /// Host matching is by bare suffix, so look-alike hosts are taken for the provider.
    /// Input url.host "notfacebook.com" / "evil-linkedin.com" / "myhubspot.com". Expected nil. Actual
    /// facebook / linkedin / hubspot.
    func testLookAlikeHostsAreNotProviders() {
        XCTAssertNil(ProviderDetector.detect(Facts(["url.host": .string("notfacebook.com")])))
        XCTAssertNil(ProviderDetector.detect(Facts(["url.host": .string("evil-linkedin.com")])))
        XCTAssertNil(ProviderDetector.detect(Facts(["url.host": .string("myhubspot.com")])))
    }

    /// The check accepts 0...200 while the message says 0–99 (CurlCodes.maxKnownCode is 99).
    /// Input {"curl_exit": 150}. Expected InputError "\"curl_exit\" must be a curl exit code (0–99)".
    /// Actual: accepted (curl.name CURLE_UNKNOWN_150).
    func testCurlExitAboveKnownCodesIsRejected() {
        XCTAssertThrowsError(try BatchRecord.parse(#"{"curl_exit": 150}"#, place: "b.jsonl:1"))
    }
    // MARK: - CRLF line endings (curl -i prints headers with CRLF)

    /// ResponseParser splits on the Character "\n", but in Swift "\r\n" is one Character, so CRLF
    /// text is never split into lines. Input: "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nAccess denied\r\n".
    /// Expected status 403, reason "Forbidden", one header, body "Access denied".
    /// Actual: one "line"; reason is the whole text, no headers, empty body.
    func testHTTP11WithCRLF() throws {
        let evidence = try ResponseParser.parse("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nAccess denied\r\n")
        XCTAssertEqual(evidence.finalResponse?.status, 403)
        XCTAssertEqual(evidence.finalResponse?.reason, "Forbidden")
        XCTAssertEqual(evidence.finalResponse?.headers.map(\.name), ["Content-Type"])
        XCTAssertEqual(evidence.finalResponse?.body, "Access denied")
    }

    /// Same cause: a CRLF HTTP/2 answer as `curl -i` prints it ("HTTP/2 401 \r\n...") is rejected.
    /// Expected status 401 with facts. Actual: InputError "no HTTP status line ... found" at name:1.
    func testCurlIHTTP2WithCRLF() throws {
        let raw = "HTTP/2 401 \r\ncontent-type: application/json; charset=UTF-8\r\nwww-authenticate: Bearer error=\"invalid_token\"\r\n\r\n{\"error\": {\"code\": 401, \"status\": \"UNAUTHENTICATED\"}}"
        let evidence = try ResponseParser.parse(raw, source: "g.http")
        XCTAssertEqual(evidence.finalResponse?.status, 401)
        let facts = FactExtractor().facts(for: evidence)
        XCTAssertEqual(facts["www-authenticate.error"], .string("invalid_token"))
        XCTAssertEqual(facts["body.error.status"], .string("UNAUTHENTICATED"))
    }

    /// Same cause in `curl -iL` and `100 Continue` output. Expected responses [100, 401] and [302, 401].
    /// Actual: a single response (the first status line swallows the rest).
    func testChainsWithCRLF() throws {
        let cont = try ResponseParser.parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\n\r\nbad\r\n")
        XCTAssertEqual(cont.responses.map(\.status), [100, 401])
        let chain = try ResponseParser.parse("HTTP/1.1 302 Found\r\nLocation: https://a.example/x\r\n\r\nHTTP/1.1 401 Unauthorized\r\n\r\n")
        XCTAssertEqual(chain.responses.map(\.status), [302, 401])
    }

    /// Same cause in `curl -v` output (request/response header lines end in CRLF).
    /// Expected request Authorization header and status 401. Actual: no request headers, no response.
    func testCurlVerboseWithCRLF() throws {
        let raw = "> GET /v1/me HTTP/1.1\r\n> Host: api.example.com\r\n> Authorization: Bearer ya29.FAKE-v\r\n>\r\n< HTTP/1.1 401 Unauthorized\r\n< Content-Type: text/plain\r\n<\r\nnope\n"
        let evidence = try ResponseParser.parse(raw)
        XCTAssertEqual(evidence.finalResponse?.status, 401)
        XCTAssertEqual(evidence.request?.header("authorization"), "Bearer ya29.FAKE-v")
        XCTAssertEqual(evidence.request?.url, "https://api.example.com/v1/me")
    }

    /// Form bodies: FactExtractor calls URLFacts.queryItems("?" + body), but queryItems drops the first
    /// '?'-separated part, which is empty here and omitted by split, so the fields are dropped.
    /// Input: 400, Content-Type application/x-www-form-urlencoded,
    /// "error=invalid_grant&error_description=Bad+Request%3A+code+expired&access_token=ya29.FAKE".
    /// Expected body.error "invalid_grant", body.error_description "Bad Request: code expired",
    /// body.access_token "[REDACTED]", message "Bad Request: code expired". Actual: all absent.
    func testFormBodyFields() {
        let facts = FactExtractor().facts(for: Evidence(kind: .record, responses: [ResponseSnapshot(
            status: 400, headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: "error=invalid_grant&error_description=Bad+Request%3A+code+expired&access_token=ya29.FAKE")]))
        XCTAssertEqual(facts["body.format"], .string("form"))
        XCTAssertEqual(facts["body.error"], .string("invalid_grant"))
        XCTAssertEqual(facts["body.error_description"], .string("Bad Request: code expired"))
        XCTAssertEqual(facts["body.access_token"], .string(Redactor.mask))
        XCTAssertEqual(facts["message"], .string("Bad Request: code expired"))
    }
}
