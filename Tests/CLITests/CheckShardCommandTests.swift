import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// Issue 16, item 4 through the real binary: `check --shard K/N` in two processes at once; a bad
/// value is a one-line usage error (64).
final class CheckShardCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(self) }

    static let environment: [String: String?] = ["G_TOKEN": "sbx-google-healthy", "AUTHDOCTOR_DB": nil]

    /// A connections file of `count` Sandbox connections named conn-0 ... (healthy Google tokens).
    static func connectionsFile(_ count: Int, in directory: URL) throws -> (String, [String]) {
        let names = (0..<count).map { "conn-\($0)" }
        var text = "connections:\n"
        for name in names { text += "  - name: \(name)\n    provider: google\n    token-env: G_TOKEN\n" }
        return (try write(text, to: directory, "conns.yaml").path, names)
    }

    /// The names a `--format json` run checked, and their statuses.
    static func checked(_ result: ProcessResult) throws -> [String: String] {
        let document = try JSON.parse(result.stdoutText)
        var out: [String: String] = [:]
        for connection in document["connections"]?.arrayValue ?? [] {
            guard let name = connection["name"]?.stringValue else { continue }
            XCTAssertNil(out[name], "\(name) reported twice by one worker")
            out[name] = connection["status"]?.stringValue
        }
        return out
    }

    /// Two real processes, started together: between them every connection once, none twice.
    func testTwoShardProcessesSplitTheConnectionsWithoutOverlap() throws {
        let (file, names) = try Self.connectionsFile(60, in: directory)
        let results = Self.together(2) { worker in
            try? CLI.run(["check", "--connections", file, "--sandbox", "--format", "json", "--shard", "\(worker + 1)/2"], environment: Self.environment)
        }
        let one = try Self.checked(try XCTUnwrap(results[0])), two = try Self.checked(try XCTUnwrap(results[1]))
        XCTAssertEqual(results[0]?.status, 0, results[0]?.summary ?? "")
        XCTAssertEqual(results[1]?.status, 0, results[1]?.summary ?? "")
        XCTAssertTrue(Set(one.keys).isDisjoint(with: two.keys), "no connection in both shards")
        XCTAssertEqual(Set(one.keys).union(two.keys), Set(names), "every connection in one shard")
        XCTAssertFalse(one.isEmpty || two.isEmpty, "both shards have work: \(one.count) + \(two.count)")
        XCTAssertTrue(one.values.allSatisfy { $0 == "ok" } && two.values.allSatisfy { $0 == "ok" })

        // The same split on the next run (the hash is not seeded per process), and 1/1 is everything.
        let again = try CLI.run(["check", "--connections", file, "--sandbox", "--format", "json", "--shard", "1/2"], environment: Self.environment)
        XCTAssertEqual(Set(try Self.checked(again).keys), Set(one.keys))
        let whole = try CLI.run(["check", "--connections", file, "--sandbox", "--format", "json", "--shard", "1/1"], environment: Self.environment)
        XCTAssertEqual(Set(try Self.checked(whole).keys), Set(names))
    }

    /// With --connection, the shard is taken among the named ones: a name outside this shard is not checked here.
    func testShardAfterConnectionSelection() throws {
        let (file, _) = try Self.connectionsFile(10, in: directory)
        let results = try (1...3).map { k in
            try Self.checked(try CLI.run(["check", "--connections", file, "--sandbox", "--format", "json", "--shard", "\(k)/3",
                                          "--connection", "conn-1", "--connection", "conn-2"], environment: Self.environment))
        }
        XCTAssertEqual(results.flatMap(\.keys).sorted(), ["conn-1", "conn-2"])
    }

    /// Runs `body(0) ... body(count - 1)` on threads at once; their results in order.
    static func together<T>(_ count: Int, _ body: @escaping @Sendable (Int) -> T?) -> [T?] {
        let box = ResultsBox<T>(count)
        DispatchQueue.concurrentPerform(iterations: count) { i in box.set(i, body(i)) }
        return box.values
    }

    func testBadShardValuesAreOneLineUsageErrors() throws {
        let (file, _) = try Self.connectionsFile(2, in: directory)
        for bad in ["0/2", "3/2", "1/0", "2", "a/b", "1/2/3", "-1/2", "", "1/5000"] {
            let result = try CLI.run(["check", "--connections", file, "--sandbox", "--shard", bad], environment: Self.environment)
            assertOneLineError(result, status: 64, mentions: ["--shard"])
        }
        let both = try CLI.run(["check", "--connections", file, "--db", directory.appendingPathComponent("s.sqlite").path, "--shard", "1/2", "--claim"],
                               environment: Self.environment)
        assertOneLineError(both, status: 64, mentions: ["--shard", "--claim"])
        // Claims with leases need PostgreSQL: a SQLite store is refused, pointing at --shard.
        let sqlite = try CLI.run(["check", "--connections", file, "--sandbox", "--db", directory.appendingPathComponent("s.sqlite").path, "--claim"],
                                 environment: Self.environment.merging(["AUTHDOCTOR_KEY": String(repeating: "ab", count: 32)]) { $1 })
        assertOneLineError(sqlite, status: 64, mentions: ["--claim needs a PostgreSQL store", "--shard"])
        for (flags, needle) in [(["--round", "r1"], "--round is for --claim"), (["--lease", "60"], "--lease is for --claim"),
                                (["--claim"], "--claim needs --db")] {
            assertOneLineError(try CLI.run(["check", "--connections", file] + flags, environment: Self.environment), status: 64, mentions: [needle])
        }
    }
}

/// Results gathered from threads.
final class ResultsBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [T?]
    init(_ count: Int) { stored = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T?) { lock.withLock { stored[i] = value } }
    var values: [T?] { lock.withLock { stored } }
}
