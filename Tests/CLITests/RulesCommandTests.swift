import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

final class RulesCommandTests: XCTestCase {
    /// The closing line's count ("rules test: 2 passed, 0 failed" → "2 passed, 0 failed"), whatever its label.
    static func tally(_ line: String) -> String {
        guard let range = line.range(of: #"[0-9]+ passed, [0-9]+ failed$"#, options: .regularExpression) else { return line }
        return String(line[range])
    }

    /// The repository's rules pass their own examples (this failed with 5 failures at commit 3cd8b51).
    func testRepositoryRulesPassTheirExamples() throws {
        let result = try CLI.run(["rules", "test"] + CLI.repoRules)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.stderrText, "")
        let last = result.stdoutLines.last ?? ""
        XCTAssertNotNil(last.range(of: #"(^|: )[1-9][0-9]* passed, 0 failed$"#, options: .regularExpression), result.summary)
        XCTAssertEqual(result.stdoutLines.filter { $0.hasPrefix("FAIL ") }, [])
        let passed = Int(Self.tally(last).split(separator: " ")[0]) ?? 0
        XCTAssertGreaterThan(passed, 100, "every rule's examples ran")
    }

    func testLintReportsFileAndLine() throws {
        let root = try makeTemporaryDirectory(self)
        let rules = try LocalRules.make(in: root, extra: ["bad.yaml": LocalRules.badRule])
        let result = try CLI.run(["rules", "lint", "--no-builtin-rules", "--rules", rules.path])
        XCTAssertEqual(result.status, 78, result.summary)
        XCTAssertEqual(result.stderrText, "", "problems go to stdout, one a line")
        let lines = result.stdoutLines
        XCTAssertTrue(lines.contains("rules/bad.yaml:7: bad regular expression '(unclosed'"), result.summary)
        XCTAssertTrue(lines.contains { $0.hasPrefix("rules/bad.yaml:10: unknown key 'colour'") }, result.summary)
        for line in lines.dropLast() {
            XCTAssertNotNil(line.range(of: #"^[^:\s]+\.yaml:[0-9]+: "#, options: .regularExpression), "FILE:LINE: message — \(line)")
        }
        XCTAssertEqual(lines.last, "2 problem(s)")
    }

    func testLintCleanRules() throws {
        let root = try makeTemporaryDirectory(self)
        let rules = try LocalRules.make(in: root)
        let result = try CLI.run(["rules", "lint", "--no-builtin-rules", "--rules", rules.path])
        assertSuccess(result)
        XCTAssertEqual(result.stdoutLines, ["1 rules and 1 remediations: no problems"])
    }

    func testRuleTestPassesOnLocalRules() throws {
        let root = try makeTemporaryDirectory(self)
        let rules = try LocalRules.make(in: root)
        let result = try CLI.run(["rules", "test", "--no-builtin-rules", "--rules", rules.path])
        assertSuccess(result)
        XCTAssertEqual(result.stdoutLines.last.map(Self.tally), "2 passed, 0 failed", result.summary)

        // --fixtures names the fixture folder explicitly.
        let elsewhere = try makeTemporaryDirectory(self)
        try FileManager.default.moveItem(at: root.appendingPathComponent("fixtures"), to: elsewhere.appendingPathComponent("fixtures"))
        let explicit = try CLI.run(["rules", "test", "--no-builtin-rules", "--rules", rules.path,
                                    "--fixtures", elsewhere.appendingPathComponent("fixtures").path])
        assertSuccess(explicit)
        XCTAssertEqual(explicit.stdoutLines.last.map(Self.tally), "2 passed, 0 failed", explicit.summary)
    }

    func testRuleTestFailsWhenAnExampleDoesNotMatch() throws {
        let root = try makeTemporaryDirectory(self)
        let swapped = LocalRules.goodRule
            .replacingOccurrences(of: "match: [generic/401.http]", with: "match: [generic/500.http]")
            .replacingOccurrences(of: "no-match: [generic/500.http]", with: "no-match: [generic/401.http]")
        XCTAssertNotEqual(swapped, LocalRules.goodRule)
        let rules = try LocalRules.make(in: root, extra: ["good.yaml": swapped])
        let result = try CLI.run(["rules", "test", "--no-builtin-rules", "--rules", rules.path])
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertTrue(result.stdoutLines.contains("FAIL rules/good.yaml:1: local.unauthorized: should match generic/500.http but does not"), result.summary)
        XCTAssertTrue(result.stdoutLines.contains("FAIL rules/good.yaml:1: local.unauthorized: should not match generic/401.http but does"), result.summary)
        XCTAssertEqual(result.stdoutLines.last.map(Self.tally), "0 passed, 2 failed", result.summary)

        // A missing example fixture is a failure too.
        let missing = LocalRules.goodRule.replacingOccurrences(of: "match: [generic/401.http]", with: "match: [generic/absent.http]")
        let other = try makeTemporaryDirectory(self)
        let rules2 = try LocalRules.make(in: other, extra: ["good.yaml": missing])
        let result2 = try CLI.run(["rules", "test", "--no-builtin-rules", "--rules", rules2.path])
        XCTAssertEqual(result2.status, 1, result2.summary)
        XCTAssertTrue(result2.stdoutText.contains("generic/absent.http"), result2.summary)
    }

    func testListShowsRuleIds() throws {
        let builtin = try CLI.run(["rules", "list"])
        assertSuccess(builtin)
        let lines = builtin.stdoutLines
        for id in ["facebook.token.session-expired", "transport.dns.unresolved", "postgres.auth.password-failed"] {
            XCTAssertTrue(lines.contains { $0.hasPrefix(id + " ") }, "lists \(id)")
        }
        let last = try XCTUnwrap(lines.last)
        let match = try XCTUnwrap(last.range(of: #"^[0-9]+ rules, [0-9]+ remediations$"#, options: .regularExpression), last)
        XCTAssertFalse(match.isEmpty)
        let count = Int(last.split(separator: " ")[0]) ?? 0
        XCTAssertEqual(count, lines.count - 1, "one line per rule")
        XCTAssertGreaterThan(count, 20)
        let ids = lines.dropLast().map { String($0.split(separator: " ")[0]) }
        XCTAssertEqual(ids, ids.sorted(), "sorted by id")

        let json = try CLI.run(["rules", "list", "--format", "json"])
        assertSuccess(json)
        let items = try XCTUnwrap(JSON.parse(json.stdoutText).arrayValue)
        XCTAssertEqual(items.count, count)
        XCTAssertEqual(Set(items.compactMap { $0["id"]?.stringValue }), Set(ids))

        let root = try makeTemporaryDirectory(self)
        let local = try CLI.run(["rules", "list", "--no-builtin-rules", "--rules", LocalRules.make(in: root).path])
        assertSuccess(local)
        XCTAssertEqual(local.stdoutLines.count, 2)
        guard local.stdoutLines.count == 2 else { return }
        XCTAssertTrue(local.stdoutLines[0].hasPrefix("local.unauthorized  credentials "), local.summary)
        XCTAssertTrue(local.stdoutLines[0].hasSuffix("rules/good.yaml:1"), local.summary)
        XCTAssertEqual(local.stdoutLines[1], "1 rules, 1 remediations")
    }
}
