import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

final class BatchClassifierTests: XCTestCase {
    /// Record templates (without id) and the failure class each classifies as.
    static let templates: [(json: String, failure: String)] = [
        (#""curl_exit":6,"text":"Could not resolve host: reports.example.invalid""#, "connectivity"),
        (#""provider":"postgres","sqlstate":"28P01","text":"FATAL: password authentication failed for user \"loader\"""#, "credentials"),
        (#""status":429,"headers":{"Retry-After":"30"},"body":"Too Many Requests""#, "rate-limit"),
        (#""status":503,"body":"Service Unavailable""#, "outage"),
        (#""provider":"facebook","status":400,"body":{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463}}"#, "expiry"),
        (#""provider":"linkedin","status":401,"body":{"serviceErrorCode":65601,"message":"The token used in the request has been revoked by the user","status":401}"#, "revoked"),
        (#""provider":"snowflake","status":200,"body":{"data":null,"code":"390100","message":"Incorrect username or password was specified.","success":false}"#, "credentials"),
        (#""curl_exit":60"#, "connectivity"),
        (#""text":"The link has expired""#, "link-expired"),
        // Issue 14: nothing failed, so no finding (not an `unknown` one).
        (#""status":200,"body":"{}""#, "none"),
        (#""status":401,"headers":{"WWW-Authenticate":"Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token expired\""}"#, "expiry"),
    ]

    /// Line number (1-based) → the bad line and the id its error record carries.
    static let badLines: [Int: (line: String, id: String)] = [
        10: (#"{"id":"r10","status":401,"body":"unterminated"#, "line 10"),
        25: (#"{"id":"r25","provider":"myspace","status":401}"#, "r25"),
        40: (#"{"id":"r40","status":"four hundred and one"}"#, "r40"),
    ]

    func testFiftyMixedRecordsKeepTheirIdsAndOrder() throws {
        var lines: [String] = []
        var expectedIDs: [String] = []
        var expectedFailures: [String: Int] = [:]
        for n in 1...50 {
            if let bad = Self.badLines[n] {
                lines.append(bad.line)
                expectedIDs.append(bad.id)
                continue
            }
            let template = Self.templates[n % Self.templates.count]
            // Numeric ids are accepted and written as strings.
            let id = n % 7 == 0 ? "\(n)" : String(format: "r%02d", n)
            lines.append("{\"id\":\(n % 7 == 0 ? id : "\"\(id)\""),\(template.json)}")
            expectedIDs.append(id)
            expectedFailures[template.failure, default: 0] += 1
        }
        // CRLF line ends and a missing final newline are tolerated.
        let input = try temporaryFile(lines.enumerated().map { $0.offset % 5 == 0 ? $0.element + "\r" : $0.element }.joined(separator: "\n"),
                                      name: "records.jsonl")
        let outputURL = input.deletingLastPathComponent().appendingPathComponent("out.jsonl")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)

        let reader = try FileHandle(forReadingFrom: input)
        let writer = try FileHandle(forWritingTo: outputURL)
        let summary = try BatchClassifier(engine: Repo.engine()).run(input: reader, output: writer)
        try writer.close()
        try reader.close()

        let output = try String(contentsOf: outputURL, encoding: .utf8)
        XCTAssertTrue(output.hasSuffix("\n"))
        let outLines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(outLines.count, 50, "one output line per input line")
        guard outLines.count == 50 else { return }

        var ids: [String] = []
        var failures: [String: Int] = [:]
        for (index, line) in outLines.enumerated() {
            let doc = try assertConformsToReportSchema(line, "output line \(index + 1)")
            ids.append(doc["id"]?.stringValue ?? "<none>")
            if Self.badLines[index + 1] != nil {
                XCTAssertEqual(doc["verdict"]?.stringValue, "error", "line \(index + 1) is an error record")
                XCTAssertEqual(doc["findings"]?.arrayValue?.count, 0)
                XCTAssertNotNil(doc.at("error", "message")?.stringValue)
            } else {
                XCTAssertNotEqual(doc["verdict"]?.stringValue, "error", "line \(index + 1): \(line.prefix(300))")
                XCTAssertEqual(doc.at("input", "kind")?.stringValue, "record")
                failures[doc.at("findings", 0, "failure")?.stringValue ?? "none", default: 0] += 1
            }
        }
        XCTAssertEqual(ids, expectedIDs, "same ids, same order")
        XCTAssertEqual(failures, expectedFailures, "each record classified as its template")
        XCTAssertTrue(outLines[9].contains("invalid JSON"), outLines[9])
        XCTAssertTrue(outLines[24].contains("myspace"), outLines[24])
        XCTAssertTrue(outLines[39].contains("\\\"status\\\" must be an HTTP status code"), outLines[39])

        XCTAssertEqual(summary.records, 50)
        XCTAssertEqual(summary.errors, 3)
        XCTAssertEqual(summary.byFailure, expectedFailures)
        XCTAssertEqual(summary.byFailure.values.reduce(0, +), 47)
    }

    func testBlankLinesAreSkippedButCountedForLineNumbers() throws {
        let text = "\n" + #"{"id":"a","curl_exit":7}"# + "\n   \n" + #"{"status":401"# + "\n"
        let input = try temporaryFile(text, name: "blank.jsonl")
        let outputURL = input.deletingLastPathComponent().appendingPathComponent("out.jsonl")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let writer = try FileHandle(forWritingTo: outputURL)
        let summary = try BatchClassifier(engine: Repo.engine()).run(input: try FileHandle(forReadingFrom: input), output: writer)
        try writer.close()
        let out = try String(contentsOf: outputURL, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(out.count, 2)
        guard out.count == 2 else { return }
        XCTAssertEqual(summary.records, 2)
        XCTAssertEqual(summary.errors, 1)
        XCTAssertEqual(try JSON.parse(out[0])["id"]?.stringValue, "a")
        XCTAssertEqual(try JSON.parse(out[0]).at("findings", 0, "failure")?.stringValue, "connectivity")
        XCTAssertEqual(try JSON.parse(out[1])["id"]?.stringValue, "line 4", "the invalid line is named by its line number")
    }

    func testLargeBatchStreamsEveryRecord() throws {
        // More than one read block and more than one flush of output.
        let line = #"{"id":"big-%d","status":503,"body":"Service Unavailable","padding":"\#(String(repeating: "p", count: 2000))"}"#
        let count = 3000
        let input = try temporaryFile((1...count).map { String(format: line, $0) }.joined(separator: "\n") + "\n", name: "big.jsonl")
        let outputURL = input.deletingLastPathComponent().appendingPathComponent("out.jsonl")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let writer = try FileHandle(forWritingTo: outputURL)
        let summary = try BatchClassifier(engine: Repo.engine()).run(input: try FileHandle(forReadingFrom: input), output: writer)
        try writer.close()
        let out = try String(contentsOf: outputURL, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(out.count, count)
        guard out.count == count else { return }
        XCTAssertEqual(summary.records, count)
        XCTAssertEqual(summary.byFailure, ["outage": count])
        XCTAssertTrue(out[0].hasPrefix(#"{"schema":"authdoctor.report/v2","id":"big-1","generatedAt":"#))
        XCTAssertTrue(out[count - 1].hasPrefix(#"{"schema":"authdoctor.report/v2","id":"big-\#(count)","generatedAt":"#))
    }

    /// Runs the batch classifier over `text` and returns what it wrote.
    func runBatch(_ text: String, jobs: Int, ownEngines: Bool = false) throws -> (output: String, summary: BatchClassifier.Summary) {
        let input = try temporaryFile(text, name: "in.jsonl")
        let outputURL = input.deletingLastPathComponent().appendingPathComponent("out.jsonl")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let writer = try FileHandle(forWritingTo: outputURL)
        // One fixed time of making for every run compared (issue 14: every report carries generatedAt).
        var engine = try Repo.engine()
        engine.generatedAt = Date(timeIntervalSince1970: 1_800_000_000)
        // With ownEngines every extra worker loads its own rule set, as `classify --batch` does.
        var made: (@Sendable () -> ClassifyEngine?)? = nil
        if ownEngines {
            let rules = TestPaths.rulesDirectory
            made = { @Sendable in
                (try? RuleLibrary.load(includeBuiltin: false, directories: [rules])).map { ClassifyEngine(ruleSet: $0.0) }
            }
        }
        let summary = try BatchClassifier(engine: engine, makeWorkerEngine: made).run(input: FileHandle(forReadingFrom: input), output: writer, jobs: jobs)
        try writer.close()
        return (try String(contentsOf: outputURL, encoding: .utf8), summary)
    }

    func testParallelJobsWriteTheSameBytesInInputOrder() throws {
        var lines: [String] = []
        for n in 1...400 {
            if n % 37 == 0 { lines.append(#"{"id":"bad-\#(n)","status":"x"}"#); continue }
            if n % 53 == 0 { lines.append("{broken \(n)"); continue }
            lines.append("{\"id\":\"p\(n)\",\(Self.templates[n % Self.templates.count].json)}")
        }
        let text = lines.joined(separator: "\n")
        let (serial, serialSummary) = try runBatch(text, jobs: 1)
        XCTAssertEqual(serial.split(separator: "\n").count, 400)
        for (jobs, own) in [(2, false), (3, false), (8, false), (2, true), (3, true)] {
            let (parallel, summary) = try runBatch(text, jobs: jobs, ownEngines: own)
            XCTAssertEqual(parallel, serial, "jobs \(jobs): same bytes, same order")
            XCTAssertEqual(summary.records, serialSummary.records)
            XCTAssertEqual(summary.errors, serialSummary.errors)
            XCTAssertEqual(summary.byFailure, serialSummary.byFailure)
        }
        XCTAssertEqual(serialSummary.records, 400)
        XCTAssertEqual(serialSummary.errors, 400 / 37 + 400 / 53)
        let ids = try serial.split(separator: "\n").map { try JSON.parse(String($0))["id"]?.stringValue ?? "" }
        guard ids.count == 400 else { return XCTFail("\(ids.count) lines") }
        XCTAssertEqual(ids[0], "p1")
        XCTAssertEqual(ids[36], "bad-37")
        XCTAssertEqual(ids[52], "line 53")
        XCTAssertEqual(ids[399], "p400")
    }

    func testEmptyInputWritesNothing() throws {
        let (output, summary) = try runBatch("", jobs: 2)
        XCTAssertEqual(output, "")
        XCTAssertEqual(summary.records, 0)
        XCTAssertEqual(summary.errors, 0)
        XCTAssertEqual(summary.byFailure, [String: Int]())
    }
}
