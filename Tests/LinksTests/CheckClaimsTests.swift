import EvidenceModel
import Foundation
@testable import Links
import XCTest

/// Issue 16, item 4 in the store: rounds, claims with leases (`FOR UPDATE SKIP LOCKED`), completion
/// with the verdict in one transaction, a dead worker's claims taken over once its lease runs out.
final class CheckClaimsTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    func makeStore() throws -> PostgresStore {
        try PostgresStore(location: try PostgresTestServer.freshDatabase(self), secretBox: .ephemeral())
    }

    func verdict(_ name: String, _ when: Date) -> CheckVerdict {
        CheckVerdict(connection: name, checkedAt: when, status: "ok", failure: "none", summary: "fine")
    }

    func testTwoWorkersClaimDisjointBatchesAndTheRoundFinishesOnce() throws {
        let store = try makeStore()
        let names = (0..<50).map { "conn-\($0)" }
        let round = try store.joinRound(label: "r1", connections: names, now: t0)
        XCTAssertEqual(round, ClaimRound(id: "r1", total: 50, done: 0))
        // The second worker joins with the same names: nothing is added twice.
        XCTAssertEqual(try store.joinRound(label: "r1", connections: names, now: t0).total, 50)

        let a = try store.claim(round: "r1", worker: "a", among: names, limit: 20, lease: 60, now: t0)
        let b = try store.claim(round: "r1", worker: "b", among: names, limit: 100, lease: 60, now: t0)
        XCTAssertEqual(a.count, 20)
        XCTAssertEqual(b.count, 30)
        XCTAssertTrue(Set(a).isDisjoint(with: b))
        XCTAssertEqual(Set(a).union(b), Set(names))
        XCTAssertEqual(try store.claim(round: "r1", worker: "c", among: names, limit: 10, lease: 60, now: at(1)), [], "all leased")

        let doneA = try store.completeClaims(round: "r1", worker: "a", verdicts: a.map { verdict($0, at(2)) }, record: true, released: [], now: at(2))
        XCTAssertEqual(doneA, ClaimCompletion(recorded: 20, takenOver: [], roundFinished: false))
        let doneB = try store.completeClaims(round: "r1", worker: "b", verdicts: b.map { verdict($0, at(3)) }, record: true, released: [], now: at(3))
        XCTAssertEqual(doneB, ClaimCompletion(recorded: 30, takenOver: [], roundFinished: true))
        XCTAssertEqual(try store.round(id: "r1"), ClaimRound(id: "r1", total: 50, done: 50))
        for name in names { XCTAssertEqual(try store.verdicts(connection: name, limit: 10).count, 1, name) }
        // Done this round: nobody claims them again, even long after.
        XCTAssertEqual(try store.claim(round: "r1", worker: "c", among: names, limit: 100, lease: 60, now: at(10_000)), [])

        // Without a label: the newest unfinished round, else a new one.
        let fresh = try store.joinRound(label: nil, connections: names, now: at(20))
        XCTAssertNotEqual(fresh.id, "r1")
        XCTAssertTrue(fresh.id.hasPrefix("rnd_"))
        XCTAssertEqual(try store.joinRound(label: nil, connections: [], now: at(21)).id, fresh.id, "joins the unfinished round")
    }

    /// A worker dies holding claims: once the lease runs out another worker takes them; the dead
    /// worker's late completion records nothing (each connection once per round). A live worker
    /// renews its lease and keeps its claims.
    func testAnExpiredLeaseIsTakenOverAndTheLateCompletionRecordsNothing() throws {
        let store = try makeStore()
        let names = ["x", "y", "z"]
        _ = try store.joinRound(label: "r", connections: names, now: t0)
        XCTAssertEqual(try store.claim(round: "r", worker: "dead", among: ["x", "y"], limit: 10, lease: 30, now: t0), ["x", "y"])
        XCTAssertEqual(try store.claim(round: "r", worker: "live", among: ["z"], limit: 10, lease: 30, now: t0), ["z"])
        XCTAssertEqual(try store.extendLeases(round: "r", worker: "live", lease: 30, now: at(25)), 1)
        // At 40 s the dead worker's lease (until 30) has run out; the live one's (until 55) has not.
        let taken = try store.claim(round: "r", worker: "next", among: names, limit: 10, lease: 30, now: at(40))
        XCTAssertEqual(taken, ["x", "y"])
        let late = try store.completeClaims(round: "r", worker: "dead", verdicts: [verdict("x", at(41))], record: true, released: [], now: at(41))
        XCTAssertEqual(late, ClaimCompletion(recorded: 0, takenOver: ["x"], roundFinished: false))
        XCTAssertEqual(try store.verdicts(connection: "x", limit: 5), [])
        // A released claim (not checked: the deadline came) is claimable again at once.
        _ = try store.completeClaims(round: "r", worker: "next", verdicts: [verdict("x", at(42))], record: true, released: ["y"], now: at(42))
        XCTAssertEqual(try store.claim(round: "r", worker: "other", among: names, limit: 10, lease: 30, now: at(43)), ["y"])
        XCTAssertEqual(try store.verdicts(connection: "x", limit: 5).count, 1)
    }

    /// Many workers claiming at once (one connection each, `SKIP LOCKED`): no name is claimed twice.
    func testConcurrentClaimsNeverOverlap() throws {
        let location = try PostgresTestServer.freshDatabase(self)
        let first = try PostgresStore(location: location, secretBox: .ephemeral())
        let names = (0..<400).map { String(format: "c%04d", $0) }
        _ = try first.joinRound(label: "r", connections: names, now: t0)
        let stores = try (0..<4).map { _ in try PostgresStore(location: location, secretBox: .ephemeral(), checkingKey: false) }
        let gathered = Locked<[String: [String]]>([:])
        let now = t0
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var mine: [String] = []
            while let got = try? stores[worker].claim(round: "r", worker: "w\(worker)", among: names, limit: 7, lease: 60, now: now),
                  !got.isEmpty {
                mine += got
            }
            gathered.withLock { $0["w\(worker)"] = mine }
        }
        let claimed = gathered.withLock { $0 }
        let all = claimed.values.flatMap { $0 }
        XCTAssertEqual(all.count, names.count, "every connection claimed once: \(claimed.mapValues(\.count))")
        XCTAssertEqual(Set(all), Set(names))
    }

    /// The array literal survives quotes, backslashes, commas and braces in names.
    /// Two workers completing the last claims of a round at the same moment: one of them marks the
    /// round finished. Without the lock around the check, each saw the other's claims undone (read
    /// committed) and the round stayed open forever (CheckClaimCommandTests failed on it under load).
    func testTwoWorkersCompletingAtOnceFinishTheRound() throws {
        let location = try PostgresTestServer.freshDatabase(self)
        let stores = try (0..<2).map { _ in try PostgresStore(location: location, secretBox: .ephemeral(), checkingKey: false) }
        for attempt in 0..<40 {
            let round = "race-\(attempt)"
            let names = (0..<2).map { "\(round)-c\($0)" }
            _ = try stores[0].joinRound(label: round, connections: names, now: t0)
            XCTAssertEqual(try stores[0].claim(round: round, worker: "a", among: [names[0]], limit: 1, lease: 60, now: t0), [names[0]])
            XCTAssertEqual(try stores[1].claim(round: round, worker: "b", among: [names[1]], limit: 1, lease: 60, now: t0), [names[1]])
            let finished = ConcurrentSlots<Bool>(count: 2)
            let verdicts = names.map { verdict($0, at(1)) }, when = at(1)
            DispatchQueue.concurrentPerform(iterations: 2) { worker in
                let completion = try? stores[worker].completeClaims(round: round, worker: worker == 0 ? "a" : "b",
                                                                    verdicts: [verdicts[worker]], record: true, released: [], now: when)
                finished.set(worker, completion?.roundFinished ?? false)
            }
            XCTAssertEqual(finished.values.filter { $0 == true }.count, 1, "exactly one worker finishes \(round)")
        }
    }

    func testNamesWithQuotesAndBracesRoundTrip() throws {
        let store = try makeStore()
        let names = ["a\"b", "c\\d", "e,f", "{g}", "h i", "NULL", "ü"]
        XCTAssertEqual(try store.joinRound(label: "odd", connections: names, now: t0).total, names.count)
        XCTAssertEqual(Set(try store.claim(round: "odd", worker: "w", among: names, limit: 100, lease: 60, now: t0)), Set(names))
    }
}
