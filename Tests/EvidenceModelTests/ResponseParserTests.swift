import XCTest
@testable import EvidenceModel

final class ResponseParserTests: XCTestCase {
    let extractor = FactExtractor(now: Date(timeIntervalSince1970: 1_700_000_000))

    private func parseError(_ raw: String, source: String = "resp.http",
                            file: StaticString = #filePath, line: UInt = #line) -> InputError? {
        do {
            let evidence = try ResponseParser.parse(raw, source: source)
            XCTFail("expected an InputError, parsed \(evidence)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testCurlIHTTP2LowerCaseHeaders() throws {
        let raw = """
        HTTP/2 401 
        date: Tue, 14 Nov 2023 22:13:20 GMT
        content-type: application/json; charset=UTF-8
        www-authenticate: Bearer realm="https://accounts.google.com/", error="invalid_token"
        vary: Origin
        vary: X-Origin
        
        {
          "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED"
          }
        }

        """
        let evidence = try ResponseParser.parse(raw, source: "g.http", provider: "google")
        XCTAssertEqual(evidence.kind, .response)
        XCTAssertEqual(evidence.provider, "google")
        XCTAssertEqual(evidence.responses.count, 1)
        let response = try XCTUnwrap(evidence.finalResponse)
        XCTAssertEqual(response.status, 401)
        XCTAssertEqual(response.httpVersion, "2")
        XCTAssertNil(response.reason)
        XCTAssertEqual(response.headers.count, 5)
        XCTAssertEqual(response.header("Content-Type"), "application/json; charset=UTF-8")
        XCTAssertEqual(response.header("VARY"), "Origin, X-Origin")
        XCTAssertTrue(response.body.hasPrefix("{\n  \"error\""))
        XCTAssertTrue(response.body.hasSuffix("}\n}"))
        XCTAssertNil(evidence.curlExit)

        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["http.status"], .int(401))
        XCTAssertEqual(facts["body.error.status"], .string("UNAUTHENTICATED"))
        XCTAssertEqual(facts["www-authenticate.error"], .string("invalid_token"))
        XCTAssertEqual(facts["input.kind"], .string("response"))
    }

    func testHTTP11WithReason() throws {
        let raw = "HTTP/1.1 403 Forbidden\nContent-Type: text/plain\nX-Request-Id: abc\n\nAccess denied\nsecond line\n"
        let evidence = try ResponseParser.parse(raw)
        let response = try XCTUnwrap(evidence.finalResponse)
        XCTAssertEqual(response.status, 403)
        XCTAssertEqual(response.reason, "Forbidden")
        XCTAssertEqual(response.httpVersion, "1.1")
        XCTAssertEqual(response.headers.map(\.name), ["Content-Type", "X-Request-Id"])
        XCTAssertEqual(response.headers.map(\.value), ["text/plain", "abc"])
        XCTAssertEqual(response.body, "Access denied\nsecond line")
    }

    func testByteOrderMarkIsIgnored() throws {
        let evidence = try ResponseParser.parse("\u{FEFF}HTTP/1.1 429 Too Many Requests\nRetry-After: 5\n\n")
        XCTAssertEqual(evidence.finalResponse?.status, 429)
        XCTAssertEqual(evidence.finalResponse?.reason, "Too Many Requests")
        XCTAssertEqual(evidence.finalResponse?.body, "")
    }

    func testRedirectChainCurlIL() throws {
        let raw = """
        HTTP/1.1 302 Found
        Location: https://accounts.example.com/login?next=1
        Content-Length: 0
        
        HTTP/1.1 302 Found
        Location: https://accounts.example.com/signin?authuser=1
        
        HTTP/1.1 401 Unauthorized
        Content-Type: application/json
        
        {"error": "invalid_token", "error_description": "The access token expired"}
        """
        let evidence = try ResponseParser.parse(raw)
        XCTAssertEqual(evidence.responses.map(\.status), [302, 302, 401])
        guard evidence.responses.count == 3 else { return }
        XCTAssertEqual(evidence.responses[0].body, "")
        XCTAssertEqual(evidence.responses[1].header("location"), "https://accounts.example.com/signin?authuser=1")
        XCTAssertEqual(evidence.finalResponse?.body, #"{"error": "invalid_token", "error_description": "The access token expired"}"#)

        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["http.status"], .int(401))
        XCTAssertEqual(facts["redirect.count"], .int(2))
        XCTAssertEqual(facts["redirect.loop"], .bool(false))
        XCTAssertEqual(facts["url.authuser"], .list([.int(1)]))
        XCTAssertEqual(facts["body.error"], .string("invalid_token"))
    }

    func testRedirectChainRepeatingALocationIsALoop() throws {
        var raw = ""
        for attempt in 0..<3 {
            raw += "HTTP/1.1 302 Found\nLocation: https://app.example.com/auth?try=\(attempt)\n\n"
        }
        raw += "HTTP/1.1 400 Bad Request\n\n"
        let evidence = try ResponseParser.parse(raw)
        XCTAssertEqual(evidence.responses.count, 4)
        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["redirect.count"], .int(3))
        XCTAssertEqual(facts["redirect.loop"], .bool(true))
        XCTAssertEqual(facts["http.status"], .int(400))
    }

    func testContinueBeforeRealResponse() throws {
        let raw = "HTTP/1.1 100 Continue\n\nHTTP/1.1 401 Unauthorized\nWWW-Authenticate: Basic realm=\"api\"\n\nbad credentials\n"
        let evidence = try ResponseParser.parse(raw)
        XCTAssertEqual(evidence.responses.map(\.status), [100, 401])
        XCTAssertEqual(evidence.finalResponse?.reason, "Unauthorized")
        XCTAssertEqual(evidence.finalResponse?.body, "bad credentials")
        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["http.status"], .int(401))
        XCTAssertEqual(facts["www-authenticate.scheme"], .string("basic"))
        XCTAssertEqual(facts["www-authenticate.realm"], .string("api"))
    }

    func testCurlVerboseOutput() throws {
        let raw = """
        *   Trying 142.250.74.10:443...
        * Connected to www.googleapis.com (142.250.74.10) port 443 (#0)
        * ALPN: offers h2,http/1.1
        } [5 bytes data]
        > GET /drive/v3/files?pageSize=1 HTTP/2
        > Host: www.googleapis.com
        > user-agent: curl/8.5.0
        > Authorization: Bearer ya29.FAKE-verbose-token
        > accept: */*
        >
        { [5 bytes data]
        < HTTP/2 401 
        < content-type: application/json; charset=UTF-8
        < www-authenticate: Bearer realm="https://accounts.google.com/", error="invalid_token"
        <
        {"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}
        * Connection #0 to host www.googleapis.com left intact
        """
        let evidence = try ResponseParser.parse(raw, source: "v.txt")
        XCTAssertEqual(evidence.kind, .response)
        XCTAssertEqual(evidence.responses.count, 1)
        XCTAssertEqual(evidence.finalResponse?.status, 401)
        XCTAssertEqual(evidence.finalResponse?.header("www-authenticate"), #"Bearer realm="https://accounts.google.com/", error="invalid_token""#)
        XCTAssertEqual(evidence.finalResponse?.body,
                       #"{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}"#)
        let request = try XCTUnwrap(evidence.request)
        XCTAssertEqual(request.method, "GET")
        XCTAssertEqual(request.url, "https://www.googleapis.com/drive/v3/files?pageSize=1")
        XCTAssertEqual(request.header("authorization"), "Bearer ya29.FAKE-verbose-token")
        XCTAssertEqual(request.headers.count, 4)
        XCTAssertEqual(evidence.url, "https://www.googleapis.com/drive/v3/files?pageSize=1")

        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["request.auth.scheme"], .string("bearer"))
        XCTAssertEqual(facts["token.present"], .bool(true))
        XCTAssertEqual(facts["token.format"], .string("google-access"))
        XCTAssertEqual(facts["url.host"], .string("www.googleapis.com"))
        XCTAssertEqual(facts["url.path"], .string("/drive/v3/files"))
        XCTAssertEqual(facts["message"], .string("Request had invalid authentication credentials."))
        XCTAssertEqual(facts["provider"], .list([.string("google")]))
    }

    func testCurlVerboseRedirectChain() throws {
        let raw = """
        > GET /start HTTP/1.1
        > Host: a.example.com
        >
        < HTTP/1.1 302 Found
        < Location: https://b.example.com/next
        <
        * Issue another request to this URL: 'https://b.example.com/next'
        > GET /next HTTP/1.1
        > Host: b.example.com
        > Authorization: Basic dXNlcjpwYXNzd29yZA==
        >
        < HTTP/1.1 401 Unauthorized
        < Content-Type: text/plain
        <
        denied
        """
        let evidence = try ResponseParser.parse(raw)
        XCTAssertEqual(evidence.responses.map(\.status), [302, 401])
        XCTAssertEqual(evidence.responses.first?.header("location"), "https://b.example.com/next")
        XCTAssertEqual(evidence.finalResponse?.body, "denied")
        XCTAssertEqual(evidence.request?.url, "https://b.example.com/next")
        XCTAssertEqual(evidence.request?.headers.map(\.name), ["Host", "Authorization"])
        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["redirect.count"], .int(1))
        XCTAssertEqual(facts["redirect.loop"], .bool(false))
        XCTAssertEqual(facts["request.auth.scheme"], .string("basic"))
        XCTAssertEqual(facts["url.host"], .string("b.example.com"))
    }

    func testVerboseWithTrailingCurlError() throws {
        let raw = """
        * Connected to api.example.com (127.0.0.1) port 443
        > GET /v1/me HTTP/1.1
        > Host: api.example.com
        >
        < HTTP/1.1 200 OK
        < Content-Type: text/plain
        <
        partial
        curl: (18) transfer closed with 100 bytes remaining to read
        """
        let evidence = try ResponseParser.parse(raw)
        XCTAssertEqual(evidence.finalResponse?.status, 200)
        XCTAssertEqual(evidence.finalResponse?.body, "partial")
        XCTAssertEqual(evidence.curlExit, 18)
        XCTAssertEqual(evidence.curlMessage, "transfer closed with 100 bytes remaining to read")
        XCTAssertEqual(evidence.request?.url, "https://api.example.com/v1/me")
    }

    func testTrailingCurlErrorLineAfterResponse() throws {
        let raw = "HTTP/1.1 200 OK\nContent-Type: text/plain\n\npartial body\ncurl: (56) Recv failure: Connection reset by peer\n\n"
        let evidence = try ResponseParser.parse(raw)
        XCTAssertEqual(evidence.kind, .response)
        XCTAssertEqual(evidence.curlExit, 56)
        XCTAssertEqual(evidence.curlMessage, "Recv failure: Connection reset by peer")
        XCTAssertEqual(evidence.finalResponse?.body, "partial body")
        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["curl.code"], .int(56))
        XCTAssertEqual(facts["curl.name"], .string("CURLE_RECV_ERROR"))
        XCTAssertEqual(facts["transport.error"], .string("reset"))
    }

    func testOnlyCurlErrorLine() throws {
        let evidence = try ResponseParser.parse("curl: (6) Could not resolve host: x.invalid\n", source: "dns.http", provider: "hubspot")
        XCTAssertEqual(evidence.kind, .curlExit)
        XCTAssertEqual(evidence.provider, "hubspot")
        XCTAssertEqual(evidence.curlExit, 6)
        XCTAssertEqual(evidence.curlMessage, "Could not resolve host: x.invalid")
        XCTAssertTrue(evidence.responses.isEmpty)
        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["input.kind"], .string("curl-exit"))
        XCTAssertEqual(facts["curl.code"], .int(6))
        XCTAssertEqual(facts["curl.name"], .string("CURLE_COULDNT_RESOLVE_HOST"))
        XCTAssertEqual(facts["transport.error"], .string("dns"))
        XCTAssertEqual(facts["message"], .string("Could not resolve host: x.invalid"))
        XCTAssertNil(facts["http.status"])
    }

    func testParseCurlErrorLine() {
        XCTAssertEqual(ResponseParser.parseCurlErrorLine("  curl: (28) Operation timed out after 5000 milliseconds  ")?.0, 28)
        XCTAssertEqual(ResponseParser.parseCurlErrorLine("curl: (28) Operation timed out")?.1, "Operation timed out")
        XCTAssertNil(ResponseParser.parseCurlErrorLine("curl: (xx) nope"))
        XCTAssertNil(ResponseParser.parseCurlErrorLine("error: (6) nope"))
    }

    func testFoldedHeaders() throws {
        let raw = "HTTP/1.1 401 Unauthorized\nWWW-Authenticate: Bearer realm=\"example\",\n  error=\"invalid_token\",\n\terror_description=\"expired\"\nX-Other: 1\n\n"
        let evidence = try ResponseParser.parse(raw)
        let response = try XCTUnwrap(evidence.finalResponse)
        XCTAssertEqual(response.headers.count, 2)
        XCTAssertEqual(response.header("www-authenticate"), #"Bearer realm="example", error="invalid_token", error_description="expired""#)
        let facts = extractor.facts(for: evidence)
        XCTAssertEqual(facts["www-authenticate.error"], .string("invalid_token"))
        XCTAssertEqual(facts["www-authenticate.error_description"], .string("expired"))
    }

    func testNoStatusLine() {
        guard let error = parseError("hello world\nthis is not curl output\n", source: "paste.http") else { return }
        XCTAssertEqual(error.kind, .data)
        XCTAssertEqual(error.place, "paste.http:1")
        XCTAssertTrue(error.message.contains("no HTTP status line"), error.message)
        XCTAssertEqual(error.exitCode, 65)
        XCTAssertTrue(error.description.hasPrefix("paste.http:1: "))
    }

    func testEmptyInputHasNoStatusLine() {
        guard let error = parseError("\n\n", source: "empty.http") else { return }
        XCTAssertEqual(error.kind, .data)
        XCTAssertEqual(error.place, "empty.http:1")
    }

    func testInvalidStatusNamesItsLine() {
        guard let error = parseError("some preamble\nHTTP/1.1 999 Weird\n\n", source: "bad.http") else { return }
        XCTAssertEqual(error.kind, .data)
        XCTAssertEqual(error.place, "bad.http:2")
        XCTAssertTrue(error.message.contains("invalid HTTP status line"), error.message)
        XCTAssertTrue(error.message.contains("HTTP/1.1 999 Weird"), error.message)
    }

    func testInvalidStatusInsideAChain() {
        let raw = "HTTP/1.1 302 Found\nLocation: /next\n\nHTTP/1.1 700 Nope\n\n"
        guard let error = parseError(raw, source: "chain.http") else { return }
        XCTAssertEqual(error.place, "chain.http:4")
        XCTAssertTrue(error.message.contains("700"), error.message)
    }

    func testHeaderLineWithoutColonNamesItsLineAndIsRedacted() {
        let raw = "HTTP/1.1 401 Unauthorized\nContent-Type: text/plain\nAuthorization Bearer ya29.FAKE-secret-in-a-bad-line\n\nbody\n"
        guard let error = parseError(raw, source: "hdr.http") else { return }
        XCTAssertEqual(error.kind, .data)
        XCTAssertEqual(error.place, "hdr.http:3")
        XCTAssertTrue(error.message.contains("header line without ':'"), error.message)
        XCTAssertTrue(error.message.contains("Authorization Bearer"), error.message)
        XCTAssertTrue(error.message.contains(Redactor.mask), error.message)
        XCTAssertFalse(error.description.contains("FAKE-secret"), error.description)
        XCTAssertFalse(error.description.contains("ya29."), error.description)
    }

    // MARK: - CRLF line endings (curl -i prints headers with CRLF; "\r\n" is one Swift Character)

    func testHTTP11WithCRLF() throws {
        let evidence = try ResponseParser.parse("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nAccess denied\r\n")
        XCTAssertEqual(evidence.finalResponse?.status, 403)
        XCTAssertEqual(evidence.finalResponse?.reason, "Forbidden")
        XCTAssertEqual(evidence.finalResponse?.headers.map(\.name), ["Content-Type"])
        XCTAssertEqual(evidence.finalResponse?.body, "Access denied")
    }

    func testCurlIHTTP2WithCRLF() throws {
        let raw = "HTTP/2 401 \r\ncontent-type: application/json; charset=UTF-8\r\nwww-authenticate: Bearer error=\"invalid_token\"\r\n\r\n{\"error\": {\"code\": 401, \"status\": \"UNAUTHENTICATED\"}}"
        let evidence = try ResponseParser.parse(raw, source: "g.http")
        XCTAssertEqual(evidence.finalResponse?.status, 401)
        let facts = FactExtractor().facts(for: evidence)
        XCTAssertEqual(facts["www-authenticate.error"], .string("invalid_token"))
        XCTAssertEqual(facts["body.error.status"], .string("UNAUTHENTICATED"))
    }

    func testChainsWithCRLF() throws {
        let cont = try ResponseParser.parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\n\r\nbad\r\n")
        XCTAssertEqual(cont.responses.map(\.status), [100, 401])
        let chain = try ResponseParser.parse("HTTP/1.1 302 Found\r\nLocation: https://a.example/x\r\n\r\nHTTP/1.1 401 Unauthorized\r\n\r\n")
        XCTAssertEqual(chain.responses.map(\.status), [302, 401])
    }

    func testCurlVerboseWithCRLF() throws {
        let raw = "> GET /v1/me HTTP/1.1\r\n> Host: api.example.com\r\n> Authorization: Bearer ya29.FAKE-v\r\n>\r\n< HTTP/1.1 401 Unauthorized\r\n< Content-Type: text/plain\r\n<\r\nnope\n"
        let evidence = try ResponseParser.parse(raw)
        XCTAssertEqual(evidence.finalResponse?.status, 401)
        XCTAssertEqual(evidence.request?.header("authorization"), "Bearer ya29.FAKE-v")
        XCTAssertEqual(evidence.request?.url, "https://api.example.com/v1/me")
    }
}
