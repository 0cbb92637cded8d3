import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// `authdoctor rules score`: accuracy of the top finding on a labelled corpus, with and without the provider.
final class RulesScoreCommandTests: XCTestCase {
    func corpus(_ lines: [String]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("score-\(UUID().uuidString).jsonl")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    func testCountsRightAndWrongWithAndWithoutTheProvider() throws {
        let file = try corpus([
            #"{"id": "a", "provider": "facebook", "text": "{'message': 'Error validating access token: Session has expired on Monday', 'type': 'OAuthException', 'code': 190, 'error_subcode': 463}", "expect": ["expiry"], "source": "https://example.invalid/a"}"#,
            #"{"id": "b", "provider": null, "text": "psycopg2.OperationalError: FATAL:  password authentication failed for user \"loader\"", "expect": ["credentials"], "source": "https://example.invalid/b"}"#,
            #"{"id": "c", "provider": null, "text": "The weather is nice today", "expect": ["rate-limit"], "source": "https://example.invalid/c"}"#,
        ])
        let result = try CLI.run(["rules", "score", file, "--format", "json"])
        XCTAssertEqual(result.status, 0, result.summary)
        let doc = try JSON.parse(result.stdoutText)
        XCTAssertEqual(doc["records"]?.intValue, 3)
        XCTAssertEqual(doc["right"]?.intValue, 2)
        XCTAssertEqual(doc["rightWithoutProvider"]?.intValue, 2)
        XCTAssertEqual(doc["misses"]?.arrayValue?.first?["id"]?.stringValue, "c")
        XCTAssertEqual(doc["misses"]?.arrayValue?.first?["got"]?.stringValue, "unknown")

        let text = try CLI.run(["rules", "score", file, "--misses"])
        XCTAssertTrue(text.stdoutText.contains("top finding right:  66.7% with the provider,  66.7% without"), text.stdoutText)
        XCTAssertTrue(text.stdoutText.contains("rate-limit → unknown"), text.stdoutText)
        XCTAssertTrue(text.stdoutText.contains("c: expect rate-limit, got unknown"), text.stdoutText)

        // --min: below the bar is exit 1, at or above it 0.
        XCTAssertEqual(try CLI.run(["rules", "score", file, "--min", "70"]).status, 1)
        XCTAssertEqual(try CLI.run(["rules", "score", file, "--min", "60"]).status, 0)
    }

    func testBadLinesAreNamedAndAnEmptyCorpusIsAnError() throws {
        let file = try corpus([#"{"id": "x", "text": "no label"}"#, "not json"])
        assertOneLineError(try CLI.run(["rules", "score", file]), status: 65, mentions: ["no labelled records", ":1"])
        assertOneLineError(try CLI.run(["rules", "score", "/nonexistent/corpus.jsonl"]), status: 66, mentions: ["/nonexistent/corpus.jsonl"])
        assertOneLineError(try CLI.run(["rules", "score", file, "--min", "150"]), status: 64, mentions: ["--min"])
    }

    /// The project's own corpus: the tuning set stays at 95% or more with and without the provider.
    func testTheRepositorysTuningCorpusStaysAbove95Percent() throws {
        let dir = URL(fileURLWithPath: TestPaths.fixturesDirectory).appendingPathComponent("real")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".jsonl") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 4)
        let result = try CLI.run(["rules", "score", "--format", "json"] + files.map { dir.appendingPathComponent($0).path })
        let doc = try JSON.parse(result.stdoutText)
        let records = try XCTUnwrap(doc["records"]?.intValue)
        XCTAssertGreaterThanOrEqual(records, 300)
        let right = try XCTUnwrap(doc["right"]?.intValue), rightWithout = try XCTUnwrap(doc["rightWithoutProvider"]?.intValue)
        XCTAssertGreaterThanOrEqual(Double(right) / Double(records), 0.95, "\(right)/\(records)")
        XCTAssertGreaterThanOrEqual(Double(rightWithout) / Double(records), 0.95, "\(rightWithout)/\(records)")
        XCTAssertEqual(doc["problems"]?.arrayValue?.count, 0)
    }
}
