import Foundation

// The authorization-link issuer's storage contract (authorize-via-link; DESIGN.md "Links").
// One store type per backend (SQLite via GRDB first), methods named for their intent, every
// state change atomic in the store: two concurrent redemptions of one link, exactly one wins.
//
// Secrets never leave this layer in clear except where a caller needs them once:
// - a link token is returned by `issueLink` only; the store keeps its SHA-256;
// - a session's browser secret (cookie) likewise, returned by `openLink` only;
// - provider tokens are sealed (AES-GCM) before they are written and opened only by
//   `connectionCredentials`.

/// What a link is now. Derived from its timestamps and the clock, never stored as such.
public enum LinkState: String, Sendable, Codable, CaseIterable {
    /// Issued, never opened.
    case issued
    /// Opened: a session exists; the client may be connecting sources. Not finished yet.
    case opened
    /// The client pressed Finish: the session's connections are active.
    case finished
    /// Past its expiry without being finished (a session not finished in time activates nothing).
    case expired
    /// Revoked by the engineer.
    case revoked
}

public struct AuthorizationLink: Sendable, Equatable, Codable {
    /// Public, not secret: what the engineer uses in `links show ID` (e.g. `lnk_7f3k9q2m4x`).
    public var id: String
    public var client: String
    /// Provider ids the client is asked to connect; empty = any provider with an OAuth definition.
    public var sources: [String]
    /// Most connections one session may make (plan limit); nil = no limit.
    public var maxSources: Int?
    public var createdAt: Date
    public var expiresAt: Date
    public var openedAt: Date?
    public var finishedAt: Date?
    public var revokedAt: Date?

    public init(id: String, client: String, sources: [String], maxSources: Int?, createdAt: Date, expiresAt: Date,
                openedAt: Date? = nil, finishedAt: Date? = nil, revokedAt: Date? = nil) {
        self.id = id
        self.client = client
        self.sources = sources
        self.maxSources = maxSources
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.openedAt = openedAt
        self.finishedAt = finishedAt
        self.revokedAt = revokedAt
    }

    public func state(at now: Date) -> LinkState {
        if revokedAt != nil { return .revoked }
        if finishedAt != nil { return .finished }
        if now >= expiresAt { return .expired }
        return openedAt == nil ? .issued : .opened
    }
}

/// `issueLink`'s answer: the only moment the link's secret token exists in clear.
public struct IssuedLink: Sendable {
    public var link: AuthorizationLink
    /// ≥ 128 bits from a CSPRNG, base64url; goes into the URL (`<public-url>/l/<token>`), never into the store.
    public var token: String

    public init(link: AuthorizationLink, token: String) {
        self.link = link
        self.token = token
    }
}

/// The browser session the first open of a link starts. Bound to that browser by a cookie secret.
public struct LinkSession: Sendable, Equatable, Codable {
    public var id: String
    public var linkID: String
    public var createdAt: Date
    /// The link's expiry: a session cannot outlive its link.
    public var expiresAt: Date
    public var finishedAt: Date?

    public init(id: String, linkID: String, createdAt: Date, expiresAt: Date, finishedAt: Date? = nil) {
        self.id = id
        self.linkID = linkID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.finishedAt = finishedAt
    }
}

/// `openLink`'s answer: the new session and its cookie secret (only here in clear).
public struct OpenedSession: Sendable {
    public var session: LinkSession
    public var link: AuthorizationLink
    public var cookieSecret: String

    public init(session: LinkSession, link: AuthorizationLink, cookieSecret: String) {
        self.session = session
        self.link = link
        self.cookieSecret = cookieSecret
    }
}

/// Why a link or a step of its flow was refused. The server turns each into a clear page (HTTP 410
/// for the link states, 400/403 for the flow), `diagnose --link` into a finding.
public enum LinkRefusal: Error, Sendable, Equatable {
    /// No link has this token / id (wrong or tampered token).
    case unknownLink
    case expired(AuthorizationLink)
    case revoked(AuthorizationLink)
    /// Opened before (single use): `link.openedAt` says when.
    case alreadyUsed(AuthorizationLink)
    case alreadyFinished(AuthorizationLink)
    /// The cookie does not name a live session of this link.
    case noSession
    /// An OAuth `state` that is unknown, already consumed, or bound to another session.
    case badState
    /// The provider is not among the link's sources (or has no OAuth definition).
    case providerNotAllowed(String)
    /// `maxSources` reached.
    case planLimit(Int)
}

/// One OAuth authorization-code attempt of a session (PKCE S256), consumed once by the callback.
public struct PendingAuthorization: Sendable, Equatable {
    public var sessionID: String
    public var linkID: String
    public var provider: String
    /// The PKCE code verifier (43–128 chars); stored sealed, returned in clear by `consumeAuthorization` only.
    public var codeVerifier: String
    public var redirectURI: String
    public var createdAt: Date

    public init(sessionID: String, linkID: String, provider: String, codeVerifier: String, redirectURI: String, createdAt: Date) {
        self.sessionID = sessionID
        self.linkID = linkID
        self.provider = provider
        self.codeVerifier = codeVerifier
        self.redirectURI = redirectURI
        self.createdAt = createdAt
    }
}

public enum ConnectionStatus: String, Sendable, Codable {
    /// Granted in a session that has not been finished: not visible to the engineer's pipelines yet.
    case pending
    /// Finished: the connection is in use.
    case active
    /// Removed by the engineer (`connections remove`); kept as a record of who connected what.
    case removed
}

/// A provider account a client connected through a link (the record the document asks to keep).
public struct StoredConnection: Sendable, Equatable, Codable {
    public var id: String
    public var linkID: String
    public var client: String
    public var provider: String
    /// What the provider said the account is (e-mail, name, id), for display; never a secret.
    public var account: String?
    public var scopes: [String]
    public var status: ConnectionStatus
    public var createdAt: Date
    public var activatedAt: Date?
    public var accessTokenExpiresAt: Date?
    /// When tokens were last renewed (`check --renew`).
    public var renewedAt: Date?

    public init(id: String, linkID: String, client: String, provider: String, account: String?, scopes: [String],
                status: ConnectionStatus, createdAt: Date, activatedAt: Date? = nil, accessTokenExpiresAt: Date? = nil,
                renewedAt: Date? = nil) {
        self.id = id
        self.linkID = linkID
        self.client = client
        self.provider = provider
        self.account = account
        self.scopes = scopes
        self.status = status
        self.createdAt = createdAt
        self.activatedAt = activatedAt
        self.accessTokenExpiresAt = accessTokenExpiresAt
        self.renewedAt = renewedAt
    }
}

/// Provider tokens in clear: only between the OAuth exchange and the store, and from the store to a probe.
public struct ProviderTokens: Sendable, Equatable {
    public var accessToken: String
    public var refreshToken: String?
    public var expiresAt: Date?
    public var scopes: [String]

    public init(accessToken: String, refreshToken: String? = nil, expiresAt: Date? = nil, scopes: [String] = []) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
        self.scopes = scopes
    }
}

/// One connection's verdict in one `check` run (issue 6's history).
public struct CheckVerdict: Sendable, Equatable, Codable {
    /// The connection's name (connections file `name`, or a stored connection's id).
    public var connection: String
    public var checkedAt: Date
    /// `ok`, `warning`, `critical`, `unknown` (monitoring plugin states).
    public var status: String
    /// The first finding's failure class (`none` when healthy).
    public var failure: String
    public var summary: String
    /// The provider id, when the entry named one (recorded since store schema v3).
    public var provider: String?
    /// Seconds the connection's check took, retries included (since v3).
    public var seconds: Double?
    /// When the connection's token expires (Unix time), where a probe told (since v3).
    public var tokenExpiresAt: Int?

    public init(connection: String, checkedAt: Date, status: String, failure: String, summary: String,
                provider: String? = nil, seconds: Double? = nil, tokenExpiresAt: Int? = nil) {
        self.connection = connection
        self.checkedAt = checkedAt
        self.status = status
        self.failure = failure
        self.summary = summary
        self.provider = provider
        self.seconds = seconds
        self.tokenExpiresAt = tokenExpiresAt
    }
}

/// The storage of links, sessions, connections and check history. Implementations: `SQLiteStore`
/// (GRDB; file or in-memory) and `PostgresStore` (libpq; a team's shared server). Every method is
/// atomic (one transaction); the clock is a parameter so tests pin it. `StoreConformanceTests`
/// runs one suite against both.
public protocol AuthDoctorStore: Sendable {
    /// Where the store is, for messages: the file path, or the PostgreSQL URL without any secret.
    var location: String { get }

    // MARK: links
    func issueLink(client: String, sources: [String], maxSources: Int?, ttl: TimeInterval, now: Date) throws -> IssuedLink
    func link(id: String) throws -> AuthorizationLink?
    /// Newest first.
    func allLinks() throws -> [AuthorizationLink]
    func revokeLink(id: String, now: Date) throws -> AuthorizationLink
    /// The first open of a live link starts its session (exactly one, however many open at once);
    /// every other open throws the refusal that says why (`alreadyUsed`, `expired`, `revoked`, `unknownLink`).
    func openLink(token: String, now: Date) throws -> OpenedSession
    /// The link a token names, whatever its state (for the page shown on a refused open); nil if unknown.
    func link(token: String) throws -> AuthorizationLink?
    /// The live session a browser's cookie names for this link token, or a refusal.
    func session(token: String, cookieSecret: String, now: Date) throws -> (LinkSession, AuthorizationLink)

    // MARK: OAuth flow
    /// Records a PKCE attempt; returns the opaque `state` (≥128 bits) to send to the provider.
    func beginAuthorization(_ pending: PendingAuthorization) throws -> String
    /// The callback's `state`: consumed exactly once (a replayed callback gets `badState`).
    func consumeAuthorization(state: String, now: Date) throws -> PendingAuthorization
    /// A granted connection, pending until the session is finished; `planLimit` past `maxSources`.
    func addConnection(sessionID: String, provider: String, account: String?, tokens: ProviderTokens, now: Date) throws -> StoredConnection
    /// Finish: activates the session's pending connections and returns them. A session past its
    /// expiry, of a revoked link, or finished before activates nothing and throws that refusal.
    func finishSession(id: String, now: Date) throws -> [StoredConnection]
    func connections(sessionID: String) throws -> [StoredConnection]

    // MARK: connections
    /// Every connection, any status, newest first.
    func allConnections() throws -> [StoredConnection]
    func connection(id: String) throws -> StoredConnection?
    func removeConnection(id: String, now: Date) throws -> StoredConnection
    func connectionCredentials(id: String) throws -> ProviderTokens
    /// Rotated tokens from a renewal, written atomically with `renewedAt`.
    func storeRenewedTokens(connectionID: String, tokens: ProviderTokens, now: Date) throws

    // MARK: check history (issue 6)
    func recordVerdicts(_ verdicts: [CheckVerdict]) throws
    /// Newest first.
    func verdicts(connection: String, limit: Int) throws -> [CheckVerdict]
    /// Rotated tokens of a connection that comes from a connections file, keyed by its name.
    func renewedTokens(connectionName: String) throws -> ProviderTokens?
    /// The names that have renewed tokens (one query, so a run over many file connections asks
    /// `renewedTokens` only for those); nil when the store cannot tell cheaply.
    func renewedConnectionNames() throws -> Set<String>?
    func storeRenewedTokens(connectionName: String, tokens: ProviderTokens, now: Date) throws

    // MARK: listings and upkeep
    /// Every connection made through one link (any status), oldest first.
    func connections(linkID: String) throws -> [StoredConnection]
    /// The session a link's first open started, if it was opened.
    func session(linkID: String) throws -> LinkSession?
    /// Pending (unconsumed) OAuth attempts of a session.
    func pendingAuthorizations(sessionID: String) throws -> Int
    /// The newest `perConnection` verdicts of every connection with a history, each newest first.
    func recentVerdicts(perConnection: Int) throws -> [String: [CheckVerdict]]
    /// A value that changes whenever a verdict is recorded or removed (the console keeps what it
    /// derived from `recentVerdicts` until it does); nil when the backend cannot tell.
    func checkHistoryVersion() throws -> String?
    /// Verdicts recorded after verdict id `afterID`, in id order, with their ids (at most `limit`);
    /// nil when the backend cannot tell. The console reads only these after a check run.
    func verdicts(afterID: Int64, limit: Int) throws -> [(id: Int64, verdict: CheckVerdict)]?
    /// A value that changes whenever a connection is added, activated or removed (or erased by
    /// `prune`); nil when the backend cannot tell.
    func connectionsVersion() throws -> String?
    /// Removes what can never be used again, in one transaction.
    func prune(now: Date) throws -> PruneReport
    /// Re-encrypts every sealed value under `newBox`, in one transaction; returns how many.
    func rotateKey(to newBox: SecretBox) throws -> Int
    func recordConnectableProviders(_ providers: [String], now: Date) throws
    func connectableProviders() throws -> [String]?

    // MARK: operators and the audit log (the operator API of `serve`; schema v4)
    /// A new operator with a fresh token (returned here only; the store keeps its SHA-256). A bad
    /// name is refused (64), a name in use too (65): a token is never replaced in place.
    func addOperator(name: String, now: Date) throws -> NewOperator
    /// Every operator, by name; never a token.
    func operatorAccounts() throws -> [OperatorAccount]
    /// Removes the operator: its token stops working at once; its audit entries stay. Unknown: 66.
    func removeOperator(name: String, now: Date) throws -> OperatorAccount
    /// The operator whose token this is (its last use set to `now`), or nil. Looked up by the
    /// token's SHA-256 and compared in constant time.
    func authenticateOperator(token: String, now: Date) throws -> OperatorAccount?
    func recordAudit(_ entry: AuditEntry) throws
    /// Entries at or after `since` (all when nil) of one actor (all when nil), oldest first.
    func auditEntries(since: Date?, actor: String?) throws -> [AuditEntry]

    // MARK: schema and moves (`authdoctor store migrate|status|copy`)
    /// Migrations applied to this store, in order, and the ones this build knows.
    func schemaStatus() throws -> SchemaStatus
    /// Applies the migrations this build knows and the store lacks; returns their names.
    func migrate() throws -> [String]
    /// Every row of one table, in `StoreTables` column order (sealed values as they are stored).
    func exportRows(_ table: StoreTable) throws -> [[StoreValue]]
    /// Rows written as they are, all tables in one transaction (the store must hold no data).
    func importRows(_ tables: [(StoreTable, [[StoreValue]])]) throws
}

extension AuthDoctorStore {
    public func renewedConnectionNames() throws -> Set<String>? { nil }
    public func checkHistoryVersion() throws -> String? { nil }
    public func verdicts(afterID: Int64, limit: Int) throws -> [(id: Int64, verdict: CheckVerdict)]? { nil }
    public func connectionsVersion() throws -> String? { nil }
}

/// What `store status` shows.
public struct SchemaStatus: Sendable, Equatable {
    public var backend: String
    public var applied: [String]
    public var known: [String]
    /// Rows per table, in `StoreTables.all` order.
    public var rows: [(String, Int)]

    public init(backend: String, applied: [String], known: [String], rows: [(String, Int)]) {
        self.backend = backend
        self.applied = applied
        self.known = known
        self.rows = rows
    }

    public var pending: [String] { known.filter { !applied.contains($0) } }
    /// Migrations in the store this build does not know (a newer authdoctor wrote them).
    public var unknown: [String] { applied.filter { !known.contains($0) } }

    public static func == (a: SchemaStatus, b: SchemaStatus) -> Bool {
        a.backend == b.backend && a.applied == b.applied && a.known == b.known
            && a.rows.map(\.0) == b.rows.map(\.0) && a.rows.map(\.1) == b.rows.map(\.1)
    }
}

/// A stored value, as `store copy` moves it between backends.
public enum StoreValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// A table's column types (the same in both backends).
public enum StoreColumnType: Sendable { case integer, real, text, blob }

public struct StoreTable: Sendable, Equatable {
    public var name: String
    public var columns: [String]
    public var types: [StoreColumnType]

    init(_ name: String, _ columns: [(String, StoreColumnType)]) {
        self.name = name
        self.columns = columns.map(\.0)
        self.types = columns.map(\.1)
    }

    public static func == (a: StoreTable, b: StoreTable) -> Bool { a.name == b.name }
}

/// The tables `store copy` moves, parents before children.
public enum StoreTables {
    public static let all: [StoreTable] = [
        StoreTable("key_check", [("id", .integer), ("sealed", .blob)]),
        StoreTable("links", [("id", .text), ("token_hash", .blob), ("client", .text), ("sources", .text), ("max_sources", .integer),
                             ("created_at", .real), ("expires_at", .real), ("opened_at", .real), ("finished_at", .real), ("revoked_at", .real)]),
        StoreTable("sessions", [("id", .text), ("link_id", .text), ("cookie_hash", .blob), ("created_at", .real), ("expires_at", .real),
                                ("finished_at", .real)]),
        StoreTable("authorizations", [("state_hash", .blob), ("session_id", .text), ("link_id", .text), ("provider", .text),
                                      ("verifier_sealed", .blob), ("redirect_uri", .text), ("created_at", .real), ("consumed_at", .real)]),
        StoreTable("connections", [("id", .text), ("link_id", .text), ("session_id", .text), ("client", .text), ("provider", .text),
                                   ("account", .text), ("scopes", .text), ("status", .text), ("tokens_sealed", .blob), ("created_at", .real),
                                   ("activated_at", .real), ("removed_at", .real), ("access_token_expires_at", .real), ("renewed_at", .real)]),
        StoreTable("verdicts", [("id", .integer), ("connection", .text), ("checked_at", .real), ("status", .text), ("failure", .text),
                                ("summary", .text), ("provider", .text), ("seconds", .real), ("token_expires_at", .integer)]),
        StoreTable("renewed_tokens", [("connection_name", .text), ("tokens_sealed", .blob), ("renewed_at", .real)]),
        StoreTable("settings", [("name", .text), ("value", .text), ("updated_at", .real)]),
        StoreTable("operators", [("name", .text), ("token_hash", .blob), ("created_at", .real), ("last_used_at", .real)]),
        StoreTable("audit", [("id", .integer), ("happened_at", .real), ("actor", .text), ("method", .text), ("route", .text),
                             ("target", .text), ("status", .integer)]),
    ]
}

/// What `prune` removed.
public struct PruneReport: Sendable, Equatable {
    /// OAuth attempts consumed, or older than `SQLiteStore.authorizationLifetime`.
    public var authorizations: Int
    /// Sessions past their expiry (or of a revoked link) that were never finished, deleted.
    public var sessions: Int
    /// Connections of those sessions never activated: their tokens erased (the record stays).
    public var pendingConnectionsErased: Int

    public init(authorizations: Int = 0, sessions: Int = 0, pendingConnectionsErased: Int = 0) {
        self.authorizations = authorizations
        self.sessions = sessions
        self.pendingConnectionsErased = pendingConnectionsErased
    }

    public var isEmpty: Bool { authorizations == 0 && sessions == 0 && pendingConnectionsErased == 0 }
}
