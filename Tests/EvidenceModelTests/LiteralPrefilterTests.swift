import XCTest
@testable import EvidenceModel

/// The literal prefilter spells out small classes and optional characters, so that a word written
/// with a separator (`private[_-]?key`) needs that word, not just its first half.
final class LiteralPrefilterTests: XCTestCase {
    func needles(_ pattern: String) throws -> [String] {
        try XCTUnwrap(LiteralPrefilter(pattern: pattern), pattern).needles.map { String(decoding: $0, as: UTF8.self) }.sorted()
    }

    func mayMatch(_ pattern: String, _ text: String) throws -> Bool {
        let prefilter = try XCTUnwrap(LiteralPrefilter(pattern: pattern), pattern)
        let lowered = Array(text.utf8).map(\.asciiLowercased)
        return lowered.withUnsafeBufferPointer { prefilter.mayMatch($0) }
    }

    func testAnOptionalSeparatorClassIsSpelledOut() throws {
        XCTAssertEqual(try needles("(?i)private[_-]?key"), ["private-key", "private_key", "privatekey"])
        XCTAssertFalse(try mayMatch("(?i)private[_-]?key", "cache-control: private, no-cache, no-store"))
        for text in ["PRIVATE_KEY=x", "private-key: x", "privatekey"] { XCTAssertTrue(try mayMatch("(?i)private[_-]?key", text), text) }
    }

    func testAMandatoryClassAndAnEscapedOptionalAreSpelledOut() throws {
        XCTAssertEqual(try needles("authori[sz]ation"), ["authorisation", "authorization"])
        XCTAssertEqual(try needles("(?i)api\\.?key"), ["api.key", "apikey"])
        XCTAssertEqual(try needles("(?i)app[ _]?id"), ["app id", "app_id", "appid"])
        XCTAssertFalse(try mayMatch("(?i)app[ _]?id", "This app hasn't been granted all required scopes"))
    }

    /// A spelling that holds another is implied by it: `tokens?` needs "token" only.
    func testAnOptionalLastLetterNeedsTheWordOnly() throws {
        XCTAssertEqual(try needles("(?i)access tokens?"), ["access token"])
        XCTAssertEqual(try needles("(?i)x?invalid"), ["invalid"])
        XCTAssertEqual(try needles("(?i)colou?r"), ["color", "colour"])
    }

    /// Too many spellings, a range, a negated or a long class: the run ends there, as before.
    func testLargeOrUnreadableClassesEndTheRun() throws {
        XCTAssertEqual(try needles("(?i)secret[a-z]?value"), ["secret"])
        XCTAssertEqual(try needles("(?i)token[^a]key"), ["token"])
        XCTAssertEqual(try needles("(?i)sign[ _.:/-]?in"), ["sign"])
        // Quantified classes other than `?` are not spellings.
        XCTAssertEqual(try needles("(?i)refresh[_ ]*token"), ["refresh"])
        // Spellings multiply up to a bound, then the run starts again; every match still passes.
        let many = "a[bc]?d[ef]?g[hi]?j[kl]?m"
        XCTAssertLessThanOrEqual(try needles(many).count, LiteralPrefilter.maxSpellings)
        for text in ["acdfgijlm", "adgjm", "abdegjkm"] {
            XCTAssertNotNil(text.range(of: many, options: .regularExpression), text)
            XCTAssertTrue(try mayMatch(many, text), text)
        }
        XCTAssertFalse(try mayMatch(many, "a d g j m"))
    }
}
