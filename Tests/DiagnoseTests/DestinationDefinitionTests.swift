import AuthDoctorTestSupport
@testable import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// Issue 4: the definition format's destination keys (assertion, base URL credentials, evidence,
/// required-permissions) and the RS256 assertion the runner signs.
final class DestinationDefinitionTests: XCTestCase {
    func load(_ yaml: String) -> ([ProviderDefinition], [String]) {
        let (defs, issues) = ProviderLibrary.parse([SourceFile(path: "providers/x.yaml", text: yaml)])
        return (defs, issues.map(\.description))
    }

    func definition(_ id: String) throws -> ProviderDefinition {
        try XCTUnwrap(try ProviderLibrary.load(includeBuiltin: false, directories: [Diag.providersDirectory]).0[id])
    }

    static let pem = RSAKey.generatePEM()

    func decodeClaims(_ jwt: String) throws -> JSONValue {
        let parts = jwt.split(separator: ".")
        XCTAssertEqual(parts.count, 3)
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        return try JSON.parse([UInt8](try XCTUnwrap(Data(base64Encoded: b64))))
    }

    func testSnowflakeKeyPairAssertionIsSignedWithUpperCasedAccountAndFingerprint() throws {
        let def = try definition("snowflake")
        let engine = try Repo.engine()
        let runner = try DiagnosisRunner(definition: def, credentials: DiagnosisCredentials([
            "account": "myorg-dw", "user": "loader", "private-key": Self.pem]),
            options: DiagnosisOptions(now: Date(timeIntervalSince1970: 1_800_000_000)), engine: engine)
        XCTAssertEqual(runner.baseURLs["snowflake"], "https://myorg-dw.snowflakecomputing.com")
        let jwt = try XCTUnwrap(runner.credentials["assertion"])
        XCTAssertTrue(JWTSigner.verify(jwt, pem: Self.pem))
        let claims = try decodeClaims(jwt)
        XCTAssertEqual(claims["sub"]?.stringValue, "MYORG-DW.LOADER")
        XCTAssertTrue(claims["iss"]?.stringValue?.hasPrefix("MYORG-DW.LOADER.SHA256:") == true)
        XCTAssertEqual(claims["iat"], .int(1_800_000_000))
        XCTAssertEqual(claims["exp"], .int(1_800_003_000))
        XCTAssertFalse(JWTSigner.verify(jwt, pem: RSAKey.generatePEM()), "another key does not verify")
    }

    func testGoogleServiceAccountAssertion() throws {
        let def = try definition("bigquery")
        let runner = try DiagnosisRunner(definition: def, credentials: DiagnosisCredentials([
            "private-key": Self.pem, "client-email": "loader@p.iam.gserviceaccount.com", "project": "p"]),
            options: DiagnosisOptions(), engine: try Repo.engine())
        let claims = try decodeClaims(try XCTUnwrap(runner.credentials["assertion"]))
        XCTAssertEqual(claims["iss"]?.stringValue, "loader@p.iam.gserviceaccount.com")
        XCTAssertEqual(claims["aud"]?.stringValue, "https://oauth2.googleapis.com/token")
        XCTAssertEqual(claims["scope"]?.stringValue, "https://www.googleapis.com/auth/bigquery")
    }

    func testServiceAccountKeyFileProblemsAreMalformedInput() {
        func problem(_ text: String) -> InputError? {
            do { _ = try ServiceAccountKey.parse(text, place: "sa.json"); return nil } catch { return error }
        }
        XCTAssertEqual(problem("{not json")?.kind, .data)
        XCTAssertTrue(problem("{\"type\": \"authorized_user\"}")?.message.contains("use-service-account") == true)
        XCTAssertTrue(problem("[1]")?.message.contains("JSON object") == true)
        let badPEM = "{\"type\": \"service_account\", \"client_email\": \"a@b\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\"}"
        XCTAssertEqual(problem(badPEM)?.place, "sa.json")
        XCTAssertTrue(problem(badPEM)?.message.contains("PEM") == true)
        XCTAssertFalse(problem(badPEM)?.message.contains("AAAA") == true)
    }

    func testDestinationKeysAreLinted() {
        let yaml = """
        id: acme
        base-urls:
          api: "https://{account}.acme.test"
        credentials:
          private-key: {}
          password: {}
        evidence: [pcap]
        assertion:
          claims: { iss: "{password}", sub: "{nope}" }
        steps:
          - id: login
            method: POST
            url: "{base.api}/login"
            content-type: application/json
            body: '{"u": "{user.upper}"}'
        """
        let (defs, issues) = load(yaml)
        XCTAssertEqual(defs.count, 0)
        let text = issues.joined(separator: "\n")
        for needle in ["base URL uses '{account}'", "unknown evidence 'pcap'", "claim 'iss': unknown placeholder '{password}'",
                       "claim 'sub': unknown placeholder '{nope}'", "'assertion' needs the credential 'assertion'",
                       "uses '{user}', which is not under 'credentials'"] {
            XCTAssertTrue(text.contains(needle), "expected \(needle) in:\n\(text)")
        }
    }

    func testPermissionsMissingIsRequiredMinusGranted() {
        var builder = DiagnosisFactBuilder(provider: "bigquery", requiredScopes: [], expectAccount: nil, warnExpiry: 0, now: Date())
        builder.requiredPermissions = ["a.get", "a.create", "a.update"]
        let facts = builder.facts(yields: [.init(fact: "permissions.granted", values: [.string("a.get")], isList: true, step: "permissions")],
                                  records: [])
        XCTAssertEqual(facts["permissions.missing"], .list([.string("a.create"), .string("a.update")]))
        let none = builder.facts(yields: [.init(fact: "permissions.granted", values: [], isList: true, step: "permissions")], records: [])
        XCTAssertEqual(none["permissions.missing"]?.elements.count, 3, "an empty answer grants nothing")
        XCTAssertNil(builder.facts(yields: [], records: [])["permissions.missing"], "no permission test, no claim")
    }

    func testLookerStudioNeedsEvidence() throws {
        let def = try definition("looker-studio")
        XCTAssertThrowsError(try DiagnosisRunner(definition: def, credentials: DiagnosisCredentials(), options: DiagnosisOptions(),
                                                 engine: try Repo.engine()))
        var options = DiagnosisOptions()
        options.evidence = [try DiagnosisEvidence.url("https://lookerstudio.google.com/u/2/reporting/x?authuser=2", provider: "looker-studio")]
        let d = try DiagnosisRunner(definition: def, credentials: DiagnosisCredentials(), options: options,
                                    engine: try Repo.engine()).run()
        XCTAssertEqual(d.report.findings.first?.failure, "multi-account")
        XCTAssertEqual(d.exitStatus, 2)
    }
}
