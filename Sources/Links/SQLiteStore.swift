import EvidenceModel
import Foundation
import GRDB

/// `AuthDoctorStore` on SQLite (GRDB): a `DatabasePool` in WAL mode for a file, a `DatabaseQueue`
/// for `:memory:`. Every change runs in one IMMEDIATE transaction, so the guards below hold across
/// threads and across processes sharing the file: the write lock is taken before anything is read.
///
/// Times are stored as seconds since 1970 (REAL): exact round trips, plain comparisons in SQL.
/// Tables are keyed by their text ids (WITHOUT ROWID) and carry only the indexes a query needs:
/// every b-tree a row touches is another page written at commit (see `authdoctor-bench links`).
public final class SQLiteStore: AuthDoctorStore, Sendable {
    /// The database file, or `:memory:`.
    public let path: String
    let writer: any DatabaseWriter
    let box: SecretBox

    /// How long an OAuth `state` stays redeemable: time for the client to sign in at the provider.
    public static let authorizationLifetime: TimeInterval = 30 * 60

    /// Opens (creating on first use) the database at `path`, or an in-memory one for `:memory:`.
    /// Throws GRDB's `DatabaseError` as is; `StoreLocation.open` turns failures into one-line errors.
    /// `checkingKey: false` (only `store copy`, which moves sealed values without opening them)
    /// skips the key check, so an empty destination takes the source's key check row.
    public init(path: String, secretBox: SecretBox, checkingKey: Bool = true, migrating: Bool = true) throws {
        var configuration = Configuration()
        // Another process (a second `authdoctor serve`, a `links revoke`) may hold the write lock briefly.
        configuration.busyMode = .timeout(10)
        // DatabasePool sets WAL with synchronous = NORMAL (SQLite's advice for WAL): a commit is atomic
        // and ordered but skips the fsync; a power cut may lose the last commits, never corrupt the file.
        self.path = path
        self.box = secretBox
        if path == ":memory:" {
            writer = try DatabaseQueue(configuration: configuration)
        } else {
            writer = try DatabasePool(path: path, configuration: configuration)
        }
        try writer.write { db in
            if try Self.migrator.hasBeenSuperseded(db) { throw StoreOpeningError.newerSchema }
        }
        if migrating { try Self.migrator.migrate(writer) }
        if checkingKey { try checkKey() }
    }

    public var location: String { path }

    /// Opens an existing database for reading only: nothing is created or migrated, and no key is
    /// needed (listing reads no sealed value; opening one fails with `cannotDecrypt`). A file that
    /// is not an authdoctor store throws `StoreOpeningError.notAStore`.
    public init(readOnlyPath path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        self.path = path
        self.box = SecretBox.ephemeral()
        writer = try DatabaseQueue(path: path, configuration: configuration)
        try writer.read { db in
            if try Self.migrator.hasBeenSuperseded(db) { throw StoreOpeningError.newerSchema }
            guard try db.tableExists("links"), try db.tableExists("connections"), try db.tableExists("verdicts") else {
                throw StoreOpeningError.notAStore
            }
        }
    }

    /// An in-memory store (tests, throwaway runs): gone when the value is.
    public static func inMemory(secretBox: SecretBox = .ephemeral()) throws -> SQLiteStore {
        try SQLiteStore(path: ":memory:", secretBox: secretBox)
    }

    // MARK: schema

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        // FROZEN: "v1" has shipped. Never edit it; every later change to the schema is a new
        // migration registered after it ("v2", ...), so existing databases upgrade in place.
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE links (
                    id TEXT PRIMARY KEY NOT NULL,
                    token_hash BLOB NOT NULL UNIQUE,      -- SHA-256 of the link token; the token itself is never stored
                    client TEXT NOT NULL,
                    sources TEXT NOT NULL,                -- provider ids, one per line; '' = any
                    max_sources INTEGER,
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL,
                    opened_at REAL,
                    finished_at REAL,
                    revoked_at REAL
                ) WITHOUT ROWID;

                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY NOT NULL,
                    link_id TEXT NOT NULL UNIQUE REFERENCES links(id),   -- single use: one session per link
                    cookie_hash BLOB NOT NULL,            -- SHA-256 of the browser's cookie secret
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL,
                    finished_at REAL
                ) WITHOUT ROWID;

                CREATE TABLE authorizations (
                    state_hash BLOB PRIMARY KEY NOT NULL, -- SHA-256 of the OAuth state
                    session_id TEXT NOT NULL REFERENCES sessions(id),
                    link_id TEXT NOT NULL REFERENCES links(id),
                    provider TEXT NOT NULL,
                    verifier_sealed BLOB NOT NULL,        -- PKCE code verifier, AES-GCM
                    redirect_uri TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    consumed_at REAL
                ) WITHOUT ROWID;

                CREATE TABLE connections (
                    id TEXT PRIMARY KEY NOT NULL,
                    link_id TEXT NOT NULL REFERENCES links(id),
                    session_id TEXT NOT NULL REFERENCES sessions(id),
                    client TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    account TEXT,
                    scopes TEXT NOT NULL,                 -- one per line
                    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'removed')),
                    tokens_sealed BLOB,                   -- provider tokens, AES-GCM; erased on removal
                    created_at REAL NOT NULL,
                    activated_at REAL,
                    removed_at REAL,
                    access_token_expires_at REAL,
                    renewed_at REAL
                ) WITHOUT ROWID;
                CREATE INDEX connections_by_session ON connections(session_id);

                CREATE TABLE verdicts (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    connection TEXT NOT NULL,
                    checked_at REAL NOT NULL,
                    status TEXT NOT NULL,
                    failure TEXT NOT NULL,
                    summary TEXT NOT NULL
                );
                CREATE INDEX verdicts_by_connection ON verdicts(connection, checked_at);

                CREATE TABLE renewed_tokens (
                    connection_name TEXT PRIMARY KEY NOT NULL,
                    tokens_sealed BLOB NOT NULL,
                    renewed_at REAL NOT NULL
                );

                -- A value sealed with the key on first use: a different key is refused at open,
                -- before anything is written with it.
                CREATE TABLE key_check (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    sealed BLOB NOT NULL
                );
                """)
        }
        // v2 (issue 12): attempts found by session (the per-session cap, pruning), and what
        // `serve` last said it can connect (so `links issue --sources` refuses the rest).
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE INDEX authorizations_by_session ON authorizations(session_id, created_at);
                CREATE TABLE settings (
                    name TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL,
                    updated_at REAL NOT NULL
                );
                """)
        }
        // v3 (issue 15): what `serve /metrics` needs to expose the metric set `check` writes.
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                ALTER TABLE verdicts ADD COLUMN provider TEXT;
                ALTER TABLE verdicts ADD COLUMN seconds REAL;
                ALTER TABLE verdicts ADD COLUMN token_expires_at INTEGER;
                """)
        }
        // v4 (issue 16, item 5): operators of the API under /api (tokens kept as SHA-256 only) and
        // the audit log of every call to it.
        migrator.registerMigration("v4") { db in
            try db.execute(sql: """
                CREATE TABLE operators (
                    name TEXT PRIMARY KEY NOT NULL,
                    token_hash BLOB NOT NULL UNIQUE,      -- SHA-256 of the operator token; the token itself is never stored
                    created_at REAL NOT NULL,
                    last_used_at REAL
                ) WITHOUT ROWID;

                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    happened_at REAL NOT NULL,
                    actor TEXT NOT NULL,                  -- operator name, or 'anonymous'
                    method TEXT NOT NULL,
                    route TEXT NOT NULL,                  -- the route template, e.g. /api/links/{id}/revoke
                    target TEXT,                          -- the link or connection id the call named or made
                    status INTEGER NOT NULL
                );
                CREATE INDEX audit_by_time ON audit(happened_at);
                """)
        }
        // v5 (issue 16): the tables of `check --claim` rounds, mirroring PostgreSQL's v5 so the two
        // schemas stay one. Claims with leases run on PostgreSQL only (one SQLite file is one
        // machine: `check --shard K/N` splits it); `store copy` does not move them (leases are
        // momentary).
        migrator.registerMigration("v5") { db in
            try db.execute(sql: """
                CREATE TABLE check_rounds (
                    id TEXT PRIMARY KEY NOT NULL,
                    started_at REAL NOT NULL,
                    finished_at REAL
                );
                CREATE TABLE check_claims (
                    round TEXT NOT NULL REFERENCES check_rounds(id),
                    connection TEXT NOT NULL,
                    worker TEXT,
                    claimed_at REAL,
                    lease_until REAL,
                    done_at REAL,
                    PRIMARY KEY (round, connection)
                );
                """)
        }
        return migrator
    }()

    static let keyCheckText = Data("authdoctor key check".utf8)

    func checkKey() throws {
        try write { db in
            if let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM key_check WHERE id = 1") {
                _ = try box.open(sealed, context: "key-check")
            } else {
                try db.execute(sql: "INSERT INTO key_check (id, sealed) VALUES (1, ?)",
                               arguments: [try box.seal(Self.keyCheckText, context: "key-check")])
            }
        }
    }

    // MARK: transactions and rows

    /// One IMMEDIATE transaction: rolled back when `body` throws (a refusal changes nothing).
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.read(body)
    }

    static func execute(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }

    static func fetchOne(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func fetchAll(_ db: Database, _ sql: String, _ arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func seconds(_ date: Date) -> Double { date.timeIntervalSince1970 }
    static func seconds(_ date: Date?) -> Double? { date?.timeIntervalSince1970 }
    static func date(_ value: Double?) -> Date? { value.map { Date(timeIntervalSince1970: $0) } }
    static func date(_ value: Double) -> Date { Date(timeIntervalSince1970: value) }

    static func lines(_ values: [String]) -> String { values.joined(separator: "\n") }
    static func list(_ text: String) -> [String] { text.isEmpty ? [] : text.split(separator: "\n").map(String.init) }

    static let linkColumns = "id, client, sources, max_sources, created_at, expires_at, opened_at, finished_at, revoked_at"

    static func link(_ row: Row) -> AuthorizationLink {
        AuthorizationLink(id: row[0], client: row[1], sources: list(row[2]), maxSources: row[3],
                          createdAt: date(row[4] as Double), expiresAt: date(row[5] as Double),
                          openedAt: date(row[6] as Double?), finishedAt: date(row[7] as Double?), revokedAt: date(row[8] as Double?))
    }

    static let sessionColumns = "id, link_id, created_at, expires_at, finished_at, cookie_hash"

    static func session(_ row: Row) -> LinkSession {
        LinkSession(id: row[0], linkID: row[1], createdAt: date(row[2] as Double), expiresAt: date(row[3] as Double),
                    finishedAt: date(row[4] as Double?))
    }

    static let connectionColumns = """
        id, link_id, client, provider, account, scopes, status, created_at, activated_at, access_token_expires_at, renewed_at
        """

    static func connection(_ row: Row) -> StoredConnection {
        StoredConnection(id: row[0], linkID: row[1], client: row[2], provider: row[3], account: row[4], scopes: list(row[5]),
                         status: ConnectionStatus(rawValue: row[6]) ?? .removed, createdAt: date(row[7] as Double),
                         activatedAt: date(row[8] as Double?), accessTokenExpiresAt: date(row[9] as Double?),
                         renewedAt: date(row[10] as Double?))
    }

    func fetchLink(_ db: Database, id: String) throws -> AuthorizationLink? {
        try Self.fetchOne(db, "SELECT \(Self.linkColumns) FROM links WHERE id = ?", [id]).map(Self.link)
    }

    func fetchLink(_ db: Database, tokenHash: Data) throws -> AuthorizationLink? {
        try Self.fetchOne(db, "SELECT \(Self.linkColumns) FROM links WHERE token_hash = ?", [tokenHash]).map(Self.link)
    }

    /// Why a link cannot be opened now (the conditional UPDATE said it cannot).
    public static func openRefusal(_ link: AuthorizationLink?, now: Date) -> LinkRefusal {
        guard let link else { return .unknownLink }
        switch link.state(at: now) {
        case .revoked: return .revoked(link)
        case .finished: return .alreadyFinished(link)
        case .expired: return .expired(link)
        case .issued, .opened: return .alreadyUsed(link)
        }
    }

    /// The session and its link when the session may still change (add connections, finish).
    func liveSession(_ db: Database, id: String, now: Date) throws -> (LinkSession, AuthorizationLink) {
        guard let row = try Self.fetchOne(db, "SELECT \(Self.sessionColumns) FROM sessions WHERE id = ?", [id]),
              let link = try fetchLink(db, id: row[1]) else { throw LinkRefusal.noSession }
        let session = Self.session(row)
        try Self.requireLive(session, link, now: now)
        return (session, link)
    }

    static func requireLive(_ session: LinkSession, _ link: AuthorizationLink, now: Date) throws {
        if link.revokedAt != nil { throw LinkRefusal.revoked(link) }
        if session.finishedAt != nil || link.finishedAt != nil { throw LinkRefusal.alreadyFinished(link) }
        if now >= session.expiresAt || now >= link.expiresAt { throw LinkRefusal.expired(link) }
    }

    /// The provider must be among the link's sources, and the session below its plan limit.
    func requireRoom(_ db: Database, session: LinkSession, link: AuthorizationLink, provider: String) throws {
        if !link.sources.isEmpty && !link.sources.contains(provider) { throw LinkRefusal.providerNotAllowed(provider) }
        if let limit = link.maxSources {
            let made = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM connections WHERE session_id = ? AND status != 'removed'"),
                                        arguments: [session.id]) ?? 0
            if made >= limit { throw LinkRefusal.planLimit(limit) }
        }
    }

    // MARK: links

    public func issueLink(client: String, sources: [String], maxSources: Int?, ttl: TimeInterval, now: Date) throws -> IssuedLink {
        guard ttl > 0, ttl.isFinite else { throw InputError(.usage, "a link's time to live must be positive") }
        let token = LinkSecrets.newSecret()
        let link = AuthorizationLink(id: LinkSecrets.newID(prefix: "lnk_"), client: client, sources: sources, maxSources: maxSources,
                                     createdAt: now, expiresAt: now.addingTimeInterval(ttl))
        try write { db in
            try Self.execute(db, """
                INSERT INTO links (id, token_hash, client, sources, max_sources, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [link.id, LinkSecrets.digest(token), client, Self.lines(sources), maxSources,
                      Self.seconds(link.createdAt), Self.seconds(link.expiresAt)])
        }
        return IssuedLink(link: link, token: token)
    }

    public func link(id: String) throws -> AuthorizationLink? {
        try read { db in try fetchLink(db, id: id) }
    }

    public func allLinks() throws -> [AuthorizationLink] {
        try read { db in
            try Self.fetchAll(db, "SELECT \(Self.linkColumns) FROM links ORDER BY created_at DESC, id DESC").map(Self.link)
        }
    }

    public func revokeLink(id: String, now: Date) throws -> AuthorizationLink {
        try write { db in
            try Self.execute(db, "UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [Self.seconds(now), id])
            guard let link = try fetchLink(db, id: id) else { throw LinkRefusal.unknownLink }
            return link
        }
    }

    public func openLink(token: String, now: Date) throws -> OpenedSession {
        let tokenHash = LinkSecrets.digest(token)
        let cookieSecret = LinkSecrets.newSecret()
        let sessionID = LinkSecrets.newID(prefix: "ses_")
        return try write { db in
            // Single use, atomically: only the open that flips opened_at from NULL goes on.
            try Self.execute(db, """
                UPDATE links SET opened_at = ?1
                WHERE token_hash = ?2 AND opened_at IS NULL AND revoked_at IS NULL AND expires_at > ?1
                """, [Self.seconds(now), tokenHash])
            let won = db.changesCount == 1
            let link = try fetchLink(db, tokenHash: tokenHash)
            guard won, let link else { throw Self.openRefusal(link, now: now) }
            let session = LinkSession(id: sessionID, linkID: link.id, createdAt: now, expiresAt: link.expiresAt)
            try Self.execute(db, """
                INSERT INTO sessions (id, link_id, cookie_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
                """, [session.id, link.id, LinkSecrets.digest(cookieSecret), Self.seconds(now), Self.seconds(session.expiresAt)])
            return OpenedSession(session: session, link: link, cookieSecret: cookieSecret)
        }
    }

    public func link(token: String) throws -> AuthorizationLink? {
        let tokenHash = LinkSecrets.digest(token)
        return try read { db in try fetchLink(db, tokenHash: tokenHash) }
    }

    public func session(token: String, cookieSecret: String, now: Date) throws -> (LinkSession, AuthorizationLink) {
        let tokenHash = LinkSecrets.digest(token)
        let cookieHash = LinkSecrets.digest(cookieSecret)
        return try read { db in
            guard let link = try fetchLink(db, tokenHash: tokenHash) else { throw LinkRefusal.unknownLink }
            guard let row = try Self.fetchOne(db, "SELECT \(Self.sessionColumns) FROM sessions WHERE link_id = ?", [link.id]),
                  LinkSecrets.constantTimeEquals(row[5] as Data, cookieHash) else { throw LinkRefusal.noSession }
            let session = Self.session(row)
            try Self.requireLive(session, link, now: now)
            return (session, link)
        }
    }

    // MARK: OAuth flow

    public func beginAuthorization(_ pending: PendingAuthorization) throws -> String {
        let state = LinkSecrets.newSecret()
        try write { db in
            let (session, link) = try liveSession(db, id: pending.sessionID, now: pending.createdAt)
            guard link.id == pending.linkID else { throw LinkRefusal.noSession }
            try requireRoom(db, session: session, link: link, provider: pending.provider)
            try makeRoomForAttempt(db, sessionID: session.id, now: pending.createdAt)
            let sealed = try box.seal(Data(pending.codeVerifier.utf8), context: "authorization:" + session.id)
            try Self.execute(db, """
                INSERT INTO authorizations (state_hash, session_id, link_id, provider, verifier_sealed, redirect_uri, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [LinkSecrets.digest(state), session.id, link.id, pending.provider, sealed, pending.redirectURI,
                      Self.seconds(pending.createdAt)])
        }
        return state
    }

    /// Most OAuth attempts (Connect presses) a session keeps waiting for their callback. A new one
    /// past it replaces the oldest (whose callback is then refused as unknown), so a page pressed a
    /// thousand times keeps this many rows, not a thousand.
    public static let maxPendingAuthorizationsPerSession = 10

    /// Drops the session's spent and stale attempts, then its oldest pending ones past the cap.
    func makeRoomForAttempt(_ db: Database, sessionID: String, now: Date) throws {
        try Self.execute(db, """
            DELETE FROM authorizations WHERE session_id = ? AND (consumed_at IS NOT NULL OR created_at <= ?)
            """, [sessionID, Self.seconds(now) - Self.authorizationLifetime])
        let pending = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM authorizations WHERE session_id = ?"),
                                       arguments: [sessionID]) ?? 0
        let excess = pending - (Self.maxPendingAuthorizationsPerSession - 1)
        if excess > 0 {
            try Self.execute(db, """
                DELETE FROM authorizations WHERE state_hash IN (
                    SELECT state_hash FROM authorizations WHERE session_id = ? ORDER BY created_at, state_hash LIMIT ?)
                """, [sessionID, excess])
        }
    }

    /// Pending (unconsumed) OAuth attempts of a session.
    public func pendingAuthorizations(sessionID: String) throws -> Int {
        try read { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM authorizations WHERE session_id = ? AND consumed_at IS NULL"),
                             arguments: [sessionID]) ?? 0
        }
    }

    public func consumeAuthorization(state: String, now: Date) throws -> PendingAuthorization {
        let stateHash = LinkSecrets.digest(state)
        let pending: PendingAuthorization? = try write { db in
            try Self.execute(db, "UPDATE authorizations SET consumed_at = ? WHERE state_hash = ? AND consumed_at IS NULL",
                             [Self.seconds(now), stateHash])
            guard db.changesCount == 1,
                  let row = try Self.fetchOne(db, """
                      SELECT session_id, link_id, provider, verifier_sealed, redirect_uri, created_at
                      FROM authorizations WHERE state_hash = ?
                      """, [stateHash]) else { return nil }
            let createdAt = Self.date(row[5] as Double)
            // A stale state is spent all the same (committed), never retried.
            guard now.timeIntervalSince(createdAt) <= Self.authorizationLifetime else { return nil }
            let sessionID: String = row[0]
            let verifier = try box.open(row[3], context: "authorization:" + sessionID)
            return PendingAuthorization(sessionID: sessionID, linkID: row[1], provider: row[2],
                                        codeVerifier: String(decoding: verifier, as: UTF8.self), redirectURI: row[4], createdAt: createdAt)
        }
        guard let pending else { throw LinkRefusal.badState }
        return pending
    }

    public func addConnection(sessionID: String, provider: String, account: String?, tokens: ProviderTokens, now: Date) throws -> StoredConnection {
        let id = LinkSecrets.newID(prefix: "con_")
        let sealed = try box.seal(SealedTokens(tokens).encoded(), context: "connection:" + id)
        return try write { db in
            let (session, link) = try liveSession(db, id: sessionID, now: now)
            try requireRoom(db, session: session, link: link, provider: provider)
            let connection = StoredConnection(id: id, linkID: link.id, client: link.client, provider: provider, account: account,
                                              scopes: tokens.scopes, status: .pending, createdAt: now,
                                              accessTokenExpiresAt: tokens.expiresAt)
            try Self.execute(db, """
                INSERT INTO connections (id, link_id, session_id, client, provider, account, scopes, status, tokens_sealed,
                                         created_at, access_token_expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)
                """, [id, link.id, session.id, link.client, provider, account, Self.lines(tokens.scopes), sealed,
                      Self.seconds(now), Self.seconds(tokens.expiresAt)])
            return connection
        }
    }

    /// Finish: the session's pending connections become active, in one transaction with the session
    /// and link. A session past its expiry (or a revoked link) activates nothing and throws the refusal.
    public func finishSession(id: String, now: Date) throws -> [StoredConnection] {
        try write { db in
            let (session, link) = try liveSession(db, id: id, now: now)
            let at = Self.seconds(now)
            try Self.execute(db, "UPDATE sessions SET finished_at = ? WHERE id = ?", [at, session.id])
            try Self.execute(db, "UPDATE links SET finished_at = ? WHERE id = ?", [at, link.id])
            try Self.execute(db, "UPDATE connections SET status = 'active', activated_at = ? WHERE session_id = ? AND status = 'pending'",
                             [at, session.id])
            return try Self.fetchAll(db, """
                SELECT \(Self.connectionColumns) FROM connections WHERE session_id = ? AND status = 'active' ORDER BY created_at, id
                """, [session.id]).map(Self.connection)
        }
    }

    public func connections(sessionID: String) throws -> [StoredConnection] {
        try read { db in
            try Self.fetchAll(db, "SELECT \(Self.connectionColumns) FROM connections WHERE session_id = ? ORDER BY created_at, id",
                              [sessionID]).map(Self.connection)
        }
    }

    // MARK: connections

    public func allConnections() throws -> [StoredConnection] {
        try read { db in
            try Self.fetchAll(db, "SELECT \(Self.connectionColumns) FROM connections ORDER BY created_at DESC, id DESC")
                .map(Self.connection)
        }
    }

    /// Every connection made through one link (any status), oldest first.
    public func connections(linkID: String) throws -> [StoredConnection] {
        try read { db in
            try Self.fetchAll(db, "SELECT \(Self.connectionColumns) FROM connections WHERE link_id = ? ORDER BY created_at, id",
                              [linkID]).map(Self.connection)
        }
    }

    /// The session a link's first open started, if it was opened.
    public func session(linkID: String) throws -> LinkSession? {
        try read { db in
            try Self.fetchOne(db, "SELECT \(Self.sessionColumns) FROM sessions WHERE link_id = ?", [linkID]).map(Self.session)
        }
    }

    public func connection(id: String) throws -> StoredConnection? {
        try read { db in
            try Self.fetchOne(db, "SELECT \(Self.connectionColumns) FROM connections WHERE id = ?", [id]).map(Self.connection)
        }
    }

    /// Marks the connection removed and erases its tokens; the record of who connected what stays.
    /// Removing a removed connection changes nothing.
    public func removeConnection(id: String, now: Date) throws -> StoredConnection {
        try write { db in
            try Self.execute(db, """
                UPDATE connections SET status = 'removed', removed_at = ?, tokens_sealed = NULL WHERE id = ? AND status != 'removed'
                """, [Self.seconds(now), id])
            guard let row = try Self.fetchOne(db, "SELECT \(Self.connectionColumns) FROM connections WHERE id = ?", [id]) else {
                throw StoreError.unknownConnection(id)
            }
            return Self.connection(row)
        }
    }

    public func connectionCredentials(id: String) throws -> ProviderTokens {
        let sealed: Data? = try read { db in
            guard let row = try Self.fetchOne(db, "SELECT tokens_sealed FROM connections WHERE id = ?", [id]) else {
                throw StoreError.unknownConnection(id)
            }
            return row[0]
        }
        guard let sealed else { throw StoreError.connectionRemoved(id) }
        return try SealedTokens.decode(box.open(sealed, context: "connection:" + id)).tokens
    }

    /// A renewal that brings no new refresh token keeps the previous one (RFC 6749 section 6).
    public func storeRenewedTokens(connectionID: String, tokens: ProviderTokens, now: Date) throws {
        try write { db in
            guard let row = try Self.fetchOne(db, "SELECT tokens_sealed, scopes FROM connections WHERE id = ?", [connectionID]) else {
                throw StoreError.unknownConnection(connectionID)
            }
            guard let previousSealed = row[0] as Data? else { throw StoreError.connectionRemoved(connectionID) }
            let context = "connection:" + connectionID
            let previous = try SealedTokens.decode(box.open(previousSealed, context: context)).tokens
            let merged = Self.merge(tokens, over: previous)
            try Self.execute(db, """
                UPDATE connections SET tokens_sealed = ?, renewed_at = ?, access_token_expires_at = ?, scopes = ? WHERE id = ?
                """, [try box.seal(SealedTokens(merged).encoded(), context: context), Self.seconds(now), Self.seconds(merged.expiresAt),
                      Self.lines(merged.scopes), connectionID])
        }
    }

    static func merge(_ renewed: ProviderTokens, over previous: ProviderTokens?) -> ProviderTokens {
        var merged = renewed
        if merged.refreshToken == nil { merged.refreshToken = previous?.refreshToken }
        if merged.scopes.isEmpty { merged.scopes = previous?.scopes ?? [] }
        return merged
    }

    // MARK: check history

    public func recordVerdicts(_ verdicts: [CheckVerdict]) throws {
        guard !verdicts.isEmpty else { return }
        try write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO verdicts (connection, checked_at, status, failure, summary, provider, seconds, token_expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for verdict in verdicts {
                try insert.execute(arguments: [verdict.connection, Self.seconds(verdict.checkedAt), verdict.status, verdict.failure, verdict.summary,
                                               verdict.provider, verdict.seconds, verdict.tokenExpiresAt])
            }
        }
    }

    public func verdicts(connection: String, limit: Int) throws -> [CheckVerdict] {
        try read { db in
            try Self.fetchAll(db, """
                SELECT connection, checked_at, status, failure, summary, provider, seconds, token_expires_at FROM verdicts WHERE connection = ?
                ORDER BY checked_at DESC, id DESC LIMIT ?
                """, [connection, max(0, limit)]).map(Self.verdict)
        }
    }

    /// The newest `perConnection` verdicts of every connection with a history, by connection name,
    /// each newest first (`authdoctor history` without a connection).
    public func recentVerdicts(perConnection: Int) throws -> [String: [CheckVerdict]] {
        let limit = max(1, perConnection)
        return try read { db in
            // A backward scan of the (connection, checked_at) index gives each connection's verdicts
            // newest first with no sort (a window function sorted every row: 2x slower at 100,000);
            // rows past the limit are skipped before they are decoded.
            let cursor = try Row.fetchCursor(db.cachedStatement(sql: """
                SELECT connection, checked_at, status, failure, summary, provider, seconds, token_expires_at FROM verdicts
                ORDER BY connection DESC, checked_at DESC, id DESC
                """))
            var out: [String: [CheckVerdict]] = [:]
            var current = "", taken = 0
            while let row = try cursor.next() {
                let connection: String = row[0]
                if taken == 0 || connection != current { (current, taken) = (connection, 0) }
                guard taken < limit else { continue }
                taken += 1
                out[connection, default: []].append(Self.verdict(row))
            }
            return out
        }
    }

    /// How many connections, and the latest creation, activation and removal among them.
    public func connectionsVersion() throws -> String? {
        try read { db in
            let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT COUNT(*), COALESCE(MAX(created_at), 0), COALESCE(MAX(activated_at), 0), COALESCE(MAX(removed_at), 0) FROM connections
                """))
            return row.map { "\($0[0] as Int64):\($0[1] as Double):\($0[2] as Double):\($0[3] as Double)" }
        }
    }

    /// The newest verdict id and the number of verdicts: ids only grow (AUTOINCREMENT), so a
    /// recorded verdict changes the first and a removed one the second.
    public func verdicts(afterID: Int64, limit: Int) throws -> [(id: Int64, verdict: CheckVerdict)]? {
        try read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT connection, checked_at, status, failure, summary, provider, seconds, token_expires_at, id FROM verdicts
                WHERE id > ? ORDER BY id LIMIT ?
                """), arguments: [afterID, max(0, limit)]).map { (id: $0[8] as Int64, verdict: Self.verdict($0)) }
        }
    }

    public func checkHistoryVersion() throws -> String? {
        try read { db in
            let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(MAX(id), 0), COUNT(*) FROM verdicts"))
            return row.map { "\($0[0] as Int64):\($0[1] as Int64)" }
        }
    }

    static func verdict(_ row: Row) -> CheckVerdict {
        CheckVerdict(connection: row[0], checkedAt: date(row[1] as Double), status: row[2], failure: row[3], summary: row[4],
                     provider: row[5], seconds: row[6], tokenExpiresAt: row[7])
    }

    public func renewedConnectionNames() throws -> Set<String>? {
        try read { db in Set(try String.fetchAll(db, sql: "SELECT connection_name FROM renewed_tokens")) }
    }

    public func renewedTokens(connectionName: String) throws -> ProviderTokens? {
        let sealed: Data? = try read { db in
            try Data.fetchOne(db.cachedStatement(sql: "SELECT tokens_sealed FROM renewed_tokens WHERE connection_name = ?"),
                              arguments: [connectionName])
        }
        guard let sealed else { return nil }
        return try SealedTokens.decode(box.open(sealed, context: "renewed:" + connectionName)).tokens
    }

    /// A renewal that brings no new refresh token keeps the previous one (RFC 6749 section 6).
    public func storeRenewedTokens(connectionName: String, tokens: ProviderTokens, now: Date) throws {
        let context = "renewed:" + connectionName
        try write { db in
            let previousSealed = try Data.fetchOne(db.cachedStatement(sql: "SELECT tokens_sealed FROM renewed_tokens WHERE connection_name = ?"),
                                                   arguments: [connectionName])
            let previous = try previousSealed.map { try SealedTokens.decode(box.open($0, context: context)).tokens }
            let sealed = try box.seal(SealedTokens(Self.merge(tokens, over: previous)).encoded(), context: context)
            try Self.execute(db, """
                INSERT INTO renewed_tokens (connection_name, tokens_sealed, renewed_at) VALUES (?, ?, ?)
                ON CONFLICT(connection_name) DO UPDATE SET tokens_sealed = excluded.tokens_sealed, renewed_at = excluded.renewed_at
                """, [connectionName, sealed, Self.seconds(now)])
        }
    }
}

extension SQLiteStore {
    // MARK: schema and moves

    public func schemaStatus() throws -> SchemaStatus {
        try read { db in
            let applied = try Self.migrator.appliedIdentifiers(db)
            let known = Self.migrator.migrations
            var rows: [(String, Int)] = []
            for table in StoreTables.all where try db.tableExists(table.name) {
                rows.append((table.name, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table.name)") ?? 0))
            }
            // GRDB returns a set: order the applied ones as registered, unknown ones after.
            let ordered = known.filter(applied.contains) + applied.filter { !known.contains($0) }.sorted()
            return SchemaStatus(backend: "sqlite", applied: ordered, known: known, rows: rows)
        }
    }

    public func migrate() throws -> [String] {
        let before = try read { db in try Self.migrator.appliedIdentifiers(db) }
        try Self.migrator.migrate(writer)
        return Self.migrator.migrations.filter { !before.contains($0) }
    }

    public func exportRows(_ table: StoreTable) throws -> [[StoreValue]] {
        try read { db in
            let order = table.columns.first == "id" || table.name == "key_check" ? "1" : table.columns[0]
            let rows = try Row.fetchAll(db, sql: "SELECT \(table.columns.joined(separator: ", ")) FROM \(table.name) ORDER BY \(order)")
            return rows.map { row in
                (0..<table.columns.count).map { index -> StoreValue in
                    switch row[index] as DatabaseValue? {
                    case nil: return .null
                    case let value?:
                        switch value.storage {
                        case .null: return .null
                        case let .int64(n): return table.types[index] == .real ? .real(Double(n)) : .integer(n)
                        case let .double(d): return .real(d)
                        case let .string(s): return .text(s)
                        case let .blob(b): return .blob(b)
                        }
                    }
                }
            }
        }
    }

    public func importRows(_ tables: [(StoreTable, [[StoreValue]])]) throws {
        try write { db in
            for (table, rows) in tables where !rows.isEmpty {
                let marks = Array(repeating: "?", count: table.columns.count).joined(separator: ", ")
                let insert = try db.makeStatement(sql: "INSERT INTO \(table.name) (\(table.columns.joined(separator: ", "))) VALUES (\(marks))")
                for row in rows {
                    try insert.execute(arguments: StatementArguments(row.map { value -> (any DatabaseValueConvertible)? in
                        switch value {
                        case .null: return nil
                        case let .integer(n): return n
                        case let .real(d): return d
                        case let .text(s): return s
                        case let .blob(b): return b
                        }
                    }))
                }
            }
        }
    }

    /// Removes what can never be used again, in one transaction: spent and stale OAuth attempts;
    /// the tokens of connections granted in sessions that expired (or whose link was revoked)
    /// without Finish (they can never be activated; the record of who connected what stays); and
    /// those sessions themselves when no connection record points at them.
    public func prune(now: Date) throws -> PruneReport {
        let at = Self.seconds(now)
        return try write { db in
            var report = PruneReport()
            let deadSessions = """
                SELECT s.id FROM sessions s JOIN links l ON l.id = s.link_id
                WHERE s.finished_at IS NULL AND (s.expires_at <= ?1 OR l.expires_at <= ?1 OR l.revoked_at IS NOT NULL)
                """
            try Self.execute(db, """
                DELETE FROM authorizations WHERE consumed_at IS NOT NULL OR created_at <= ?2 OR session_id IN (\(deadSessions))
                """, [at, at - Self.authorizationLifetime])
            report.authorizations = db.changesCount
            try Self.execute(db, """
                UPDATE connections SET tokens_sealed = NULL
                WHERE status = 'pending' AND tokens_sealed IS NOT NULL AND session_id IN (\(deadSessions))
                """, [at])
            report.pendingConnectionsErased = db.changesCount
            try Self.execute(db, """
                DELETE FROM sessions WHERE id IN (\(deadSessions)) AND id NOT IN (SELECT session_id FROM connections)
                """, [at])
            report.sessions = db.changesCount
            return report
        }
    }

    /// Re-encrypts every sealed value (provider tokens of connections and of renewed file
    /// connections, PKCE verifiers of pending attempts, the key check) under `newBox`, in one
    /// transaction: all of them or none. Returns how many values were re-encrypted.
    public func rotateKey(to newBox: SecretBox) throws -> Int {
        try write { db in
            var count = 0
            for row in try Row.fetchAll(db, sql: "SELECT id, tokens_sealed FROM connections WHERE tokens_sealed IS NOT NULL") {
                let id: String = row[0], context = "connection:" + (row[0] as String)
                let sealed = try newBox.seal(box.open(row[1], context: context), context: context)
                try db.execute(sql: "UPDATE connections SET tokens_sealed = ? WHERE id = ?", arguments: [sealed, id])
                count += 1
            }
            for row in try Row.fetchAll(db, sql: "SELECT connection_name, tokens_sealed FROM renewed_tokens") {
                let name: String = row[0], context = "renewed:" + name
                let sealed = try newBox.seal(box.open(row[1], context: context), context: context)
                try db.execute(sql: "UPDATE renewed_tokens SET tokens_sealed = ? WHERE connection_name = ?", arguments: [sealed, name])
                count += 1
            }
            for row in try Row.fetchAll(db, sql: "SELECT state_hash, session_id, verifier_sealed FROM authorizations") {
                let hash: Data = row[0], context = "authorization:" + (row[1] as String)
                let sealed = try newBox.seal(box.open(row[2], context: context), context: context)
                try db.execute(sql: "UPDATE authorizations SET verifier_sealed = ? WHERE state_hash = ?", arguments: [sealed, hash])
                count += 1
            }
            let check = try newBox.seal(Self.keyCheckText, context: "key-check")
            try db.execute(sql: "INSERT INTO key_check (id, sealed) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET sealed = excluded.sealed",
                           arguments: [check])
            return count
        }
    }

    static let connectableSetting = "serve.connectable-providers"

    /// What `serve` can connect (providers with an OAuth client), as it said at its last start.
    public func recordConnectableProviders(_ providers: [String], now: Date) throws {
        try write { db in
            try Self.execute(db, """
                INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """, [Self.connectableSetting, Self.lines(providers.sorted()), Self.seconds(now)])
        }
    }

    /// The providers `serve` last said it can connect; nil when no `serve` ran on this store.
    public func connectableProviders() throws -> [String]? {
        try read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM settings WHERE name = ?"), arguments: [Self.connectableSetting])
                .map(Self.list)
        }
    }
}

extension SQLiteStore {
    // MARK: operators and the audit log

    public func addOperator(name: String, now: Date) throws -> NewOperator {
        try OperatorTokens.requireValidName(name)
        let token = OperatorTokens.newToken()
        try write { db in
            try Self.execute(db, "INSERT INTO operators (name, token_hash, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                             [name, LinkSecrets.digest(token), Self.seconds(now)])
            if db.changesCount != 1 { throw OperatorTokens.taken(name) }
        }
        return NewOperator(account: OperatorAccount(name: name, createdAt: now), token: token)
    }

    public func operatorAccounts() throws -> [OperatorAccount] {
        try read { db in
            // A store opened read-only before v4 has no such table: no operators.
            guard try db.tableExists("operators") else { return [] }
            return try Self.fetchAll(db, "SELECT name, created_at, last_used_at FROM operators ORDER BY name").map(Self.operatorAccount)
        }
    }

    static func operatorAccount(_ row: Row) -> OperatorAccount {
        OperatorAccount(name: row[0], createdAt: date(row[1] as Double), lastUsedAt: date(row[2] as Double?))
    }

    public func removeOperator(name: String, now: Date) throws -> OperatorAccount {
        try write { db in
            guard let row = try Self.fetchOne(db, "SELECT name, created_at, last_used_at FROM operators WHERE name = ?", [name]) else {
                throw OperatorTokens.unknown(name)
            }
            try Self.execute(db, "DELETE FROM operators WHERE name = ?", [name])
            return Self.operatorAccount(row)
        }
    }

    public func authenticateOperator(token: String, now: Date) throws -> OperatorAccount? {
        guard OperatorTokens.isTokenShaped(token) else { return nil }
        let hash = LinkSecrets.digest(token)
        let found: OperatorAccount? = try read { db in
            guard let row = try Self.fetchOne(db, "SELECT name, created_at, last_used_at, token_hash FROM operators WHERE token_hash = ?", [hash]),
                  LinkSecrets.constantTimeEquals(row[3] as Data, hash) else { return nil }
            return Self.operatorAccount(row)
        }
        guard var account = found else { return nil }
        try write { db in
            try Self.execute(db, "UPDATE operators SET last_used_at = ? WHERE name = ? AND token_hash = ?", [Self.seconds(now), account.name, hash])
        }
        account.lastUsedAt = now
        return account
    }

    public func recordAudit(_ entry: AuditEntry) throws {
        try write { db in
            try Self.execute(db, "INSERT INTO audit (happened_at, actor, method, route, target, status) VALUES (?, ?, ?, ?, ?, ?)",
                             [Self.seconds(entry.at), entry.actor, entry.method, entry.route, entry.target, entry.status])
        }
    }

    public func auditEntries(since: Date?, actor: String?) throws -> [AuditEntry] {
        try read { db in
            guard try db.tableExists("audit") else { return [] }
            return try Self.fetchAll(db, """
                SELECT happened_at, actor, method, route, target, status FROM audit
                WHERE (?1 IS NULL OR happened_at >= ?1) AND (?2 IS NULL OR actor = ?2) ORDER BY happened_at, id
                """, [Self.seconds(since), actor]).map { row in
                AuditEntry(at: Self.date(row[0] as Double), actor: row[1], method: row[2], route: row[3], target: row[4], status: row[5])
            }
        }
    }
}

/// Provider tokens as sealed: compact JSON inside the AES-GCM box.
struct SealedTokens: Codable {
    var a: String
    var r: String?
    var e: Double?
    var s: [String]

    init(_ tokens: ProviderTokens) {
        a = tokens.accessToken
        r = tokens.refreshToken
        e = tokens.expiresAt?.timeIntervalSince1970
        s = tokens.scopes
    }

    var tokens: ProviderTokens {
        ProviderTokens(accessToken: a, refreshToken: r, expiresAt: e.map { Date(timeIntervalSince1970: $0) }, scopes: s)
    }

    func encoded() throws -> Data { try JSONEncoder().encode(self) }

    static func decode(_ data: Data) throws -> SealedTokens {
        do { return try JSONDecoder().decode(SealedTokens.self, from: data) } catch { throw StoreError.cannotDecrypt }
    }
}

/// Why a database could not be opened as a store, besides SQLite's own errors.
public enum StoreOpeningError: Error, Sendable {
    /// The file's schema has migrations this build does not know (a newer authdoctor wrote it).
    case newerSchema
    /// The file is SQLite but holds no authdoctor store.
    case notAStore
}
