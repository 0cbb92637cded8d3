import AuthDoctorTestSupport
import EvidenceModel
import Foundation
@testable import Links
import XCTest

/// Issue 16, items 4 and 6 (check side) through the real binary on the PostgreSQL test server:
/// two `check --claim` processes share a round (each connection checked once, history sees all);
/// the database stopped under `check`: the connections that need it are UNKNOWN, nothing is
/// half-written, and the next run after it is back works.
final class CheckClaimCommandTests: XCTestCase {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    var directory: URL!
    var environment: [String: String?] = [:]

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(self) }

    func freshDatabase() throws -> (String, PostgresLocation) {
        let env = ProcessInfo.processInfo.environment
        guard let port = env["AUTHDOCTOR_PG_TEST_PORT"], let password = env["AUTHDOCTOR_PG_TEST_STORE_PASSWORD"] else {
            throw XCTSkip("no PostgreSQL test server: run `make test` (AUTHDOCTOR_PG_TEST_PORT, AUTHDOCTOR_PG_TEST_STORE_PASSWORD)")
        }
        let base = "postgres://storeowner@127.0.0.1:\(port)/"
        let admin = try PostgresLocation(url: base + "authdoctor_store?sslmode=disable", passwordVariable: "AUTHDOCTOR_PG_TEST_STORE_PASSWORD")
        let name = "k_" + LinkSecrets.newID(prefix: "")
        try PGConnection.connect(admin.parameters).exec("CREATE DATABASE \(name)")
        addTeardownBlock {
            if let c = try? PGConnection.connect(admin.parameters) { _ = try? c.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        }
        environment = ["AUTHDOCTOR_KEY": Self.key, "PGPASSWORD": password, "AUTHDOCTOR_DB": nil, "G_TOKEN": "sbx-google-healthy"]
        let url = base + name + "?sslmode=disable"
        return (url, try PostgresLocation(url: url, passwordVariable: "AUTHDOCTOR_PG_TEST_STORE_PASSWORD"))
    }

    func check(_ arguments: [String]) throws -> ProcessResult {
        try CLI.run(["check"] + arguments, environment: environment)
    }

    /// Two real workers started together on one round: between them every connection once, none
    /// twice; the history holds one verdict per connection; a third worker on the finished round
    /// finds nothing to claim; the next round checks everything again.
    func testTwoClaimingWorkersCheckEachConnectionOncePerRound() throws {
        let (url, location) = try freshDatabase()
        let (file, names) = try CheckShardCommandTests.connectionsFile(120, in: directory)
        let arguments = ["--connections", file, "--sandbox", "--db", url, "--claim", "--round", "night-1", "--format", "json", "--concurrency", "4"]
        let env = environment
        let results = CheckShardCommandTests.together(2) { _ in try? CLI.run(["check"] + arguments, environment: env) }
        let a = try XCTUnwrap(results[0]), b = try XCTUnwrap(results[1])
        XCTAssertEqual(a.status, 0, a.summary)
        XCTAssertEqual(b.status, 0, b.summary)
        let one = try CheckShardCommandTests.checked(a), two = try CheckShardCommandTests.checked(b)
        XCTAssertTrue(Set(one.keys).isDisjoint(with: two.keys), "no connection checked by both workers")
        XCTAssertEqual(Set(one.keys).union(two.keys), Set(names), "every connection checked in the round")
        print("claim workers: \(one.count) + \(two.count)")

        let store = try PostgresStore(location: location, secretBox: try SecretBox.load(environment: ["AUTHDOCTOR_KEY": Self.key], keyFile: ""))
        let history = try store.recentVerdicts(perConnection: 5)
        XCTAssertEqual(Set(history.keys), Set(names))
        XCTAssertTrue(history.values.allSatisfy { $0.count == 1 }, "one verdict per connection in the round")
        XCTAssertEqual(try store.round(id: "night-1"), ClaimRound(id: "night-1", total: names.count, done: names.count))

        let late = try check(arguments)
        XCTAssertEqual(late.status, 0, late.summary)
        XCTAssertEqual(late.stdoutText, "", "nothing claimed, nothing reported")
        XCTAssertTrue(late.stderrText.contains("nothing left to claim"), late.summary)
        let lateNagios = try check(Array(arguments.dropLast(4)) + ["--format", "nagios"])
        XCTAssertEqual(lateNagios.status, 0, lateNagios.summary)
        XCTAssertTrue(lateNagios.stdoutText.hasPrefix("AUTHDOCTOR OK - round night-1: nothing left to claim"), lateNagios.summary)

        // Without --round: a new round (the last one finished), every connection once more.
        let next = try check(["--connections", file, "--sandbox", "--db", url, "--claim", "--format", "json"])
        XCTAssertEqual(next.status, 0, next.summary)
        XCTAssertEqual(Set(try CheckShardCommandTests.checked(next).keys), Set(names))
        XCTAssertTrue(try store.recentVerdicts(perConnection: 5).values.allSatisfy { $0.count == 2 })
    }

    /// The PostgreSQL server is stopped (pg-test-server.sh halt): `check` reports the connections
    /// that need the store UNKNOWN with the reason, writes nothing and does not crash; with only
    /// the store to list them the run is UNKNOWN in one line. After `resume` the same command works.
    func testPostgresDownMakesTheAffectedConnectionsUnknownAndNothingIsHalfWritten() throws {
        let (url, location) = try freshDatabase()
        guard let cluster = ProcessInfo.processInfo.environment["AUTHDOCTOR_PG_TEST_DIR"] else {
            throw XCTSkip("AUTHDOCTOR_PG_TEST_DIR names the test cluster to stop and start (make test exports it)")
        }
        let (file, names) = try CheckShardCommandTests.connectionsFile(8, in: directory)
        // The store exists (migrated) before the outage.
        assertSuccess(try CLI.run(["store", "migrate", "--db", url], environment: environment))

        let script = TestPaths.packageRoot.appendingPathComponent("scripts/pg-test-server.sh").path
        func control(_ verb: String) throws {
            let result = try ProcessRunner.run(URL(fileURLWithPath: "/bin/bash"),
                                               ["-c", PostgresServeTests.closingInheritedDescriptors + "bash \"$0\" \"$1\" \"$2\" </dev/null >/dev/null 2>>\"$2-pub/control.log\"",
                                                script, verb, cluster],
                                               timeout: 60)
            XCTAssertEqual(result.status, 0, result.summary)
        }
        try control("halt")
        var resumed = false
        defer { if !resumed { try? control("resume") } }

        let nagios = try check(["--connections", file, "--sandbox", "--db", url, "--format", "nagios"])
        XCTAssertEqual(nagios.status, 3, nagios.summary)
        XCTAssertTrue(nagios.stdoutText.hasPrefix("AUTHDOCTOR UNKNOWN"), nagios.summary)
        XCTAssertTrue(nagios.stdoutText.contains("store is unavailable"), nagios.summary)
        let json = try check(["--connections", file, "--sandbox", "--db", url, "--format", "json"])
        XCTAssertEqual(json.status, 3, json.summary)
        let document = try JSON.parse(json.stdoutText)
        let connections = document["connections"]?.arrayValue ?? []
        XCTAssertEqual(Set(connections.compactMap { $0["name"]?.stringValue }), Set(names))
        for connection in connections {
            XCTAssertEqual(connection["status"]?.stringValue, "unknown")
            XCTAssertEqual(connection["failure"]?.stringValue, "store-unavailable")
            XCTAssertTrue(connection["summary"]?.stringValue?.contains("PostgreSQL is unavailable") == true, "\(connection)")
        }
        let claiming = try check(["--connections", file, "--sandbox", "--db", url, "--claim", "--format", "json"])
        XCTAssertEqual(claiming.status, 3, claiming.summary)
        // Only the store to list the connections: UNKNOWN in one line (the Nagios status line too).
        let storeOnly = try check(["--db", url])
        assertOneLineError(storeOnly, status: 3, mentions: ["PostgreSQL is unavailable", "nothing was checked"])
        let storeOnlyNagios = try check(["--db", url, "--format", "nagios"])
        XCTAssertEqual(storeOnlyNagios.status, 3)
        XCTAssertTrue(storeOnlyNagios.stdoutText.hasPrefix("AUTHDOCTOR UNKNOWN - "), storeOnlyNagios.summary)
        for result in [nagios, json, claiming, storeOnly] {
            XCTAssertFalse(result.stderrText.contains(ProcessInfo.processInfo.environment["AUTHDOCTOR_PG_TEST_STORE_PASSWORD"]!))
        }

        try control("resume")
        resumed = true
        let store = try PostgresStore(location: location, secretBox: try SecretBox.load(environment: ["AUTHDOCTOR_KEY": Self.key], keyFile: ""))
        XCTAssertEqual(try store.recentVerdicts(perConnection: 5), [:], "nothing was written while it was down")
        let back = try check(["--connections", file, "--sandbox", "--db", url, "--claim", "--format", "json"])
        XCTAssertEqual(back.status, 0, back.summary)
        XCTAssertEqual(Set(try CheckShardCommandTests.checked(back).keys), Set(names))
        XCTAssertEqual(try store.recentVerdicts(perConnection: 5).mapValues(\.count), Dictionary(uniqueKeysWithValues: names.map { ($0, 1) }))
    }
}
