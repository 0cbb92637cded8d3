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

    /// Found by the fuzzer (seed 1126344431): a Ruby-hash dump cut off mid-string swallows the next
    /// lines, so `"secretKey":"…"`'s value lands in `body.error.errors[]` away from its name, and
    /// name-based redaction of the fact no longer knows it is a secret. Before the fix: the secret
    /// was in the fact (and in `--show-facts` output).
    func testASecretNamedInTheTextIsClearedFromEveryFactTakenFromIt() {
        let secret = "QxLGuPcX8RsMvU27ZmKR4wH2"
        let text = """
        @data=#<Google::APIClient:hema::Webmasters::V3::UrlCrawlErrorsSamplesListResponse:0x67752d0 DATA:{"error"=>{"errors"=>[{"domain"=>"gloQueryClient.java:295)
        X-Amz-Security-Token: QxckvJUYrJcevBKoat7PVctQ
        "secretKey":"\(secret)"
          at com.google.cloud.spark.bigquery.repackaged.com.google.cloud.bibal", "reason"=>"forbi.
        dden", "message"=>"User does not have sufficient permission for site 'http://www.example.com/'."}], "code"=>403
        """
        let facts = FactExtractor().facts(for: Evidence(kind: .text, text: text))
        XCTAssertNotNil(facts["body.error.errors[]"], "the dump is still read")
        for name in facts.names {
            XCTAssertFalse(facts[name]!.description.contains(secret), "\(name): \(facts[name]!)")
            XCTAssertFalse(facts[name]!.description.contains("QxckvJUYrJcevBKoat7PVctQ"), name)
        }
        XCTAssertEqual(Redactor.secrets(in: text).sorted(), ["QxckvJUYrJcevBKoat7PVctQ", secret].sorted())
        XCTAssertEqual(Redactor.secrets(in: "Request had invalid authentication credentials (401)."), [], "nothing named, nothing found")
    }
}
