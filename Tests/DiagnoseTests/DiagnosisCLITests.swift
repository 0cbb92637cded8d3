import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import XCTest

/// `authdoctor diagnose` as a process: exit statuses, one-line errors, nothing secret on any stream.
final class DiagnosisCLITests: XCTestCase {
    static let token = "cliUserToken5T7yU9"
    static let secret = "cliAppSecret2P4oI6"

    func binary() throws -> URL {
        let url = TestPaths.authdoctorBinary
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw XCTSkip("no built authdoctor at \(url.path)") }
        let help = try ProcessRunner.run(url, ["diagnose", "--help"], timeout: 60)
        guard help.status == 0 else { throw XCTSkip("this authdoctor has no `diagnose` subcommand yet") }
        return url
    }

    func run(_ arguments: [String], environment: [String: String?] = [:], stdin: String? = nil) throws -> ProcessResult {
        let result = try ProcessRunner.run(try binary(), arguments, stdin: stdin.map { Data($0.utf8) },
                                           environment: environment, timeout: 60)
        XCTAssertFalse(result.timedOut, result.summary)
        XCTAssertFalse(result.signaled, result.summary)
        for secret in [Self.token, Self.secret] {
            XCTAssertFalse(result.stdoutText.contains(secret), "secret on stdout: \(result.summary)")
            XCTAssertFalse(result.stderrText.contains(secret), "secret on stderr: \(result.summary)")
        }
        return result
    }

    func assertOneLine(_ r: ProcessResult, _ status: Int32, _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.summary, file: file, line: line)
        XCTAssertEqual(r.stdoutText, "", r.summary, file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, r.summary, file: file, line: line)
        XCTAssertTrue(r.stderrText.hasPrefix("authdoctor: "), r.summary, file: file, line: line)
        XCTAssertTrue(r.stderrText.contains(needle), "'\(needle)' in \(r.stderrText)", file: file, line: line)
    }

    var env: [String: String?] { ["FB_TOKEN": Self.token, "FB_SECRET": Self.secret] }

    func facebook(_ fake: FakeProvider, _ extra: [String] = []) -> [String] {
        ["diagnose", "--provider", "facebook", "--token-env", "FB_TOKEN", "--client-id", "5550001112223",
         "--client-secret-env", "FB_SECRET", "--base-url", "facebook=\(fake.baseURL)"] + extra
    }

    func testExitStatusesFollowTheVerdict() throws {
        let healthy = try FakeProvider(DiagnosisRunnerTests.fbHealthy)
        let ok = try run(facebook(healthy, ["--format", "json"]), environment: env)
        XCTAssertEqual(ok.status, 0, ok.summary)
        XCTAssertEqual(ok.stderrText, "")
        let doc = try assertConformsToReportSchema(ok.stdoutText, "diagnose --format json")
        XCTAssertEqual(doc["verdict"], .string("ok"))
        XCTAssertEqual(doc["input"]?["kind"], .string("probe"))
        XCTAssertEqual(doc["probes"]?.arrayValue?.count, 5)

        let warning = try run(facebook(healthy, ["--warn-expiry", "36500d", "--format", "brief"]), environment: env)
        XCTAssertEqual(warning.status, 1, warning.summary)
        XCTAssertTrue(warning.stdoutText.hasPrefix("expiry\tapi-token\t"), warning.stdoutText)

        let expired = try FakeProvider(["*": .fixture("facebook/190-463-session-expired.http")])
        let failure = try run(facebook(expired, ["--format", "markdown"]), environment: env)
        XCTAssertEqual(failure.status, 2, failure.summary)
        XCTAssertTrue(failure.stdoutText.contains("#### Probes"), failure.stdoutText)

        let teapot = try FakeProvider(["*": .answer(418, [("Content-Type", "application/octet-stream")], "")])
        let unknown = try run(facebook(teapot), environment: env)
        XCTAssertEqual(unknown.status, 3, unknown.summary)
        XCTAssertTrue(unknown.stdoutText.contains("probes:"), unknown.stdoutText)
    }

    func testTheTokenCanComeFromAFileOrStandardInput() throws {
        let fake = try FakeProvider(DiagnosisRunnerTests.fbHealthy)
        let file = try temporaryFile(Self.token + "\n", name: "token.txt")
        let fromFile = try run(["diagnose", "--provider", "facebook", "--token-file", file.path, "--base-url", "facebook=\(fake.baseURL)"])
        XCTAssertEqual(fromFile.status, 0, fromFile.summary)
        let fromStdin = try run(["diagnose", "--provider", "facebook", "--token-file", "-", "--base-url", "facebook=\(fake.baseURL)",
                                 "--show-facts"], stdin: Self.token + "\n")
        XCTAssertEqual(fromStdin.status, 0, fromStdin.summary)
        XCTAssertTrue(fromStdin.stdoutText.contains("me:http.status = 200"), fromStdin.stdoutText)
        XCTAssertTrue(fake.requests.allSatisfy { $0.header("authorization") == nil || $0.header("authorization") == "Bearer \(Self.token)" })
    }

    func testBadInputIsOneLineWithASysexitsStatus() throws {
        assertOneLine(try run(["diagnose", "--provider", "myspace", "--token-env", "FB_TOKEN"], environment: env), 64, "unknown provider 'myspace'")
        assertOneLine(try run(["diagnose", "--token-env", "FB_TOKEN"], environment: env), 64, "needs --provider")
        assertOneLine(try run(["diagnose", "--provider", "facebook"]), 64, "needs an access token")
        assertOneLine(try run(["diagnose", "--provider", "facebook", "--token-env", "NOT_SET_ANYWHERE"], environment: ["NOT_SET_ANYWHERE": nil]),
                      64, "environment variable NOT_SET_ANYWHERE is not set")
        assertOneLine(try run(["diagnose", "--provider", "facebook", "--token-file", "/nonexistent/token"]), 66, "no such token file")
        assertOneLine(try run(["diagnose", "--provider", "facebook", "--token-env", "FB_TOKEN", "--base-url", "facebook"], environment: env),
                      64, "bad --base-url")
        assertOneLine(try run(["diagnose", "--provider", "facebook", "--token-env", "FB_TOKEN", "--base-url", "graph=http://127.0.0.1:1"], environment: env),
                      64, "'graph' is no base URL of facebook")
        assertOneLine(try run(["diagnose", "--provider", "facebook", "--token-env", "FB_TOKEN", "--base-url", "facebook=http://u:\(Self.secret)@h"], environment: env),
                      64, "bad --base-url")
        assertOneLine(try run(["diagnose", "--provider", "facebook", "--token-env", "FB_TOKEN", "--warn-expiry", "soon"], environment: env),
                      64, "--warn-expiry")
        assertOneLine(try run(["diagnose", "--provider", "facebook", "--token-env", "FB_TOKEN", "--token-file", "x"], environment: env),
                      64, "only one of --token-env, --token-file")
        assertOneLine(try run(["diagnose", "--provider", "google-ads", "--token-env", "FB_TOKEN"], environment: env), 64, "developer token")
    }

    func testABlackHoleCostsAtMostTheTimeout() throws {
        let fake = try FakeProvider(["*": .blackHole])
        let start = Date()
        let r = try run(facebook(fake, ["--timeout", "1"]), environment: env)
        XCTAssertLessThan(Date().timeIntervalSince(start), 4, r.summary)
        // A timeout is transient: the transport rules rank it a warning (exit 1), not a failure.
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stdoutText.contains("connectivity"), r.stdoutText)
    }
}
