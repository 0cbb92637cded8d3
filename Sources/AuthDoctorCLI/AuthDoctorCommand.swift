import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
import Probe
#if canImport(Glibc)
import Glibc
#endif
import RuleEngine

public struct AuthDoctorCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "authdoctor",
        abstract: "Tells why a data connection fails to authenticate, and what to do about it.",
        discussion: """
        Classify what a customer sent (a `curl -i` output, a HAR export, an error sentence, a curl exit \
        code), or a whole export of failed calls at once; probe one connection live (diagnose) or many \
        on a schedule (check). Every finding carries the remediation steps of the troubleshooting \
        guide, with the section they follow; where the client must re-authorize, a single-use \
        authorization link can be attached (--issue-link), served by `authdoctor serve`.

        Examples:
          authdoctor demo
          authdoctor classify --response error.http --issue-link --client Acme
          authdoctor classify --response error.http
          curl -si "$URL" | authdoctor classify --response -
          authdoctor classify --provider google --text "Token has been expired."
          authdoctor classify --har looker.har --format markdown
          authdoctor classify --batch failures.jsonl > verdicts.jsonl
          authdoctor check --connections conns.yaml --format nagios
          authdoctor rules test
          authdoctor links issue --client "Acme Ltd" --sources facebook,google-ads
          authdoctor history shop-ads --db authdoctor.sqlite

        Exit status: 0 done; 64 bad usage; 65 malformed input; 66 missing input; 69 libcurl, libpq or \
        authdoctor-serve missing; 78 bad rule files; \
        `rules lint` exits 78 and `rules test` exits 1 when they find problems.

        Environment:
        \(EnvironmentVariables.helpText)
        """,
        version: Report.toolVersion,
        subcommands: [Classify.self, DiagnoseCommand.self, CheckCommand.self, DemoCommand.self, RulesCommand.self, SandboxCommand.self,
                      LinksCommand.self, ConnectionsCommand.self, ServeCommand.self, HistoryCommand.self, StoreCommand.self,
                      NotifyCommand.self, OperatorsCommand.self, AuditCommand.self]
    )

    public init() {}

    /// Runs the command line and exits with a sysexits status; errors are one line on stderr.
    public static func run(arguments: [String]? = nil) -> Never {
        // `check --format nagios` is a monitoring plugin: any error is UNKNOWN (3).
        // A closed stdin, stdout or stderr must not lend its number to the next file opened.
        SystemIO.guardStandardDescriptors()
        // A reader that goes away is EPIPE from write(2), handled where the output is written.
        signal(SIGPIPE, SIG_IGN)
        // Before libcurl, libpq or the Sandbox start OpenSSL: no OpenSSL clean-up racing threads at exit.
        _ = OpenSSLExitHandler.suppressed
        let given = arguments ?? Array(CommandLine.arguments.dropFirst())
        let nagios = CheckCommand.wantsNagios(given)
        // `-V` (monitoring plugins' convention) and `--version`, after any subcommand: the version.
        if Self.asksVersion(given) {
            Terminal.write(Report.toolVersion + "\n")
            Foundation.exit(0)
        }
        if let problem = Self.unknownSubcommand(given) {
            fail(problem, code: 64, nagios: nagios)
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Foundation.exit(0)
        } catch let error as InputError {
            fail(error.description, code: error.exitCode, nagios: nagios)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = AuthDoctorCommand.message(for: error)
            let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
            fail(firstLine + " (see 'authdoctor help')", code: code == .validationFailure ? 64 : code.rawValue, nagios: nagios)
        }
    }

    /// `-V` or `--version` anywhere before `--`, when the rest of the line parses without it (so a
    /// `-V` that is an option's value, `--text -V`, stays that value).
    static func asksVersion(_ arguments: [String]) -> Bool {
        let head = arguments.prefix { $0 != "--" }
        guard let at = head.lastIndex(where: { $0 == "-V" || $0 == "--version" }) else { return false }
        if at == 0 { return true }
        var rest = arguments
        rest.remove(at: at)
        return (try? parseAsRoot(rest)) != nil || rest.allSatisfy { !$0.hasPrefix("-") }
    }

    /// A word where a subcommand must be that names none: "unknown command 'diagnos' (did you mean
    /// 'diagnose'?)". Nil when the words name subcommands (ArgumentParser reports the rest).
    static func unknownSubcommand(_ arguments: [String]) -> String? {
        var command: any ParsableCommand.Type = AuthDoctorCommand.self
        var path = ["authdoctor"]
        for word in arguments {
            let subcommands = command.configuration.subcommands
            if word.hasPrefix("-") || subcommands.isEmpty { return nil }
            if word == "help" { return nil }
            let names = subcommands.map { $0._commandName }
            if let next = subcommands.first(where: { $0._commandName == word || $0.configuration.aliases.contains(word) }) {
                command = next
                path.append(word)
                continue
            }
            let where_ = path.count == 1 ? "" : " of '\(path.joined(separator: " "))'"
            let hint = Suggestion.hint(word, among: names + (path.count == 1 ? ["help"] : []))
            return "unknown command '\(Redactor.redact(word))'\(where_)\(hint) (commands: \(names.joined(separator: ", ")); see '\(path.joined(separator: " ")) --help')"
        }
        return nil
    }

    package static func fail(_ message: String, code: Int32, nagios: Bool = false) -> Never {
        let line = Redactor.redact(message)
        if nagios {
            // The status line Nagios shows, on stdout; the usual error line on stderr.
            // Written without exiting on failure: the status stays 3 whatever happens to stdout.
            var status = "AUTHDOCTOR UNKNOWN - " + line.replacingOccurrences(of: "|", with: "/") + "\n"
            _ = status.withUTF8 { Terminal.writeAll($0) }
        }
        SystemIO.writeStandardError("authdoctor: " + line + "\n")
        Foundation.exit(nagios ? 3 : code)
    }
}

/// Options every rule-using command shares.
struct RuleOptions: ParsableArguments {
    @Option(name: .customLong("rules"), help: ArgumentHelp("Also load the rules in DIR (a rule with a built-in rule's id replaces it). Repeatable; AUTHDOCTOR_RULES adds more (':'-separated).", valueName: "DIR"))
    var ruleDirectories: [String] = []

    @Flag(name: .customLong("no-builtin-rules"), help: "Use only the rules given with --rules / AUTHDOCTOR_RULES.")
    var noBuiltinRules = false

    var directories: [String] {
        let env = ProcessInfo.processInfo.environment["AUTHDOCTOR_RULES"].map { $0.split(separator: ":").map(String.init) } ?? []
        return env + ruleDirectories
    }

    /// Provider definition folders: the `--providers DIR`s, then `providers/` under each rules folder.
    static func providerDirectories(_ given: [String], rules: RuleOptions) -> [String] {
        given + rules.directories.compactMap { rules -> String? in
            let sub = URL(fileURLWithPath: rules).appendingPathComponent("providers").path
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: sub, isDirectory: &isDirectory) && isDirectory.boolValue ? sub : nil
        }
    }

    /// The engine of a one-off command: the built-in set alone is loaded on another thread while
    /// the command reads its input or probes; rule folders are loaded (and checked) now.
    func engine() throws -> ClassifyEngine {
        if !noBuiltinRules && directories.isEmpty { return ClassifyEngine(loadingElsewhere: RuleLibrary.builtin) }
        return ClassifyEngine(ruleSet: try load())
    }

    /// The rule set, or a one-line configuration error naming the first problem.
    func load() throws -> RuleSet {
        let (set, issues) = try RuleLibrary.load(includeBuiltin: !noBuiltinRules, directories: directories)
        if let first = issues.first {
            let more = issues.count > 1 ? " (and \(issues.count - 1) more; run 'authdoctor rules lint')" : ""
            throw InputError(.config, first.message + more, place: "\(first.file):\(first.line)")
        }
        if set.ruleCount == 0 {
            throw InputError(.usage, "no rules loaded (--no-builtin-rules needs --rules DIR)")
        }
        return set
    }
}

enum ColorMode: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}

/// `--color auto|always|never` (as git, ls and grep take it).
struct ColorOption: ParsableArguments {
    @Option(name: .customLong("color"), help: ArgumentHelp("Colour the text output: auto (default: on a terminal, unless NO_COLOR is set or TERM=dumb), always, never.", valueName: "WHEN"))
    var color: ColorMode = .auto

    func validate() throws {
        Terminal.colorMode = color
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, jsonl, markdown, brief, client
}

/// What `diagnose` writes: one report (no jsonl). Its own type, so help and completions list only these.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, markdown, brief, client
    var output: OutputFormat { OutputFormat(rawValue: rawValue)! }
}

/// What `rules list` writes.
enum ListFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, jsonl
}

enum Terminal {
    /// One report in the chosen format (`jsonl` writes it on one line).
    static func write(_ report: Report, format: OutputFormat) {
        switch format {
        case .text: write(TextReportRenderer(color: colorAllowed).render(report))
        case .json: write(JSONReportWriter().render(report, pretty: true) + "\n")
        case .jsonl: write(JSONReportWriter().render(report) + "\n")
        case .markdown: write(MarkdownReportRenderer().render(report))
        case .brief: write(BriefReportRenderer().render(report))
        case .client:
            let message = ClientMessageRenderer().render(report)
            if message.isEmpty {
                SystemIO.writeStandardError("authdoctor: no message for the client: nothing in this report needs the client to act\n")
            } else {
                write(message)
            }
        }
    }

    /// `--color`: set while the command line is validated (ColorOption), read by every renderer.
    nonisolated(unsafe) static var colorMode: ColorMode = .auto

    static var colorAllowed: Bool { colorAllowed(mode: colorMode, stdoutIsTerminal: isatty(STDOUT_FILENO) != 0) }

    /// always / never as told; auto: a terminal, NO_COLOR unset or empty, and TERM not `dumb`.
    static func colorAllowed(mode: ColorMode, stdoutIsTerminal: Bool,
                             environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        switch mode {
        case .always: return true
        case .never: return false
        case .auto:
            return stdoutIsTerminal && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
        }
    }

    /// Writes to standard output with write(2). A reader that went away (`| head`) ends the
    /// command quietly; Foundation's FileHandle would trap on EPIPE, since libcurl and the Sandbox
    /// ignore SIGPIPE for the whole process.
    static func write(_ s: String) {
        var text = s
        text.withUTF8 { write(buffer: $0) }
    }

    static func write(bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { write(buffer: $0) }
    }

    private static func write(buffer: UnsafeBufferPointer<UInt8>) {
        guard let code = writeAll(buffer) else { return }
        if code == EPIPE { Foundation.exit(0) }
        SystemIO.writeStandardError("authdoctor: cannot write the output: \(String(cString: strerror(code)))\n")
        Foundation.exit(74)
    }

    /// Writes the whole buffer to stdout; the errno that stopped it, or nil. Never exits.
    static func writeAll(_ buffer: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(STDOUT_FILENO, base + offset, buffer.count - offset)
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            return n == 0 ? EIO : errno
        }
        return nil
    }
}

/// Standard output for a stream of results (`check --format jsonl`): written at once on a terminal,
/// else gathered and written in blocks (as C's stdio does for pipes and files), at the latest every
/// 200 ms so a reader following the stream sees each line soon. `flush()` before the command ends.
///
/// It never exits the process: a write that fails (a reader gone, `| head`: EPIPE; a full disk:
/// ENOSPC; a closed stdout: EBADF) is kept in `failure`, later output is dropped, and `onFailure`
/// is called once, so the command can stop its work (the libcurl threads) before it exits.
final class BufferedStandardOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [UInt8] = []
    private var lastFlush = DispatchTime.now().uptimeNanoseconds
    private let immediate = isatty(STDOUT_FILENO) != 0
    private let blockSize = 64 * 1024
    private var failed: Int32?
    /// Called once, from the writing thread, when the first write fails.
    var onFailure: (@Sendable () -> Void)?

    /// The errno of the first write that failed.
    var failure: Int32? { lock.withLock { failed } }

    func write(_ text: String) {
        write(bytes: Array(text.utf8))
    }

    func write(bytes: [UInt8]) {
        lock.lock()
        guard failed == nil else { lock.unlock(); return }
        pending.append(contentsOf: bytes)
        flushIfDue(force: immediate)
    }

    /// Called with the lock held; releases it. Blocks are written under the lock, so in order.
    private func flushIfDue(force: Bool = false) {
        let now = DispatchTime.now().uptimeNanoseconds
        var report: (@Sendable () -> Void)?
        if failed == nil && !pending.isEmpty && (force || pending.count >= blockSize || now - lastFlush >= 200_000_000) {
            if let code = pending.withUnsafeBufferPointer({ Terminal.writeAll($0) }) {
                failed = code
                report = onFailure
            }
            pending.removeAll(keepingCapacity: true)
            lastFlush = now
        }
        lock.unlock()
        report?()
    }

    func flush() {
        lock.lock()
        flushIfDue(force: true)
    }
}

/// Reads a named file, or stdin for "-", as UTF-8 text.
enum InputFile {
    static func read(_ path: String) throws(InputError) -> String {
        // '-' is standard input (a closed one is refused); pipes, FIFOs, /dev/null and `<(...)` read like files.
        let data = try SystemIO.readFile(path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(.data, "not UTF-8 text", place: path == "-" ? "stdin" : path)
        }
        return text
    }
}
