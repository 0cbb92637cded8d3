import XCTest
import EvidenceModel
@testable import RuleEngine

/// Small rule sets written inline, for tests that must not depend on rules/.
enum RuleTestSupport {
    static let catalog = """
    remediations:
      - id: fix
        title: Fix it
        doc: none
        steps: [First do this., Then check that.]
      - id: other
        title: Other fix
        doc: none
        steps: [Step one., Step two.]
      - id: test-connection-manually
        title: Test by hand
        doc: fix-authentication-errors 2.1
        steps: [Connect with a client., Compare the answer.]
      - id: review-api-docs
        title: Read the docs
        doc: fix-authentication-errors 3.3
        steps: [Open the reference., Compare the flow.]
    """

    /// Loads rule YAML files beside the small catalog; returns the set and every issue.
    static func assemble(_ files: [(String, String)]) -> (RuleSet, [LintIssue]) {
        RuleLibrary.assemble([[SourceFile(path: "rules/remediations.yaml", text: catalog)]
                              + files.map { SourceFile(path: $0.0, text: $0.1) }])
    }

    /// A rule set that must load cleanly.
    static func ruleSet(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) -> RuleSet {
        let (set, issues) = assemble([("rules/test.yaml", yaml)])
        XCTAssertEqual(issues.map(\.description), [], file: file, line: line)
        return set
    }

    /// One rule whose `when` holds the given YAML lines (already indented by two spaces).
    static func ruleYAML(id: String = "t.rule", failure: String = "credentials", when: String) -> String {
        """
        id: \(id)
        category: source
        failure: \(failure)
        when:
        \(when)
        summary: Test rule.
        remediation: [fix]
        """
    }
}
