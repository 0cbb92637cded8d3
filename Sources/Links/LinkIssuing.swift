import EvidenceModel
import Foundation

/// The providers a link may ask for: every provider id authdoctor knows, and those a client signs
/// in to through OAuth (an `oauth:` section in its definition). Built from the provider definitions
/// by the caller (the CLI and `serve` load them; this library does not).
public struct LinkSourceCatalog: Sendable {
    public var known: Set<String>
    public var withOAuth: Set<String>

    public init(known: Set<String>, withOAuth: Set<String>) {
        self.known = known
        self.withOAuth = withOAuth
    }
}

/// What a link is issued for: `authdoctor links issue` flags, or the body of `POST /api/links`.
public struct LinkRequest: Sendable, Equatable {
    public var client: String
    /// Provider ids, as given (checked by `LinkIssuing.issue`); empty = any provider.
    public var sources: [String]
    public var ttl: TimeInterval
    public var maxSources: Int?

    public init(client: String, sources: [String], ttl: TimeInterval, maxSources: Int?) {
        self.client = client
        self.sources = sources
        self.ttl = ttl
        self.maxSources = maxSources
    }
}

/// Issuing and revoking links, shared by `authdoctor links` and the operator API of `serve`, so a
/// link issued either way is checked the same way and answered in the same shape. `label` names
/// where a value came from in messages (`--sources` on the command line, `sources` in a JSON body).
public enum LinkIssuing {
    public static let defaultTTL = "24h"
    public static let maxClientLength = 200

    /// `24h`, `90m`, `3600s`, `7d`: a positive whole number and one unit, at most 365 days.
    public static func parseTTL(_ text: String) -> TimeInterval? {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last, let scale = units[unit] else { return nil }
        let digits = text.dropLast()
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let n = Int(digits), n > 0 else {
            return nil
        }
        let seconds = TimeInterval(n) * scale
        return seconds <= 365 * 86_400 ? seconds : nil
    }

    public static func describeTTL(_ seconds: TimeInterval) -> String {
        let s = Int(seconds)
        if s % 86_400 == 0 { return "\(s / 86_400)d" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }

    public static func ttlProblem(_ text: String, label: String) -> String? {
        parseTTL(text) == nil
            ? "\(label) must be a positive whole number with a unit s, m, h or d, at most 365d (e.g. 24h, 90m, 7d), not '\(DisplayText.safe(String(text.prefix(40))))'"
            : nil
    }

    /// The client's name as kept (trimmed), or why it cannot be one.
    public static func clientProblem(_ client: String, label: String) -> String? {
        let name = client.trimmingCharacters(in: .whitespaces)
        if name.isEmpty { return "\(label) needs a name" }
        if name.count > maxClientLength || name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "\(label) must be one line of at most \(maxClientLength) characters"
        }
        return nil
    }

    public static func maxSourcesProblem(_ maxSources: Int?, label: String) -> String? {
        guard let maxSources, maxSources < 1 else { return nil }
        return "\(label) must be 1 or more, not \(maxSources)"
    }

    /// The requested provider ids, each one a provider a link can connect: known, signed in through
    /// OAuth, and (when `connectable` is given: what `serve` has an OAuth client for) connectable.
    /// Anything else is refused (64), naming the providers that can be connected. Duplicates drop.
    public static func resolveSources(_ ids: [String], catalog: LinkSourceCatalog, connectable: [String]?, label: String) throws(InputError) -> [String] {
        let can = connectable.map { catalog.withOAuth.intersection($0) } ?? catalog.withOAuth
        let canText = can.isEmpty ? "none: start authdoctor serve with --oauth-client PROVIDER=CLIENT_ID" : can.sorted().joined(separator: ", ")
        var refused: [String] = []
        for id in ids {
            if !catalog.known.contains(id) {
                refused.append("\(DisplayText.safe(String(id.prefix(80)))) (unknown provider)")
            } else if !catalog.withOAuth.contains(id) {
                refused.append("\(id) (not connected through an OAuth sign-in)")
            } else if !can.contains(id) {
                refused.append("\(id) (authdoctor serve has no OAuth client for it: --oauth-client \(id)=CLIENT_ID)")
            }
        }
        if !refused.isEmpty {
            throw InputError(.usage, "\(label): a link cannot connect \(refused.joined(separator: ", ")); providers that can be connected: \(canText)")
        }
        var seen = Set<String>()
        return ids.filter { seen.insert($0).inserted }
    }

    /// Checks the request (client, limit, sources against the catalog and what can be connected)
    /// and issues the link. `labels` name the fields in messages: client, sources, maxSources.
    public static func issue(_ request: LinkRequest, store: any AuthDoctorStore, catalog: LinkSourceCatalog, connectable: [String]?,
                             labels: (client: String, sources: String, maxSources: String), now: Date) throws -> IssuedLink {
        if let problem = clientProblem(request.client, label: labels.client) { throw InputError(.usage, problem) }
        if let problem = maxSourcesProblem(request.maxSources, label: labels.maxSources) { throw InputError(.usage, problem) }
        let sources = try resolveSources(request.sources, catalog: catalog, connectable: connectable, label: labels.sources)
        return try store.issueLink(client: request.client.trimmingCharacters(in: .whitespaces), sources: sources,
                                   maxSources: request.maxSources, ttl: request.ttl, now: now)
    }

    /// Revokes a link; an unknown id is a one-line error (66).
    public static func revoke(id: String, store: any AuthDoctorStore, now: Date) throws -> AuthorizationLink {
        do {
            return try store.revokeLink(id: id, now: now)
        } catch LinkRefusal.unknownLink {
            throw unknownLink(id)
        }
    }

    public static func unknownLink(_ id: String) -> InputError {
        InputError(.noInput, "no link has the id '\(DisplayText.safe(String(id.prefix(80))))' (see: authdoctor links list)")
    }

    /// `<public-url>/l/<token>`.
    public static func url(base: String, token: String) -> String { base + "/l/" + token }
}

/// The JSON shapes of links, connections and verdicts, the same from the CLI (`--format json`) and
/// from the operator API (schema/openapi.yaml documents them).
public enum LinkJSON {
    public static func iso(_ date: Date) -> String { RFC3339.string(date) }

    public static func iso(_ date: Date?) -> JSONValue { date.map { .string(iso($0)) } ?? .null }

    public static func link(_ link: AuthorizationLink, now: Date, connections: [StoredConnection]?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .string(link.id)), ("client", .string(link.client)), ("state", .string(link.state(at: now).rawValue)),
            ("sources", .array(link.sources.map { .string($0) })), ("maxSources", link.maxSources.map { .int($0) } ?? .null),
            ("createdAt", .string(iso(link.createdAt))), ("expiresAt", .string(iso(link.expiresAt))),
            ("openedAt", iso(link.openedAt)), ("finishedAt", iso(link.finishedAt)), ("revokedAt", iso(link.revokedAt)),
        ]
        if let connections { members.append(("connections", .array(connections.map(connection)))) }
        return .object(members)
    }

    /// A link just issued: the only answer that holds its URL.
    public static func issued(_ link: AuthorizationLink, url: String) -> JSONValue {
        .object([
            ("id", .string(link.id)), ("url", .string(url)), ("expiresAt", .string(iso(link.expiresAt))),
            ("client", .string(link.client)), ("sources", .array(link.sources.map { .string($0) })),
            ("maxSources", link.maxSources.map { .int($0) } ?? .null), ("createdAt", .string(iso(link.createdAt))),
        ])
    }

    public static func connection(_ c: StoredConnection) -> JSONValue {
        .object([
            ("id", .string(c.id)), ("linkId", .string(c.linkID)), ("client", .string(c.client)), ("provider", .string(c.provider)),
            ("account", c.account.map { .string($0) } ?? .null), ("status", .string(c.status.rawValue)),
            ("scopes", .array(c.scopes.map { .string($0) })), ("createdAt", .string(iso(c.createdAt))),
            ("activatedAt", iso(c.activatedAt)), ("accessTokenExpiresAt", iso(c.accessTokenExpiresAt)), ("renewedAt", iso(c.renewedAt)),
        ])
    }

    public static func verdict(_ v: CheckVerdict) -> JSONValue {
        .object([("checkedAt", .string(iso(v.checkedAt))), ("status", .string(v.status)), ("failure", .string(v.failure)),
                 ("summary", .string(v.summary))])
    }

    public static func operatorAccount(_ account: OperatorAccount) -> JSONValue {
        .object([("name", .string(account.name)), ("createdAt", .string(iso(account.createdAt))), ("lastUsedAt", iso(account.lastUsedAt))])
    }

    public static func audit(_ entry: AuditEntry) -> JSONValue {
        .object([("at", .string(iso(entry.at))), ("operator", .string(entry.actor)), ("method", .string(entry.method)),
                 ("route", .string(entry.route)), ("target", entry.target.map { .string($0) } ?? .null), ("status", .int(entry.status))])
    }
}

/// Text safe for a terminal or a message: control characters (C0, DEL, C1: terminal escapes such
/// as `\u{1B}[2J`, carriage returns, backspaces) and bidirectional overrides become `?`, so a value
/// that came from the network cannot rewrite the screen or hide what is around it.
public enum DisplayText {
    public static func safe(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isUnsafe) else { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars { out.append(isUnsafe(scalar) ? "?" : scalar) }
        return String(out)
    }

    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidi marks, embeddings, overrides, isolates
        default: return false
        }
    }
}

/// The OAuth app the Sandbox's authorization servers accept, for `serve --sandbox` and `check --sandbox` (any non-empty id does; `sbx-deny` is refused).
public enum SandboxOAuthClient {
    public static let clientID = "sbx-link-client"
    public static let clientSecret = "sbx-link-client-secret"
}
