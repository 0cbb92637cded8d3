import EvidenceModel
@testable import RuleEngine
import XCTest

/// The rule index searches its first texts word by word and builds the automaton after: both ways
/// must find the same words, or a record's rules would depend on how many records came before it.
final class NeedleIndexTests: XCTestCase {
    func testWordByWordSearchAndTheAutomatonFindTheSameWords() {
        let needles = ["invalid_gr", "token", "expired", "oauth", "é", "en"].map { Array($0.utf8) }
        let index = NeedleIndex(fact: "text", needles: needles, rules: needles.indices.map { [$0] })
        let reference = NeedleAutomaton(needles: needles)
        let texts = ["The Token HAS EXPIRED", "INVALID_GRANT", "oAuTh tOkEn", "nothing here", "Ünïcode TOKEN é", "", "e", "EN"]
        var rounds = 0
        for round in 0..<3 {
            for text in texts {
                func ids(_ scan: (UnsafeBufferPointer<UInt8>, (Int) -> Void) -> Void) -> Set<Int> {
                    var found = Set<Int>()
                    Array(text.utf8).withUnsafeBufferPointer { buffer in scan(buffer) { found.insert($0) } }
                    return found
                }
                XCTAssertEqual(ids(index.scan), ids(reference.scan), "\(text) (search \(round * texts.count + rounds))")
            }
            rounds += 1
        }
        XCTAssertGreaterThan(rounds * texts.count, NeedleIndex.LazyAutomaton.searchesBeforeBuilding, "both paths ran")
        var expired = Set<Int>()
        Array("Token expired".utf8).withUnsafeBufferPointer { buffer in index.scan(buffer) { expired.insert($0) } }
        XCTAssertEqual(expired, [1, 2, 5], "token, expired and the 'en' inside token")
    }
}

/// `any` branches cheaper than a rule's regex are tested first: the same answers, fewer regex runs.
final class EvaluationOrderTests: XCTestCase {
    func testCheapAnyBranchesGoFirstAndChangeNoAnswer() throws {
        var when = When()
        when.all = [Condition(fact: "text", op: .matches(try Pattern("(?i)invalid (user|password)")), line: 1)]
        var grant = When(); grant.all = [Condition(fact: "oauth.error", op: .equals(.string("invalid_grant")), line: 2)]
        var body = When(); body.all = [Condition(fact: "body.error", op: .equals(.string("invalid_grant")), line: 3)]
        when.any = [grant, body]
        let ordered = when.cheapestFirst()
        XCTAssertTrue(ordered.anyFirst)
        XCTAssertFalse(ordered.any[0].anyFirst, "a branch without its own any")
        let cases: [[String: FactValue]] = [
            ["text": .string("Invalid user credentials"), "oauth.error": .string("invalid_grant")],
            ["text": .string("Invalid user credentials"), "body.error": .string("invalid_grant")],
            ["text": .string("Invalid user credentials")],
            ["text": .string("token expired"), "oauth.error": .string("invalid_grant")],
            ["oauth.error": .string("invalid_grant")],
        ]
        let expected = [true, true, false, false, false]
        for (values, answer) in zip(cases, expected) {
            XCTAssertEqual(ordered.holds(in: Facts(values)), answer, "\(values)")
            XCTAssertEqual(when.holds(in: Facts(values)), answer, "\(values) in the written order")
        }
        // A regex in `any` is no cheaper than a regex in `all`: the written order stays.
        var costly = When()
        costly.all = when.all
        costly.any = [when]
        XCTAssertFalse(costly.cheapestFirst().anyFirst)
    }
}
