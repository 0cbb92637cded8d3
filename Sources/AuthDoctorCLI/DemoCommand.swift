import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
import Sandbox

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Diagnose the built-in sample connections against a local replay of the providers.",
        discussion: """
        Starts the Sandbox on 127.0.0.1 and runs `diagnose` for every scenario of \
        `authdoctor sandbox --list`: healthy connections and every failure class a source can show \
        (credentials, token-missing, scopes, permissions, expiry, revoked, multi-account, \
        connectivity, outage, rate-limit). No internet is used. Prints a table, or one JSON report \
        per connection with --format json. Exits 0 when every connection is classified as expected.

        Examples:
          authdoctor demo
          authdoctor demo --only facebook --format json
        """
    )

    @Option(help: ArgumentHelp("text (default, a table) or json (one report per line).", valueName: "FORMAT"))
    var format: OutputFormat = .text

    @Option(help: ArgumentHelp("Only scenarios whose id starts with this.", valueName: "PREFIX"))
    var only: String?

    @Option(help: ArgumentHelp("Seconds each probe may take (the black-hole scenario costs this).", valueName: "SECONDS"))
    var timeout: Double = 3

    @OptionGroup var ruleOptions: RuleOptions

    func validate() throws {
        if format != .text && format != .json { throw ValidationError("demo writes a table (text) or JSON reports (json)") }
        guard timeout > 0, timeout <= 60 else { throw ValidationError("--timeout must be more than 0 and at most 60 seconds") }
    }

    func run() throws {
        let engine = ClassifyEngine(ruleSet: try ruleOptions.load())
        let server = try InProcessSandbox.start()
        defer { server.stop() }
        let scenarios = server.scenarios.scenarios.filter { only == nil || $0.id.hasPrefix(only!) }
        guard !scenarios.isEmpty else { throw InputError(.usage, "no scenario id starts with '\(only ?? "")'") }
        if isatty(STDERR_FILENO) != 0 {
            FileHandle.standardError.write(Data("authdoctor: sandbox at \(server.baseURL); diagnosing \(scenarios.count) connections…\n".utf8))
        }
        let start = Date()
        let outcomes = try SandboxDemo(engine: engine, timeout: timeout).run(server: server, scenarios: scenarios)
        let elapsed = Date().timeIntervalSince(start)
        let mismatches = outcomes.filter { !$0.asExpected }

        if format == .json {
            let writer = JSONReportWriter()
            var out = ""
            for outcome in outcomes {
                var report = outcome.diagnosis.report
                report.id = outcome.scenario.id
                out += writer.render(report) + "\n"
            }
            Terminal.write(out)
        } else {
            Terminal.write(Self.table(outcomes, color: Terminal.colorAllowed))
            Terminal.write("\n\(outcomes.count) connections diagnosed in \(String(format: "%.1f", elapsed)) s; "
                + (mismatches.isEmpty ? "every one classified as expected.\n"
                   : "\(mismatches.count) not as expected: \(mismatches.map(\.scenario.id).joined(separator: ", ")).\n")
                + "Try one yourself (`authdoctor sandbox --list` names every scenario's credentials):\n"
                + "  FB_TOKEN=sbx-fb-expired authdoctor diagnose --provider facebook --token-env FB_TOKEN --sandbox\n")
        }
        if !mismatches.isEmpty { throw ExitCode(1) }
    }

    static func table(_ outcomes: [SandboxDemo.Outcome], color: Bool) -> String {
        func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        let idWidth = max(12, outcomes.map(\.scenario.id.count).max() ?? 12) + 2
        var out = pad("CONNECTION", idWidth) + pad("VERDICT", 10) + pad("FAILURE", 16) + pad("EXPECTED", 16) + "FIRST STEP\n"
        for o in outcomes {
            let report = o.diagnosis.report
            let verdict = report.verdict == .ok ? "healthy" : report.verdict.rawValue
            let step = report.verdict == .ok ? "-" : (report.findings.first?.remediation.first.map { "\($0.title) (\($0.doc))" } ?? "-")
            let mark = o.asExpected ? paint("✓", "32") : paint("✗", "31")
            out += pad(o.scenario.id, idWidth) + pad(verdict, 10) + pad(o.found, 16) + pad(o.scenario.expect, 14) + mark + " " + step + "\n"
        }
        return out
    }
}
