import EvidenceModel
import Foundation
import RuleEngine
#if canImport(Glibc)
import Glibc
#endif

// authdoctor-bench fuzz SECONDS [BINARY] [--seed N] [--out DIR]
//
// Mutates responses, HARs, pasted text, batch lines, connections files and rule files (seeded from
// the fixtures and rules built into the binary, and examples/), plants secrets of every shape the
// redactor knows in them, and runs the real `authdoctor` binary on each in a child process (in a
// network namespace of its own when `unshare -n` works: no packet can leave the machine). It fails
// (exit 1, each failing input saved in a folder under DIR, named on stderr) on:
//   - a crash: the child ended by a signal (a Swift trap is SIGILL/SIGTRAP, an abort SIGABRT);
//   - an exit status outside the contract (0-3, 64-78);
//   - a hang: the child still running after 10 s (it is killed);
//   - a leak: a planted secret's marker in stdout or stderr.

enum FuzzKind: String, CaseIterable {
    case response, har, text, batch, connections, rules
}

struct FuzzOutcome {
    var failure: String?
    var seconds: Double
}

final class Fuzzer {
    let binary: String
    let seconds: Double
    let outDirectory: String
    let seed: UInt64
    var rng: SplitMix64
    let workDirectory: String
    let isolated: Bool
    var seeds: [FuzzKind: [[UInt8]]] = [:]
    var runs: [FuzzKind: Int] = [:]
    var failures = 0
    let timeLimit = 10.0

    init(binary: String, seconds: Double, outDirectory: String, seed: UInt64) {
        self.binary = binary
        self.seconds = seconds
        self.outDirectory = outDirectory
        self.seed = seed
        rng = SplitMix64(seed: seed)
        workDirectory = NSTemporaryDirectory() + "authdoctor-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        isolated = Fuzzer.canIsolate()
        loadSeeds()
    }

    deinit { try? FileManager.default.removeItem(atPath: workDirectory) }

    /// Whether `unshare -n` works here (root, or user namespaces allowed).
    static func canIsolate() -> Bool {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        var pid: pid_t = 0
        var args: [UnsafeMutablePointer<CChar>?] = (["/usr/bin/unshare", "-n", "/bin/true"] as [String]).map { strdup($0) } + [nil]
        defer { for a in args { free(a) } }
        guard posix_spawn(&pid, "/usr/bin/unshare", nil, nil, &args, environ) == 0 else { return false }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status == 0
    }

    func loadSeeds() {
        let fixtures = RuleLibrary.builtinFixtures()
        for (path, text) in fixtures.sorted(by: { $0.key < $1.key }) {
            if path.hasSuffix(".http") {
                seeds[.response, default: []].append(Array(text.utf8))
                // The body or the whole answer, as a customer would paste it.
                seeds[.text, default: []].append(Array(text.utf8))
            } else if path.hasSuffix(".har") {
                seeds[.har, default: []].append(Array(text.utf8))
            } else if path.hasSuffix(".jsonl") {
                seeds[.batch, default: []].append(Array(text.utf8))
            } else if path.hasSuffix(".txt") {
                seeds[.text, default: []].append(Array(text.utf8))
            }
        }
        // Batch lines made from the response fixtures (status, headers, body), as `classify --batch` reads them.
        for (index, response) in (seeds[.response] ?? []).enumerated().prefix(60) {
            let text = String(decoding: response, as: UTF8.self)
            let parts = text.components(separatedBy: "\n\n")
            let body = parts.count > 1 ? parts.dropFirst().joined(separator: "\n\n") : ""
            let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 401
            var line = JSONWriter(capacity: 1024)
            line.value(.object([("id", .string("r\(index)")), ("status", .int(status)),
                                ("headers", .object([("Content-Type", .string("application/json"))])), ("body", .string(body))]))
            seeds[.batch, default: []].append(line.bytes + [0x0A])
        }
        seeds[.batch, default: []].append(Array(#"{"id":"t","text":"curl: (6) Could not resolve host: x","curl_exit":6}"#.utf8) + [0x0A])
        seeds[.text, default: []] += ["Token has been expired or revoked.", "curl: (60) SSL certificate problem", "ERROR: permission denied for schema public (SQLSTATE 42501)"].map { Array($0.utf8) }
        for file in RuleLibrary.builtinRuleFiles() where !file.path.contains("remediation") {
            seeds[.rules, default: []].append(Array(file.text.utf8))
        }
        seeds[.rules, default: []].append(Array("""
        id: fuzz.alias
        category: source
        failure: credentials
        summary: &s "x"
        when:
          text: { matches: "a+b" }
        remediation: [verify-credentials]
        description: [*s, *s, *s]

        """.utf8))
        var connections: [[UInt8]] = []
        if let data = FileManager.default.contents(atPath: "examples/connections.yaml") { connections.append(Array(data)) }
        connections.append(Array("""
        connections:
          - name: a
            provider: facebook
            token-env: FUZZ_NOT_SET
            warn-expiry: 7d
            timeout: 2
            base-url: {facebook: "http://127.0.0.1:9"}
          - name: b
            provider: hubspot
            token-env: FUZZ_NOT_SET
          - name: c
            provider: postgres
            host: 127.0.0.1
            port: 9
            user: loader
            password-env: FUZZ_NOT_SET

        """.utf8))
        seeds[.connections] = connections
    }

    // MARK: - Mutation

    func random(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }
    func chance(_ percent: Int) -> Bool { random(100) < percent }

    static let interesting: [String] = [
        "-1", "0", "99999999999999999999", "1e19", "1e300", "-1e300", "NaN", "inf", "9223372036854775807", "99999999999d",
        "\u{0}", "\u{1b}[2J", "\u{7f}", "\r\n", "\n\n", "\t", "\"", "'", "\\", "\\u0000", "\\ud800", "{", "}", "[", "]", ":", ",",
        "&a", "*a", "&a [*a, *a, *a, *a]", "<<: *a", "!!binary", "---", "...", "? ", "- ", "%", "%00", "%ZZ", "%3D", "(a+)+$",
        "((a*)*)*", "[[:alpha:]", "\\Q", "curl: (-5) weird", "curl: (99999999999) x", "curl: (6) Could not resolve host: x",
        "Retry-After: 99999999999", "Retry-After: -5", "\"expires_in\": 1e300", "\"expires_in\": \"inf\"", "HTTP/1.1 999 X",
        "HTTP/2 401", "Content-Type: application/json", "Content-Length: -1", "<html><body>", "<title>", "</script>",
        String(repeating: "a", count: 300), String(repeating: "{", count: 2000), String(repeating: "[", count: 2000),
        "\u{FEFF}", "\u{202E}", "é", "\u{10FFFF}", "warn-expiry: 1e19", "timeout: 1e11", "port: 99999999999",
        "base-url: {facebook: \"http://[::1\"}", "provider: facebook", "token-env: X", "name: x",
    ]

    func mutate(_ input: [UInt8], kind: FuzzKind) -> [UInt8] {
        var bytes = input
        let steps = 1 + random(6)
        for _ in 0..<steps {
            switch random(8) {
            case 0 where !bytes.isEmpty:
                bytes[random(bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 1 where !bytes.isEmpty:
                let start = random(bytes.count)
                bytes.removeSubrange(start..<min(bytes.count, start + 1 + random(64)))
            case 2 where !bytes.isEmpty:
                // Repeat a range: long lines, many headers, deep nesting.
                let start = random(bytes.count)
                let chunk = Array(bytes[start..<min(bytes.count, start + 1 + random(80))])
                let times = chance(10) ? 2000 + random(20_000) : 1 + random(50)
                var grown: [UInt8] = []
                grown.reserveCapacity(chunk.count * times)
                for _ in 0..<times where grown.count < 1 << 20 { grown += chunk }
                bytes.insert(contentsOf: grown, at: start)
            case 3:
                let token = Array(Self.interesting[random(Self.interesting.count)].utf8)
                bytes.insert(contentsOf: token, at: bytes.isEmpty ? 0 : random(bytes.count + 1))
            case 4 where bytes.count > 8:
                bytes.removeSubrange(random(bytes.count)...)
            case 5:
                if let others = seeds[kind], let other = others.randomElement(using: &rng), !other.isEmpty {
                    let from = random(other.count)
                    let piece = other[from..<min(other.count, from + 1 + random(400))]
                    bytes.insert(contentsOf: piece, at: bytes.isEmpty ? 0 : random(bytes.count + 1))
                }
            case 6 where kind == .response:
                // Many distinct headers after the status line.
                if let end = bytes.firstIndex(of: 0x0A) {
                    var headers: [UInt8] = []
                    for i in 0..<(chance(20) ? 20_000 : 1 + random(200)) { headers += Array("X-Fuzz-\(i): \(i)\r\n".utf8) }
                    bytes.insert(contentsOf: headers, at: end + 1)
                }
            default:
                if !bytes.isEmpty { bytes.swapAt(random(bytes.count), random(bytes.count)) }
            }
        }
        return bytes
    }

    // MARK: - Planted secrets

    /// A marker never seen elsewhere: letters and digits, so every shape below can carry it.
    func marker() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        return "Qx" + String((0..<22).map { _ in alphabet[random(alphabet.count)] })
    }

    /// The secret shapes of issue 12, each carrying `m` where the secret is.
    static func shapes(_ m: String) -> [String] {
        [
            "ya29.a0\(m)", "\"access_token\":\"\(m)\"", "\"refresh_token\": \"1//0g\(m)\"", "Authorization: Bearer \(m)",
            "password=\(m)", "PGPASSWORD=\(m)", "SNOWFLAKE_PASSWORD=\(m)", "aws_secret_access_key = \(m)",
            "\"SecretAccessKey\": \"\(m)\"", "\"secretKey\":\"\(m)\"", "\"privateKey\": \"\(m)\"", "\"apiKey\":\"\(m)\"",
            "X-Amz-Security-Token: \(m)", "https://bucket.invalid/o?X-Amz-Signature=\(m)&X-Amz-Date=1",
            "postgres://loader:pw/\(m)@x@db.invalid/prod", "password='\(m)'", "password = \"\(m)\"",
            "https://app.invalid/cb?next=https%3A%2F%2Fa.invalid%2Fcb%3Fcode%3D\(m)%26state%3Dq",
            "loader:\(m)@tcp(127.0.0.1:3306)/db", "GOCSPX-\(m)", "sk_live_\(m)", "xoxb-1234-\(m)", "ghp_\(m)", "EAA\(m)",
            "{\"error\":\"x\",\"access_token\":\"\(m)", "client_secret=\(m)", "api_key: \(m)",
        ]
    }

    /// Plants secrets after the mutation, so the mutation cannot spoil their shape. Raw kinds get
    /// them on lines of their own; JSON kinds inside a string value (escaped), where a body or
    /// text would carry them.
    func plant(into bytes: inout [UInt8], kind: FuzzKind) -> [String] {
        var markers: [String] = []
        for _ in 0..<(1 + random(3)) {
            let m = marker()
            let shapes = Self.shapes(m)
            let shape = shapes[random(shapes.count)]
            switch kind {
            case .har, .batch:
                let escaped = Array(JSONWriter.serialize(.string(shape)).utf8.dropFirst().dropLast())
                let anchors = ["\"text\": \"", "\"text\":\"", "\"body\":\"", "\"body\": \"", "\"value\": \"", "\"value\":\""].map { Array($0.utf8) }
                var spots: [Int] = []
                for anchor in anchors { spots += ByteFind.all(anchor, in: bytes).map { $0 + anchor.count } }
                guard let at = spots.randomElement(using: &rng) else { continue }
                bytes.insert(contentsOf: escaped + Array("\\n".utf8), at: at)
            case .connections:
                let line = Array("\n# \(shape)\n    password: \(m)\n".utf8)
                bytes.insert(contentsOf: line, at: lineStart(bytes))
            case .response, .text:
                bytes.insert(contentsOf: Array((shape + "\n").utf8), at: lineStart(bytes))
            case .rules:
                continue
            }
            markers.append(m)
        }
        return markers
    }

    func lineStart(_ bytes: [UInt8]) -> Int {
        guard !bytes.isEmpty else { return 0 }
        let starts = [0] + bytes.indices.filter { bytes[$0] == 0x0A }.map { $0 + 1 }
        return starts[random(starts.count)]
    }

    // MARK: - Running

    func arguments(kind: FuzzKind, file: String) -> (args: [String], stdin: String) {
        let formats = ["text", "json", "markdown", "brief"]
        let facts = chance(50) ? ["--show-facts"] : []
        switch kind {
        case .response: return (["classify", "--response", file, "--format", formats[random(4)]] + facts, "/dev/null")
        case .har: return (["classify", "--har", file, "--format", formats[random(4)]] + facts, "/dev/null")
        case .text: return (["classify", "--text", "-", "--format", formats[random(4)]] + facts, file)
        case .batch: return (["classify", "--batch", file, "--format", "jsonl", "--jobs", "2"] + facts, "/dev/null")
        case .connections:
            let format = ["text", "json", "jsonl", "nagios", "prometheus"][random(5)]
            return (["check", "--connections", file, "--format", format, "--timeout", "2", "--deadline", "8", "--retries", "0"], "/dev/null")
        case .rules:
            if chance(50) { return (["rules", "lint", "--no-builtin-rules", "--rules", file], "/dev/null") }
            let text = String(repeating: "a", count: 20_000) + "!"
            return (["classify", "--no-builtin-rules", "--rules", file, "--text", text], "/dev/null")
        }
    }

    /// Runs the binary with a time limit; nil status = killed after the limit.
    func execute(_ args: [String], stdin: String, stdout: String, stderr: String) -> (status: Int32?, signal: Int32?, seconds: Double) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let program = isolated ? "/usr/bin/unshare" : binary
        let argv = (isolated ? ["/usr/bin/unshare", "-n", binary] : [binary]) + args
        var cArgs = argv.map { strdup($0) } + [nil]
        // No proxy, colours or local rules from the caller's environment; secrets are not in it.
        let environment: [String] = ["PATH=/usr/bin:/bin", "NO_COLOR=1", "HOME=\(workDirectory)", "XDG_DATA_HOME=\(workDirectory)"]
        var env = environment.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) }; for p in env { free(p) } }
        var pid: pid_t = 0
        let started = now()
        guard posix_spawn(&pid, program, &actions, nil, &cArgs, &env) == 0 else { return (127, nil, 0) }
        var status: Int32 = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if now() - started > timeLimit {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return (nil, nil, now() - started)
            }
            usleep(2_000)
        }
        let elapsed = now() - started
        if status & 0x7F != 0 { return (nil, status & 0x7F, elapsed) }
        return ((status >> 8) & 0xFF, nil, elapsed)
    }

    func runOne(kind: FuzzKind, number: Int) {
        guard let pool = seeds[kind], !pool.isEmpty else { return }
        var input = mutate(pool[random(pool.count)], kind: kind)
        let markers = plant(into: &input, kind: kind)
        let ext = kind == .har ? "har" : kind == .batch ? "jsonl" : kind == .response ? "http" : kind == .text ? "txt" : "yaml"
        let file = "\(workDirectory)/input.\(ext)"
        FileManager.default.createFile(atPath: file, contents: Data(input))
        let (args, stdin) = arguments(kind: kind, file: file)
        let out = "\(workDirectory)/stdout", err = "\(workDirectory)/stderr"
        let (status, signal, elapsed) = execute(args, stdin: stdin, stdout: out, stderr: err)
        runs[kind, default: 0] += 1
        var reason: String?
        if let signal { reason = "crash: killed by signal \(signal)" }
        else if status == nil { reason = "hang: still running after \(Int(timeLimit)) s (killed)" }
        else if let status, !(0...3).contains(status) && !(64...78).contains(status) { reason = "exit status \(status) is outside the contract (0-3, 64-78)" }
        if reason == nil && !markers.isEmpty {
            let output = (FileManager.default.contents(atPath: out) ?? Data()) + (FileManager.default.contents(atPath: err) ?? Data())
            let bytes = Array(output)
            for m in markers where ByteFind.first(Array(m.utf8), in: bytes) != nil {
                reason = "leak: planted secret \(m) reached the output"
                break
            }
        }
        guard let reason else { return }
        failures += 1
        let folder = "\(outDirectory)/\(kind.rawValue)-\(seed)-\(number)"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: file, toPath: "\(folder)/input.\(ext)")
        try? FileManager.default.copyItem(atPath: out, toPath: "\(folder)/stdout")
        try? FileManager.default.copyItem(atPath: err, toPath: "\(folder)/stderr")
        let shown = args.map { $0 == file ? "\(folder)/input.\(ext)" : ($0.count > 80 ? "'\($0.prefix(20))…(\($0.count) chars)'" : $0) }
        let command = "authdoctor " + shown.joined(separator: " ") + (stdin == file ? " < \(folder)/input.\(ext)" : "")
        try? "\(reason)\n\(command)\nseconds: \(String(format: "%.2f", elapsed))\n".write(toFile: "\(folder)/REASON", atomically: true, encoding: .utf8)
        SystemIO.writeStandardError("fuzz: FAIL \(reason)\n  input and outputs: \(folder)\n  \(command)\n")
    }

    func run() -> Int32 {
        let kinds = FuzzKind.allCases.filter { isolated || $0 != .connections }
        if !isolated { SystemIO.writeStandardError("fuzz: `unshare -n` is not available: connections files are not fuzzed (their probes need an isolated network)\n") }
        SystemIO.writeStandardError("fuzz: \(binary) for \(Int(seconds)) s, seed \(seed); failures go under \(outDirectory)\n")
        let started = now()
        var number = 0
        while now() - started < seconds && failures < 20 {
            runOne(kind: kinds[number % kinds.count], number: number)
            number += 1
        }
        let counts = kinds.map { "\($0.rawValue) \(runs[$0] ?? 0)" }.joined(separator: ", ")
        SystemIO.writeStandardError("fuzz: \(number) inputs in \(String(format: "%.0f", now() - started)) s (\(counts)); \(failures) failing\n")
        return failures == 0 ? 0 : 1
    }
}

/// Byte-string search for the fuzzer (inputs are not always UTF-8).
enum ByteFind {
    static func first(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == needle[0] {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    static func all(_ needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        var out: [Int] = []
        var from = 0
        while from < haystack.count, let at = first(needle, in: Array(haystack[from...])) {
            out.append(from + at)
            from += at + 1
            if out.count >= 32 { break }
        }
        return out
    }
}

/// `authdoctor-bench fuzz SECONDS [BINARY] [--seed N] [--out DIR]`.
func runFuzz(_ arguments: [String]) -> Never {
    var rest = Array(arguments.dropFirst())
    var seed = UInt64(Date().timeIntervalSince1970 * 1000) & 0xFFFF_FFFF
    var out = "fuzz-failures"
    if let i = rest.firstIndex(of: "--seed"), i + 1 < rest.count, let s = UInt64(rest[i + 1]) { seed = s; rest.removeSubrange(i...(i + 1)) }
    if let i = rest.firstIndex(of: "--out"), i + 1 < rest.count { out = rest[i + 1]; rest.removeSubrange(i...(i + 1)) }
    guard let first = rest.first, let seconds = Double(first), seconds > 0, seconds <= 86_400 else {
        SystemIO.writeStandardError("usage: authdoctor-bench fuzz SECONDS [BINARY] [--seed N] [--out DIR]\n")
        exit(64)
    }
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    let binary = rest.count > 1 ? rest[1] : here + "/authdoctor"
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        SystemIO.writeStandardError("fuzz: no authdoctor binary at \(binary) (build it first, or name it)\n")
        exit(66)
    }
    let fuzzer = Fuzzer(binary: binary, seconds: seconds, outDirectory: out, seed: seed)
    exit(fuzzer.run())
}
