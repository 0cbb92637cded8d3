import XCTest
@testable import EvidenceModel

/// Builds an unsigned JWT (`header.payload.signature`) for token-shape tests.
func makeJWT(_ payload: String, header: String = #"{"alg":"RS256","typ":"JWT"}"#) -> String {
    func b64url(_ s: String) -> String {
        Data(s.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
    return b64url(header) + "." + b64url(payload) + ".c2lnbmF0dXJl"
}

final class FactExtractorTests: XCTestCase {
    static let nowSeconds = 1_700_000_000
    let extractor = FactExtractor(now: Date(timeIntervalSince1970: TimeInterval(FactExtractorTests.nowSeconds)))

    private func facts(status: Int = 401, headers: [(name: String, value: String)] = [], body: String = "",
                       text: String? = nil, request: RequestSnapshot? = nil, url: String? = nil,
                       provider: String? = nil) -> Facts {
        let evidence = Evidence(kind: .record, provider: provider,
                                responses: [ResponseSnapshot(status: status, headers: headers, body: body)],
                                request: request, text: text, url: url)
        return extractor.facts(for: evidence)
    }

    private func textFacts(_ text: String, provider: String? = nil) -> Facts {
        extractor.facts(for: Evidence(kind: .text, provider: provider, text: text))
    }

    func testABodyCopiedWithoutItsBracesGivesItsMembers() {
        // LinkedIn v1's answer as a reporter pasted it (round6-b-050): the braces were lost.
        let f = facts(status: 401, body: "  \"errorCode\": 0,\n  \"message\": \"Unable to verify access token\",\n  \"status\": 401")
        XCTAssertEqual(f.string("body.format"), "invalid-json")
        XCTAssertEqual(f.string("body.message"), "Unable to verify access token")
        XCTAssertEqual(f.string("message"), "Unable to verify access token")
        // Prose with one quoted key stays text.
        XCTAssertEqual(facts(status: 500, body: "\"oops\": the server said no").string("body.format"), "text")
    }

    private func tokenFacts(_ authorization: String?, url: String? = nil) -> Facts {
        let headers: [(name: String, value: String)] = authorization.map { [("Authorization", $0)] } ?? []
        return facts(status: 401, request: RequestSnapshot(url: url, headers: headers))
    }

    // MARK: - Status, headers, content type

    func testStatusHeadersAndContentType() {
        let f = facts(status: 403, headers: [
            ("Content-Type", "Application/JSON; charset=UTF-8"), ("X-Custom", "a"), ("x-custom", "b"),
            ("Set-Cookie", "sid=FAKE-session; Path=/"), ("Set-Cookie", "other=FAKE2"),
            ("Authorization", "Bearer ya29.FAKE-echoed"), ("X-Goog-Api-Key", "AIzaFAKEFAKEFAKEFAKEFAKE00"),
        ], body: "{}")
        XCTAssertEqual(f["http.status"], .int(403))
        XCTAssertEqual(f["http.content_type"], .string("application/json"))
        XCTAssertEqual(f["http.header.content-type"], .string("Application/JSON; charset=UTF-8"))
        XCTAssertEqual(f["http.header.x-custom"], .string("a, b"))
        XCTAssertEqual(f["http.header.set-cookie"], .string("[REDACTED], [REDACTED]"))
        XCTAssertEqual(f["http.header.authorization"], .string("[REDACTED]"))
        XCTAssertEqual(f["http.header.x-goog-api-key"], .string("[REDACTED]"))
        XCTAssertNil(f["http.header.X-Custom"])
        XCTAssertEqual(f["input.kind"], .string("record"))
    }

    // MARK: - WWW-Authenticate

    func testWWWAuthenticateRFC6750() {
        let f = facts(headers: [("WWW-Authenticate",
            #"Bearer realm="example", error="insufficient_scope", error_description="The request requires higher privileges", scope="read:accounts write:accounts", error_uri="https://example.com/e""#)])
        XCTAssertEqual(f["www-authenticate.scheme"], .string("bearer"))
        XCTAssertEqual(f["www-authenticate.realm"], .string("example"))
        XCTAssertEqual(f["www-authenticate.error"], .string("insufficient_scope"))
        XCTAssertEqual(f["www-authenticate.error_description"], .string("The request requires higher privileges"))
        XCTAssertEqual(f["www-authenticate.error_uri"], .string("https://example.com/e"))
        XCTAssertEqual(f["www-authenticate.scope"], .list([.string("read:accounts"), .string("write:accounts")]))
        XCTAssertEqual(f["message"], .string("The request requires higher privileges"))
        XCTAssertEqual(f["body.format"], .string("empty"))
    }

    func testWWWAuthenticateUnquotedAndSecondChallenge() {
        let c = WWWAuthenticate.parse(#"Bearer error=invalid_token, realm="api", Basic realm="other""#)
        XCTAssertEqual(c?.scheme, "bearer")
        XCTAssertEqual(c?.parameters["error"], "invalid_token")
        XCTAssertEqual(c?.parameters["realm"], "api")
        XCTAssertNil(WWWAuthenticate.parse("   "))
        XCTAssertEqual(WWWAuthenticate.parse("Negotiate")?.scheme, "negotiate")
        XCTAssertEqual(WWWAuthenticate.parse("Negotiate")?.parameters, [:])
    }

    func testWWWAuthenticateFacebookPositional() {
        let f = facts(status: 400, headers: [("WWW-Authenticate",
            #"OAuth "Facebook Platform" "invalid_token" "Error validating access token: Session has expired on Friday""#)])
        XCTAssertEqual(f["www-authenticate.scheme"], .string("oauth"))
        XCTAssertEqual(f["www-authenticate.realm"], .string("Facebook Platform"))
        XCTAssertEqual(f["www-authenticate.error"], .string("invalid_token"))
        XCTAssertEqual(f["www-authenticate.error_description"], .string("Error validating access token: Session has expired on Friday"))
        XCTAssertEqual(f["provider"], .list([.string("facebook")]))
        XCTAssertEqual(f["provider.detected"], .bool(true))
    }

    // MARK: - Body flattening

    func testJSONBodyFlattening() {
        let body = """
        {"error": {"code": 403, "message": "Request had insufficient authentication scopes.", "status": "PERMISSION_DENIED",
          "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
             "domain": "googleapis.com", "metadata": {"service": "sheets.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.Help", "reason": "OTHER"}
          ],
          "empty": [], "ratio": 0.5, "flag": true, "nothing": null}}
        """
        let f = facts(status: 403, body: body)
        XCTAssertEqual(f["body.format"], .string("json"))
        XCTAssertEqual(f["body.error.code"], .int(403))
        XCTAssertEqual(f["body.error.status"], .string("PERMISSION_DENIED"))
        XCTAssertEqual(f["body.error.details[].reason"], .list([.string("ACCESS_TOKEN_SCOPE_INSUFFICIENT"), .string("OTHER")]))
        XCTAssertEqual(f["body.error.details[].@type"], .list([.string("type.googleapis.com/google.rpc.ErrorInfo"), .string("type.googleapis.com/google.rpc.Help")]))
        XCTAssertEqual(f["body.error.details[].metadata.service"], .list([.string("sheets.googleapis.com")]))
        XCTAssertEqual(f["body.error.details.count"], .int(2))
        XCTAssertEqual(f["body.error.empty[]"], .list([]))
        XCTAssertEqual(f["body.error.empty.count"], .int(0))
        XCTAssertEqual(f["body.error.ratio"], .double(0.5))
        XCTAssertEqual(f["body.error.flag"], .bool(true))
        XCTAssertEqual(f["body.error.nothing"], .null)
        XCTAssertEqual(f["message"], .string("Request had insufficient authentication scopes."))
    }

    func testTopLevelArrayBody() {
        let f = facts(status: 400, body: #"[{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]"#)
        XCTAssertEqual(f["body.format"], .string("json"))
        XCTAssertEqual(f["body[].errorCode"], .list([.string("INVALID_SESSION_ID")]))
        XCTAssertEqual(f["body.count"], .int(1))
    }

    func testSecretNamedJSONKeysAreMasked() {
        let body = #"{"access_token": "ya29.FAKE-in-body", "refresh_token": "1//FAKE-refresh", "id_token": "x", "client_secret": "FAKE-secret", "password": "hunter2", "token_type": "Bearer", "expires_in": 3599, "data": {"session_token": "FAKE-sess"}}"#
        let f = facts(status: 200, body: body)
        XCTAssertEqual(f["body.access_token"], .string(Redactor.mask))
        XCTAssertEqual(f["body.refresh_token"], .string(Redactor.mask))
        XCTAssertEqual(f["body.id_token"], .string(Redactor.mask))
        XCTAssertEqual(f["body.client_secret"], .string(Redactor.mask))
        XCTAssertEqual(f["body.password"], .string(Redactor.mask))
        XCTAssertEqual(f["body.data.session_token"], .string(Redactor.mask))
        XCTAssertEqual(f["body.token_type"], .string("Bearer"))
        XCTAssertEqual(f["body.expires_in"], .int(3599))
        XCTAssertFalse(f.values.values.contains { $0.description.contains("FAKE") || $0.description.contains("hunter2") })
    }

    func testCamelCaseAndNumericSecretsAreMasked() {
        let body = #"{"accessToken": "FAKE-camel", "clientSecret": "FAKE-cs", "refresh-token": "FAKE-dash", "password": 123456, "pin": 4321, "code": 190, "expires_in": 3600, "error": {"code": 463}}"#
        let f = facts(status: 400, body: body)
        XCTAssertEqual(f["body.accessToken"], .string(Redactor.mask))
        XCTAssertEqual(f["body.clientSecret"], .string(Redactor.mask))
        XCTAssertEqual(f["body.refresh-token"], .string(Redactor.mask))
        XCTAssertEqual(f["body.password"], .string(Redactor.mask))
        XCTAssertEqual(f["body.pin"], .string(Redactor.mask))
        XCTAssertEqual(f["body.code"], .int(190))
        XCTAssertEqual(f["body.expires_in"], .int(3600))
        XCTAssertEqual(f["body.error.code"], .int(463))
    }

    func testSnowflakeCodeIsNotMasked() {
        let body = #"{"data": {"nextAction": null}, "code": "390100", "message": "Incorrect username or password was specified.", "success": false}"#
        let f = facts(status: 200, body: body)
        XCTAssertEqual(f["body.code"], .string("390100"))
        XCTAssertEqual(f["body.success"], .bool(false))
        XCTAssertEqual(f["body.data.nextAction"], .null)
        XCTAssertEqual(f["message"], .string("Incorrect username or password was specified."))
        // An OAuth authorization code in a body is a secret, though.
        let oauth = facts(status: 200, body: #"{"code": "4/0AfJohXkFAKEcodeValue", "state": "xyzSTATEvalue123"}"#)
        XCTAssertEqual(oauth["body.code"], .string(Redactor.mask))
        XCTAssertEqual(oauth["body.state"], .string(Redactor.mask))
    }

    // MARK: - Body formats

    func testInvalidJSONBody() {
        let f = facts(status: 500, headers: [("Content-Type", "application/json")], body: "{\"error\":\n more")
        XCTAssertEqual(f["body.format"], .string("invalid-json"))
        XCTAssertEqual(f["message"], .string("{\"error\":"))
        let declared = facts(status: 502, headers: [("Content-Type", "application/json")], body: "upstream connect error")
        XCTAssertEqual(declared["body.format"], .string("invalid-json"))
        XCTAssertEqual(declared["message"], .string("upstream connect error"))
    }

    func testHTMLBody() {
        let body = """
        <!DOCTYPE html>
        <html lang=en><head><meta charset=utf-8><title>Error 400 (Bad Request)!!1</title>
        <style>body{margin:0}</style><script>var x = "<b>hidden</b>";</script></head>
        <body><p><b>400.</b> That&#39;s an error.</p><p>Your client has issued a malformed or illegal request. &amp; more</p></body></html>
        """
        let f = facts(status: 400, headers: [("Content-Type", "text/html; charset=UTF-8")], body: body)
        XCTAssertEqual(f["body.format"], .string("html"))
        XCTAssertEqual(f["http.content_type"], .string("text/html"))
        XCTAssertEqual(f["body.html.title"], .string("Error 400 (Bad Request)!!1"))
        XCTAssertEqual(f["body.html.text"], .string("400. That's an error. Your client has issued a malformed or illegal request. & more"))
        XCTAssertEqual(f["message"], .string("Error 400 (Bad Request)!!1"))
        // Recognised without a content type, too.
        XCTAssertEqual(facts(status: 500, body: "<html><body>Down</body></html>")["body.format"], .string("html"))
    }

    func testXMLBody() {
        let f = facts(status: 401, headers: [("Content-Type", "application/xml")],
                      body: #"<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"#)
        XCTAssertEqual(f["body.format"], .string("xml"))
        XCTAssertEqual(f["message"], .string("AccessDenied Access Denied"))
    }

    func testFormBody() {
        // The field values themselves are checked in FixedBugsTests (form fields are lost).
        let f = facts(status: 400, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                      body: "error=invalid_grant&error_description=Bad+Request%3A+code+expired&access_token=ya29.FAKE-form")
        XCTAssertEqual(f["body.format"], .string("form"))
        XCTAssertFalse(f.values.values.contains { $0.description.contains("FAKE-form") })
        // Without a content type, an `error=` body is still a form; a sentence with '=' is not.
        XCTAssertEqual(facts(status: 400, body: "error=access_denied")["body.format"], .string("form"))
        XCTAssertEqual(facts(status: 400, body: "x=1 is not a form")["body.format"], .string("text"))
    }

    func testTextAndEmptyBodies() {
        let f = facts(status: 401, headers: [("Content-Type", "text/plain")], body: "Unauthorized\nsee docs")
        XCTAssertEqual(f["body.format"], .string("text"))
        XCTAssertEqual(f["body.text"], .string("Unauthorized\nsee docs"))
        XCTAssertEqual(f["message"], .string("Unauthorized"))
        XCTAssertEqual(facts(status: 401, headers: [("Content-Type", "text/plain")], body: "Denied\r\nline two")["message"], .string("Denied"))
        let empty = facts(status: 401, body: "  \n ")
        XCTAssertEqual(empty["body.format"], .string("empty"))
        XCTAssertNil(empty["message"])
        XCTAssertNil(empty["text"])
    }

    // MARK: - Message selection

    func testMessageSelection() {
        XCTAssertEqual(facts(body: #"{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}"#)["message"],
                       .string("Request had invalid authentication credentials."))
        XCTAssertEqual(facts(status: 400, body: #"{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}"#)["message"],
                       .string("Token has been expired or revoked."))
        XCTAssertEqual(facts(status: 400, body: #"{"error": "invalid_client"}"#)["message"], .string("invalid_client"))
        XCTAssertEqual(facts(status: 400, body: #"{"error": {"message": "Error validating access token: Session has expired on Friday, 10-Nov-23.", "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "AbCdEf"}}"#)["message"],
                       .string("Error validating access token: Session has expired on Friday, 10-Nov-23."))
        XCTAssertEqual(facts(body: #"{"status": "error", "message": "Authentication credentials not found.", "correlationId": "c0ffee", "category": "INVALID_AUTHENTICATION"}"#)["message"],
                       .string("Authentication credentials not found."))
        XCTAssertEqual(facts(body: #"{"serviceErrorCode": 65600, "message": "Invalid access token", "status": 401}"#)["message"],
                       .string("Invalid access token"))
        XCTAssertEqual(facts(body: #"{"errors": [{"message": "first problem"}, {"message": "second"}]}"#)["message"], .string("first problem"))
        XCTAssertNil(facts(body: #"{"unrelated": 1}"#)["message"])
    }

    func testTextIsPastedTextThenMessage() {
        let f = facts(status: 401, body: #"{"error": {"message": "Invalid Credentials"}}"#, text: "Sync failed at 10:00")
        XCTAssertEqual(f["message"], .string("Invalid Credentials"))
        XCTAssertEqual(f["text"], .string("Sync failed at 10:00\nInvalid Credentials"))
        XCTAssertEqual(textFacts("just pasted")["text"], .string("just pasted"))
        XCTAssertEqual(textFacts("just pasted")["input.kind"], .string("text"))
        XCTAssertNil(textFacts("just pasted")["message"])
    }

    // MARK: - Retry-After

    func testRetryAfter() {
        XCTAssertEqual(facts(status: 429, headers: [("Retry-After", " 30 ")])["retry_after"], .int(30))
        let date = Date(timeIntervalSince1970: TimeInterval(Self.nowSeconds + 120))
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let httpDate = formatter.string(from: date)
        XCTAssertEqual(facts(status: 503, headers: [("Retry-After", httpDate)])["retry_after"], .int(120), httpDate)
        XCTAssertNil(facts(status: 429, headers: [("Retry-After", "soon")])["retry_after"])
    }

    // MARK: - URL facts

    func testURLFacts() {
        let f = facts(status: 400, url: "https://accounts.google.com/o/oauth2/auth?authuser=1&error=access_denied&error_description=The+user+denied%21")
        XCTAssertEqual(f["url"], .string("https://accounts.google.com/o/oauth2/auth?authuser=1&error=access_denied&error_description=The+user+denied%21"))
        XCTAssertEqual(f["url.host"], .string("accounts.google.com"))
        XCTAssertEqual(f["url.path"], .string("/o/oauth2/auth"))
        XCTAssertEqual(f["url.authuser"], .list([.int(1)]))
        XCTAssertEqual(f["url.authuser.distinct"], .int(1))
        XCTAssertEqual(f["url.query.error"], .string("access_denied"))
        XCTAssertEqual(f["url.query.error_description"], .string("The user denied!"))
    }

    func testAuthuserFromQueryAndPath() {
        let f = facts(status: 400, url: "https://lookerstudio.google.com/u/1/reporting/abc?authuser=0")
        XCTAssertEqual(f["url.authuser"], .list([.int(0), .int(1)]))
        XCTAssertEqual(f["url.authuser.distinct"], .int(2))
        XCTAssertEqual(f["url.path"], .string("/u/1/reporting/abc"))
    }

    func testURLHelpers() {
        XCTAssertEqual(URLFacts.host(of: "postgres://u:p@DB.Example.com:5432/x"), "db.example.com")
        XCTAssertEqual(URLFacts.host(of: "https://[::1]:8443/a"), "::1")
        XCTAssertNil(URLFacts.host(of: "not a url"))
        XCTAssertEqual(URLFacts.path(of: "https://example.com"), "/")
        XCTAssertEqual(URLFacts.path(of: "/relative/p?q=1"), "/relative/p")
        XCTAssertEqual(URLFacts.withoutQuery("https://a.example/p?x=1#f"), "https://a.example/p")
        XCTAssertEqual(URLFacts.queryValue("state", in: "https://a.example/cb#state=abc&code=1"), "abc")
        XCTAssertEqual(URLFacts.googleAccountIndexes(in: "https://mail.google.com/mail/u/2/?authuser=3&authuser=x"), [3, 2])
    }

    func testURLsInPastedText() {
        let f = textFacts("Got redirected to https://app.example.com/cb?error=access_denied&error_description=denied and then https://lookerstudio.google.com/u/2/reporting")
        XCTAssertEqual(f["url.query.error"], .string("access_denied"))
        XCTAssertEqual(f["url.host"], .string("app.example.com"))
        XCTAssertEqual(f["url.authuser"], .list([.int(2)]))
    }

    // MARK: - Request and token shape

    func testRequestAuthSchemeAndTokenFormats() {
        let cases: [(String, String)] = [
            ("Bearer ya29.FAKE-access", "google-access"),
            ("Bearer 1//0gFAKE-refresh", "google-refresh"),
            ("OAuth EAAFAKEtoken123", "facebook"),
            ("Bearer pat-na1-00000000-FAKE-0000", "hubspot-private-app"),
            ("Bearer some-opaque-value", "opaque"),
            ("Bearer \"ya29.FAKE-quoted\"", "malformed"),
            ("Bearer eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24.sig", "malformed"),
            ("token abc123", "opaque"),
        ]
        for (header, format) in cases {
            let f = tokenFacts(header)
            XCTAssertEqual(f["request.auth.scheme"], .string(String(header.split(separator: " ")[0]).lowercased()), header)
            XCTAssertEqual(f["token.present"], .bool(true), header)
            XCTAssertEqual(f["token.format"], .string(format), header)
        }
    }

    func testNoTokenBasicAndQueryToken() {
        let none = tokenFacts(nil)
        XCTAssertEqual(none["request.auth.scheme"], .string("none"))
        XCTAssertEqual(none["token.present"], .bool(false))
        XCTAssertNil(none["token.format"])

        let empty = tokenFacts("Bearer")
        XCTAssertEqual(empty["request.auth.scheme"], .string("bearer"))
        XCTAssertEqual(empty["token.present"], .bool(false))
        XCTAssertEqual(empty["token.format"], .string("malformed"))

        let basic = tokenFacts("Basic dXNlcjpwYXNz")
        XCTAssertEqual(basic["request.auth.scheme"], .string("basic"))
        XCTAssertEqual(basic["token.present"], .bool(true))
        XCTAssertNil(basic["token.format"])

        let query = tokenFacts(nil, url: "https://graph.facebook.com/me?access_token=EAAFAKEquery1")
        XCTAssertEqual(query["request.auth.scheme"], .string("query"))
        XCTAssertEqual(query["token.present"], .bool(true))
        XCTAssertEqual(query["token.format"], .string("facebook"))
    }

    func testExpiredJWTWithScopes() {
        let token = makeJWT(#"{"iss": "https://issuer.example", "aud": "client-1", "email": "ana@example.com", "iat": \#(Self.nowSeconds - 7200), "exp": \#(Self.nowSeconds - 3600), "scope": "read:ads write:ads"}"#)
        let f = tokenFacts("Bearer " + token)
        XCTAssertEqual(f["token.format"], .string("jwt"))
        XCTAssertEqual(f["token.expired"], .bool(true))
        XCTAssertEqual(f["token.expires_at"], .int(Self.nowSeconds - 3600))
        XCTAssertEqual(f["token.issued_at"], .int(Self.nowSeconds - 7200))
        XCTAssertEqual(f["token.scopes"], .list([.string("read:ads"), .string("write:ads")]))
        XCTAssertEqual(f["token.email"], .string("ana@example.com"))
        XCTAssertEqual(f["token.issuer"], .string("https://issuer.example"))
        XCTAssertEqual(f["token.audience"], .string("client-1"))
        XCTAssertEqual(f["scopes.granted"], .list([.string("read:ads"), .string("write:ads")]))
    }

    func testFutureJWTIsNotExpired() {
        let token = makeJWT(#"{"exp": \#(Self.nowSeconds + 3600), "scp": ["a", "b"], "aud": ["x", "y"]}"#)
        let f = tokenFacts("Bearer " + token)
        XCTAssertEqual(f["token.format"], .string("jwt"))
        XCTAssertEqual(f["token.expired"], .bool(false))
        XCTAssertEqual(f["token.scopes"], .list([.string("a"), .string("b")]))
        XCTAssertEqual(f["token.audience"], .list([.string("x"), .string("y")]))
    }

    func testTokenShapeDirectly() {
        XCTAssertEqual(TokenShape.format(of: ""), "malformed")
        XCTAssertEqual(TokenShape.format(of: "ya29 with space"), "malformed")
        XCTAssertEqual(TokenShape.format(of: "{json}"), "malformed")
        XCTAssertEqual(TokenShape.format(of: "sbx-FAKE"), "sandbox")
        XCTAssertNil(TokenShape.jwtClaims("a.b.c"))
        // A JWT whose header has no "alg" is not a JWT.
        XCTAssertNil(TokenShape.jwtClaims(makeJWT(#"{"exp": 1}"#, header: #"{"typ":"JWT"}"#)))
        XCTAssertEqual(TokenShape.facts(for: nil)["token.present"], .bool(false))
        XCTAssertEqual(TokenShape.scopeList(.string("a,b c")), ["a", "b", "c"])
    }

    // MARK: - Scopes

    func testScopesRequiredGrantedMissing() {
        let token = makeJWT(#"{"exp": \#(Self.nowSeconds + 60), "scope": "https://www.googleapis.com/auth/userinfo.email"}"#)
        let f = facts(status: 403, headers: [("WWW-Authenticate",
            #"Bearer error="insufficient_scope", scope="https://www.googleapis.com/auth/adwords https://www.googleapis.com/auth/userinfo.email""#)],
            request: RequestSnapshot(headers: [("Authorization", "Bearer " + token)]))
        XCTAssertEqual(f["scopes.required"], .list([.string("https://www.googleapis.com/auth/adwords"), .string("https://www.googleapis.com/auth/userinfo.email")]))
        XCTAssertEqual(f["scopes.granted"], .list([.string("https://www.googleapis.com/auth/userinfo.email")]))
        XCTAssertEqual(f["scopes.missing"], .list([.string("https://www.googleapis.com/auth/adwords")]))
    }

    func testScopesMissingWithoutGrantIsRequired() {
        let f = facts(status: 403, headers: [("WWW-Authenticate", #"Bearer error="insufficient_scope", scope="a b""#)])
        XCTAssertEqual(f["scopes.required"], .list([.string("a"), .string("b")]))
        XCTAssertNil(f["scopes.granted"])
        XCTAssertEqual(f["scopes.missing"], .list([.string("a"), .string("b")]))
    }

    func testScopesAllGrantedLeavesNothingMissing() {
        let token = makeJWT(#"{"scope": "a b"}"#)
        let f = facts(status: 403, headers: [("WWW-Authenticate", #"Bearer error="insufficient_scope", scope="b""#)],
                      request: RequestSnapshot(headers: [("Authorization", "Bearer " + token)]))
        XCTAssertEqual(f["scopes.required"], .list([.string("b")]))
        XCTAssertNil(f["scopes.missing"])
    }

    func testRequiredScopesFromBody() {
        let f = facts(status: 403, body: #"{"status": "error", "message": "This app hasn't been granted all required scopes", "errors": [{"context": {"requiredGranularScopes": ["crm.objects.contacts.read"]}}], "correlationId": "x", "category": "MISSING_SCOPES"}"#)
        XCTAssertEqual(f["scopes.required"], .list([.string("crm.objects.contacts.read")]))
        XCTAssertEqual(f["scopes.missing"], .list([.string("crm.objects.contacts.read")]))
        XCTAssertEqual(f["provider"], .list([.string("hubspot")]))
    }

    // MARK: - SQLSTATE

    func testSQLStateImpliedByServerMessages() {
        XCTAssertEqual(textFacts(#"psql: error: connection to server at "db.example.com" (10.0.0.5), port 5432 failed: FATAL:  password authentication failed for user "etl""#)["sqlstate"], .string("28P01"))
        XCTAssertEqual(textFacts(#"FATAL:  no pg_hba.conf entry for host "203.0.113.7", user "etl", database "prod", SSL off"#)["sqlstate"], .string("28000"))
        XCTAssertEqual(textFacts(#"FATAL:  database "analytics" does not exist"#)["sqlstate"], .string("3D000"))
        XCTAssertEqual(textFacts(#"FATAL:  role "etl" does not exist"#)["sqlstate"], .string("28000"))
        XCTAssertEqual(textFacts("ERROR:  permission denied for table orders")["sqlstate"], .string("42501"))
        XCTAssertEqual(textFacts("FATAL:  remaining connection slots are reserved for non-replication superuser connections")["sqlstate"], .string("53300"))
        XCTAssertEqual(textFacts(#"FATAL:  too many connections for role "etl""#)["sqlstate"], .string("53300"))
        XCTAssertNil(textFacts("everything is fine")["sqlstate"])
    }

    func testSQLStateExplicitCodes() {
        XCTAssertEqual(textFacts("ERROR: 42501: permission denied for schema sales")["sqlstate"], .string("42501"))
        XCTAssertEqual(textFacts("SQLSTATE[28P01] [7] FATAL: authentication failed")["sqlstate"], .string("28P01"))
        XCTAssertEqual(textFacts("driver error (SQLSTATE 3D000)")["sqlstate"], .string("3D000"))
        // A record's sqlstate wins over the text and is upper-cased.
        let record = extractor.facts(for: Evidence(kind: .record, text: "password authentication failed", sqlstate: "28p01"))
        XCTAssertEqual(record["sqlstate"], .string("28P01"))
        let override = extractor.facts(for: Evidence(kind: .record, text: "permission denied for table x", sqlstate: "53300"))
        XCTAssertEqual(override["sqlstate"], .string("53300"))
    }

    func testSQLStateFromResponseMessage() {
        let f = facts(status: 500, body: #"{"message": "FATAL: password authentication failed for user \"x\""}"#)
        XCTAssertEqual(f["sqlstate"], .string("28P01"))
    }

    // MARK: - Transport

    func testTransportErrorFromCurlCodes() {
        let expectations: [(Int, String)] = [(6, "dns"), (7, "refused"), (28, "timeout"), (60, "tls"), (35, "tls"), (52, "reset"), (5, "proxy"), (47, "too-many-redirects"), (3, "other")]
        for (code, kind) in expectations {
            let f = extractor.facts(for: Evidence(kind: .curlExit, curlExit: code))
            XCTAssertEqual(f["curl.code"], .int(code))
            XCTAssertEqual(f["transport.error"], .string(kind), "curl exit \(code)")
            XCTAssertEqual(f["curl.name"], .string(CurlCodes.name(code)))
        }
        XCTAssertEqual(extractor.facts(for: Evidence(kind: .curlExit, curlExit: 47))["redirect.loop"], .bool(true))
        XCTAssertNil(extractor.facts(for: Evidence(kind: .curlExit, curlExit: 0))["transport.error"])
    }

    func testTransportErrorFromPhrases() {
        XCTAssertEqual(textFacts(#"could not translate host name "db.example.invalid" to address: Name or service not known"#)["transport.error"], .string("dns"))
        XCTAssertEqual(textFacts("connect ECONNREFUSED 127.0.0.1:5432")["transport.error"], .string("refused"))
        XCTAssertEqual(textFacts("Connection timed out after 30001 milliseconds")["transport.error"], .string("timeout"))
        XCTAssertEqual(textFacts("SSL certificate problem: unable to get local issuer certificate")["transport.error"], .string("tls"))
        XCTAssertEqual(textFacts("server closed the connection unexpectedly")["transport.error"], .string("reset"))
        XCTAssertEqual(textFacts("lookerstudio.google.com redirected you too many times.")["transport.error"], .string("too-many-redirects"))
        XCTAssertNil(textFacts("invalid password")["transport.error"])
    }

    func testCurlCodeFromPastedText() {
        let f = textFacts("$ curl https://api.example.com\ncurl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to api.example.com:443")
        XCTAssertEqual(f["curl.code"], .int(35))
        XCTAssertEqual(f["curl.name"], .string("CURLE_SSL_CONNECT_ERROR"))
        XCTAssertEqual(f["transport.error"], .string("tls"))
    }

    // MARK: - Limits

    func testBodyFactBudgetAndDepth() {
        var extractor = FactExtractor(now: Date())
        extractor.maxBodyFacts = 3
        let f = extractor.facts(for: Evidence(kind: .record, responses: [ResponseSnapshot(status: 400, body: #"{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}"#)]))
        XCTAssertEqual(["body.a", "body.b", "body.c"].compactMap { f[$0] }, [.int(1), .int(2), .int(3)])
        XCTAssertNil(f["body.d"])

        extractor.maxBodyFacts = 400
        extractor.maxDepth = 2
        let deep = extractor.facts(for: Evidence(kind: .record, responses: [ResponseSnapshot(status: 400, body: #"{"a": {"b": {"c": {"d": 1}}, "x": 2}}"#)]))
        XCTAssertEqual(deep["body.a.x"], .int(2))
        XCTAssertNil(deep["body.a.b.c.d"])
    }
}
