import AuthDoctorTestSupport
@testable import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// Snowflake account identifiers in every documented form → the host and the account name the
/// login request and the key-pair JWT use (docs.snowflake.com, "Account identifiers").
final class SnowflakeAccountTests: XCTestCase {
    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> SnowflakeAccount {
        do { return try SnowflakeAccount.parse(text) } catch {
            XCTFail("\(text): \(error.message)", file: file, line: line)
            throw error
        }
    }

    func testDocumentedFormsGiveTheRightHostAndName() throws {
        let cases: [(given: String, host: String, name: String, region: String?, cloud: String?)] = [
            // Organization identifiers (preferred).
            ("myorg-account1", "myorg-account1", "MYORG-ACCOUNT1", nil, nil),
            ("MyOrg-Account1", "myorg-account1", "MYORG-ACCOUNT1", nil, nil),
            ("myorg-my_account", "myorg-my_account", "MYORG-MY_ACCOUNT", nil, nil),
            ("myorg.account1", "myorg-account1", "MYORG-ACCOUNT1", nil, nil),            // the SQL form
            ("myorg-account1.privatelink", "myorg-account1.privatelink", "MYORG-ACCOUNT1", nil, nil),
            // Account locators (legacy), with region and cloud.
            ("xy12345", "xy12345", "XY12345", nil, nil),
            ("xy12345.eu-central-1", "xy12345.eu-central-1", "XY12345", "eu-central-1", nil),
            ("xy12345.us-east-2.aws", "xy12345.us-east-2.aws", "XY12345", "us-east-2", "aws"),
            ("xy12345.east-us-2.azure", "xy12345.east-us-2.azure", "XY12345", "east-us-2", "azure"),
            ("xy12345.us-central1.gcp", "xy12345.us-central1.gcp", "XY12345", "us-central1", "gcp"),
            ("xy12345.ap-northeast-1.aws.privatelink", "xy12345.ap-northeast-1.aws.privatelink", "XY12345", "ap-northeast-1", "aws"),
            // AWS US West (Oregon) is the default region: its URL names none.
            ("xy12345.us-west-2", "xy12345", "XY12345", nil, nil),
            ("xy12345.us-west-2.aws", "xy12345", "XY12345", nil, "aws"),
            // Pasted URLs.
            ("https://xy12345.eu-central-1.snowflakecomputing.com/", "xy12345.eu-central-1", "XY12345", "eu-central-1", nil),
            ("xy12345.us-east-2.aws.snowflakecomputing.com", "xy12345.us-east-2.aws", "XY12345", "us-east-2", "aws"),
            ("https://myorg-account1.snowflakecomputing.com:443/console#/", "myorg-account1", "MYORG-ACCOUNT1", nil, nil),
            ("https://app.snowflake.com/myorg/account1/worksheets", "myorg-account1", "MYORG-ACCOUNT1", nil, nil),
            ("  myorg-account1  ", "myorg-account1", "MYORG-ACCOUNT1", nil, nil),
            // A replication (global) URL: the account is before the last hyphen.
            ("xy12345-ext01.global", "xy12345-ext01.global", "XY12345", nil, nil),
        ]
        for c in cases {
            let account = try parse(c.given)
            XCTAssertEqual(account.host, c.host, c.given)
            XCTAssertEqual(account.name, c.name, c.given)
            XCTAssertEqual(account.region, c.region, c.given)
            XCTAssertEqual(account.cloud, c.cloud, c.given)
        }
    }

    func testMalformedIdentifiersAreUsageErrorsNamingTheFormats() {
        for bad in ["", "xy12345.eu-central-1.mars", "xy12345.us-east-2.aws.extra", "myorg-acct.us-east-2",
                    "12345.us-east-2", "xy..eu-central-1", "xy 12345", "xy12345/../evil", "https://app.snowflake.com/",
                    "a.b.c.d.e", "xy12345.eu-central-1:x@evil.example"] {
            XCTAssertThrowsError(try SnowflakeAccount.parse(bad), bad) { error in
                let error = error as? InputError
                XCTAssertEqual(error?.kind, .usage, bad)
                XCTAssertTrue(error?.message.contains("ORGNAME-ACCOUNT_NAME") == true, error?.message ?? "")
                XCTAssertTrue(error?.message.hasPrefix("--account") == true, error?.message ?? "")
            }
        }
    }

    // MARK: through the runner: host, login request and JWT claims

    static func claims(of jwt: String) throws -> JSONValue {
        let parts = jwt.split(separator: ".")
        XCTAssertEqual(parts.count, 3)
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        return try JSON.parse([UInt8](try XCTUnwrap(Data(base64Encoded: b64))))
    }

    func definition() throws -> ProviderDefinition {
        try XCTUnwrap(try ProviderLibrary.load(includeBuiltin: false, directories: [Diag.providersDirectory]).0["snowflake"])
    }

    func testRegionLocatorNamesTheRegionalHostButNotTheLoginAccount() throws {
        let pem = DestinationDefinitionTests.pem
        let runner = try DiagnosisRunner(definition: try definition(), credentials: DiagnosisCredentials([
            "account": "XY12345.eu-central-1", "user": "loader", "private-key": pem]),
            options: DiagnosisOptions(now: Date(timeIntervalSince1970: 1_800_000_000)), engine: try Repo.engine())
        XCTAssertEqual(runner.baseURLs["snowflake"], "https://xy12345.eu-central-1.snowflakecomputing.com")
        let claims = try Self.claims(of: try XCTUnwrap(runner.credentials["assertion"]))
        XCTAssertEqual(claims["sub"]?.stringValue, "XY12345.LOADER", "the JWT names the locator without its region")
        XCTAssertTrue(claims["iss"]?.stringValue?.hasPrefix("XY12345.LOADER.SHA256:") == true)

        let cloud = try DiagnosisRunner(definition: try definition(), credentials: DiagnosisCredentials([
            "account": "xy12345.us-east-2.aws", "user": "loader", "password": "sbx-pw-Not-Real-1"]), engine: try Repo.engine())
        XCTAssertEqual(cloud.baseURLs["snowflake"], "https://xy12345.us-east-2.aws.snowflakecomputing.com")
        let org = try DiagnosisRunner(definition: try definition(), credentials: DiagnosisCredentials([
            "account": "https://app.snowflake.com/myorg/account1/", "user": "loader", "password": "sbx-pw-Not-Real-1"]), engine: try Repo.engine())
        XCTAssertEqual(org.baseURLs["snowflake"], "https://myorg-account1.snowflakecomputing.com")
    }

    func testLoginRequestNamesTheAccountWithoutRegion() throws {
        let server = try LoopbackServer { _ in
            .respond(status: 200, headers: [("Content-Type", "application/json")],
                     body: #"{"data":null,"code":"390100","message":"Incorrect username or password was specified.","success":false}"#)
        }
        defer { server.stop() }
        let runner = try DiagnosisRunner(definition: try definition(), credentials: DiagnosisCredentials([
            "account": "xy12345.us-east-2.aws", "user": "loader", "password": "sbx-pw-Not-Real-1"]),
            options: DiagnosisOptions(baseURLOverrides: [("snowflake", server.baseURL)], timeout: 5), engine: try Repo.engine())
        let diagnosis = runner.run()
        let login = try XCTUnwrap(server.receivedRequests.first { $0.pathOnly == "/session/v1/login-request" })
        let body = try JSON.parse(login.body)
        XCTAssertEqual(body["data"]?["ACCOUNT_NAME"]?.stringValue, "XY12345")
        XCTAssertEqual(diagnosis.report.findings.first?.failure, "credentials")
    }

    func testBadAccountIsAUsageErrorBeforeAnyRequest() throws {
        XCTAssertThrowsError(try DiagnosisRunner(definition: try definition(), credentials: DiagnosisCredentials([
            "account": "xy12345.eu-central-1.mars", "user": "loader", "password": "sbx-pw-Not-Real-1"]), engine: try Repo.engine())) { error in
            XCTAssertEqual((error as? InputError)?.kind, .usage)
            XCTAssertTrue((error as? InputError)?.message.contains("unknown cloud 'mars'") == true, "\(error)")
        }
    }
}
