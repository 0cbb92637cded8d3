import Diagnose
import EvidenceModel
import Foundation
import RuleEngine

/// The output formats of `authdoctor check`.
public enum CheckFormat: String, Sendable, CaseIterable {
    case text, json, jsonl, nagios, prometheus

    /// Whether the format prints each connection's full report (else verdicts are enough and
    /// reports are dropped as soon as the verdict is known).
    public var needsReports: Bool { self == .json || self == .jsonl }
}

/// Writes a run as it goes, in one format. `emit` receives text for standard output.
public final class CheckWriter: CheckSink, @unchecked Sendable {
    public let format: CheckFormat
    private let emit: (String) -> Void
    /// Where jsonl lines go as UTF-8 bytes (no String made of each report); `emit` when nil.
    private let emitBytes: (([UInt8]) -> Void)?
    private let reportWriter = JSONReportWriter()
    private var written = 0
    private let color: Bool
    /// `--format nagios`: the most bytes written (0 = no limit).
    public var maxOutput = 0

    public init(format: CheckFormat, color: Bool = false, emit: @escaping (String) -> Void,
                emitBytes: (([UInt8]) -> Void)? = nil) {
        self.format = format
        self.color = color
        self.emit = emit
        self.emitBytes = emitBytes
    }

    public func begin(total: Int) {
        if format == .json {
            emit("{\"schema\":\"\(CheckDocument.schema)\",\"tool\":{\"name\":\"authdoctor\",\"version\":\"\(Report.toolVersion)\"},\"connections\":[\n")
        }
    }

    public func receive(_ verdict: ConnectionVerdict) {
        switch format {
        case .jsonl:
            if let emitBytes {
                var w = JSONWriter(capacity: 4096)
                reportWriter.write(CheckDocument.report(for: verdict), into: &w)
                w.bytes.append(0x0A)
                emitBytes(w.bytes)
            } else {
                emit(reportWriter.render(CheckDocument.report(for: verdict)) + "\n")
            }
        case .json:
            var w = JSONWriter(capacity: 4096)
            if written > 0 { w.raw(",\n") }
            CheckDocument.write(verdict, report: CheckDocument.report(for: verdict), writer: reportWriter, into: &w)
            emit(String(decoding: w.bytes, as: UTF8.self))
        case .text, .nagios, .prometheus:
            break
        }
        written += 1
    }

    public func finish(_ run: CheckRun) {
        switch format {
        case .json:
            var w = JSONWriter(capacity: 512)
            w.raw("\n],\"summary\":")
            CheckDocument.writeSummary(run, into: &w)
            w.raw("}\n")
            emit(String(decoding: w.bytes, as: UTF8.self))
        case .jsonl:
            break
        case .text:
            // Row by row: the whole table as one string was, with its copies, a third of a large run's memory.
            CheckText.writeTable(run.tableRows ?? CheckTableRows(run.verdicts), run: run, color: color, to: emit)
        case .nagios:
            emit(NagiosOutput.render(run, maxBytes: maxOutput))
        case .prometheus:
            PrometheusExposition.write(run, to: emit)
        }
    }
}

/// `--format json`: one `authdoctor.check/v1` document, written as connections finish.
public enum CheckDocument {
    public static let schema = "authdoctor.check/v1"

    /// The verdict's report, or one made for a connection that was not diagnosed (a bad entry,
    /// the deadline): an `unknown` finding that says why.
    public static func report(for verdict: ConnectionVerdict) -> Report {
        if var report = verdict.report {
            report.id = verdict.connection
            return report
        }
        let finding = Finding(rule: "check.\(verdict.failure)", category: "source", failure: "unknown",
                              severity: "error", confidence: 0, summary: verdict.summary, actor: "engineer", transient: false,
                              evidence: [("check.status", .string(verdict.status.name)), ("check.reason", .string(verdict.failure))],
                              remediation: [])
        return Report(id: verdict.connection, inputKind: "probe", source: nil, provider: verdict.provider, providerDetected: false,
                      httpStatus: nil, evidenceShowsFailure: true, findings: [finding], probes: [])
    }

    static func write(_ verdict: ConnectionVerdict, report: Report, writer: JSONReportWriter, into w: inout JSONWriter) {
        w.raw("{\"name\":"); w.string(verdict.connection)
        w.raw(",\"index\":"); w.int(verdict.index)
        w.raw(",\"provider\":")
        if let provider = verdict.provider { w.string(provider) } else { w.raw("null") }
        w.raw(",\"status\":"); w.string(verdict.status.name)
        w.raw(",\"failure\":"); w.string(verdict.failure)
        w.raw(",\"summary\":"); w.string(verdict.summary)
        w.raw(",\"attempts\":"); w.int(verdict.attempts)
        w.raw(",\"seconds\":"); w.double((verdict.seconds * 1000).rounded() / 1000)
        if let expiry = verdict.tokenExpiresAt { w.raw(",\"tokenExpiresAt\":"); w.int(expiry) }
        w.raw(",\"checkedAt\":"); w.string(iso(verdict.checkedAt))
        if let renewal = verdict.renewal { w.raw(",\"renewal\":"); w.string(renewal.rawValue) }
        if verdict.usedRenewedTokens { w.raw(",\"usedRenewedTokens\":true") }
        w.raw(",\"report\":")
        writer.write(report, into: &w)
        w.raw("}")
    }

    static func writeSummary(_ run: CheckRun, into w: inout JSONWriter) {
        w.raw("{\"total\":"); w.int(run.total)
        for status in CheckStatus.allCases {
            w.raw(",")
            w.string(status.name)
            w.raw(":")
            w.int(run.count(status))
        }
        w.raw(",\"status\":"); w.string(run.worst.name)
        w.raw(",\"exitStatus\":"); w.int(Int(run.exitStatus))
        w.raw(",\"startedAt\":"); w.string(iso(run.startedAt))
        w.raw(",\"seconds\":"); w.double((run.seconds * 1000).rounded() / 1000)
        w.raw(",\"probes\":"); w.int(run.probes)
        w.raw(",\"deadlineReached\":"); w.bool(run.deadlineReached)
        if let local = run.localNetwork { w.raw(",\"localNetwork\":"); w.string(Redactor.redact(local)) }
        w.raw("}")
    }

    static func iso(_ date: Date) -> String {
        Report.timestamp(Int(date.timeIntervalSince1970))
    }
}

/// `--format text`: a table, worst first, and a line of counts.
public enum CheckText {
    public static func table(_ verdicts: [ConnectionVerdict], run: CheckRun, color: Bool) -> String {
        var out = ""
        writeTable(CheckTableRows(verdicts), run: run, color: color) { out += $0 }
        return out
    }

    /// The table a piece at a time (its header, each row, the counts), so a large run never holds it whole.
    public static func writeTable(_ rows: CheckTableRows, run: CheckRun, color: Bool, to emit: (String) -> Void) {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        func paint(_ s: String, _ status: CheckStatus) -> String {
            guard color else { return s }
            let code = status == .ok ? "32" : status == .warning ? "33" : status == .critical ? "31" : "35"
            return "\u{1B}[\(code)m\(s)\u{1B}[0m"
        }
        let nameWidth = min(40, max(10, rows.widestConnection)) + 2
        let providerWidth = max(10, rows.widestProvider) + 2
        emit(pad("CONNECTION", nameWidth) + pad("PROVIDER", providerWidth) + pad("STATUS", 10) + pad("FAILURE", 16) + "SUMMARY\n")
        // Worst first, so what needs attention is at the top; source order within a status.
        for row in rows.worstFirst() {
            let status = row.status.name.uppercased()
            emit(pad(row.connection, nameWidth) + pad(row.provider, providerWidth)
                + paint(status, row.status) + String(repeating: " ", count: max(1, 10 - status.count))
                + pad(row.failure, 16) + row.summary + "\n")
        }
        var out = "\n\(run.total) connection\(run.total == 1 ? "" : "s") checked in \(String(format: "%.1f", run.seconds)) s: "
            + "\(run.count(.ok)) ok, \(run.count(.warning)) warning, \(run.count(.critical)) critical, \(run.count(.unknown)) unknown"
            + (run.deadlineReached ? " (deadline reached)" : "") + (run.total == 0 ? " (nothing checked: UNKNOWN)" : "") + ".\n"
        if let local = run.localNetwork { out += Redactor.redact(local) + "\n" }
        emit(out)
    }
}

/// What `--format text` prints of each verdict, kept as verdicts come (`VerdictRetention.rows`):
/// the redacted fields of every row in one byte buffer, no allocation per row. At 50,000
/// connections a verdict kept whole cost about 330 bytes plus its summary's own allocation.
public struct CheckTableRows: Sendable {
    struct Entry: Sendable {
        var index: Int
        var status: CheckStatus
        var start: Int
        /// Where the connection, provider, failure and summary end, from `start`.
        var ends: (UInt32, UInt32, UInt32, UInt32)
    }

    public struct Row {
        public var status: CheckStatus
        public var connection: String
        public var provider: String
        public var failure: String
        public var summary: String
    }

    private var bytes: [UInt8] = []
    private var entries: [Entry] = []
    /// The longest connection name and provider, in characters as given (the columns' widths).
    public private(set) var widestConnection = 0
    public private(set) var widestProvider = 0

    public init() {}

    public init(_ verdicts: [ConnectionVerdict]) {
        entries.reserveCapacity(verdicts.count)
        for verdict in verdicts { append(verdict) }
    }

    public var count: Int { entries.count }

    public mutating func reserve(_ rows: Int) { entries.reserveCapacity(rows) }

    public mutating func append(_ verdict: ConnectionVerdict) {
        let start = bytes.count
        func field(_ text: String) -> UInt32 {
            bytes.append(contentsOf: text.utf8)
            return UInt32(truncatingIfNeeded: bytes.count - start)
        }
        let ends = (field(Redactor.redact(verdict.connection)), field(verdict.provider ?? "-"), field(verdict.failure),
                    field(Redactor.redact(verdict.summary)))
        entries.append(Entry(index: verdict.index, status: verdict.status, start: start, ends: ends))
        widestConnection = max(widestConnection, verdict.connection.count)
        widestProvider = max(widestProvider, verdict.provider?.count ?? 0)
    }

    /// The rows, worst status first, then in source order.
    public func worstFirst() -> some Sequence<Row> {
        let order = entries.indices.sorted { a, b in
            let x = entries[a], y = entries[b]
            return x.status != y.status ? x.status > y.status : x.index < y.index
        }
        return order.lazy.map { position in
            let e = entries[position]
            func text(_ from: UInt32, _ to: UInt32) -> String {
                String(decoding: bytes[(e.start + Int(from))..<(e.start + Int(to))], as: UTF8.self)
            }
            return Row(status: e.status, connection: text(0, e.ends.0), provider: text(e.ends.0, e.ends.1),
                       failure: text(e.ends.1, e.ends.2), summary: text(e.ends.2, e.ends.3))
        }
    }
}

/// `--format nagios`: one status line with performance data, then one line per connection that is
/// not OK (the plugin's long output), as the Nagios plugin guidelines describe. Within `maxBytes`
/// (Nagios Core keeps 8 KB): the status line always, then the worst connections first, and a last
/// line "... and N more" counting the ones left out.
public enum NagiosOutput {
    /// The shortest line a connection that is not OK can take ("WARNING: a (-): b - c"): a budget
    /// of B bytes never prints more than B / this many of them.
    public static let shortestLine = 16

    /// The verdicts a run must keep for `render(_:maxBytes:)` to print what it would print with
    /// every verdict kept: the worst not-OK ones that can fit in the budget (all when unlimited).
    public static func retention(maxBytes: Int) -> VerdictRetention {
        .worstNotOK(limit: maxBytes > 0 ? maxBytes / shortestLine + 1 : nil)
    }

    public static func render(_ run: CheckRun, maxBytes: Int = 0) -> String {
        let state = run.worst.name.uppercased()
        var counts = ["\(run.count(.critical)) critical"]
        if run.count(.unknown) > 0 { counts.append("\(run.count(.unknown)) unknown") }
        counts += ["\(run.count(.warning)) warning", "\(run.count(.ok)) ok"]
        var out = "AUTHDOCTOR \(state) - " + (run.total == 0 ? "no connection checked" : counts.joined(separator: ", "))
        if run.deadlineReached { out += " (deadline reached)" }
        if run.localNetwork != nil { out += " - this machine cannot reach the network" }
        out += " | ok=\(run.count(.ok));;; warning=\(run.count(.warning));;; critical=\(run.count(.critical));;; "
            + "unknown=\(run.count(.unknown));;; duration=\(String(format: "%.3f", run.seconds))s;;;\n"
        let entries = run.verdicts.sorted(by: VerdictRetention.precedes).filter { $0.status != .ok }
        // A run may keep only the worst of its verdicts (`VerdictRetention.worstNotOK`): the counts
        // say how many were not OK.
        let notOK = max(entries.count, run.total - run.count(.ok))
        var used = out.utf8.count
        for (i, v) in entries.enumerated() {
            let line = "\(v.status.name.uppercased()): \(clean(v.connection)) (\(v.provider ?? "-")): \(v.failure) - \(clean(v.summary))\n"
            if maxBytes > 0 {
                let left = notOK - i - 1
                // Room for this line and, when more follow, the closing count.
                let tail = left > 0 ? "... and \(left) more\n".utf8.count : 0
                if used + line.utf8.count + tail > maxBytes {
                    out += "... and \(notOK - i) more\n"
                    return out
                }
            }
            out += line
            used += line.utf8.count
        }
        if notOK > entries.count { out += "... and \(notOK - entries.count) more\n" }
        return out
    }

    /// '|' starts performance data in plugin output; a line break would start a new line.
    static func clean(_ s: String) -> String {
        let text = Redactor.redact(s)
        guard text.utf8.contains(where: { $0 == 0x7C || $0 == 0x0A }) else { return text }
        return text.replacingOccurrences(of: "|", with: "/").replacingOccurrences(of: "\n", with: " ")
    }
}

/// One connection's metrics: from a run's verdict (`check`) or the store's latest verdict (`serve`).
public struct MetricRow: Sendable {
    public var connection: String
    public var provider: String?
    public var status: CheckStatus
    public var failure: String
    public var checkedAt: Date
    public var seconds: Double?
    public var tokenExpiresAt: Int?
    public var probeSeconds: [(step: String, seconds: Double)]
    /// Known only from the history (`serve`, or `check --db`).
    public var flapping: Bool?

    public init(connection: String, provider: String?, status: CheckStatus, failure: String, checkedAt: Date,
                seconds: Double? = nil, tokenExpiresAt: Int? = nil, probeSeconds: [(step: String, seconds: Double)] = [],
                flapping: Bool? = nil) {
        self.connection = connection
        self.provider = provider
        self.status = status
        self.failure = failure
        self.checkedAt = checkedAt
        self.seconds = seconds
        self.tokenExpiresAt = tokenExpiresAt
        self.probeSeconds = probeSeconds
        self.flapping = flapping
    }

    public init(_ v: ConnectionVerdict) {
        self.init(connection: v.connection, provider: v.provider, status: v.status, failure: v.failure, checkedAt: v.checkedAt,
                  seconds: v.seconds, tokenExpiresAt: v.tokenExpiresAt, probeSeconds: v.probeSeconds)
    }
}

/// The run as a whole, where it is known (`serve` has no run of its own: the newest check stands for it).
public struct MetricRun: Sendable {
    public var startedAt: Date?
    public var seconds: Double?
    public var deadlineReached: Bool?
    public init(startedAt: Date?, seconds: Double?, deadlineReached: Bool?) {
        self.startedAt = startedAt
        self.seconds = seconds
        self.deadlineReached = deadlineReached
    }
}

/// `--format prometheus`, `--metrics-file` and `serve`'s `/metrics`: one metric set, written by one
/// function (text exposition format 0.0.4). Every family is always declared; a sample is written
/// where its value is known. `authdoctor_up` carries only connection and provider, so a change of
/// failure class does not start a new `up` series; the class is `authdoctor_failure_info`.
public enum PrometheusExposition {
    /// The metric families, in the order written (docs/CHECK.md lists them).
    public static let families = [
        "authdoctor_up", "authdoctor_failure_info", "authdoctor_check_status", "authdoctor_check_last_timestamp_seconds",
        "authdoctor_check_duration_seconds", "authdoctor_probe_duration_seconds", "authdoctor_token_expiry_timestamp_seconds",
        "authdoctor_flapping", "authdoctor_check_connections", "authdoctor_check_run_duration_seconds",
        "authdoctor_check_last_run_timestamp_seconds", "authdoctor_check_deadline_reached",
    ]

    public static func render(_ run: CheckRun) -> String {
        var out = ""
        write(run) { out += $0 }
        return out
    }

    /// The exposition a line at a time: at 50,000 connections it is about 50 MB of text, which one
    /// string (and its copy on the way out) held twice over.
    public static func write(_ run: CheckRun, to emit: (String) -> Void) {
        write(rows: run.metricRows ?? run.verdicts.map(MetricRow.init),
              run: MetricRun(startedAt: run.startedAt, seconds: run.seconds, deadlineReached: run.deadlineReached), to: emit)
    }

    public static func render(rows: [MetricRow], run: MetricRun) -> String {
        var out = ""
        out.reserveCapacity(400 * max(1, rows.count))
        write(rows: rows, run: run) { out += $0 }
        return out
    }

    public static func write(rows: [MetricRow], run: MetricRun, to emit: (String) -> Void) {
        func family(_ name: String, _ type: String, _ help: String) {
            emit("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n")
        }
        // Made again for each family rather than kept for all rows: at 50,000 connections the kept
        // labels were 5 MB at the run's peak.
        func label(_ r: MetricRow) -> String { "connection=\"\(escape(r.connection))\",provider=\"\(escape(r.provider ?? ""))\"" }
        family("authdoctor_up", "gauge", "1 when the connection's check is OK, else 0.")
        for r in rows { emit("authdoctor_up{\(label(r))} \(r.status == .ok ? 1 : 0)\n") }
        family("authdoctor_failure_info", "gauge", "Always 1; the failure label is the class the connection's check found (none when healthy).")
        for r in rows { emit("authdoctor_failure_info{\(label(r)),failure=\"\(escape(r.failure))\"} 1\n") }
        family("authdoctor_check_status", "gauge", "The connection's monitoring state: 0 ok, 1 warning, 2 critical, 3 unknown.")
        for r in rows { emit("authdoctor_check_status{\(label(r))} \(r.status.rawValue)\n") }
        family("authdoctor_check_last_timestamp_seconds", "gauge", "When the connection was last checked (Unix time).")
        for r in rows { emit("authdoctor_check_last_timestamp_seconds{\(label(r))} \(Int(r.checkedAt.timeIntervalSince1970))\n") }
        family("authdoctor_check_duration_seconds", "gauge", "Seconds the connection's check took, retries included.")
        for r in rows { if let s = r.seconds { emit("authdoctor_check_duration_seconds{\(label(r))} \(number(s))\n") } }
        family("authdoctor_probe_duration_seconds", "gauge", "Seconds each probe step took in the connection's last attempt.")
        for r in rows where !r.probeSeconds.isEmpty {
            let labels = label(r)
            for (step, seconds) in r.probeSeconds {
                emit("authdoctor_probe_duration_seconds{\(labels),step=\"\(escape(step))\"} \(number(seconds))\n")
            }
        }
        family("authdoctor_token_expiry_timestamp_seconds", "gauge", "When the connection's token expires (Unix time), where the provider tells.")
        for r in rows { if let e = r.tokenExpiresAt { emit("authdoctor_token_expiry_timestamp_seconds{\(label(r))} \(e)\n") } }
        family("authdoctor_flapping", "gauge", "1 when the connection's state changed often in its recent checks (authdoctor history).")
        for r in rows { if let f = r.flapping { emit("authdoctor_flapping{\(label(r))} \(f ? 1 : 0)\n") } }
        family("authdoctor_check_connections", "gauge", "Connections by state at their last check.")
        var byStatus: [CheckStatus: Int] = [:]
        for r in rows { byStatus[r.status, default: 0] += 1 }
        for status in CheckStatus.allCases {
            emit("authdoctor_check_connections{status=\"\(status.name)\"} \(byStatus[status] ?? 0)\n")
        }
        family("authdoctor_check_run_duration_seconds", "gauge", "Seconds the last run took.")
        if let seconds = run.seconds { emit("authdoctor_check_run_duration_seconds \(number(seconds))\n") }
        family("authdoctor_check_last_run_timestamp_seconds", "gauge", "When the last run started (Unix time).")
        if let startedAt = run.startedAt { emit("authdoctor_check_last_run_timestamp_seconds \(Int(startedAt.timeIntervalSince1970))\n") }
        family("authdoctor_check_deadline_reached", "gauge", "1 when the last run hit its total deadline.")
        if let reached = run.deadlineReached { emit("authdoctor_check_deadline_reached \(reached ? 1 : 0)\n") }
    }

    /// Label values: backslash, double quote and line feed escaped (exposition format 0.0.4);
    /// secrets redacted.
    public static func escape(_ value: String) -> String {
        var out = ""
        for c in Redactor.redact(value).unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func number(_ d: Double) -> String {
        String(format: "%.6f", d)
    }

    /// Before the run: the metrics file's directory exists and can be written (else the same error
    /// the write would give, before any probe).
    public static func checkDestination(_ path: String) throws(InputError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(.io, "no such directory for the metrics file", place: directory)
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw InputError(.io, "the metrics file is a directory", place: path)
        }
        guard access(directory, W_OK) == 0 else {
            throw InputError(.io, "cannot write the metrics file there (permissions?)", place: directory)
        }
    }

    /// Writes the exposition atomically: a temporary file in the same directory, then rename(2),
    /// so node_exporter's textfile collector never reads half a file.
    public static func writeAtomically(_ text: String, to path: String) throws(InputError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(.io, "no such directory for the metrics file", place: directory)
        }
        let temporary = directory + "/." + url.lastPathComponent + ".\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8),
                                             attributes: [.posixPermissions: 0o644]) else {
            throw InputError(.io, "cannot write the metrics file (permissions?)", place: temporary)
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw InputError(.io, "cannot move the metrics file into place: \(reason)", place: path)
        }
    }
}
