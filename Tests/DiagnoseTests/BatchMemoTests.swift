import AuthDoctorTestSupport
@testable import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// `classify --batch` reuses a report when a record's read facts repeat an earlier record's
/// (BatchMemo). Reuse must never change a byte of the output: checked over the real corpus.
final class BatchMemoTests: XCTestCase {
    /// Every other record of fixtures/real (all three parts), as batch lines.
    static func corpusLines() throws -> [[String: Any]] {
        let root = TestPaths.packageRoot.appendingPathComponent("fixtures/real")
        var files: [URL] = []
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        while let url = walker?.nextObject() as? URL {
            if url.pathExtension == "jsonl" { files.append(url) }
        }
        files.sort { $0.path < $1.path }
        var records: [[String: Any]] = []
        var n = 0
        for file in files {
            for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") where !line.isEmpty {
                n += 1
                guard n % 2 == 0 else { continue }
                var record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                for member in ["expect", "source", "note"] { record[member] = nil }
                records.append(record)
            }
        }
        return records
    }

    /// The same record with a new id and, in a JSON body, a member no rule reads (a trace id).
    static func twin(of record: [String: Any], index: Int) -> [String: Any] {
        var twin = record
        twin["id"] = "twin-\(index)"
        if var body = record["body"] as? [String: Any] {
            body["x_trace_unread"] = "trace-\(index)"
            twin["body"] = body
        } else if let text = record["body"] as? String, let data = text.data(using: .utf8),
                  var body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            body["x_trace_unread"] = "trace-\(index)"
            twin["body"] = String(decoding: (try? JSONSerialization.data(withJSONObject: body)) ?? data, as: UTF8.self)
        }
        return twin
    }

    func run(_ lines: [String], memoize: Bool, jobs: Int = 2) throws -> (lines: [String], summary: BatchClassifier.Summary) {
        let input = try temporaryFile(lines.joined(separator: "\n") + "\n", name: "batch.jsonl")
        let outputURL = input.deletingLastPathComponent().appendingPathComponent("out-\(memoize).jsonl")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let reader = try FileHandle(forReadingFrom: input)
        let writer = try FileHandle(forWritingTo: outputURL)
        var engine = try Repo.engine()
        // Both runs are compared byte for byte: one time of making for both.
        engine.generatedAt = Date(timeIntervalSince1970: 1_800_000_000)
        var batch = BatchClassifier(engine: engine)
        batch.memoize = memoize
        let summary = try batch.run(input: reader, output: writer, jobs: jobs)
        try writer.close()
        try reader.close()
        let out = try String(contentsOf: outputURL, encoding: .utf8).split(separator: "\n").map(String.init)
        return (out, summary)
    }

    func testReusedReportsAreByteForByteWhatClassifyingWrites() throws {
        let records = try Self.corpusLines()
        XCTAssertGreaterThan(records.count, 2_000, "the real corpus should load")
        func line(_ record: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self)
        }
        let originals = try records.map(line)
        let twins = try records.enumerated().map { try line(Self.twin(of: $0.element, index: $0.offset)) }
        // Each original right before its twin: the twin is the record the memo can answer.
        var interleaved: [String] = []
        for (original, twin) in zip(originals, twins) { interleaved += [original, twin] }

        let plain = try run(originals + twins, memoize: false)
        let memoized = try run(interleaved, memoize: true)
        XCTAssertEqual(plain.summary.reused, 0)
        XCTAssertEqual(plain.lines.count, 2 * records.count)
        XCTAssertEqual(memoized.lines.count, 2 * records.count)
        // Most twins are answered from the memo (a text naming a secret is always classified).
        XCTAssertGreaterThan(memoized.summary.reused, records.count * 3 / 4)
        var differing: [String] = []
        for i in records.indices {
            if memoized.lines[2 * i] != plain.lines[i] {
                differing.append("original \(i): \(originals[i].prefix(160))")
            }
            if memoized.lines[2 * i + 1] != plain.lines[records.count + i] { differing.append("twin \(i): \(twins[i].prefix(160))") }
        }
        XCTAssertEqual(differing.count, 0, "reused reports differ from classified ones:\n" + differing.prefix(10).joined(separator: "\n"))
        XCTAssertEqual(memoized.summary.byFailure, plain.summary.byFailure)
    }

    /// What a rule only tests the presence of does not stop reuse: a Snowflake body's `requestId`
    /// is tested with `exists` by a LinkedIn rule alone. When that rule holds, it shows the value,
    /// and such a report is not reused (the premise test covers it).
    func testAFactOnlyTestedForPresenceIsKeyedByPresence() throws {
        let snowflake = { (id: String, request: String) in
            #"{"id":"\#(id)","provider":"snowflake","status":200,"body":{"data":null,"code":"390100","message":"Incorrect username or password was specified.","success":false,"requestId":"\#(request)"}}"#
        }
        let reused = try run([snowflake("s1", "r-1"), snowflake("s2", "r-2")], memoize: true, jobs: 1)
        XCTAssertEqual(reused.summary.reused, 1)
        XCTAssertEqual(reused.summary.byFailure["credentials"], 2)
        let plain = try run([snowflake("s1", "r-1"), snowflake("s2", "r-2")], memoize: false, jobs: 1)
        XCTAssertEqual(reused.lines, plain.lines)
        let engine = try Repo.engine()
        let read = engine.factNamesReadByProvider()
        XCTAssertTrue(read.names(forProviders: FactNamesRead.providers(of: Facts(["provider": .string("snowflake")]))).presenceOnly.contains("body.requestId"),
                      "a LinkedIn rule tests only that it exists")
    }

    /// What only another provider's rules read does not stop reuse: `body.id` is read by Facebook
    /// rules alone (a Graph object's id), so two Google answers differing in it share a report,
    /// while two Facebook answers differing in it do not.
    func testAFactReadOnlyByAnotherProvidersRulesIsNotPartOfTheKey() throws {
        let answer = { (id: String, provider: String, object: String) in
            #"{"id":"\#(id)","provider":"\#(provider)","status":401,"body":{"id":"\#(object)","error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}}"#
        }
        let google = [answer("g1", "google", "obj-1"), answer("g2", "google", "obj-2")]
        let reused = try run(google, memoize: true, jobs: 1)
        XCTAssertEqual(reused.summary.reused, 1)
        XCTAssertEqual(reused.lines, try run(google, memoize: false, jobs: 1).lines)
        let facebook = [answer("f1", "facebook", "obj-1"), answer("f2", "facebook", "obj-2")]
        XCTAssertEqual(try run(facebook, memoize: true, jobs: 1).summary.reused, 0, "Facebook rules read body.id")
        let read = try Repo.engine().factNamesReadByProvider()
        func names(_ provider: String) -> Set<String> {
            read.names(forProviders: FactNamesRead.providers(of: Facts(["provider": .string(provider)]))).values
        }
        XCTAssertTrue(names("facebook").contains("body.id"))
        XCTAssertFalse(names("google").contains("body.id"))
    }

    /// A record whose read facts differ (another status) is classified, not reused.
    func testARecordDifferingInAReadFactIsClassifiedAgain() throws {
        let a = #"{"id":"a","provider":"facebook","status":400,"body":{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A1"}}}"#
        let b = #"{"id":"b","provider":"facebook","status":400,"body":{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"B2"}}}"#
        let c = #"{"id":"c","provider":"facebook","status":400,"body":{"error":{"message":"Error validating access token: The user has not authorized application 123.","type":"OAuthException","code":190,"error_subcode":458,"fbtrace_id":"C3"}}}"#
        // One worker: each worker keeps its own memo.
        let result = try run([a, b, c], memoize: true, jobs: 1)
        XCTAssertEqual(result.summary.reused, 1, "only b repeats a (their fbtrace_ids are not read)")
        XCTAssertEqual(result.summary.byFailure["expiry"], 2)
        XCTAssertEqual(result.summary.byFailure["revoked"], 1)
        XCTAssertTrue(result.lines[1].contains(#""id":"b""#))
    }

    /// A stretch of records that do not repeat pauses the memo: the record after 1,024 misses is
    /// classified even when it repeats one already seen.
    func testRecordsThatNeverRepeatPauseTheMemo() throws {
        let record = { (i: Int) in #"{"id":"u\#(i)","provider":"google","status":401,"body":{"error":{"code":401,"message":"Request had invalid authentication credentials (request \#(i)).","status":"UNAUTHENTICATED"}}}"# }
        let lines = (0..<1_024).map(record) + [record(0).replacingOccurrences(of: #""id":"u0""#, with: #""id":"again""#)]
        let paused = try run(lines, memoize: true, jobs: 1)
        XCTAssertEqual(paused.summary.reused, 0, "the memo pauses after 1,024 misses")
        XCTAssertEqual(paused.summary.byFailure["expiry", default: 0] + paused.summary.byFailure["credentials", default: 0], 1_025)
        let early = try run(Array(lines.prefix(10)) + [lines.last!], memoize: true, jobs: 1)
        XCTAssertEqual(early.summary.reused, 1, "before the trial ends, a repeat is answered from the memo")
    }

    /// The memo's premise, checked directly: over the real corpus, a record's facts cut down to the
    /// names the engine declares it reads for the record's providers give the same report as all
    /// of its facts. A name read but missing from `factNamesReadByProvider()` (or filed under the
    /// wrong provider) changes some report here.
    func testFactsOutsideTheReadNamesNeverChangeAReport() throws {
        var engine = try Repo.engine()
        engine.generatedAt = Date(timeIntervalSince1970: 1_800_000_000)
        let byProvider = engine.factNamesReadByProvider()
        XCTAssertTrue(byProvider.readForEveryProvider.isSuperset(of: ["text", "message", "http.status", "provider", "body.error.code"]))
        let writer = JSONReportWriter()
        var checked = 0, cut = 0, changedPresenceOnly = 0, showing = 0
        var differing: [String] = []
        for (index, record) in try Self.corpusLines().enumerated() {
            let line = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
            let evidence = try BatchRecord.parse(line, place: "record \(index)").evidence
            let facts = engine.extractor.facts(for: evidence)
            let read = byProvider.names(forProviders: FactNamesRead.providers(of: facts))
            // Unread facts dropped; facts read by presence only given another value, as the memo
            // lets a record with another value reuse the report.
            var projected = Facts()
            for (name, value) in facts.table {
                if read.values.contains(name.name) {
                    projected[name.name] = value
                } else if read.presenceOnly.contains(name.name) {
                    projected[name.name] = value.isPresent ? .string("another value") : value
                    changedPresenceOnly += 1
                }
            }
            cut += facts.count - projected.count
            func report(_ facts: Facts) -> (tail: [UInt8], showsPresenceOnly: Bool) {
                var w = JSONWriter()
                let report = engine.report(for: [evidence], factSets: [facts], source: nil, id: nil, keepFacts: false)
                writer.writeTail(report, into: &w)
                return (w.bytes, report.findings.contains { $0.evidence.contains { read.presenceOnly.contains($0.name) } })
            }
            let full = report(facts)
            // BatchClassifier stores no report that shows a presence-only fact.
            if full.showsPresenceOnly { showing += 1; continue }
            if full.tail != report(projected).tail { differing.append(String(line.prefix(200))) }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 2_000)
        XCTAssertGreaterThan(cut, checked, "most records carry facts no rule reads (trace ids, padding, headers)")
        XCTAssertGreaterThan(changedPresenceOnly, 100, "the corpus exercises presence-only facts")
        XCTAssertLessThan(showing, checked / 10)
        XCTAssertEqual(differing.count, 0, "facts outside factNamesReadByProvider() changed these reports:\n" + differing.prefix(10).joined(separator: "\n"))
    }
}
