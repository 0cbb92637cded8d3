import EvidenceModel
import Foundation
import RuleEngine
import XCTest
@testable import Diagnose

/// Template rendering and secret scrubbing, which `check` runs for every request: the fast paths
/// (nothing to encode, nothing to escape) must give what the slow paths give.
final class DiagnosisTemplateTests: XCTestCase {
    /// RFC 3986 unreserved characters kept, everything else percent-encoded (upper-case hex).
    func reference(_ value: String) -> String {
        var allowed = CharacterSet()
        allowed.insert(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    func testPercentEncodingMatchesFoundation() {
        for value in ["", "tok-ok", "5550001112223|appsecret", "1//0gAbC", "a b+c", "é/ü?&=#", "x~y_z.w-v", "\u{1F511}key"] {
            XCTAssertEqual(DiagnosisTemplate.percentEncode(value, keep: DiagnosisTemplate.unreserved), reference(value), value)
        }
    }

    func testJSONEscapingMatchesTheWriter() {
        for value in ["", "plain", "quote\"d", "back\\slash", "tab\tnew\nline", "\u{01}", "ünïcödé"] {
            var w = JSONWriter()
            w.string(value)
            let quoted = String(decoding: w.bytes, as: UTF8.self)
            XCTAssertEqual(DiagnosisTemplate.jsonEscape(value), String(quoted.dropFirst().dropLast()), value)
        }
    }

    func testRenderEncodesByPlaceAndMasksSecrets() {
        let template = DiagnosisTemplate(
            baseURLs: ["graph": "https://graph.example"], versionPath: "v23.0",
            credentials: DiagnosisCredentials([CredentialName.token: "a b/c", CredentialName.clientID: "id 1",
                                               CredentialName.urlPath: "/api/x?y=1"]))
        XCTAssertEqual(template.render("{base.graph}/{version}/{token}?t={token}&c={client-id}", .url, masked: false),
                       "https://graph.example/v23.0/a%20b%2Fc?t=a%20b%2Fc&c=id%201")
        XCTAssertEqual(template.render("{base.graph}/{version}/me?access_token={token}&c={client-id}&a={account-id}", .url, masked: true),
                       "https://graph.example/v23.0/me?access_token=[REDACTED]&c=id%201&a={account-id}")
        XCTAssertEqual(template.render("{base.graph}/{version}/me?a={account-id}", .url, masked: false),
                       "https://graph.example/v23.0/me?a=")
        XCTAssertEqual(template.render("{\"t\":\"{token}\"}", .jsonBody, masked: false), "{\"t\":\"a b/c\"}")
        XCTAssertEqual(template.render("Bearer {token}", .header, masked: false), "Bearer a b/c")
        XCTAssertEqual(template.render("{base.graph}{url-path}", .url, masked: false), "https://graph.example/api/x?y=1")
        XCTAssertEqual(template.render("{client-id.upper}", .header, masked: false), "ID 1")
    }

    func testScrubberRemovesEveryFormOfASecret() {
        let secret = "s3cr3t value/+\"x"
        let scrubber = SecretScrubber(secrets: [secret, "tok-ok", "abc"])
        let forms = [secret, reference(secret), DiagnosisTemplate.jsonEscape(secret),
                     reference(secret).replacingOccurrences(of: "%20", with: "+"), "tok-ok"]
        for form in forms {
            let scrubbed = scrubber.scrub("before \(form) after")
            XCTAssertFalse(scrubbed.contains(form), "\(form) survived: \(scrubbed)")
            XCTAssertTrue(scrubbed.contains(Redactor.mask), scrubbed)
        }
        // Secrets shorter than four characters are not needles (they would mask ordinary words).
        XCTAssertEqual(scrubber.scrub("abc"), "abc")
        // A secret that contains another is replaced whole.
        let nested = SecretScrubber(secrets: ["token", "token-with-suffix"])
        XCTAssertEqual(nested.scrub("x token-with-suffix y"), "x [REDACTED] y")
    }
}
