import XCTest
@testable import EvidenceModel

/// Pasted text gives the facts a response would: every shape issue 13 names (JSON inside a log line,
/// cut-off JSON, reprs and dumps of five languages, codes and statuses in prose, exception classes,
/// URLs), and nothing from prose that only looks like it.
final class TextEvidenceTests: XCTestCase {
    let extractor = FactExtractor(now: Date(timeIntervalSince1970: 1_700_000_000))

    func facts(_ text: String, provider: String? = nil) -> Facts {
        extractor.facts(for: Evidence(kind: .text, provider: provider, text: text))
    }

    // MARK: - Objects inside text

    func testJSONInsideALogLine() {
        let f = facts(#"Error: Couldn't get access token: {"error": "unauthorized_client", "error_description": "Unauthorized"}"#)
        XCTAssertEqual(f.string("body.error"), "unauthorized_client")
        XCTAssertEqual(f.string("body.error_description"), "Unauthorized")
        XCTAssertEqual(f.string("oauth.error"), "unauthorized_client")
    }

    /// Go's google-api-go-client prints `googleapi: Error NNN: <message>, <reason>` (round-8 reports):
    /// the status, the message and Google's reason, and the provider.
    func testGoGoogleAPIError() {
        let f = facts("main.go:42: googleapi: Error 403: Request had insufficient authentication scopes., insufficientPermissions\nexit status 1")
        XCTAssertEqual(f.int("http.status"), 403)
        XCTAssertEqual(f.string("message"), "Request had insufficient authentication scopes.")
        XCTAssertEqual(f["body.error.errors[].reason"]?.elements.first?.stringValue, "insufficientPermissions")
        XCTAssertEqual(f["provider"]?.elements.first?.stringValue, "google")
        let bare = facts("googleapi: Error 404: Requested entity was not found.")
        XCTAssertEqual(bare.int("http.status"), 404)
        XCTAssertNil(bare["body.error.errors[].reason"])
        XCTAssertNil(facts("the googleapi package returned an Error of its own")["http.status"])
    }

    /// Google's localized error pages put a fullwidth colon before the code.
    func testOAuthCodeAfterAFullwidthColon() {
        XCTAssertEqual(facts("錯誤 401：invalid_client").string("oauth.error"), "invalid_client")
        XCTAssertEqual(facts("エラー 400: unauthorized_client").string("oauth.error"), "unauthorized_client")
        XCTAssertNil(facts("the invalid_grant_type setting").string("oauth.error"))
    }

    /// WeChat-style APIs answer {"errcode": N, "errmsg": "…"}: read as the code and message they are.
    func testErrcodeAndErrmsg() {
        let f = facts(#"{"errcode":42001,"errmsg":"access_token expired rid: 6a1b"}"#)
        XCTAssertEqual(f.int("body.code"), 42001)
        XCTAssertEqual(f.string("message"), "access_token expired rid: 6a1b")
    }

    /// Resolver and TLS failures in Go's and Java's words are transport errors.
    func testGoAndJavaTransportWords() {
        XCTAssertEqual(facts("dial tcp: lookup db.internal on 10.0.0.2:53: server misbehaving").string("transport.error"), "dns")
        XCTAssertEqual(facts("java.net.UnknownHostException: acme.snowflakecomputing.com").string("transport.error"), "dns")
        XCTAssertEqual(facts("javax.net.ssl.SSLHandshakeException: PKIX path building failed").string("transport.error"), "tls")
    }

    func testCutOffJSONKeepsWhatCame() {
        let f = facts(#"resulted in a `400 Bad Request` response: {"error":"invalid_request","error_description":"Unable to retrieve access token: appid/redirect uri/code verifier does n (truncated...)"#)
        XCTAssertEqual(f.string("body.error"), "invalid_request")
        XCTAssertEqual(f.int("http.status"), 400)
        XCTAssertTrue(f.string("body.error_description")?.hasPrefix("Unable to retrieve access token") == true)
    }

    func testPythonReprOfTheInnerFacebookError() {
        let f = facts(#"FacebookRequestError: {'message': '(#100) Missing permissions', 'type': 'OAuthException', 'code': 100, 'is_transient': False, 'fbtrace_id': 'AbCdEf'}"#)
        XCTAssertEqual(f.int("body.error.code"), 100)
        XCTAssertEqual(f.string("body.error.type"), "OAuthException")
        XCTAssertEqual(f["body.error.is_transient"], .bool(false))
        XCTAssertEqual(f.string("provider"), "facebook")
    }

    func testPython2ReprWithUnicodePrefixes() {
        // Slack's Python 2 client (round6-b-023): keys and values carry `u'…'`.
        let f = facts(#"{u'needed': u'admin', u'provided': u'identify,read,post', u'ok': False, u'error': u'missing_scope'}"#)
        XCTAssertEqual(f.string("body.error"), "missing_scope")
        XCTAssertEqual(f["body.ok"], .bool(false))
        XCTAssertEqual(f.string("body.needed"), "admin")
    }

    func testBodyCopiedWithoutItsBraces() {
        let f = facts("  \"errorCode\": 0,\n  \"message\": \"Unable to verify access token\",\n  \"status\": 401")
        XCTAssertEqual(f.string("body.message"), "Unable to verify access token")
        XCTAssertEqual(f.int("http.status"), 401)
        // One quoted key is not a body.
        XCTAssertNil(facts(#""message": "hello" and then prose"#)["body.message"])
    }

    func testRubyHash() {
        let f = facts(#"OAuth2::Error: {"error"=>"invalid_grant", "error_description"=>"Token has been expired or revoked."}"#)
        XCTAssertEqual(f.string("body.error"), "invalid_grant")
        XCTAssertEqual(f.string("body.error_description"), "Token has been expired or revoked.")
    }

    func testNodeInspectWithUnquotedKeys() {
        let f = facts("{ message: 'Error validating access token: Session has expired', type: 'OAuthException', code: 190, error_subcode: 463, fbtrace_id: 'A1' }")
        XCTAssertEqual(f.int("body.error.code"), 190)
        XCTAssertEqual(f.int("body.error.error_subcode"), 463)
    }

    func testJavaToStringWithSDKFieldNames() {
        let f = facts("GraphResponse: {HttpStatus: 400, errorCode: 190, subErrorCode: 460, errorType: OAuthException, errorMessage: Error validating access token: The session has been invalidated because the user changed their password.}")
        XCTAssertEqual(f.int("body.error.code"), 190)
        XCTAssertEqual(f.int("body.error.error_subcode"), 460)
        XCTAssertEqual(f.string("body.error.type"), "OAuthException")
        XCTAssertEqual(f.int("http.status"), 400)
        // The message keeps its own "token:" (a space after the colon is prose, not a new key).
        XCTAssertTrue(f.string("body.error.message")?.hasSuffix("changed their password.") == true, f.string("body.error.message") ?? "nil")
    }

    func testANumericErrorMemberIsAnHTTPStatusOnlyWhenItIsOne() {
        // Reddit's documented shape, as a Rust client logged it (round21-p-042).
        let reddit = facts(#"2025-03-11T01:47:11.084524Z ERROR  {"error":401,"message":"Unauthorized"}"#)
        XCTAssertEqual(reddit.int("http.status"), 401)
        // A vendor's own error number is not a status.
        let vendor = facts(#"sync failed: {"error":1001,"message":"Invalid session"}"#)
        XCTAssertNil(vendor.int("http.status"))
    }

    func testGoPlusV() {
        let f = facts("graph error: &{Code:190 Message:Invalid OAuth access token. Type:OAuthException}")
        XCTAssertEqual(f.int("body.error.code"), 190)
        XCTAssertEqual(f.string("body.error.message"), "Invalid OAuth access token.")
    }

    func testKotlinDataClassAndRubyParentheses() {
        let f = facts("Koala::Facebook::ClientError: (type: OAuthException, code: 5, message: (#5) Unauthorized source IP address) [HTTP 400]")
        XCTAssertEqual(f.int("body.error.code"), 5)
        XCTAssertEqual(f.string("body.error.message"), "(#5) Unauthorized source IP address")
        XCTAssertEqual(f.int("http.status"), 400)
    }

    func testProtobufTextFormatOfAGoogleAdsFailure() {
        let text = """
        google.ads.googleads.errors.GoogleAdsException: (<_InactiveRpcError of RPC that terminated with:
        \tstatus = StatusCode.PERMISSION_DENIED
        >, errors {
          error_code {
            authorization_error: USER_PERMISSION_DENIED
          }
          message: "User doesn't have permission to access customer."
        }
        request_id: "abc"
        )
        """
        let f = facts(text)
        XCTAssertEqual(f.string("body.error_code.authorization_error"), "USER_PERMISSION_DENIED", "\(f.names)")
        XCTAssertEqual(f.string("grpc.status"), "PERMISSION_DENIED")
        XCTAssertEqual(f.string("provider"), "google-ads, google")
        XCTAssertTrue(f["exception"]?.elements.contains(.string("GoogleAdsException")) == true)
    }

    func testEscapedJSONInsideAString() {
        let f = facts(#"{"level":"ERROR","msg":"token refresh failed","body":"{\"error\":\"invalid_grant\",\"error_description\":\"Bad Request\"}"}"#)
        XCTAssertEqual(f.string("body.error"), "invalid_grant")
        XCTAssertEqual(f.string("body.error_description"), "Bad Request")
    }

    func testTheMostErrorLikeObjectWins() {
        // Node's dump of an Axios error: config first, the provider's answer under response.data.
        let text = "{ config: { url: 'https://oauth2.googleapis.com/token', method: 'post' }, response: { status: 400, data: { error: 'invalid_grant', error_description: 'Bad Request' } } }"
        let f = facts(text)
        XCTAssertEqual(f.string("body.error"), "invalid_grant")
        XCTAssertEqual(f.int("http.status"), 400)
        XCTAssertEqual(f.string("url.endpoint"), "token")
    }

    func testPostgresErrorResponseAsADict() {
        let f = facts("redshift_connector.error.ProgrammingError: {'S': 'ERROR', 'C': '42501', 'M': 'permission denied for schema dw', 'F': 'aclchk.c'}")
        XCTAssertEqual(f.string("sqlstate"), "42501")
        XCTAssertEqual(f.string("message"), "permission denied for schema dw")
    }

    func testNodePostgresErrorDumpAndScalaFieldMaps() {
        let node = facts("error: password authentication failed for user \"app\" { length: 104, severity: 'FATAL', code: '28P01', file: 'auth.c', routine: 'auth_failed' }")
        XCTAssertEqual(node.string("sqlstate"), "28P01")
        let scala = facts("ErrorMessage(fields=Map(Severity -> FATAL, SQLSTATE -> 28000, Message -> no pg_hba.conf entry))")
        XCTAssertEqual(scala.string("sqlstate"), "28000")
        // A code that is no SQLSTATE stays out.
        XCTAssertNil(facts("{ severity: 'ERROR', code: 'EAUTH', routine: 'x' }").string("sqlstate"))
    }

    // MARK: - Prose

    func testStatusesInProse() {
        let cases: [(String, Int)] = [
            ("400 Client Error: Bad Request for url: https://www.linkedin.com/oauth/v2/accessToken", 400),
            ("Request failed with status code 403 and error message Forbidden", 403),
            ("Error calling POST https://www.googleapis.com/oauth2/v2/tokeninfo: (400) Bad Request", 400),
            ("got <Response [502]> after 5 retries", 502),
            ("HTTP/1.1 401 Unauthorized", 401),
            ("response_code=401 return_code=ok", 401),
            // Apps Script's UrlFetchApp and Segment's delivery codes.
            ("Exception: Request failed for https://graph.facebook.com returned code 500. Truncated server response", 500),
            ("Delivery failed: errors.discarded.403", 403),
            // .NET's HttpRequestException, with and without the reason phrase.
            ("System.Net.Http.HttpRequestException: Response status code does not indicate success: 401 (). Invalid access token.", 401),
            ("Response status code does not indicate success: 403 (Forbidden).", 403),
        ]
        for (text, status) in cases {
            XCTAssertEqual(facts(text).int("http.status"), status, text)
        }
        // Numbers that are not statuses.
        for text in ["Error 190 happened at 10:45", "retry 403 times", "version 4.0.401", "(#100) Invalid parameter",
                     "2024-05-01 15:28:27,511 Internal Server Error from upstream", "12:00:00.503 Service Unavailable (retrying)"] {
            XCTAssertNil(facts(text).int("http.status"), text)
        }
    }

    /// Google's own auth libraries name the provider even when the OAuth error alone would say
    /// "some OAuth2 server".
    func testGoogleAuthLibrariesNameGoogle() {
        let texts = [
            "oauth2client.client.HttpAccessTokenRefreshError: invalid_grant",
            "PHP Fatal error:  Uncaught exception 'Google_Auth_Exception' with message 'Error refreshing the OAuth2 token, message: '{ \"error\" : \"invalid_grant\" }''",
            "Error: invalid_grant\n    at Gtoken.requestToken (/app/node_modules/gtoken/build/src/index.js:236:19)",
        ]
        for text in texts {
            XCTAssertEqual(facts(text)["provider"]?.elements.first?.stringValue, "google", text)
        }
        // A plain OAuth2 error stays generic.
        XCTAssertEqual(facts("Error: invalid_grant (Bad Request)")["provider"]?.elements.first?.stringValue, "oauth2")
    }

    func testFacebookCodesInProse() {
        XCTAssertEqual(facts("Error: (#294) Managing advertisements requires the extended permission ads_management").int("body.error.code"), 294)
        let dotted = facts("Facebook error 190.460: session invalidated")
        XCTAssertEqual(dotted.int("body.error.code"), 190)
        XCTAssertEqual(dotted.int("body.error.error_subcode"), 460)
        XCTAssertEqual(facts("OAuthException (Code 190) token expired").int("body.error.code"), 190)
    }

    func testOAuthCodesAreWholeWordsAndTheFirstOneCounts() {
        XCTAssertEqual(facts("google.auth.exceptions.RefreshError: ('invalid_grant: Token has been expired or revoked.')").string("oauth.error"), "invalid_grant")
        XCTAssertNil(facts("the parameter invalid_granted_scopes was ignored").string("oauth.error"))
        XCTAssertEqual(facts("error=access_denied; see invalid_request docs").string("oauth.error"), "access_denied")
        // Another product's upper-case error name is not an OAuth code.
        XCTAssertNil(facts("Code: 497. DB::Exception: alice: Not enough privileges. (ACCESS_DENIED) (version 23.8.2.7)").string("oauth.error"))
        XCTAssertEqual(facts("OAuth2 error: Access_Denied - the user declined").string("oauth.error"), "access_denied")
    }

    func testExceptionClasses() {
        let f = facts("snowflake.connector.errors.DatabaseError: 250001 (08001): Failed to connect to DB")
        XCTAssertEqual(f["exception"]?.elements.compactMap(\.stringValue), ["snowflake.connector.errors.DatabaseError", "DatabaseError"])
        XCTAssertEqual(f.string("snowflake.code"), "250001")
        XCTAssertEqual(f.string("body.code"), "250001")
        XCTAssertEqual(f.string("provider"), "snowflake")
        XCTAssertNil(facts("An Error occurred").string("exception"))
        // The code and its SQLSTATE closing the text, the message dropped by a wrapper.
        XCTAssertEqual(facts("Error connecting to Snowflake: (snowflake.connector.errors.DatabaseError) 250001 (08001)").string("snowflake.code"), "250001")
        // A six-digit number at the end without a SQLSTATE is not a Snowflake code.
        XCTAssertNil(facts("Sync failed for order 250001").string("snowflake.code"))
    }

    func testGRPCStatusFromNamesAndNumbers() {
        XCTAssertEqual(facts("Error: 16 UNAUTHENTICATED: Request had invalid authentication credentials.").string("grpc.status"), "UNAUTHENTICATED")
        XCTAssertEqual(facts("rpc error: code = PermissionDenied desc = caller lacks permission").string("grpc.status"), "PERMISSION_DENIED")
        XCTAssertEqual(facts("grpc error { code: 16, details: 'Failed to retrieve auth metadata' }").string("grpc.status"), "UNAUTHENTICATED")
        // Facebook's code 10 is no gRPC status.
        XCTAssertNil(facts("{'message': '(#10) Application does not have permission', 'code': 10}").string("grpc.status"))
    }

    func testURLsTellTheProviderAndTheEndpointButDocumentationDoesNot() {
        let f = facts("Exception: Error while refreshing access token: 400 Client Error: Bad Request for url: https://api.hubapi.com/oauth/v1/token (see https://developers.hubspot.com/docs)")
        XCTAssertEqual(f.string("url.host"), "api.hubapi.com")
        XCTAssertEqual(f.string("url.endpoint"), "token")
        XCTAssertEqual(f.string("provider"), "hubspot")
        XCTAssertEqual(f["text.hosts"]?.elements.count, 2)
        let docsOnly = facts("Something failed, see https://developers.facebook.com/docs/graph-api for more.")
        XCTAssertEqual(docsOnly.string("url.host"), "developers.facebook.com")
    }

    func testProviderFromVocabularyWithoutHosts() {
        XCTAssertEqual(facts("dbt: Database Error: 403 Access Denied: BigQuery BigQuery: Permission denied while getting Drive credentials.").string("provider"), "bigquery, google")
        XCTAssertEqual(facts("psycopg2.OperationalError: FATAL:  password authentication failed for user \"loader\"").string("provider"), "postgres")
        XCTAssertNil(facts("The sync failed after 3 attempts.").string("provider"))
    }

    func testAResponseBodyThatIsAlmostJSONStillGivesItsErrorObject() {
        let body = #"{ error: { errors: [{ domain: "global", reason: "required", message: "Login Required", location: "Authorization" }], code: 401 } }"#
        let f = extractor.facts(for: Evidence(kind: .record, responses: [ResponseSnapshot(status: 401, headers: [], body: body)]))
        XCTAssertEqual(f.string("body.format"), "invalid-json")
        XCTAssertEqual(f["body.error.errors[].reason"]?.elements.first?.stringValue, "required")
        XCTAssertEqual(f.int("body.error.code"), 401)
        XCTAssertEqual(f.string("message"), "Login Required")
    }

    func testAResponseIsNeverOverwrittenByItsOwnText() {
        let evidence = Evidence(kind: .record, responses: [ResponseSnapshot(status: 401, headers: [], body: #"{"error":"invalid_token"}"#)],
                                text: #"proxy said {"error": "invalid_grant"} with 500 Internal Server Error"#)
        let f = extractor.facts(for: evidence)
        XCTAssertEqual(f.int("http.status"), 401)
        XCTAssertEqual(f.string("body.error"), "invalid_token")
    }

    // MARK: - Bounds

    func testHostileTextIsBounded() {
        let openings = String(repeating: "{a: (b: [", count: 40_000)
        let deep = String(repeating: "{\"a\":", count: 100_000)
        let quotes = String(repeating: "{'", count: 50_000)
        for text in [openings, deep, quotes] {
            let start = Date()
            _ = facts(text)
            XCTAssertLessThan(Date().timeIntervalSince(start), 10, "bounded work for \(text.prefix(20))…")
        }
    }

    func testSecretsFoundInsideTextStayMasked() {
        let f = facts(#"refresh failed: {'error': 'invalid_grant', 'refresh_token': '1//0gFAKEFAKEFAKE', 'client_secret': 'GOCSPX-FAKEFAKE'}"#)
        XCTAssertEqual(f.string("body.refresh_token"), Redactor.mask)
        XCTAssertEqual(f.string("body.client_secret"), Redactor.mask)
    }

    // MARK: - Round-10 facts (fact requests filed by the rule writers)

    /// A connector log mixes INFO noise with the failure: `text.error_lines` keeps only WARN and
    /// above (and the traceback after them), colour codes removed, secrets still redacted.
    func testErrorLinesOfAMixedLevelLog() {
        let log = """
        2024-03-01 10:00:01 e[32mINFOe[m i.a.v.j.JsonSchemaValidator(test):121 - $.client_id: is missing but it is required
        2024-03-01 10:00:03 \u{1B}[1;31mERROR\u{1B}[m i.a.w.g.DefaultCheckConnectionWorker(run):120 - Check failed: invalid_grant
        Traceback (most recent call last):
        google.auth.exceptions.RefreshError: invalid_grant
        2024-03-01 10:00:04 INFO done
        """
        let lines = facts(log).string("text.error_lines") ?? ""
        XCTAssertTrue(lines.contains("Check failed: invalid_grant"), lines)
        XCTAssertTrue(lines.contains("google.auth.exceptions.RefreshError"), lines)
        XCTAssertFalse(lines.contains("is missing but it is required"), lines)
        XCTAssertFalse(lines.contains("done"), lines)
        XCTAssertFalse(lines.contains("\u{1B}"), lines)
        XCTAssertFalse(lines.contains("[m"), lines)
        // Structured levels too; a paste with one level only has no such fact.
        let logfmt = "time=1 level=info msg=\"starting\"\ntime=2 level=error msg=\"token expired\""
        XCTAssertEqual(facts(logfmt).string("text.error_lines"), "time=2 level=error msg=\"token expired\"")
        XCTAssertNil(facts("ERROR first\nERROR second")["text.error_lines"])
        XCTAssertNil(facts("INFO all is well\nINFO still well")["text.error_lines"])
    }

    /// Response header lines quoted in a ticket give the facts a response's headers give.
    func testPastedHeaderLines() {
        let f = facts("""
        HTTP/1.1 401
        X-Mashery-Error-Code: ERR_403_NOT_AUTHORIZED
        WWW-Authenticate: Bearer error="invalid_token", error_description="The access token expired"
        Retry-After: 30
        Authorization: Bearer ya29.FAKEFAKEFAKE
        Error: something went wrong
        """)
        XCTAssertEqual(f.string("http.header.x-mashery-error-code"), "ERR_403_NOT_AUTHORIZED")
        XCTAssertEqual(f.string("www-authenticate.error"), "invalid_token")
        XCTAssertEqual(f.string("www-authenticate.scheme"), "bearer")
        XCTAssertEqual(f.int("retry_after"), 30)
        XCTAssertNil(f["http.header.authorization"], "a request header is not a response's")
        XCTAssertNil(f["http.header.error"], "prose is not a header")
    }

    /// Graph's positional challenge names Graph's codes, not RFC 6749's; Graph's `code: 415` is not a status.
    func testGraphEnvelopeCodesAreGraphs() {
        let challenge = facts(#"www-authenticate: OAuth "Facebook Platform" "invalid_request" "(#803) Some of the aliases you requested do not exist""#)
        XCTAssertEqual(challenge.string("www-authenticate.realm"), "Facebook Platform")
        XCTAssertNil(challenge["oauth.error"])
        XCTAssertNotEqual(challenge.string("body.error"), "invalid_request")
        XCTAssertEqual(challenge["provider"]?.elements.first?.stringValue, "facebook")
        let twoFactor = facts(#"{"error": {"message": "Two factor authentication required.", "type": "OAuthException", "code": 415, "fbtrace_id": "AbCd"}}"#)
        XCTAssertNil(twoFactor["http.status"])
        XCTAssertEqual(twoFactor.int("body.error.code"), 415)
        XCTAssertEqual(facts(#"{"message": "denied", "code": 403}"#).int("http.status"), 403, "outside Graph's envelope it stays a status")
        // A product's own error number in the 4xx/5xx range is not an HTTP status (ClickHouse 516: wrong password).
        XCTAssertNil(facts("Code: 516. DB::Exception: default: Authentication failed: password is incorrect").int("http.status"))
        XCTAssertEqual(facts("upstream returned code: 502 while reading").int("http.status"), 502)
    }

    /// .NET's TokenResponseException prints `Error:"…", Description:"…", Uri:""`.
    func testDotNetTokenResponseException() {
        let f = facts(#"Google.Apis.Auth.OAuth2.Responses.TokenResponseException: Error:"invalid_grant", Description:"Robot is disabled.", Uri:"""#)
        XCTAssertEqual(f.string("body.error"), "invalid_grant")
        XCTAssertEqual(f.string("body.error_description"), "Robot is disabled.")
        XCTAssertEqual(f.string("message"), "Robot is disabled.")
        XCTAssertEqual(f["provider"]?.elements.first?.stringValue, "google")
    }

    /// Npgsql's SQLSTATE before the colon, whatever the message's language or decoding.
    func testNpgsqlSQLStateBeforeANonASCIIMessage() {
        XCTAssertEqual(facts("Npgsql.PostgresException:“28P01: 用户 \"appuser\" Password 认证失败”").string("sqlstate"), "28P01")
        XCTAssertEqual(facts("Npgsql.PostgresException (0x80004005): 3D000: база данных не существует").string("sqlstate"), "3D000")
        XCTAssertNil(facts("System.Exception (0x80004005): Some failure happened").string("sqlstate"))
    }

    /// libsnowflakeclient's status after PDO's SQLSTATE, and a Snowflake number over a SQLSTATE.
    func testSnowflakeNumbersDecideTheProvider() {
        let pdo = facts("PDOException: SQLSTATE[08001]: Client unable to establish connection: 240009 Request returned as being unsuccessful")
        XCTAssertEqual(pdo.string("snowflake.code"), "240009")
        XCTAssertEqual(pdo["provider"]?.elements.first?.stringValue, "snowflake")
        let dbt = facts("Database error while listing schemas in database \"ANALYTICS\"\nDatabase Error\n  002043 (02000): SQL compilation error:\n  Object does not exist, or operation cannot be performed.")
        XCTAssertNil(dbt["sqlstate"], "a database name and a later 'does not exist' are two sentences")
        XCTAssertEqual(dbt["provider"]?.elements.first?.stringValue, "snowflake")
        XCTAssertEqual(facts("FATAL:  database \"analytics\" does not exist").string("sqlstate"), "3D000")
        XCTAssertEqual(facts("PDOException: SQLSTATE[08006] [7] could not connect to server").string("sqlstate"), "08006")
    }

    /// Simba's `Connection Refused:` wrapper around the driver's own complaint is not a refused connection.
    func testSimbaConnectionRefusedWrapper() {
        let keys = facts("[Amazon][JDBC](10100) Connection Refused: [Amazon][JDBC](11640) Required Connection Key(s): PWD")
        XCTAssertNil(keys["transport.error"])
        XCTAssertEqual(keys["driver.code"]?.elements.compactMap(\.stringValue), ["10100", "11640"])
        let real = facts("[Amazon](500150) Error setting/closing connection: Connection refused.")
        XCTAssertEqual(real.string("transport.error"), "refused")
        XCTAssertEqual(facts("java.net.ConnectException: Connection refused: connect").string("transport.error"), "refused")
    }

    /// Other libraries' OAuthException is not Facebook's; PHP namespaces are kept whole.
    func testQualifiedExceptionClasses() {
        let scribe = facts("org.scribe.exceptions.OAuthException: Response body is incorrect. oauth_problem=Invalid%20redirect")
        XCTAssertNotEqual(scribe["provider"]?.elements.first?.stringValue, "facebook")
        XCTAssertEqual(facts("OAuthException: (#200) Permissions error")["provider"]?.elements.first?.stringValue, "facebook")
        let php = facts(#"PHP Fatal error:  Uncaught FacebookAds\Http\Exception\AuthorizationException: Error validating access token"#)
        let names = php["exception"]?.elements.compactMap(\.stringValue) ?? []
        XCTAssertTrue(names.contains(#"FacebookAds\Http\Exception\AuthorizationException"#), "\(names)")
        XCTAssertTrue(names.contains("AuthorizationException"), "\(names)")
    }
}
