import EvidenceModel
import RuleEngine

/// `--format json` / `jsonl`: the `authdoctor.report/v2` document (schema/report.schema.json).
/// Remediation blocks are static per rule, so they are serialised once and reused for every record.
public final class JSONReportWriter: @unchecked Sendable {
    private var remediationCache: [String: [UInt8]] = [:]
    private let lock = Locked()

    public init() {}

    public func render(_ report: Report, pretty: Bool = false) -> String {
        var w = JSONWriter(capacity: 2048)
        write(report, into: &w)
        let compact = String(decoding: w.bytes, as: UTF8.self)
        return pretty ? PrettyJSON.format(compact) : compact
    }

    public func write(_ report: Report, into w: inout JSONWriter) {
        writeHead(id: report.id, into: &w)
        writeTail(report, into: &w)
    }

    /// The document's opening up to and including its `id`: the one part of a batch report that
    /// differs between records classified alike.
    func writeHead(id: String?, into w: inout JSONWriter) {
        w.raw("{\"schema\":\"authdoctor.report/v2\"")
        if let id { w.raw(",\"id\":"); w.string(Redactor.redact(id)) }
    }

    /// Everything after the `id` (the report's own `id` is not read).
    func writeTail(_ report: Report, into w: inout JSONWriter) {
        w.raw(",\"generatedAt\":"); w.string(RFC3339.string(report.generatedAt))
        w.raw(",\"tool\":{\"name\":\"authdoctor\",\"version\":")
        w.string(Report.toolVersion)
        w.raw(",\"rulesVersion\":"); w.string(report.rulesVersion)
        w.raw("},\"input\":{\"kind\":")
        w.string(report.inputKind)
        if let source = report.source { w.raw(",\"source\":"); w.string(source) }
        w.raw("},\"provider\":")
        if let provider = report.provider { w.string(provider) } else { w.raw("null") }
        w.raw(",\"providerDetected\":")
        w.bool(report.providerDetected)
        w.raw(",\"verdict\":")
        w.string(report.verdict.rawValue)
        w.raw(",\"findings\":[")
        for (i, finding) in report.findings.enumerated() {
            if i > 0 { w.raw(",") }
            write(finding, into: &w)
        }
        w.raw("]")
        if let note = report.note { w.raw(",\"note\":"); w.string(note) }
        if let local = report.localNetwork { w.raw(",\"localNetwork\":"); w.string(local) }
        if let message = report.clientMessage { w.raw(",\"clientMessage\":"); w.string(message) }
        if let facts = report.facts {
            w.raw(",\"facts\":{")
            for (i, name) in facts.names.enumerated() {
                if i > 0 { w.raw(",") }
                w.string(name)
                w.raw(":")
                w.fact(facts[name]!)
            }
            w.raw("}")
        }
        if let probes = report.probes { writeProbes(probes, into: &w) }
        w.raw("}")
    }

    func write(_ f: Finding, into w: inout JSONWriter) {
        w.raw("{\"category\":"); w.string(f.category)
        w.raw(",\"failure\":"); w.string(f.failure)
        w.raw(",\"rule\":"); w.string(f.rule)
        w.raw(",\"severity\":"); w.string(f.severity)
        w.raw(",\"confidence\":"); w.double((f.confidence * 100).rounded() / 100)
        w.raw(",\"summary\":"); w.string(f.summary)
        w.raw(",\"actor\":"); w.string(f.actor)
        w.raw(",\"transient\":"); w.bool(f.transient)
        if let cause = f.explainedBy { w.raw(",\"explainedBy\":"); w.string(cause) }
        w.raw(",\"evidence\":{")
        for (i, item) in f.evidence.enumerated() {
            if i > 0 { w.raw(",") }
            w.string(item.name)
            w.raw(":")
            w.fact(item.value)
        }
        w.raw("},\"remediation\":")
        w.rawBytes(remediationJSON(for: f))
        if let link = f.link {
            w.raw(",\"link\":{\"id\":"); w.string(link.id)
            w.raw(",\"url\":"); w.string(link.url)
            w.raw(",\"expiresAt\":"); w.string(RFC3339.string(link.expiresAt))
            w.raw("}")
        }
        w.raw("}")
    }

    func remediationJSON(for finding: Finding) -> [UInt8] {
        // Steps filled from facts differ per finding; the rest depend on the rule and the variant only.
        let cacheable = !finding.remediation.contains(where: \.filled)
        let key = finding.rule + "\u{1}" + finding.remediation.map { $0.id + "/" + ($0.variant ?? "") }.joined(separator: ",")
        if cacheable, let cached = lock.withLock({ remediationCache[key] }) { return cached }
        var w = JSONWriter(capacity: 1024)
        w.raw("[")
        for (i, r) in finding.remediation.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"id\":"); w.string(r.id)
            w.raw(",\"title\":"); w.string(r.title)
            w.raw(",\"steps\":[")
            for (j, step) in r.steps.enumerated() {
                if j > 0 { w.raw(",") }
                w.string(step)
            }
            w.raw("],\"doc\":"); w.string(r.doc)
            w.raw(",\"issuesLink\":"); w.bool(r.issuesLink)
            w.raw("}")
        }
        w.raw("]")
        if cacheable { lock.withLock { remediationCache[key] = w.bytes } }
        return w.bytes
    }

    /// A batch line that could not be classified: the id (or line) and why.
    public func writeError(id: String?, error: InputError, into w: inout JSONWriter) {
        w.raw("{\"schema\":\"authdoctor.report/v2\"")
        if let id { w.raw(",\"id\":"); w.string(Redactor.redact(id)) }
        w.raw(",\"verdict\":\"error\",\"error\":{\"kind\":")
        w.string(error.kind == .data ? "invalid-input" : "input")
        w.raw(",\"message\":")
        w.string(Redactor.redact(error.description))
        w.raw("},\"findings\":[]}")
    }
}

import Foundation

/// A lock around one critical section at a time.
final class Locked: @unchecked Sendable {
    private let lock = NSLock()
    func withLock<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

/// Indents compact JSON for people (`--format json`), without re-parsing into Foundation types.
enum PrettyJSON {
    static func format(_ compact: String) -> String {
        var out = ""
        out.reserveCapacity(compact.utf8.count * 2)
        var indent = 0
        var inString = false
        var escaped = false
        let chars = Array(compact)
        var i = 0
        func newline() { out.append("\n"); out.append(String(repeating: "  ", count: indent)) }
        while i < chars.count {
            let c = chars[i]
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                i += 1
                continue
            }
            switch c {
            case "\"": inString = true; out.append(c)
            case "{", "[":
                if i + 1 < chars.count, chars[i + 1] == (c == "{" ? "}" : "]") {
                    out.append(c); out.append(chars[i + 1]); i += 1
                } else {
                    out.append(c); indent += 1; newline()
                }
            case "}", "]": indent -= 1; newline(); out.append(c)
            case ",": out.append(c); newline()
            case ":": out.append(": ")
            default: out.append(c)
            }
            i += 1
        }
        return out
    }
}
