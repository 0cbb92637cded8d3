import XCTest
@testable import EvidenceModel

final class RedactorTests: XCTestCase {
    private func assertRedacts(_ input: String, _ expected: String, secrets: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        let output = Redactor.redact(input)
        XCTAssertEqual(output, expected, file: file, line: line)
        for secret in secrets {
            XCTAssertFalse(output.contains(secret), "\(secret) survived in \(output)", file: file, line: line)
        }
    }

    private func assertKept(_ input: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Redactor.redact(input), input, file: file, line: line)
    }

    // MARK: - Headers

    /// A 60 KB run of name characters ("snowlfake.cwlfake.cwlfake…", fuzzer seed 1139717945) made the
    /// prefixed-name pattern backtrack from every word boundary: over a minute for one paste. The runs
    /// around a secret's name are bounded now; the secrets after such a run are still found.
    func testASecretAfterALongRunOfNameCharactersIsStillMasked() {
        let run = String(repeating: "cwlfake.", count: 7_500)
        let text = "snowl" + run + "\nPGPASSWORD=QxjVzqyL2p4U5YTj\nMY_SERVICE_ACCOUNT_PASSWORD: hunter2hunter2\nuser:s3cr3tpw@tcp(db:3306)/x"
        let redacted = Redactor.redact(text)
        for secret in ["QxjVzqyL2p4U5YTj", "hunter2hunter2", "s3cr3tpw"] {
            XCTAssertFalse(redacted.contains(secret), secret)
        }
        XCTAssertTrue(redacted.hasPrefix("snowlcwlfake.cwlfake."), "the run itself is kept")
        XCTAssertEqual(Set(Redactor.secrets(in: text)), ["QxjVzqyL2p4U5YTj", "hunter2hunter2", "s3cr3tpw"])
    }

    func testAuthorizationHeaderLine() {
        assertRedacts("GET /x HTTP/1.1\nAuthorization: Bearer ya29.FAKE-abc123\nAccept: */*",
                      "GET /x HTTP/1.1\nAuthorization: [REDACTED]\nAccept: */*", secrets: ["ya29", "FAKE-abc123"])
        assertRedacts("> authorization: Basic dXNlcjpwYXNzd29yZA==\r\n> Host: api.example.com",
                      "> authorization: [REDACTED]\r\n> Host: api.example.com", secrets: ["dXNlcjpwYXNzd29yZA"])
    }

    func testCookieHeaderLines() {
        assertRedacts("> Cookie: SID=FAKEsid123; HSID=FAKEhsid\n> Accept: text/html",
                      "> Cookie: [REDACTED]\n> Accept: text/html", secrets: ["FAKEsid123", "FAKEhsid"])
        assertRedacts("< set-cookie: session=FAKEsess9; Path=/; HttpOnly\n< content-length: 0",
                      "< set-cookie: [REDACTED]\n< content-length: 0", secrets: ["FAKEsess9", "HttpOnly"])
    }

    func testHeaderHelpers() {
        XCTAssertTrue(Redactor.isSecretHeader("Set-Cookie"))
        XCTAssertTrue(Redactor.isSecretHeader("X-API-Key"))
        XCTAssertFalse(Redactor.isSecretHeader("Content-Type"))
        XCTAssertEqual(Redactor.redactHeader(name: "Authorization", value: "Bearer whatever"), Redactor.mask)
        XCTAssertEqual(Redactor.redactHeader(name: "Location", value: "https://a.example/cb?code=FAKEcode123&x=1"),
                       "https://a.example/cb?code=[REDACTED]&x=1")
        XCTAssertEqual(Redactor.redactHeader(name: "Content-Type", value: "application/json"), "application/json")
    }

    // MARK: - Authorization schemes in free text

    func testBearerInText() {
        assertRedacts("the call failed with Bearer abcdef123456 yesterday",
                      "the call failed with Bearer [REDACTED] yesterday", secrets: ["abcdef123456"])
    }

    func testBasicCredentialInText() {
        assertRedacts("sent Basic dXNlcjpzZWNyZXQ= to the API", "sent Basic [REDACTED] to the API", secrets: ["dXNlcjpzZWNyZXQ"])
    }

    func testChallengeParametersAreNotCredentials() {
        assertKept(#"WWW-Authenticate: Bearer realm="example", error="invalid_token""#)
        assertKept("Basic authentication failed")
    }

    // MARK: - URL and form parameters

    func testOAuthCallbackURL() {
        assertRedacts("https://app.example.com/cb?code=4/0AbCdEfFAKE&state=xyz123FAKE&scope=email%20profile",
                      "https://app.example.com/cb?code=[REDACTED]&state=[REDACTED]&scope=email%20profile",
                      secrets: ["4/0AbCdEfFAKE", "xyz123FAKE"])
    }

    func testTokensInURLQuery() {
        assertRedacts("GET https://graph.facebook.com/debug_token?input_token=EAAFAKEinput1&access_token=123%7CFAKEappsecret",
                      "GET https://graph.facebook.com/debug_token?input_token=[REDACTED]&access_token=[REDACTED]",
                      secrets: ["EAAFAKEinput1", "FAKEappsecret"])
        assertRedacts("https://maps.example.com/api?api_key=FAKEkey42&units=metric",
                      "https://maps.example.com/api?api_key=[REDACTED]&units=metric", secrets: ["FAKEkey42"])
    }

    func testFormBody() {
        assertRedacts("grant_type=refresh_token&refresh_token=1//FAKE-refresh-value&client_id=1234.apps.example&client_secret=FAKE-client-secret",
                      "grant_type=refresh_token&refresh_token=[REDACTED]&client_id=1234.apps.example&client_secret=[REDACTED]",
                      secrets: ["FAKE-refresh-value", "FAKE-client-secret"])
        assertRedacts("username=ana&password=hunter2FAKE", "username=ana&password=[REDACTED]", secrets: ["hunter2FAKE"])
    }

    // MARK: - JSON

    func testJSONSecretMembers() {
        assertRedacts(#"{"access_token": "ya29.FAKE-json", "expires_in": 3599, "refresh_token": "1//FAKE-r", "client_secret": "FAKE-cs"}"#,
                      #"{"access_token": "[REDACTED]", "expires_in": 3599, "refresh_token": "[REDACTED]", "client_secret": "[REDACTED]"}"#,
                      secrets: ["FAKE-json", "FAKE-r", "FAKE-cs"])
    }

    func testJSONCamelCaseAndNumericSecrets() {
        assertRedacts(#"{"accessToken": "FAKE-camel-1", "password": 123456, "pin": 4321, "code": 190}"#,
                      #"{"accessToken": "[REDACTED]", "password": "[REDACTED]", "pin": "[REDACTED]", "code": 190}"#,
                      secrets: ["FAKE-camel-1", "123456", "4321"])
    }

    func testJSONCodeThatLooksLikeAnOAuthCodeIsMasked() {
        assertRedacts(#"{"code": "4/0AX4XfWhFAKEcodeValue", "scope": "email"}"#,
                      #"{"code": "[REDACTED]", "scope": "email"}"#, secrets: ["FAKEcodeValue"])
    }

    func testJSONErrorCodesAreKept() {
        assertKept(#"{"data": null, "code": "390100", "message": "Incorrect username or password was specified.", "success": false}"#)
        assertKept(#"{"error": {"code": "INVALID_ACCESS_TOKEN", "message": "Token is invalid"}}"#)
        assertKept(#"{"error": {"code": 190, "error_subcode": 463, "type": "OAuthException"}}"#)
        assertKept(#"{"state": "ENABLED"}"#)
        // API Gateway's and SP-API's error names are camelCase words, not authorization codes.
        assertKept(#"{"errors":[{"message":"Access to requested resource is denied.","code":"MissingAuthenticationToken"}]}"#)
        assertKept(#"{"code": "auth.expired_token"}"#)
        assertRedacts(#"{"code": "SplxlOBeZQQYbYS6WxSbIA"}"#, #"{"code": "[REDACTED]"}"#, secrets: ["SplxlOBeZQQYbYS6WxSbIA"])
    }

    func testEscapedJSONInsideJSON() {
        let input = #"{"body": "{\"access_token\":\"FAKE-nested-token\",\"ok\":true}"}"#
        let output = Redactor.redact(input)
        XCTAssertFalse(output.contains("FAKE-nested-token"), output)
        XCTAssertTrue(output.contains(#"\"ok\":true"#), output)
    }

    // MARK: - Token shapes in free text

    func testKnownTokenShapes() {
        assertRedacts("token ya29.a0AfFAKE_abc-123 was rejected", "token [REDACTED] was rejected", secrets: ["a0AfFAKE"])
        assertRedacts("refresh 1//0gFAKErefresh-xyz failed", "refresh [REDACTED] failed", secrets: ["0gFAKErefresh"])
        assertRedacts("EAAGm0PX4ZCpsBAFAKE is invalid", "[REDACTED] is invalid", secrets: ["EAAGm0PX4ZCpsBAFAKE"])
        assertRedacts("id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc_def-123 end", "id [REDACTED] end", secrets: ["eyJzdWIiOiIxMjMifQ"])
        assertRedacts("used pat-na1-1234abcd-FAKE-ef00 today", "used [REDACTED] today", secrets: ["1234abcd"])
        assertRedacts("maps key AIzaSyFAKEFAKEFAKEFAKEFAKE12345 leaked", "maps key [REDACTED] leaked", secrets: ["SyFAKEFAKE"])
    }

    func testCredentialsInsideURLs() {
        assertRedacts("psql postgres://analyst:s3cr3tFAKE@db.example.com:5432/prod failed",
                      "psql postgres://analyst:[REDACTED]@db.example.com:5432/prod failed", secrets: ["s3cr3tFAKE"])
        assertRedacts("jdbc:redshift://etl:pw42FAKE@cluster.example.us-east-1.redshift.amazonaws.com:5439/dev",
                      "jdbc:redshift://etl:[REDACTED]@cluster.example.us-east-1.redshift.amazonaws.com:5439/dev", secrets: ["pw42FAKE"])
    }

    func testPEMPrivateKey() {
        let pem = "service account key:\n-----BEGIN PRIVATE KEY-----\nNOT-A-REAL-KEY-BODY-TEST-ONLY\nFAKEFAKEFAKE\n-----END PRIVATE KEY-----\nend of file"
        assertRedacts(pem, "service account key:\n[REDACTED]\nend of file", secrets: ["NOT-A-REAL-KEY-BODY", "FAKEFAKEFAKE", "BEGIN"])
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nFAKE-RSA-BODY\n-----END RSA PRIVATE KEY-----"
        assertRedacts(rsa, "[REDACTED]", secrets: ["FAKE-RSA-BODY"])
    }

    func testYAMLStyleSecrets() {
        assertRedacts("password: hunter2FAKE\nuser: ana", "password: [REDACTED]\nuser: ana", secrets: ["hunter2FAKE"])
    }

    // MARK: - Non-secrets

    func testNonSecretsAreKept() {
        assertKept("Basic authentication failed")
        assertKept("Token has been expired or revoked.")
        assertKept("error_code=190&error_subcode=463")
        assertKept("Error validating access token: Session has expired on Friday.")
        assertKept("The OAuth client was not found.")
        assertKept("https://www.googleapis.com/auth/adwords")
        XCTAssertFalse(Redactor.needsRedaction("plain words only"))
        XCTAssertEqual(Redactor.redact(""), "")
    }

    func testFactValueRedaction() {
        XCTAssertEqual(Redactor.redact(FactValue.list([.string("Bearer abcdef123456"), .int(3)])),
                       .list([.string("Bearer [REDACTED]"), .int(3)]))
        XCTAssertEqual(Redactor.redact(FactValue.int(190)), .int(190))
    }

    // MARK: - Bounded display

    func testShortValuesAreOnlyRedacted() {
        XCTAssertEqual(Redactor.redactForDisplay("Bearer ya29.a0FAKEtoken1234567890abcdef"), Redactor.redact("Bearer ya29.a0FAKEtoken1234567890abcdef"))
    }

    func testALongValueIsCutWithANoteOfWhatWasLeftOut() {
        let text = String(repeating: "line of a pasted log\n", count: 50_000)
        let shown = Redactor.redactForDisplay(text)
        XCTAssertLessThan(shown.count, Redactor.displayLimit + 80)
        XCTAssertTrue(shown.hasPrefix("line of a pasted log"))
        XCTAssertTrue(shown.hasSuffix("more characters not shown]"), String(shown.suffix(60)))
    }

    func testASecretStraddlingTheCutIsNeverShownInPart() {
        // Every offset of the secret around the limit: no prefix of it may be shown unredacted.
        let secret = "ya29.a0AfB_FAKEsecretTOKENvalue0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"
        for shift in stride(from: -60, through: 60, by: 7) {
            let pad = String(repeating: "x ", count: (Redactor.displayLimit + shift) / 2)
            let text = pad + "token=" + secret + " " + String(repeating: "y ", count: 5_000)
            let shown = Redactor.redactForDisplay(text)
            XCTAssertFalse(shown.contains("ya29.a0AfB"), "shift \(shift)")
            XCTAssertFalse(shown.contains("FAKEsecret"), "shift \(shift)")
        }
    }
}
