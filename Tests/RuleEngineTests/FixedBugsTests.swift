import Foundation
import XCTest
import EvidenceModel
@testable import RuleEngine

/// Bugs these tests found in Sources/ (now fixed), each kept as a regression test.
final class RuleEngineFixedBugsTests: XCTestCase {
    /// Equality is by value ("190" equals 190, and so does "190.0"), and the scan agrees; the index keys
    /// numeric strings with Int(s) only, so "190.0" and " 190" (trimmed by numberValue) get other keys.
    /// Input rule `body.error.code: 190`, fact body.error.code = "190.0" / " 190".
    /// Expected matches() == matchesScanningAll() == [rule]. Before the fix: matches() is empty.
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
    /// Before the fix: no issue.
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
    /// `contains` and `matches` on a number fact hold (the value's text is tested) and the scan agrees,
    /// but the index anchors these rules on needles and scans only string values, so matches() misses
    /// them. Input rule `body.error.code: { contains: "90" }` (and `{ matches: "^19\\d$" }`), fact
    /// body.error.code = 190 (int). Expected matches() == [rule]. Actual [].
    func testIndexFindsTextConditionsOnNumberFacts() {
        for when in ["  body.error.code: { contains: \"90\" }", "  body.error.code: { matches: \"^19\\\\d$\" }"] {
            let set = RuleTestSupport.ruleSet(RuleTestSupport.ruleYAML(id: "t.num", when: when))
            let facts = Facts(["body.error.code": .int(190)])
            XCTAssertEqual(set.matchesScanningAll(facts), ["t.num"], when)
            XCTAssertEqual(set.matches(facts).map(\.rule.id), ["t.num"], "index misses \(when)")
        }
    }

    /// docs/RULES.md: "On a list fact a condition holds when any element satisfies it". A number
    /// element satisfies `contains: "90"` on its own (190 → "190"), but inside a list the ASCII fast
    /// path looks at string elements only. Input fact body.x[] = [190]. Expected holds. Before the fix: not.
    func testContainsOnAListOfNumbers() {
        let set = RuleTestSupport.ruleSet(RuleTestSupport.ruleYAML(id: "t.list", when: "  body.x[]: { contains: \"90\" }"))
        XCTAssertTrue(set.rules[0].when.holds(in: Facts(["body.x[]": .int(190)])))
        XCTAssertTrue(set.rules[0].when.holds(in: Facts(["body.x[]": .list([.int(190)])])))
    }

    /// LiteralPrefilter treats the digits after `\x` / `\u` escapes as literal text, so the pattern
    /// `\x41ccess denied` (ICU: "Access denied") gets the needle "41ccess denied" and never matches.
    /// Input rule `text: { matches: "\\x41ccess denied" }`, fact text "Access denied".
    /// Expected holds. Before the fix: the prefilter rules it out.
    func testPrefilterUnderstandsHexEscapes() throws {
        XCTAssertTrue(try Pattern("\\x41ccess denied").matches("Access denied"))
        XCTAssertTrue(try Pattern("\\u0041ccess denied").matches("Access denied"))
    }

    /// Patterns in Japanese (or with `\x` escapes inside a character class) had no literal
    /// prefilter, so ICU ran them on every record (a sixth of `classify --batch` after round 7).
    /// Expected: a prefilter that keeps the matching text and turns the other away.
    func testPrefilterForCaselessScriptsAndEscapesInClasses() throws {
        let japanese = try Pattern("レポートにアクセスできません|このレポートは(あなたと)?共有されていません")
        XCTAssertNotNil(japanese.prefilter)
        XCTAssertTrue(japanese.matches("エラー: このレポートは共有されていません"))
        XCTAssertFalse(japanese.matches("Request had invalid authentication credentials."))
        let escaped = try Pattern("(?m)[^\\x00-\\x7F][^\\n:]{0,20}:\\s?(urlfetch|gmail)")
        XCTAssertNotNil(escaped.prefilter)
        XCTAssertTrue(escaped.matches("サービスの呼び出し回数:urlfetch"))
        XCTAssertFalse(escaped.matches("Service invoked too many times"))
        // Letters with case stay out of needles: (?i) lets ICU match either case.
        XCTAssertTrue(try Pattern("(?i)aplicación bloqueada").matches("APLICACIÓN BLOQUEADA"))
        XCTAssertNil(try Pattern("\\x41ccess denied").prefilter)
        // An alternative of cased non-ASCII letters only (Russian) still rules out an ASCII text, and
        // still lets any case of it through.
        let russian = try Pattern("(?i)\\bpassword authentication failed\\b|В соединении отказано")
        XCTAssertNotNil(russian.prefilter)
        XCTAssertTrue(russian.matches("psql: ошибка: в соединении отказано"))
        XCTAssertTrue(russian.matches("FATAL: password authentication failed for user"))
        XCTAssertFalse(russian.matches("Request had invalid authentication credentials."))
        XCTAssertTrue(try Pattern("(?i)\u{212A}elvin").matches("kelvin"), "K (Kelvin sign) folds to ASCII k")
    }

    /// A pattern made of leading lookaheads (`^(?=.{0,3000}\bdelegation denied\b)(?=…)`, round 19) had
    /// no prefilter, so ICU ran it, scanning 3,000 characters, on every batch record (5,000 runs in
    /// 5,000 records). A positive lookahead's words are required; a negative one's are not.
    func testPrefilterReadsPositiveLookaheadsOnly() throws {
        let both = try Pattern("(?is)^(?=.{0,3000}\\bdelegation denied\\b)(?=.{0,3000}\\b(second|another) account\\b)")
        let prefilter = try XCTUnwrap(both.prefilter)
        XCTAssertTrue(prefilter.needles.contains(Array("delegation denied".utf8)) || prefilter.needles.contains(Array("second".utf8)), "\(prefilter.needles)")
        XCTAssertTrue(both.matches("Delegation denied after I signed in with a second account"))
        XCTAssertFalse(both.matches("Request had invalid authentication credentials."))
        XCTAssertFalse(both.matches("Delegation denied for user@example.com"), "both lookaheads are required")
        // The `=` of `(?=` is syntax, not a character the text must hold.
        XCTAssertTrue(try Pattern("(?=a)a").matches("a"))
        // A negative lookahead requires nothing.
        XCTAssertTrue(try Pattern("(?i)^(?!.*\\bsandbox\\b).*token expired").matches("the token expired"))
        XCTAssertFalse(try Pattern("(?i)^(?!.*\\bsandbox\\b).*token expired").matches("sandbox: the token expired"))
        // A lookbehind's words are left out too.
        XCTAssertTrue(try Pattern("(?<=code )190").matches("error code 190"))
    }

    /// A remediation step YAML reads as a mapping (an unquoted ": " inside it) is dropped silently
    /// (`compactMap(\.string)`), so the catalog loses a step without any lint issue — this is what
    /// happens to rules/remediations.yaml check-token-format today. Expected an issue naming line 6.
    /// Before the fix: no issue, one step.
    func testNonStringRemediationStepIsReported() {
        var loader = RuleLoader()
        loader.load(yaml: "remediations:\n  - id: fix\n    title: T\n    doc: none\n    steps:\n      - Check the header is `Authorization: Bearer <token>` first.\n      - Then retry.\n", file: "rules/r.yaml")
        XCTAssertTrue(loader.issues.contains { $0.line == 6 }, "\(loader.issues)")
    }
    /// Pattern.init compiles (and so validates) only patterns that do not "look simple"; a pattern
    /// such as `*expired` (dangling quantifier) or `(?z)expired` (unknown flag) looks simple, is never
    /// compiled at load time, and later silently matches nothing. docs/RULES.md: bad regular
    /// expressions are errors naming file and line. Expected issue "bad regular expression '*expired'"
    /// at line 5. Before the fix: no issue.
    func testBadRegexThatLooksSimpleIsReported() {
        for source in ["*expired", "(?z)expired"] {
            XCTAssertThrowsError(try NSRegularExpression(pattern: source), "ICU accepts \(source); test premise wrong")
            var loader = RuleLoader()
            loader.load(yaml: RuleTestSupport.ruleYAML(when: "  text: { matches: \"\(source)\" }"), file: "rules/re.yaml")
            XCTAssertTrue(loader.issues.contains { $0.line == 5 && $0.message.contains("bad regular expression") }, "\(source): \(loader.issues)")
        }
    }
}
