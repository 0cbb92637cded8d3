import Diagnose
import EvidenceModel
import Foundation
import LinkServer
import Links
import RuleEngine
import Probe
import Sandbox

// authdoctor-bench: the speed targets of the issues, measured (figures go in closing notes).
//   authdoctor-bench batch [RECORDS=100000] [JOBS=1]   classify --batch throughput, in process
//   authdoctor-bench rules [RUNS=20]                    built-in rule loading time
//   authdoctor-bench oneshot BINARY [RUNS=30]           wall time of `classify --response` as a process
//   authdoctor-bench diagnose BINARY [RUNS=20] [LATENCY_MS=100]
//                                                      `diagnose` against the Sandbox: engine overhead beyond
//                                                      the HTTP exchanges, and whether the steps overlap
//   authdoctor-bench serve [CLIENTS=32] [REQUESTS=20000] the link page under CLIENTS concurrent browsers
//                                                      (each with its own session cookie), against the
//                                                      link server on loopback: median and p90 latency
//   authdoctor-bench fuzz SECONDS [BINARY] [--seed N] [--out DIR]
//                                                      mutated hostile inputs through the real binary (Fuzz.swift):
//                                                      fails on a crash, a hang past 10 s or a leaked secret
//   authdoctor-bench links [LIFECYCLES=10000]           issue + open + add a connection + finish, one after
//                                                      another, against a SQLite file store (WAL)
//   authdoctor-bench links-pg URL [LIFECYCLES=10000] [THREADS=8]
//                                                      the same lifecycles against a PostgreSQL store (a
//                                                      new empty database; password from PGPASSWORD),
//                                                      THREADS at once, as several serve instances would
//   authdoctor-bench store-fill PATH [CONNECTIONS=100000]
//                                                      a SQLite store holding CONNECTIONS active connections
//                                                      (sealed tokens) and a verdict each, for `store copy`

let arguments = Array(CommandLine.arguments.dropFirst())

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: authdoctor-bench batch [RECORDS] [JOBS] | rules [RUNS] | oneshot BINARY [RUNS] | diagnose BINARY [RUNS] [LATENCY_MS] | links [LIFECYCLES] | links-pg URL [LIFECYCLES] [THREADS] | store-fill PATH [CONNECTIONS] | serve [CLIENTS] [REQUESTS] | console [CONNECTIONS] [CHECKS] [RUNS] | fuzz SECONDS [BINARY]\n".utf8))
    exit(64)
}

func intArgument(_ index: Int, default value: Int) -> Int {
    guard arguments.count > index else { return value }
    guard let n = Int(arguments[index]), n > 0 else { usage() }
    return n
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

/// The record shapes of ../shared/bench/gen_batch.py (~1 KB each, five common provider failures).
/// `count` batch records of five common failures (../shared/bench/gen_batch.py's shapes). Each has its
/// own trace id, as real responses do. `unique`: each message also names the record, so no two
/// records read alike and the batch memo never answers.
func makeRecords(_ count: Int, unique: Bool = false) -> [UInt8] {
    let pad = String(repeating: "x", count: 600)
    var out = JSONWriter(capacity: count * 1100)
    for i in 0..<count {
        let n = unique ? " (request \(i))" : ""
        let trace = "T\(i)" + pad.prefix(30)
        let shapes: [(String, Int, String)] = [
            ("google", 401, #"{"error":{"code":401,"message":"Request had invalid authentication credentials.\#(n)","status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_EXPIRED","domain":"googleapis.com","metadata":{"pad":"\#(pad)","trace":"\#(trace)"}}]}}"#),
            ("facebook", 400, #"{"error":{"message":"Error validating access token: Session has expired on Monday.\#(n)","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"\#(trace)"},"pad":"\#(pad)"}"#),
            ("hubspot", 403, #"{"status":"error","message":"This app hasn't been granted all required scopes to make this call.\#(n)","correlationId":"\#(trace)","category":"MISSING_SCOPES","pad":"\#(pad)"}"#),
            ("bigquery", 403, #"{"error":{"code":403,"message":"Access Denied: Dataset p:d: Permission bigquery.tables.create denied\#(n)","status":"PERMISSION_DENIED","errors":[{"reason":"accessDenied","message":"\#(pad)","trace":"\#(trace)"}]}}"#),
            ("snowflake", 200, #"{"data":null,"code":"390100","message":"Incorrect username or password was specified.\#(n)","success":false,"requestId":"\#(trace)","pad":"\#(pad)"}"#),
        ]
        let (provider, status, body) = shapes[i % shapes.count]
        out.value(.object([("id", .string("r\(i)")), ("provider", .string(provider)), ("status", .int(status)),
                           ("headers", .object([("Content-Type", .string("application/json"))])), ("body", .string(body))]))
        out.bytes.append(0x0A)
    }
    return out.bytes
}

func loadRules() -> RuleSet {
    do {
        let (set, issues) = try RuleLibrary.load()
        if let first = issues.first { FileHandle.standardError.write(Data("rule problem: \(first)\n".utf8)); exit(78) }
        return set
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8)); exit(66)
    }
}

/// Runs a command with posix_spawn (Foundation's Process adds tens of milliseconds of its own) and
/// returns its wall time and exit status.
func spawn(_ binary: String, _ args: [String], stdout: String, environment: [String: String] = [:]) -> (Double, Int32) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    var cArgs = ([binary] + args).map { strdup($0) } + [nil]
    let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
    var cEnv = env.map { strdup($0) } + [nil]
    var pid: pid_t = 0
    let start = now()
    let spawned = posix_spawn(&pid, binary, &actions, nil, &cArgs, &cEnv)
    var status: Int32 = 0
    if spawned == 0 { waitpid(pid, &status, 0) }
    let elapsed = now() - start
    for p in cArgs { free(p) }
    for p in cEnv { free(p) }
    posix_spawn_file_actions_destroy(&actions)
    precondition(spawned == 0, "cannot run \(binary): \(spawned)")
    return (elapsed, (status >> 8) & 0xFF)
}

switch arguments.first {
case "fuzz":
    runFuzz(arguments)
case "batch":
    let count = intArgument(1, default: 100_000)
    let jobs = intArgument(2, default: 1)
    // repeating: failures that repeat, apart from trace ids (the memo answers most);
    // unique: every message differs (every record classified); -no-memo: the same, memo off.
    let mode = arguments.count > 3 ? arguments[3] : "repeating"
    let modes = ["repeating", "unique", "repeating-no-memo", "unique-no-memo"]
    guard modes.contains(mode) else {
        FileHandle.standardError.write(Data("batch: mode is one of \(modes.joined(separator: ", ")), not '\(mode)'\n".utf8)); exit(64)
    }
    let data = makeRecords(count, unique: mode.hasPrefix("unique"))
    let input = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-bench-\(getpid()).jsonl")
    try Data(data).write(to: input)
    defer { try? FileManager.default.removeItem(at: input) }
    let engine = ClassifyEngine(ruleSet: loadRules())
    var best = Double.infinity
    var reused = 0
    for _ in 0..<3 {
        let reader = try FileHandle(forReadingFrom: input)
        let sink = FileHandle(forWritingAtPath: "/dev/null")!
        let start = now()
        var batch = BatchClassifier(engine: engine, makeWorkerEngine: { ClassifyEngine(ruleSet: loadRules()) })
        batch.memoize = !mode.hasSuffix("no-memo")
        let summary = try batch.run(input: reader, output: sink, jobs: jobs)
        let elapsed = now() - start
        precondition(summary.records == count && summary.errors == 0, "unexpected batch summary \(summary)")
        best = min(best, elapsed)
        reused = summary.reused
    }
    let mb = Double(data.count) / 1_048_576
    print(String(format: "batch (%@): %d records (%.1f MB), %d job(s): best of 3 %.3f s = %.0f records/s (%.0f MB/s), %d reports reused",
                 mode, count, mb, jobs, best, Double(count) / best, mb / best, reused))

case "rules":
    let runs = intArgument(1, default: 20)
    var times: [Double] = []
    var ruleCount = 0
    for _ in 0..<runs {
        let start = now()
        ruleCount = loadRules().ruleCount
        times.append(now() - start)
    }
    print(String(format: "rules: %d built-in rules loaded in median %.1f ms, p90 %.1f ms (%d runs)",
                 ruleCount, percentile(times, 0.5) * 1000, percentile(times, 0.9) * 1000, runs))

case "oneshot":
    guard arguments.count > 1 else { usage() }
    let binary = arguments[1]
    let runs = intArgument(2, default: 30)
    let fixture = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-bench-\(getpid()).http")
    try Data("""
    HTTP/2 400
    content-type: application/json; charset=UTF-8
    www-authenticate: OAuth "Facebook Platform" "invalid_token" "Error validating access token: Session has expired on Monday."

    {"error":{"message":"Error validating access token: Session has expired on Monday.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEfFAKE"}}
    """.utf8).write(to: fixture)
    defer { try? FileManager.default.removeItem(at: fixture) }
    var times: [Double] = []
    for _ in 0..<runs {
        let (seconds, status) = spawn(binary, ["classify", "--response", fixture.path, "--format", "json"], stdout: "/dev/null")
        precondition(status == 0, "classify exited \(status)")
        times.append(seconds)
    }
    print(String(format: "oneshot: classify --response wall time median %.1f ms, p90 %.1f ms, min %.1f ms (%d runs)",
                 percentile(times, 0.5) * 1000, percentile(times, 0.9) * 1000, times.min()! * 1000, runs))

case "diagnose":
    guard arguments.count > 1 else { usage() }
    let binary = arguments[1]
    let runs = intArgument(2, default: 20)
    let latency = Double(intArgument(3, default: 100)) / 1000
    // A healthy Facebook connection with the app's credentials: four steps (debug_token, me,
    // permissions, ad accounts), every answer delayed by the same latency.
    let server = try SandboxServer.start(options: SandboxOptions(latency: latency))
    defer { server.stop() }
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-bench-\(getpid()).json").path
    defer { try? FileManager.default.removeItem(atPath: output) }
    var overheads: [Double] = [], walls: [Double] = [], slowest: [Double] = [], sums: [Double] = []
    var steps = 0
    for _ in 0..<runs {
        let (wall, status) = spawn(binary, ["diagnose", "--provider", "facebook", "--token-env", "BENCH_TOKEN", "--client-id", "5550001112223",
                                            "--client-secret-env", "BENCH_SECRET", "--base-url", "facebook=\(server.baseURL)", "--format", "json"],
                                   stdout: output, environment: ["BENCH_TOKEN": "sbx-fb-healthy", "BENCH_SECRET": "sbx-fb-app-secret"])
        precondition(status == 0, "diagnose of a healthy connection exited \(status)")
        let report = try JSON.parse(String(contentsOfFile: output, encoding: .utf8))
        let totals = (report["probes"]?.arrayValue ?? []).compactMap { $0["timings"]?["totalMs"].flatMap { v -> Double? in
            if case let .int(i) = v { return Double(i) }; if case let .double(d) = v { return d }; return nil } }
        steps = totals.count
        let longest = (totals.max() ?? 0) / 1000
        walls.append(wall); slowest.append(longest); sums.append(totals.reduce(0, +) / 1000)
        overheads.append(wall - longest)
    }
    print(String(format: "diagnose (a process each): %d steps with %.0f ms latency each: wall median %.1f ms; slowest step %.1f ms; sum of steps %.1f ms; engine overhead (wall - slowest step) median %.1f ms, p90 %.1f ms (%d runs)",
                 steps, latency * 1000, percentile(walls, 0.5) * 1000, percentile(slowest, 0.5) * 1000, percentile(sums, 0.5) * 1000,
                 percentile(overheads, 0.5) * 1000, percentile(overheads, 0.9) * 1000, runs))

    // The same diagnosis in process (as `demo` and health checks run it): the runner's own cost.
    let engine = ClassifyEngine(ruleSet: loadRules())
    let definition = try ProviderLibrary.definition(for: "facebook")
    var credentials = DiagnosisCredentials()
    credentials[CredentialName.token] = "sbx-fb-healthy"
    credentials[CredentialName.clientID] = "5550001112223"
    credentials[CredentialName.clientSecret] = "sbx-fb-app-secret"
    let runner = try DiagnosisRunner(definition: definition, credentials: credentials,
                                     options: DiagnosisOptions(baseURLOverrides: [("facebook", server.baseURL)]), engine: engine)
    var inProcess: [Double] = []
    for _ in 0..<runs {
        let start = now()
        let diagnosis = runner.run()
        let wall = now() - start
        precondition(diagnosis.exitStatus == 0, "in-process diagnosis exited \(diagnosis.exitStatus)")
        let longest = diagnosis.probes.compactMap { $0.timings?.totalSeconds }.max() ?? 0
        inProcess.append(wall - longest)
    }
    print(String(format: "diagnose (in process): runner overhead beyond the slowest step median %.1f ms, p90 %.1f ms (%d runs)",
                 percentile(inProcess, 0.5) * 1000, percentile(inProcess, 0.9) * 1000, runs))

case "serve":
    let clients = intArgument(1, default: 32)
    let requests = intArgument(2, default: 20_000)
    try benchmarkLinkPage(clients: clients, requests: requests)

case "console":
    try benchmarkConsole(count: intArgument(1, default: 10_000), verdictsPerConnection: intArgument(2, default: 10), runs: intArgument(3, default: 30))

case "links":
    let count = intArgument(1, default: 10_000)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-bench-links-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try SQLiteStore(path: directory.appendingPathComponent("authdoctor.sqlite").path, secretBox: .ephemeral())
    let tokens = ProviderTokens(accessToken: "EAAB-bench-access-token", refreshToken: "bench-refresh-token",
                                expiresAt: Date().addingTimeInterval(3600), scopes: ["ads_read", "business_management"])
    let sources = ["facebook", "google-ads"]
    var phases = [Double](repeating: 0, count: 4)
    let start = now()
    for i in 0..<count {
        let clock = Date()
        var t = now()
        let issued = try store.issueLink(client: "client \(i)", sources: sources, maxSources: 5, ttl: 86_400, now: clock)
        var t2 = now(); phases[0] += t2 - t; t = t2
        let opened = try store.openLink(token: issued.token, now: clock)
        t2 = now(); phases[1] += t2 - t; t = t2
        _ = try store.addConnection(sessionID: opened.session.id, provider: sources[i % 2], account: "acct-\(i)", tokens: tokens, now: clock)
        t2 = now(); phases[2] += t2 - t; t = t2
        let activated = try store.finishSession(id: opened.session.id, now: clock)
        t2 = now(); phases[3] += t2 - t
        precondition(activated.count == 1, "finish activated \(activated.count) connections")
    }
    let elapsed = now() - start
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    let links = try store.allLinks()
    precondition(links.count == count && links.allSatisfy { $0.state(at: Date()) == .finished }, "not every link finished")
    let perPhase = zip(["issue", "open", "connect", "finish"], phases).map { String(format: "%@ %.0f µs", $0.0, $0.1 / Double(count) * 1e6) }
    print(String(format: "links: %d lifecycles (issue + open + connect + finish) against a SQLite file in %.2f s = %.0f lifecycles/s (%@ per call); CPU time %.2f s = %.0f lifecycles per CPU-second",
                 count, elapsed, Double(count) / elapsed, perPhase.joined(separator: ", "), cpu, Double(count) / cpu))

case "links-pg":
    guard arguments.count > 1 else { usage() }
    let count = intArgument(2, default: 10_000)
    let threads = intArgument(3, default: 8)
    let location = try PostgresLocation(url: arguments[1])
    let store = try PostgresStore(location: location, secretBox: .ephemeral(), maxConnections: threads)
    let tokens = ProviderTokens(accessToken: "EAAB-bench-access-token", refreshToken: "bench-refresh-token",
                                expiresAt: Date().addingTimeInterval(3600), scopes: ["ads_read", "business_management"])
    let sources = ["facebook", "google-ads"]
    let before = try store.allLinks().count
    let failures = ManagedAtomicCounter()
    let start = now()
    DispatchQueue.concurrentPerform(iterations: threads) { thread in
        var i = thread
        while i < count {
            do {
                let clock = Date()
                let issued = try store.issueLink(client: "client \(i)", sources: sources, maxSources: 5, ttl: 86_400, now: clock)
                let opened = try store.openLink(token: issued.token, now: clock)
                _ = try store.addConnection(sessionID: opened.session.id, provider: sources[i % 2], account: "acct-\(i)", tokens: tokens, now: clock)
                if try store.finishSession(id: opened.session.id, now: clock).count != 1 { failures.add() }
            } catch {
                failures.add()
            }
            i += threads
        }
    }
    let elapsed = now() - start
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    let finished = try store.allLinks().filter { $0.state(at: Date()) == .finished }.count - before
    precondition(failures.value == 0 && finished == count, "\(failures.value) lifecycles failed, \(finished) of \(count) finished")
    print(String(format: "links-pg: %d lifecycles (issue + open + connect + finish) on PostgreSQL, %d at once, in %.2f s = %.0f lifecycles/s; this process's CPU %.2f s",
                 count, threads, elapsed, Double(count) / elapsed, cpu))

case "store-fill":
    guard arguments.count > 1 else { usage() }
    let count = intArgument(2, default: 100_000)
    // The key from AUTHDOCTOR_KEY, checked in (key_check) as a real store's is.
    let box = try SecretBox.load(environment: ProcessInfo.processInfo.environment, keyFile: "")
    let store = try SQLiteStore(path: arguments[1], secretBox: box)
    let start = now()
    let at = Date().timeIntervalSince1970
    var links: [[StoreValue]] = [], sessions: [[StoreValue]] = [], connections: [[StoreValue]] = [], verdicts: [[StoreValue]] = []
    for i in 0..<count {
        let link = String(format: "lnk_%08d", i), session = String(format: "ses_%08d", i), id = String(format: "con_%08d", i)
        links.append([.text(link), .blob(LinkSecrets.digest("token-\(i)")), .text("client \(i)"), .text("google"), .null,
                      .real(at), .real(at + 86_400), .real(at), .real(at), .null])
        sessions.append([.text(session), .text(link), .blob(LinkSecrets.digest("cookie-\(i)")), .real(at), .real(at + 86_400), .real(at)])
        let sealed = try box.seal(Data("{\"accessToken\":\"ya29.bench-\(i)\",\"refreshToken\":\"1//bench-\(i)\",\"scopes\":[]}".utf8),
                                  context: "connection:" + id)
        connections.append([.text(id), .text(link), .text(session), .text("client \(i)"), .text("google"), .text("acct-\(i)@example.com"),
                            .text("openid"), .text("active"), .blob(sealed), .real(at), .real(at), .null, .real(at + 3600), .null])
        verdicts.append([.integer(Int64(i + 1)), .text(id), .real(at), .text("ok"), .text("none"), .text("healthy"), .text("google"),
                         .real(0.05), .null])
    }
    let tables = StoreTables.all
    func table(_ name: String) -> StoreTable { tables.first { $0.name == name }! }
    try store.importRows([(table("links"), links), (table("sessions"), sessions), (table("connections"), connections),
                          (table("verdicts"), verdicts)])
    print(String(format: "store-fill: %d connections (and their links, sessions, a verdict each) in %@ in %.1f s", count, arguments[1], now() - start))

default:
    usage()
}

/// A counter several threads add to.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
