import XCTest
@testable import EvidenceModel

final class JSONParserTests: XCTestCase {
    /// Parses and returns the error, failing the test when parsing succeeds.
    private func parseError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSONParseError? {
        do {
            let value = try JSON.parse(text)
            XCTFail("expected a JSONParseError, parsed \(value)", file: file, line: line)
            return nil
        } catch let error as JSONParseError {
            return error
        } catch {
            XCTFail("expected a JSONParseError, got \(error)", file: file, line: line)
            return nil
        }
    }

    private func assertError(_ text: String, _ fragment: String, line expectedLine: Int, column: Int,
                             file: StaticString = #filePath, line: UInt = #line) {
        guard let error = parseError(text, file: file, line: line) else { return }
        XCTAssertTrue(error.message.contains(fragment), "message \"\(error.message)\" lacks \"\(fragment)\"", file: file, line: line)
        XCTAssertEqual(error.line, expectedLine, "line of \(error)", file: file, line: line)
        XCTAssertEqual(error.column, column, "column of \(error)", file: file, line: line)
        XCTAssertEqual(error.description, "\(error.message) at line \(expectedLine), column \(column)", file: file, line: line)
    }

    // MARK: - Values

    func testObjectKeepsKeyOrderAndNestedValues() throws {
        let value = try JSON.parse(#"{"b": 1, "a": [true, false, null], "c": {"d": "e"}}"#)
        guard case let .object(members) = value else { return XCTFail("not an object: \(value)") }
        XCTAssertEqual(members.map(\.0), ["b", "a", "c"])
        XCTAssertEqual(value["b"], .int(1))
        XCTAssertEqual(value["a"], .array([.bool(true), .bool(false), .null]))
        XCTAssertEqual(value["c"]?["d"], .string("e"))
        XCTAssertNil(value["missing"])
    }

    func testDuplicateKeysLastWinsOnLookup() throws {
        let value = try JSON.parse(#"{"k": 1, "k": 2}"#)
        XCTAssertEqual(value["k"], .int(2))
        XCTAssertEqual(value.objectValue?.count, 2)
    }

    func testEmptyContainersAndWhitespace() throws {
        XCTAssertEqual(try JSON.parse(" \t\r\n { \n } \r\n"), .object([]))
        XCTAssertEqual(try JSON.parse("[ ]"), .array([]))
        XCTAssertEqual(try JSON.parse("\n[\n1 ,\t2\n]\n"), .array([.int(1), .int(2)]))
    }

    func testLiterals() throws {
        XCTAssertEqual(try JSON.parse("true"), .bool(true))
        XCTAssertEqual(try JSON.parse("false"), .bool(false))
        XCTAssertEqual(try JSON.parse("null"), .null)
        XCTAssertEqual(try JSON.parse(#""plain""#), .string("plain"))
    }

    func testStringEscapes() throws {
        let value = try JSON.parse(#""q\" b\\ s\/ \b\f\n\r\t end""#)
        XCTAssertEqual(value, .string("q\" b\\ s/ \u{08}\u{0C}\n\r\t end"))
    }

    func testUnicodeEscapesAndSurrogatePairs() throws {
        XCTAssertEqual(try JSON.parse(#""caf\u00e9""#), .string("café"))
        XCTAssertEqual(try JSON.parse(#""\u20AC""#), .string("€"))
        XCTAssertEqual(try JSON.parse(#""smile \ud83d\ude00!""#), .string("smile 😀!"))
        XCTAssertEqual(try JSON.parse(#""\uD834\uDD1E""#), .string("𝄞"))
        // Lone surrogates become U+FFFD rather than invalid text.
        XCTAssertEqual(try JSON.parse(#""a\ud83db""#), .string("a\u{FFFD}b"))
        XCTAssertEqual(try JSON.parse(#""a\ude00b""#), .string("a\u{FFFD}b"))
        XCTAssertEqual(try JSON.parse(#""\u0000""#), .string("\u{0}"))
    }

    func testRawUTF8PassesThrough() throws {
        XCTAssertEqual(try JSON.parse("\"Zürich – 東京\""), .string("Zürich – 東京"))
    }

    func testIntegers() throws {
        XCTAssertEqual(try JSON.parse("0"), .int(0))
        XCTAssertEqual(try JSON.parse("190"), .int(190))
        XCTAssertEqual(try JSON.parse("-42"), .int(-42))
        XCTAssertEqual(try JSON.parse("9223372036854775807"), .int(Int.max))
    }

    func testDoublesAndExponents() throws {
        XCTAssertEqual(try JSON.parse("3.25"), .double(3.25))
        XCTAssertEqual(try JSON.parse("-0.5"), .double(-0.5))
        XCTAssertEqual(try JSON.parse("1e3"), .double(1000))
        XCTAssertEqual(try JSON.parse("2E+2"), .double(200))
        XCTAssertEqual(try JSON.parse("-2.5e-2"), .double(-0.025))
    }

    func testBigIntegersOverflowToDouble() throws {
        XCTAssertEqual(try JSON.parse("9223372036854775808"), .double(9_223_372_036_854_775_808))
        XCTAssertEqual(try JSON.parse("12345678901234567890"), .double(12_345_678_901_234_567_890))
        XCTAssertEqual(try JSON.parse("-99999999999999999999"), .double(-99_999_999_999_999_999_999))
    }

    func testIntValueAccessor() throws {
        XCTAssertEqual(JSONValue.double(190).intValue, 190)
        XCTAssertNil(JSONValue.double(1.5).intValue)
        XCTAssertEqual(JSONValue.string("463").intValue, 463)
        XCTAssertNil(JSONValue.bool(true).intValue)
    }

    func testByteAndBufferEntryPoints() throws {
        XCTAssertEqual(try JSON.parse(Array(#"{"a":[1]}"#.utf8)), .object([("a", .array([.int(1)]))]))
        let bytes = Array("[[[1]]]".utf8)
        XCTAssertEqual(try bytes.withUnsafeBufferPointer { try JSON.parse($0, maxDepth: 3) }, .array([.array([.array([.int(1)])])]))
    }

    func testLooksLikeJSON() {
        XCTAssertTrue(Array("  \n{\"a\":1}".utf8).withUnsafeBufferPointer(JSON.looksLikeJSON))
        XCTAssertTrue(Array("[1]".utf8).withUnsafeBufferPointer(JSON.looksLikeJSON))
        XCTAssertFalse(Array("<html>".utf8).withUnsafeBufferPointer(JSON.looksLikeJSON))
        XCTAssertFalse(Array("   ".utf8).withUnsafeBufferPointer(JSON.looksLikeJSON))
    }

    // MARK: - Malformed input, with line and column

    func testEmptyInput() {
        assertError("", "unexpected end of JSON", line: 1, column: 1)
        assertError("   \n  ", "unexpected end of JSON", line: 2, column: 3)
    }

    func testTruncatedArray() {
        // `{"a": [1, 2` is 11 bytes; the error is at the end.
        assertError(#"{"a": [1, 2"#, "unexpected end of JSON inside an array", line: 1, column: 12)
    }

    func testTruncatedObject() {
        assertError("{\"a\": 1,\n \"b\": 2", "unexpected end of JSON inside an object", line: 2, column: 8)
    }

    func testTrailingGarbage() {
        assertError(#"{"a":1} x"#, "unexpected text after the JSON value", line: 1, column: 9)
        assertError("[1]\n\n  ]", "unexpected text after the JSON value", line: 3, column: 3)
    }

    func testBadLiteralOnSecondLine() {
        assertError("{\n  \"a\": tru\n}", "invalid literal", line: 2, column: 8)
        assertError("nul", "unexpected end of JSON", line: 1, column: 1)
    }

    func testBadEscape() {
        // The column points just after the offending escape.
        assertError(#""ab\x""#, "invalid escape", line: 1, column: 6)
        assertError(#""\u12G4""#, "invalid \\u escape", line: 1, column: 6)
        assertError(#""\u12"#, "truncated \\u escape", line: 1, column: 4)
    }

    func testControlCharacterInString() {
        assertError("\"a\u{01}b\"", "control character in a string", line: 1, column: 3)
        assertError("{\"a\": \"x\ny\"}", "control character in a string", line: 1, column: 9)
        // Also after an escape (slow path).
        assertError("\"\\n\u{1F}\"", "control character in a string", line: 1, column: 4)
    }

    func testUnterminatedString() {
        assertError(#""abc"#, "unterminated string", line: 1, column: 5)
        assertError("[\n\"a\\", "unterminated string", line: 2, column: 4)
    }

    func testStructuralErrors() {
        assertError(#"{"a" 1}"#, "expected ':' after a key", line: 1, column: 6)
        assertError(#"{1: 2}"#, "expected a string key", line: 1, column: 2)
        assertError("[1,]", "unexpected character ']'", line: 1, column: 4)
        assertError("[1 2]", "expected ',' or ']' in an array", line: 1, column: 4)
        assertError(#"{"a": 1 "b": 2}"#, "expected ',' or '}' in an object", line: 1, column: 9)
        assertError("\u{01}", "unexpected character '\\x01'", line: 1, column: 1)
    }

    func testInvalidNumbers() {
        assertError("-", "invalid number", line: 1, column: 2)
        assertError("1.", "invalid number", line: 1, column: 3)
        assertError("[1e]", "invalid number", line: 1, column: 4)
        assertError("-x", "invalid number", line: 1, column: 2)
    }

    func testNestingBeyondMaxDepth() throws {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        XCTAssertNoThrow(try JSON.parse(ok))
        let tooDeep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        assertError(tooDeep, "nested too deeply", line: 1, column: 129)
        let objects = String(repeating: #"{"a":"#, count: 200) + "1" + String(repeating: "}", count: 200)
        assertError(objects, "nested too deeply", line: 1, column: 128 * 5 + 1)

        let bytes = Array("[[[[1]]]]".utf8)
        do {
            _ = try bytes.withUnsafeBufferPointer { try JSON.parse($0, maxDepth: 3) }
            XCTFail("depth 4 parsed with maxDepth 3")
        } catch let error as JSONParseError {
            XCTAssertTrue(error.message.contains("nested too deeply"))
            XCTAssertEqual(error.column, 4)
            XCTAssertEqual(error.offset, 3)
        }
    }

    // MARK: - Writer

    func testWriterRoundTrips() throws {
        let value = JSONValue.object([
            ("z", .int(-7)), ("a", .array([.null, .bool(true), .bool(false), .double(2.5)])),
            ("nested", .object([("s", .string("tab\there \"q\" back\\slash é 😀"))])),
            ("empty", .object([])), ("list", .array([])),
        ])
        let text = JSONWriter.serialize(value)
        XCTAssertEqual(text, #"{"z":-7,"a":[null,true,false,2.5],"nested":{"s":"tab\there \"q\" back\\slash é 😀"},"empty":{},"list":[]}"#)
        XCTAssertEqual(try JSON.parse(text), value)
    }

    func testWriterEscapesControlCharacters() throws {
        let s = "a\u{01}b\nc\rd\te\u{1F}f\u{0}g"
        let text = JSONWriter.serialize(.string(s))
        XCTAssertEqual(text, #""a\u0001b\nc\rd\te\u001ff\u0000g""#)
        XCTAssertFalse(text.unicodeScalars.contains { $0.value < 0x20 })
        XCTAssertEqual(try JSON.parse(text), .string(s))
    }

    func testWriterNumbers() {
        XCTAssertEqual(JSONWriter.serialize(.double(1000)), "1000")
        XCTAssertEqual(JSONWriter.serialize(.double(0.25)), "0.25")
        XCTAssertEqual(JSONWriter.serialize(.double(.infinity)), "null")
        XCTAssertEqual(JSONWriter.serialize(.double(.nan)), "null")
        XCTAssertEqual(JSONWriter.serialize(.int(Int.min)), "-9223372036854775808")
    }

    func testWriterFacts() {
        var w = JSONWriter()
        w.fact(.list([.string("a\"b"), .int(1), .double(1.5), .bool(false), .null, .list([])]))
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), #"["a\"b",1,1.5,false,null,[]]"#)
    }
}
