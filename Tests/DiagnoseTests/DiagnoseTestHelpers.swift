import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// The repository's rules (not the built-in copy), loaded once for every Diagnose test.
enum Repo {
    static let loaded: Result<RuleSet, any Error> = {
        do {
            let (set, _) = try RuleLibrary.load(includeBuiltin: false, directories: [TestPaths.rulesDirectory])
            return .success(set)
        } catch {
            return .failure(error)
        }
    }()

    static func engine() throws -> ClassifyEngine {
        let set = try loaded.get()
        XCTAssertGreaterThan(set.rules.count, 20, "the repository's rules/ should load")
        return ClassifyEngine(ruleSet: set)
    }

    /// A zeroed batch summary. BatchClassifier.Summary has no public initializer, so one is obtained
    /// from a run over empty input.
    static func emptySummary() throws -> BatchClassifier.Summary {
        let empty = try temporaryFile("", name: "empty.jsonl")
        let sink = empty.deletingLastPathComponent().appendingPathComponent("sink.jsonl")
        _ = FileManager.default.createFile(atPath: sink.path, contents: nil)
        let output = try FileHandle(forWritingTo: sink)
        defer { try? output.close() }
        return try BatchClassifier(engine: engine()).run(input: FileHandle(forReadingFrom: empty), output: output)
    }

    static let schema: Result<JSONSchemaValidator, any Error> = Result { try JSONSchemaValidator.reportSchema() }

    /// A report for a fixture, the way `rules test` and `classify` read it (provider from the folder).
    static func report(fixture path: String, keepFacts: Bool = false) throws -> Report {
        let text = try TestPaths.fixture(path)
        let format = try XCTUnwrap(EvidenceLoader.format(forPath: path), "fixture kind of \(path)")
        let evidences = try EvidenceLoader.load(text, format: format, source: "fixtures/" + path,
                                                provider: ExampleRunner.provider(forFixture: path))
        return try engine().report(for: evidences, source: "fixtures/" + path, keepFacts: keepFacts)
    }
}

/// Parses `json` with EvidenceModel's parser and checks it against schema/report.schema.json.
@discardableResult
func assertConformsToReportSchema(_ json: String, _ context: @autoclosure () -> String = "",
                                  file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
    let value: JSONValue
    do {
        value = try JSON.parse(json)
    } catch {
        XCTFail("\(context()): output is not JSON (\(error)):\n\(json.prefix(1000))", file: file, line: line)
        throw error
    }
    XCTAssertEqual(duplicateKeys(in: value), [], "\(context()): an object repeats a member", file: file, line: line)
    let issues = try Repo.schema.get().validate(value)
    XCTAssertEqual(issues, [], "\(context()): does not conform to report.schema.json:\n"
                   + issues.map(\.description).joined(separator: "\n") + "\n" + String(json.prefix(3000)), file: file, line: line)
    return value
}


/// Text with ANSI escape sequences removed.
func strippingANSI(_ s: String) -> String {
    s.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
}

/// Writes `text` to a new temporary file and returns its path.
func temporaryFile(_ text: String, name: String = "input.txt") throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-diagnose-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    return url
}

/// JSON pointers of members that occur twice in the same object (valid JSON, but ambiguous).
func duplicateKeys(in value: JSONValue, at path: String = "") -> [String] {
    switch value {
    case let .object(members):
        var seen = Set<String>()
        var out: [String] = []
        for (key, member) in members {
            let here = path + "/" + JSONSchemaValidator.escape(key)
            if !seen.insert(key).inserted { out.append(here) }
            out += duplicateKeys(in: member, at: here)
        }
        return out
    case let .array(items):
        return items.enumerated().flatMap { duplicateKeys(in: $0.element, at: path + "/\($0.offset)") }
    default:
        return []
    }
}
