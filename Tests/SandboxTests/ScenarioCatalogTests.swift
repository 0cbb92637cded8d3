import AuthDoctorTestSupport
import Foundation
import Probe
@testable import Sandbox
import XCTest

/// Loading and validating scenarios files; the real `fixtures/sandbox/scenarios.yaml` when present.
final class ScenarioCatalogTests: SandboxTestCase {
    private func load(_ yaml: String, fixtures: [String: String] = TestFixtures.files) throws -> (ScenarioCatalog?, [CatalogIssue], String) {
        let folder = try TemporaryFixtures(scenarios: yaml, fixtures: fixtures)
        addTeardownBlock { folder.remove() }
        do {
            return (try ScenarioCatalog.load(fixturesDirectory: folder.path), [], folder.scenariosPath)
        } catch {
            return (nil, error.issues, folder.scenariosPath)
        }
    }

    private func issues(_ yaml: String, fixtures: [String: String] = TestFixtures.files) throws -> ([CatalogIssue], String) {
        let (catalog, issues, file) = try load(yaml, fixtures: fixtures)
        XCTAssertNil(catalog, "the file should not load")
        return (issues, file)
    }

    func testLoadsScenariosRoutesAndCredentials() throws {
        let catalog = try makeCatalog()
        XCTAssertEqual(catalog.scenarios.map(\.id), ["facebook-expired", "facebook-healthy", "oauth2-refresh-revoked",
                                                     "oauth2-client-credentials", "hubspot-token-in-path", "google-outage",
                                                     "google-blackhole", "google-dns"])
        let expired = try XCTUnwrap(catalog.scenario(id: "facebook-expired"))
        XCTAssertEqual(expired.provider, "facebook")
        XCTAssertEqual(expired.expect, "expiry")
        XCTAssertEqual(expired.description, "The user token expired (190/463).")
        XCTAssertEqual(expired.credentials, ["token": "sbx-fb-expired", "client-id": "5550001112223", "client-secret": "sbx-app-secret"])
        XCTAssertEqual(expired.routes.map { "\($0.method) \($0.path) \($0.fixture)" },
                       ["GET /v19.0/debug_token facebook/debug-token-expired.http", "GET /v19.0/me facebook/190-463-expired.http"])
        XCTAssertEqual(expired.routes.last?.recorded.status, 400)
        XCTAssertTrue(expired.place.hasSuffix("sandbox/scenarios.yaml:3"), expired.place)
        XCTAssertNil(expired.fault)
        XCTAssertEqual(catalog.scenario(id: "google-outage")?.fault, .outage)
        XCTAssertEqual(catalog.scenario(forToken: "sbx-refresh-revoked")?.id, "oauth2-refresh-revoked")
        XCTAssertNil(catalog.scenario(forToken: "5550001112223"), "a shared client id is not a token")
        XCTAssertNil(catalog.scenario(forOtherCredential: "5550001112223"), "two scenarios share it")
        XCTAssertEqual(catalog.scenario(forOtherCredential: "sbx-cc-secret")?.id, "oauth2-client-credentials")
    }

    func testUnknownKeysAreErrorsWithLine() throws {
        let (found, file) = try issues("""
        scenarios:
          - id: a
            provider: facebook
            expect: none
            credentails:
              token: sbx-a
            routes:
              GET /v19.0/me: facebook/me-healthy.http
        extra: 1
        """)
        XCTAssertEqual(found.map(\.description), [
            "\(file):9: unknown key 'extra' in the scenarios file (allowed: scenarios)",
            "\(file):5: unknown key 'credentails' in a scenario (allowed: credentials, description, expect, fault, id, options, provider, routes)",
            "\(file):2: scenario 'a' has routes but no credentials, so no request can reach it",
        ])
    }

    func testMissingAndUnparsableFixturesAreErrorsWithLine() throws {
        let (found, file) = try issues("""
        scenarios:
          - id: a
            provider: facebook
            expect: none
            credentials: { token: sbx-a }
            routes:
              GET /v19.0/me: facebook/no-such-file.http
              GET /v19.0/me/permissions: text/pasted.txt
              GET /v19.0/x: ../outside.http
        """, fixtures: ["text/pasted.txt": "Token has been expired or revoked.\n"])
        XCTAssertEqual(found.count, 3)
        XCTAssertEqual(found[0].description, "\(file):7: fixture 'facebook/no-such-file.http' does not exist under fixtures/")
        XCTAssertTrue(found[1].description.hasPrefix("\(file):8: fixture 'text/pasted.txt' does not parse: text/pasted.txt:1: no HTTP status line"),
                      found[1].description)
        XCTAssertEqual(found[2].description, "\(file):9: fixture '../outside.http' does not exist under fixtures/")
    }

    func testFixtureWithOnlyACurlErrorIsRejected() throws {
        let (found, _) = try issues("""
        scenarios:
          - id: a
            provider: generic
            expect: connectivity
            credentials: { token: sbx-a }
            routes: { GET /: transport/refused.http }
        """, fixtures: ["transport/refused.http": "curl: (7) Failed to connect to 127.0.0.1 port 9: Connection refused\n"])
        XCTAssertEqual(found.map(\.line), [6])
        XCTAssertTrue(found[0].message.contains("holds no HTTP response"), found[0].message)
    }

    func testDuplicateTokensAcrossScenarios() throws {
        let (found, file) = try issues("""
        scenarios:
          - id: first
            provider: facebook
            expect: none
            credentials:
              token: sbx-shared
            routes: { GET /v19.0/me: facebook/me-healthy.http }
          - id: second
            provider: facebook
            expect: expiry
            credentials:
              client-id: "1"
              refresh-token: sbx-shared
            routes: { GET /v19.0/me: facebook/190-463-expired.http }
        """)
        XCTAssertEqual(found.map(\.description),
                       ["\(file):13: refresh-token 'sbx-shared' already picks scenario 'first' (line 6); every token must name one scenario"])
    }

    func testDuplicateIdsBadRoutesFaultsAndMissingFields() throws {
        let (found, _) = try issues("""
        scenarios:
          - id: a
            provider: facebook
            expect: none
            credentials: { token: sbx-a }
            routes:
              get /v19.0/me: facebook/me-healthy.http
              GET v19.0/me: facebook/me-healthy.http
              GET /v19.0/me?x=1: facebook/me-healthy.http
          - id: a
            provider: google
            expect: outage
            fault: meltdown
          - id: b
            expect: none
            credentials: { token: sbx-b }
            fault: outage
            routes: { GET /: facebook/me-healthy.http }
          - id: Bad_Id
            provider: x
            expect: none
          - plain string
        """)
        let lines = found.map(\.line)
        let messages = found.map(\.message)
        XCTAssertEqual(lines, [7, 8, 9, 13, 14, 17, 19, 19, 22], "\(found.map(\.description))")
        XCTAssertTrue(messages[0].contains("must be METHOD /path"))
        XCTAssertTrue(messages[3].contains("unknown fault 'meltdown'"))
        XCTAssertTrue(messages[4].contains("scenario is missing 'provider'"))
        XCTAssertTrue(messages[5].contains("routes or a fault, not both"))
        XCTAssertTrue(messages[6].contains("must be lower-case"))
        XCTAssertTrue(messages[7].contains("needs `routes:`"))
        XCTAssertTrue(messages[8].contains("must be a mapping"))
    }

    func testOptionsAreCarriedForDiagnose() throws {
        let (catalog, issues, file) = try load("""
        scenarios:
          - id: a
            provider: google
            expect: multi-account
            options:
              expect-account: marketing@client.example
              expect-scopes: [openid, email]
              warn-expiry: 30d
            credentials: { token: sbx-a }
            fault: outage
          - id: b
            provider: google
            expect: none
            options:
              --bad-flag: x
              nested: { a: 1 }
            credentials: { token: sbx-b }
            fault: outage
        """)
        XCTAssertNil(catalog)
        XCTAssertEqual(issues.map(\.description), [
            "\(file):15: option names are diagnose flags without '--', in lower case (expect-account, warn-expiry, ...)",
            "\(file):16: option 'nested' must be a scalar or a list of scalars",
        ])
        let (valid, _, _) = try load("""
        scenarios:
          - id: a
            provider: google
            expect: multi-account
            options:
              expect-account: marketing@client.example
              expect-scopes: [openid, email]
            credentials: { token: sbx-a }
            fault: outage
        """)
        XCTAssertEqual(valid?.scenarios.first?.options, ["expect-account": "marketing@client.example", "expect-scopes": "openid,email"])
    }

    func testDuplicateScenarioIdIsReported() throws {
        let (found, file) = try issues("""
        scenarios:
          - { id: a, provider: google, expect: outage, fault: outage }
          - { id: a, provider: google, expect: outage, fault: blackhole }
        """)
        XCTAssertEqual(found.map(\.description), ["\(file):3: duplicate scenario id 'a' (first at line 2)"])
    }

    func testInvalidYAMLNamesTheLine() throws {
        let (found, file) = try issues("scenarios:\n  - id: a\n    provider: [unclosed\n")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].description.hasPrefix("\(file):"), found[0].description)
        XCTAssertTrue(found[0].message.hasPrefix("invalid YAML"), found[0].message)
        XCTAssertGreaterThanOrEqual(found[0].line, 3)
    }

    func testMissingFileAndErrorSummary() throws {
        XCTAssertThrowsError(try ScenarioCatalog.load(fixturesDirectory: "/nonexistent-authdoctor")) { error in
            XCTAssertEqual("\(error)", "/nonexistent-authdoctor/sandbox/scenarios.yaml:1: no such file, or not readable UTF-8 text")
        }
        let error = ScenarioCatalogError(issues: [CatalogIssue(file: "f", line: 2, message: "one"), CatalogIssue(file: "f", line: 3, message: "two")])
        XCTAssertEqual(error.description, "f:2: one (and 1 more)")
    }

    func testListedCredentialsShowOnlySandboxValuesAndIds() throws {
        let (catalog, _, _) = try load("""
        scenarios:
          - id: a
            provider: google
            expect: none
            credentials:
              token: ya29.FAKE-looks-like-a-google-token
              refresh-token: sbx-refresh
              client-id: 123-abc.apps.googleusercontent.com
              client-secret: GOCSPX-not-a-sandbox-value
              account-id: "1234567890"
              developer-token: sbx-dev
            fault: outage
        """)
        let listed = try XCTUnwrap(catalog?.scenarios.first).listedCredentials()
        XCTAssertEqual(listed.map(\.name), ["token", "refresh-token", "client-id", "client-secret", "developer-token", "account-id"])
        XCTAssertEqual(listed.map(\.value), ["[not shown]", "sbx-refresh", "123-abc.apps.googleusercontent.com", "[not shown]", "sbx-dev", "1234567890"])
    }

    // MARK: the real scenarios file

    func testRealScenariosFileLoadsAndEveryRouteAnswersItsFixture() throws {
        let file = TestPaths.fixturesDirectory + "/sandbox/scenarios.yaml"
        guard FileManager.default.fileExists(atPath: file) else {
            throw XCTSkip("fixtures/sandbox/scenarios.yaml is not written yet")
        }
        let catalog: ScenarioCatalog
        do {
            catalog = try ScenarioCatalog.load(fixturesDirectory: TestPaths.fixturesDirectory)
        } catch {
            return XCTFail("\(error.issues.map(\.description).joined(separator: "\n"))")
        }
        XCTAssertFalse(catalog.scenarios.isEmpty)
        let sandbox = try startSandbox(catalog: catalog)
        var requests: [ProbeRequest] = []
        var expected: [(String, Int)] = []
        for scenario in catalog.scenarios where scenario.fault == nil {
            for route in scenario.routes {
                // A token in the Authorization header reaches the scenario whatever the provider's real API expects.
                var headers: [HTTPHeader] = []
                if let token = scenario.tokens.first {
                    headers.append(HTTPHeader("Authorization", "Bearer \(token)"))
                } else {
                    // No token: a client id/secret, a service account's e-mail or a password only this scenario uses.
                    let user = scenario.credentials["client-id"] ?? scenario.credentials["client-email"] ?? scenario.credentials["user"] ?? ""
                    let pair = "\(user):\(scenario.credentials["client-secret"] ?? scenario.credentials["password"] ?? "")"
                    headers.append(HTTPHeader("Authorization", "Basic \(Data(pair.utf8).base64EncodedString())"))
                }
                requests.append(ProbeRequest(method: route.method, url: sandbox.baseURL + route.path, headers: headers,
                                             body: route.method == "GET" || route.method == "HEAD" ? nil : []))
                expected.append(("\(scenario.id) \(route.method) \(route.path)", route.recorded.status))
            }
        }
        XCTAssertFalse(requests.isEmpty)
        let results = prober.performAll(requests, maxConcurrent: 8)
        for (result, (what, status)) in zip(results, expected) {
            XCTAssertEqual(result.status, status, "\(what): \(result.curlMessage) \(result.bodyText.prefix(200))")
        }
    }

    func testBuiltinCatalogMatchesTheFileWhenEmbedded() throws {
        let file = TestPaths.fixturesDirectory + "/sandbox/scenarios.yaml"
        guard FileManager.default.fileExists(atPath: file) else {
            throw XCTSkip("fixtures/sandbox/scenarios.yaml is not written yet")
        }
        let builtin = try ScenarioCatalog.builtin()
        let onDisk = try ScenarioCatalog.load(fixturesDirectory: TestPaths.fixturesDirectory)
        XCTAssertEqual(builtin.scenarios.map(\.id), onDisk.scenarios.map(\.id), "rebuild after changing fixtures/ (make build)")
        XCTAssertTrue(builtin.scenarios.first?.place.hasPrefix("fixtures/sandbox/scenarios.yaml:") ?? false)
    }
}
