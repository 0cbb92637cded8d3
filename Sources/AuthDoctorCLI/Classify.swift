import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RuleEngine

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "classify",
        abstract: "Classify evidence a customer sent, offline: what failed, why, and what to do.",
        discussion: """
        Give exactly one of --response, --har, --text or --batch (--curl-exit may stand alone or \
        accompany --text). FILE may be '-' for standard input. Secrets in the evidence are never \
        printed: tokens, passwords, codes and Authorization/Cookie headers are redacted in every format.

        Examples:
          authdoctor classify --response error.http --provider facebook
          authdoctor classify --text "curl: (60) SSL certificate problem"
          authdoctor classify --curl-exit 6
          authdoctor classify --har session.har --format markdown
          authdoctor classify --batch failures.jsonl --format jsonl
          authdoctor classify --response error.http --format brief --exit-code

        A --batch file has one JSON object a line, with the members id, provider, status, headers, \
        body, text, curl_exit, url and sqlstate (each optional, but at least one of status, body, \
        text, curl_exit or sqlstate). Each line gives one report line with the same id; a bad line \
        gives an error record and the rest still classify.
        """
    )

    @Option(name: .customLong("response"), help: ArgumentHelp("A raw HTTP response as `curl -i` (or `curl -v`) prints it.", valueName: "FILE"))
    var responseFile: String?

    @Option(name: .customLong("har"), help: ArgumentHelp("A HAR 1.2 export: classify the failing entries, redirect loops and multi-account traffic.", valueName: "FILE"))
    var harFile: String?

    @Option(name: .customLong("text"), help: ArgumentHelp("Pasted error text ('-' reads standard input).", valueName: "TEXT"))
    var text: String?

    @Option(name: .customLong("curl-exit"), parsing: .unconditional, help: ArgumentHelp("curl's exit code (a libcurl CURLcode), e.g. 6, 7, 28, 35, 60.", valueName: "N"))
    var curlExit: Int?

    @Option(name: .customLong("batch"), help: ArgumentHelp("Many records, one JSON object a line; writes one JSON result a line.", valueName: "FILE.jsonl"))
    var batchFile: String?

    @Option(name: .customLong("provider"), help: ArgumentHelp("The provider, when known: \(ProviderDetector.known.joined(separator: ", ")). Without it the provider is recognised from the evidence where possible.", valueName: "P"))
    var provider: String?

    @Option(name: .customLong("format"), help: ArgumentHelp("text (default), json, jsonl (with --batch, and the default there), markdown, brief (one tab-separated line) or client (the message for the client).", valueName: "FORMAT"))
    var format: OutputFormat?

    @Option(name: .customLong("jobs"), parsing: .unconditional, help: ArgumentHelp("Threads for --batch (default: one per core).", valueName: "N"))
    var jobs: Int?

    @Flag(name: .customLong("show-facts"), help: "Also print every fact extracted from the evidence (redacted).")
    var showFacts = false

    @Flag(name: .customLong("exit-code"), help: "Exit with the verdict, for scripts (as git diff --exit-code): 2 a failure (recognised or not), 1 warnings only, 0 none.")
    var exitCode = false

    @OptionGroup var ruleOptions: RuleOptions

    @OptionGroup var colorOption: ColorOption

    @OptionGroup(title: "Authorization links") var links: LinkPairingOptions

    func validate() throws {
        let inputs = [responseFile != nil, harFile != nil, text != nil, batchFile != nil].filter { $0 }.count
        if inputs > 1 { throw ValidationError("give only one of --response, --har, --text, --batch") }
        if let curlExit, !(0...99).contains(curlExit) { throw ValidationError("--curl-exit must be a curl exit code from 0 to 99, not \(curlExit)") }
        if curlExit != nil && (responseFile != nil || harFile != nil || batchFile != nil) {
            throw ValidationError("--curl-exit goes alone or with --text")
        }
        if let provider, !ProviderDetector.known.contains(provider) {
            throw ValidationError("unknown provider '\(provider)'\(Suggestion.hint(provider, among: ProviderDetector.known)) (known: \(ProviderDetector.known.joined(separator: ", ")))")
        }
        if let jobs, jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be from 1 to 256, not \(jobs)") }
        if format == .jsonl && batchFile == nil { throw ValidationError("--format jsonl goes with --batch (use json for one report)") }
        if exitCode && batchFile != nil { throw ValidationError("--exit-code is for one report, not --batch (count the verdicts in the JSON lines)") }
        if batchFile != nil, let format, format != .jsonl && format != .json {
            throw ValidationError("--batch writes JSON lines: use --format jsonl")
        }
    }

    func run() throws {
        // Checked here, not in validate(), so that an unknown option is reported as such first.
        if responseFile == nil && harFile == nil && text == nil && batchFile == nil && curlExit == nil {
            throw InputError(.usage, "nothing to classify: give --response FILE, --har FILE, --text TEXT, --curl-exit N or --batch FILE")
        }
        let pairing = try links.checked()
        if pairing != nil && batchFile != nil { throw InputError(.usage, "--issue-link is for one report, not --batch") }
        let engine = batchFile == nil ? try ruleOptions.engine() : ClassifyEngine(ruleSet: try ruleOptions.load())

        if let batchFile {
            let input: FileHandle
            if batchFile == "-" {
                if SystemIO.closedAtStart.contains(0) {
                    throw InputError(.noInput, "standard input is closed: nothing to read for '-'", place: "stdin")
                }
                input = FileHandle.standardInput
            } else {
                input = FileHandle(fileDescriptor: try InputFile.open(batchFile), closeOnDealloc: true)
            }
            let summary: BatchClassifier.Summary
            do {
                let ruleOptions = ruleOptions
                let worker: @Sendable () -> ClassifyEngine? = { (try? ruleOptions.load()).map { ClassifyEngine(ruleSet: $0) } }
                summary = try BatchClassifier(engine: engine, keepFacts: showFacts, makeWorkerEngine: worker).run(input: input, output: FileHandle.standardOutput,
                                                                  jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
            } catch let error as BatchClassifier.OutputError {
                // A reader that stopped early (`| head`) is not an error; anything else is EX_IOERR.
                if error.readerWentAway { return }
                throw InputError(.io, "cannot write the output (errno \(error.code))")
            }
            if isatty(STDERR_FILENO) != 0 {
                let top = summary.byFailure.sorted { $0.value > $1.value }.prefix(5).map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                SystemIO.writeStandardError("authdoctor: \(summary.records) records, \(summary.errors) invalid; \(top)\n")
            }
            if RegexRuns.counting {
                // Rule patterns only: no record text, so nothing secret.
                for (pattern, runs) in RegexRuns.top(25) {
                    SystemIO.writeStandardError("regex runs \(runs): \(pattern.prefix(160))\n")
                }
            }
            return
        }

        var evidences: [Evidence]
        let source: String?
        if let responseFile {
            let name = responseFile == "-" ? "stdin" : responseFile
            evidences = try EvidenceLoader.load(try InputFile.read(responseFile), format: .response, source: name, provider: provider)
            source = name
        } else if let harFile {
            let name = harFile == "-" ? "stdin" : harFile
            evidences = try EvidenceLoader.load(try InputFile.read(harFile), format: .har, source: name, provider: provider)
            source = name
        } else if let text {
            let content = text == "-" ? try InputFile.read("-") : text
            if content.trimmedWhitespace().isEmpty && curlExit == nil {
                throw InputError(.data, "the text to classify is empty", place: text == "-" ? "stdin" : "--text")
            }
            evidences = [Evidence(kind: .text, provider: provider, text: content)]
            source = nil
        } else {
            evidences = [Evidence(kind: .curlExit, provider: provider)]
            source = nil
        }
        if let curlExit {
            evidences[0].curlExit = curlExit
            if evidences[0].kind != .text { evidences[0].kind = .curlExit }
        }

        var report = engine.report(for: evidences, source: source, keepFacts: showFacts)
        try pairing?.attach(to: &report)
        Terminal.write(report, format: format ?? .text)
        if exitCode, let status = Self.exitStatus(report) { throw ExitCode(status) }
    }

    /// `--exit-code`: 2 a failure (an unrecognised one too), 1 warnings only, nil (0) nothing wrong.
    static func exitStatus(_ report: Report) -> Int32? {
        switch report.verdict {
        case .failure, .unknown: return 2
        case .warning: return 1
        case .ok: return nil
        }
    }
}

extension InputFile {
    /// Opens a file to stream it (pipes and FIFOs too); the same one-line errors as `read`.
    static func open(_ path: String) throws(InputError) -> Int32 {
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT || errno == ENOTDIR { throw InputError(.noInput, "no such file", place: path) }
            throw InputError(.noInput, "cannot read the file: \(String(cString: strerror(errno)))", place: path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw InputError(.noInput, "is a directory, not a file", place: path) }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw InputError(.noInput, "cannot read the file: \(String(cString: strerror(errno)))", place: path) }
        return fd
    }
}
