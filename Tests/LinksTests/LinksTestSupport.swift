import EvidenceModel
import Foundation
@testable import Links
import XCTest

/// A fixed instant: tests move the clock by hand.
let t0 = Date(timeIntervalSince1970: 1_790_000_000)

func at(_ seconds: TimeInterval) -> Date { t0.addingTimeInterval(seconds) }

/// A fresh temporary directory, removed after the test.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-links-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// A store on a file in a fresh directory (WAL, like `authdoctor serve` uses).
func fileStore(_ test: XCTestCase, box: SecretBox = .ephemeral()) throws -> (SQLiteStore, URL) {
    let directory = try temporaryDirectory(test)
    let path = directory.appendingPathComponent("authdoctor.sqlite").path
    return (try SQLiteStore(path: path, secretBox: box), directory)
}

/// Runs `body` and checks it throws exactly `expected`.
func assertRefusal<T>(_ expected: LinkRefusal, _ body: @autoclosure () throws -> T,
                      file: StaticString = #filePath, line: UInt = #line) {
    do {
        let value = try body()
        XCTFail("expected \(expected), got \(value)", file: file, line: line)
    } catch let refusal as LinkRefusal {
        XCTAssertEqual(refusal, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got \(error)", file: file, line: line)
    }
}

func assertInputError<T>(_ kind: InputError.Kind, mentions: [String] = [], _ body: @autoclosure () throws -> T,
                         file: StaticString = #filePath, line: UInt = #line) -> InputError? {
    do {
        let value = try body()
        XCTFail("expected an InputError(\(kind)), got \(value)", file: file, line: line)
    } catch let error as InputError {
        XCTAssertEqual(error.kind, kind, error.description, file: file, line: line)
        XCTAssertFalse(error.description.contains("\n"), "one line: \(error.description)", file: file, line: line)
        for needle in mentions {
            XCTAssertTrue(error.description.contains(needle), "mentions \(needle): \(error.description)", file: file, line: line)
        }
        return error
    } catch {
        XCTFail("expected an InputError(\(kind)), got \(error)", file: file, line: line)
    }
    return nil
}

/// Every byte of every file in a directory (the database, its -wal and -shm files, the key).
func allBytes(in directory: URL) throws -> Data {
    var out = Data()
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
        out.append(try Data(contentsOf: directory.appendingPathComponent(name)))
    }
    return out
}

func contains(_ haystack: Data, _ needle: String) -> Bool {
    haystack.range(of: Data(needle.utf8)) != nil
}
