import ArgumentParser
import EvidenceModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HealthCheck
import Links

/// `authdoctor history [CONNECTION]`: what `check --db` recorded.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show a connection's check history: when it last passed, since when it fails, whether it flaps.",
        discussion: """
        Every `authdoctor check --db PATH` run records each connection's verdict in the store (named \
        as check names it: a connections-file entry by its `name`, a stored connection by its id). \
        With a CONNECTION: its verdicts newest first, when it last passed (status ok), since when it \
        has been failing (the oldest verdict of the current run of non-ok verdicts; a warning is not \
        a pass), and whether it is flapping: its status changed at least \(ConnectionHistory.flapChanges) \
        times among its last \(ConnectionHistory.flapWindow) verdicts. Without one: every connection's \
        latest status; on a terminal (or with --timeline) also a compact timeline of its last \
        \(ConnectionHistory.flapWindow) verdicts, oldest to newest: \(Timeline.legend).

        Examples:
          authdoctor history --db authdoctor.sqlite
          authdoctor history shop-ads --db authdoctor.sqlite
          authdoctor history shop-ads --limit 50 --format json

        Exit status: 0 done; 64 bad usage; 65 not a store database; 66 no history for that \
        connection; 74 the store cannot be opened; 78 a bad AUTHDOCTOR_KEY or key file.
        """)

    @Argument(help: ArgumentHelp("The connection (a connections-file name or a stored connection's id); omit for an overview.", valueName: "CONNECTION"))
    var connection: String?

    @OptionGroup var store: StoreOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Verdicts shown (newest first).", valueName: "N"))
    var limit: Int = 20

    @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

    @Flag(help: "Show the timeline column in the overview even when standard output is not a terminal.")
    var timeline = false

    /// How far back "last passed" and "failing since" look.
    static let analysisDepth = 10_000

    func validate() throws {
        guard limit >= 1, limit <= Self.analysisDepth else { throw ValidationError("--limit must be 1 to \(Self.analysisDepth)") }
    }

    func run() throws {
        let store = try store.openReadOnly()
        guard let connection else { return try overview(store) }
        let verdicts = try StoreCall.run(store) { try store.verdicts(connection: connection, limit: Self.analysisDepth) }
        guard !verdicts.isEmpty else {
            throw InputError(.noInput, "no check history for connection '\(Redactor.redact(connection))' (run authdoctor check --db first)", place: store.location)
        }
        let history = ConnectionHistory(connection: connection, verdicts: verdicts)
        let shown = Array(verdicts.prefix(limit))
        switch format {
        case .json:
            Terminal.write(LinkText.json(.object([
                ("connection", .string(connection)),
                ("status", .string(history.latest?.status ?? "unknown")),
                ("lastPassed", LinkText.iso(history.lastPassed)),
                ("failingSince", LinkText.iso(history.failingSince)),
                ("flapping", .bool(history.flapping)),
                ("recentChanges", .int(history.recentChanges)),
                ("verdicts", .array(shown.map(Self.json))),
            ])))
        case .text:
            var out = "\(LinkText.safe(connection)): \(history.latest?.status ?? "unknown")"
            if let latest = history.latest { out += " (\(LinkText.safe(latest.failure))) at \(LinkText.seconds(latest.checkedAt))" }
            out += "\n"
            out += "last passed:   " + (history.lastPassed.map(LinkText.seconds) ?? "never (in \(verdicts.count) recorded runs)") + "\n"
            out += "failing since: " + (history.failingSince.map(LinkText.seconds) ?? "-") + "\n"
            out += "flapping:      " + (history.flapping ? "yes" : "no")
                + " (\(history.recentChanges) status changes in the last \(min(verdicts.count, ConnectionHistory.flapWindow)) runs)\n\n"
            out += LinkText.table(["CHECKED", "STATUS", "FAILURE", "SUMMARY"],
                                  shown.map { [LinkText.seconds($0.checkedAt), $0.status, $0.failure, $0.summary] })
            Terminal.write(out)
        }
    }

    func overview(_ store: any AuthDoctorStore) throws {
        let recent = try StoreCall.run(store) { try store.recentVerdicts(perConnection: ConnectionHistory.flapWindow) }
        let histories = recent.keys.sorted().map { ConnectionHistory(connection: $0, verdicts: recent[$0] ?? []) }
        switch format {
        case .json:
            Terminal.write(LinkText.json(.array(histories.map { history in
                .object([
                    ("connection", .string(history.connection)),
                    ("status", .string(history.latest?.status ?? "unknown")),
                    ("failure", .string(history.latest?.failure ?? "unknown")),
                    ("checkedAt", LinkText.iso(history.latest?.checkedAt)),
                    ("flapping", .bool(history.flapping)),
                ])
            })))
        case .text:
            if histories.isEmpty {
                Terminal.write("No check history yet. Record some with: authdoctor check --connections FILE --db PATH\n")
                return
            }
            let withTimeline = timeline || isatty(STDOUT_FILENO) != 0
            Terminal.write(LinkText.table(["CONNECTION", "STATUS", "FAILURE", "CHECKED", "FLAPPING"] + (withTimeline ? ["LAST RUNS"] : []),
                                          histories.map { history in
                [history.connection, history.latest?.status ?? "-", history.latest?.failure ?? "-",
                 LinkText.seconds(history.latest?.checkedAt), history.flapping ? "yes" : "no"]
                    + (withTimeline ? [Timeline.line(history.verdicts)] : [])
            }))
            if withTimeline { Terminal.write("\nLAST RUNS: oldest to newest, \(Timeline.legend).\n") }
        }
    }

    static func json(_ v: CheckVerdict) -> JSONValue { LinkJSON.verdict(v) }
}

/// One character a verdict, oldest to newest: a connection's recent runs at a glance.
enum Timeline {
    static let legend = "+ ok, w warning, X critical, ? unknown"

    static func mark(_ status: String) -> Character {
        switch status {
        case "ok": return "+"
        case "warning": return "w"
        case "critical": return "X"
        default: return "?"
        }
    }

    /// `verdicts` newest first (as the store gives them); at most the flap window.
    static func line(_ verdicts: [CheckVerdict]) -> String {
        String(verdicts.prefix(ConnectionHistory.flapWindow).reversed().map { mark($0.status) })
    }
}
