import EvidenceModel
import Probe

/// One step of a diagnosis as the report shows it (`probes[]`): what was sent (URL redacted),
/// what came back, libcurl's code and the phase timings. Never a secret.
public struct ProbeRecord: Sendable {
    public enum Outcome: String, Sendable {
        /// A 2xx answer in the expected shape.
        case ok
        /// The provider answered with a status that is not 2xx.
        case httpError = "http-error"
        /// A 2xx answer that is not the JSON the step expects (an HTML page, a truncated body).
        case unexpectedBody = "unexpected-body"
        /// No HTTP answer: DNS, refused, timeout, TLS, reset (see curlCode).
        case transportError = "transport-error"
        /// Not run: a credential it needs is missing, or it is not for this kind of token.
        case skipped
        /// A database server answered with an error (see sqlstate and note): a refused login, a failed query.
        case serverError = "server-error"
    }

    public var step: String
    public var method: String
    /// The request URL with every secret replaced by `[REDACTED]`.
    public var url: String
    public var outcome: Outcome
    public var status: Int?
    public var curlCode: Int?
    public var curlName: String?
    public var curlMessage: String?
    public var timings: PhaseTimings?
    public var contentType: String?
    public var bodyBytes: Int?
    public var bodyTruncated: Bool
    /// Which round of requests the step ran in (steps of one round run concurrently); nil when skipped.
    public var round: Int?
    /// Why the step was skipped, or what was wrong with its answer.
    public var note: String?
    /// For an unexpected body: "html", "invalid-json", "empty", "text", "cut-off".
    var bodyShape: String?
    /// A database probe's SQLSTATE, when the server gave one (or its message implies one).
    public var sqlstate: String?
    /// Database probes (`CONNECT`, `QUERY` over the PostgreSQL wire protocol) have no HTTP status or CURLcode.
    public var isDatabase: Bool { method == "CONNECT" || method == "QUERY" }

    public init(step: String, method: String, url: String, outcome: Outcome, status: Int? = nil, curlCode: Int? = nil,
                curlName: String? = nil, curlMessage: String? = nil, timings: PhaseTimings? = nil, contentType: String? = nil,
                bodyBytes: Int? = nil, bodyTruncated: Bool = false, round: Int? = nil, note: String? = nil) {
        self.step = step
        self.method = method
        self.url = url
        self.outcome = outcome
        self.status = status
        self.curlCode = curlCode
        self.curlName = curlName
        self.curlMessage = curlMessage
        self.timings = timings
        self.contentType = contentType
        self.bodyBytes = bodyBytes
        self.bodyTruncated = bodyTruncated
        self.round = round
        self.note = note
    }
}

/// Milliseconds with one decimal, as reports show timings.
func milliseconds(_ seconds: Double) -> Double { (seconds * 10_000).rounded() / 10 }

extension JSONReportWriter {
    /// `"probes": [...]` (schema/report.schema.json, `$defs/probe`).
    func writeProbes(_ probes: [ProbeRecord], into w: inout JSONWriter) {
        w.raw(",\"probes\":[")
        for (i, p) in probes.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"step\":"); w.string(p.step)
            w.raw(",\"method\":"); w.string(p.method)
            w.raw(",\"url\":"); w.string(p.url)
            w.raw(",\"outcome\":"); w.string(p.outcome.rawValue)
            w.raw(",\"status\":")
            if let status = p.status { w.int(status) } else { w.raw("null") }
            w.raw(",\"curlCode\":")
            if let code = p.curlCode { w.int(code) } else { w.raw("null") }
            if let name = p.curlName { w.raw(",\"curlName\":"); w.string(name) }
            if let message = p.curlMessage, !message.isEmpty { w.raw(",\"curlMessage\":"); w.string(message) }
            if let round = p.round { w.raw(",\"round\":"); w.int(round) }
            if let sqlstate = p.sqlstate { w.raw(",\"sqlstate\":"); w.string(sqlstate) }
            if let t = p.timings {
                w.raw(",\"timings\":{\"dnsMs\":"); w.double(milliseconds(t.dnsSeconds))
                w.raw(",\"connectMs\":"); w.double(milliseconds(t.connectSeconds))
                w.raw(",\"tlsMs\":"); w.double(milliseconds(t.tlsSeconds))
                w.raw(",\"firstByteMs\":"); w.double(milliseconds(t.firstByteSeconds))
                w.raw(",\"totalMs\":"); w.double(milliseconds(t.totalSeconds))
                w.raw("}")
            }
            if let contentType = p.contentType { w.raw(",\"contentType\":"); w.string(contentType) }
            if let bytes = p.bodyBytes { w.raw(",\"bodyBytes\":"); w.int(bytes) }
            if p.bodyTruncated { w.raw(",\"bodyTruncated\":true") }
            if let note = p.note { w.raw(",\"note\":"); w.string(note) }
            w.raw("}")
        }
        w.raw("]")
    }
}

enum ProbeLines {
    static func summary(_ p: ProbeRecord) -> String {
        if p.isDatabase { return databaseSummary(p) }
        switch p.outcome {
        case .skipped:
            return "skipped" + (p.note.map { ": \($0)" } ?? "")
        case .transportError:
            let time = p.timings.map { " after \(format(milliseconds($0.totalSeconds))) ms" } ?? ""
            return "curl \(p.curlCode ?? 0) \(p.curlName ?? "")\(time)" + (p.curlMessage.map { ": \($0)" } ?? "")
        case .ok, .httpError, .unexpectedBody, .serverError:
            var s = "HTTP \(p.status.map(String.init) ?? "?")"
            if let t = p.timings { s += " in \(format(milliseconds(t.totalSeconds))) ms" }
            if p.outcome == .unexpectedBody { s += " — " + (p.note ?? "not the expected JSON") }
            if let code = p.curlCode, code != 0 { s += " (curl \(code) \(p.curlName ?? ""))" }
            return s
        }
    }

    /// A database probe: what happened, the SQLSTATE, the time, the server's (redacted) message.
    static func databaseSummary(_ p: ProbeRecord) -> String {
        let time = p.timings.map { " in \(format(milliseconds($0.totalSeconds))) ms" } ?? ""
        switch p.outcome {
        case .skipped: return "skipped" + (p.note.map { ": \($0)" } ?? "")
        case .ok: return "ok\(time)" + (p.note.map { " — \($0)" } ?? "")
        default:
            let state = p.sqlstate.map { "SQLSTATE \($0) " } ?? ""
            return "\(state)failed\(time)" + (p.note.map { ": \($0)" } ?? "")
        }
    }

    static func mark(_ p: ProbeRecord) -> String {
        switch p.outcome {
        case .ok: return "✓"
        case .skipped: return "·"
        default: return "✖"
        }
    }

    static func format(_ ms: Double) -> String {
        ms.rounded() == ms ? String(Int(ms)) : String(ms)
    }

    static func timings(_ t: PhaseTimings) -> String {
        "dns \(format(milliseconds(t.dnsSeconds))) · connect \(format(milliseconds(t.connectSeconds))) · tls \(format(milliseconds(t.tlsSeconds))) · first byte \(format(milliseconds(t.firstByteSeconds))) · total \(format(milliseconds(t.totalSeconds))) ms"
    }
}

extension TextReportRenderer {
    func probeLines(_ probes: [ProbeRecord]) -> [String] {
        guard !probes.isEmpty else { return [] }
        var lines = ["", paint("probes:", "1")]
        let width = probes.map(\.step.count).max() ?? 0
        for p in probes {
            let mark = p.outcome == .ok ? paint(ProbeLines.mark(p), "32") : p.outcome == .skipped ? ProbeLines.mark(p) : paint(ProbeLines.mark(p), "31")
            let step = p.step.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("  \(mark) \(step)  \(p.method) \(Display.safe(p.url))")
            lines.append("    \(String(repeating: " ", count: width))\(Display.safe(ProbeLines.summary(p)))")
            if let t = p.timings, p.outcome != .skipped {
                lines.append("    \(String(repeating: " ", count: width))\(ProbeLines.timings(t))")
            }
        }
        return lines
    }
}

extension MarkdownReportRenderer {
    func probeLines(_ probes: [ProbeRecord]) -> [String] {
        guard !probes.isEmpty else { return [] }
        var md = ["", "#### Probes", "", "| step | request | result | total |", "|---|---|---|---|"]
        for p in probes {
            let total = p.timings.map { "\(ProbeLines.format(milliseconds($0.totalSeconds))) ms" } ?? "—"
            md.append("| `\(escapeCode(p.step))` | `\(escapeCode(p.method + " " + p.url))` | \(escape(ProbeLines.summary(p))) | \(total) |")
        }
        return md
    }
}
