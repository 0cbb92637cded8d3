import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// Issue 4: destinations (BigQuery, Google Sheets, Snowflake, Looker Studio, the platform API)
/// through the real binary: libcurl against the in-process Sandbox, key files, bad input, secrets.
final class DestinationDiagnoseTests: XCTestCase {
    static let destinationPrefixes = ["bigquery-", "sheets-", "snowflake-", "platform-api-", "looker-studio-"]

    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-dest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = tmp.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// A fresh RSA key (PKCS#8 PEM) made by openssl; none is committed.
    func makeKey() throws -> String {
        let path = tmp.appendingPathComponent("key.pem").path
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"),
                                           ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path],
                                           stdin: nil, noColor: true, environment: [:], currentDirectory: nil, timeout: 60)
        guard result.status == 0, let pem = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw XCTSkip("openssl could not make a key: \(result.summary)")
        }
        return pem
    }

    func serviceAccountFile(email: String, pem: String) throws -> String {
        var w = JSONWriter(capacity: 4096)
        w.raw("{\"type\":\"service_account\",\"project_id\":\"sbx-project\",\"private_key_id\":\"fake\",\"private_key\":")
        w.string(pem)
        w.raw(",\"client_email\":")
        w.string(email)
        w.raw("}")
        return try write("sa.json", String(decoding: w.bytes, as: UTF8.self))
    }

    static let secretNeedles = ["PRIVATE KEY", "eyJhbGciOiJSUzI1NiIs", "sbx-sf-wrong-password", "sbx-sf-good-password", "sbx-api-expired",
                                "sbx-api-healthy", "sbx-api-invalid-key"]

    func assertNoSecrets(_ text: String, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        for needle in Self.secretNeedles {
            XCTAssertFalse(text.contains(needle), "\(context): '\(needle)' in the output", file: file, line: line)
        }
    }

    // MARK: the Sandbox, every destination scenario

    func testDemoDiagnosesEveryDestinationScenarioAsExpectedWithoutSecrets() throws {
        let result = try CLI.run(["demo", "--format", "json", "--timeout", "2"])
        XCTAssertEqual(result.status, 0, result.summary)
        var seen: [String: String] = [:]
        for line in result.stdoutText.split(separator: "\n") {
            let doc = try JSON.parse(String(line))
            guard let id = doc["id"]?.stringValue, Self.destinationPrefixes.contains(where: { id.hasPrefix($0) }) else { continue }
            seen[id] = doc["verdict"]?.stringValue
        }
        for id in ["bigquery-healthy", "bigquery-key-deleted", "bigquery-clock-skew", "bigquery-missing-write-permissions",
                   "bigquery-dataset-not-found", "bigquery-personal-oauth", "sheets-healthy", "sheets-service-account-healthy", "sheets-view-only", "sheets-not-shared",
                   "sheets-not-found", "sheets-scope-missing", "snowflake-healthy", "snowflake-wrong-password", "snowflake-user-locked",
                   "snowflake-ip-not-allowed", "snowflake-mfa-only", "snowflake-wrong-account-host", "snowflake-account-dns",
                   "snowflake-keypair-healthy", "snowflake-keypair-rejected", "platform-api-healthy", "platform-api-invalid-key",
                   "platform-api-account-expired", "platform-api-destination-limit", "platform-api-wrong-url",
                   "platform-api-wrong-host", "platform-api-no-data", "looker-studio-healthy", "looker-studio-400",
                   "looker-studio-redirect-loop", "looker-studio-second-account-url"] {
            XCTAssertNotNil(seen[id], "the demo diagnoses \(id)")
        }
        XCTAssertEqual(seen["bigquery-healthy"], "ok")
        XCTAssertEqual(seen["snowflake-keypair-healthy"], "ok")
        assertNoSecrets(result.stdoutText + result.stderrText, "demo --format json")
    }

    // MARK: BigQuery

    func testBigQueryServiceAccountFileSignsAndReachesTheHealthyScenario() throws {
        let pem = try makeKey()
        let file = try serviceAccountFile(email: "loader@sbx-project.iam.gserviceaccount.com", pem: pem)
        let result = try CLI.run(["diagnose", "--provider", "bigquery", "--service-account-file", file, "--dataset", "windsor_data",
                                  "--sandbox", "--format", "json"])
        XCTAssertEqual(result.status, 0, result.summary)
        let doc = try assertReportJSON(result.stdoutText, "bigquery healthy")
        XCTAssertEqual(doc["verdict"]?.stringValue, "ok")
        assertNoSecrets(result.stdoutText, "bigquery healthy")
        for line in pem.split(separator: "\n") where line.count > 20 {
            XCTAssertFalse(result.stdoutText.contains(line), "a key line in the output")
        }
    }

    func testBigQueryMissingPermissionsAreNamed() throws {
        let file = try serviceAccountFile(email: "reader@sbx-project.iam.gserviceaccount.com", pem: try makeKey())
        let result = try CLI.run(["diagnose", "--provider", "bigquery", "--service-account-file", file, "--dataset", "windsor_data",
                                  "--sandbox", "--format", "json"])
        XCTAssertEqual(result.status, 2, result.summary)
        XCTAssertTrue(result.stdoutText.contains("bigquery.tables.create"), result.summary)
        XCTAssertTrue(result.stdoutText.contains("bigquery.tables.updateData"), result.summary)
        XCTAssertTrue(result.stdoutText.contains("\"permissions\""), result.summary)
    }

    func testBigQueryPersonalTokenGetsUseServiceAccount() throws {
        let result = try CLI.run(["diagnose", "--provider", "bigquery", "--token-env", "BQ_TOKEN", "--project", "sbx-project",
                                  "--dataset", "windsor_data", "--sandbox", "--format", "json"], environment: ["BQ_TOKEN": "sbx-bq-personal"])
        XCTAssertEqual(result.status, 2, result.summary)
        XCTAssertTrue(result.stdoutText.contains("use-service-account"), result.summary)
        XCTAssertFalse(result.stdoutText.contains("sbx-bq-personal"), result.summary)
    }

    func testMalformedServiceAccountFilesAreNamedAsSuch() throws {
        let badJSON = try write("bad.json", "{\"type\": \"service_account\", \"private_key\": ")
        assertOneLineError(try CLI.run(["diagnose", "--provider", "bigquery", "--service-account-file", badJSON, "--project", "p"]),
                           status: 65, mentions: [badJSON, "invalid JSON"])
        let personal = try write("user.json", "{\"type\": \"authorized_user\", \"client_id\": \"x\", \"refresh_token\": \"1//FAKE-refresh-secret\"}")
        let r = try CLI.run(["diagnose", "--provider", "bigquery", "--service-account-file", personal, "--project", "p"])
        assertOneLineError(r, status: 65, mentions: [personal, "authorized_user", "use-service-account"])
        XCTAssertFalse(r.stderrText.contains("FAKE-refresh-secret"))
        let wrongType = try write("other.json", "{\"type\": \"external_account\"}")
        assertOneLineError(try CLI.run(["diagnose", "--provider", "bigquery", "--service-account-file", wrongType, "--project", "p"]),
                           status: 65, mentions: [wrongType, "'type'"])
        let badPEM = try write("pem.json", "{\"type\": \"service_account\", \"client_email\": \"a@b.iam.gserviceaccount.com\", "
                               + "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nNOTBASE64SECRETMATERIAL\\n-----END PRIVATE KEY-----\\n\"}")
        let p = try CLI.run(["diagnose", "--provider", "bigquery", "--service-account-file", badPEM, "--project", "p"])
        assertOneLineError(p, status: 65, mentions: [badPEM, "private_key", "PEM"])
        XCTAssertFalse(p.stderrText.contains("NOTBASE64SECRETMATERIAL"))
        let missing = tmp.appendingPathComponent("nope.json").path
        assertOneLineError(try CLI.run(["diagnose", "--provider", "bigquery", "--service-account-file", missing, "--project", "p"]),
                           status: 66, mentions: [missing])
        let keyFile = try write("key.pem", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
        assertOneLineError(try CLI.run(["diagnose", "--provider", "snowflake", "--account", "a", "--user", "u", "--private-key-file", keyFile]),
                           status: 65, mentions: [keyFile, "RSA private key"])
    }

    // MARK: Snowflake

    func testSnowflakePasswordFromEnvOrStdinNeverShown() throws {
        let env = try CLI.run(["diagnose", "--provider", "snowflake", "--account", "sbx-org-dw", "--user", "sbx_loader",
                               "--password-env", "SF_PW", "--sandbox", "--format", "json"], environment: ["SF_PW": "sbx-sf-wrong-password"])
        XCTAssertEqual(env.status, 2, env.summary)
        let doc = try assertReportJSON(env.stdoutText, "snowflake wrong password")
        XCTAssertEqual(doc["findings"]?.arrayValue?.first?["failure"]?.stringValue, "credentials")
        assertNoSecrets(env.stdoutText + env.stderrText, "snowflake --password-env")

        let stdin = try CLI.run(["diagnose", "--provider", "snowflake", "--account", "sbx-org-dw", "--user", "sbx_loader",
                                 "--password-file", "-", "--sandbox", "--format", "markdown"], stdin: "sbx-sf-ip-blocked\n")
        XCTAssertEqual(stdin.status, 2, stdin.summary)
        XCTAssertTrue(stdin.stdoutText.contains("network-policy"), stdin.summary)
        XCTAssertFalse(stdin.stdoutText.contains("sbx-sf-ip-blocked"), stdin.summary)
    }

    func testSnowflakeKeyPairJWT() throws {
        let key = try write("sf.pem", try makeKey())
        let result = try CLI.run(["diagnose", "--provider", "snowflake", "--account", "sbx-org-dw", "--user", "sbx-sf-kp-wrong-key",
                                  "--private-key-file", key, "--sandbox", "--format", "json"])
        XCTAssertEqual(result.status, 2, result.summary)
        XCTAssertTrue(result.stdoutText.contains("390144"), result.summary)
        assertNoSecrets(result.stdoutText, "snowflake key pair")
        let ok = try CLI.run(["diagnose", "--provider", "snowflake", "--account", "sbx-org-dw", "--user", "sbx-sf-kp-healthy",
                              "--private-key-file", key, "--sandbox", "--format", "brief"])
        XCTAssertEqual(ok.status, 0, ok.summary)
    }

    func testAHangingDestinationCostsAtMostTheTimeout() throws {
        let server = try LoopbackServer { _ in .blackHole }
        defer { server.stop() }
        let start = Date()
        let result = try CLI.run(["diagnose", "--provider", "snowflake", "--account", "a", "--user", "u", "--password-env", "SF_PW",
                                  "--base-url", "snowflake=\(server.baseURL)", "--timeout", "1", "--format", "brief"],
                                 environment: ["SF_PW": "sbx-sf-hang-secret"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 6, result.summary)
        // A timeout is transient: a warning (1), classified as connectivity.
        XCTAssertTrue([1, 2].contains(result.status), result.summary)
        XCTAssertTrue(result.stdoutText.hasPrefix("connectivity"), result.summary)
        XCTAssertFalse(result.stdoutText.contains("sbx-sf-hang-secret"))
    }

    // MARK: the platform API

    func testPlatformAPIURLAndKey() throws {
        let url = "https://connectors.windsor.ai/all?date_preset=last_7d&fields=date,campaign,spend"
        let expired = try CLI.run(["diagnose", "--provider", "platform-api", "--url", url, "--api-key-env", "KEY", "--sandbox", "--format", "json"],
                                  environment: ["KEY": "sbx-api-expired"])
        XCTAssertEqual(expired.status, 2, expired.summary)
        XCTAssertTrue(expired.stdoutText.contains("\"subscription\""), expired.summary)
        assertNoSecrets(expired.stdoutText, "platform-api")
        let healthy = try CLI.run(["diagnose", "--provider", "platform-api", "--url", url, "--api-key-file", "-", "--sandbox", "--format", "brief"],
                                  stdin: "sbx-api-healthy")
        XCTAssertEqual(healthy.status, 0, healthy.summary)
        // A key in the URL is refused: secrets never come from argv.
        assertOneLineError(try CLI.run(["diagnose", "--provider", "platform-api", "--url", url + "&api_key=sbx-in-argv", "--api-key-env", "KEY"],
                                       environment: ["KEY": "x"]), status: 64, mentions: ["--api-key-env"])
    }

    // MARK: Looker Studio

    func testLookerStudioFromHARAndURL() throws {
        let har = try CLI.run(["diagnose", "--provider", "looker-studio", "--har", CLI.fixture("looker-studio/connector-authorize-two-accounts-400.har"),
                               "--format", "json"])
        XCTAssertEqual(har.status, 2, har.summary)
        XCTAssertTrue(har.stdoutText.contains("looker-400") && har.stdoutText.contains("looker-single-account"), har.summary)
        let url = try CLI.run(["diagnose", "--provider", "looker-studio", "--url",
                               "https://lookerstudio.google.com/u/1/datasources/create?connectorId=AKfycbzFAKE&authuser=1", "--format", "brief"])
        XCTAssertEqual(url.status, 2, url.summary)
        XCTAssertTrue(url.stdoutText.hasPrefix("multi-account"), url.summary)
        let ok = try CLI.run(["diagnose", "--provider", "looker-studio", "--har", CLI.fixture("looker-studio/connector-authorize-single-account-ok.har")])
        XCTAssertEqual(ok.status, 0, ok.summary)
        assertOneLineError(try CLI.run(["diagnose", "--provider", "looker-studio"]), status: 64, mentions: ["--url", "--har"])
    }
}
