import XCTest
@testable import EvidenceModel

final class ProviderDetectorTests: XCTestCase {
    private func detect(_ values: [String: FactValue]) -> String? {
        ProviderDetector.detect(Facts(values))
    }

    func testFacebookShapes() {
        XCTAssertEqual(detect(["body.error.type": .string("OAuthException"), "body.error.code": .int(190)]), "facebook")
        XCTAssertEqual(detect(["body.error.fbtrace_id": .string("AbCdEf")]), "facebook")
        XCTAssertEqual(detect(["http.header.x-fb-trace-id": .string("AbC")]), "facebook")
        XCTAssertEqual(detect(["www-authenticate.realm": .string("Facebook Platform")]), "facebook")
        XCTAssertEqual(detect(["body.data.app_id": .string("138"), "body.data.is_valid": .bool(false)]), "facebook")
        XCTAssertNil(detect(["body.data.app_id": .string("138")]))
    }

    func testLinkedInHubSpotSnowflake() {
        XCTAssertEqual(detect(["body.serviceErrorCode": .int(65600), "body.message": .string("Invalid access token")]), "linkedin")
        XCTAssertEqual(detect(["http.header.x-li-uuid": .string("x")]), "linkedin")
        XCTAssertEqual(detect(["body.category": .string("INVALID_AUTHENTICATION"), "body.correlationId": .string("c0ffee")]), "hubspot")
        XCTAssertEqual(detect(["http.header.x-hubspot-correlation-id": .string("c")]), "hubspot")
        XCTAssertNil(detect(["body.category": .string("INVALID_AUTHENTICATION")]))
        XCTAssertEqual(detect(["body.success": .bool(false), "body.code": .string("390100")]), "snowflake")
        XCTAssertEqual(detect(["body.success": .bool(false), "body.code": .int(390144)]), "snowflake")
        XCTAssertNil(detect(["body.success": .bool(false), "body.code": .string("40")]))
        XCTAssertNil(detect(["body.code": .string("390100")]))
    }

    func testGoogleFamily() {
        XCTAssertEqual(detect(["body.error.details[].@type": .list([.string("type.googleapis.com/google.rpc.ErrorInfo")])]), "google")
        XCTAssertEqual(detect(["www-authenticate.realm": .string("https://accounts.google.com/")]), "google")
        XCTAssertEqual(detect(["body.error.code": .int(401), "body.error.status": .string("UNAUTHENTICATED"),
                               "body.error.message": .string("Request had invalid authentication credentials.")]), "google")
        XCTAssertEqual(detect(["body.error.details[].@type": .list([
            .string("type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure"),
            .string("type.googleapis.com/google.rpc.ErrorInfo")])]), "google-ads")
        XCTAssertEqual(detect(["body.error.code": .int(403), "body.error.message": .string("Access Denied: BigQuery BigQuery: Permission denied while getting Drive credentials.")]), "bigquery")
        XCTAssertEqual(detect(["text": .string("Looker Studio: Bad Request Error 400 when adding the connector")]), "looker-studio")
        XCTAssertEqual(detect(["text": .string("see https://lookerstudio.google.com/reporting/abc")]), "looker-studio")
    }

    /// Round-7 reports: YouTube's error domains and .NET's Google.Apis exceptions are Google; a page
    /// that only links to Google's home page (a parked domain) names no provider.
    func testYouTubeDomainsDotNetExceptionsAndHomePageLinks() {
        XCTAssertEqual(detect(["body.error.errors[].domain": .list([.string("youtube.header")])]), "google")
        XCTAssertEqual(detect(["exception": .list([.string("Google.Apis.Auth.OAuth2.Responses.TokenResponseException")])]), "google")
        XCTAssertNil(detect(["text.hosts": .list([.string("www.google.com")])]))
        XCTAssertEqual(detect(["text.hosts": .list([.string("www.google.com"), .string("oauth2.googleapis.com")])]), "google")
    }

    func testPostgresVersusRedshift() {
        XCTAssertEqual(detect(["sqlstate": .string("28P01"), "text": .string("connection to server at \"db\" port 5432 failed")]), "postgres")
        XCTAssertEqual(detect(["sqlstate": .string("28P01"), "text": .string("connection to cluster.example.com:5439 failed")]), "redshift")
        XCTAssertEqual(detect(["sqlstate": .string("28000"), "text": .string("Amazon Redshift: password authentication failed")]), "redshift")
    }

    func testGenericOAuth2() {
        XCTAssertEqual(detect(["www-authenticate.error": .string("invalid_token")]), "oauth2")
        XCTAssertEqual(detect(["body.error": .string("invalid_grant")]), "oauth2")
        // An error object (flattened into body.error.*) is not the RFC 6749 shape.
        XCTAssertNil(detect(["body.error.message": .string("Something failed"), "http.status": .int(500)]))
        XCTAssertNil(detect(["body.error": .int(5)]))
    }

    func testByURLHost() {
        let hosts: [(String, String)] = [
            ("graph.facebook.com", "facebook"), ("api.linkedin.com", "linkedin"), ("api.hubapi.com", "hubspot"),
            ("app.hubspot.com", "hubspot"), ("xy12345.eu-central-1.snowflakecomputing.com", "snowflake"),
            ("analytics-cluster.abc123.us-east-1.redshift.amazonaws.com", "redshift"),
            ("googleads.googleapis.com", "google-ads"), ("analyticsdata.googleapis.com", "google-analytics"),
            ("analyticsadmin.googleapis.com", "google-analytics"), ("sheets.googleapis.com", "google-sheets"),
            ("bigquery.googleapis.com", "bigquery"), ("lookerstudio.google.com", "looker-studio"),
            ("datastudio.google.com", "looker-studio"), ("www.googleapis.com", "google"),
            ("oauth2.googleapis.com", "google"), ("accounts.google.com", "google"), ("api.windsor.ai", "platform-api"),
        ]
        for (host, provider) in hosts {
            XCTAssertEqual(detect(["url.host": .string(host)]), provider, host)
        }
        XCTAssertNil(detect(["url.host": .string("api.example.com")]))
        // The host wins over the body's shape.
        XCTAssertEqual(detect(["url.host": .string("api.linkedin.com"), "body.error.fbtrace_id": .string("x")]), "linkedin")
    }

    func testNothingRecognisable() {
        XCTAssertNil(detect([:]))
        XCTAssertNil(detect(["http.status": .int(500), "body.format": .string("text"), "text": .string("Internal error")]))
        var facts = Facts(["http.status": .int(500)])
        ProviderDetector.apply(given: nil, to: &facts)
        XCTAssertNil(facts["provider"])
        XCTAssertNil(facts["provider.detected"])
    }

    func testGivenProviderWinsAndFamilies() {
        var facts = Facts(["body.error.fbtrace_id": .string("x")])
        ProviderDetector.apply(given: "hubspot", to: &facts)
        XCTAssertEqual(facts["provider"], .list([.string("hubspot")]))
        XCTAssertNil(facts["provider.detected"])

        var ads = Facts()
        ProviderDetector.apply(given: "google-ads", to: &ads)
        XCTAssertEqual(ads["provider"], .list([.string("google-ads"), .string("google")]))

        var detected = Facts(["url.host": .string("bigquery.googleapis.com")])
        ProviderDetector.apply(given: nil, to: &detected)
        XCTAssertEqual(detected["provider"], .list([.string("bigquery"), .string("google")]))
        XCTAssertEqual(detected["provider.detected"], .bool(true))

        XCTAssertEqual(ProviderDetector.family(of: "redshift"), ["redshift", "postgres"])
        XCTAssertEqual(ProviderDetector.family(of: "google-sheets"), ["google-sheets", "google"])
        XCTAssertEqual(ProviderDetector.family(of: "looker-studio"), ["looker-studio", "google"])
        XCTAssertEqual(ProviderDetector.family(of: "facebook"), ["facebook"])
    }

    func testKnownProvidersMatchDesign() {
        XCTAssertEqual(Set(ProviderDetector.known), [
            "google", "google-ads", "google-analytics", "google-sheets", "bigquery", "looker-studio", "facebook",
            "linkedin", "hubspot", "snowflake", "redshift", "postgres", "platform-api", "oauth2",
        ])
    }

    func testDetectionThroughTheExtractor() throws {
        let raw = "HTTP/2 400\ncontent-type: application/json\n\n{\"error\": {\"message\": \"Invalid OAuth access token.\", \"type\": \"OAuthException\", \"code\": 190, \"fbtrace_id\": \"AbC\"}}"
        let facts = FactExtractor().facts(for: try ResponseParser.parse(raw))
        XCTAssertEqual(facts["provider"], .list([.string("facebook")]))
        XCTAssertEqual(facts["provider.detected"], .bool(true))
        let given = FactExtractor().facts(for: try ResponseParser.parse(raw, provider: "google-ads"))
        XCTAssertEqual(given["provider"], .list([.string("google-ads"), .string("google")]))
        XCTAssertNil(given["provider.detected"])
    }
}
