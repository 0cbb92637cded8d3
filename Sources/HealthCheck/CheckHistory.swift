import Foundation
import Links

/// `check --db`: every verdict of the run goes to the store's history (`recordVerdicts`), in one
/// transaction when the run finishes. A store that refuses them does not change the run's verdicts
/// or exit status; `failure` says why, for the command to warn about.
public final class CheckHistory: CheckSink, @unchecked Sendable {
    private let store: any AuthDoctorStore
    private let lock = NSLock()
    private var verdicts: [CheckVerdict] = []
    private var error: (any Error)?

    public init(store: any AuthDoctorStore) { self.store = store }

    public func begin(total: Int) { lock.withLock { verdicts.reserveCapacity(total) } }

    public func receive(_ verdict: ConnectionVerdict) {
        lock.withLock { verdicts.append(Self.record(verdict)) }
    }

    public func finish(_ run: CheckRun) {
        let all = lock.withLock { verdicts }
        do { try store.recordVerdicts(all) } catch { lock.withLock { self.error = error } }
    }

    /// Why the verdicts could not be recorded, if they could not.
    public var failure: (any Error)? { lock.withLock { error } }

    /// A verdict as the store keeps it (docs/CHECK.md: field for field).
    public static func record(_ v: ConnectionVerdict) -> CheckVerdict {
        CheckVerdict(connection: v.connection, checkedAt: v.checkedAt, status: v.status.name, failure: v.failure, summary: v.summary,
                     provider: v.provider, seconds: v.seconds, tokenExpiresAt: v.tokenExpiresAt)
    }
}

/// One connection's history as `authdoctor history CONNECTION` shows it.
///
/// - last passed: the newest verdict with status `ok`;
/// - failing since: when the newest verdict is not `ok`, the oldest verdict of that unbroken non-ok
///   streak (warnings count as not ok: a WARNING is not a pass);
/// - flapping: the status changed at least `flapChanges` times between consecutive verdicts among
///   the newest `flapWindow` (4 of the 9 transitions in 10 runs). Nagios's flap detection has the
///   same idea (state changes in the recent checks, with thresholds), without its weights.
public struct ConnectionHistory: Sendable {
    public static let flapWindow = 10
    public static let flapChanges = 4

    public var connection: String
    /// Newest first; what the analysis saw (it may be more than what is shown).
    public var verdicts: [CheckVerdict]
    public var lastPassed: Date?
    public var failingSince: Date?
    /// Status changes among the newest `flapWindow` verdicts.
    public var recentChanges: Int
    public var flapping: Bool { recentChanges >= Self.flapChanges }

    public init(connection: String, verdicts: [CheckVerdict]) {
        self.connection = connection
        self.verdicts = verdicts
        lastPassed = verdicts.first { $0.status == "ok" }?.checkedAt
        if let newest = verdicts.first, newest.status != "ok" {
            failingSince = verdicts.prefix { $0.status != "ok" }.last?.checkedAt
        }
        recentChanges = Self.changes(in: Array(verdicts.prefix(Self.flapWindow)))
    }

    public var latest: CheckVerdict? { verdicts.first }

    static func changes(in verdicts: [CheckVerdict]) -> Int {
        zip(verdicts, verdicts.dropFirst()).filter { $0.status != $1.status }.count
    }
}
