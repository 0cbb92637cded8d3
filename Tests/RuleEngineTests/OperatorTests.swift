import XCTest
import EvidenceModel
@testable import RuleEngine

/// Operator semantics over facts (docs/RULES.md "Operators"), checked both directly and through the
/// rule index, which must agree with a plain scan.
final class OperatorTests: XCTestCase {
    private func ruleSet(_ when: String, file: StaticString = #filePath, line: UInt = #line) -> RuleSet {
        RuleTestSupport.ruleSet(RuleTestSupport.ruleYAML(id: "t.op", when: when), file: file, line: line)
    }

    private func check(_ set: RuleSet, _ facts: [String: FactValue], _ expected: Bool,
                       file: StaticString = #filePath, line: UInt = #line) {
        let f = Facts(facts)
        XCTAssertEqual(set.rules[0].when.holds(in: f), expected, "\(facts)", file: file, line: line)
        XCTAssertEqual(set.matchesScanningAll(f), expected ? ["t.op"] : [], "scan \(facts)", file: file, line: line)
        XCTAssertEqual(set.matches(f).map(\.rule.id), expected ? ["t.op"] : [], "index \(facts)", file: file, line: line)
    }

    /// Word tests read a fact's first 64 KiB (Pattern.maxMatchBytes), the index and the plain scan alike:
    /// a pasted megabyte costs what its start costs.
    func testContainsAndTheIndexSeeOnlyAFactsStart() {
        let set = ruleSet("  text: { contains: session expired }")
        let pad = String(repeating: "x", count: Pattern.maxMatchBytes - 40)
        check(set, ["text": .string(pad + " session expired")], true)
        check(set, ["text": .string(pad + String(repeating: "y", count: 100) + " session expired")], false)
    }

    func testEqualsIsLooseBetweenNumbersAndStrings() {
        let set = ruleSet("  body.error.code: 190")
        check(set, ["body.error.code": .int(190)], true)
        check(set, ["body.error.code": .string("190")], true)
        check(set, ["body.error.code": .double(190)], true)
        check(set, ["body.error.code": .int(191)], false)
        check(set, ["body.error.code": .string("190a")], false)
        check(set, [:], false)

        let quoted = ruleSet("  body.code: \"390100\"")
        check(quoted, ["body.code": .int(390100)], true)
        check(quoted, ["body.code": .string("390100")], true)

        let explicit = ruleSet("  body.error.code: { equals: 102 }")
        check(explicit, ["body.error.code": .string("102")], true)
        check(explicit, ["body.error.code": .int(10)], false)
    }

    func testEqualsIsCaseSensitiveForStrings() {
        let set = ruleSet("  www-authenticate.error: invalid_token")
        check(set, ["www-authenticate.error": .string("invalid_token")], true)
        check(set, ["www-authenticate.error": .string("INVALID_TOKEN")], false)
        check(set, ["www-authenticate.error": .string("invalid_token ")], false)
    }

    func testEqualsBoolsAndNull() {
        let set = ruleSet("  redirect.loop: true")
        check(set, ["redirect.loop": .bool(true)], true)
        check(set, ["redirect.loop": .bool(false)], false)
        check(set, ["redirect.loop": .string("true")], true)
        check(set, ["redirect.loop": .int(1)], false)

        let null = ruleSet("  body.data: null")
        check(null, ["body.data": .null], true)
        check(null, ["body.data": .string("null")], false)
        check(null, [:], false)
    }

    func testIn() {
        let set = ruleSet("  body.error.error_subcode: { in: [463, 467] }")
        check(set, ["body.error.error_subcode": .int(463)], true)
        check(set, ["body.error.error_subcode": .string("467")], true)
        check(set, ["body.error.error_subcode": .int(458)], false)
        let strings = ruleSet("  transport.error: { in: [dns, refused] }")
        check(strings, ["transport.error": .string("refused")], true)
        check(strings, ["transport.error": .string("DNS")], false)
    }

    func testMatchesIsICUAndCaseSensitiveUnlessAsked() {
        let plain = ruleSet("  text: { matches: \"session has expired\" }")
        check(plain, ["text": .string("Error: session has expired on Friday")], true)
        check(plain, ["text": .string("Error: Session has expired on Friday")], false)
        let insensitive = ruleSet("  text: { matches: \"(?i)session has expired\" }")
        check(insensitive, ["text": .string("Error: SESSION HAS EXPIRED")], true)
        let anchored = ruleSet("  body.error.code: { matches: \"^19\\\\d$\" }")
        check(anchored, ["body.error.code": .string("190")], true)
        check(anchored, ["body.error.code": .string("1900")], false)
        check(anchored, ["body.error.code": .int(1900)], false)
        // A number fact is matched through its text (the index side is in FixedBugsTests).
        XCTAssertTrue(anchored.rules[0].when.holds(in: Facts(["body.error.code": .int(190)])))
        let icu = ruleSet("  message: { matches: \"\\\\bauthuser=\\\\d+\\\\b\" }")
        check(icu, ["message": .string("redirect to /x?authuser=2&y")], true)
        check(icu, ["message": .string("authuser=x")], false)
    }

    func testContainsIsCaseInsensitive() {
        let set = ruleSet("  message: { contains: EXPIRED }")
        check(set, ["message": .string("Token has expired")], true)
        check(set, ["message": .string("Token is valid")], false)
        check(set, ["message": .int(5)], false)
        let number = ruleSet("  body.error.code: { contains: \"90\" }")
        check(number, ["body.error.code": .string("190")], true)
        check(number, ["body.error.code": .list([.string("1"), .string("190")])], true)
        XCTAssertTrue(number.rules[0].when.holds(in: Facts(["body.error.code": .int(190)])))
        let unicode = ruleSet("  message: { contains: \"Zürich\" }")
        check(unicode, ["message": .string("office ZÜRICH closed")], true)
        check(unicode, ["message": .string("office Zurich closed")], false)
    }

    func testExists() {
        let present = ruleSet("  scopes.missing: { exists: true }")
        check(present, ["scopes.missing": .list([.string("a")])], true)
        check(present, ["scopes.missing": .int(0)], true)
        check(present, ["scopes.missing": .bool(false)], true)
        check(present, ["scopes.missing": .null], false)
        check(present, ["scopes.missing": .list([])], false)
        check(present, ["scopes.missing": .list([.null])], false)
        check(present, ["scopes.missing": .string("")], false)
        check(present, [:], false)

        let absent = ruleSet("  scopes.missing: { exists: false }")
        check(absent, [:], true)
        check(absent, ["scopes.missing": .null], true)
        check(absent, ["scopes.missing": .list([])], true)
        check(absent, ["scopes.missing": .string("")], true)
        check(absent, ["scopes.missing": .string("x")], false)
    }

    func testComparisons() {
        let range = ruleSet("  http.status: { gte: 400, lt: 500 }")
        check(range, ["http.status": .int(400)], true)
        check(range, ["http.status": .int(499)], true)
        check(range, ["http.status": .string("429")], true)
        check(range, ["http.status": .int(500)], false)
        check(range, ["http.status": .int(399)], false)
        check(range, ["http.status": .string("abc")], false)

        let open = ruleSet("  retry_after: { gt: 30, lte: 60.5 }")
        check(open, ["retry_after": .int(30)], false)
        check(open, ["retry_after": .int(31)], true)
        check(open, ["retry_after": .double(60.5)], true)
        check(open, ["retry_after": .double(60.6)], false)

        let lessThan = ruleSet("  retry_after: { lt: 10 }")
        check(lessThan, ["retry_after": .string("not a number")], false)
        check(lessThan, ["retry_after": .null], false)
    }

    func testListFactsHoldWhenAnyElementDoes() {
        let set = ruleSet("  body.error.details[].reason: ACCESS_TOKEN_EXPIRED")
        check(set, ["body.error.details[].reason": .list([.string("OTHER"), .string("ACCESS_TOKEN_EXPIRED")])], true)
        check(set, ["body.error.details[].reason": .list([.string("OTHER")])], false)
        check(set, ["body.error.details[].reason": .list([])], false)
        let gt = ruleSet("  url.authuser: { gt: 0 }")
        check(gt, ["url.authuser": .list([.int(0), .int(2)])], true)
        check(gt, ["url.authuser": .list([.int(0)])], false)
        let provider = ruleSet("  provider: google")
        check(provider, ["provider": .list([.string("google-ads"), .string("google")])], true)
        check(provider, ["provider": .list([.string("facebook")])], false)
    }

    func testAnyGroups() {
        let set = ruleSet("""
          http.status: 400
          any:
            - body.error.code: 190
              body.error.error_subcode: 463
            - text: { contains: session has expired }
        """)
        check(set, ["http.status": .int(400), "body.error.code": .int(190), "body.error.error_subcode": .int(463)], true)
        check(set, ["http.status": .int(400), "body.error.code": .int(190), "body.error.error_subcode": .int(458)], false)
        check(set, ["http.status": .int(400), "text": .string("Session has expired")], true)
        check(set, ["http.status": .int(401), "text": .string("Session has expired")], false)
        check(set, ["http.status": .int(400)], false)
    }

    func testAnyOnlyRule() {
        let set = ruleSet("""
          any:
            - www-authenticate.error: invalid_token
            - body.error: invalid_grant
        """)
        check(set, ["body.error": .string("invalid_grant")], true)
        check(set, ["www-authenticate.error": .string("invalid_token")], true)
        check(set, ["body.error": .string("invalid_client")], false)
    }

    func testNotGroups() {
        let set = ruleSet("""
          body.error.code: 190
          not:
            - body.error.error_subcode: 458
            - body.error.error_subcode: 460
              provider: facebook
        """)
        check(set, ["body.error.code": .int(190)], true)
        check(set, ["body.error.code": .int(190), "body.error.error_subcode": .int(458)], false)
        check(set, ["body.error.code": .int(190), "body.error.error_subcode": .int(460)], true)
        check(set, ["body.error.code": .int(190), "body.error.error_subcode": .int(460), "provider": .list([.string("facebook")])], false)
    }

    func testEvidenceNamesTheFactsOfTheHoldingBranch() throws {
        let set = ruleSet("""
          http.status: 400
          any:
            - body.error.code: 190
            - text: { contains: expired }
        """)
        let facts = Facts(["http.status": .int(400), "text": .string("token expired"), "body.error.code": .int(1)])
        let match = try XCTUnwrap(set.matches(facts).first)
        XCTAssertEqual(match.evidence.map(\.name), ["http.status", "text"])
        XCTAssertEqual(match.evidence.map(\.value), [.int(400), .string("token expired")])
    }
}
