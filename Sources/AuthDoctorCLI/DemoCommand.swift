import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
import Probe
import Sandbox

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Diagnose the built-in sample connections against a local replay of the providers.",
        discussion: """
        Starts the Sandbox on 127.0.0.1 and runs `diagnose` for every scenario of \
        `authdoctor sandbox --list`: healthy connections and every failure class a source can show \
        (credentials, token-missing, scopes, permissions, expiry, revoked, multi-account, \
        connectivity, outage, rate-limit), and the destinations (BigQuery, Google Sheets, Snowflake, \
        the platform API, Looker Studio: configuration, network-policy, subscription, looker-400). Then \
        an authorization link end to end: issued, opened, two providers connected through the Sandbox's \
        OAuth servers (PKCE), Finish, a second open refused, each new connection diagnosed. No internet is used. Prints a table, or one JSON report \
        per connection with --format json. Exits 0 when every connection is classified as expected.

        Examples:
          authdoctor demo
          authdoctor demo --only facebook --format json
        """
    )

    @Option(help: ArgumentHelp("text (default, a table) or json (one report per line).", valueName: "FORMAT"))
    var format: StoreOutputFormat = .text

    @Option(help: ArgumentHelp("Only scenarios whose id starts with this.", valueName: "PREFIX"))
    var only: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds each probe may take (the black-hole scenario costs this).", valueName: "SECONDS"))
    var timeout: Double = 3

    @OptionGroup var ruleOptions: RuleOptions

    @OptionGroup var colorOption: ColorOption

    func validate() throws {
        guard timeout > 0, timeout <= 60 else { throw ValidationError("--timeout must be more than 0 and at most 60 seconds") }
    }

    func run() throws {
        // The link-flow part needs the link server, which only `authdoctor-serve` links.
        if only == nil && LinkFlowDemo.walk == nil { try ServerExecutable.handOver() }
        try Libcurl.requireLoaded()
        let engine = ClassifyEngine(ruleSet: try ruleOptions.load())
        let server = try InProcessSandbox.start()
        defer { server.stop() }
        let scenarios = server.scenarios.scenarios.filter { only == nil || $0.id.hasPrefix(only!) }
        let databaseOnly = only.map { $0.hasPrefix("postgres") || "postgres-".hasPrefix($0) } ?? false
        guard !scenarios.isEmpty || databaseOnly else { throw InputError(.usage, "no scenario id starts with '\(only ?? "")'") }
        if isatty(STDERR_FILENO) != 0 {
            SystemIO.writeStandardError("authdoctor: sandbox at \(server.baseURL); diagnosing \(scenarios.count) connections…\n")
        }
        let start = Date()
        let outcomes = try SandboxDemo(engine: engine, timeout: timeout).run(server: server, scenarios: scenarios)
        // PostgreSQL connections: only against a reachable test server (DatabaseDemo.swift).
        let database = DatabaseDemo.run(engine: engine, timeout: timeout, only: only)
        let databaseRows: [DatabaseDemo.Row]
        if case let .rows(rows) = database { databaseRows = rows } else { databaseRows = [] }
        // The authorization-link flow (issue → open → connect → Finish) unless --only narrows the demo.
        let linkFlow = only == nil ? try LinkFlowDemo.walk?(server, engine, timeout) : nil
        let elapsed = Date().timeIntervalSince(start)
        let mismatches = outcomes.filter { !$0.asExpected }.map(\.scenario.id) + databaseRows.filter { !$0.asExpected }.map(\.id)
            + (linkFlow.map { $0.asExpected ? [] : ["authorization-link flow"] } ?? [])

        if format == .json {
            let writer = JSONReportWriter()
            var out = ""
            for outcome in outcomes {
                var report = outcome.diagnosis.report
                report.id = outcome.scenario.id
                out += writer.render(report) + "\n"
            }
            for row in databaseRows {
                var report = row.diagnosis.report
                report.id = row.id
                out += writer.render(report) + "\n"
            }
            Terminal.write(out)
        } else {
            // One width for the Sandbox rows and the PostgreSQL rows, so every column lines up under the header.
            let idWidth = max(12, (outcomes.map(\.scenario.id.count) + databaseRows.map(\.id.count)).max() ?? 12) + 2
            Terminal.write(Self.table(outcomes, idWidth: idWidth, color: Terminal.colorAllowed))
            Terminal.write(DatabaseDemo.table(database, idWidth: idWidth, color: Terminal.colorAllowed))
            if let linkFlow { Terminal.write(LinkFlowDemo.text(linkFlow, color: Terminal.colorAllowed)) }
            Terminal.write("\n\(outcomes.count + databaseRows.count) connections diagnosed in \(String(format: "%.1f", elapsed)) s; "
                + (mismatches.isEmpty ? "every one classified as expected.\n"
                   : "\(mismatches.count) not as expected: \(mismatches.joined(separator: ", ")).\n")
                + "Try one yourself (`authdoctor sandbox --list` names every scenario's credentials):\n"
                + "  FB_TOKEN=sbx-fb-expired authdoctor diagnose --provider facebook --token-env FB_TOKEN --sandbox\n")
        }
        if !mismatches.isEmpty { throw ExitCode(1) }
    }

    static func table(_ outcomes: [SandboxDemo.Outcome], idWidth: Int? = nil, color: Bool) -> String {
        let idWidth = idWidth ?? max(12, outcomes.map(\.scenario.id.count).max() ?? 12) + 2
        var out = DemoTable.header(idWidth: idWidth)
        for o in outcomes {
            out += DemoTable.row(id: o.scenario.id, report: o.diagnosis.report, found: o.found, expect: o.scenario.expect,
                                 asExpected: o.asExpected, idWidth: idWidth, color: color)
        }
        return out
    }
}

/// The demo's table layout, shared by the Sandbox rows and the PostgreSQL rows.
enum DemoTable {
    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

    static func header(idWidth: Int) -> String {
        pad("CONNECTION", idWidth) + pad("VERDICT", 10) + pad("FAILURE", 16) + pad("EXPECTED", 17) + "FIRST STEP\n"
    }

    static func row(id: String, report: Report, found: String, expect: String, asExpected: Bool, idWidth: Int, color: Bool) -> String {
        func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        let verdict = report.verdict == .ok ? "healthy" : report.verdict.rawValue
        let step = report.verdict == .ok ? "-" : (report.findings.first?.remediation.first.map { "\($0.title) (\($0.doc))" } ?? "-")
        let mark = asExpected ? paint("✓", "32") : paint("✗", "31")
        return pad(id, idWidth) + pad(verdict, 10) + pad(found, 16) + pad(expect, 15) + mark + " " + step + "\n"
    }
}
