import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// `authdoctor sandbox --list`: the OAuth authorization servers beside the scenarios and faults.
final class SandboxListTests: XCTestCase {
    func testListShowsOAuthEndpointsWithThePlannedBaseURL() throws {
        let result = try CLI.run(["sandbox", "--list", "--port", "8700"])
        assertSuccess(result)
        let text = result.stdoutText
        for provider in ["google", "google-ads", "google-analytics", "google-sheets", "facebook", "linkedin", "hubspot"] {
            XCTAssertTrue(text.contains("http://127.0.0.1:8700/oauth/\(provider)/authorize  http://127.0.0.1:8700/oauth/\(provider)/token"),
                          "\(provider):\n\(text)")
        }
        XCTAssertFalse(text.contains("/oauth/bigquery/"), "a service-account provider has no OAuth server")
        XCTAssertTrue(text.contains("(hubspot-healthy)"), text)
    }

    func testListJSONCarriesTheOAuthEndpoints() throws {
        let result = try CLI.run(["sandbox", "--list", "--format", "json"])
        assertSuccess(result)
        let document = try JSON.parse(result.stdoutText)
        let oauth = try XCTUnwrap(document["oauth"]?.arrayValue)
        let google = try XCTUnwrap(oauth.first { $0["provider"]?.stringValue == "google" })
        XCTAssertEqual(google["authorize"]?.stringValue, "/oauth/google/authorize", "port 0: a path on the base URL")
        XCTAssertEqual(google["token"]?.stringValue, "/oauth/google/token")
        XCTAssertEqual(google["scenario"]?.stringValue, "google-healthy")
    }
}
