import XCTest
import EvidenceModel
import AuthDoctorTestSupport
@testable import RuleEngine

/// The rules/ and fixtures/ folders of the checkout, as `authdoctor rules lint|test` sees them.
final class RealRuleSetTests: XCTestCase {
    static func load() throws -> (RuleSet, [LintIssue]) {
        try RuleLibrary.load(includeBuiltin: false, directories: [TestPaths.rulesDirectory])
    }

    static func fixtures() throws -> [String: String] {
        try RuleLibrary.fixtures(in: TestPaths.fixturesDirectory)
    }

    func testOnDiskRulesLintClean() throws {
        let (set, issues) = try Self.load()
        XCTAssertEqual(issues.map(\.description), [], "rules/ has lint issues")
        XCTAssertGreaterThan(set.rules.count, 20)
        XCTAssertGreaterThan(set.remediations.count, 20)
    }

    func testEveryRuleExampleHolds() throws {
        let (set, _) = try Self.load()
        let outcome = ExampleRunner(ruleSet: set, fixtures: try Self.fixtures()).run()
        XCTAssertEqual(outcome.failures.count, 0, "example failures:\n" + outcome.failures.map(\.description).joined(separator: "\n"))
        XCTAssertGreaterThan(outcome.passed, 40)
    }

    /// The literal prefilter may only ever rule a regex out when the regex cannot match: over every
    /// rule's patterns and every text fixture, a text the prefilter turns away never matches.
    func testPrefilterNeverRulesOutAMatch() throws {
        let (set, _) = try Self.load()
        func patterns(_ when: When) -> [Pattern] {
            var out: [Pattern] = []
            for condition in when.all { if case let .matches(p) = condition.op { out.append(p) } }
            for branch in when.any + when.not { out += patterns(branch) }
            return out
        }
        var seen = Set<String>()
        let all = set.rules.flatMap { patterns($0.when) }.filter { $0.prefilter != nil && seen.insert($0.source).inserted }
        let texts = try Self.fixtures().filter { $0.key.hasSuffix(".txt") }.map(\.value)
        XCTAssertGreaterThan(all.count, 100)
        XCTAssertGreaterThan(texts.count, 100)
        var wrong: [String] = []
        for text in texts {
            let lowered = Pattern.visiblePrefix(text)
            for pattern in all where !lowered.withUnsafeBufferPointer({ pattern.prefilter!.mayMatch($0) }) {
                if pattern.regex.firstMatch(in: text, options: [], range: Pattern.searchRange(text)) != nil {
                    wrong.append("\(pattern.source) on \(text.prefix(80))")
                }
            }
        }
        XCTAssertEqual(wrong, [], "the prefilter ruled out a pattern that matches")
    }

    func testAtLeastFortyFixtures() throws {
        XCTAssertGreaterThanOrEqual(try Self.fixtures().count, 40)
    }

    func testEveryFixtureLoads() throws {
        let (set, _) = try Self.load()
        let fixtures = try Self.fixtures()
        let runner = ExampleRunner(ruleSet: set, fixtures: fixtures)
        var problems: [String] = []
        for path in fixtures.keys.sorted() {
            do {
                let factSets = try runner.facts(forFixture: path)
                if factSets.isEmpty { problems.append("\(path): no evidence") }
            } catch {
                problems.append(error.description)
            }
        }
        XCTAssertEqual(problems, [])
    }

    func testEveryFailureClassHasARuleWithAMatchExample() throws {
        let (set, _) = try Self.load()
        var missingRule: [String] = []
        var missingExample: [String] = []
        for failure in Vocabulary.failures where failure != "unknown" {
            let rules = set.rules.filter { $0.failure == failure }
            if rules.isEmpty { missingRule.append(failure); continue }
            if !rules.contains(where: { !$0.examples.match.isEmpty }) { missingExample.append(failure) }
        }
        XCTAssertEqual(missingRule, [], "failure classes without a rule")
        XCTAssertEqual(missingExample, [], "failure classes without a match example")
    }

    func testNamedProvidersHaveFixtures() throws {
        let fixtures = try Self.fixtures()
        let providers = ["google", "google-ads", "google-analytics", "google-sheets", "bigquery", "facebook", "linkedin",
                         "hubspot", "snowflake", "oauth2"]
        let missing = providers.filter { p in !fixtures.keys.contains { $0.hasPrefix(p + "/") } }
        XCTAssertEqual(missing, [], "providers without fixtures")
    }

    func testFixtureFoldersAreProvidersOrGeneric() throws {
        let folders = Set(try Self.fixtures().keys.compactMap { $0.split(separator: "/").first.map(String.init) })
        let allowed = Set(ProviderDetector.known).union(["transport", "generic", "text", "har", "sandbox", "diagnose"])
        XCTAssertEqual(folders.subtracting(allowed), [])
    }

    func testRuleIdsAreUniqueAndRemediationsResolve() throws {
        let (set, _) = try Self.load()
        XCTAssertEqual(Set(set.rules.map(\.id)).count, set.rules.count)
        for rule in set.rules {
            XCTAssertFalse(rule.remediation.isEmpty, rule.id)
            for id in rule.remediation { XCTAssertNotNil(set.remediations[id], "\(rule.id) → \(id)") }
        }
    }
}

/// The rule index must find exactly what a plain scan of every rule finds.
final class IndexCorrectnessTests: XCTestCase {
    /// The name filter in front of the anchor table may let a stranger through, never stop an anchor.
    func testNameFilterPassesEveryAnchorName() throws {
        let (set, _) = try RealRuleSetTests.load()
        XCTAssertGreaterThan(set.byName.count, 20)
        for name in set.byName.keys {
            XCTAssertTrue(set.nameFilter.mayContain(name), name)
        }
        // It does rule out most names that anchor nothing (else it saves nothing).
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        let letters = Array("abcdefghijklmnopqrstuvwxyz_.[]".utf8)
        let strangers = (0..<2000).map { _ -> String in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = 6 + Int((seed >> 33) % 30)
            var bytes = Array("zz.".utf8)
            for k in 0..<length { bytes.append(letters[Int((seed >> UInt64(k % 40 + 3)) % UInt64(letters.count))]) }
            return String(decoding: bytes, as: UTF8.self)
        }.filter { set.byName[$0] == nil }
        let passed = strangers.filter(set.nameFilter.mayContain).count
        XCTAssertLessThan(passed, strangers.count / 4, "the filter let \(passed) of \(strangers.count) strangers through")
    }

    func testIndexAgreesWithScanOnEveryFixture() throws {
        let (set, _) = try RealRuleSetTests.load()
        let fixtures = try RealRuleSetTests.fixtures()
        let runner = ExampleRunner(ruleSet: set, fixtures: fixtures)
        var disagreements: [String] = []
        var factSetCount = 0
        var matched = 0
        for path in fixtures.keys.sorted() {
            guard let factSets = try? runner.facts(forFixture: path) else { continue }
            for facts in factSets {
                factSetCount += 1
                let indexed = set.matches(facts).map(\.rule.id).sorted()
                let scanned = set.matchesScanningAll(facts).sorted()
                if !indexed.isEmpty { matched += 1 }
                if indexed != scanned { disagreements.append("\(path): index \(indexed) vs scan \(scanned)") }
            }
        }
        XCTAssertEqual(disagreements, [])
        XCTAssertGreaterThanOrEqual(factSetCount, 40)
        XCTAssertGreaterThan(matched, factSetCount / 2, "most fixtures should match some rule")
    }

    func testIndexAgreesWithScanOnSyntheticFacts() {
        let set = RuleTestSupport.ruleSet("""
        rules:
          - id: s.provider
            category: source
            failure: credentials
            when: { provider: facebook }
            summary: s
            remediation: [fix]
          - id: s.status-and-code
            category: source
            failure: expiry
            when: { provider: facebook, body.error.code: { in: [190, 102] } }
            summary: s
            remediation: [fix]
          - id: s.regex
            category: source
            failure: revoked
            when: { text: { matches: "(?i)revoked" } }
            summary: s
            remediation: [fix]
          - id: s.absent
            category: source
            failure: token-missing
            when: { token.present: { exists: false } }
            summary: s
            remediation: [fix]
          - id: s.any
            category: source
            failure: scopes
            when:
              any:
                - scopes.missing: { exists: true }
                - www-authenticate.error: insufficient_scope
            summary: s
            remediation: [fix]
          - id: s.bool
            category: source
            failure: looker-400
            when: { redirect.loop: true, http.status: { gte: 300 } }
            summary: s
            remediation: [fix]
        """)
        let samples: [[String: FactValue]] = [
            [:],
            ["provider": .list([.string("facebook")])],
            ["provider": .list([.string("facebook")]), "body.error.code": .string("102")],
            ["provider": .list([.string("facebook")]), "body.error.code": .double(190)],
            ["provider": .string("facebook"), "body.error.code": .int(191)],
            ["text": .string("access REVOKED"), "token.present": .bool(true)],
            ["token.present": .null],
            ["www-authenticate.error": .string("insufficient_scope"), "scopes.missing": .list([])],
            ["scopes.missing": .list([.string("x")])],
            ["redirect.loop": .bool(true), "http.status": .int(302)],
            ["redirect.loop": .string("true"), "http.status": .string("400")],
            ["redirect.loop": .bool(true)],
        ]
        for sample in samples {
            let facts = Facts(sample)
            XCTAssertEqual(set.matches(facts).map(\.rule.id).sorted(), set.matchesScanningAll(facts).sorted(), "\(sample)")
        }
        XCTAssertEqual(set.matches(Facts(samples[3])).map(\.rule.id).sorted(), ["s.absent", "s.provider", "s.status-and-code"])
        XCTAssertEqual(set.matches(Facts(samples[10])).map(\.rule.id).sorted(), ["s.absent", "s.bool"])
    }
}
