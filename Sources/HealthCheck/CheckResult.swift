import Diagnose
import EvidenceModel
import Foundation
import RuleEngine

/// A monitoring plugin's state (Nagios, Icinga, Sensu): the exit status is the raw value.
public enum CheckStatus: Int32, Sendable, Comparable, CaseIterable {
    case ok = 0, warning = 1, critical = 2, unknown = 3

    public var name: String {
        switch self {
        case .ok: return "ok"
        case .warning: return "warning"
        case .critical: return "critical"
        case .unknown: return "unknown"
        }
    }

    /// Nagios orders UNKNOWN between WARNING and CRITICAL only for display; for the run's worst
    /// state CRITICAL beats UNKNOWN beats WARNING beats OK (as check_multi and Icinga do).
    var severityRank: Int {
        switch self {
        case .ok: return 0
        case .warning: return 1
        case .unknown: return 2
        case .critical: return 3
        }
    }

    public static func < (a: CheckStatus, b: CheckStatus) -> Bool { a.severityRank < b.severityRank }
}

/// The verdict of one connection in a check run: what monitoring, history and metrics need. The
/// full report is kept only when the output needs it (`report`).
public struct ConnectionVerdict: Sendable {
    /// Position in the source (0-based), for a stable order in tables.
    public var index: Int
    /// The entry's `name` (or `#N` when it had none).
    public var connection: String
    public var provider: String?
    public var status: CheckStatus
    /// The first finding's failure class; `none` when healthy; `bad-entry` / `deadline` when the
    /// connection could not be diagnosed.
    public var failure: String
    public var summary: String
    /// When the token expires, where a probe told (seconds since 1970).
    public var tokenExpiresAt: Int?
    /// Wall-clock seconds from the first probe to the verdict, retries and waits included.
    public var seconds: Double
    /// Seconds each probe step took in the last attempt, by step id.
    public var probeSeconds: [(step: String, seconds: Double)]
    /// Diagnoses run (1 + retries of transient findings).
    public var attempts: Int
    /// When the verdict was reached.
    public var checkedAt: Date
    /// The full report (absent for bad entries and when the output does not need it).
    public var report: Report?
    /// What happened to the connection's tokens (`--renew`, `--dry-run`); nil when nothing did.
    public var renewal: RenewalOutcome?
    /// Every probe of this connection failed the same local way (no name resolved, no connection
    /// made): the libcurl code and the hosts. A run where every diagnosed connection did so, on two
    /// or more hosts, is a local network outage (CheckRunner), reported UNKNOWN.
    public var unreachable: (code: Int, hosts: [String])? = nil
    /// The diagnosis used tokens renewed by an earlier `check --renew` (a file connection whose
    /// renewed tokens are in the store: newer than its variables').
    public var usedRenewedTokens = false

    public init(index: Int, connection: String, provider: String?, status: CheckStatus, failure: String, summary: String,
                tokenExpiresAt: Int? = nil, seconds: Double = 0, probeSeconds: [(step: String, seconds: Double)] = [],
                attempts: Int = 0, checkedAt: Date = Date(), report: Report? = nil) {
        self.index = index
        self.connection = connection
        self.provider = provider
        self.status = status
        self.failure = failure
        self.summary = summary
        self.tokenExpiresAt = tokenExpiresAt
        self.seconds = seconds
        self.probeSeconds = probeSeconds
        self.attempts = attempts
        self.checkedAt = checkedAt
        self.report = report
    }
}

/// What a run did with a connection's tokens.
public enum RenewalOutcome: String, Sendable {
    /// The refresh token was exchanged and the new tokens stored (encrypted).
    case renewed
    /// The exchange failed (its finding says why: expiry, revoked, credentials); nothing stored.
    case failed
    /// `--dry-run`: the exchange was not made.
    case skipped
    /// The exchange worked but the store refused the tokens (the old ones stay).
    case notStored = "not-stored"
    /// Neither `--renew` nor `--dry-run`: the provider rotated the refresh token while the check
    /// tested it, and nothing kept the new one, so the one the connection holds may stop working.
    case rotatedNotStored = "rotated-not-stored"

    /// What the verdict's summary says about it.
    public var note: String {
        switch self {
        case .renewed: return "tokens renewed and stored"
        case .failed: return "renewal failed, nothing stored"
        case .skipped: return "renewal skipped: --dry-run"
        case .notStored: return "renewed, but the store could not keep the new tokens"
        case .rotatedNotStored:
            return "the provider rotated the refresh token and the new one was not kept: the stored one may stop working (check --renew --db keeps it; --dry-run never sends it)"
        }
    }
}

/// A whole run: counts by status, timing, and (when kept) every verdict. History and the store
/// take verdicts from here (`CheckRun.verdicts`), metrics from the counts.
public struct CheckRun: Sendable {
    public var startedAt: Date
    public var seconds: Double
    public var counts: [CheckStatus: Int]
    /// Sorted by source position, without their reports; only those `CheckOptions.retention` keeps
    /// (every one by default; the counts are always complete).
    public var verdicts: [ConnectionVerdict]
    /// What the text table prints of every verdict, when the run kept only that (`VerdictRetention.rows`;
    /// `verdicts` is then empty).
    public var tableRows: CheckTableRows? = nil
    /// What the Prometheus exposition prints of every verdict, in source order, when the run kept
    /// only that (`VerdictRetention.metrics`; `verdicts` is then empty).
    public var metricRows: [MetricRow]? = nil
    /// Probes performed (every attempt counted).
    public var probes: Int
    /// The total deadline was reached before every connection finished.
    public var deadlineReached: Bool
    /// Set when this machine could not reach the network at all (issue 14): said once, and every
    /// connection it affected is UNKNOWN (`local-network`), not CRITICAL.
    public var localNetwork: String? = nil

    public init(startedAt: Date, seconds: Double = 0, counts: [CheckStatus: Int] = [:], verdicts: [ConnectionVerdict] = [],
                probes: Int = 0, deadlineReached: Bool = false) {
        self.startedAt = startedAt
        self.seconds = seconds
        self.counts = counts
        self.verdicts = verdicts
        self.probes = probes
        self.deadlineReached = deadlineReached
    }

    public var total: Int { counts.values.reduce(0, +) }
    public func count(_ status: CheckStatus) -> Int { counts[status] ?? 0 }

    /// The worst status; UNKNOWN for an empty run (nothing checked is not "all OK").
    public var worst: CheckStatus { counts.filter { $0.value > 0 }.keys.max() ?? .unknown }
    public var exitStatus: Int32 { worst.rawValue }
}

/// How a diagnosis becomes a monitoring state.
public enum VerdictMapping {
    /// OK healthy; WARNING warnings only, or failures that are all transient (outage, rate-limit,
    /// a passing network fault) once retries are spent; CRITICAL a failure that waiting does not
    /// fix; UNKNOWN nothing recognised the failure (diagnose's "could not tell").
    public static func status(of report: Report) -> CheckStatus {
        switch report.verdict {
        case .ok: return .ok
        case .warning: return .warning
        case .unknown: return .unknown
        case .failure: return onlyTransientFailures(report) ? .warning : .critical
        }
    }

    /// Every error finding is transient: a retry may see a different answer.
    public static func onlyTransientFailures(_ report: Report) -> Bool {
        let errors = report.findings.filter { $0.severity == "error" }
        return !errors.isEmpty && errors.allSatisfy(\.transient)
    }

    /// Worth retrying: the diagnosis failed, and only for reasons that pass.
    public static func isRetryable(_ report: Report) -> Bool {
        if report.verdict == .failure { return onlyTransientFailures(report) }
        // A transient finding that is the only thing wrong (a rate-limit rule with severity warning).
        if report.verdict == .warning {
            return report.findings.contains { $0.transient && $0.severity == "warning" }
                && report.findings.allSatisfy { $0.severity == "info" || $0.transient }
        }
        return false
    }

    /// The first finding's failure class, `none` when healthy.
    public static func failure(of report: Report) -> String {
        if report.localNetwork != nil { return "local-network" }
        return report.verdict == .ok ? "none" : (report.findings.first?.failure ?? "unknown")
    }

    public static func summary(of report: Report) -> String {
        report.findings.first?.summary ?? report.note ?? "no finding"
    }
}
