import EvidenceModel
import RuleEngine

/// Evidence is customer-supplied text: before it reaches a terminal or a ticket, control characters
/// (escape sequences that recolour, retitle or overwrite the screen) are shown, not obeyed.
enum Display {
    static func safe(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            if isControl(scalar) {
                out.append(contentsOf: String(format: "\\u{%X}", scalar.value).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return (v < 0x20 && v != 0x0A && v != 0x09) || (v >= 0x7F && v < 0xA0)
    }
}

/// `--format text`: for a support engineer at a terminal. Colour only when asked (a TTY and no NO_COLOR).
public struct TextReportRenderer: Sendable {
    public var color: Bool

    public init(color: Bool) { self.color = color }

    func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    public func render(_ report: Report) -> String {
        var lines: [String] = []
        var header = "authdoctor · "
        if let id = report.id { header += "\(Display.safe(Redactor.redact(id))) · " }
        header += report.source.map { "\(Display.safe($0)) · " } ?? ""
        if let provider = report.provider {
            header += provider + (report.providerDetected ? " (recognised from the evidence)" : "")
        } else {
            header += "provider not recognised"
        }
        if let status = report.httpStatus { header += " · HTTP \(status)" }
        lines.append(paint(header, "1"))
        lines.append("generated \(RFC3339.string(report.generatedAt)) · \(report.rulesVersion)")
        lines.append("verdict: " + verdictLabel(report.verdict, recognisedBy: report.findings.first?.rule))
        if let note = report.note { lines.append(Display.safe(note)) }
        if let local = report.localNetwork { lines.append(paint(Display.safe(local), "33;1")) }
        for (index, finding) in report.findings.enumerated() {
            lines.append("")
            let mark = finding.severity == "error" ? paint("✖", "31") : finding.severity == "warning" ? paint("!", "33") : paint("i", "36")
            let rank = report.findings.count > 1 ? "\(index + 1). " : ""
            lines.append("\(mark) \(rank)\(paint(finding.failure, "1")) [\(finding.category)] \(Display.safe(finding.summary))")
            if let cause = finding.explainedBy { lines.append("   explained by \(cause) (its root cause, above)") }
            lines.append("   rule \(finding.rule) · confidence \(percent(finding.confidence)) · who acts: \(finding.actor) · \(finding.transient ? "transient: retry may help" : "not transient")")
            if !finding.evidence.isEmpty {
                lines.append("   evidence:")
                for (name, value) in finding.evidence {
                    lines.append("     \(Display.safe(name)) = \(clip(value.description, 160))")
                }
            }
            if !finding.remediation.isEmpty {
                lines.append("   what to do:")
                for (n, r) in finding.remediation.enumerated() {
                    let link = r.issuesLink ? paint(" [client re-authorizes]", "35") : ""
                    lines.append("     \(n + 1). \(r.title) (\(r.doc))\(link)")
                    for step in r.steps { lines.append("        - \(step)") }
                }
            }
            if let link = finding.link {
                lines.append("   authorization link for the client (single use, expires \(RFC3339.string(link.expiresAt))):")
                lines.append("     \(link.url)")
            }
        }
        if let probes = report.probes { lines += probeLines(probes) }
        if let message = report.clientMessage {
            lines.append("")
            lines.append(paint("message for the client:", "1"))
            for line in message.split(separator: "\n", omittingEmptySubsequences: false).dropLast() { lines.append("  " + Display.safe(String(line))) }
        }
        if let facts = report.facts {
            lines.append("")
            lines.append(paint("facts:", "1"))
            for name in facts.names { lines.append("  \(Display.safe(name)) = \(clip(facts[name]!.description, 200))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `recognisedBy`: the top finding's rule. An `unknown` verdict from a rule (a query error, a
    /// missing table) was recognised, as something other than an authentication failure.
    func verdictLabel(_ v: Report.Verdict, recognisedBy rule: String? = nil) -> String {
        switch v {
        case .failure: return paint("failure", "31;1")
        case .warning: return paint("warning", "33;1")
        case .ok: return paint("no failure seen", "32;1")
        case .unknown:
            if let rule, rule != "unknown" { return paint("unknown — recognised, but not an authentication failure", "33") }
            return paint("unknown — no rule recognised the evidence", "33")
        }
    }

    func percent(_ c: Double) -> String { "\(Int((c * 100).rounded()))%" }

    func clip(_ s: String, _ n: Int) -> String {
        let one = Display.safe(s.replacingOccurrences(of: "\r\n", with: "\n")).replacingOccurrences(of: "\n", with: " ⏎ ")
        return one.count > n ? String(one.prefix(n)) + "…" : one
    }
}

/// `--format markdown`: pasted into a ticket as is.
public struct MarkdownReportRenderer: Sendable {
    public init() {}

    public func render(_ report: Report) -> String {
        var md: [String] = []
        md.append("### authdoctor report: \(report.verdict.rawValue)")
        md.append("")
        md.append("| Field | Value |")
        md.append("|---|---|")
        if let id = report.id { md.append("| Record | `\(escapeCode(Redactor.redact(id)))` |") }
        if let source = report.source { md.append("| Evidence | `\(escapeCode(source))` (\(report.inputKind)) |") }
        md.append("| Provider | \(report.provider.map { "`\($0)`" + (report.providerDetected ? " (recognised from the evidence)" : "") } ?? "not recognised") |")
        if let status = report.httpStatus { md.append("| HTTP status | \(status) |") }
        md.append("| Verdict | \(report.verdict.rawValue) |")
        md.append("| Generated | \(RFC3339.string(report.generatedAt)) |")
        md.append("| Rules | `\(report.rulesVersion)` |")
        if let note = report.note {
            md.append("")
            md.append(escape(note))
        }
        if let local = report.localNetwork {
            md.append("")
            md.append("**\(escape(local))**")
        }
        for (index, f) in report.findings.enumerated() {
            md.append("")
            md.append("#### \(index + 1). `\(f.failure)` (\(f.category), \(f.severity)) — \(escape(f.summary))")
            md.append("")
            if let cause = f.explainedBy { md.append("Explained by `\(cause)` (its root cause, above)."); md.append("") }
            md.append("Rule `\(f.rule)`, confidence \(Int((f.confidence * 100).rounded()))%, who acts: **\(f.actor)**, \(f.transient ? "transient (a retry may help)" : "not transient").")
            if !f.evidence.isEmpty {
                md.append("")
                md.append("Evidence:")
                for (name, value) in f.evidence {
                    md.append("- `\(name)`: `\(escapeCode(String(value.description.prefix(300))))`")
                }
            }
            if !f.remediation.isEmpty {
                md.append("")
                md.append("What to do:")
                for (n, r) in f.remediation.enumerated() {
                    md.append("\(n + 1). **\(escape(r.title))** (\(r.doc))\(r.issuesLink ? " — the client must re-authorize" : "")")
                    for step in r.steps { md.append("   - \(escape(step))") }
                }
            }
            if let link = f.link {
                md.append("")
                md.append("Authorization link for the client (single use, expires \(RFC3339.string(link.expiresAt))): <\(link.url)>")
            }
        }
        if let probes = report.probes { md += probeLines(probes) }
        if let facts = report.facts {
            md.append("")
            md.append("<details><summary>Facts</summary>")
            md.append("")
            md.append("| fact | value |")
            md.append("|---|---|")
            for name in facts.names {
                md.append("| `\(escapeCode(name))` | `\(escapeCode(String(facts[name]!.description.prefix(300))))` |")
            }
            md.append("")
            md.append("</details>")
        }
        if let message = report.clientMessage {
            md.append("")
            md.append("Message for the client:")
            md.append("")
            for line in message.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                md.append(line.isEmpty ? ">" : "> " + Display.safe(String(line)))
            }
        }
        return md.joined(separator: "\n") + "\n"
    }

    func escape(_ s: String) -> String {
        Display.safe(s.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " "))
            .replacingOccurrences(of: "|", with: "\\|")
    }

    func escapeCode(_ s: String) -> String {
        Display.safe(s.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " "))
            .replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "\\|")
    }
}

/// `--format client`: only the message for the client (empty when the client need not act).
public struct ClientMessageRenderer: Sendable {
    public init() {}
    public func render(_ report: Report) -> String { report.clientMessage.map(Display.safe) ?? "" }
}

/// `--format brief`: the verdict in one tab-separated line (failure, category, actor, rule, first
/// step with its document section), for scripts and quick triage.
public struct BriefReportRenderer: Sendable {
    public init() {}

    public func render(_ report: Report) -> String {
        guard let top = report.findings.first else { return "ok\t-\t-\t-\t-\n" }
        let step = top.remediation.first.map { "\($0.title) (\($0.doc))" } ?? "-"
        let fields = [top.failure, top.category, top.actor, top.rule, step].map {
            Display.safe($0).replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ")
        }
        return fields.joined(separator: "\t") + "\n"
    }
}
