import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// Bad input before any probe: one-line errors with sysexits kinds, never a secret.
final class DiagnosisInputTests: XCTestCase {
    func assertInputError(_ code: Int32, _ needle: String, file: StaticString = #filePath, line: UInt = #line,
                          _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? InputError else { return XCTFail("not an InputError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.exitCode, code, e.description, file: file, line: line)
            XCTAssertTrue(e.description.contains(needle), "'\(needle)' in: \(e.description)", file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), "one line: \(e.description)", file: file, line: line)
        }
    }

    func testMissingCredentials() throws {
        assertInputError(64, "needs an access token (--token-env VAR or --token-file FILE)") {
            _ = try Diag.runner("facebook", at: nil, credentials: DiagnosisCredentials(clientID: "1"))
        }
        assertInputError(64, "needs a developer token (--developer-token-env VAR)") {
            _ = try Diag.runner("google-ads", at: nil, credentials: DiagnosisCredentials(token: "ya29.FAKE"))
        }
        assertInputError(64, "needs one of: an access token") {
            _ = try Diag.runner("google", at: nil, credentials: DiagnosisCredentials(clientID: "x"))
        }
        // A refresh token without the client that may use it: nothing could run.
        assertInputError(64, "no step of google can run: refresh needs --client-id, --client-secret-env") {
            _ = try Diag.runner("google", at: nil, credentials: DiagnosisCredentials(refreshToken: "1//FAKE"))
        }
        // An empty value counts as missing.
        assertInputError(64, "needs an access token") {
            _ = try Diag.runner("hubspot", at: nil, credentials: DiagnosisCredentials(token: ""))
        }
    }

    func testBadBaseURLs() throws {
        for (argument, needle) in [("facebook", "expected NAME=URL"), ("=http://x", "expected NAME=URL"),
                                   ("facebook=ftp://x", "must start with http:// or https://"),
                                   ("facebook=http://", "has no host"), ("facebook=http://h:99999", "bad port"),
                                   ("facebook=http://h/?a=1", "query or fragment"),
                                   ("facebook=http://user:pw@h", "user info")] {
            assertInputError(64, needle) { _ = try CredentialInput.baseURL(argument) }
        }
        let parsed = try CredentialInput.baseURL("facebook=http://127.0.0.1:8080/")
        XCTAssertEqual(parsed.name, "facebook")
        XCTAssertEqual(parsed.url, "http://127.0.0.1:8080")
        assertInputError(64, "'graph' is no base URL of facebook (use one of: facebook)") {
            var options = DiagnosisOptions()
            options.baseURLOverrides = [("graph", "http://127.0.0.1:1")]
            _ = try Diag.runner("facebook", at: nil, credentials: DiagnosisCredentials(token: "EAAFAKE1"), options: options)
        }
        assertInputError(64, "--timeout") {
            _ = try Diag.runner("hubspot", at: nil, credentials: DiagnosisCredentials(token: "x1"), options: DiagnosisOptions(timeout: 0))
        }
    }

    func testCredentialsFromTheEnvironment() throws {
        XCTAssertEqual(try CredentialInput.fromEnvironment("T", flag: "--token-env", environment: ["T": " EAAFAKE \n"]), "EAAFAKE")
        assertInputError(64, "--token-env: environment variable NOPE is not set") {
            _ = try CredentialInput.fromEnvironment("NOPE", flag: "--token-env", environment: [:])
        }
        assertInputError(65, "environment variable T is empty") {
            _ = try CredentialInput.fromEnvironment("T", flag: "--token-env", environment: ["T": "  "])
        }
        assertInputError(64, "is not an environment variable name") {
            _ = try CredentialInput.fromEnvironment("$T", flag: "--token-env", environment: [:])
        }
        // A line break inside would forge headers; the error does not repeat the value.
        XCTAssertThrowsError(try CredentialInput.fromEnvironment("T", flag: "--token-env", environment: ["T": "EAAsecret\r\nX-Evil: 1"])) { error in
            let e = error as! InputError
            XCTAssertEqual(e.exitCode, 65)
            XCTAssertFalse(e.description.contains("EAAsecret"))
        }
    }

    func testTokenFiles() throws {
        let file = try temporaryFile("EAAFAKEfromfile0001\n", name: "token.txt")
        XCTAssertEqual(try CredentialInput.fromFile(file.path), "EAAFAKEfromfile0001")
        XCTAssertEqual(try CredentialInput.fromFile("-", readStandardInput: { Data("  from-stdin-0001\n".utf8) }), "from-stdin-0001")
        assertInputError(66, "no such token file") { _ = try CredentialInput.fromFile("/nonexistent/token.txt") }
        assertInputError(66, "is a directory") { _ = try CredentialInput.fromFile(file.deletingLastPathComponent().path) }
        let empty = try temporaryFile("\n\n", name: "empty.txt")
        assertInputError(65, "the token file is empty") { _ = try CredentialInput.fromFile(empty.path) }
        let binary = file.deletingLastPathComponent().appendingPathComponent("bin.txt")
        try Data([0xFF, 0xFE, 0x00]).write(to: binary)
        assertInputError(65, "not UTF-8") { _ = try CredentialInput.fromFile(binary.path) }
        if getuid() != 0 {
            let locked = try temporaryFile("EAAFAKE", name: "locked.txt")
            try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: locked.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: locked.path) }
            assertInputError(66, "cannot read the token file") { _ = try CredentialInput.fromFile(locked.path) }
        }
    }

    func testDurationsAndScopes() throws {
        XCTAssertEqual(try CredentialInput.duration("7d"), 604_800)
        XCTAssertEqual(try CredentialInput.duration("36h"), 129_600)
        XCTAssertEqual(try CredentialInput.duration("90m"), 5_400)
        XCTAssertEqual(try CredentialInput.duration("3600"), 3_600)
        XCTAssertEqual(try CredentialInput.duration("2w"), 1_209_600)
        XCTAssertEqual(try CredentialInput.duration("0"), 0)
        for bad in ["", "d", "-1d", "7 days", "abc", "inf"] {
            assertInputError(64, "--warn-expiry") { _ = try CredentialInput.duration(bad) }
        }
        XCTAssertEqual(CredentialInput.scopes("ads_read, business_management  read_insights"), ["ads_read", "business_management", "read_insights"])
    }

    func testTemplateEncoding() throws {
        // Percent-encoding in a URL, form encoding in a body, JSON escaping in a JSON body.
        let fake = try FakeProvider(["*": .answer(200, [("Content-Type", "application/json")], "{}")])
        let token = #"to ken/+&?=#%"é"#
        let d = try Diag.run("facebook", at: fake.baseURL,
                             credentials: DiagnosisCredentials(token: token, clientID: "55500&01", clientSecret: "s e/c"))
        let debug = try XCTUnwrap(fake.requests.first { $0.pathOnly == "/v23.0/debug_token" })
        XCTAssertEqual(debug.path, "/v23.0/debug_token?input_token=to%20ken%2F%2B%26%3F%3D%23%25%22%C3%A9&access_token=55500%2601|s%20e%2Fc")
        XCTAssertEqual(d.probes.count, 5)
        let json = try FakeProvider(["*": .answer(200, [("Content-Type", "application/json")], "{}")])
        _ = try Diag.run("hubspot", at: json.baseURL, credentials: DiagnosisCredentials(token: #"pat-na1-back\slash"#))
        let info = try XCTUnwrap(json.requests.first { $0.method == "POST" })
        XCTAssertEqual(String(decoding: info.body, as: UTF8.self), #"{"tokenKey": "pat-na1-back\\slash"}"#)
    }
}
