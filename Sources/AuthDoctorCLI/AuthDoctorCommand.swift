import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
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

        Exit status: 0 done; 64 bad usage; 65 malformed input; 66 missing input; 78 bad rule files; \
        `rules lint` exits 78 and `rules test` exits 1 when they find problems.
        """,
        version: Report.toolVersion,
        subcommands: [Classify.self, DiagnoseCommand.self, CheckCommand.self, DemoCommand.self, RulesCommand.self, SandboxCommand.self,
                      LinksCommand.self, ConnectionsCommand.self, ServeCommand.self, HistoryCommand.self, StoreCommand.self]
    )

    public init() {}

    /// Runs the command line and exits with a sysexits status; errors are one line on stderr.
    public static func run(arguments: [String]? = nil) -> Never {
        // `check --format nagios` is a monitoring plugin: any error is UNKNOWN (3).
        let nagios = CheckCommand.wantsNagios(arguments ?? Array(CommandLine.arguments.dropFirst()))
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

    static func fail(_ message: String, code: Int32, nagios: Bool = false) -> Never {
        let line = Redactor.redact(message)
        if nagios {
            // The status line Nagios shows, on stdout; the usual error line on stderr.
            Terminal.write("AUTHDOCTOR UNKNOWN - " + line.replacingOccurrences(of: "|", with: "/") + "\n")
        }
        FileHandle.standardError.write(Data(("authdoctor: " + line + "\n").utf8))
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

    /// The rule set, or a one-line configuration error naming the first problem.
    func load() throws -> RuleSet {
        let (set, issues) = try RuleLibrary.load(includeBuiltin: !noBuiltinRules, directories: directories)
        if let first = issues.first {
            let more = issues.count > 1 ? " (and \(issues.count - 1) more; run 'authdoctor rules lint')" : ""
            throw InputError(.config, first.message + more, place: "\(first.file):\(first.line)")
        }
        if set.rules.isEmpty {
            throw InputError(.usage, "no rules loaded (--no-builtin-rules needs --rules DIR)")
        }
        return set
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, jsonl, markdown, brief
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
        }
    }

    static var colorAllowed: Bool {
        isatty(STDOUT_FILENO) != 0 && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
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
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(STDOUT_FILENO, base + offset, buffer.count - offset)
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            if errno == EPIPE { Foundation.exit(0) }
            FileHandle.standardError.write(Data("authdoctor: cannot write the output: \(String(cString: strerror(errno)))\n".utf8))
            Foundation.exit(74)
        }
    }
}

/// Standard output for a stream of results (`check --format jsonl`): written at once on a terminal,
/// else gathered and written in blocks (as C's stdio does for pipes and files), at the latest every
/// 200 ms so a reader following the stream sees each line soon. `flush()` before the command ends.
final class BufferedStandardOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [UInt8] = []
    private var lastFlush = DispatchTime.now().uptimeNanoseconds
    private let immediate = isatty(STDOUT_FILENO) != 0
    private let blockSize = 64 * 1024

    func write(_ text: String) {
        if immediate { return Terminal.write(text) }
        lock.lock()
        pending.append(contentsOf: text.utf8)
        flushIfDue()
    }

    func write(bytes: [UInt8]) {
        if immediate { return Terminal.write(bytes: bytes) }
        lock.lock()
        pending.append(contentsOf: bytes)
        flushIfDue()
    }

    /// Called with the lock held; releases it. Blocks are written under the lock, so in order.
    private func flushIfDue() {
        let now = DispatchTime.now().uptimeNanoseconds
        if pending.count >= blockSize || now - lastFlush >= 200_000_000 {
            Terminal.write(bytes: pending)
            pending.removeAll(keepingCapacity: true)
            lastFlush = now
        }
        lock.unlock()
    }

    func flush() {
        lock.lock()
        if !pending.isEmpty { Terminal.write(bytes: pending) }
        pending.removeAll()
        lastFlush = DispatchTime.now().uptimeNanoseconds
        lock.unlock()
    }
}

/// Reads a named file, or stdin for "-", as UTF-8 text.
enum InputFile {
    static func read(_ path: String) throws(InputError) -> String {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw InputError(.noInput, "no such file", place: path)
            }
            if isDirectory.boolValue { throw InputError(.noInput, "is a directory, not a file", place: path) }
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw InputError(.noInput, "cannot read the file (permissions?)", place: path)
            }
            data = contents
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(.data, "not UTF-8 text", place: path == "-" ? "stdin" : path)
        }
        return text
    }
}
