import Foundation
import EvidenceModel

/// One classified failure: the rule that held, ranked, with its remediation steps.
public struct Finding: Sendable {
    public var rule: String
    public var category: String
    public var failure: String
    public var severity: String
    public var confidence: Double
    public var summary: String
    public var actor: String
    public var transient: Bool
    /// Fact name → value, redacted.
    public var evidence: [(name: String, value: FactValue)]
    public var remediation: [Remediation]
    /// A single-use authorization link issued for the client (`--issue-link`), when the fix is to re-authorize.
    public var link: FindingLink? = nil
    /// The rule of a finding in the same report that explains this one (its root cause), if any.
    public var explainedBy: String? = nil
    /// Which fact set (probe step, HAR entry) the finding came from.
    public var origin: Int = 0

    /// Whether a remediation of this finding needs the client to re-authorize.
    public var needsReauthorization: Bool { remediation.contains(where: \.issuesLink) }

    public init(rule: String, category: String, failure: String, severity: String, confidence: Double, summary: String,
                actor: String, transient: Bool, evidence: [(name: String, value: FactValue)], remediation: [Remediation]) {
        self.rule = rule
        self.category = category
        self.failure = failure
        self.severity = severity
        self.confidence = confidence
        self.summary = summary
        self.actor = actor
        self.transient = transient
        self.evidence = evidence
        self.remediation = remediation
    }
}

/// An authorization link attached to a finding. The URL carries the link's secret token on purpose:
/// it is the one thing the engineer pastes into the ticket for the client.
public struct FindingLink: Sendable, Equatable {
    public var id: String
    public var url: String
    public var expiresAt: Date

    public init(id: String, url: String, expiresAt: Date) {
        self.id = id
        self.url = url
        self.expiresAt = expiresAt
    }
}

/// Facts in, findings out; no I/O.
public struct Classifier: Sendable {
    public let ruleSet: RuleSet

    public init(ruleSet: RuleSet) { self.ruleSet = ruleSet }

    /// Findings for one or more fact sets (a HAR gives one per failing entry), most likely first.
    /// Nothing matched → a single `unknown` finding that keeps the evidence.
    public func classify(_ factSets: [Facts]) -> [Finding] {
        var findings: [Finding] = []
        var seen = Set<String>()
        let candidates = factSets.map(ruleSet.candidates)
        for fallback in [false, true] where findings.isEmpty {
            for (origin, (facts, candidates)) in zip(factSets, candidates).enumerated() {
                for match in ruleSet.matches(facts, candidates: candidates, fallback: fallback) where seen.insert(match.rule.id).inserted {
                    var finding = makeFinding(match, facts: facts)
                    finding.origin = origin
                    findings.append(finding)
                }
            }
        }
        if findings.isEmpty {
            return [unknownFinding(factSets.first ?? Facts())]
        }
        findings.sort(by: Self.moreLikely)
        // One finding per failure class: a provider's own rule and a generic protocol rule often say
        // the same thing; the more specific (more confident) one speaks for both.
        var classes = Set<String>()
        return ordered(findings.filter { classes.insert($0.failure).inserted })
    }

    /// Root cause first: a finding another finding explains (`explains:` in its rule, or the class
    /// defaults across different evidence) comes after it, and is marked `explainedBy`; then errors
    /// before warnings before notes; then the more confident first (docs/RULES.md "Root cause first").
    public func ordered(_ findings: [Finding]) -> [Finding] {
        guard findings.count > 1 else { return findings }
        let rules = findings.map { ruleSet.rule(id: $0.rule) }
        var out = findings
        // depth: how many explainers stand above a finding (chains are short; cycles stop at n).
        var depth = [Int](repeating: 0, count: findings.count)
        for _ in 0..<findings.count {
            var changed = false
            for i in findings.indices {
                for j in findings.indices where j != i {
                    guard let rule = rules[j], rule.explains(findings[i], sameEvidence: findings[i].origin == findings[j].origin) else { continue }
                    if out[i].explainedBy == nil { out[i].explainedBy = findings[j].rule }
                    if depth[i] < depth[j] + 1, depth[j] + 1 < findings.count { depth[i] = depth[j] + 1; changed = true }
                }
            }
            if !changed { break }
        }
        return out.indices.sorted { a, b in
            if depth[a] != depth[b] { return depth[a] < depth[b] }
            let sa = Self.severityRank[out[a].severity] ?? 3, sb = Self.severityRank[out[b].severity] ?? 3
            if sa != sb { return sa < sb }
            if out[a].confidence != out[b].confidence { return out[a].confidence > out[b].confidence }
            return a < b
        }.map { out[$0] }
    }

    static let severityRank: [String: Int] = ["error": 0, "warning": 1, "info": 2]

    static func moreLikely(_ a: Finding, _ b: Finding) -> Bool {
        if a.confidence != b.confidence { return a.confidence > b.confidence }
        let sa = severityRank[a.severity] ?? 3, sb = severityRank[b.severity] ?? 3
        if sa != sb { return sa < sb }
        return a.rule < b.rule
    }

    func makeFinding(_ match: RuleMatch, facts: Facts) -> Finding {
        let rule = match.rule
        let remediation = rule.remediation.compactMap { ruleSet.remediation($0, for: rule, facts: facts) }
        var evidence = match.evidence.map { ($0.name, Redactor.redactForDisplay($0.value)) }
        // The facts the steps quote are evidence too (the refused IP, the missing GRANTs).
        for name in remediation.flatMap(\.quotedFacts) where !evidence.contains(where: { $0.0 == name }) {
            if let value = facts[name] { evidence.append((name, Redactor.redactForDisplay(value))) }
        }
        return Finding(
            rule: rule.id, category: rule.category, failure: rule.failure, severity: rule.severity,
            confidence: rule.confidence, summary: Self.render(rule.summary, facts: facts),
            actor: rule.actor ?? Vocabulary.defaultActor(for: rule.failure),
            transient: rule.transient ?? Vocabulary.defaultTransient(for: rule.failure, transportError: facts.string("transport.error")),
            evidence: evidence, remediation: remediation)
    }

    /// Every fact name `classify` reads, split by provider (FactNamesRead): the rule set's, plus
    /// what the classifier itself reads (the unknown finding's facts and summary,
    /// `transport.error` for transience).
    public func factNamesReadByProvider() -> FactNamesRead {
        var read = ruleSet.factNamesReadByProvider()
        read.formUnion(Self.unknownEvidenceFacts)
        read.formUnion(Self.ownFactNames)
        return read
    }

    /// The facts `makeFinding` and `unknownSummary` read beside the rules' own.
    static let ownFactNames = ["provider", "provider.detected", "transport.error", "body.format"]

    /// Facts shown when nothing matched: what a person would look at first.
    static let unknownEvidenceFacts = [
        "provider", "http.status", "www-authenticate.error", "body.error.code", "body.error.status", "body.error",
        "body.code", "oauth.error", "grpc.status", "snowflake.code", "exception", "message", "curl.code", "curl.name",
        "transport.error", "sqlstate", "url.host", "url.endpoint", "text",
    ]

    /// What an `unknown` finding says: what was recognised, and the one thing that would decide it.
    static func unknownSummary(_ facts: Facts) -> String {
        var seen: [String] = []
        let provider = facts["provider"]?.elements.first?.stringValue
        if let provider { seen.append("provider \(provider)" + (facts.bool("provider.detected") == true ? " (recognised from the evidence)" : "")) }
        if let status = facts.int("http.status") { seen.append("HTTP \(status)") }
        if let code = facts.string("oauth.error") ?? facts.string("www-authenticate.error") { seen.append("OAuth error \(code)") }
        if let code = facts.string("body.error.code") ?? facts.string("body.code") ?? facts.string("snowflake.code") { seen.append("error code \(code)") }
        if let grpc = facts.string("grpc.status") { seen.append("gRPC \(grpc)") }
        if let state = facts.string("sqlstate") { seen.append("SQLSTATE \(state)") }
        if let exception = facts["exception"]?.elements.first?.stringValue { seen.append("exception \(exception)") }
        if let curl = facts.string("curl.name") { seen.append(curl) }
        if let host = facts.string("url.host") { seen.append("host \(host)") }
        let ask: String
        if provider == nil {
            ask = "which provider or connector this came from, and the provider's own error message"
        } else if facts["http.status"] == nil && facts["curl.code"] == nil && facts["sqlstate"] == nil && facts["body.format"] == nil {
            ask = "the provider's full answer: the HTTP status and response body (or the connector's full log line)"
        } else if facts["body.format"] == nil || facts.string("body.format") == "empty" {
            ask = "the provider's response body for this status: it names the cause"
        } else {
            ask = "the request that failed (URL and method), the account it ran as, and when it started failing"
        }
        let recognised = seen.isEmpty ? "nothing specific" : seen.joined(separator: ", ")
        return Redactor.redact("No rule recognises this evidence (recognised: \(recognised)). To decide, ask for \(ask).")
    }

    func unknownFinding(_ facts: Facts) -> Finding {
        var evidence: [(name: String, value: FactValue)] = []
        for name in Self.unknownEvidenceFacts {
            guard let value = facts[name] else { continue }
            if name == "text", facts["message"] != nil, evidence.contains(where: { $0.name == "message" }) { continue }
            evidence.append((name, Redactor.redactForDisplay(value)))
        }
        let category: String
        if let providers = facts["provider"]?.elements.compactMap(\.stringValue),
           providers.contains(where: { ["bigquery", "google-sheets", "snowflake", "redshift", "postgres", "platform-api", "looker-studio"].contains($0) }) {
            category = "destination"
        } else {
            category = "source"
        }
        let ids = ["test-connection-manually", "review-api-docs"]
        let pseudo = Rule(id: "unknown", category: category, failure: "unknown", severity: "warning", confidence: 0, fallback: true,
                          actor: "engineer", transient: false, when: When(), summary: "", remediation: ids, examples: RuleExamples(),
                          file: "", line: 0)
        return Finding(
            rule: "unknown", category: category, failure: "unknown", severity: "warning", confidence: 0,
            summary: Self.unknownSummary(facts),
            actor: "engineer", transient: false, evidence: evidence,
            remediation: ids.compactMap { ruleSet.remediation($0, for: pseudo, facts: facts) })
    }

    /// Replaces `{fact}` with the fact's redacted value.
    public static func render(_ template: String, facts: Facts) -> String {
        guard template.utf8.contains(UInt8(ascii: "{")) else { return template }
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            if let value = facts[name] {
                out += Redactor.redactForDisplay(value.description, limit: 500)
            } else {
                out += "(unknown)"
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
