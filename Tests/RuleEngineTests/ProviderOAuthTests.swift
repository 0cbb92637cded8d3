import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// The `oauth:` section of provider definitions (docs/PROVIDERS.md): the built-in endpoints and the
/// loader's file:line problems.
final class ProviderOAuthTests: XCTestCase {
    func testTheBuiltInSourcesHaveTheirDocumentedEndpoints() throws {
        let (all, issues) = try ProviderLibrary.load()
        XCTAssertEqual(issues.map(\.description), [])
        let withOAuth = Set(all.values.filter { $0.oauth != nil }.map(\.id))
        XCTAssertEqual(withOAuth, ["google", "google-ads", "google-analytics", "google-sheets", "facebook", "linkedin", "hubspot"])

        let ads = try XCTUnwrap(all["google-ads"]?.oauth)
        XCTAssertEqual(ads.authorizeURL, "https://accounts.google.com/o/oauth2/v2/auth")
        XCTAssertEqual(ads.tokenURL, "https://oauth2.googleapis.com/token")
        XCTAssertTrue(ads.scopes.contains("https://www.googleapis.com/auth/adwords"))
        XCTAssertEqual(ads.scopeSeparator, " ")
        XCTAssertEqual(ads.authorizeParameters.map { "\($0.name)=\($0.value)" }, ["access_type=offline", "prompt=consent", "include_granted_scopes=true"])
        XCTAssertEqual(ads.clientAuthentication, .form)

        let facebook = try XCTUnwrap(all["facebook"]?.oauth)
        XCTAssertEqual(facebook.authorizeURL, "https://www.facebook.com/v23.0/dialog/oauth")
        XCTAssertEqual(facebook.tokenURL, "https://graph.facebook.com/v23.0/oauth/access_token")
        XCTAssertEqual(facebook.scopeSeparator, ",")
        XCTAssertEqual(facebook.scopes, ["ads_read", "business_management"])

        XCTAssertEqual(all["linkedin"]?.oauth?.tokenURL, "https://www.linkedin.com/oauth/v2/accessToken")
        XCTAssertEqual(all["hubspot"]?.oauth?.authorizeURL, "https://app.hubspot.com/oauth/authorize")
        XCTAssertEqual(all["hubspot"]?.oauth?.tokenURL, "https://api.hubapi.com/oauth/v1/token")
        XCTAssertNil(all["snowflake"]?.oauth)
        XCTAssertNil(all["bigquery"]?.oauth)
    }

    func testScopesDefaultToTheRequiredScopes() {
        var loader = ProviderLoader()
        loader.load(yaml: definition(oauth: """
        oauth:
          authorize-url: https://auth.example.com/authorize
          token-url: https://auth.example.com/token
          client-authentication: basic
        """), file: "providers/example.yaml")
        XCTAssertEqual(loader.issues.map(\.description), [])
        let oauth = loader.definitions.first?.oauth
        XCTAssertEqual(oauth?.scopes, ["read", "write"])
        XCTAssertEqual(oauth?.clientAuthentication, .basic)
    }

    func testProblemsNameFileAndLine() {
        let cases: [(String, Int, String)] = [
            ("oauth:\n  authorize-url: https://a.example/x\n  token-url: https://a.example/t\n  colour: blue", 11, "unknown key 'colour' in oauth"),
            ("oauth:\n  authorize-url: http://auth.example.com/a\n  token-url: https://a.example/t", 9, "'authorize-url' must use https"),
            ("oauth:\n  authorize-url: https://a.example/a?x=1\n  token-url: https://a.example/t", 9, "must not carry a query"),
            ("oauth:\n  authorize-url: https://a.example/a", 9, "'oauth' is missing 'token-url'"),
            ("oauth:\n  authorize-url: https://a.example/a\n  token-url: https://a.example/t\n  scope-separator: semicolon", 11, "space or comma"),
            ("oauth:\n  authorize-url: https://a.example/a\n  token-url: https://a.example/t\n  authorize-parameters: { redirect_uri: https://evil.example }", 11, "'redirect_uri' is set by the server"),
            ("oauth:\n  authorize-url: https://a.example/a\n  token-url: https://a.example/t\n  client-authentication: jwt", 11, "form or basic"),
            ("oauth:\n  authorize-url: https://a.example/a\n  token-url: https://a.example/t\n  scopes: [\"a b\"]", 11, "must not contain spaces"),
            ("oauth: yes", 8, "'oauth' must be a mapping"),
        ]
        for (section, line, message) in cases {
            var loader = ProviderLoader()
            loader.load(yaml: definition(oauth: section), file: "providers/example.yaml")
            XCTAssertTrue(loader.issues.contains { $0.file == "providers/example.yaml" && $0.line == line && $0.message.contains(message) },
                          "\(message): \(loader.issues.map(\.description))")
            XCTAssertTrue(loader.definitions.isEmpty, "a definition with a bad oauth section is not used")
        }
        // Plain http is fine on loopback (a local test server).
        var loader = ProviderLoader()
        loader.load(yaml: definition(oauth: "oauth:\n  authorize-url: http://127.0.0.1:8700/a\n  token-url: http://localhost:8700/t"), file: "p.yaml")
        XCTAssertEqual(loader.issues.map(\.description), [])
    }

    private func definition(oauth: String) -> String {
        """
        id: example
        name: Example
        base-urls:
          api: https://api.example.com
        required-scopes: [read, write]
        credentials:
          token: { required: true }
        \(oauth)
        steps:
          - id: me
            url: "{base.api}/me"
            headers: { Authorization: "Bearer {token}" }
        """
    }

    /// A built-in provider is read from its own file (not every definition's YAML, as a fresh
    /// `diagnose` did): the result is the definition the whole set gives, for every provider.
    func testOneBuiltInProviderReadAloneIsTheDefinitionTheWholeSetGives() throws {
        let (all, issues) = try ProviderLibrary.load()
        XCTAssertEqual(issues.count, 0)
        XCTAssertGreaterThanOrEqual(all.count, 10)
        for (id, whole) in all {
            let alone = try ProviderLibrary.definition(for: id)
            XCTAssertEqual(alone.id, whole.id)
            XCTAssertEqual(alone.file, whole.file, id)
            XCTAssertEqual(alone.line, whole.line, id)
            XCTAssertEqual(alone.name, whole.name, id)
            XCTAssertEqual(alone.steps.map(\.id), whole.steps.map(\.id), id)
            XCTAssertEqual(alone.credentials.map(\.name), whole.credentials.map(\.name), id)
            XCTAssertEqual(alone.requiredScopes, whole.requiredScopes, id)
            XCTAssertEqual(alone.baseURLs.map(\.url), whole.baseURLs.map(\.url), id)
        }
        XCTAssertThrowsError(try ProviderLibrary.definition(for: "facebok"), "an unknown id still gets the full error")
    }
}
