import EvidenceModel
import Foundation
@testable import HealthCheck
import Links
import XCTest

/// `check --claim`'s worker (`ClaimedCheck`) over an in-memory `CheckClaims` whose database can be
/// "stopped": a claim that fails makes the worker's unclaimed connections UNKNOWN (store-unavailable)
/// without writing anything for them; a completion that fails is kept and written once it is back.
final class ClaimedCheckTests: XCTestCase {
    final class FakeClaims: CheckClaims, @unchecked Sendable {
        let lock = NSLock()
        var down = false
        var owner: [String: String] = [:]
        var done: Set<String> = []
        var recorded: [CheckVerdict] = []
        var released: [String] = []
        var names: [String] = []

        func failIfDown() throws { if lock.withLock({ down }) { throw PostgresStoreError.unavailable("connection refused") } }

        func joinRound(label: String?, connections: [String], now: Date) throws -> ClaimRound {
            try failIfDown()
            lock.withLock { names = Array(Set(names).union(connections)).sorted() }
            return ClaimRound(id: label ?? "rnd_fake", total: connections.count, done: 0)
        }

        func claim(round: String, worker: String, among: [String]?, limit: Int, lease: TimeInterval, now: Date) throws -> [String] {
            try failIfDown()
            return lock.withLock {
                let free = (among ?? names).filter { owner[$0] == nil && !done.contains($0) }.sorted().prefix(limit)
                for name in free { owner[name] = worker }
                return Array(free)
            }
        }

        func extendLeases(round: String, worker: String, lease: TimeInterval, now: Date) throws -> Int { 0 }

        func completeClaims(round: String, worker: String, verdicts: [CheckVerdict], record: Bool, released give: [String],
                            now: Date) throws -> ClaimCompletion {
            try failIfDown()
            return lock.withLock {
                for verdict in verdicts { done.insert(verdict.connection) }
                if record { recorded += verdicts }
                released += give
                for name in give { owner[name] = nil }
                return ClaimCompletion(recorded: record ? verdicts.count : 0, takenOver: [], roundFinished: done.count == names.count)
            }
        }

        func round(id: String) throws -> ClaimRound? { nil }
    }

    /// Bad entries: verdicts without any network, so the test is about the claims alone.
    func entries(_ count: Int) -> [ConnectionEntry] {
        (0..<count).map { ConnectionEntry(index: $0, name: String(format: "c%02d", $0), settings: ConnectionSettings(), problem: "no provider") }
    }

    func testEveryClaimedConnectionIsCompletedOnceAndRecorded() async throws {
        let fake = FakeClaims()
        let worker = try ClaimedCheck(claims: fake, entries: entries(25), label: "r", worker: "w", lease: 60, batch: 4)
        let sink = RecordingSink()
        let run = try await CheckHarness().run(feed: worker, sinks: [sink, worker])
        XCTAssertEqual(run.total, 25)
        XCTAssertEqual(worker.claimedCount, 25)
        XCTAssertEqual(fake.recorded.map(\.connection).sorted(), entries(25).map(\.name))
        XCTAssertEqual(worker.recordedCount, 25)
        XCTAssertNil(worker.failure)
    }

    func testAClaimThatFailsMakesTheRestUnknownAndWritesNothingForThem() async throws {
        let fake = FakeClaims()
        let worker = try ClaimedCheck(claims: fake, entries: entries(10), label: "r", worker: "w", lease: 60, batch: 4)
        XCTAssertTrue(worker.prime(), "the first batch is claimed before the run")
        fake.lock.withLock { fake.down = true }
        let sink = RecordingSink()
        let run = try await CheckHarness().run(feed: worker, sinks: [sink, worker])
        XCTAssertEqual(run.total, 10, "every connection reported")
        let unavailable = sink.arrivals.map(\.verdict).filter { $0.failure == CheckRunner.storeUnavailableFailure }
        XCTAssertEqual(unavailable.count, 6, "the six never claimed")
        for verdict in unavailable {
            XCTAssertEqual(verdict.status, .unknown)
            XCTAssertTrue(verdict.summary.contains("store is unavailable"), verdict.summary)
        }
        XCTAssertEqual(fake.recorded, [], "nothing written while it is down")
        XCTAssertEqual(worker.unwritten, 4, "the claimed four wait for the store")
        XCTAssertNotNil(worker.failure)
        // Back: the kept completions are written (finish retries), once.
        fake.lock.withLock { fake.down = false }
        worker.flush(attempts: 1)
        XCTAssertEqual(fake.recorded.map(\.connection).sorted(), ["c00", "c01", "c02", "c03"])
        XCTAssertEqual(worker.unwritten, 0)
    }

    /// Another worker adds a connection this one does not know after it joined: claimed by chance,
    /// it is given back (released), and this worker still checks all of its own.
    func testAConnectionOnlyAnotherWorkerKnowsIsGivenBack() async throws {
        let fake = FakeClaims()
        let worker = try ClaimedCheck(claims: fake, entries: entries(6), label: "r", worker: "w", lease: 60, batch: 2)
        fake.lock.withLock { fake.names = (["a-foreign", "b-foreign"] + fake.names).sorted() }
        let run = try await CheckHarness().run(feed: worker, sinks: [worker])
        XCTAssertEqual(run.total, 6)
        XCTAssertEqual(worker.claimedCount, 6)
        XCTAssertEqual(Set(fake.recorded.map(\.connection)), Set(entries(6).map(\.name)))
        XCTAssertEqual(fake.released.sorted(), ["a-foreign", "b-foreign"])
        XCTAssertNil(fake.owner["a-foreign"], "claimable again by the worker that knows it")
    }

    func testNothingLeftToClaim() throws {
        let fake = FakeClaims()
        fake.done = Set(entries(3).map(\.name))
        let worker = try ClaimedCheck(claims: fake, entries: entries(3), label: "r", worker: "w", lease: 60, batch: 4)
        XCTAssertFalse(worker.prime())
    }
}
