import EvidenceModel
import Foundation
import RuleEngine

// Pairing diagnoses with authorization links (issue 5 part 4). Diagnose knows nothing of the link
// store: the caller hands in a way to issue a link, or a plain snapshot of one to explain.

extension Report {
    /// Attaches a fresh link to every finding whose remediation needs the client to re-authorize.
    /// `issue` gets the provider the link is for (nil when the report names none) and returns the link;
    /// it is called once per such finding, since links are single use.
    public mutating func attachLinks(_ issue: (_ provider: String?) throws -> FindingLink) rethrows {
        for index in findings.indices where findings[index].needsReauthorization && findings[index].link == nil {
            findings[index].link = try issue(provider)
        }
    }

    /// How many findings carry a link.
    public var linkCount: Int { findings.filter { $0.link != nil }.count }
}

/// What the store knows of one link, as `diagnose --link ID` explains it.
public struct LinkSnapshot: Sendable {
    public var id: String
    public var client: String
    public var sources: [String]
    public var maxSources: Int?
    public var createdAt: Date
    public var expiresAt: Date
    public var openedAt: Date?
    public var finishedAt: Date?
    public var revokedAt: Date?
    /// Providers connected in the link's session but not activated (Finish not pressed).
    public var pendingProviders: [String]
    /// Providers whose connections are active.
    public var activeProviders: [String]
    /// The session tried to connect past the plan limit.
    public var planLimitReached: Bool

    public init(id: String, client: String, sources: [String], maxSources: Int?, createdAt: Date, expiresAt: Date,
                openedAt: Date?, finishedAt: Date?, revokedAt: Date?, pendingProviders: [String], activeProviders: [String],
                planLimitReached: Bool = false) {
        self.id = id
        self.client = client
        self.sources = sources
        self.maxSources = maxSources
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.openedAt = openedAt
        self.finishedAt = finishedAt
        self.revokedAt = revokedAt
        self.pendingProviders = pendingProviders
        self.activeProviders = activeProviders
        self.planLimitReached = planLimitReached
    }
}

/// A link's state as findings: `link-expired`, `link-used`, `link-revoked`, `session-unfinished`,
/// `plan-limit` come from the rules (rules/link/link-states.yaml) over the `link.state` fact; a link
/// that is fine (not opened yet, or finished) gets an info finding saying so.
public struct LinkDiagnosis: Sendable {
    public let engine: ClassifyEngine

    public init(engine: ClassifyEngine) { self.engine = engine }

    /// The `link.state` values that hold, most telling first. More than one can: an expired link
    /// whose session granted access but never finished is both unfinished and expired.
    public static func states(_ link: LinkSnapshot, now: Date) -> [String] {
        if link.revokedAt != nil { return ["revoked"] }
        if link.finishedAt != nil { return [] }
        var states: [String] = []
        let expired = now >= link.expiresAt
        if link.openedAt != nil {
            if !link.pendingProviders.isEmpty { states.append("unfinished") }
            if link.planLimitReached || (link.maxSources.map { link.pendingProviders.count >= $0 } ?? false) {
                states.append("plan-limit")
            }
            if expired {
                states.append("expired")
            } else if link.pendingProviders.isEmpty {
                // Opened, nothing granted yet: the session belongs to the browser that opened it;
                // any other open of the link is refused as used.
                states.append("used")
            }
        } else if expired {
            states.append("expired")
        }
        return states
    }

    public static func facts(_ link: LinkSnapshot, state: String?, now: Date) -> Facts {
        var facts = Facts()
        facts.set("link.id", link.id)
        facts.set("link.client", link.client)
        if let state { facts.set("link.state", state) }
        facts.set("link.expires_at", RFC3339.string(link.expiresAt))
        facts.set("link.expires_in", Int(link.expiresAt.timeIntervalSince(now).rounded()))
        if let opened = link.openedAt { facts.set("link.opened_at", RFC3339.string(opened)) }
        if let finished = link.finishedAt { facts.set("link.finished_at", RFC3339.string(finished)) }
        if let revoked = link.revokedAt { facts.set("link.revoked_at", RFC3339.string(revoked)) }
        if !link.sources.isEmpty { facts.set("link.sources", .list(link.sources.map { .string($0) })) }
        if let max = link.maxSources { facts.set("link.max_sources", max) }
        if !link.pendingProviders.isEmpty { facts.set("link.connections.pending", .list(link.pendingProviders.map { .string($0) })) }
        if !link.activeProviders.isEmpty { facts.set("link.connections.active", .list(link.activeProviders.map { .string($0) })) }
        return facts
    }

    public func report(_ link: LinkSnapshot, now: Date = Date()) -> Report {
        let states = Self.states(link, now: now)
        let factSets = states.isEmpty ? [Self.facts(link, state: nil, now: now)] : states.map { Self.facts(link, state: $0, now: now) }
        var findings = engine.classifier.classify(factSets)
        var note: String?
        if states.isEmpty, findings.count == 1, findings[0].failure == "unknown" {
            note = healthyNote(link)
            findings = []
        }
        var report = Report(id: link.id, inputKind: "link", source: nil, provider: nil, providerDetected: false,
                            httpStatus: nil, evidenceShowsFailure: !states.isEmpty, findings: findings, facts: nil,
                            rulesVersion: engine.ruleSet.version)
        report.note = note
        return report
    }

    func healthyNote(_ link: LinkSnapshot) -> String {
        if link.finishedAt != nil {
            let active = link.activeProviders.isEmpty ? "no connections" : "active connections: " + link.activeProviders.joined(separator: ", ")
            return "The client finished the link session; \(active)."
        }
        return "The link has not been opened yet; it stays valid until \(RFC3339.string(link.expiresAt))."
    }
}
