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
