import EvidenceModel
import XCTest

/// Issue 15: "did you mean" picks the nearest name by edit distance, and only a near one.
final class SuggestionTests: XCTestCase {
    func testNearestNameForTypos() {
        let commands = ["classify", "diagnose", "check", "demo", "rules", "sandbox", "links", "connections", "serve", "history", "store"]
        XCTAssertEqual(Suggestion.nearest("diagnos", among: commands), "diagnose")
        XCTAssertEqual(Suggestion.nearest("chekc", among: commands), "check", "a swap of neighbours is one edit")
        XCTAssertEqual(Suggestion.nearest("isue", among: ["issue", "list", "show", "revoke"]), "issue")
        XCTAssertEqual(Suggestion.nearest("facebok", among: ["facebook", "google", "linkedin"]), "facebook")
        XCTAssertEqual(Suggestion.nearest("tokn-env", among: ["token-env", "token-file", "refresh-token-env"]), "token-env")
        XCTAssertEqual(Suggestion.nearest("mesage", among: ["message", "text", "url"]), "message")
        XCTAssertEqual(Suggestion.nearest("eror", among: ["error", "warning", "info"]), "error")
        XCTAssertEqual(Suggestion.nearest("DIAGNOSE", among: commands), "diagnose", "case does not count")
    }

    func testNoGuessWhenNothingIsNearOrTwoAreEquallyNear() {
        XCTAssertNil(Suggestion.nearest("frobnicate", among: ["classify", "diagnose"]))
        XCTAssertNil(Suggestion.nearest("x", among: ["ab", "cd"]))
        XCTAssertNil(Suggestion.nearest("", among: ["a"]))
        XCTAssertNil(Suggestion.nearest("cat", among: ["bat", "hat"]), "a tie is no suggestion")
        XCTAssertEqual(Suggestion.hint("diagnos", among: ["diagnose"]), " (did you mean 'diagnose'?)")
        XCTAssertEqual(Suggestion.hint("zzz", among: ["diagnose"]), "")
    }

    func testDistance() {
        XCTAssertEqual(Suggestion.distance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(Suggestion.distance(Array("ab"), Array("ba")), 1)
        XCTAssertEqual(Suggestion.distance(Array(""), Array("abc")), 3)
        XCTAssertEqual(Suggestion.distance(Array("same"), Array("same")), 0)
    }
}
