import Diagnose
import EvidenceModel
import Foundation
import Links
import Probe
import RuleEngine

/// How a check run behaves beyond each connection's own settings.
public struct CheckOptions: Sendable {
    /// Connections diagnosed at once (each runs its own steps concurrently too).
    public var concurrency: Int
    /// Seconds from the start after which unfinished connections are reported UNKNOWN
    /// ("deadline reached"); nil = no total deadline.
    public var deadline: Double?
    /// Extra diagnoses of a connection whose only failures are transient (outage, rate-limit, a
    /// passing network fault) before it counts as WARNING.
    public var retries: Int
    /// First backoff in seconds; doubled each retry, plus up to half again of jitter.
    public var backoff: Double
    /// The longest `Retry-After` honoured, in seconds (a longer one ends the retries).
    public var retryAfterCap: Double
    /// Keep each connection's full report in its verdict (json, jsonl, text details need it).
    public var keepReports: Bool
    /// What to do with refresh tokens: exchange them as the diagnosis does (`.diagnose`), also store
    /// what the exchange gave (`.renew`, needs a store), or never exchange them (`.dryRun`).
    public var renewal: RenewalMode = .diagnose
    /// Which verdicts the returned run keeps (reports never): every one (`.all`, the default), only
    /// the worst not-OK ones (`--format nagios`), or none (formats that wrote each verdict as it came).
    /// Counts and probes are always complete.
    public var retention: VerdictRetention = .all

    public init(concurrency: Int = 32, deadline: Double? = nil, retries: Int = 2, backoff: Double = 0.5,
                retryAfterCap: Double = 60, keepReports: Bool = true) {
        self.concurrency = concurrency
        self.deadline = deadline
        self.retries = retries
        self.backoff = backoff
        self.retryAfterCap = retryAfterCap
        self.keepReports = keepReports
    }
}

/// Which verdicts a run keeps once the sinks have had them: the memory of a run of many connections
/// is what is kept here, so a format keeps only what it prints at the end.
public enum VerdictRetention: Sendable, Equatable {
    /// Every verdict, in source order (Prometheus, history readers).
    case all
    /// What a table row prints of every verdict (`--format text`, `CheckRun.tableRows`), no verdict:
    /// at 50,000 connections the verdicts kept whole were a third of the run's memory.
    case rows
    /// What the Prometheus exposition prints of every verdict (`--format prometheus`,
    /// `CheckRun.metricRows`), no verdict: a verdict's summary and bookkeeping were most of the
    /// memory the format needed at 50,000 connections.
    case metrics
    /// The not-OK verdicts, at most `limit` of them (nil: all), the worst first, then in source order;
    /// the run's counts still say how many there were (`--format nagios`).
    case worstNotOK(limit: Int?)
    /// None: every verdict went to the sinks as it came (`--format json`, `jsonl`).
    case none

    /// The ordering `worstNotOK` keeps and Nagios prints: worst status first, then source position.
    public static func precedes(_ a: ConnectionVerdict, _ b: ConnectionVerdict) -> Bool {
        a.status != b.status ? a.status > b.status : a.index < b.index
    }
}

/// `check`'s handling of refresh tokens.
public enum RenewalMode: Sendable {
    /// The diagnosis exchanges a refresh token to test it; nothing is stored.
    case diagnose
    /// `--renew`: the tokens an exchange gave are stored (encrypted, atomically).
    case renew
    /// `--dry-run`: steps that send the refresh token are skipped (an exchange may rotate it, and
    /// a rotated refresh token that is not stored would break the connection).
    case dryRun
}

/// Where verdicts go as they are reached: output writers, the progress line, check history. Called from
/// one task at a time, in completion order.
public protocol CheckSink: AnyObject, Sendable {
    func begin(total: Int)
    func receive(_ verdict: ConnectionVerdict)
    func finish(_ run: CheckRun)
}

/// Diagnoses many connections through one shared `ProbeEngine`, at most `concurrency` at once,
/// retrying transient failures, and streams each verdict to the sinks as it is reached.
public final class CheckRunner: Sendable {
    public let engine: ClassifyEngine
    public let definitions: [String: ProviderDefinition]
    public let options: CheckOptions
    /// With `--sandbox`: the base URL serving the scenario a token picks.
    public let sandboxURL: (@Sendable (String) -> String)?
    public let environment: [String: String]
    /// `--db`: where renewed tokens are read from and stored (`--renew`).
    public let store: (any AuthDoctorStore)?
    private let transport: any ProbeTransport
    /// Set (by a sink whose output went away, say) to end the run early: no further connection
    /// starts, the running ones are cancelled, and `run` returns what it has.
    public let stopRequest = DeadlineFlag()

    public init(engine: ClassifyEngine, definitions: [String: ProviderDefinition], options: CheckOptions,
                transport: any ProbeTransport, sandboxURL: (@Sendable (String) -> String)? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment, store: (any AuthDoctorStore)? = nil) {
        self.store = store
        self.engine = engine
        self.definitions = definitions
        self.options = options
        self.transport = transport
        self.sandboxURL = sandboxURL
        self.environment = environment
    }

    /// Checks every entry; returns the run with its verdicts (reports dropped) sorted by source position.
    public func run(_ entries: [ConnectionEntry], sinks: [any CheckSink]) async -> CheckRun {
        await run(feed: EntryList(entries), sinks: sinks)
    }

    /// Checks the entries a feed gives (a list, or `check --claim`'s claims), as they are asked for.
    public func run(feed: any CheckFeed, sinks: [any CheckSink]) async -> CheckRun {
        let startedAt = Date()
        let started = DispatchTime.now().uptimeNanoseconds
        let total = feed.total
        // Which file connections have renewed tokens, asked once (else once per connection, a
        // round trip each on PostgreSQL); nil (the store cannot say, or is down): ask each.
        let renewedNames = (try? store?.renewedConnectionNames()) ?? nil
        for sink in sinks { sink.begin(total: total) }
        var run = CheckRun(startedAt: startedAt)
        let deadlineFlag = DeadlineFlag()
        let localMessage = LockedValue<String>()
        let limit = max(1, options.concurrency)
        // Bounded here too (the command line allows at most a week): a huge deadline is no deadline, never an overflow.
        let deadlineSeconds = options.deadline.map { min(max(0, $0), 1e9) }
        let deadlineAt = deadlineSeconds.map { started + UInt64($0 * 1e9) }

        let retention = options.retention
        let work = Task { [self] () -> RetainedVerdicts in
            var kept = RetainedVerdicts()
            if retention == .all { kept.verdicts.reserveCapacity(total) }
            if retention == .rows { kept.tableRows.reserve(total) }
            if retention == .metrics { kept.metricRows.reserveCapacity(total); kept.metricPositions.reserveCapacity(total) }
            await withTaskGroup(of: ConnectionVerdict.self) { group in
                func addNext() {
                    guard let entry = feed.next(stopping: deadlineFlag.isSet || stopRequest.isSet) else { return }
                    group.addTask { await self.check(entry, deadlineAt: deadlineAt, deadline: deadlineFlag, renewedNames: renewedNames) }
                }
                for _ in 0..<limit { addNext() }
                // Connections that reached nothing are held back until one connection reaches its
                // provider (then the network works: they are delivered as they are) or the run
                // ends (then, on two or more hosts, this machine is cut off: see below).
                var held: [ConnectionVerdict] = []
                var networkWorks = false
                func deliver(_ verdict: ConnectionVerdict) {
                    // One diagnosis that saw several hosts fail the same way says so itself.
                    if verdict.failure == "local-network", localMessage.value == nil { localMessage.set(verdict.summary) }
                    for sink in sinks { sink.receive(verdict) }
                    // The sinks have had the full verdict; the run keeps only what its output needs.
                    kept.add(verdict, retention)
                }
                while let verdict = await group.next() {
                    if stopRequest.isSet {
                        deadlineFlag.set()
                        group.cancelAll()
                        continue
                    }
                    addNext()
                    if !networkWorks, verdict.unreachable != nil {
                        held.append(verdict)
                        continue
                    }
                    if verdict.failure != "bad-entry" && verdict.failure != "token-missing" && verdict.failure != "deadline" && !networkWorks {
                        networkWorks = true
                        held.forEach(deliver)
                        held = []
                    }
                    deliver(verdict)
                }
                if let local = Self.localOutage(held) {
                    localMessage.set(local)
                    held = held.map { Self.markLocal($0, local) }
                }
                held.forEach(deliver)
            }
            // Sorted here, where the array has one owner: sorted after `work.value`, it would be
            // copied whole (the finished task still holds its result).
            kept.verdicts.sort { $0.index < $1.index }
            kept.putMetricRowsInSourceOrder()
            return kept
        }
        var watcher: Task<Void, Never>?
        if let deadline = deadlineSeconds {
            watcher = Task {
                try? await Task.sleep(nanoseconds: UInt64(deadline * 1e9))
                if Task.isCancelled { return }
                deadlineFlag.set()
                work.cancel()
            }
        }
        let kept = await work.value
        watcher?.cancel()
        run.counts = kept.counts
        run.probes = kept.probes
        run.verdicts = kept.verdicts
        if retention == .rows { run.tableRows = kept.tableRows }
        if retention == .metrics { run.metricRows = kept.metricRows }
        run.deadlineReached = deadlineFlag.isSet
        run.localNetwork = localMessage.value
        run.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        for sink in sinks { sink.finish(run) }
        return run
    }

    /// Connections that all reached nothing, the same way, on two or more hosts: this machine is cut
    /// off. The message, or nil.
    static func localOutage(_ held: [ConnectionVerdict]) -> String? {
        guard held.count >= 2, let code = held.first?.unreachable?.code, held.allSatisfy({ $0.unreachable?.code == code }) else { return nil }
        let hosts = held.flatMap { $0.unreachable?.hosts ?? [] }.uniqued()
        guard hosts.count >= 2 else { return nil }
        return LocalNetwork.message(LocalNetwork.describe(code: code, hosts: hosts))
    }

    /// The verdict of a connection this machine could not reach: UNKNOWN, not the connection's fault.
    static func markLocal(_ verdict: ConnectionVerdict, _ message: String) -> ConnectionVerdict {
        var v = verdict
        v.status = .unknown
        v.failure = "local-network"
        v.summary = "not diagnosed: this machine cannot reach the network (said once for the run)"
        if var report = v.report {
            report.localNetwork = message
            report.findings = []
            v.report = report
        }
        return v
    }

    /// One connection: bad entry → UNKNOWN; missing credential variable → `token-missing`;
    /// else diagnose, retrying transient failures.
    func check(_ entry: ConnectionEntry, deadlineAt: UInt64?, deadline: DeadlineFlag, renewedNames: Set<String>? = nil) async -> ConnectionVerdict {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        let provider = entry.settings.provider
        if let reason = entry.storeUnavailable {
            return Self.storeUnavailable(entry, reason, seconds: elapsed())
        }
        if let problem = entry.problem {
            return ConnectionVerdict(index: entry.index, connection: entry.name, provider: provider, status: .unknown,
                                     failure: "bad-entry", summary: Redactor.redact(problem), seconds: elapsed())
        }
        if Task.isCancelled || deadline.isSet {
            return ConnectionVerdict(index: entry.index, connection: entry.name, provider: provider, status: .unknown,
                                     failure: "deadline", summary: "deadline reached before the diagnosis started", seconds: elapsed())
        }
        // A file connection renewed by an earlier run: its tokens in the store are newer than its variables'.
        var renewedTokens: ProviderTokens?
        if entry.storedConnectionID == nil, let store, renewedNames?.contains(entry.name) ?? true {
            do { renewedTokens = try store.renewedTokens(connectionName: entry.name) } catch {
                if let outage = error as? PostgresStoreError, outage.isUnavailable {
                    return Self.storeUnavailable(entry, Redactor.redact(outage.description) + " (at \(store.location))", seconds: elapsed())
                }
                return ConnectionVerdict(index: entry.index, connection: entry.name, provider: provider, status: .unknown,
                                         failure: "bad-entry", summary: "\(entry.label): cannot read its renewed tokens from the store",
                                         seconds: elapsed())
            }
        }
        // An unknown provider is a bad entry whatever else is wrong with it (an unset token
        // variable would otherwise hide the typo behind token-missing).
        if entry.prepared == nil, let id = provider, !id.isEmpty, definitions[id] == nil, !DatabaseTarget.providers.contains(id) {
            let known = Set(definitions.keys).union(DatabaseTarget.providers).sorted()
            return ConnectionVerdict(index: entry.index, connection: entry.name, provider: provider, status: .unknown,
                                     failure: "bad-entry",
                                     summary: Redactor.redact("\(entry.label): field 'provider': unknown provider '\(id)'\(Suggestion.hint(id, among: known)) (known: \(known.joined(separator: ", ")))"),
                                     seconds: elapsed())
        }
        if let missing = missingCredentialVariable(entry.settings) {
            let report = credentialMissingReport(entry, key: missing.key, variable: missing.variable)
            return ConnectionVerdict(index: entry.index, connection: entry.name, provider: provider, status: .critical,
                                     failure: "token-missing", summary: VerdictMapping.summary(of: report), seconds: elapsed(),
                                     attempts: 0, report: options.keepReports ? report : nil)
        }
        var plan: ConnectionSettings.Plan
        if let prepared = entry.prepared {
            plan = prepared
        } else { do {
            plan = try entry.settings.plan(engine: engine, definitions: { [definitions] id throws(InputError) in
                guard let definition = definitions[id] else {
                    let known = definitions.keys.sorted().joined(separator: ", ")
                    throw InputError(.usage, "unknown provider '\(id)'\(Suggestion.hint(id, among: definitions.keys.sorted())) (known: \(known))", place: "--provider")
                }
                return definition
            }, sandboxURL: sandboxURL, environment: environment, readStandardInput: { Data() })
        } catch {
            return ConnectionVerdict(index: entry.index, connection: entry.name, provider: provider, status: .unknown,
                                     failure: "bad-entry", summary: Redactor.redact("\(entry.label): " + Self.fieldWording(error)),
                                     seconds: elapsed())
        } }
        var refreshSteps: Set<String> = []
        /// The refresh token the connection holds (before any retry sends a rotated one).
        var sentRefreshToken: String?
        if case var .http(runner) = plan {
            if let renewedTokens {
                var credentials = runner.credentials
                StoredTokens.apply(renewedTokens, to: &credentials, now: Date())
                do {
                    runner = try DiagnosisRunner(definition: runner.definition, credentials: credentials, options: runner.options, engine: engine)
                } catch {
                    return ConnectionVerdict(index: entry.index, connection: entry.name, provider: provider, status: .unknown,
                                             failure: "bad-entry", summary: Redactor.redact("\(entry.label) with its renewed tokens: " + Self.fieldWording(error)),
                                             seconds: elapsed())
                }
            }
            if options.renewal == .dryRun { runner = runner.neverRenewing() }
            refreshSteps = Set(runner.definition.steps.filter(DiagnosisRunner.exchangesRefreshToken).map(\.id))
            sentRefreshToken = runner.credentials[CredentialName.refreshToken]
            plan = .http(runner)
        }

        var attempts = 0
        var diagnosis: Diagnosis
        var renewed: RenewedCredentials?
        var waitedTooLong = false
        while true {
            attempts += 1
            switch plan {
            case let .http(runner): diagnosis = await runner.run(transport: transport)
            case let .database(runner): diagnosis = await Self.onThread { runner.run() }
            }
            if let renewal = diagnosis.renewal {
                renewed = renewal
                // A retry must not send a refresh token the provider has just rotated away: some
                // providers revoke the whole grant when an old one is replayed.
                if let rotated = renewal.rotatedRefreshToken, case let .http(runner) = plan {
                    var credentials = runner.credentials
                    credentials[CredentialName.refreshToken] = rotated
                    if credentials[CredentialName.token] != nil { credentials[CredentialName.token] = renewal.accessToken }
                    if let next = try? DiagnosisRunner(definition: runner.definition, credentials: credentials, options: runner.options, engine: engine) {
                        plan = .http(next)
                    }
                }
            }
            if Task.isCancelled || deadline.isSet { break }
            guard attempts <= options.retries, VerdictMapping.isRetryable(diagnosis.report) else { break }
            // Exponential backoff with jitter; a Retry-After the provider sent wins when longer.
            let base = options.backoff * pow(2, Double(attempts - 1))
            var wait = base + Double.random(in: 0...(base / 2))
            if let retryAfter = diagnosis.retryAfter {
                // The provider's number is clamped (a day at most) before any arithmetic on it.
                if Double(retryAfter) > min(options.retryAfterCap, 86_400) { waitedTooLong = true; break }
                wait = max(wait, Double(retryAfter))
            }
            if let deadlineAt, DispatchTime.now().uptimeNanoseconds + UInt64(wait * 1e9) >= deadlineAt { break }
            do { try await Task.sleep(nanoseconds: UInt64(wait * 1e9)) } catch { break }
        }

        var report = diagnosis.report
        report.id = entry.name
        let renewal = settle(renewed, of: entry, plan: plan, report: report, refreshSteps: refreshSteps,
                             sentRefreshToken: sentRefreshToken)
        if Task.isCancelled || deadline.isSet, report.verdict != .ok {
            var verdict = ConnectionVerdict(index: entry.index, connection: entry.name, provider: provider, status: .unknown,
                                            failure: "deadline", summary: "deadline reached before the diagnosis finished",
                                            seconds: elapsed(), probeSeconds: Self.probeSeconds(report), attempts: attempts,
                                            report: options.keepReports ? report : nil)
            verdict.renewal = renewal
            verdict.usedRenewedTokens = renewedTokens != nil
            return verdict
        }
        var summary = VerdictMapping.summary(of: report)
        var status = VerdictMapping.status(of: report)
        // A healthy connection whose refresh token was just rotated away is not healthy for long.
        if renewal == .rotatedNotStored && status == .ok { status = .warning }
        if status == .warning && VerdictMapping.isRetryable(report) && attempts > 1 {
            summary += " (still after \(attempts) attempts)"
        } else if waitedTooLong {
            summary += " (Retry-After longer than the cap; not retried)"
        }
        var notes: [String] = []
        if renewedTokens != nil { notes.append("used tokens renewed by an earlier run, from the store") }
        if let renewal { notes.append(renewal.note) }
        if !notes.isEmpty { summary += " (" + notes.joined(separator: "; ") + ")" }
        var verdict = ConnectionVerdict(index: entry.index, connection: entry.name, provider: report.provider ?? provider,
                                        status: status, failure: VerdictMapping.failure(of: report), summary: summary,
                                        tokenExpiresAt: diagnosis.fact("token.expires_at").flatMap(Facts.wholeNumber), seconds: elapsed(),
                                        probeSeconds: Self.probeSeconds(report), attempts: attempts,
                                        report: options.keepReports ? report : nil)
        verdict.renewal = renewal
        verdict.usedRenewedTokens = renewedTokens != nil
        if let probes = report.probes, let code = LocalNetwork.commonFailure(probes) {
            verdict.unreachable = (code, LocalNetwork.hosts(probes))
        }
        return verdict
    }

    /// A connection not diagnosed because the store it needs (its renewed tokens, its claim) could
    /// not be reached: UNKNOWN, the store's reason, nothing written for it.
    static func storeUnavailable(_ entry: ConnectionEntry, _ reason: String, seconds: Double) -> ConnectionVerdict {
        ConnectionVerdict(index: entry.index, connection: entry.name, provider: entry.settings.provider, status: .unknown,
                          failure: Self.storeUnavailableFailure,
                          summary: "not checked: the store is unavailable: \(reason)", seconds: seconds)
    }

    /// The failure of a connection the store's outage kept from being checked.
    public static let storeUnavailableFailure = "store-unavailable"

    /// `--renew`: stores what a refresh-token exchange gave, atomically (a stored connection's
    /// record, or a file connection's renewed tokens under its name). `--dry-run`: says the
    /// exchange was skipped. A failed exchange stores nothing; its finding is the verdict.
    func settle(_ renewed: RenewedCredentials?, of entry: ConnectionEntry, plan: ConnectionSettings.Plan, report: Report,
                refreshSteps: Set<String>, sentRefreshToken: String?) -> RenewalOutcome? {
        let exchange = (report.probes ?? []).filter { refreshSteps.contains($0.step) }
        switch options.renewal {
        case .diagnose:
            // Some servers echo the refresh token they were sent: only a different one is a rotation.
            guard let rotated = renewed?.rotatedRefreshToken, rotated != sentRefreshToken else { return nil }
            return .rotatedNotStored
        case .dryRun:
            return exchange.contains { $0.outcome == .skipped && $0.note == RenewedCredentials.skippedNote } ? .skipped : nil
        case .renew:
            guard let store else { return nil }
            guard let renewed else {
                return exchange.contains { $0.outcome != .skipped } ? .failed : nil
            }
            let now = Date()
            do {
                if let id = entry.storedConnectionID {
                    // The store keeps the previous refresh token when the provider did not rotate it.
                    try store.storeRenewedTokens(connectionID: id, tokens: ProviderTokens(
                        accessToken: renewed.accessToken, refreshToken: renewed.rotatedRefreshToken,
                        expiresAt: renewed.expiresAt, scopes: renewed.scopes), now: now)
                } else {
                    var used: String?
                    if case let .http(runner) = plan { used = runner.credentials[CredentialName.refreshToken] }
                    try store.storeRenewedTokens(connectionName: entry.name, tokens: ProviderTokens(
                        accessToken: renewed.accessToken, refreshToken: renewed.rotatedRefreshToken ?? used,
                        expiresAt: renewed.expiresAt, scopes: renewed.scopes), now: now)
                }
                return .renewed
            } catch {
                return .notStored
            }
        }
    }

    /// "--token-env: environment variable X is not set" → "field 'token-env': ...".
    static func fieldWording(_ error: InputError) -> String {
        var text = error.description
        if let place = error.place, place.hasPrefix("--") {
            text = "field '\(place.dropFirst(2))': " + error.message
        }
        return text.replacingOccurrences(of: "diagnose --provider", with: "provider")
            .replacingOccurrences(of: " (--", with: " (field ").replacingOccurrences(of: "--", with: "")
    }


    static func probeSeconds(_ report: Report) -> [(step: String, seconds: Double)] {
        (report.probes ?? []).compactMap { record in
            guard record.outcome != .skipped else { return nil }
            return (record.step, record.timings?.totalSeconds ?? 0)
        }
    }

    /// The first credential variable an entry names that is not set (or empty).
    func missingCredentialVariable(_ settings: ConnectionSettings) -> (key: String, variable: String)? {
        for (key, variable) in settings.environmentVariables {
            if (environment[variable] ?? "").trimmedWhitespace().isEmpty { return (key, variable) }
        }
        return nil
    }

    /// A `token-missing` finding: the connection names a variable that holds nothing, so no
    /// credential can be sent. Never a crash, never the value.
    func credentialMissingReport(_ entry: ConnectionEntry, key: String, variable: String) -> Report {
        let what: String
        switch key {
        case "token-env": what = "access token"
        case "refresh-token-env": what = "refresh token"
        case "client-secret-env": what = "client secret"
        case "developer-token-env": what = "developer token"
        case "password-env": what = "password"
        case "api-key-env": what = "API key"
        default: what = "credential"
        }
        let destination = ["bigquery", "google-sheets", "snowflake", "redshift", "postgres", "platform-api"].contains(entry.settings.provider ?? "")
        let finding = Finding(
            rule: "check.credential-variable-missing", category: destination ? "destination" : "api-token",
            failure: "token-missing", severity: "error", confidence: 1,
            summary: "The \(what) is missing: environment variable \(variable) (field '\(key)') is not set or empty, so no credential can be sent.",
            actor: "engineer", transient: false,
            evidence: [("check.field", .string(key)), ("check.variable", .string(variable)), ("token.present", .bool(false))],
            remediation: ["verify-api-token", "store-tokens-securely"].compactMap { engine.ruleSet.remediations[$0] })
        return Report(id: entry.name, inputKind: Evidence.Kind.probe.rawValue, source: nil, provider: entry.settings.provider,
                      providerDetected: false, httpStatus: nil, evidenceShowsFailure: true, findings: [finding], probes: [])
    }

    /// Blocking work (a libpq connection) on its own thread, never on the cooperative pool.
    static func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.name = "authdoctor-check-database"
            thread.start()
        }
    }
}

extension ConnectionVerdict {
    var probeCount: Int { probeSeconds.count * max(1, attempts) }
}

/// Where a run's entries come from, one at a time as a slot frees up.
public protocol CheckFeed: AnyObject, Sendable {
    /// How many entries there are at most (for progress and capacity).
    var total: Int { get }
    /// The next entry, or nil when there is none. `stopping`: the deadline passed or the output went
    /// away (a list still gives its entries, to be reported UNKNOWN; a claimer claims no more).
    func next(stopping: Bool) -> ConnectionEntry?
}

/// A fixed list of entries, in order.
public final class EntryList: CheckFeed, @unchecked Sendable {
    private let entries: [ConnectionEntry]
    private var position = 0
    private let lock = NSLock()

    public init(_ entries: [ConnectionEntry]) { self.entries = entries }

    public var total: Int { entries.count }

    public func next(stopping: Bool) -> ConnectionEntry? {
        lock.withLock {
            guard position < entries.count else { return nil }
            position += 1
            return entries[position - 1]
        }
    }
}

/// What a run keeps of its verdicts as they come: counts always, verdicts (without their
/// reports) as the retention says.
struct RetainedVerdicts: Sendable {
    var counts: [CheckStatus: Int] = [:]
    var probes = 0
    var verdicts: [ConnectionVerdict] = []
    var tableRows = CheckTableRows()
    /// In completion order until `putMetricRowsInSourceOrder`; `metricPositions[k]` is the source
    /// position of `metricRows[k]`.
    var metricRows: [MetricRow] = []
    var metricPositions: [Int] = []

    /// Sorts the rows by source position in place (a permutation applied cycle by cycle): a sorted
    /// copy would hold every row twice at the end of the run, when its memory peaks.
    mutating func putMetricRowsInSourceOrder() {
        var from = metricPositions.indices.sorted { metricPositions[$0] < metricPositions[$1] }
        metricPositions = []
        for start in from.indices where from[start] != start && from[start] >= 0 {
            let first = metricRows[start]
            var at = start
            while true {
                let next = from[at]
                from[at] = -1
                if next == start { metricRows[at] = first; break }
                metricRows[at] = metricRows[next]
                at = next
            }
        }
    }

    mutating func add(_ verdict: ConnectionVerdict, _ retention: VerdictRetention) {
        counts[verdict.status, default: 0] += 1
        probes += verdict.probeCount
        switch retention {
        case .none:
            return
        case .all:
            var slim = verdict
            slim.report = nil
            verdicts.append(slim)
        case .rows:
            tableRows.append(verdict)
        case .metrics:
            metricRows.append(MetricRow(verdict))
            metricPositions.append(verdict.index)
        case let .worstNotOK(limit):
            guard verdict.status != .ok else { return }
            if let limit {
                guard limit > 0 else { return }
                // Full and this one is no worse than the last kept: it would be cut anyway.
                if verdicts.count >= limit, let last = verdicts.last, !VerdictRetention.precedes(verdict, last) { return }
            }
            var slim = verdict
            slim.report = nil
            // Kept in print order (worst first) so the cut is always at the end.
            var low = 0, high = verdicts.count
            while low < high {
                let mid = (low + high) / 2
                if VerdictRetention.precedes(verdicts[mid], slim) { low = mid + 1 } else { high = mid }
            }
            verdicts.insert(slim, at: low)
            if let limit, verdicts.count > limit { verdicts.removeLast() }
        }
    }
}

/// Set once the total deadline has passed.
/// One value set once from a task group, read after it.
final class LockedValue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?
    func set(_ value: T) { lock.withLock { stored = value } }
    var value: T? { lock.withLock { stored } }
}

public final class DeadlineFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public func set() { lock.withLock { value = true } }
    public var isSet: Bool { lock.withLock { value } }
}
