import XCTest
import EvidenceModel
@testable import RuleEngine

/// Tests that should pass per docs/RULES.md and DESIGN.md but fail against the current sources.
final class RuleEngineKnownBugsTests: XCTestCase {
    /// Equality is by value ("190" equals 190, and so does "190.0"), and the scan agrees; the index keys
    /// numeric strings with Int(s) only, so "190.0" and " 190" (trimmed by numberValue) get other keys.
    /// Input rule `body.error.code: 190`, fact body.error.code = "190.0" / " 190".
    /// Expected matches() == matchesScanningAll() == [rule]. Actual: matches() is empty.
    func testIndexAgreesWithScanForNumericStrings() {
        let set = RuleTestSupport.ruleSet(RuleTestSupport.ruleYAML(id: "t.code", when: "  body.error.code: 190"))
        for value in ["190.0", " 190", "1.9e2"] {
            let facts = Facts(["body.error.code": .string(value)])
            XCTAssertEqual(set.matchesScanningAll(facts), ["t.code"], value)
            XCTAssertEqual(set.matches(facts).map(\.rule.id), set.matchesScanningAll(facts), "index disagrees for \"\(value)\"")
        }
    }

    /// `provider: myspace` is reported, but the same typo inside `in:` or `equals:` is not, so the rule
    /// silently never matches. Expected one issue "unknown provider 'myspace'" at the value's line.
    /// Actual: no issue.
    func testUnknownProviderInsideOperatorsIsReported() {
        for when in ["  provider: { in: [facebook, myspace] }", "  provider: { equals: myspace }"] {
            var loader = RuleLoader()
            loader.load(yaml: RuleTestSupport.ruleYAML(when: when), file: "rules/p.yaml")
            XCTAssertTrue(loader.issues.contains { $0.line == 5 && $0.message.contains("unknown provider 'myspace'") },
                          "\(when): \(loader.issues)")
        }
    }

    /// docs/RULES.md: "`configuration`, `network-policy`, `subscription`, `token-missing`, link states →
    /// engineer"; DESIGN.md lists session-unfinished among the authorization-link states.
    /// Expected defaultActor("session-unfinished") == "engineer". Actual "client".
    func testSessionUnfinishedDefaultsToEngineer() {
        XCTAssertEqual(Vocabulary.defaultActor(for: "session-unfinished"), "engineer")
    }
}
