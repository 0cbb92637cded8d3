import EvidenceModel
import Foundation
import Links

/// `check --claim`: one worker of a round on a PostgreSQL store (`CheckClaims`). As a feed it gives
/// the runner the entries it claimed, claiming the next batch when the last one is handed out; as a
/// sink it completes each checked connection's claim, its verdict recorded in the same transaction,
/// a batch at a time. While it runs, a timer renews its leases; a worker that dies stops renewing
/// and its unfinished claims go to the next worker once their lease runs out.
///
/// When the store cannot be reached for a claim, the connections this worker has not claimed are
/// reported UNKNOWN (`store-unavailable`) and nothing is written for them; they stay claimable in
/// the round. Completions that fail are kept and tried again at the next batch and at the end.
public final class ClaimedCheck: CheckFeed, CheckSink, @unchecked Sendable {
    public let claims: any CheckClaims
    public let round: ClaimRound
    public let worker: String
    public let lease: TimeInterval
    public let batch: Int
    /// Record verdicts in the history (false with `--no-history`: claims are completed all the same).
    public let record: Bool

    private let lock = NSLock()
    private let byName: [String: ConnectionEntry]
    /// Names this worker may still claim, in name order.
    private var unclaimed: [String]
    private var queue: ArraySlice<ConnectionEntry> = []
    private var exhausted = false
    /// Whether each claim names the connections this worker may take (set when the round holds others').
    private var filtering = false
    private var mine: Set<String> = []
    private var pending: [CheckVerdict] = []
    private var released: [String] = []
    private var claimError: (any Error)?
    private var completionError: (any Error)?
    private var timer: DispatchSourceTimer?
    public private(set) var claimedCount = 0
    public private(set) var recordedCount = 0
    public private(set) var takenOver: [String] = []

    /// Joins the round (`label`, or the newest unfinished one) with these entries and starts the lease timer.
    public init(claims: any CheckClaims, entries: [ConnectionEntry], label: String?, worker: String = ClaimedCheck.workerName(),
                lease: TimeInterval = 120, batch: Int = 64, record: Bool = true, now: Date = Date()) throws {
        var byName: [String: ConnectionEntry] = [:]
        for entry in entries where byName[entry.name] == nil { byName[entry.name] = entry }
        self.byName = byName
        self.unclaimed = byName.keys.sorted()
        self.claims = claims
        self.worker = worker
        self.lease = lease
        self.batch = max(1, batch)
        self.record = record
        self.round = try claims.joinRound(label: label, connections: unclaimed, now: now)
        self.filtering = round.total != byName.count
        startTimer()
    }

    /// `host:pid:random`: unique per process, readable in the claims table.
    public static func workerName() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host):\(getpid()):\(LinkSecrets.newID(prefix: ""))"
    }

    private func startTimer() {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let every = max(1, lease / 3)
        timer.schedule(deadline: .now() + every, repeating: every)
        timer.setEventHandler { [claims, round, worker, lease] in
            _ = try? claims.extendLeases(round: round.id, worker: worker, lease: lease, now: Date())
        }
        timer.resume()
        self.timer = timer
    }

    /// Why a claim or a completion failed, if one did (the run warns; verdicts stand).
    public var failure: (any Error)? { lock.withLock { claimError ?? completionError } }

    // MARK: feed

    /// Claims the first batch before the run: false when there is nothing left for this worker in
    /// the round (every connection checked, or claimed by a worker that is still alive).
    public func prime() -> Bool {
        guard let first = next(stopping: false) else { return false }
        lock.withLock { queue.insert(first, at: queue.startIndex) }
        return true
    }

    public var total: Int { byName.count }

    public func next(stopping: Bool) -> ConnectionEntry? {
        lock.withLock {
          while true {
            if let entry = queue.popFirst() { return entry }
            guard !stopping, !exhausted, !unclaimed.isEmpty else { return nil }
            do {
                // When the round holds exactly this worker's connections (the usual case: every
                // worker reads the same file or store) no list is sent with each claim.
                let among = filtering ? unclaimed : nil
                let names = try claims.claim(round: round.id, worker: worker, among: among, limit: batch, lease: lease, now: Date())
                guard !names.isEmpty else {
                    exhausted = true
                    return nil
                }
                let got = Set(names.filter { byName[$0] != nil })
                if got.count < names.count {
                    // Another worker added connections this one does not know: give them back, and
                    // from now on claim among this worker's own.
                    filtering = true
                    let foreign = names.filter { byName[$0] == nil }
                    released += foreign
                    mine.formUnion(foreign)
                }
                unclaimed.removeAll { got.contains($0) }
                mine.formUnion(got)
                claimedCount += got.count
                queue = ArraySlice(names.compactMap { byName[$0] })
            } catch {
                claimError = error
                exhausted = true
                guard let outage = error as? PostgresStoreError, outage.isUnavailable else { return nil }
                // Nobody can claim them now: this worker says so for each, and writes nothing.
                let reason = Redactor.redact(outage.description)
                queue = ArraySlice(unclaimed.compactMap { name in
                    byName[name].map { entry in
                        var entry = entry
                        entry.storeUnavailable = reason
                        return entry
                    }
                })
                unclaimed = []
            }
          }
        }
    }

    // MARK: sink

    public func begin(total: Int) {}

    /// Completions run here, one at a time, off the runner's loop.
    private let writer = DispatchQueue(label: "authdoctor.claims.complete")

    public func receive(_ verdict: ConnectionVerdict) {
        let full: Bool = lock.withLock {
            guard mine.contains(verdict.connection) else { return false }
            if verdict.failure == "deadline" || verdict.failure == CheckRunner.storeUnavailableFailure {
                // Not checked: back to the round for another worker.
                released.append(verdict.connection)
            } else {
                pending.append(CheckHistory.record(verdict))
            }
            return pending.count + released.count >= batch
        }
        if full { writer.async { [self] in flush(attempts: 1) } }
    }

    public func finish(_ run: CheckRun) {
        timer?.cancel()
        timer = nil
        writer.sync { flush(attempts: 3) }
    }

    /// Completes the pending claims in one transaction; on failure they stay pending (a store that
    /// is restarting gets another chance). `attempts` > 1 waits a second between tries.
    func flush(attempts: Int) {
        let (verdicts, give) = lock.withLock { (pending, released) }
        guard !verdicts.isEmpty || !give.isEmpty else { return }
        for attempt in 1...max(1, attempts) {
            do {
                let done = try claims.completeClaims(round: round.id, worker: worker, verdicts: verdicts, record: record, released: give,
                                                     now: Date())
                lock.withLock {
                    pending.removeFirst(verdicts.count)
                    released.removeFirst(give.count)
                    recordedCount += done.recorded
                    takenOver += done.takenOver
                    completionError = nil
                }
                return
            } catch {
                lock.withLock { completionError = error }
                if attempt < attempts { Thread.sleep(forTimeInterval: 1) }
            }
        }
    }

    /// Verdicts still not written when the run ended (their claims lapse; another worker redoes them).
    public var unwritten: Int { lock.withLock { pending.count } }
}
