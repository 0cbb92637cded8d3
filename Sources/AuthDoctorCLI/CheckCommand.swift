import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
import HealthCheck
import Links
import Probe
import RuleEngine
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// `authdoctor check`: diagnose many connections, as a monitoring plugin or a metrics exporter.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Health-check many connections at once (for cron, Nagios/Icinga, Prometheus).",
        discussion: """
        Diagnoses every connection of a connections file, many at once over one shared libcurl \
        engine, and reports each one's state: OK (healthy), WARNING (warnings only, such as a token \
        expiring within warn-expiry, or a transient failure that outlasted its retries), CRITICAL \
        (a failure that waiting will not fix), UNKNOWN (a bad entry, nothing recognised the failure, \
        or the deadline came first). Transient failures (outage, rate-limit, a timeout or reset) \
        are retried with exponential backoff and jitter, honouring Retry-After, before they count.

        A connections file is a `connections:` list; each entry has a `name` and otherwise the \
        names of `diagnose`'s flags (without the dashes), so one vocabulary serves both:

          connections:
            - name: shop-ads
              provider: facebook
              token-env: SHOP_FB_TOKEN          # the secret stays in the environment
              client-id: "5550001112223"
              client-secret-env: FB_APP_SECRET
              base-url: {facebook: "http://127.0.0.1:8080"}
            - name: warehouse
              provider: postgres
              host: db.example.com
              user: loader
              password-env: PG_PASSWORD
              database: analytics
              timeout: 5

        A bad entry is reported UNKNOWN naming the entry and the field; the others still run. A \
        credential variable that is not set is a `token-missing` finding (CRITICAL), not an error.

        With --db, the store's active connections (made through authorization links) are checked \
        too, named by their connection id (`authdoctor connections list` shows client, provider \
        and account); their tokens are decrypted from the store. A refresh needs the OAuth app: \
        --oauth-client google=ID.apps.googleusercontent.com, secret in AUTHDOCTOR_OAUTH_GOOGLE_SECRET. \
        Every verdict is also kept in the store's history (see `authdoctor history`; --no-history \
        skips it).

        Renewal: a diagnosis exchanges a refresh token to test it. With --renew (needs --db) the \
        tokens it gets (a new access token, a rotated refresh token) are stored encrypted, in one \
        transaction: a stored connection's in its record, a file connection's under its name, and \
        later runs use them instead of the file's variables (the summary says so). A refresh that \
        fails is reported as the finding it is (expiry, revoked, credentials) and stores nothing. \
        --dry-run never exchanges a refresh token (a rotated token that is not stored would break \
        the connection): those steps are skipped and the summary says renewal was skipped.

        Notifications (needs --db): with --notify URL (repeatable) and the URLs kept with \
        `authdoctor notify add`, each connection whose state changed since its last recorded verdict \
        (ok to warning/critical/unknown, back to ok, another failure class; a first verdict that is \
        not ok) is announced by one POST per URL, as its verdict is reached: JSON (connection, \
        provider, client, old and new status, failure, summary, clientMessage, link, consoleURL with \
        --console-url, a Slack-compatible `text`) signed with X-Authdoctor-Signature: \
        sha256=<HMAC-SHA256 of the body> under AUTHDOCTOR_NOTIFY_SECRET. Failed POSTs (transport \
        error, 408, 429, 5xx) are retried with backoff; a webhook that still fails is one warning \
        line on stderr and never changes the exit status. With several workers on one store a \
        change is announced once.

        Across machines: --shard K/N keeps the connections whose name (or stored id) hashes to \
        shard K of N (64-bit FNV-1a, the same everywhere), so N workers check each connection once. \
        With a PostgreSQL --db, --claim makes workers that may come and go: each joins a round \
        (--round LABEL, else the newest unfinished one), claims batches of connections not yet \
        checked in it (FOR UPDATE SKIP LOCKED) under a lease (--lease, renewed while it runs), and \
        records each verdict with its claim's completion: each connection once per round, every \
        worker's verdicts in one history. A PostgreSQL store that is down or restarting makes the \
        connections that need it UNKNOWN (failure store-unavailable), writing nothing for them.

        Examples (the first needs no internet: the demo connections against the Sandbox):
          authdoctor check --sandbox
          authdoctor check --connections conns.yaml
          authdoctor check --connections conns.yaml --format nagios --connection crm
          authdoctor check --connections conns.yaml --format jsonl > reports.jsonl
          authdoctor check --connections conns.yaml --format json --retries 0
          authdoctor check --db authdoctor.sqlite --renew
          authdoctor check --connections conns.yaml --db authdoctor.sqlite --dry-run
          authdoctor check --connections conns.yaml --shard 2/3
          authdoctor check --db postgres://authdoctor@db.internal/authdoctor \\
              --claim --round nightly-42
          authdoctor check --connections conns.yaml --format prometheus \\
              --metrics-file /var/lib/node_exporter/textfile/authdoctor.prom

        Exit status (monitoring plugins): 0 every connection OK; 1 the worst is WARNING; 2 some \
        connection is CRITICAL; 3 UNKNOWN, or nothing was checked (an empty file or store, a PostgreSQL \
        store that is down), and \
        with --format nagios every usage or input error. Otherwise bad usage exits 64, a malformed \
        connections file 65, a missing one (or a --db with no store, a --connection naming none) \
        66, a store that cannot be opened 74 (78 for a bad AUTHDOCTOR_KEY).
        """
    )

    @Option(name: .customLong("connections"), help: ArgumentHelp("The connections file (YAML: a `connections:` list).", valueName: "FILE"))
    var connections: String?

    @Flag(name: .customLong("sandbox"), help: "Run the Sandbox in process: without --connections, check its demo connections (every scenario); with it, point entries that have no base-url at the Sandbox scenario their token picks.")
    var sandbox = false

    @Option(name: .customLong("format"), help: ArgumentHelp("text (a table; default), json (one document), jsonl (one report per connection, as each finishes), nagios (a status line with performance data), prometheus (text exposition).", valueName: "FORMAT"), completion: .list(CheckFormat.allCases.map(\.rawValue)))
    var format: String = "text"

    @Option(name: .customLong("concurrency"), parsing: .unconditional, help: ArgumentHelp("Connections diagnosed at once.", valueName: "N"))
    var concurrency: Int = 32

    @Option(name: .customLong("timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds each probe may take, connect included (an entry's own `timeout` wins).", valueName: "SECONDS"))
    var timeout: Double = 10

    @Option(name: .customLong("deadline"), parsing: .unconditional, help: ArgumentHelp("Seconds the whole run may take; connections not finished by then are UNKNOWN (\"deadline reached\"). Default: none; \(CheckCommand.nagiosDeadline) with --format nagios (plugins answer before Nagios's 60 s timeout).", valueName: "SECONDS"))
    var deadline: Double?

    @Option(name: .customLong("retries"), parsing: .unconditional, help: ArgumentHelp("Extra attempts for a connection whose failures are all transient, before it counts as WARNING.", valueName: "N"))
    var retries: Int = 2

    @Option(name: .customLong("retry-after-max"), parsing: .unconditional, help: ArgumentHelp("The longest Retry-After honoured; a longer one ends the retries.", valueName: "SECONDS"))
    var retryAfterMax: Double = 60

    @Option(name: .customLong("warn-expiry"), help: ArgumentHelp("Warn when a token expires within this time: 7d, 36h, 90m, seconds; 0 = never (an entry's own `warn-expiry` wins).", valueName: "DURATION"))
    var warnExpiry: String = "7d"

    @Option(name: .customLong("metrics-file"), help: ArgumentHelp("Also write the Prometheus exposition to PATH, atomically (for node_exporter's textfile collector).", valueName: "PATH"))
    var metricsFile: String?

    @Option(name: .customLong("providers"), help: ArgumentHelp("Also load provider definitions from DIR. Repeatable.", valueName: "DIR"))
    var providerDirectories: [String] = []

    @Option(name: .customLong("connection"), help: ArgumentHelp("Check only the connection with this name (a file entry's name, a stored connection's id). Repeatable: one Nagios service per connection.", valueName: "NAME"))
    var onlyConnections: [String] = []

    @Option(name: .customLong("max-output"), parsing: .unconditional, help: ArgumentHelp("--format nagios: at most this many bytes of output (Nagios Core keeps 8 KB; default 8192; 0 = no limit). The status line always stays; the worst connections come first, then \"... and N more\".", valueName: "BYTES"))
    var maxOutput: Int?

    @OptionGroup var store: StoreOptions

    @Option(name: .customLong("shard"), help: ArgumentHelp("Check only shard K of N: the connections whose name (or stored id) hashes to it (64-bit FNV-1a, the same on every machine). N workers given 1/N ... N/N check each connection once between them.", valueName: "K/N"))
    var shard: String?

    @Flag(name: .customLong("claim"), help: "With a PostgreSQL --db: join the current round and claim connections not yet checked in it, a batch at a time, under a lease (workers may come and go; each connection is checked once per round).")
    var claim = false

    @Option(name: .customLong("round"), help: ArgumentHelp("--claim: the round to join (made if new), e.g. the scheduler's run id. Default: the newest unfinished round, or a new one when all are finished.", valueName: "LABEL"))
    var round: String?

    @Option(name: .customLong("lease"), parsing: .unconditional, help: ArgumentHelp("--claim: seconds a claim is held without renewal (renewed every third of it while this worker runs; a worker that dies loses its claims after this).", valueName: "SECONDS"))
    var lease: Double = 120

    @Flag(name: .customLong("renew"), help: "Store the tokens a refresh-token exchange gives (encrypted, in the --db store); later runs use them.")
    var renew = false

    @Flag(name: .customLong("dry-run"), help: "Never exchange a refresh token: skip those steps (nothing is renewed or rotated).")
    var dryRun = false

    @Flag(name: .customLong("no-history"), help: "Do not record this run's verdicts in the --db store's history.")
    var noHistory = false

    @Option(name: .customLong("oauth-client"), help: ArgumentHelp("The OAuth app stored connections of a provider were made with, e.g. google=ID.apps.googleusercontent.com; its secret comes from AUTHDOCTOR_OAUTH_<PROVIDER>_SECRET. Repeatable.", valueName: "PROVIDER=CLIENT_ID"))
    var oauthClients: [String] = []

    @OptionGroup var ruleOptions: RuleOptions

    @OptionGroup var colorOption: ColorOption

    @OptionGroup(title: "Notifications") var notify: NotifyOptions

    init() {}

    /// The total deadline of a `--format nagios` run without --deadline, in seconds.
    static let nagiosDeadline = 50
    /// The output budget of a `--format nagios` run without --max-output (Nagios Core's 8 KB).
    static let nagiosMaxOutput = 8192

    /// --deadline, or the plugin default under --format nagios.
    var effectiveDeadline: Double? { deadline ?? (checkFormat == .nagios ? Double(Self.nagiosDeadline) : nil) }

    var checkFormat: CheckFormat? { CheckFormat(rawValue: format) }

    func validate() throws {
        guard checkFormat != nil else {
            throw ValidationError("bad --format '\(format)': use text, json, jsonl, nagios or prometheus")
        }
        do {
            try NumberInput.check(concurrency, what: "--concurrency", range: 1...4096)
            try NumberInput.check(timeout, what: "--timeout", bounds: NumberInput.Range.timeout)
            if let deadline { try NumberInput.check(deadline, what: "--deadline", bounds: NumberInput.Range.deadline) }
            if let maxOutput, maxOutput != 0 { try NumberInput.check(maxOutput, what: "--max-output", range: 256...16_777_216) }
            try NumberInput.check(retries, what: "--retries", range: 0...10)
            try NumberInput.check(retryAfterMax, what: "--retry-after-max", bounds: NumberInput.Range.retryAfterMax)
            _ = try CredentialInput.duration(warnExpiry)
        } catch { throw ValidationError(error.message) }
        if connections == nil && store.databasePath == nil && !sandbox {
            throw ValidationError("check needs --connections FILE and/or --db PATH (or --sandbox for the demo connections)")
        }
        if renew && dryRun { throw ValidationError("give only one of --renew, --dry-run") }
        if renew && store.databasePath == nil { throw ValidationError("--renew needs --db PATH: the store is where renewed tokens are kept") }
        if !oauthClients.isEmpty && store.databasePath == nil { throw ValidationError("--oauth-client is for stored connections: give --db PATH") }
        if maxOutput != nil && checkFormat != .nagios { throw ValidationError("--max-output is for --format nagios") }
        if let empty = onlyConnections.first(where: { $0.isEmpty }) { throw ValidationError("--connection needs a name, not '\(empty)'") }
        if let shard { do { _ = try CheckShard(parsing: shard) } catch { throw ValidationError(error.message) } }
        if claim {
            if shard != nil { throw ValidationError("give only one of --shard, --claim: claims already split the connections between workers") }
            if store.databasePath == nil { throw ValidationError("--claim needs --db postgres://...: the claims are kept in the shared store") }
            do { try NumberInput.check(lease, what: "--lease", bounds: NumberInput.Bounds(5, 86_400)) } catch { throw ValidationError(error.message) }
        } else if round != nil {
            throw ValidationError("--round is for --claim")
        } else if lease != 120 {
            throw ValidationError("--lease is for --claim")
        }
        if let round, round.isEmpty || round.count > 100 || round.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw ValidationError("--round needs a label of 1 to 100 printable characters")
        }
        try notify.validate(database: store.databasePath, noHistory: noHistory)
    }

    func run() throws {
        let format = checkFormat ?? .text
        var defaults = ConnectionSettings()
        defaults.timeout = timeout
        do { _ = try CredentialInput.duration(warnExpiry) } catch { throw InputError(.usage, error.message) }
        defaults.warnExpiry = warnExpiry

        // Outputs first: a metrics file that cannot be written is said before anything is probed.
        if let metricsFile { try PrometheusExposition.checkDestination(metricsFile) }
        let ruleSet = try ruleOptions.load()
        ruleSet.decodeAll()
        let engine = ClassifyEngine(ruleSet: ruleSet)
        let (definitions, issues) = try ProviderLibrary.load(includeBuiltin: true,
                                                             directories: RuleOptions.providerDirectories(providerDirectories, rules: ruleOptions))
        if let first = issues.first { throw InputError(.config, first.message, place: "\(first.file):\(first.line)") }

        // Sources of connections: the file, the store's connections made through links, or the demo set.
        var entries: [ConnectionEntry] = []
        let clients = try Self.oauthClients(oauthClients, definitions: definitions, sandbox: sandbox)
        // A --db that names no store, with nothing else to check, is a mistyped path: never made here.
        if let path = store.databasePath, connections == nil, !sandbox, path != ":memory:",
           case .sqlite = try StoreTarget.parse(path, passwordVariable: store.passwordVariable), !FileManager.default.fileExists(atPath: path) {
            throw InputError(.noInput, "no store there: nothing to check (a mistyped --db?)", place: path)
        }
        // A PostgreSQL store that is down or restarting: the connections that need it are UNKNOWN
        // (the file's, each with the reason); with only the store to list them, the run is.
        var linkStore: (any AuthDoctorStore)?
        var storeDown: String?
        if store.databasePath != nil {
            do { linkStore = try store.open() } catch {
                guard StoreLocation.isUnavailable(error) else { throw error }
                guard connections != nil else {
                    AuthDoctorCommand.fail(error.description + "; nothing was checked", code: 3, nagios: format == .nagios)
                }
                storeDown = error.description
            }
        }
        if claim, let linkStore, !(linkStore is any CheckClaims) {
            throw InputError(.usage, "--claim needs a PostgreSQL store (one SQLite file is one machine: split it with --shard K/N)")
        }
        // Notifications keep their URLs and claims in the SQLite store's settings (not yet on PostgreSQL).
        let notifyStore = linkStore as? any NotificationStore
        let notifyConfiguration = try notify.configuration(store: notifyStore, noHistory: noHistory)
        let server = sandbox ? try InProcessSandbox.start() : nil
        defer { server?.stop() }
        if let connections {
            // Assigned, not appended: `+=` onto the empty list would copy every entry once more.
            entries = try ConnectionsFile.load(path: connections, defaults: defaults).connections()
        }
        if let linkStore {
            let source = StoredConnections(store: linkStore, definitions: definitions, engine: engine, defaults: defaults,
                                           oauthClients: clients, sandboxURL: server.map(SandboxRouting.baseURL(server:)),
                                           firstIndex: entries.count)
            entries += try StoreCall.run(linkStore) { try source.connections() }
        }
        if connections == nil && linkStore == nil, let server {
            entries += try SandboxConnections.entries(server: server, engine: engine, definitions: definitions,
                                                      timeout: timeout == 10 ? 3 : timeout)
        }

        if !onlyConnections.isEmpty { entries = try Self.select(onlyConnections, from: entries) }
        if let shard { entries = try CheckShard(parsing: shard).select(entries) }
        if let storeDown {
            for i in entries.indices { entries[i].storeUnavailable = storeDown }
        }
        if entries.isEmpty && format == .nagios {
            let source = connections != nil ? "the connections file lists none" : "the store has no active connection"
            throw InputError(.noInput, "nothing to check: \(source)")
        }

        // As many idle connections kept as transfers may run: fewer, and every extra transfer opens and
        // closes a connection of its own.
        let transfers = max(64, concurrency * 2)
        try Libcurl.requireLoaded()
        guard let transport = ProbeEngine(connections: transfers, maxTransfers: transfers, evidenceLines: false) else {
            throw InputError(.io, "cannot start libcurl (curl_multi_init failed)")
        }
        defer { transport.shutdown() }
        var options = CheckOptions(concurrency: concurrency, deadline: effectiveDeadline, retries: retries, backoff: 0.5,
                                   retryAfterCap: retryAfterMax, keepReports: format.needsReports || notifyConfiguration != nil)
        options.renewal = renew ? .renew : dryRun ? .dryRun : .diagnose
        options.retention = Self.retention(format: format, maxOutput: maxOutput ?? Self.nagiosMaxOutput, metricsFile: metricsFile != nil)
        let runner = CheckRunner(engine: engine, definitions: definitions, options: options, transport: transport,
                                 sandboxURL: server.map(SandboxRouting.baseURL(server:)), store: linkStore)

        let output = BufferedStandardOutput()
        // Stdout gone or full: stop the run (no new connection starts), then end below, after the
        // libcurl engine has stopped, never from the writing thread.
        output.onFailure = { [runner] in runner.stopRequest.set() }
        let worst = WorstStatus()
        let writer = CheckWriter(format: format, color: Terminal.colorAllowed, emit: output.write, emitBytes: output.write(bytes:))
        if format == .nagios { writer.maxOutput = maxOutput ?? Self.nagiosMaxOutput }
        var sinks: [any CheckSink] = [worst]
        // The progress line is on stderr: it is cleared (its finish) before the table is written.
        if isatty(STDERR_FILENO) != 0 && format != .nagios { sinks.append(ProgressLine()) }
        sinks.append(writer)
        // --claim: this worker's share of the round, claimed as it goes; its sink records the verdicts.
        var claimed: ClaimedCheck?
        if claim, let claims = linkStore as? any CheckClaims {
            claimed = try StoreCall.run(linkStore!) {
                try ClaimedCheck(claims: claims, entries: entries, label: round, lease: lease, batch: min(1000, max(16, concurrency * 4)),
                                 record: !noHistory)
            }
        }
        if let claimed, !claimed.prime() {
            // Not a run with nothing checked (UNKNOWN): this worker's share of the round is empty.
            let note = "round \(claimed.round.id): nothing left to claim (\(claimed.round.total) connections, checked or claimed by other workers)"
            if format == .nagios { Terminal.write("AUTHDOCTOR OK - \(Redactor.redact(note))\n") }
            SystemIO.writeStandardError("authdoctor: \(note)\n")
            return
        }
        let history = linkStore.flatMap { noHistory || claimed != nil ? nil : CheckHistory(store: $0) }
        if let history { sinks.append(history) }
        if let claimed { sinks.append(claimed) }
        let notifier = notifyConfiguration.flatMap { c in notifyStore.map { CheckNotifier(configuration: c, store: $0, claims: $0, transport: transport) } }
        if let notifier { sinks.append(notifier) }
        let feed: any CheckFeed = claimed ?? EntryList(entries)
        entries = []
        let outputs = sinks
        let run = Blocking.await { await runner.run(feed: feed, sinks: outputs) }
        output.flush()
        if let code = output.failure {
            transport.shutdown()
            let reason = code == EPIPE ? "the reader went away" : String(cString: strerror(code))
            SystemIO.writeStandardError("authdoctor: cannot write the output (\(reason)); the run was stopped\n")
            // A monitoring plugin still says the worst it saw (UNKNOWN when it saw nothing); otherwise EX_IOERR.
            if format == .nagios { let seen = worst.seen ?? 0; throw ExitCode(seen > 0 ? seen : 3) }
            throw ExitCode(74)
        }
        if let history, let failure = history.failure, let linkStore {
            // The verdicts stand; only their record is missing.
            let reason = StoreLocation.inputError(for: failure, path: linkStore.location)?.description ?? Redactor.redact("\(failure)")
            SystemIO.writeStandardError("authdoctor: warning: this run's verdicts were not recorded in the history: \(reason)\n")
        }
        if let claimed, let linkStore {
            if let failure = claimed.failure {
                let reason = StoreLocation.inputError(for: failure, path: linkStore.location)?.description ?? Redactor.redact("\(failure)")
                let lost = claimed.unwritten
                SystemIO.writeStandardError("authdoctor: warning: round \(claimed.round.id): \(reason)"
                    + (lost > 0 ? " (\(lost) verdicts not recorded: their claims lapse and another worker checks them again)" : "") + "\n")
            }
        }
        NotifyOptions.settle(notifier, deadline: effectiveDeadline, elapsed: run.seconds)
        if let metricsFile { try PrometheusExposition.writeAtomically(PrometheusExposition.render(run), to: metricsFile) }
        if run.exitStatus != 0 { throw ExitCode(run.exitStatus) }
    }

    /// What the run keeps of its verdicts once the writers have had them: only what the output
    /// still prints at the end. json and jsonl wrote each verdict as it came; nagios prints the
    /// worst that fit its budget and counts the rest; the text table and Prometheus (the format, or
    /// --metrics-file) list every connection.
    static func retention(format: CheckFormat, maxOutput: Int, metricsFile: Bool) -> VerdictRetention {
        // Metrics beside another format: the rows of both are needed.
        if metricsFile && format != .prometheus { return .all }
        switch format {
        case .json, .jsonl: return .none
        case .nagios: return NagiosOutput.retention(maxBytes: maxOutput)
        case .text: return .rows
        case .prometheus: return .metrics
        }
    }

    /// `--oauth-client PROVIDER=CLIENT_ID` flags with their secrets from AUTHDOCTOR_OAUTH_<PROVIDER>_SECRET
    /// (as `serve` takes them). With --sandbox and no flag, the Sandbox's test app for every provider.
    static func oauthClients(_ flags: [String], definitions: [String: ProviderDefinition], sandbox: Bool,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(InputError) -> [String: StoredConnections.OAuthClient] {
        var out: [String: StoredConnections.OAuthClient] = [:]
        if flags.isEmpty && sandbox {
            for id in definitions.keys { out[id] = .init(clientID: SandboxOAuthClient.clientID, clientSecret: SandboxOAuthClient.clientSecret) }
            return out
        }
        for flag in flags {
            let parts = flag.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].trimmingCharacters(in: .whitespaces).isEmpty else {
                throw InputError(.usage, "--oauth-client takes PROVIDER=CLIENT_ID (e.g. google=123-abc.apps.googleusercontent.com), not '\(Redactor.redact(flag))'")
            }
            let provider = String(parts[0])
            guard definitions[provider] != nil else {
                throw InputError(.usage, "--oauth-client: unknown provider '\(provider)' (known: \(definitions.keys.sorted().joined(separator: ", ")))")
            }
            if out[provider] != nil { throw InputError(.usage, "--oauth-client: \(provider) is given twice") }
            let variable = "AUTHDOCTOR_OAUTH_" + provider.uppercased().replacingOccurrences(of: "-", with: "_") + "_SECRET"
            guard let secret = environment[variable], !secret.isEmpty else {
                throw InputError(.config, "--oauth-client \(provider): set \(variable) to the OAuth app's client secret")
            }
            out[provider] = .init(clientID: String(parts[1]), clientSecret: secret)
        }
        return out
    }

    /// The entries named by `--connection`, in source order; a name that matches none is an error
    /// (with the nearest name), so a Nagios service for a removed connection is UNKNOWN, not OK.
    static func select(_ names: [String], from entries: [ConnectionEntry]) throws(InputError) -> [ConnectionEntry] {
        let all = Set(entries.map(\.name))
        for name in names where !all.contains(name) {
            throw InputError(.noInput, "no connection named '\(Redactor.redact(name))'\(Suggestion.hint(name, among: entries.map(\.name)))", place: "--connection")
        }
        let wanted = Set(names)
        return entries.filter { wanted.contains($0.name) }
    }

    /// Whether a command line asks for `check --format nagios`: then every error exits 3 (UNKNOWN),
    /// as monitoring plugins do, with a status line Nagios can show.
    static func wantsNagios(_ arguments: [String]) -> Bool {
        guard let at = arguments.firstIndex(of: "check") else { return false }
        let rest = arguments[(at + 1)...]
        if rest.contains("--format=nagios") { return true }
        if let f = rest.firstIndex(of: "--format"), rest.index(after: f) < rest.endIndex, rest[rest.index(after: f)] == "nagios" { return true }
        return false
    }
}

/// The worst status among the verdicts written so far.
final class WorstStatus: CheckSink, @unchecked Sendable {
    private let lock = NSLock()
    private var worst: Int32?
    var seen: Int32? { lock.withLock { worst } }
    func begin(total: Int) {}
    func receive(_ verdict: ConnectionVerdict) {
        lock.withLock { worst = max(worst ?? 0, verdict.status.rawValue) }
    }
    func finish(_ run: CheckRun) {}
}

/// "checked 120/10000 (3 critical)" on stderr, rewritten in place, when stderr is a terminal.
final class ProgressLine: CheckSink, @unchecked Sendable {
    private var total = 0
    private var done = 0
    private var notOK = 0
    private var lastDraw: UInt64 = 0

    func begin(total: Int) { self.total = total }

    func receive(_ verdict: ConnectionVerdict) {
        done += 1
        if verdict.status != .ok { notOK += 1 }
        let now = DispatchTime.now().uptimeNanoseconds
        if now - lastDraw > 100_000_000 || done == total {
            lastDraw = now
            SystemIO.writeStandardError("\r\u{1B}[Kchecked \(done)/\(total) (\(notOK) not ok)")
        }
    }

    func finish(_ run: CheckRun) {
        SystemIO.writeStandardError("\r\u{1B}[K")
    }
}

/// Runs async work from the synchronous command and waits for it.
package enum Blocking {
    package static func await<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            box.value = await work()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    private final class ResultBox<T>: @unchecked Sendable { var value: T? }
}

/// The Sandbox's scenarios as connections (`check --sandbox` without a file): the demo set.
enum SandboxConnections {
    static func entries(server: SandboxServer, engine: ClassifyEngine, definitions: [String: ProviderDefinition],
                        timeout: Double) throws -> [ConnectionEntry] {
        var key: String?
        var entries: [ConnectionEntry] = []
        for (index, scenario) in server.scenarios.scenarios.enumerated() {
            guard let definition = definitions[scenario.provider] else {
                throw InputError(.config, "scenario \(scenario.id): no provider definition '\(scenario.provider)'")
            }
            let credentials = SandboxDemo.credentials(for: scenario) {
                if key == nil { key = RSAKey.generatePEM() }
                return key!
            }
            let runner = try DiagnosisRunner(definition: definition, credentials: credentials,
                                             options: SandboxDemo.options(for: scenario, server: server, timeout: timeout), engine: engine)
            var settings = ConnectionSettings()
            settings.provider = scenario.provider
            entries.append(ConnectionEntry(index: index, name: scenario.id, settings: settings, prepared: .http(runner)))
        }
        return entries
    }
}
