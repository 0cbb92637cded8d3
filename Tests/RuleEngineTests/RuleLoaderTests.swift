import XCTest
import EvidenceModel
@testable import RuleEngine

final class RuleLoaderTests: XCTestCase {
    let file = "rules/demo/t.yaml"

    /// A valid rule; lines 1–8.
    let base = """
    id: demo.rule
    category: api-token
    failure: expiry
    severity: error
    when:
      http.status: 401
    summary: Token expired.
    remediation: [fix]

    """

    private func load(_ yaml: String) -> RuleLoader {
        var loader = RuleLoader()
        loader.load(yaml: yaml, file: file)
        return loader
    }

    /// Asserts the YAML gives exactly one issue, at `line`, whose message contains `fragment`.
    private func assertIssue(_ yaml: String, line expectedLine: Int, _ fragment: String, count: Int = 1,
                             file: StaticString = #filePath, line: UInt = #line) {
        let issues = load(yaml).issues
        XCTAssertEqual(issues.count, count, "issues: \(issues)", file: file, line: line)
        guard let issue = issues.first(where: { $0.message.contains(fragment) }) else {
            return XCTFail("no issue contains \"\(fragment)\": \(issues)", file: file, line: line)
        }
        XCTAssertEqual(issue.file, self.file, file: file, line: line)
        XCTAssertEqual(issue.line, expectedLine, "\(issue)", file: file, line: line)
        XCTAssertEqual(issue.description, "\(self.file):\(expectedLine): \(issue.message)", file: file, line: line)
    }

    /// The base rule with one line replaced (1-based), or a line inserted before it.
    private func replacing(_ lineNumber: Int, with text: String) -> String {
        var lines = base.components(separatedBy: "\n")
        lines[lineNumber - 1] = text
        return lines.joined(separator: "\n")
    }

    private func removing(_ prefix: String) -> String {
        "# leading comment\n# another\n" + base.components(separatedBy: "\n").filter { !$0.hasPrefix(prefix) }.joined(separator: "\n")
    }

    // MARK: - Valid input

    func testBaseRuleLoads() throws {
        let loader = load(base)
        XCTAssertEqual(loader.issues, [])
        let rule = try XCTUnwrap(loader.rules.first)
        XCTAssertEqual(rule.id, "demo.rule")
        XCTAssertEqual(rule.category, "api-token")
        XCTAssertEqual(rule.failure, "expiry")
        XCTAssertEqual(rule.severity, "error")
        XCTAssertEqual(rule.summary, "Token expired.")
        XCTAssertEqual(rule.remediation, ["fix"])
        XCTAssertFalse(rule.fallback)
        XCTAssertNil(rule.actor)
        XCTAssertNil(rule.transient)
        XCTAssertEqual(rule.file, file)
        XCTAssertEqual(rule.line, 1)
        XCTAssertEqual(rule.place, "\(file):1")
        XCTAssertEqual(rule.when.all.count, 1)
        XCTAssertEqual(rule.when.all.first?.fact, "http.status")
        XCTAssertEqual(rule.when.all.first?.line, 6)
    }

    func testFullRuleWithEveryOptionalKey() throws {
        let yaml = """
        rules:
          - id: demo.full
            category: link
            failure: link-expired
            severity: info
            confidence: 0.7
            fallback: true
            actor: provider
            transient: true
            description: Long text.
            references: [https://example.com]
            tags: [demo]
            when:
              provider: facebook
              link.state: { in: [expired, used] }
              text: { matches: "(?i)expired", contains: expired }
              retry_after: { gt: 1, gte: 2, lt: 10, lte: 9 }
              scopes.missing: { exists: true }
              any:
                - http.status: 401
                - body.error.code: { equals: "190" }
              not:
                - message: { contains: ok }
            summary: "Missing {scopes.missing} for {provider}"
            remediation: [fix, other]
            examples:
              match: [facebook/a.http]
              no-match: [facebook/b.http, facebook/c.http]
          - id: demo.second
            category: source
            failure: outage
            when: { http.status: { gte: 500 } }
            summary: Down.
            remediation: [other]
        """
        let loader = load(yaml)
        XCTAssertEqual(loader.issues, [])
        XCTAssertEqual(loader.rules.map(\.id), ["demo.full", "demo.second"])
        let rule = loader.rules[0]
        XCTAssertEqual(rule.line, 2)
        XCTAssertEqual(loader.rules[1].line, 29)
        XCTAssertEqual(rule.confidence, 0.7)
        XCTAssertTrue(rule.fallback)
        XCTAssertEqual(rule.actor, "provider")
        XCTAssertEqual(rule.transient, true)
        XCTAssertEqual(rule.severity, "info")
        XCTAssertEqual(rule.when.all.count, 1 + 1 + 2 + 4 + 1)
        XCTAssertEqual(rule.when.any.count, 2)
        XCTAssertEqual(rule.when.not.count, 1)
        XCTAssertEqual(rule.examples.match, ["facebook/a.http"])
        XCTAssertEqual(rule.examples.noMatch, ["facebook/b.http", "facebook/c.http"])
        XCTAssertEqual(loader.rules[1].severity, "error")
    }

    func testDerivedConfidenceGrowsWithSpecificity() {
        let one = load(RuleTestSupport.ruleYAML(id: "a.one", when: "  http.status: 401")).rules.first
        let three = load(RuleTestSupport.ruleYAML(id: "a.three", when: "  http.status: 401\n  provider: google\n  message: { contains: x }")).rules.first
        let fallback = load(RuleTestSupport.ruleYAML(id: "a.fb", when: "  http.status: 401").replacingOccurrences(of: "summary:", with: "fallback: true\nsummary:")).rules.first
        guard let one, let three, let fallback else { return XCTFail("rules did not load") }
        XCTAssertGreaterThan(three.confidence, one.confidence)
        XCTAssertLessThanOrEqual(three.confidence, 0.95)
        XCTAssertLessThan(fallback.confidence, one.confidence)
        XCTAssertLessThanOrEqual(fallback.confidence, 0.45)
    }

    func testRemediationCatalogLoads() throws {
        let loader = load("""
        remediations:
          - id: fix
            title: Fix it
            doc: fix-authentication-errors 1.1
            covers: ["fix-authentication-errors 1.1: Verify credentials"]
            issues-link: true
            steps:
              - One.
              - Two.
        """)
        XCTAssertEqual(loader.issues, [])
        let remediation = try XCTUnwrap(loader.remediations.first)
        XCTAssertEqual(remediation.id, "fix")
        XCTAssertEqual(remediation.title, "Fix it")
        XCTAssertEqual(remediation.doc, "fix-authentication-errors 1.1")
        XCTAssertEqual(remediation.covers, ["fix-authentication-errors 1.1: Verify credentials"])
        XCTAssertTrue(remediation.issuesLink)
        XCTAssertEqual(remediation.steps, ["One.", "Two."])
    }

    // MARK: - File-level errors

    func testInvalidYAMLTab() {
        assertIssue("id: x\nwhen:\n\thttp.status: 401\n", line: 3, "invalid YAML")
    }

    func testInvalidYAMLMappingValue() {
        assertIssue("id: x\ncategory: a: b\nfailure: expiry\n", line: 2, "invalid YAML")
    }

    func testTopLevelNotAMapping() {
        assertIssue("- a\n- b\n", line: 1, "expected a mapping")
        assertIssue("# note\njust text\n", line: 2, "expected a mapping")
    }

    func testRemediationsMustBeAList() {
        assertIssue("remediations:\n  id: x\n", line: 2, "`remediations` must be a list")
    }

    func testRulesMustBeAList() {
        assertIssue("# c\nrules: 5\n", line: 2, "`rules` must be a list")
    }

    func testRuleMustBeAMapping() {
        assertIssue("rules:\n  - just-a-string\n", line: 2, "a rule must be a mapping")
    }

    // MARK: - Rule keys

    func testUnknownKeyInRule() {
        assertIssue(base + "descripton: typo\n", line: 9, "unknown key 'descripton' in rule")
    }

    func testMissingRequiredKeys() {
        assertIssue(removing("id:"), line: 3, "rule is missing 'id'")
        assertIssue(removing("category:"), line: 3, "rule is missing 'category'")
        assertIssue(removing("failure:"), line: 3, "rule is missing 'failure'")
        assertIssue(removing("summary:"), line: 3, "rule is missing 'summary'")
        assertIssue(removing("remediation:"), line: 3, "rule is missing 'remediation'")
    }

    func testMissingWhen() {
        let yaml = "# c\n\nid: demo.rule\ncategory: source\nfailure: expiry\nsummary: s\nremediation: [fix]\n"
        assertIssue(yaml, line: 3, "rule is missing 'when'")
    }

    func testMissingKeyInsideRulesList() {
        let yaml = """
        rules:
          - id: demo.ok
            category: source
            failure: expiry
            when: { http.status: 401 }
            summary: fine
            remediation: [fix]
          - id: demo.bad
            failure: expiry
            when: { http.status: 401 }
            summary: no category
            remediation: [fix]
        """
        assertIssue(yaml, line: 8, "rule is missing 'category'")
        XCTAssertEqual(load(yaml).rules.map(\.id), ["demo.ok"])
    }

    func testEmptyRequiredString() {
        assertIssue(replacing(7, with: "summary: \"\""), line: 7, "'summary' must be a non-empty string")
        assertIssue(replacing(1, with: "id: [a, b]"), line: 1, "'id' must be a non-empty string")
    }

    func testBadIdCharacters() {
        assertIssue(replacing(1, with: "id: Demo.Rule"), line: 1, "rule id 'Demo.Rule' must be lower-case")
        assertIssue(replacing(1, with: "id: demo rule"), line: 1, "rule id 'demo rule' must be lower-case")
    }

    func testUnknownCategory() {
        assertIssue(replacing(2, with: "category: sauce"), line: 2, "unknown category 'sauce'")
    }

    func testUnknownFailure() {
        assertIssue(replacing(3, with: "failure: sadness"), line: 3, "unknown failure 'sadness'")
    }

    func testUnknownSeverity() {
        assertIssue(replacing(4, with: "severity: fatal"), line: 4, "unknown severity 'fatal'")
    }

    func testBadConfidence() {
        assertIssue(base + "confidence: 1.5\n", line: 9, "'confidence' must be a number from 0 to 1")
        assertIssue(base + "confidence: high\n", line: 9, "'confidence' must be a number from 0 to 1")
        XCTAssertEqual(load(base + "confidence: 1\n").rules.first?.confidence, 1)
    }

    func testBadFallbackTransientActor() {
        assertIssue(base + "fallback: maybe\n", line: 9, "'fallback' must be true or false")
        assertIssue(base + "transient: sometimes\n", line: 9, "'transient' must be true or false")
        assertIssue(base + "actor: customer\n", line: 9, "'actor' must be one of client, engineer, provider")
    }

    func testRemediationShape() {
        assertIssue(replacing(8, with: "remediation: fix"), line: 8, "'remediation' must be a list of ids")
        assertIssue(replacing(8, with: "remediation:\n  - fix\n  - { a: 1 }"), line: 10, "remediation ids are strings")
    }

    // MARK: - when

    func testWhenWithoutConditions() {
        assertIssue(replacing(6, with: "  {}").replacingOccurrences(of: "when:\n  {}", with: "when: {}"), line: 5, "'when' has no condition")
    }

    func testWhenNotAMapping() {
        let yaml = replacing(6, with: "  - http.status").replacingOccurrences(of: "when:\n  - http.status", with: "when:\n  - http.status")
        let issues = load(yaml).issues
        XCTAssertTrue(issues.contains { $0.line == 6 && $0.message.contains("'when' must be a mapping of fact names to conditions") }, "\(issues)")
        XCTAssertTrue(issues.allSatisfy { $0.file == file })
    }

    /// The base rule with a valid first condition and `text` from line 7 on.
    private func cond(_ text: String) -> String {
        replacing(6, with: "  http.status: 401\n" + text)
    }

    func testConditionKeyMustBeAFactName() {
        assertIssue(cond("  ? [a, b]\n  : 1"), line: 7, "condition keys are fact names")
    }

    func testAnyAndNotMustBeNonEmptyLists() {
        assertIssue(cond("  any: []"), line: 7, "'any' must be a non-empty list of condition mappings")
        assertIssue(cond("  not: 5"), line: 7, "'not' must be a non-empty list of condition mappings")
    }

    func testUnknownFact() {
        assertIssue(cond("  htp.status: 401"), line: 7, "unknown fact 'htp.status'")
        // Inside an `any` branch, too.
        assertIssue(cond("  any:\n    - bodi.error: x\n    - message: y"), line: 8, "unknown fact 'bodi.error'")
    }

    func testUnknownProvider() {
        assertIssue(cond("  provider: myspace"), line: 7, "unknown provider 'myspace'")
    }

    func testUnknownOperator() {
        assertIssue(cond("  retry_after:\n    gte: 400\n    between: 5"), line: 9, "unknown operator 'between'")
    }

    func testListWithoutOperator() {
        assertIssue(cond("  link.state: [expired, used]"), line: 7, "a list needs an operator: 'link.state: { in: [...] }'")
    }

    func testInTakesAList() {
        assertIssue(cond("  link.state:\n    in: expired"), line: 8, "'in' takes a list")
    }

    func testMatchesTakesAString() {
        assertIssue(cond("  text:\n    matches: [a]"), line: 8, "'matches' takes a regular expression string")
    }

    func testBadRegularExpression() {
        assertIssue(cond("  text:\n    matches: \"(unclosed\""), line: 8, "bad regular expression '(unclosed'")
    }

    func testContainsTakesNonEmptyString() {
        assertIssue(cond("  message:\n    contains: \"\""), line: 8, "'contains' takes a non-empty string")
    }

    func testExistsTakesABool() {
        assertIssue(cond("  scopes.missing:\n    exists: maybe"), line: 8, "'exists' takes true or false")
    }

    func testComparisonTakesANumber() {
        assertIssue(cond("  retry_after:\n    gte: high"), line: 8, "'gte' takes a number")
        assertIssue(cond("  retry_after: { lt: [1] }"), line: 7, "'lt' takes a number")
    }

    // MARK: - examples and summary

    func testUnknownKeyInExamples() {
        assertIssue(base + "examples:\n  match: [a.http]\n  matches: [b.http]\n", line: 11, "unknown key 'matches' in examples")
    }

    func testExamplesMustBeAMapping() {
        assertIssue(base + "examples: [a.http]\n", line: 9, "'examples' must be a mapping")
    }

    func testSummaryWithUnknownFactPlaceholder() {
        assertIssue(replacing(7, with: "summary: \"Missing {scopes.missing}; saw {nope.fact}\""), line: 7, "summary names unknown fact '{nope.fact}'")
    }

    // MARK: - Remediation catalog

    func testRemediationMustBeAMapping() {
        assertIssue("remediations:\n  - just-text\n", line: 2, "a remediation must be a mapping")
    }

    func testUnknownKeyInRemediation() {
        let yaml = "remediations:\n  - id: fix\n    title: T\n    doc: none\n    stepz: [a]\n    steps: [a, b]\n"
        assertIssue(yaml, line: 5, "unknown key 'stepz' in remediation")
        XCTAssertTrue(load(yaml).remediations.isEmpty)
    }

    func testRemediationMissingFields() {
        assertIssue("remediations:\n  - id: fix\n    doc: none\n    steps: [a, b]\n", line: 2, "remediation is missing 'title'")
        assertIssue("remediations:\n  - title: T\n    doc: none\n    steps: [a, b]\n", line: 2, "remediation is missing 'id'")
        assertIssue("remediations:\n  - id: fix\n    title: T\n    doc: \"\"\n    steps: [a, b]\n", line: 4, "remediation is missing 'doc'")
    }

    func testRemediationWithoutSteps() {
        assertIssue("remediations:\n  - id: fix\n    title: T\n    doc: none\n", line: 2, "remediation 'fix' has no steps")
        assertIssue("remediations:\n  - id: fix\n    title: T\n    doc: none\n    steps: []\n", line: 5, "remediation 'fix' has no steps")
    }

    func testIssuesAccumulateAcrossFiles() {
        var loader = RuleLoader()
        loader.load(yaml: replacing(2, with: "category: sauce"), file: "rules/a.yaml")
        loader.load(yaml: replacing(3, with: "failure: sadness"), file: "rules/b.yaml")
        XCTAssertEqual(loader.issues.map(\.file), ["rules/a.yaml", "rules/b.yaml"])
        XCTAssertEqual(loader.issues.map(\.line), [2, 3])
        XCTAssertTrue(loader.rules.isEmpty)
    }
}

/// Issue 12, item 5: patterns that backtrack exponentially are refused; hostile YAML is bounded.
final class HostileRuleFileTests: XCTestCase {
    func testNestedQuantifiersAreFound() {
        for bad in ["(a+)+$", "(a*)*", "(x*y)*", "(?:a|b+){2,}", "((ab)+c)+", "(\\w+\\s?)+$", "((a+)?)+", "(a{1,5})+", "([a-z]+)*x"] {
            XCTAssertNotNil(Pattern.nestedQuantifier(in: bad), bad)
        }
        for fine in ["a+b+", "(ab)+", "(a|b)*c", "(?i)session has expired", "\\(a+\\)+", "[(a+)]+", "(a+)?", "(a+){1}", "\\Q(a+)+\\E",
                     "(?:(?:required|the)\\W+)?(?:oauth\\W+)?scopes?", "code (\\d+)"] {
            XCTAssertNil(Pattern.nestedQuantifier(in: fine), fine)
        }
    }

    /// A loader that read one rule whose only condition is `text: { matches: PATTERN }` (line 6).
    func loaderWithTextPattern(_ pattern: String, id: String) -> RuleLoader {
        var loader = RuleLoader()
        loader.load(yaml: """
        id: \(id)
        category: source
        failure: credentials
        summary: x
        when:
          text: { matches: "\(pattern)" }
        remediation: [verify-credentials]
        """, file: "\(id).yaml")
        return loader
    }

    func testRuleWithNestedQuantifierIsRefusedAtItsLine() {
        let loader = loaderWithTextPattern("(a+)+$", id: "redos")
        XCTAssertTrue(loader.issues.contains { $0.line == 6 && $0.message.contains("nested quantifiers") }, "\(loader.issues)")
        XCTAssertTrue(loader.rules.isEmpty)
    }

    /// A fuzzed rule file nested 14,085 groups deep crashed the literal prefilter's recursion.
    func testPatternNestedThousandsDeepIsRefusedWithAShortMessage() {
        let deep = String(repeating: "(", count: 10_000) + "a" + String(repeating: ")", count: 10_000)
        let loader = loaderWithTextPattern(deep, id: "deep")
        let issue = loader.issues.first { $0.line == 6 }
        XCTAssertNotNil(issue, "\(loader.issues.map(\.message))")
        XCTAssertTrue(issue?.message.contains("groups nested 10000 deep (at most 32)") ?? false, issue?.message ?? "")
        XCTAssertLessThan(issue?.message.count ?? .max, 300, "the message quotes the pattern's start only")
        XCTAssertTrue(loader.rules.isEmpty)
        // As deep as the deepest real rule and more is fine.
        XCTAssertNil(Pattern.groupDepth(of: #"\(not a group\) [(]"#))
        XCTAssertEqual(Pattern.groupDepth(of: "(?i)(a(b(c|d)))"), 3)
        XCTAssertNotNil(LiteralPrefilter(pattern: "(?i)((((invalid_grant))))"))
        XCTAssertNil(LiteralPrefilter(pattern: String(repeating: "(", count: 100) + "invalid_grant" + String(repeating: ")", count: 100)))
    }

    func testAliasBombIsRefusedQuickly() {
        var yaml = "id: bomb\ncategory: source\nfailure: credentials\nsummary: x\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        for (name, previous) in zip(["b", "c", "d", "e", "f", "g", "h", "i"], ["a", "b", "c", "d", "e", "f", "g", "h"]) {
            yaml += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
        }
        let started = Date()
        var loader = RuleLoader()
        loader.load(yaml: yaml, file: "bomb.yaml")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(loader.issues.count, 1, "\(loader.issues)")
        XCTAssertTrue(loader.issues.first?.message.contains("expands past") == true, "\(loader.issues)")
    }

    func testDuplicateKeyIsReportedAtItsSecondLine() {
        var loader = RuleLoader()
        loader.load(yaml: "id: dup\ncategory: source\nfailure: credentials\nsummary: a\nremediation: [verify-credentials]\nsummary: b\n", file: "dup.yaml")
        XCTAssertEqual(loader.issues.first?.line, 6, "\(loader.issues)")
        XCTAssertTrue(loader.issues.first?.message.contains("duplicate key 'summary'") == true, "\(loader.issues)")
    }

    func testRegexSeesABoundedText() {
        // The regex sees the first 16,384 characters: what lies past them is not searched.
        let pattern = try! Pattern("needle")
        XCTAssertTrue(pattern.matches(String(repeating: "a", count: 16_000) + "needle"))
        XCTAssertFalse(pattern.matches(String(repeating: "a", count: 20_000) + "needle"))
        // A linear pattern over a megabyte stays quick: it sees 16 KiB of it.
        let started = Date()
        XCTAssertFalse(try! Pattern("(?:ab|cd)+x").matches(String(repeating: "ab", count: 500_000)))
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }
}
