import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// Evidence full of (fake) secrets, shared by the Diagnose and CLI redaction proofs.
enum SecretEvidence {
    /// Distinct fragments of every secret below; none may appear in any output.
    static let secrets = [
        "FAKEbearerSECRET0001", "FAKEcookieSECRET0002", "FAKEaccessQUERY0003", "FAKEcodeQUERY0004", "FAKEstateQUERY0005",
        "FAKEbodyACCESS0006", "FAKEbodyREFRESH0007", "FAKEbodySECRET0008", "FAKEya29token0009", "FAKErefresh0010",
        "EAAFAKEfacebook0011", "FAKEjwtSIG0012", "eyJzdWIiOiJGQUtFMDAxMiJ9", "FAKE0013-hubspot", "FAKEpassword0014",
        "FAKEpgPW0015", "FAKEreqCOOKIE0016", "FAKEcodeLOC0017", "FAKEstateLOC0018", "FAKEsourceTOKEN0019",
    ]

    static let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJGQUtFMDAxMiJ9.FAKEjwtSIG0012"
    static let tokens = "ya29.FAKEya29token0009 1//FAKErefresh0010 EAAFAKEfacebook0011 \(jwt) pat-na1-FAKE0013-hubspot"

    /// `curl -v` output: the request's Authorization and Cookie, Set-Cookie and a Location with code/state,
    /// a JSON body with secret members and token shapes in its message.
    static let curlVerbose = """
    *   Trying 203.0.113.20:443...
    * Connected to api.example.com (203.0.113.20) port 443
    > POST /oauth/token?access_token=FAKEaccessQUERY0003&code=FAKEcodeQUERY0004&state=FAKEstateQUERY0005 HTTP/1.1
    > Host: api.example.com
    > Authorization: Bearer FAKEbearerSECRET0001xyz
    > Cookie: session=FAKEreqCOOKIE0016
    > Content-Type: application/x-www-form-urlencoded
    >
    < HTTP/1.1 401 Unauthorized
    < Content-Type: application/json
    < Set-Cookie: SID=FAKEcookieSECRET0002; Path=/; HttpOnly
    < Location: https://app.example.com/cb?code=FAKEcodeLOC0017&state=FAKEstateLOC0018
    <
    {"error":{"message":"Invalid token \(tokens) for postgres://u:FAKEpgPW0015@h/db","code":190},"access_token":"FAKEbodyACCESS0006","refresh_token":"FAKEbodyREFRESH0007","client_secret":"FAKEbodySECRET0008","id_token":"\(jwt)","form":"user=a&password=FAKEpassword0014"}
    """

    /// Pasted text no rule recognises: the unknown finding keeps it as evidence.
    static let pasted = """
    Zorglub frobnicated at https://api.example.com/cb?access_token=FAKEaccessQUERY0003&code=FAKEcodeQUERY0004&state=FAKEstateQUERY0005
    > Authorization: Bearer FAKEbearerSECRET0001xyz
    > Cookie: session=FAKEreqCOOKIE0016
    < Set-Cookie: SID=FAKEcookieSECRET0002; Path=/
    body {"access_token":"FAKEbodyACCESS0006","refresh_token":"FAKEbodyREFRESH0007","client_secret":"FAKEbodySECRET0008"}
    tokens \(tokens)
    form user=a&password=FAKEpassword0014 dsn postgres://u:FAKEpgPW0015@h/db
    """

    /// A HAR: secrets in request URLs, request and response headers, a form post and the response body.
    static let har = """
    {"log":{"version":"1.2","creator":{"name":"test","version":"1"},"entries":[
    {"request":{"method":"GET","url":"https://accounts.google.com/o/oauth2/v2/auth?client_id=x&state=FAKEstateQUERY0005&code=FAKEcodeQUERY0004&authuser=0","headers":[{"name":"Cookie","value":"SID=FAKEreqCOOKIE0016"}]},
     "response":{"status":302,"headers":[{"name":"Location","value":"https://app.example.com/cb?code=FAKEcodeLOC0017&state=FAKEstateLOC0018&authuser=1"},{"name":"Set-Cookie","value":"SID=FAKEcookieSECRET0002"}],"content":{"text":""}}},
    {"request":{"method":"POST","url":"https://api.example.com/v1/data?access_token=FAKEaccessQUERY0003&code=FAKEcodeQUERY0004","headers":[{"name":"Authorization","value":"Bearer FAKEbearerSECRET0001xyz"}],"postData":{"mimeType":"application/x-www-form-urlencoded","text":"user=a&password=FAKEpassword0014"}},
     "response":{"status":401,"statusText":"Unauthorized","headers":[{"name":"Content-Type","value":"application/json"},{"name":"Set-Cookie","value":"SID=FAKEcookieSECRET0002"}],"content":{"mimeType":"application/json","text":"{\\"error\\":{\\"message\\":\\"bad \(tokens) postgres://u:FAKEpgPW0015@h/db password=FAKEpassword0014\\"},\\"access_token\\":\\"FAKEbodyACCESS0006\\",\\"refresh_token\\":\\"FAKEbodyREFRESH0007\\",\\"client_secret\\":\\"FAKEbodySECRET0008\\"}"}}}
    ]}}
    """

    /// `--batch` lines: secrets in URLs, request and response headers, bodies, text, ids and a bad provider.
    static let batchLines: [String] = [
        #"{"id":"s1","status":401,"url":"https://api.example.com/x?access_token=FAKEaccessQUERY0003&code=FAKEcodeQUERY0004&state=FAKEstateQUERY0005","request_headers":{"Authorization":"Bearer FAKEbearerSECRET0001xyz","Cookie":"a=FAKEreqCOOKIE0016"},"headers":{"Set-Cookie":"SID=FAKEcookieSECRET0002","Location":"https://a.example.com/cb?code=FAKEcodeLOC0017&state=FAKEstateLOC0018"},"body":{"error":"invalid_token","access_token":"FAKEbodyACCESS0006","refresh_token":"FAKEbodyREFRESH0007","client_secret":"FAKEbodySECRET0008"}}"#,
        #"{"id":"s2","text":"zorglub ya29.FAKEya29token0009 1//FAKErefresh0010 EAAFAKEfacebook0011 eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJGQUtFMDAxMiJ9.FAKEjwtSIG0012 pat-na1-FAKE0013-hubspot password=FAKEpassword0014 postgres://u:FAKEpgPW0015@h/db"}"#,
        #"{"id":"s3","provider":"postgres","sqlstate":"28P01","text":"FATAL: password authentication failed; dsn postgres://u:FAKEpgPW0015@h/db password=FAKEpassword0014"}"#,
        #"{"id":"s4","status":400,"body":"error=invalid_grant&access_token=FAKEaccessQUERY0003&refresh_token=FAKEbodyREFRESH0007"}"#,
        #"{"id":"s5","provider":"ya29.FAKEya29token0009","status":401}"#,
        #"{"id":"https://x.example.com/?access_token=FAKEsourceTOKEN0019","status":401}"#,
        #"{"id":"s7","status":401,"body":"{\"access_token\":\"FAKEbodyACCESS0006\"","text":"Authorization: Bearer FAKEbearerSECRET0001xyz"}"#,
    ]

    static func leaks(in output: String) -> [String] { secrets.filter { output.contains($0) } }

    /// Reports of every evidence kind above, facts kept.
    static func reports() throws -> [Report] {
        let engine = try Repo.engine()
        let response = try EvidenceLoader.load(curlVerbose, format: .response, source: "upload?access_token=FAKEsourceTOKEN0019", provider: nil)
        let text = [Evidence(kind: .text, text: pasted)]
        let har = try EvidenceLoader.load(SecretEvidence.har, format: .har, source: "session.har", provider: nil)
        let withCurl = [Evidence(kind: .text, text: pasted, curlExit: 60, curlMessage: "SSL certificate problem for \(tokens)")]
        return [
            engine.report(for: response, source: "upload?access_token=FAKEsourceTOKEN0019", id: "id?access_token=FAKEsourceTOKEN0019", keepFacts: true),
            engine.report(for: text, source: nil, keepFacts: true),
            engine.report(for: har, source: "session.har", keepFacts: true),
            engine.report(for: withCurl, source: nil, keepFacts: true),
        ]
    }
}

/// DESIGN.md non-negotiable: no secret reaches a report, in any format.
final class SecretRedactionTests: XCTestCase {
    func testEvidenceReallyCarriesTheSecrets() throws {
        // Guard against a vacuous proof: the inputs contain every secret, and the parsers see them.
        let all = SecretEvidence.curlVerbose + SecretEvidence.pasted + SecretEvidence.har + SecretEvidence.batchLines.joined()
        XCTAssertEqual(SecretEvidence.secrets.filter { !all.contains($0) }, [])
        let evidence = try ResponseParser.parse(SecretEvidence.curlVerbose, source: "x")
        XCTAssertEqual(evidence.request?.header("authorization"), "Bearer FAKEbearerSECRET0001xyz")
        XCTAssertEqual(evidence.finalResponse?.status, 401)
        XCTAssertTrue(evidence.finalResponse?.body.contains("FAKEbodyACCESS0006") ?? false)
        let har = try HARParser.parse(SecretEvidence.har)
        XCTAssertEqual(har.failing.count, 1)
        XCTAssertTrue(har.failing[0].request?.url?.contains("FAKEaccessQUERY0003") ?? false)
    }

    func testTextFormatRevealsNoSecret() throws {
        for report in try SecretEvidence.reports() {
            for color in [false, true] {
                let text = TextReportRenderer(color: color).render(report)
                XCTAssertEqual(SecretEvidence.leaks(in: text), [], text)
                XCTAssertTrue(text.contains("[REDACTED]"), "the secrets were seen and masked:\n\(text)")
            }
        }
    }

    func testJSONFormatWithFactsRevealsNoSecret() throws {
        let reports = try SecretEvidence.reports()
        for report in reports {
            for pretty in [false, true] {
                let json = JSONReportWriter().render(report, pretty: pretty)
                XCTAssertEqual(SecretEvidence.leaks(in: json), [], json)
                let doc = try assertConformsToReportSchema(json, "secret evidence")
                XCTAssertNotNil(doc["facts"]?.objectValue, "facts are included")
            }
        }
        // The facts that held secrets are there, masked: redaction, not omission.
        let response = try JSON.parse(JSONReportWriter().render(reports[0]))
        XCTAssertEqual(response.at("facts", "http.header.set-cookie")?.stringValue, "[REDACTED]")
        XCTAssertEqual(response.at("facts", "body.access_token")?.stringValue, "[REDACTED]")
        XCTAssertEqual(response.at("facts", "body.refresh_token")?.stringValue, "[REDACTED]")
        XCTAssertEqual(response.at("facts", "body.client_secret")?.stringValue, "[REDACTED]")
        XCTAssertEqual(response.at("facts", "url")?.stringValue,
                       "https://api.example.com/oauth/token?access_token=[REDACTED]&code=[REDACTED]&state=[REDACTED]")
        XCTAssertEqual(response.at("facts", "request.auth.scheme")?.stringValue, "bearer")
        XCTAssertEqual(response.at("id")?.stringValue, "id?access_token=[REDACTED]")
        XCTAssertEqual(response.at("input", "source")?.stringValue, "upload?access_token=[REDACTED]")
        let har = try JSON.parse(JSONReportWriter().render(reports[2]))
        XCTAssertEqual(har.at("facts", "url")?.stringValue, "https://api.example.com/v1/data?access_token=[REDACTED]&code=[REDACTED]")
        XCTAssertEqual(har.at("facts", "http.status"), .int(401))
    }

    func testJSONLBatchRevealsNoSecret() throws {
        let input = try temporaryFile(SecretEvidence.batchLines.joined(separator: "\n") + "\n", name: "secrets.jsonl")
        let outputURL = input.deletingLastPathComponent().appendingPathComponent("out.jsonl")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let writer = try FileHandle(forWritingTo: outputURL)
        // Facts kept (`classify --batch --show-facts`): the most secret-bearing output there is.
        let summary = try BatchClassifier(engine: Repo.engine(), keepFacts: true).run(input: try FileHandle(forReadingFrom: input), output: writer)
        try writer.close()
        let output = try String(contentsOf: outputURL, encoding: .utf8)
        XCTAssertEqual(SecretEvidence.leaks(in: output), [], output)
        let lines = output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, SecretEvidence.batchLines.count)
        guard lines.count == SecretEvidence.batchLines.count else { return }
        XCTAssertEqual(summary.errors, 1, "the record with a token as its provider is an error record")
        for line in lines { try assertConformsToReportSchema(line, "batch line") }
        XCTAssertEqual(try JSON.parse(lines[4])["verdict"]?.stringValue, "error")
        XCTAssertTrue(lines[4].contains("unknown provider"), lines[4])
        XCTAssertEqual(try JSON.parse(lines[5])["id"]?.stringValue, "https://x.example.com/?access_token=[REDACTED]")
        let first = try JSON.parse(lines[0])
        XCTAssertEqual(first.at("facts", "url")?.stringValue,
                       "https://api.example.com/x?access_token=[REDACTED]&code=[REDACTED]&state=[REDACTED]")
        XCTAssertEqual(first.at("facts", "http.header.set-cookie")?.stringValue, "[REDACTED]")
        XCTAssertEqual(first.at("facts", "body.access_token")?.stringValue, "[REDACTED]")
        XCTAssertEqual(first.at("facts", "request.auth.scheme")?.stringValue, "bearer")
        XCTAssertTrue(output.contains("[REDACTED]"))
    }

    func testMarkdownFormatRevealsNoSecret() throws {
        for report in try SecretEvidence.reports() {
            let md = MarkdownReportRenderer().render(report)
            XCTAssertEqual(SecretEvidence.leaks(in: md), [], md)
            XCTAssertTrue(md.contains("<summary>Facts</summary>"), "facts are included:\n\(md)")
            XCTAssertTrue(md.contains("[REDACTED]"), "the secrets were seen and masked:\n\(md)")
        }
        let md = MarkdownReportRenderer().render(try SecretEvidence.reports()[1])
        XCTAssertTrue(md.contains("access_token=[REDACTED]"), "the pasted text is kept, masked:\n\(md)")
    }
}
