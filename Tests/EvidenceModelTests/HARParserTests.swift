import XCTest
@testable import EvidenceModel

final class HARParserTests: XCTestCase {
    let extractor = FactExtractor(now: Date(timeIntervalSince1970: 1_700_000_000))

    /// A HAR document around the given entries (JSON texts).
    private func har(_ entries: [String]) -> String {
        #"{"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": ["# + entries.joined(separator: ",\n") + "]}}"
    }

    private func entry(url: String, status: Int, headers: String = "[]", content: String = "{}", extra: String = "",
                       requestHeaders: String = "[]") -> String {
        """
        {"request": {"method": "GET", "url": "\(url)", "headers": \(requestHeaders)},
         "response": {"status": \(status), "statusText": "", "httpVersion": "HTTP/2", "headers": \(headers), "content": \(content)\(extra)}}
        """
    }

    private func parseError(_ text: String, source: String = "cap.har",
                            file: StaticString = #filePath, line: UInt = #line) -> InputError? {
        do {
            let analysis = try HARParser.parse(text, source: source)
            XCTFail("expected an InputError, parsed \(analysis.entryCount) entries", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testMinimalHARWithOneFailingEntry() throws {
        let failing = entry(
            url: "https://www.googleapis.com/oauth2/v3/userinfo?authuser=1", status: 401,
            headers: #"[{"name": "Content-Type", "value": "application/json"}, {"name": "WWW-Authenticate", "value": "Bearer error=\"invalid_token\""}]"#,
            content: #"{"mimeType": "application/json", "text": "{\"error\": \"invalid_token\", \"error_description\": \"Invalid Credentials\"}"}"#,
            requestHeaders: #"[{"name": "Authorization", "value": "Bearer ya29.FAKE-har-token"}]"#)
        let ok = entry(url: "https://lookerstudio.google.com/u/0/navigation/reporting", status: 200)
        let analysis = try HARParser.parse(har([ok, failing]), source: "cap.har")
        XCTAssertEqual(analysis.entryCount, 2)
        XCTAssertEqual(analysis.failing.count, 1)
        let evidence = analysis.failing[0]
        XCTAssertEqual(evidence.kind, .har)
        XCTAssertEqual(evidence.responses.count, 1)
        XCTAssertEqual(evidence.finalResponse?.status, 401)
        XCTAssertEqual(evidence.finalResponse?.httpVersion, "HTTP/2")
        XCTAssertEqual(evidence.finalResponse?.header("content-type"), "application/json")
        XCTAssertEqual(evidence.finalResponse?.body, #"{"error": "invalid_token", "error_description": "Invalid Credentials"}"#)
        XCTAssertEqual(evidence.request?.header("Authorization"), "Bearer ya29.FAKE-har-token")
        XCTAssertEqual(evidence.url, "https://www.googleapis.com/oauth2/v3/userinfo?authuser=1")
        XCTAssertEqual(evidence.extraFacts["har.entry"], .int(1))
        XCTAssertEqual(evidence.extraFacts["har.entries"], .int(2))
        XCTAssertEqual(evidence.extraFacts["har.failing"], .int(1))

        XCTAssertEqual(analysis.sessionFacts["url.authuser"], .list([.int(0), .int(1)]))
        XCTAssertEqual(analysis.sessionFacts["url.authuser.distinct"], .int(2))
        XCTAssertEqual(analysis.sessionFacts["redirect.count"], .int(0))
        XCTAssertEqual(analysis.sessionFacts["redirect.loop"], .bool(false))
        XCTAssertEqual(analysis.sessionFacts["har.hosts"], .list([.string("lookerstudio.google.com"), .string("www.googleapis.com")]))

        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["input.kind"], .string("har"))
        XCTAssertEqual(facts["http.status"], .int(401))
        XCTAssertEqual(facts["request.auth.scheme"], .string("bearer"))
        XCTAssertEqual(facts["token.format"], .string("google-access"))
        XCTAssertEqual(facts["message"], .string("Invalid Credentials"))
        XCTAssertEqual(facts["body.error"], .string("invalid_token"))
        XCTAssertEqual(facts["url.authuser.distinct"], .int(2))
        XCTAssertEqual(facts["har.entry"], .int(1))
    }

    func testAuthuserFromRedirectURL() throws {
        let redirect = entry(url: "https://accounts.google.com/o/oauth2/auth?client_id=x", status: 302,
                             extra: #", "redirectURL": "https://accounts.google.com/AccountChooser?authuser=2""#)
        let located = entry(url: "https://accounts.google.com/signin", status: 302,
                            headers: #"[{"name": "location", "value": "https://datastudio.google.com/u/3/reporting"}]"#)
        let analysis = try HARParser.parse(har([redirect, located]))
        XCTAssertTrue(analysis.failing.isEmpty)
        XCTAssertEqual(analysis.sessionFacts["url.authuser"], .list([.int(2), .int(3)]))
        XCTAssertEqual(analysis.sessionFacts["url.authuser.distinct"], .int(2))
        XCTAssertEqual(analysis.sessionFacts["redirect.count"], .int(2))
        XCTAssertEqual(analysis.sessionFacts["har.failing"], .int(0))
    }

    func testBrowserTooManyRedirectsIsALoop() throws {
        let broken = #"{"request": {"method": "GET", "url": "https://lookerstudio.google.com/reporting/abc"}, "response": {"status": 0, "headers": [], "content": {}}, "_error": "net::ERR_TOO_MANY_REDIRECTS"}"#
        let analysis = try HARParser.parse(har([broken]))
        XCTAssertEqual(analysis.failing.count, 1)
        let evidence = analysis.failing[0]
        XCTAssertTrue(evidence.responses.isEmpty)
        XCTAssertEqual(evidence.extraFacts["browser.error"], .string("net::ERR_TOO_MANY_REDIRECTS"))
        XCTAssertEqual(evidence.extraFacts["transport.error"], .string("too-many-redirects"))
        XCTAssertEqual(evidence.extraFacts["redirect.loop"], .bool(true))
        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["redirect.loop"], .bool(true))
        XCTAssertEqual(facts["url.host"], .string("lookerstudio.google.com"))
        XCTAssertEqual(facts["provider"], .list([.string("looker-studio"), .string("google")]))
        XCTAssertNil(facts["http.status"])
    }

    func testBrowserTransportErrors() {
        XCTAssertEqual(HARParser.browserTransportError("net::ERR_NAME_NOT_RESOLVED"), "dns")
        XCTAssertEqual(HARParser.browserTransportError("net::ERR_CONNECTION_REFUSED"), "refused")
        XCTAssertEqual(HARParser.browserTransportError("net::ERR_TIMED_OUT"), "timeout")
        XCTAssertEqual(HARParser.browserTransportError("net::ERR_CERT_DATE_INVALID"), "tls")
        XCTAssertEqual(HARParser.browserTransportError("net::ERR_CONNECTION_RESET"), "reset")
        XCTAssertEqual(HARParser.browserTransportError("net::ERR_PROXY_CONNECTION_FAILED"), "proxy")
        XCTAssertNil(HARParser.browserTransportError("net::ERR_ABORTED"))
    }

    func testRepeatedRedirectsAreALoop() throws {
        let hops = (0..<6).map { i in
            entry(url: "https://app.example.com/oauth/start?attempt=\(i)", status: 302,
                  headers: #"[{"name": "Location", "value": "https://idp.example.com/authorize"}]"#)
        }
        let analysis = try HARParser.parse(har(hops))
        XCTAssertEqual(analysis.sessionFacts["redirect.count"], .int(6))
        XCTAssertEqual(analysis.sessionFacts["redirect.loop"], .bool(true))
        XCTAssertEqual(analysis.sessionFacts["har.entries"], .int(6))

        // The same number of redirects to different places is a chain, not a loop.
        let chain = (0..<6).map { i in entry(url: "https://app\(i).example.com/step", status: 302) }
        let chainAnalysis = try HARParser.parse(har(chain))
        XCTAssertEqual(chainAnalysis.sessionFacts["redirect.count"], .int(6))
        XCTAssertEqual(chainAnalysis.sessionFacts["redirect.loop"], .bool(false))
    }

    func testOAuthErrorRedirectIsFailing() throws {
        let callback = entry(url: "https://app.example.com/callback?error=access_denied&error_description=The+user+denied+access", status: 302)
        let analysis = try HARParser.parse(har([callback]))
        XCTAssertEqual(analysis.failing.count, 1)
        let facts = extractor.facts(for: analysis.failing[0])
        XCTAssertEqual(facts["url.query.error"], .string("access_denied"))
        XCTAssertEqual(facts["url.query.error_description"], .string("The user denied access"))
        XCTAssertEqual(facts["http.status"], .int(302))
    }

    func testBase64Content() throws {
        let body = #"{"error": {"code": 401, "message": "Token expired"}}"#
        let encoded = Data(body.utf8).base64EncodedString()
        let e = entry(url: "https://api.example.com/v1", status: 401,
                      content: #"{"mimeType": "application/json", "encoding": "base64", "text": "\#(encoded)"}"#)
        let analysis = try HARParser.parse(har([e]))
        XCTAssertEqual(analysis.failing.first?.finalResponse?.body, body)
        let facts = extractor.facts(for: try XCTUnwrap(analysis.failing.first))
        XCTAssertEqual(facts["body.error.message"], .string("Token expired"))
    }

    func testEvidenceLoaderGivesSessionFactsWhenNothingFailed() throws {
        let ok = entry(url: "https://lookerstudio.google.com/u/1/reporting", status: 200)
        let evidences = try EvidenceLoader.load(har([ok]), format: .har, source: "ok.har", provider: "looker-studio")
        XCTAssertEqual(evidences.count, 1)
        XCTAssertEqual(evidences[0].kind, .har)
        XCTAssertEqual(evidences[0].provider, "looker-studio")
        XCTAssertEqual(evidences[0].extraFacts["url.authuser"], .list([.int(1)]))
        XCTAssertEqual(evidences[0].extraFacts["har.failing"], .int(0))
        XCTAssertEqual(evidences[0].extraFacts["har.last_url"], .string("https://lookerstudio.google.com/u/1/reporting"))
        let facts = FactExtractor().facts(for: evidences[0])
        XCTAssertEqual(facts["url.host"], .string("lookerstudio.google.com"))
        XCTAssertEqual(facts["input.kind"], .string("har"))
    }

    func testNotAHARWithoutLog() {
        guard let error = parseError(#"{"foo": 1}"#, source: "x.har") else { return }
        XCTAssertEqual(error.kind, .data)
        XCTAssertEqual(error.place, "x.har")
        XCTAssertTrue(error.message.contains("no top-level \"log\""), error.message)
    }

    func testInvalidJSONNamesLineAndColumn() {
        let text = "{\n  \"log\": {\n    \"entries\": [,]\n  }\n}"
        guard let error = parseError(text, source: "x.har") else { return }
        XCTAssertEqual(error.kind, .data)
        XCTAssertEqual(error.place, "x.har:3:17")
        XCTAssertTrue(error.message.contains("invalid JSON"), error.message)
        XCTAssertTrue(error.message.contains("unexpected character ','"), error.message)
    }

    func testEntriesNotAnArray() {
        guard let error = parseError(#"{"log": {"entries": {"a": 1}}}"#, source: "x.har") else { return }
        XCTAssertEqual(error.place, "x.har")
        XCTAssertTrue(error.message.contains("\"log.entries\" is missing or not an array"), error.message)

        guard let missing = parseError(#"{"log": {"version": "1.2"}}"#, source: "y.har") else { return }
        XCTAssertTrue(missing.message.contains("\"log.entries\""), missing.message)
    }

    func testEntryWithoutResponse() {
        let text = har([#"{"request": {"url": "https://a.example"}}"#, #"{"request": {"url": "https://b.example"}}"#])
        guard let error = parseError(text, source: "x.har") else { return }
        XCTAssertEqual(error.kind, .data)
        XCTAssertEqual(error.place, "x.har: log.entries[0]")
        XCTAssertTrue(error.message.contains("entry 0 has no request or response"), error.message)
    }

    // MARK: - Streaming

    func testEntriesReadOneAtATimeGiveWhatTheWholeTreeGives() throws {
        let failing = entry(url: "https://graph.facebook.com/v19.0/me?authuser=2", status: 400,
                            content: #"{"text": "{\"error\": {\"code\": 190, \"message\": \"a \\\"quoted\\\" [bracket] {brace}\"}}"}"#)
        let redirect = entry(url: "https://accounts.google.com/o/oauth2/auth", status: 302, extra: #", "redirectURL": "https://x.example/?authuser=1""#)
        // Members in another order, unknown members, whitespace: still streamed.
        let text = "  {\"other\": [1, {\"a\": \"]\"}], \"log\" : {\"entries\" : [" + [redirect, failing].joined(separator: " ,\n ") + "], \"pages\": []} }\n"
        let streamed = try HARParser.parse(text)
        let entries = try HARParser.entriesOfWholeTree(text, source: "t")
        var whole = HARParser.Accumulator(source: "t", provider: nil)
        for e in entries { try whole.add(e) }
        let expected = whole.finish()
        XCTAssertEqual(streamed.entryCount, 2)
        XCTAssertEqual(streamed.failing.count, 1)
        XCTAssertEqual(streamed.sessionFacts, expected.sessionFacts)
        XCTAssertEqual(streamed.failing.first?.finalResponse?.body, expected.failing.first?.finalResponse?.body)
        XCTAssertEqual(streamed.failing.first?.finalResponse?.body.contains("[bracket] {brace}"), true)
    }

    func testACutOffHARGetsTheJSONParsersPlace() throws {
        let whole = har([entry(url: "https://a.example/", status: 200), entry(url: "https://b.example/", status: 500)])
        let error = try XCTUnwrap(parseError(String(whole.dropLast(3))))
        XCTAssertTrue(error.message.contains("invalid JSON"), error.message)
        XCTAssertTrue(error.place?.hasPrefix("cap.har:") == true, String(describing: error.place))
    }
}
