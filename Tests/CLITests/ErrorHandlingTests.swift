import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// DESIGN.md: bad input gets a one-line error saying what and where, and a sysexits status.
final class ErrorHandlingTests: XCTestCase {
    func testUnknownProvider() throws {
        let result = try CLI.run(["classify", "--text", "Token has been expired or revoked.", "--provider", "myspace"])
        assertOneLineError(result, status: 64, mentions: ["myspace", "unknown provider"])
        XCTAssertTrue(result.stderrText.contains("google"), "the known providers are listed")
    }

    func testMissingFile() throws {
        let path = "/nonexistent-\(UUID().uuidString)/error.http"
        assertOneLineError(try CLI.run(["classify", "--response", path]), status: 66, mentions: [path, "no such file"])
        assertOneLineError(try CLI.run(["classify", "--har", path]), status: 66, mentions: [path])
        assertOneLineError(try CLI.run(["classify", "--batch", path]), status: 66, mentions: [path])
        let dir = try makeTemporaryDirectory(self)
        assertOneLineError(try CLI.run(["classify", "--response", dir.path]), status: 66, mentions: [dir.path, "directory"])
    }

    func testMalformedResponseNamesFileAndLine() throws {
        let dir = try makeTemporaryDirectory(self)
        let noStatus = try write("Unauthorized\nthe token is bad\n", to: dir, "no-status.http")
        assertOneLineError(try CLI.run(["classify", "--response", noStatus.path]), status: 65,
                           mentions: [noStatus.path + ":1:", "status line"])
        // A broken header line: named by its line, and the secret on it is not echoed.
        let badHeader = try write("HTTP/1.1 401 Unauthorized\nContent-Type: application/json\nBearer ya29.FAKEheaderLINE0042\n\n{}\n",
                                  to: dir, "bad-header.http")
        let result = try CLI.run(["classify", "--response", badHeader.path])
        assertOneLineError(result, status: 65, mentions: [badHeader.path + ":3:", "header"])
        XCTAssertFalse(result.stderrText.contains("FAKEheaderLINE0042"), result.summary)
        assertOneLineError(try CLI.run(["classify", "--response", "-"], stdin: "garbage\n"), status: 65, mentions: ["stdin:1:"])
    }

    func testMalformedHAR() throws {
        let dir = try makeTemporaryDirectory(self)
        let truncated = try write("{\"log\": {\"entries\": [\n", to: dir, "truncated.har")
        assertOneLineError(try CLI.run(["classify", "--har", truncated.path]), status: 65, mentions: [truncated.path, "HAR", "invalid JSON"])
        let noEntries = try write("{\"log\": {\"version\": \"1.2\"}}", to: dir, "no-entries.har")
        assertOneLineError(try CLI.run(["classify", "--har", noEntries.path]), status: 65, mentions: [noEntries.path, "log.entries"])
        let notHAR = try write("[1, 2]", to: dir, "array.har")
        assertOneLineError(try CLI.run(["classify", "--har", notHAR.path]), status: 65, mentions: [notHAR.path, "HAR"])
        let badEntry = try write("{\"log\": {\"entries\": [{\"request\": {\"url\": \"https://x\"}}]}}", to: dir, "entry.har")
        assertOneLineError(try CLI.run(["classify", "--har", badEntry.path]), status: 65, mentions: [badEntry.path, "entries[0]"])
    }

    func testNonUTF8AndEmptyInput() throws {
        let dir = try makeTemporaryDirectory(self)
        let binary = dir.appendingPathComponent("latin1.http")
        try Data([0x48, 0x54, 0x54, 0x50, 0x2F, 0x31, 0x2E, 0x31, 0x20, 0x34, 0x30, 0x31, 0x0A, 0x0A, 0xFF, 0xFE, 0x0A]).write(to: binary)
        assertOneLineError(try CLI.run(["classify", "--response", binary.path]), status: 65, mentions: [binary.path, "UTF-8"])
        assertOneLineError(try CLI.run(["classify", "--text", ""]), status: 65, mentions: ["empty"])
        assertOneLineError(try CLI.run(["classify", "--text", "-"], stdin: "  \n"), status: 65, mentions: ["stdin", "empty"])
    }

    func testUsageErrors() throws {
        let fixture = CLI.fixture("facebook/190-463-session-expired.http")
        assertOneLineError(try CLI.run(["classify", "--response", fixture, "--har", fixture]), status: 64, mentions: ["only one of"])
        assertOneLineError(try CLI.run(["classify", "--text", "x", "--batch", fixture]), status: 64, mentions: ["only one of"])
        assertOneLineError(try CLI.run(["classify"]), status: 64, mentions: ["nothing to classify"])
        assertOneLineError(try CLI.run(["classify", "--text", "x", "--format", "jsonl"]), status: 64, mentions: ["jsonl", "--batch"])
        assertOneLineError(try CLI.run(["classify", "--batch", fixture, "--format", "markdown"]), status: 64, mentions: ["--batch", "jsonl"])
        assertOneLineError(try CLI.run(["classify", "--curl-exit", "999"]), status: 64, mentions: ["--curl-exit", "999"])
        assertOneLineError(try CLI.run(["classify", "--curl-exit", "6", "--response", fixture]), status: 64, mentions: ["--curl-exit"])
        assertOneLineError(try CLI.run(["classify", "--text", "x", "--format", "yaml"]), status: 64, mentions: ["yaml"])
        assertOneLineError(try CLI.run(["frobnicate"]), status: 64, mentions: ["frobnicate"])
    }

    func testUnknownFlag() throws {
        assertOneLineError(try CLI.run(["classify", "--text", "x", "--bogus"]), status: 64, mentions: ["--bogus"])
        assertOneLineError(try CLI.run(["--bogus"]), status: 64, mentions: ["--bogus"])
        assertOneLineError(try CLI.run(["rules", "list", "--bogus"]), status: 64, mentions: ["--bogus"])
        assertOneLineError(try CLI.run(["classify", "--text"]), status: 64, mentions: ["--text"])
        // Reported as the unknown option even when no input is given (was "nothing to classify" before cf67add).
        assertOneLineError(try CLI.run(["classify", "--bogus"]), status: 64, mentions: ["--bogus"])
    }

    func testRuleProblemsStopClassify() throws {
        let root = try makeTemporaryDirectory(self)
        let rules = try LocalRules.make(in: root, extra: ["bad.yaml": LocalRules.badRule])
        let result = try CLI.run(["classify", "--curl-exit", "6", "--no-builtin-rules", "--rules", rules.path])
        assertOneLineError(result, status: 78, mentions: ["rules/bad.yaml:", "rules lint"])
        XCTAssertNotNil(result.stderrText.range(of: #"rules/bad\.yaml:(7|10): "#, options: .regularExpression), result.summary)

        assertOneLineError(try CLI.run(["classify", "--curl-exit", "6", "--rules", "/nonexistent-rules-dir"]), status: 66,
                           mentions: ["/nonexistent-rules-dir"])
        let empty = try makeTemporaryDirectory(self)
        assertOneLineError(try CLI.run(["classify", "--curl-exit", "6", "--no-builtin-rules", "--rules", empty.path]), status: 64,
                           mentions: ["no rules"])
    }
}
