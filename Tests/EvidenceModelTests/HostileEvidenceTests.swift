import EvidenceModel
import Foundation
import XCTest

/// Issue 12, items 6-8 at the library level (the CLI tests run the same through the binary).
final class HostileEvidenceTests: XCTestCase {
    /// 200,000 distinct response headers: linear (was quadratic, over a minute).
    func testManyDistinctHeadersAreLinear() {
        func seconds(_ count: Int) -> Double {
            let headers = (0..<count).map { (name: "X-Header-\($0)", value: "v\($0)") } + [(name: "x-header-7", value: "again")]
            let evidence = Evidence(kind: .response, responses: [ResponseSnapshot(status: 401, headers: headers, body: "{}")])
            let started = Date()
            let facts = FactExtractor().facts(for: evidence)
            let elapsed = Date().timeIntervalSince(started)
            XCTAssertEqual(facts.string("http.header.x-header-7"), "v7, again", "repeated names still joined")
            XCTAssertEqual(facts.string("http.header.x-header-\(count - 1)"), "v\(count - 1)")
            return elapsed
        }
        let small = seconds(20_000)
        let large = seconds(200_000)
        XCTAssertLessThan(large, 10, "200,000 headers took \(large) s")
        // Ten times the headers, well under a hundred times the time (quadratic would be ~100x).
        XCTAssertLessThan(large, max(small, 0.05) * 30, "20k: \(small) s, 200k: \(large) s")
    }

    /// A loose object dump cut off at any byte, a quote opening the next key included, is read
    /// without trapping (fuzzer, seed 1160864217: `{ api_key: ...\n  "` ended the body).
    func testLooseDumpsCutAtEveryByteAreReadWithoutATrap() {
        let dumps = ["{\napi_key: FAKEnotarealkey0123\n  \"error\": \"invalid_grant\", 'code': 190, u'type': b'OAuthException'\n}",
                     "{:error=>\"invalid_grant\", :error_description=>\"Bad Request\"}",
                     "GraphResponse{error: {HttpStatus: 400, errorCode: 190, subErrorCode: 460, errorType: OAuthException}}"]
        for dump in dumps {
            let bytes = Array(dump.utf8)
            for cut in 1...bytes.count {
                let text = String(decoding: bytes[..<cut], as: UTF8.self)
                let body = ResponseSnapshot(status: 400, headers: [(name: "Content-Type", value: "application/json")], body: text)
                _ = FactExtractor().facts(for: Evidence(kind: .response, responses: [body]))
                _ = FactExtractor().facts(for: Evidence(kind: .text, text: text))
            }
        }
        let whole = FactExtractor().facts(for: Evidence(kind: .text, text: dumps[0]))
        XCTAssertEqual(whole.string("body.error"), "invalid_grant", "the whole dump is still read")
    }

    /// An unterminated secret member is secret to the end of the text.
    func testUnterminatedSecretMemberIsRedactedToTheEnd() {
        let text = #"{"error":"x","access_token":"ya29.FAKE-SECRETVALUE0123456789"#
        let redacted = Redactor.redact(text)
        XCTAssertFalse(redacted.contains("SECRETVALUE"), redacted)
        XCTAssertTrue(redacted.contains("[REDACTED]"), redacted)
        let cut = #"{"note":"x","client_secret":"abc\"def"#
        XCTAssertFalse(Redactor.redact(cut).contains("def"), Redactor.redact(cut))
    }

    /// The body's message is redacted before the 300-character cut.
    func testMessageIsRedactedBeforeItIsCut() {
        let body = #"{"error":"invalid_grant","note":""# + String(repeating: "x", count: 220) + #"","refresh_token":"RFSECRETVALUE"# + String(repeating: "z", count: 100)
        let evidence = Evidence(kind: .response, responses: [ResponseSnapshot(status: 400, headers: [(name: "Content-Type", value: "application/json")], body: body)])
        let facts = FactExtractor().facts(for: evidence)
        for name in ["message", "text"] {
            let value = facts.string(name) ?? ""
            XCTAssertFalse(value.contains("RFSECRET"), "\(name): \(value)")
            // Either the raw first line (cut after redaction) or the error object the forgiving reader found.
            XCTAssertTrue(value.contains("refresh_token") || value.hasPrefix("invalid_grant"), "the cut falls inside the secret: \(name): \(value)")
        }
        XCTAssertEqual(facts.string("body.refresh_token"), Redactor.mask)
    }

    /// Item 8: the shapes the issue lists, one per row.
    func testSecretShapesTable() {
        let m = "Zq7Lw2Xy9VbK3mN8pR4t"
        let rows: [String] = [
            "PGPASSWORD=\(m)", "export SNOWFLAKE_PASSWORD=\(m)", "aws_secret_access_key=\(m)", "aws_secret_access_key = \(m)",
            #"{"SecretAccessKey": "\#(m)"}"#, #"{"secretKey":"\#(m)"}"#, #"{"privateKey": "\#(m)"}"#, #"{"apiKey":"\#(m)"}"#,
            "X-Amz-Security-Token: \(m)", "> X-Amz-Signature: \(m)", "error at X-Amz-Security-Token: \(m)",
            "https://s3.invalid/o?X-Amz-Signature=\(m)&X-Amz-Date=20260101", "https://s3.invalid/o?X-Amz-Security-Token=\(m)",
            "postgres://loader:pa/ss\(m)@db.invalid:5432/dw", "postgres://loader:p@ss\(m)@db.invalid/dw", "mysql://u:\(m)/x@h/db",
            "password='\(m)'", "password = \"\(m)\"", "PASSWORD = '\(m) with spaces'",
            "https://app.invalid/cb?next=https%3A%2F%2Fa.invalid%2Fcb%3Fcode%3D\(m)%26state%3Dabc",
            "https://x.invalid/?q=ya29%2Ea0\(m)", "loader:\(m)@tcp(db.invalid:3306)/warehouse", "root:pw/\(m)@unix(/tmp/sock)/db",
            "GOCSPX-\(m)", "sk_live_\(m)", "xoxb-1234-\(m)", "ghp_\(m)",
        ]
        for row in rows {
            let redacted = Redactor.redact(row)
            XCTAssertFalse(redacted.contains(m), "\(row) -> \(redacted)")
            XCTAssertFalse(redacted.contains(String(m.prefix(8))), "\(row) -> \(redacted)")
        }
        // Facts from flattened JSON use the same names.
        for key in ["SecretAccessKey", "secretKey", "privateKey", "apiKey", "aws_secret_access_key"] {
            XCTAssertTrue(Redactor.isSecretJSONKey(key, value: m), key)
        }
        // Words that are not secrets stay.
        for plain in ["Token has been expired or revoked.", "password authentication failed for user \"loader\"",
                      "The client secret supplied for a confidential client is invalid.", "https://example.invalid/a?b=c%20d"] {
            XCTAssertEqual(Redactor.redact(plain), plain)
        }
    }

    /// Found by the fuzzer: secret-shaped lines among the headers became headers whose values showed
    /// (`loader:pw@tcp(...)` split at its colon, `"secretKey":"..."`).
    func testSecretShapedHeaderLinesAreMaskedInFacts() {
        let m = "Zq7Lw2Xy9VbK3mN8pR4t"
        let headers: [(name: String, value: String)] = [
            (name: "loader", value: "\(m)@tcp(127.0.0.1:3306)/db"), (name: "\"secretKey\"", value: "\"\(m)\""),
            (name: "\"SecretAccessKey\"", value: " \"\(m)\""), (name: "X-Amz-Security-Token", value: m), (name: "PGPASSWORD", value: m),
        ]
        let evidence = Evidence(kind: .response, responses: [ResponseSnapshot(status: 401, headers: headers, body: "{}")])
        let facts = FactExtractor().facts(for: evidence)
        for name in facts.names where name.hasPrefix("http.header.") {
            XCTAssertFalse(facts.string(name)?.contains(m) ?? false, "\(name) = \(facts.string(name) ?? "")")
        }
    }

    /// Numbers from the network are clamped; from argv and files they are range errors.
    func testNumberRanges() throws {
        XCTAssertEqual(NumberInput.clamp(99_999_999_999, to: NumberInput.Range.retryAfterNetwork), 31_536_000)
        XCTAssertEqual(NumberInput.clamp(-5, to: NumberInput.Range.retryAfterNetwork), 0)
        XCTAssertThrowsError(try NumberInput.duration("1e19", what: "--warn-expiry", bounds: NumberInput.Range.warnExpiry)) {
            XCTAssertTrue(($0 as? InputError)?.message.contains("from 0 to 3153600000 seconds") == true, "\($0)")
        }
        XCTAssertThrowsError(try NumberInput.duration("99999999999999999999d", what: "--warn-expiry", bounds: NumberInput.Range.warnExpiry))
        XCTAssertThrowsError(try NumberInput.duration("inf", what: "--warn-expiry", bounds: NumberInput.Range.warnExpiry))
        XCTAssertEqual(try NumberInput.duration("7d", what: "--warn-expiry", bounds: NumberInput.Range.warnExpiry), 604_800)
        XCTAssertThrowsError(try NumberInput.check(1e11, what: "--deadline", bounds: NumberInput.Range.deadline))
        XCTAssertThrowsError(try NumberInput.check(0, what: "--deadline", bounds: NumberInput.Range.deadline))
        XCTAssertEqual(try NumberInput.check(50, what: "--deadline", bounds: NumberInput.Range.deadline), 50)
    }

    /// "curl: (-5)" and out-of-range codes are text, not curl codes.
    func testCurlLineNeedsACurlCode() {
        XCTAssertNil(ResponseParser.parseCurlErrorLine("curl: (-5) weird"))
        XCTAssertNil(ResponseParser.parseCurlErrorLine("curl: (99999999999999999999) x"))
        XCTAssertNil(ResponseParser.parseCurlErrorLine("curl: (+6) x"))
        XCTAssertEqual(ResponseParser.parseCurlErrorLine("curl: (6) Could not resolve host: x")?.0, 6)
    }
}
