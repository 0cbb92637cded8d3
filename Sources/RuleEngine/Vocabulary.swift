import EvidenceModel

/// The stable identifiers of DESIGN.md. Reports, rules and tests use exactly these.
public enum Vocabulary {
    public static let categories: Set<String> = ["source", "destination", "api-token", "link"]

    public static let failures: [String] = [
        "credentials", "token-missing", "scopes", "permissions", "expiry", "revoked", "multi-account", "looker-400",
        "connectivity", "outage", "configuration", "network-policy", "subscription", "rate-limit",
        "link-expired", "link-used", "link-revoked", "session-unfinished", "plan-limit", "unknown",
    ]

    public static let severities: [String] = ["error", "warning", "info"]
    public static let actors: Set<String> = ["client", "engineer", "provider"]

    /// Who takes the next step, when a rule does not say (docs/RULES.md "Who acts"):
    /// `client` — the account owner re-authorizes, grants, changes their own firewall or network
    /// policy; `engineer` — our support or configuration, our own network and refresh flow;
    /// `provider` — an outage or throttling on their side.
    public static func defaultActor(for failure: String) -> String {
        switch failure {
        case "outage", "rate-limit": return "provider"
        case "connectivity", "configuration", "subscription", "token-missing", "unknown",
             "link-expired", "link-used", "link-revoked", "session-unfinished", "plan-limit":
            return "engineer"
        default: return "client"
        }
    }

    /// What a finding of each class explains when its rule does not say (`explains:`): a revoked
    /// grant is why an access token stops working and cannot be refreshed; a grant by the wrong
    /// account is why the account's data is out of reach.
    public static func defaultExplains(for failure: String) -> [String] {
        switch failure {
        case "revoked": return ["expiry"]
        case "multi-account": return ["permissions"]
        default: return []
        }
    }

    /// Who may take the next step for each failure class (`rules lint` checks every rule's actor).
    public static func allowedActors(for failure: String) -> [String] {
        switch failure {
        case "outage": return ["provider"]
        case "rate-limit": return ["provider", "engineer"]
        case "connectivity": return ["engineer", "client", "provider"]
        case "unknown": return ["engineer"]
        default: return ["client", "engineer"]
        }
    }

    public static func defaultTransient(for failure: String, transportError: String?) -> Bool {
        switch failure {
        case "outage", "rate-limit": return true
        case "connectivity": return transportError == "timeout" || transportError == "reset"
        default: return false
        }
    }

    /// Fact names rules may use: exact names, and prefixes ending in "." or "[" for families.
    public static let factNames: Set<String> = [
        "provider", "provider.detected", "input.kind", "http.status", "http.content_type", "body", "body.format",
        "message", "text", "curl.code", "curl.name", "transport.error", "browser.error", "redirect.count",
        "redirect.loop", "url", "url.host", "url.path", "url.authuser", "url.authuser.distinct", "url.query.error",
        "url.query.error_description", "request.auth.scheme", "sqlstate", "retry_after", "link.state",
        // Pasted text (TextEvidence): what only prose carries.
        "oauth.error", "exception", "grpc.status", "snowflake.code", "driver.code", "text.error_lines", "url.endpoint", "text.hosts", "text.provider",
        "text.structured", "text.http.status",
    ]
    public static let factPrefixes: [String] = [
        "http.header.", "www-authenticate.", "body.", "body[", "token.", "scopes.", "account.", "har.", "probe.",
        "link.", "expect.", "db.", "permissions.",
        // network.refused_ip (DerivedFacts), network.local_outage / network.local_failure (diagnosis).
        "network.",
    ]

    public static func isKnownFact(_ name: String) -> Bool {
        factNames.contains(name) || factPrefixes.contains(where: { name.hasPrefix($0) && name.count > $0.count })
    }

    /// " (did you mean 'x'?)" for a mistyped fact name: the nearest exact name, or a family name
    /// whose last segment is mistyped (`body.eror.code` → `body.error.code` is not known, so only
    /// exact names and the family prefixes themselves are offered).
    public static func factHint(_ name: String) -> String {
        if let exact = Suggestion.nearest(name, among: factNames.sorted()) { return " (did you mean '\(exact)'?)" }
        // A mistyped family prefix: `http.heder.x` → `http.header.x`.
        if let dot = name.firstIndex(of: ".") {
            let head = String(name[...dot])
            let rest = name[name.index(after: dot)...]
            if let prefix = Suggestion.nearest(head, among: factPrefixes.filter { $0.hasSuffix(".") }) {
                return " (did you mean '\(prefix)\(rest)'?)"
            }
        }
        return ""
    }
}
