import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// rules/providers/*.yaml and their loader: the built-in definitions, and file:line errors.
final class DiagnosisProviderDefinitionTests: XCTestCase {
    func testTheRepositoryDefinitionsLoadCleanly() throws {
        let (all, issues) = try ProviderLibrary.load(includeBuiltin: false, directories: [Diag.providersDirectory])
        XCTAssertEqual(issues.map(\.description), [])
        XCTAssertEqual(Set(all.keys), ["google", "google-ads", "google-analytics", "facebook", "linkedin", "hubspot",
                                       "bigquery", "google-sheets", "snowflake", "platform-api", "looker-studio"])
        for (id, definition) in all {
            XCTAssertTrue(ProviderDetector.known.contains(id), id)
            // Looker Studio classifies --url/--har instead of probing.
            XCTAssertTrue(!definition.steps.isEmpty || !definition.evidenceInputs.isEmpty, id)
            XCTAssertEqual(definition.category, ["bigquery", "google-sheets", "snowflake", "platform-api", "looker-studio"].contains(id)
                           ? "destination" : "source", id)
            XCTAssertTrue(definition.file.hasPrefix("providers/"), definition.file)
        }
        let fb = try XCTUnwrap(all["facebook"])
        XCTAssertEqual(fb.baseURL("facebook"), "https://graph.facebook.com")
        XCTAssertEqual(fb.versionPath, "/v23.0")
        XCTAssertEqual(fb.requiredScopes, ["ads_read", "business_management"])
        XCTAssertEqual(fb.steps.first?.needs.sorted(), ["client-id", "client-secret", "token"])
        XCTAssertEqual(fb.credential("token")?.required, true)
        let ads = try XCTUnwrap(all["google-ads"])
        XCTAssertEqual(ads.credential("developer-token")?.required, true)
        XCTAssertEqual(ads.requireAny, ["token", "refresh-token"])
        XCTAssertEqual(ads.steps.first { $0.id == "refresh" }?.provides.map(\.credential), ["token"])
    }

    func testTheBuiltInDefinitionsMatchTheRepository() throws {
        let (builtin, issues) = try ProviderLibrary.load(includeBuiltin: true)
        XCTAssertEqual(issues.map(\.description), [])
        let (repo, _) = try ProviderLibrary.load(includeBuiltin: false, directories: [Diag.providersDirectory])
        XCTAssertEqual(Set(builtin.keys), Set(repo.keys), "rebuild after adding a definition (the plugin embeds rules/)")
        for (id, definition) in repo {
            XCTAssertEqual(builtin[id]?.steps.map(\.id), definition.steps.map(\.id), id)
        }
        XCTAssertEqual(try ProviderLibrary.definition(for: "hubspot").baseURL("hubspot"), "https://api.hubapi.com")
    }

    func testUnknownProviderIsAUsageError() throws {
        XCTAssertThrowsError(try ProviderLibrary.definition(for: "myspace")) { error in
            let e = error as! InputError
            XCTAssertEqual(e.exitCode, 64)
            XCTAssertTrue(e.description.contains("unknown provider 'myspace'"), e.description)
            XCTAssertTrue(e.description.contains("facebook"), e.description)
        }
    }

    func load(_ yaml: String) -> ([ProviderDefinition], [String]) {
        var loader = ProviderLoader()
        loader.load(yaml: yaml, file: "providers/x.yaml")
        return (loader.definitions, loader.issues.map(\.description))
    }

    static let minimal = """
    id: acme
    base-urls:
      api: https://api.acme.test
    credentials:
      token: { required: true }
    steps:
      - id: me
        url: "{base.api}/me"
        headers: { Authorization: "Bearer {token}" }
    """

    func testAMinimalLocalDefinition() {
        let (defs, issues) = load(Self.minimal)
        XCTAssertEqual(issues, [])
        XCTAssertEqual(defs.first?.id, "acme")
        XCTAssertEqual(defs.first?.steps.first?.method, "GET")
        XCTAssertEqual(defs.first?.steps.first?.needs, ["token"])
    }

    func testProblemsNameFileAndLine() {
        let yaml = """
        id: acme
        base-urls:
          api: https://api.acme.test
        credentials:
          token: { required: true }
          passphrase: {}
        colour: blue
        steps:
          - id: me
            url: "{base.api}/me?x={tokn}"
            method: FETCH
            yields:
              token.valid: data.valid
              nonsense: body.x
          - id: me
            url: "{base.web}/me"
            body: "a={token}"
        """
        let (defs, issues) = load(yaml)
        XCTAssertEqual(defs.count, 0)
        let expected = [
            "providers/x.yaml:6: unknown credential 'passphrase'",
            "providers/x.yaml:7: unknown key 'colour' in provider definition",
            "providers/x.yaml:11: step 'me': unknown method 'FETCH'",
            "providers/x.yaml:10: step 'me': unknown placeholder '{tokn}'",
            "providers/x.yaml:13: step 'me': 'data.valid' is not a body path",
            "providers/x.yaml:14: step 'me': 'nonsense' is not a diagnosis fact name",
            "providers/x.yaml:17: step 'me': a body needs a 'content-type'",
            "providers/x.yaml:17: step 'me': a GET request carries no body",
            "providers/x.yaml:16: step 'me': unknown base URL '{base.web}'",
        ]
        for line in expected {
            XCTAssertTrue(issues.contains { $0.hasPrefix(line) }, "expected '\(line)' in:\n" + issues.joined(separator: "\n"))
        }
    }

    func testInvalidYAMLAndMissingParts() {
        XCTAssertTrue(load("id: [unclosed\n").1.first?.hasPrefix("providers/x.yaml:") == true)
        let (_, issues) = load("id: acme\n")
        XCTAssertTrue(issues.contains { $0.contains("needs at least one base URL") }, "\(issues)")
        XCTAssertTrue(issues.contains { $0.contains("missing 'steps'") }, "\(issues)")
        let (_, bad) = load("id: Acme!\nbase-urls: { api: 'ftp://x' }\nsteps: []\n")
        XCTAssertTrue(bad.contains { $0.contains("provider id 'Acme!'") }, "\(bad)")
        XCTAssertTrue(bad.contains { $0.contains("base URL 'api': must start with http:// or https://") }, "\(bad)")
        XCTAssertTrue(bad.contains { $0.contains("'steps' must be a non-empty list") }, "\(bad)")
    }

    func testABadLocalFileIsAConfigErrorForDiagnose() throws {
        let dir = try temporaryFile("id: acme\nsteps: 5\n", name: "acme.yaml").deletingLastPathComponent()
        XCTAssertThrowsError(try ProviderLibrary.definition(for: "acme", directories: [dir.path])) { error in
            let e = error as! InputError
            XCTAssertEqual(e.exitCode, 78)
            XCTAssertTrue(e.description.contains("acme.yaml:"), e.description)
        }
        // A local definition with a built-in id replaces it.
        let local = try temporaryFile(Self.minimal.replacingOccurrences(of: "id: acme", with: "id: hubspot"), name: "hubspot.yaml")
        let replaced = try ProviderLibrary.definition(for: "hubspot", directories: [local.deletingLastPathComponent().path])
        XCTAssertEqual(replaced.baseURL("api"), "https://api.acme.test")
    }

    func testTemplatesKeepJSONBraces() {
        XCTAssertEqual(TemplatePiece.split(#"{"tokenKey": "{token}"}"#),
                       [.literal(#"{"tokenKey": ""#), .placeholder("token"), .literal(#""}"#)])
        XCTAssertEqual(ProviderLoader.placeholders(in: "{base.api}{version}/x?a={client-id}|{client-secret}&b={}"),
                       ["base.api", "version", "client-id", "client-secret"])
    }

    func testBodyPaths() throws {
        let json = try JSON.parse(#"{"data":[{"permission":"ads_read","status":"granted"},{"permission":"x","status":"declined"},{"permission":"y","status":"granted"}],"a":{"b":[1,2]},"n":null}"#)
        XCTAssertEqual(BodyPath("body.data[status=granted].permission")?.values(in: json), [.string("ads_read"), .string("y")])
        XCTAssertEqual(BodyPath("body.data[].permission")?.values(in: json).count, 3)
        XCTAssertEqual(BodyPath("body.a.b[]")?.values(in: json), [.int(1), .int(2)])
        XCTAssertEqual(BodyPath("body.a.b")?.values(in: json), [.array([.int(1), .int(2)])])
        XCTAssertEqual(BodyPath("body.n")?.values(in: json), [])
        XCTAssertEqual(BodyPath("body.missing.deeper")?.values(in: json), [])
        XCTAssertEqual(BodyPath("body.a.b[]")?.isList, true)
        XCTAssertEqual(BodyPath("body.a")?.isList, false)
        for bad in ["data.x", "body.", "body..x", "body[x", "body[=y]", "bodyx"] { XCTAssertNil(BodyPath(bad), bad) }
    }
}
