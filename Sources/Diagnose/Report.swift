import EvidenceModel
import Foundation
import RuleEngine

/// What one classification (or, later, one diagnosis) found, ready to render.
public struct Report: Sendable {
    /// v2 (issue 14): `generatedAt`, `rulesVersion`, `note`, `clientMessage`, `explainedBy`; a healthy
    /// report has no findings (v1 always had one). schema/report.schema.json.
    public static let schema = "authdoctor.report/v2"
    public static let toolVersion = "0.1.0"

    public enum Verdict: String, Sendable {
        /// A rule with severity error held.
        case failure
        /// Only warnings held.
        case warning
        /// The evidence shows no failure and no rule held.
        case ok
        /// Nothing recognised the failure.
        case unknown
    }

    public var id: String?
    public var inputKind: String
    public var source: String?
    public var provider: String?
    public var providerDetected: Bool
    public var httpStatus: Int?
    /// Whether the evidence itself shows a failure (an error status, a transport error, a failing
    /// HAR entry, pasted error text); when it does not and no rule held, the verdict is `ok`.
    public var evidenceShowsFailure: Bool
    public var findings: [Finding]
    /// Every fact, redacted, when asked for (`--show-facts`).
    public var facts: Facts?
    /// What each live probe did (`diagnose`); nil for offline classification.
    public var probes: [ProbeRecord]? = nil
    /// When the report was made (RFC 3339, UTC in output). `SOURCE_DATE_EPOCH` (seconds) fixes it,
    /// for reproducible output (snapshots, demos).
    public var generatedAt: Date = Report.now()

    public static func now() -> Date {
        if let fixed = fixedTime { return fixed }
        return Date()
    }

    /// `SOURCE_DATE_EPOCH`, read once: building the environment dictionary per report was a quarter
    /// of `classify --batch`'s time.
    static let fixedTime: Date? = {
        guard let raw = getenv("SOURCE_DATE_EPOCH"), let seconds = Double(String(cString: raw)) else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }()
    /// The rule set's version (a hash of its files), so two reports can be compared.
    public var rulesVersion: String
    /// Set when the machine that ran the diagnosis could not reach the network at all (issue 14):
    /// the one thing to say, for the engineer; the verdict is then `unknown` (exit 3).
    public var localNetwork: String? = nil
    /// What a report without findings says instead (a healthy connection: what was checked).
    public var note: String? = nil
    /// The plain-words message for the client, when the client must act (ClientMessage); nil otherwise.
    public var clientMessage: String? { ClientMessage.compose(self) }

    public init(id: String?, inputKind: String, source: String?, provider: String?, providerDetected: Bool, httpStatus: Int?,
                evidenceShowsFailure: Bool, findings: [Finding], facts: Facts? = nil, probes: [ProbeRecord]? = nil,
                rulesVersion: String = "local") {
        self.rulesVersion = rulesVersion
        self.id = id
        self.inputKind = inputKind
        self.source = source
        self.provider = provider
        self.providerDetected = providerDetected
        self.httpStatus = httpStatus
        self.evidenceShowsFailure = evidenceShowsFailure
        self.findings = findings
        self.facts = facts
        self.probes = probes
    }

    public var verdict: Verdict {
        if localNetwork != nil { return .unknown }
        guard let top = findings.first else { return .ok }
        if top.failure == "unknown" {
            return evidenceShowsFailure ? .unknown : .ok
        }
        if findings.contains(where: { $0.severity == "error" }) { return .failure }
        if findings.contains(where: { $0.severity == "warning" }) { return .warning }
        return .ok
    }
}

/// A rule set being loaded on another thread; `classifier` waits for it.
private final class RulesLoadingElsewhere: @unchecked Sendable {
    private let group = DispatchGroup()
    // Written once on the loading thread before `leave()`; read only after `wait()`.
    private var loaded: Classifier?

    init(_ load: @escaping @Sendable () -> RuleSet) {
        group.enter()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            loaded = Classifier(ruleSet: load())
            group.leave()
        }
    }

    var classifier: Classifier {
        group.wait()
        return loaded!
    }
}

/// Evidence in, report out: fact extraction plus the rule set.
public struct ClassifyEngine: Sendable {
    public var classifier: Classifier { ready ?? loading!.classifier }
    public var extractor: FactExtractor
    /// The `generatedAt` of every report made (nil: the moment each report is made).
    public var generatedAt: Date?
    private let ready: Classifier?
    private let loading: RulesLoadingElsewhere?

    public init(ruleSet: RuleSet, extractor: FactExtractor = FactExtractor()) {
        ready = Classifier(ruleSet: ruleSet)
        loading = nil
        self.extractor = extractor
    }

    /// The rules are loaded on another thread from now on, and the first use of them waits: a
    /// one-off command reads its input, or sends its probes, meanwhile. Only for loads that
    /// cannot fail (the built-in set), since nothing can be thrown from here.
    public init(loadingElsewhere load: @escaping @Sendable () -> RuleSet, extractor: FactExtractor = FactExtractor()) {
        ready = nil
        loading = RulesLoadingElsewhere(load)
        self.extractor = extractor
    }

    public var ruleSet: RuleSet { classifier.ruleSet }

    static func showsFailure(_ facts: Facts) -> Bool {
        if let status = facts.int("http.status") { return status >= 400 }
        if let code = facts.int("curl.code") { return code != 0 }
        if facts["transport.error"] != nil || facts.bool("redirect.loop") == true { return true }
        if let failing = facts.int("har.failing") { return failing > 0 }
        return facts["text"] != nil || facts["sqlstate"] != nil
    }

    /// The secrets named in the evidences' pasted texts and loosely read bodies (a body parsed as
    /// JSON had each member redacted by its own name when flattened).
    static func namedSecrets(in evidences: [Evidence], factSets: [Facts]) -> [String] {
        var secrets: [String] = []
        for (evidence, facts) in zip(evidences, factSets) {
            if let text = evidence.text { secrets += Redactor.secrets(in: text) }
            if let body = evidence.finalResponse?.body, let format = facts.string("body.format"), format != "json", format != "empty" {
                secrets += Redactor.secrets(in: body)
            }
        }
        return secrets.sorted { $0.utf8.count > $1.utf8.count }
    }

    public func report(for evidences: [Evidence], source: String?, id: String? = nil, keepFacts: Bool = false) -> Report {
        report(for: evidences, factSets: evidences.map(extractor.facts(for:)), source: source, id: id, keepFacts: keepFacts)
    }

    /// Every fact name a report reads, split by provider (FactNamesRead): the classifier's, and
    /// what the report itself looks at (whether the evidence shows a failure, the provider). A
    /// record's report reads only the common names and those of its own providers' rules.
    public func factNamesReadByProvider() -> FactNamesRead {
        var read = classifier.factNamesReadByProvider()
        read.formUnion(Self.reportFactNames)
        return read
    }

    static let reportFactNames = ["http.status", "curl.code", "transport.error", "redirect.loop", "har.failing", "text",
                                  "sqlstate", "body.format", "provider", "provider.detected"]

    /// The same with the facts already extracted (one set per evidence) and, when already worked
    /// out, the secrets the evidences name.
    func report(for evidences: [Evidence], factSets: [Facts], source: String?, id: String?, keepFacts: Bool,
                namedSecrets known: [String]? = nil) -> Report {
        var findings = classifier.classify(factSets)
        let shows = factSets.contains(where: Self.showsFailure)
        var note: String?
        if findings.count == 1, findings[0].failure == "unknown", !shows {
            // Healthy means healthy: nothing failed and no rule held, so no finding.
            note = "Nothing in the evidence shows a failure (no error status, transport error or error text), and no rule found a problem."
            findings = []
        }
        let first = factSets.first ?? Facts()
        let provider = first["provider"]?.elements.first?.stringValue
        var facts: Facts?
        // Values the redactor masks by the name beside them in the pasted text or a loosely read
        // body: a structure read out of a text (a cut-off Ruby dump) can carry one away from its
        // name into a fact, where redaction by shape no longer knows it. Cleared from everything
        // shown; the rules matched the facts as they were.
        let secrets = known ?? Self.namedSecrets(in: evidences, factSets: factSets)
        let scrubber = secrets.isEmpty ? nil : SecretScrubber(secrets: secrets)
        if let scrubber { findings = findings.map(scrubber.scrub) }
        if keepFacts {
            var redacted = Facts()
            for set in factSets {
                for name in set.names {
                    // A loosely read text can put anything in a member's name, a token too: names
                    // are redacted like values.
                    let shown = scrubber?.scrub(name) ?? Redactor.redact(name)
                    let value = Redactor.redactForDisplay(set[name]!)
                    if redacted[shown] == nil { redacted[shown] = scrubber?.scrub(value) ?? value }
                }
            }
            facts = redacted
        }
        var report = Report(id: id, inputKind: evidences.first?.kind.rawValue ?? "text", source: source.map(Redactor.redact),
                            provider: provider, providerDetected: first.bool("provider.detected") ?? false,
                            httpStatus: first.int("http.status"), evidenceShowsFailure: shows,
                            findings: findings, facts: facts, rulesVersion: ruleSet.version)
        report.note = note
        if let generatedAt { report.generatedAt = generatedAt }
        return report
    }
}
