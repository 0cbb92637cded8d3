import EvidenceModel
import Foundation

/// The diagnosis-level facts (docs/PROVIDERS.md): what the steps' answers say together, compared
/// with what the connection needs. Pure: values in, facts out.
struct DiagnosisFactBuilder {
    /// One `yields` entry that found something in a step's answer.
    struct Yield {
        var fact: String
        var values: [JSONValue]
        var isList: Bool
        var step: String
    }

    var provider: String
    var requiredScopes: [String]
    var expectAccount: String?
    var warnExpiry: Double
    var now: Date
    /// The definition's `required-permissions` (a destination's write rights).
    var requiredPermissions: [String] = []

    func facts(yields: [Yield], records: [ProbeRecord]) -> Facts {
        var facts = Facts(capacity: 48)
        facts.set("input.kind", "diagnosis")
        ProviderDetector.apply(given: provider, to: &facts)

        var granted: [String] = []
        var declined: [String] = []
        var sawGranted = false
        var times: [String: Int] = [:]
        var valid: Bool?
        for y in yields {
            switch y.fact {
            case "scopes.granted":
                // An empty list (an invalid token's debug_token) says nothing about the grant.
                let words = y.values.flatMap(Self.scopeWords)
                if !words.isEmpty { sawGranted = true }
                granted += words
            case "scopes.declined":
                declined += y.values.flatMap(Self.scopeWords)
            case "token.valid", "token.active":
                if let b = y.values.compactMap(Self.bool).first {
                    valid = (valid ?? true) && b
                    if y.fact == "token.active" { facts.setIfAbsent("token.active", .bool(b)) }
                }
            case let name where UTF8Scan.hasSuffix(name, "expires_at") || UTF8Scan.hasSuffix(name, "issued_at"):
                // Epoch seconds (milliseconds are recognised by size); 0 means "never" (Facebook).
                guard let seconds = y.values.compactMap(Self.epochSeconds).first, seconds > 0 else { continue }
                times[name] = min(times[name] ?? Int.max, seconds)
            case let name where UTF8Scan.hasSuffix(name, "expires_in"):
                // From the network: clamped to a century either way before any Int arithmetic.
                guard let raw = y.values.compactMap(Self.number).first else { continue }
                let seconds = NumberInput.clamp(raw, to: NumberInput.Bounds(-3_153_600_000, 3_153_600_000))
                facts.setIfAbsent(name, .int(Int(seconds)))
                let absolute = String(name.dropLast("expires_in".count)) + "expires_at"
                let at = Int(now.timeIntervalSince1970 + seconds)
                times[absolute] = min(times[absolute] ?? Int.max, at)
            default:
                if y.isList {
                    // A list a 2xx answer holds, even empty: `NAME.count` tells "no ad accounts".
                    var items = facts[y.fact]?.elements ?? []
                    for value in y.values.map(FactValue.init) where !items.contains(value) { items.append(value) }
                    if !items.isEmpty { facts.set(y.fact, .list(items)) }
                    facts.set(y.fact + ".count", items.count)
                } else if let first = y.values.first {
                    facts.setIfAbsent(y.fact, FactValue(first))
                }
            }
        }
        for (name, value) in times { facts.set(name, .int(value)) }
        if let valid { facts.set("token.valid", valid) }

        // Scopes: what the connector needs against what the grant holds.
        let grantedSet = granted.uniqued()
        if sawGranted { facts.set("scopes.granted", .list(grantedSet.map { .string($0) })) }
        let declinedSet = declined.uniqued().filter { !grantedSet.contains($0) }
        if !declinedSet.isEmpty { facts.set("scopes.declined", .list(declinedSet.map { .string($0) })) }
        let required = requiredScopes.uniqued()
        if !required.isEmpty {
            facts.set("scopes.required", .list(required.map { .string($0) }))
            let missing: [String]
            if sawGranted {
                missing = required.filter { !grantedSet.contains($0) }
            } else {
                missing = required.filter { declinedSet.contains($0) }
            }
            if !missing.isEmpty { facts.set("scopes.missing", .list(missing.map { .string($0) })) }
        }

        // Permissions: what a loader needs against what a permission test granted.
        if !requiredPermissions.isEmpty {
            facts.set("permissions.required", .list(requiredPermissions.map { .string($0) }))
            if facts["permissions.granted.count"] != nil {
                let granted = Set((facts["permissions.granted"]?.elements ?? []).compactMap(\.stringValue))
                let missing = requiredPermissions.filter { !granted.contains($0) }
                if !missing.isEmpty { facts.set("permissions.missing", .list(missing.map { .string($0) })) }
            }
        }

        // The account the grant belongs to, against the one expected.
        if let expected = expectAccount?.trimmedWhitespace(), !expected.isEmpty {
            facts.set("account.expected", expected)
            if let mismatch = Self.mismatch(expected: expected, facts: facts) { facts.set("account.mismatch", mismatch) }
        }

        // Expiry of the token and (Facebook) of its data access.
        let nowSeconds = Int(now.timeIntervalSince1970)
        for prefix in ["token.", "token.data_access_"] {
            guard let at = facts.int(prefix + "expires_at") else { continue }
            let remaining = at - nowSeconds
            facts.set(prefix + "expires_in", remaining)
            facts.set(prefix + "expires_on", RFC3339.string(epoch: at))
            facts.set(prefix + "expired", remaining <= 0)
            if warnExpiry > 0 { facts.set(prefix + "expiring_soon", remaining > 0 && Double(remaining) <= warnExpiry) }
        }
        if warnExpiry > 0 { facts.set("probe.warn_expiry", Int(min(warnExpiry, 1e15))) }

        // What the probes did.
        // One pass over the records, naming steps only (records are large to copy).
        var ran = 0
        var failed: [FactValue] = []
        var unexpected: [FactValue] = []
        var html: [FactValue] = []
        var transport: [FactValue] = []
        for record in records where record.outcome != .skipped {
            ran += 1
            if record.outcome != .ok { failed.append(.string(record.step)) }
            if record.outcome == .unexpectedBody { unexpected.append(.string(record.step)) }
            if record.bodyShape == "html" { html.append(.string(record.step)) }
            if record.outcome == .transportError { transport.append(.string(record.step)) }
        }
        facts.set("probe.steps", ran)
        facts.set("probe.ok", ran - failed.count)
        facts.set("probe.failed", failed.count)
        facts.set("probe.skipped", records.count - ran)
        if !failed.isEmpty { facts.set("probe.failed_steps", .list(failed)) }
        if !unexpected.isEmpty { facts.set("probe.unexpected_body", .list(unexpected)) }
        if !html.isEmpty { facts.set("probe.html_body", .list(html)) }
        if !transport.isEmpty { facts.set("probe.transport_failed", .list(transport)) }
        LocalNetwork.facts(records, into: &facts)
        return facts
    }

    /// Whether the granted account differs from the expected one; nil when no answer named an account.
    static func mismatch(expected: String, facts: Facts) -> Bool? {
        if expected.contains("@") {
            let emails = (facts["account.email"]?.elements ?? []).compactMap(\.stringValue)
            guard !emails.isEmpty else { return nil }
            return !emails.contains { $0.caseInsensitiveCompare(expected) == .orderedSame }
        }
        let identities = ["account.id", "account.name", "account.email"].flatMap { (facts[$0]?.elements ?? []).compactMap(\.stringValue) }
        guard !identities.isEmpty else { return nil }
        return !identities.contains { $0 == expected || $0.caseInsensitiveCompare(expected) == .orderedSame }
    }

    static func scopeWords(_ value: JSONValue) -> [String] {
        switch value {
        case let .string(s): return UTF8Scan.words(s, separatedBy: { $0 == 0x20 || $0 == 0x2C })
        case let .array(items): return items.flatMap(scopeWords)
        default: return []
        }
    }

    static func bool(_ value: JSONValue) -> Bool? {
        switch value {
        case let .bool(b): return b
        case let .int(i): return i != 0
        case let .string(s):
            switch s.lowercased() {
            case "true", "active", "1", "yes": return true
            case "false", "inactive", "0", "no": return false
            default: return nil
            }
        default: return nil
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case let .int(i): return Double(i)
        case let .double(d): return d.isFinite ? d : nil
        case let .string(s): return Double(s.trimmedWhitespace()).flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    static func epochSeconds(_ value: JSONValue) -> Int? {
        guard let n = number(value), n >= 0, n < 1e15 else { return nil }
        return n > 1e11 ? Int(n / 1000) : Int(n)
    }
}

extension Report {
    /// A Unix time as "2031-01-01T00:00:00Z" (UTC), without a date formatter.
    public static func timestamp(_ epoch: Int) -> String { RFC3339.string(epoch: epoch) }
}
