import XCTest
@testable import EvidenceModel

/// Bugs these tests found in Sources/ (now fixed). Each names the input, the expected behaviour and
/// what the sources did before the fix, and guards against the bug coming back.
final class EvidenceModelFixedBugsTests: XCTestCase {
    /// PostgreSQL's own wording for SQLSTATE 53300 (too_many_connections) is
    /// "sorry, too many clients already"; SQLState.phrases does not know it.
    /// Before the fix: sqlstate is absent.
    func testSorryTooManyClientsImplies53300() {
        let facts = FactExtractor().facts(for: Evidence(kind: .text, text: "psql: error: connection to server at \"db.example.com\" (10.0.0.5), port 5432 failed: FATAL:  sorry, too many clients already"))
        XCTAssertEqual(facts["sqlstate"], .string("53300"))
    }

    /// An HTML error page whose text follows an inline <script> (or <style>, <title>) loses that text:
    /// HTML.visibleText leaves `inTag` set after skipping to </script>, so everything up to the next
    /// '>' is dropped. Before the fix: body.html.text absent, no message.
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
    /// ("user:pass" → dXNlcjpwYXNz) is not treated as a credential. Before the fix: unchanged.
    func testLettersOnlyBasicCredentialIsRedacted() {
        let output = Redactor.redact("the client sent Basic dXNlcjpwYXNz and got 401")
        XCTAssertEqual(output, "the client sent Basic [REDACTED] and got 401")
    }

    /// Header values written as HAR / batch JSON name-value pairs are not redacted by header name,
    /// so cookies survive (DESIGN.md: Cookie headers never reach a report or a message).
    /// Before the fix: the text is returned unchanged.
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
    /// Before the fix: accepted (curl.name CURLE_UNKNOWN_150).
    func testCurlExitAboveKnownCodesIsRejected() {
        XCTAssertThrowsError(try BatchRecord.parse(#"{"curl_exit": 150}"#, place: "b.jsonl:1"))
    }
    /// Form bodies: FactExtractor calls URLFacts.queryItems("?" + body), but queryItems drops the first
    /// '?'-separated part, which is empty here and omitted by split, so the fields are dropped.
    /// Input: 400, Content-Type application/x-www-form-urlencoded,
    /// "error=invalid_grant&error_description=Bad+Request%3A+code+expired&access_token=ya29.FAKE".
    /// Expected body.error "invalid_grant", body.error_description "Bad Request: code expired",
    /// body.access_token "[REDACTED]", message "Bad Request: code expired". Before the fix: all absent.
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

    /// The secrets a text names (`"secretKey": "…"`, a header line), as they appear in it: the
    /// report clears them from every fact and finding it shows (DiagnoseTests).
    func testTheSecretsATextNamesAreFound() {
        let text = """
        X-Amz-Security-Token: QxckvJUYrJcevBKoat7PVctQ
        "secretKey":"QxLGuPcX8RsMvU27ZmKR4wH2"
        """
        XCTAssertEqual(Redactor.secrets(in: text).sorted(), ["QxLGuPcX8RsMvU27ZmKR4wH2", "QxckvJUYrJcevBKoat7PVctQ"])
        XCTAssertEqual(Redactor.secrets(in: "Request had invalid authentication credentials (401)."), [], "nothing named, nothing found")
    }
}
