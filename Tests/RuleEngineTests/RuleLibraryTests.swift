import XCTest
import EvidenceModel
@testable import RuleEngine

final class RuleLibraryTests: XCTestCase {
    private func rule(_ id: String, summary: String = "s", remediation: String = "[fix]", failure: String = "expiry") -> String {
        "id: \(id)\ncategory: source\nfailure: \(failure)\nwhen:\n  http.status: 401\nsummary: \(summary)\nremediation: \(remediation)\n"
    }

    func testDuplicateRuleId() {
        let (set, issues) = RuleTestSupport.assemble([
            ("rules/a.yaml", rule("dup.id", summary: "first")),
            ("rules/b.yaml", "# comment\n" + rule("dup.id", summary: "second")),
        ])
        XCTAssertEqual(issues.count, 1, "\(issues)")
        XCTAssertEqual(issues.first?.file, "rules/b.yaml")
        XCTAssertEqual(issues.first?.line, 2)
        XCTAssertEqual(issues.first?.message, "duplicate rule id 'dup.id' (first at rules/a.yaml:1)")
        XCTAssertEqual(set.rules.map(\.id), ["dup.id"])
        XCTAssertEqual(set.rules.first?.summary, "first")
    }

    func testDuplicateInsideOneFile() {
        let yaml = "rules:\n" + [rule("same.id"), rule("same.id")].map { r in
            r.split(separator: "\n").enumerated().map { $0.offset == 0 ? "  - " + $0.element : "    " + $0.element }.joined(separator: "\n")
        }.joined(separator: "\n") + "\n"
        let (_, issues) = RuleTestSupport.assemble([("rules/one.yaml", yaml)])
        XCTAssertEqual(issues.map(\.description), ["rules/one.yaml:9: duplicate rule id 'same.id' (first at rules/one.yaml:2)"])
    }

    func testUnknownRemediationId() {
        let (_, issues) = RuleTestSupport.assemble([("rules/x.yaml", "\n\n" + rule("x.rule", remediation: "[fix, nope]"))])
        XCTAssertEqual(issues.count, 1, "\(issues)")
        XCTAssertEqual(issues.first?.file, "rules/x.yaml")
        XCTAssertEqual(issues.first?.line, 3)
        XCTAssertEqual(issues.first?.message, "rule 'x.rule' names unknown remediation 'nope'")
    }

    func testLaterLayerReplacesRulesAndRemediations() throws {
        let base: [SourceFile] = [
            SourceFile(path: "rules/remediations.yaml", text: RuleTestSupport.catalog),
            SourceFile(path: "rules/a.yaml", text: rule("keep.me", summary: "kept")),
            SourceFile(path: "rules/b.yaml", text: rule("replace.me", summary: "old")),
        ]
        let local: [SourceFile] = [
            SourceFile(path: "local/b.yaml", text: rule("replace.me", summary: "new", failure: "revoked")),
            SourceFile(path: "local/r.yaml", text: "remediations:\n  - id: fix\n    title: Local fix\n    doc: none\n    steps: [a, b]\n"),
        ]
        let (set, issues) = RuleLibrary.assemble([base, local])
        XCTAssertEqual(issues, [])
        XCTAssertEqual(set.rules.map(\.id), ["keep.me", "replace.me"])
        let replaced = try XCTUnwrap(set.rule(id: "replace.me"))
        XCTAssertEqual(replaced.summary, "new")
        XCTAssertEqual(replaced.failure, "revoked")
        XCTAssertEqual(replaced.file, "local/b.yaml")
        XCTAssertEqual(set.remediations["fix"]?.title, "Local fix")
        XCTAssertEqual(set.remediations["other"]?.title, "Other fix")
        XCTAssertEqual(set.remediationOrder.filter { $0 == "fix" }.count, 1)
    }

    func testIssuesOfEveryLayerAreKept() {
        let (_, issues) = RuleLibrary.assemble([
            [SourceFile(path: "rules/remediations.yaml", text: RuleTestSupport.catalog), SourceFile(path: "rules/a.yaml", text: "category: nope\n")],
            [SourceFile(path: "local/b.yaml", text: rule("b.rule").replacingOccurrences(of: "failure: expiry", with: "failure: nope"))],
        ])
        XCTAssertTrue(issues.contains { $0.file == "rules/a.yaml" && $0.message.contains("unknown category 'nope'") }, "\(issues)")
        XCTAssertTrue(issues.contains { $0.file == "local/b.yaml" && $0.line == 3 && $0.message.contains("unknown failure 'nope'") }, "\(issues)")
    }

    func testMissingDirectory() {
        do {
            _ = try RuleLibrary.load(includeBuiltin: false, directories: ["/nonexistent/authdoctor-rules"])
            XCTFail("a missing directory loaded")
        } catch {
            XCTAssertEqual(error.kind, .noInput)
            XCTAssertEqual(error.place, "/nonexistent/authdoctor-rules")
            XCTAssertEqual(error.exitCode, 66)
        }
    }

    func testRuleFilesSkipProvidersAndHiddenFiles() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-rules-\(UUID().uuidString)")
        let rules = root.appendingPathComponent("myrules")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: rules.appendingPathComponent("providers"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: rules.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try rule("a.rule").write(to: rules.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try rule("b.rule").write(to: rules.appendingPathComponent("sub/b.yml"), atomically: true, encoding: .utf8)
        try "id: p".write(to: rules.appendingPathComponent("providers/p.yaml"), atomically: true, encoding: .utf8)
        try "x".write(to: rules.appendingPathComponent(".hidden.yaml"), atomically: true, encoding: .utf8)
        try "x".write(to: rules.appendingPathComponent("notes.md"), atomically: true, encoding: .utf8)
        let files = try RuleLibrary.ruleFiles(in: rules.path)
        XCTAssertEqual(files.map(\.path), ["myrules/a.yaml", "myrules/sub/b.yml"])

        try "HTTP/1.1 401 Unauthorized\r\n\r\n".write(to: rules.appendingPathComponent("sub/case.http"), atomically: true, encoding: .utf8)
        let fixtures = try RuleLibrary.fixtures(in: rules.path)
        XCTAssertEqual(fixtures.keys.sorted(), ["sub/case.http"])
    }
}
