import EvidenceModel
import Foundation

/// `AuthDoctorStore` on PostgreSQL (libpq), for a team: several `serve` instances and `check`
/// workers share one database. Every change is one transaction at READ COMMITTED; what must happen
/// once is decided by the row itself: a conditional UPDATE (`opened_at IS NULL`, `consumed_at IS
/// NULL`) that a concurrent writer waits on and then re-checks, `SELECT ... FOR UPDATE` on the
/// session before Finish and before a connection is added, on the connection before a renewal,
/// and unique keys (one session per link).
///
/// The schema mirrors SQLite's (times as seconds since 1970 in `double precision`, sealed values
/// in `bytea`), so `store copy` moves rows as they are and sealed tokens stay sealed under the
/// same key. Migrations are versioned and frozen once shipped, applied under an advisory lock.
public final class PostgresStore: AuthDoctorStore, Sendable {
    public let target: PostgresLocation
    let pool: PGPool
    let box: SecretBox

    public var location: String { target.display }

    /// Opens the store: connects, applies pending migrations (`migrating`), checks the key
    /// (`checkingKey`; `store copy` skips it to move sealed values without opening them).
    /// `allowEmpty`: without `migrating`, a database with no migrations applied yet is no error
    /// (`store status`, `store migrate`); otherwise it is `StoreOpeningError.notAStore`.
    public init(location: PostgresLocation, secretBox: SecretBox, migrating: Bool = true, checkingKey: Bool = true,
                allowEmpty: Bool = false, maxConnections: Int = 16) throws {
        self.target = location
        self.box = secretBox
        self.pool = PGPool(parameters: location.parameters, capacity: maxConnections)
        if migrating {
            _ = try migrate()
        } else {
            let status = try schemaStatus()
            if !status.unknown.isEmpty { throw StoreOpeningError.newerSchema }
            if status.applied.isEmpty && !allowEmpty { throw StoreOpeningError.notAStore }
        }
        if checkingKey { try checkKey() }
    }

    // MARK: schema

    static let migrationsTable = "authdoctor_migrations"
    /// pg_advisory_xact_lock key for migrations ("authdoct" in ASCII, as a bigint).
    static let migrationLock: Int64 = 0x6175_7468_646f_6374

    /// FROZEN once shipped: "v1" to "v5" mirror SQLite's migrations of the same names. Never edit
    /// one; a schema change is a new entry at the end (in both backends).
    static let migrations: [(String, [String])] = [
        ("v1", [
            """
            CREATE TABLE links (
                id text PRIMARY KEY,
                token_hash bytea NOT NULL UNIQUE,
                client text NOT NULL,
                sources text NOT NULL,
                max_sources integer,
                created_at double precision NOT NULL,
                expires_at double precision NOT NULL,
                opened_at double precision,
                finished_at double precision,
                revoked_at double precision
            )
            """,
            """
            CREATE TABLE sessions (
                id text PRIMARY KEY,
                link_id text NOT NULL UNIQUE REFERENCES links(id),
                cookie_hash bytea NOT NULL,
                created_at double precision NOT NULL,
                expires_at double precision NOT NULL,
                finished_at double precision
            )
            """,
            """
            CREATE TABLE authorizations (
                state_hash bytea PRIMARY KEY,
                session_id text NOT NULL REFERENCES sessions(id),
                link_id text NOT NULL REFERENCES links(id),
                provider text NOT NULL,
                verifier_sealed bytea NOT NULL,
                redirect_uri text NOT NULL,
                created_at double precision NOT NULL,
                consumed_at double precision
            )
            """,
            """
            CREATE TABLE connections (
                id text PRIMARY KEY,
                link_id text NOT NULL REFERENCES links(id),
                session_id text NOT NULL REFERENCES sessions(id),
                client text NOT NULL,
                provider text NOT NULL,
                account text,
                scopes text NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'active', 'removed')),
                tokens_sealed bytea,
                created_at double precision NOT NULL,
                activated_at double precision,
                removed_at double precision,
                access_token_expires_at double precision,
                renewed_at double precision
            )
            """,
            "CREATE INDEX connections_by_session ON connections(session_id)",
            """
            CREATE TABLE verdicts (
                id bigserial PRIMARY KEY,
                connection text NOT NULL,
                checked_at double precision NOT NULL,
                status text NOT NULL,
                failure text NOT NULL,
                summary text NOT NULL
            )
            """,
            "CREATE INDEX verdicts_by_connection ON verdicts(connection, checked_at)",
            """
            CREATE TABLE renewed_tokens (
                connection_name text PRIMARY KEY,
                tokens_sealed bytea NOT NULL,
                renewed_at double precision NOT NULL
            )
            """,
            "CREATE TABLE key_check (id integer PRIMARY KEY CHECK (id = 1), sealed bytea NOT NULL)",
        ]),
        ("v2", [
            "CREATE INDEX authorizations_by_session ON authorizations(session_id, created_at)",
            "CREATE TABLE settings (name text PRIMARY KEY, value text NOT NULL, updated_at double precision NOT NULL)",
        ]),
        // v3 mirrors SQLite's v3 (issue 15): what `serve /metrics` needs of each verdict.
        ("v3", [
            "ALTER TABLE verdicts ADD COLUMN provider text",
            "ALTER TABLE verdicts ADD COLUMN seconds double precision",
            "ALTER TABLE verdicts ADD COLUMN token_expires_at bigint",
        ]),
        // v4 mirrors SQLite's v4 (issue 16, item 5): operators of the API (token SHA-256 only) and its audit log.
        ("v4", [
            """
            CREATE TABLE operators (
                name text PRIMARY KEY,
                token_hash bytea NOT NULL UNIQUE,
                created_at double precision NOT NULL,
                last_used_at double precision
            )
            """,
            """
            CREATE TABLE audit (
                id bigserial PRIMARY KEY,
                happened_at double precision NOT NULL,
                actor text NOT NULL,
                method text NOT NULL,
                route text NOT NULL,
                target text,
                status integer NOT NULL
            )
            """,
            "CREATE INDEX audit_by_time ON audit(happened_at)",
        ]),
        // v5 (issue 16, checks across machines): rounds of `check --claim` and each connection's
        // claim in a round (its worker, lease and completion).
        ("v5", [
            """
            CREATE TABLE check_rounds (
                id text PRIMARY KEY,
                started_at double precision NOT NULL,
                finished_at double precision
            )
            """,
            """
            CREATE TABLE check_claims (
                round text NOT NULL REFERENCES check_rounds(id),
                connection text NOT NULL,
                worker text,
                claimed_at double precision,
                lease_until double precision,
                done_at double precision,
                PRIMARY KEY (round, connection)
            )
            """,
            "CREATE INDEX check_claims_open ON check_claims(round, connection) WHERE done_at IS NULL",
        ]),
    ]

    public func migrate() throws -> [String] {
        try transaction { c in
            try c.exec("SELECT pg_advisory_xact_lock($1)", [.integer(Self.migrationLock)])
            try c.exec("CREATE TABLE IF NOT EXISTS \(Self.migrationsTable) (identifier text PRIMARY KEY, applied_at double precision NOT NULL)")
            let applied = try c.exec("SELECT identifier FROM \(Self.migrationsTable)").all.map { $0.string(0) }
            let known = Self.migrations.map(\.0)
            if applied.contains(where: { !known.contains($0) }) { throw StoreOpeningError.newerSchema }
            var done: [String] = []
            for (name, statements) in Self.migrations where !applied.contains(name) {
                for statement in statements { try c.exec(statement) }
                try c.exec("INSERT INTO \(Self.migrationsTable) (identifier, applied_at) VALUES ($1, $2)",
                           [.text(name), .real(Date().timeIntervalSince1970)])
                done.append(name)
            }
            return done
        }
    }

    public func schemaStatus() throws -> SchemaStatus {
        try pool.withConnection { c in
            let exists = try c.exec("SELECT to_regclass($1) IS NOT NULL", [.text(Self.migrationsTable)]).first?.string(0) == "t"
            let applied = exists
                ? try c.exec("SELECT identifier FROM \(Self.migrationsTable) ORDER BY applied_at, identifier").all.map { $0.string(0) } : []
            var rows: [(String, Int)] = []
            for table in StoreTables.all {
                guard try c.exec("SELECT to_regclass($1) IS NOT NULL", [.text(table.name)]).first?.string(0) == "t" else { continue }
                rows.append((table.name, try c.exec("SELECT COUNT(*) FROM \(table.name)").first?.int(0) ?? 0))
            }
            return SchemaStatus(backend: "postgres", applied: applied, known: Self.migrations.map(\.0), rows: rows)
        }
    }

    static let keyCheckText = Data("authdoctor key check".utf8)

    func checkKey() throws {
        try transaction { c in
            if let sealed = try c.exec("SELECT sealed FROM key_check WHERE id = 1 FOR UPDATE").first?.data(0) {
                _ = try box.open(sealed, context: "key-check")
            } else {
                try c.exec("INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                           [.blob(try box.seal(Self.keyCheckText, context: "key-check"))])
                if let sealed = try c.exec("SELECT sealed FROM key_check WHERE id = 1").first?.data(0) {
                    _ = try box.open(sealed, context: "key-check")
                }
            }
        }
    }

    // MARK: transactions

    /// One transaction: committed when `body` returns, rolled back when it throws (a refusal changes nothing).
    func transaction<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try pool.withConnection { c in
            try c.exec("BEGIN")
            do {
                let result = try body(c)
                try c.exec("COMMIT")
                return result
            } catch {
                if c.isOK { _ = try? c.exec("ROLLBACK") }
                throw error
            }
        }
    }

    func read<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try pool.withConnection(body)
    }

    static func seconds(_ date: Date) -> StoreValue { .real(date.timeIntervalSince1970) }
    static func seconds(_ date: Date?) -> StoreValue { date.map { .real($0.timeIntervalSince1970) } ?? .null }
    static func text(_ s: String?) -> StoreValue { s.map(StoreValue.text) ?? .null }
    static func lines(_ values: [String]) -> StoreValue { .text(values.joined(separator: "\n")) }
    static func list(_ text: String) -> [String] { text.isEmpty ? [] : text.split(separator: "\n").map(String.init) }

    static let linkColumns = "id, client, sources, max_sources, created_at, expires_at, opened_at, finished_at, revoked_at"

    static func link(_ row: PGRow) -> AuthorizationLink {
        AuthorizationLink(id: row.string(0), client: row.string(1), sources: list(row.string(2)), maxSources: row.optionalInt(3),
                          createdAt: row.date(4), expiresAt: row.date(5), openedAt: row.optionalDate(6), finishedAt: row.optionalDate(7),
                          revokedAt: row.optionalDate(8))
    }

    static let sessionColumns = "id, link_id, created_at, expires_at, finished_at, cookie_hash"

    static func session(_ row: PGRow) -> LinkSession {
        LinkSession(id: row.string(0), linkID: row.string(1), createdAt: row.date(2), expiresAt: row.date(3), finishedAt: row.optionalDate(4))
    }

    static let connectionColumns = """
        id, link_id, client, provider, account, scopes, status, created_at, activated_at, access_token_expires_at, renewed_at
        """

    static func connection(_ row: PGRow) -> StoredConnection {
        StoredConnection(id: row.string(0), linkID: row.string(1), client: row.string(2), provider: row.string(3),
                         account: row.optionalString(4), scopes: list(row.string(5)),
                         status: ConnectionStatus(rawValue: row.string(6)) ?? .removed, createdAt: row.date(7),
                         activatedAt: row.optionalDate(8), accessTokenExpiresAt: row.optionalDate(9), renewedAt: row.optionalDate(10))
    }

    func fetchLink(_ c: PGConnection, id: String) throws -> AuthorizationLink? {
        try c.exec("SELECT \(Self.linkColumns) FROM links WHERE id = $1", [.text(id)]).first.map(Self.link)
    }

    func fetchLink(_ c: PGConnection, tokenHash: Data) throws -> AuthorizationLink? {
        try c.exec("SELECT \(Self.linkColumns) FROM links WHERE token_hash = $1", [.blob(tokenHash)]).first.map(Self.link)
    }

    /// The session (row locked until the transaction ends) and its link, when it may still change.
    /// One statement (a round trip less per Finish and per connection added).
    func liveSession(_ c: PGConnection, id: String, now: Date) throws -> (LinkSession, AuthorizationLink) {
        let linkColumns = Self.linkColumns.split(separator: ",").map { "l." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
        guard let row = try c.exec("""
            SELECT s.id, s.link_id, s.created_at, s.expires_at, s.finished_at, \(linkColumns)
            FROM sessions s JOIN links l ON l.id = s.link_id WHERE s.id = $1 FOR UPDATE OF s
            """, [.text(id)], prepared: true).first else { throw LinkRefusal.noSession }
        let session = Self.session(row)
        let link = Self.link(PGRow(Array(row.values.dropFirst(5))))
        try SQLiteStore.requireLive(session, link, now: now)
        return (session, link)
    }

    func requireRoom(_ c: PGConnection, session: LinkSession, link: AuthorizationLink, provider: String) throws {
        if !link.sources.isEmpty && !link.sources.contains(provider) { throw LinkRefusal.providerNotAllowed(provider) }
        if let limit = link.maxSources {
            let made = try c.exec("SELECT COUNT(*) FROM connections WHERE session_id = $1 AND status != 'removed'", [.text(session.id)])
                .first?.int(0) ?? 0
            if made >= limit { throw LinkRefusal.planLimit(limit) }
        }
    }

    // MARK: links

    public func issueLink(client: String, sources: [String], maxSources: Int?, ttl: TimeInterval, now: Date) throws -> IssuedLink {
        guard ttl > 0, ttl.isFinite else { throw InputError(.usage, "a link's time to live must be positive") }
        let token = LinkSecrets.newSecret()
        let link = AuthorizationLink(id: LinkSecrets.newID(prefix: "lnk_"), client: client, sources: sources, maxSources: maxSources,
                                     createdAt: now, expiresAt: now.addingTimeInterval(ttl))
        try read { c in
            try c.exec("""
                INSERT INTO links (id, token_hash, client, sources, max_sources, created_at, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                """, [.text(link.id), .blob(LinkSecrets.digest(token)), .text(client), Self.lines(sources),
                      maxSources.map { .integer(Int64($0)) } ?? .null, Self.seconds(link.createdAt), Self.seconds(link.expiresAt)],
                prepared: true)
        }
        return IssuedLink(link: link, token: token)
    }

    public func link(id: String) throws -> AuthorizationLink? {
        try read { c in try fetchLink(c, id: id) }
    }

    public func allLinks() throws -> [AuthorizationLink] {
        try read { c in
            try c.exec("SELECT \(Self.linkColumns) FROM links ORDER BY created_at DESC, id DESC").all.map(Self.link)
        }
    }

    public func revokeLink(id: String, now: Date) throws -> AuthorizationLink {
        try transaction { c in
            try c.exec("UPDATE links SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [Self.seconds(now), .text(id)])
            guard let link = try fetchLink(c, id: id) else { throw LinkRefusal.unknownLink }
            return link
        }
    }

    public func openLink(token: String, now: Date) throws -> OpenedSession {
        let tokenHash = LinkSecrets.digest(token)
        let cookieSecret = LinkSecrets.newSecret()
        let sessionID = LinkSecrets.newID(prefix: "ses_")
        return try read { c in
            // Single use, across every process on this database: a concurrent open waits on the
            // row lock, then finds opened_at set and updates nothing. The open and the session it
            // starts are one statement, so one transaction (and one round trip).
            let won = try c.exec("""
                WITH won AS (
                    UPDATE links SET opened_at = $1
                    WHERE token_hash = $2 AND opened_at IS NULL AND revoked_at IS NULL AND expires_at > $1
                    RETURNING \(Self.linkColumns)
                ), started AS (
                    INSERT INTO sessions (id, link_id, cookie_hash, created_at, expires_at)
                    SELECT $3, id, $4, $1, expires_at FROM won RETURNING id
                )
                SELECT \(Self.linkColumns) FROM won WHERE EXISTS (SELECT 1 FROM started)
                """, [Self.seconds(now), .blob(tokenHash), .text(sessionID), .blob(LinkSecrets.digest(cookieSecret))], prepared: true)
                .first.map(Self.link)
            guard let link = won else { throw SQLiteStore.openRefusal(try fetchLink(c, tokenHash: tokenHash), now: now) }
            let session = LinkSession(id: sessionID, linkID: link.id, createdAt: now, expiresAt: link.expiresAt)
            return OpenedSession(session: session, link: link, cookieSecret: cookieSecret)
        }
    }

    public func link(token: String) throws -> AuthorizationLink? {
        let tokenHash = LinkSecrets.digest(token)
        return try read { c in try fetchLink(c, tokenHash: tokenHash) }
    }

    public func session(token: String, cookieSecret: String, now: Date) throws -> (LinkSession, AuthorizationLink) {
        let tokenHash = LinkSecrets.digest(token)
        let cookieHash = LinkSecrets.digest(cookieSecret)
        return try read { c in
            guard let link = try fetchLink(c, tokenHash: tokenHash) else { throw LinkRefusal.unknownLink }
            guard let row = try c.exec("SELECT \(Self.sessionColumns) FROM sessions WHERE link_id = $1", [.text(link.id)]).first,
                  let stored = row.data(5), LinkSecrets.constantTimeEquals(stored, cookieHash) else { throw LinkRefusal.noSession }
            let session = Self.session(row)
            try SQLiteStore.requireLive(session, link, now: now)
            return (session, link)
        }
    }

    // MARK: OAuth flow

    public func beginAuthorization(_ pending: PendingAuthorization) throws -> String {
        let state = LinkSecrets.newSecret()
        try transaction { c in
            let (session, link) = try liveSession(c, id: pending.sessionID, now: pending.createdAt)
            guard link.id == pending.linkID else { throw LinkRefusal.noSession }
            try requireRoom(c, session: session, link: link, provider: pending.provider)
            try makeRoomForAttempt(c, sessionID: session.id, now: pending.createdAt)
            let sealed = try box.seal(Data(pending.codeVerifier.utf8), context: "authorization:" + session.id)
            try c.exec("""
                INSERT INTO authorizations (state_hash, session_id, link_id, provider, verifier_sealed, redirect_uri, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                """, [.blob(LinkSecrets.digest(state)), .text(session.id), .text(link.id), .text(pending.provider), .blob(sealed),
                      .text(pending.redirectURI), Self.seconds(pending.createdAt)])
        }
        return state
    }

    func makeRoomForAttempt(_ c: PGConnection, sessionID: String, now: Date) throws {
        try c.exec("DELETE FROM authorizations WHERE session_id = $1 AND (consumed_at IS NOT NULL OR created_at <= $2)",
                   [.text(sessionID), .real(now.timeIntervalSince1970 - SQLiteStore.authorizationLifetime)])
        let pending = try c.exec("SELECT COUNT(*) FROM authorizations WHERE session_id = $1", [.text(sessionID)]).first?.int(0) ?? 0
        let excess = pending - (SQLiteStore.maxPendingAuthorizationsPerSession - 1)
        if excess > 0 {
            try c.exec("""
                DELETE FROM authorizations WHERE state_hash IN (
                    SELECT state_hash FROM authorizations WHERE session_id = $1 ORDER BY created_at, state_hash LIMIT $2)
                """, [.text(sessionID), .integer(Int64(excess))])
        }
    }

    public func pendingAuthorizations(sessionID: String) throws -> Int {
        try read { c in
            try c.exec("SELECT COUNT(*) FROM authorizations WHERE session_id = $1 AND consumed_at IS NULL", [.text(sessionID)]).first?.int(0) ?? 0
        }
    }

    public func consumeAuthorization(state: String, now: Date) throws -> PendingAuthorization {
        let stateHash = LinkSecrets.digest(state)
        let pending: PendingAuthorization? = try transaction { c in
            guard let row = try c.exec("""
                UPDATE authorizations SET consumed_at = $1 WHERE state_hash = $2 AND consumed_at IS NULL
                RETURNING session_id, link_id, provider, verifier_sealed, redirect_uri, created_at
                """, [Self.seconds(now), .blob(stateHash)]).first else { return nil }
            let createdAt = row.date(5)
            // A stale state is spent all the same (committed), never retried.
            guard now.timeIntervalSince(createdAt) <= SQLiteStore.authorizationLifetime, let sealed = row.data(3) else { return nil }
            let sessionID = row.string(0)
            let verifier = try box.open(sealed, context: "authorization:" + sessionID)
            return PendingAuthorization(sessionID: sessionID, linkID: row.string(1), provider: row.string(2),
                                        codeVerifier: String(decoding: verifier, as: UTF8.self), redirectURI: row.string(4), createdAt: createdAt)
        }
        guard let pending else { throw LinkRefusal.badState }
        return pending
    }

    public func addConnection(sessionID: String, provider: String, account: String?, tokens: ProviderTokens, now: Date) throws -> StoredConnection {
        let id = LinkSecrets.newID(prefix: "con_")
        let sealed = try box.seal(SealedTokens(tokens).encoded(), context: "connection:" + id)
        return try transaction { c in
            let (session, link) = try liveSession(c, id: sessionID, now: now)
            if !link.sources.isEmpty && !link.sources.contains(provider) { throw LinkRefusal.providerNotAllowed(provider) }
            let connection = StoredConnection(id: id, linkID: link.id, client: link.client, provider: provider, account: account,
                                              scopes: tokens.scopes, status: .pending, createdAt: now,
                                              accessTokenExpiresAt: tokens.expiresAt)
            // The plan limit is counted by the INSERT itself (the session row is locked, and each
            // statement reads what is committed when it starts): one round trip, not two.
            let inserted = try c.exec("""
                INSERT INTO connections (id, link_id, session_id, client, provider, account, scopes, status, tokens_sealed,
                                         created_at, access_token_expires_at)
                SELECT $1, $2, $3, $4, $5, $6, $7, 'pending', $8::bytea, $9::double precision, $10::double precision
                WHERE $11::integer IS NULL
                   OR (SELECT COUNT(*) FROM connections WHERE session_id = $3 AND status != 'removed') < $11::integer
                RETURNING id
                """, [.text(id), .text(link.id), .text(session.id), .text(link.client), .text(provider), Self.text(account),
                      Self.lines(tokens.scopes), .blob(sealed), Self.seconds(now), Self.seconds(tokens.expiresAt),
                      link.maxSources.map { .integer(Int64($0)) } ?? .null], prepared: true)
            if inserted.first == nil, let limit = link.maxSources { throw LinkRefusal.planLimit(limit) }
            return connection
        }
    }

    public func finishSession(id: String, now: Date) throws -> [StoredConnection] {
        try transaction { c in
            let (session, link) = try liveSession(c, id: id, now: now)
            // One statement: the session and link finished, the pending connections activated, and
            // every active connection of the session returned (those just activated come from the
            // UPDATE: the statement's own reads do not see its changes).
            return try c.exec("""
                WITH finished AS (UPDATE sessions SET finished_at = $1 WHERE id = $2),
                     linked AS (UPDATE links SET finished_at = $1 WHERE id = $3),
                     activated AS (UPDATE connections SET status = 'active', activated_at = $1
                                   WHERE session_id = $2 AND status = 'pending' RETURNING \(Self.connectionColumns))
                SELECT * FROM (
                    SELECT \(Self.connectionColumns) FROM activated
                    UNION ALL
                    SELECT \(Self.connectionColumns) FROM connections WHERE session_id = $2 AND status = 'active'
                ) AS active ORDER BY created_at, id
                """, [Self.seconds(now), .text(session.id), .text(link.id)], prepared: true).all.map(Self.connection)
        }
    }

    public func connections(sessionID: String) throws -> [StoredConnection] {
        try read { c in
            try c.exec("SELECT \(Self.connectionColumns) FROM connections WHERE session_id = $1 ORDER BY created_at, id",
                       [.text(sessionID)]).all.map(Self.connection)
        }
    }

    // MARK: connections

    public func allConnections() throws -> [StoredConnection] {
        try read { c in
            try c.exec("SELECT \(Self.connectionColumns) FROM connections ORDER BY created_at DESC, id DESC").all.map(Self.connection)
        }
    }

    public func connections(linkID: String) throws -> [StoredConnection] {
        try read { c in
            try c.exec("SELECT \(Self.connectionColumns) FROM connections WHERE link_id = $1 ORDER BY created_at, id",
                       [.text(linkID)]).all.map(Self.connection)
        }
    }

    public func session(linkID: String) throws -> LinkSession? {
        try read { c in
            try c.exec("SELECT \(Self.sessionColumns) FROM sessions WHERE link_id = $1", [.text(linkID)]).first.map(Self.session)
        }
    }

    public func connection(id: String) throws -> StoredConnection? {
        try read { c in
            try c.exec("SELECT \(Self.connectionColumns) FROM connections WHERE id = $1", [.text(id)]).first.map(Self.connection)
        }
    }

    public func removeConnection(id: String, now: Date) throws -> StoredConnection {
        try transaction { c in
            try c.exec("UPDATE connections SET status = 'removed', removed_at = $1, tokens_sealed = NULL WHERE id = $2 AND status != 'removed'",
                       [Self.seconds(now), .text(id)])
            guard let row = try c.exec("SELECT \(Self.connectionColumns) FROM connections WHERE id = $1", [.text(id)]).first else {
                throw StoreError.unknownConnection(id)
            }
            return Self.connection(row)
        }
    }

    public func connectionCredentials(id: String) throws -> ProviderTokens {
        let sealed: Data? = try read { c in
            guard let row = try c.exec("SELECT tokens_sealed FROM connections WHERE id = $1", [.text(id)]).first else {
                throw StoreError.unknownConnection(id)
            }
            return row.data(0)
        }
        guard let sealed else { throw StoreError.connectionRemoved(id) }
        return try SealedTokens.decode(box.open(sealed, context: "connection:" + id)).tokens
    }

    public func storeRenewedTokens(connectionID: String, tokens: ProviderTokens, now: Date) throws {
        try transaction { c in
            guard let row = try c.exec("SELECT tokens_sealed FROM connections WHERE id = $1 FOR UPDATE", [.text(connectionID)]).first else {
                throw StoreError.unknownConnection(connectionID)
            }
            guard let previousSealed = row.data(0) else { throw StoreError.connectionRemoved(connectionID) }
            let context = "connection:" + connectionID
            let previous = try SealedTokens.decode(box.open(previousSealed, context: context)).tokens
            let merged = SQLiteStore.merge(tokens, over: previous)
            try c.exec("""
                UPDATE connections SET tokens_sealed = $1, renewed_at = $2, access_token_expires_at = $3, scopes = $4 WHERE id = $5
                """, [.blob(try box.seal(SealedTokens(merged).encoded(), context: context)), Self.seconds(now), Self.seconds(merged.expiresAt),
                      Self.lines(merged.scopes), .text(connectionID)])
        }
    }

    // MARK: check history

    public func recordVerdicts(_ verdicts: [CheckVerdict]) throws {
        guard !verdicts.isEmpty else { return }
        try transaction { c in try insertVerdicts(c, verdicts) }
    }

    /// Verdicts inserted in statements of 1,000 rows, inside the caller's transaction.
    func insertVerdicts(_ c: PGConnection, _ verdicts: [CheckVerdict]) throws {
            for batch in stride(from: 0, to: verdicts.count, by: 1000) {
                let part = verdicts[batch..<min(batch + 1000, verdicts.count)]
                var values: [StoreValue] = []
                var tuples: [String] = []
                for verdict in part {
                    let n = values.count
                    tuples.append("($\(n + 1), $\(n + 2), $\(n + 3), $\(n + 4), $\(n + 5), $\(n + 6), $\(n + 7), $\(n + 8))")
                    values += [.text(verdict.connection), Self.seconds(verdict.checkedAt), .text(verdict.status), .text(verdict.failure),
                               .text(verdict.summary), verdict.provider.map { .text($0) } ?? .null,
                               verdict.seconds.map { .real($0) } ?? .null, verdict.tokenExpiresAt.map { .integer(Int64($0)) } ?? .null]
                }
                try c.exec("INSERT INTO verdicts (connection, checked_at, status, failure, summary, provider, seconds, token_expires_at) VALUES "
                           + tuples.joined(separator: ", "), values)
            }
    }

    /// How many connections, and the latest creation, activation and removal among them.
    public func connectionsVersion() throws -> String? {
        try read { c in
            try c.exec("""
                SELECT COUNT(*), COALESCE(MAX(created_at), 0), COALESCE(MAX(activated_at), 0), COALESCE(MAX(removed_at), 0) FROM connections
                """).first.map { $0.values.map { $0 ?? "" }.joined(separator: ":") }
        }
    }

    /// The newest verdict id and the number of verdicts (ids come from a sequence: they only grow).
    public func checkHistoryVersion() throws -> String? {
        try read { c in
            try c.exec("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM verdicts").first.map { "\($0.int(0)):\($0.int(1))" }
        }
    }

    public func verdicts(afterID: Int64, limit: Int) throws -> [(id: Int64, verdict: CheckVerdict)]? {
        try read { c in
            try c.exec("""
                SELECT connection, checked_at, status, failure, summary, provider, seconds, token_expires_at, id FROM verdicts
                WHERE id > $1 ORDER BY id LIMIT $2
                """, [.integer(afterID), .integer(Int64(max(0, limit)))]).all.map { (id: Int64($0.int(8)), verdict: Self.verdict($0)) }
        }
    }

    static func verdict(_ row: PGRow) -> CheckVerdict {
        CheckVerdict(connection: row.string(0), checkedAt: row.date(1), status: row.string(2), failure: row.string(3), summary: row.string(4),
                     provider: row.optionalString(5), seconds: row.values[6].flatMap(Double.init), tokenExpiresAt: row.optionalInt(7))
    }

    public func verdicts(connection: String, limit: Int) throws -> [CheckVerdict] {
        try read { c in
            try c.exec("""
                SELECT connection, checked_at, status, failure, summary, provider, seconds, token_expires_at FROM verdicts WHERE connection = $1
                ORDER BY checked_at DESC, id DESC LIMIT $2
                """, [.text(connection), .integer(Int64(max(0, limit)))]).all.map(Self.verdict)
        }
    }

    public func recentVerdicts(perConnection: Int) throws -> [String: [CheckVerdict]] {
        try read { c in
            let rows = try c.exec("""
                SELECT connection, checked_at, status, failure, summary, provider, seconds, token_expires_at FROM (
                    SELECT *, ROW_NUMBER() OVER (PARTITION BY connection ORDER BY checked_at DESC, id DESC) AS place FROM verdicts
                ) ranked WHERE place <= $1 ORDER BY connection, place
                """, [.integer(Int64(max(1, perConnection)))]).all
            var out: [String: [CheckVerdict]] = [:]
            for row in rows {
                let verdict = Self.verdict(row)
                out[verdict.connection, default: []].append(verdict)
            }
            return out
        }
    }

    public func renewedConnectionNames() throws -> Set<String>? {
        try read { c in Set(try c.exec("SELECT connection_name FROM renewed_tokens").all.map { $0.string(0) }) }
    }

    public func renewedTokens(connectionName: String) throws -> ProviderTokens? {
        let sealed = try read { c in
            try c.exec("SELECT tokens_sealed FROM renewed_tokens WHERE connection_name = $1", [.text(connectionName)]).first?.data(0)
        }
        guard let sealed else { return nil }
        return try SealedTokens.decode(box.open(sealed, context: "renewed:" + connectionName)).tokens
    }

    public func storeRenewedTokens(connectionName: String, tokens: ProviderTokens, now: Date) throws {
        let context = "renewed:" + connectionName
        try transaction { c in
            // Two workers renewing one file connection: the second waits and merges over the first.
            try c.exec("SELECT pg_advisory_xact_lock(hashtext($1))", [.text("renewed:" + connectionName)])
            let previousSealed = try c.exec("SELECT tokens_sealed FROM renewed_tokens WHERE connection_name = $1",
                                            [.text(connectionName)]).first?.data(0)
            let previous = try previousSealed.map { try SealedTokens.decode(box.open($0, context: context)).tokens }
            let sealed = try box.seal(SealedTokens(SQLiteStore.merge(tokens, over: previous)).encoded(), context: context)
            try c.exec("""
                INSERT INTO renewed_tokens (connection_name, tokens_sealed, renewed_at) VALUES ($1, $2, $3)
                ON CONFLICT (connection_name) DO UPDATE SET tokens_sealed = excluded.tokens_sealed, renewed_at = excluded.renewed_at
                """, [.text(connectionName), .blob(sealed), Self.seconds(now)])
        }
    }

    // MARK: upkeep

    public func prune(now: Date) throws -> PruneReport {
        let at = now.timeIntervalSince1970
        return try transaction { c in
            var report = PruneReport()
            let deadSessions = """
                SELECT s.id FROM sessions s JOIN links l ON l.id = s.link_id
                WHERE s.finished_at IS NULL AND (s.expires_at <= $1 OR l.expires_at <= $1 OR l.revoked_at IS NOT NULL)
                """
            report.authorizations = try c.exec("""
                DELETE FROM authorizations WHERE consumed_at IS NOT NULL OR created_at <= $2 OR session_id IN (\(deadSessions))
                """, [.real(at), .real(at - SQLiteStore.authorizationLifetime)]).affected
            report.pendingConnectionsErased = try c.exec("""
                UPDATE connections SET tokens_sealed = NULL
                WHERE status = 'pending' AND tokens_sealed IS NOT NULL AND session_id IN (\(deadSessions))
                """, [.real(at)]).affected
            report.sessions = try c.exec("""
                DELETE FROM sessions WHERE id IN (\(deadSessions)) AND id NOT IN (SELECT session_id FROM connections)
                """, [.real(at)]).affected
            return report
        }
    }

    public func rotateKey(to newBox: SecretBox) throws -> Int {
        try transaction { c in
            var count = 0
            for row in try c.exec("SELECT id, tokens_sealed FROM connections WHERE tokens_sealed IS NOT NULL FOR UPDATE").all {
                let id = row.string(0), context = "connection:" + id
                guard let old = row.data(1) else { continue }
                try c.exec("UPDATE connections SET tokens_sealed = $1 WHERE id = $2",
                           [.blob(try newBox.seal(box.open(old, context: context), context: context)), .text(id)])
                count += 1
            }
            for row in try c.exec("SELECT connection_name, tokens_sealed FROM renewed_tokens FOR UPDATE").all {
                let name = row.string(0), context = "renewed:" + name
                guard let old = row.data(1) else { continue }
                try c.exec("UPDATE renewed_tokens SET tokens_sealed = $1 WHERE connection_name = $2",
                           [.blob(try newBox.seal(box.open(old, context: context), context: context)), .text(name)])
                count += 1
            }
            for row in try c.exec("SELECT state_hash, session_id, verifier_sealed FROM authorizations FOR UPDATE").all {
                let context = "authorization:" + row.string(1)
                guard let hash = row.data(0), let old = row.data(2) else { continue }
                try c.exec("UPDATE authorizations SET verifier_sealed = $1 WHERE state_hash = $2",
                           [.blob(try newBox.seal(box.open(old, context: context), context: context)), .blob(hash)])
                count += 1
            }
            try c.exec("INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
                       [.blob(try newBox.seal(Self.keyCheckText, context: "key-check"))])
            return count
        }
    }

    public func recordConnectableProviders(_ providers: [String], now: Date) throws {
        try read { c in
            try c.exec("""
                INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
                ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """, [.text(SQLiteStore.connectableSetting), Self.lines(providers.sorted()), Self.seconds(now)])
        }
    }

    public func connectableProviders() throws -> [String]? {
        try read { c in
            try c.exec("SELECT value FROM settings WHERE name = $1", [.text(SQLiteStore.connectableSetting)]).first.map { Self.list($0.string(0)) }
        }
    }

    // MARK: moves

    public func exportRows(_ table: StoreTable) throws -> [[StoreValue]] {
        try read { c in
            try c.exec("SELECT \(table.columns.joined(separator: ", ")) FROM \(table.name) ORDER BY \(table.columns[0])").all.map { row in
                table.types.indices.map { row.value($0, table.types[$0]) }
            }
        }
    }

    public func importRows(_ tables: [(StoreTable, [[StoreValue]])]) throws {
        try transaction { c in
            for (table, rows) in tables where !rows.isEmpty {
                let width = table.columns.count
                let perStatement = max(1, 30_000 / width)
                for start in stride(from: 0, to: rows.count, by: perStatement) {
                    let part = rows[start..<min(start + perStatement, rows.count)]
                    var values: [StoreValue] = []
                    values.reserveCapacity(part.count * width)
                    var tuples: [String] = []
                    for row in part {
                        let n = values.count
                        tuples.append("(" + (1...width).map { "$\(n + $0)" }.joined(separator: ", ") + ")")
                        values += row
                    }
                    try c.exec("INSERT INTO \(table.name) (\(table.columns.joined(separator: ", "))) VALUES " + tuples.joined(separator: ", "),
                               values)
                }
            }
            // Explicit ids leave the sequences behind: the next verdict (audit entry) must not collide.
            try c.exec("SELECT setval(pg_get_serial_sequence('verdicts', 'id'), GREATEST((SELECT MAX(id) FROM verdicts), 1))")
            try c.exec("SELECT setval(pg_get_serial_sequence('audit', 'id'), GREATEST((SELECT MAX(id) FROM audit), 1))")
        }
    }
}

extension PostgresStore {
    // MARK: operators and the audit log

    public func addOperator(name: String, now: Date) throws -> NewOperator {
        try OperatorTokens.requireValidName(name)
        let token = OperatorTokens.newToken()
        let inserted = try read { c in
            try c.exec("INSERT INTO operators (name, token_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                       [.text(name), .blob(LinkSecrets.digest(token)), Self.seconds(now)]).affected
        }
        if inserted != 1 { throw OperatorTokens.taken(name) }
        return NewOperator(account: OperatorAccount(name: name, createdAt: now), token: token)
    }

    /// Whether a table exists (a store opened read-only may predate the migration that makes it).
    func tableExists(_ c: PGConnection, _ name: String) throws -> Bool {
        try c.exec("SELECT to_regclass($1) IS NOT NULL", [.text(name)]).first?.string(0) == "t"
    }

    static func operatorAccount(_ row: PGRow) -> OperatorAccount {
        OperatorAccount(name: row.string(0), createdAt: row.date(1), lastUsedAt: row.optionalDate(2))
    }

    public func operatorAccounts() throws -> [OperatorAccount] {
        try read { c in
            guard try tableExists(c, "operators") else { return [] }
            return try c.exec("SELECT name, created_at, last_used_at FROM operators ORDER BY name").all.map(Self.operatorAccount)
        }
    }

    public func removeOperator(name: String, now: Date) throws -> OperatorAccount {
        let removed = try read { c in
            try c.exec("DELETE FROM operators WHERE name = $1 RETURNING name, created_at, last_used_at", [.text(name)]).first.map(Self.operatorAccount)
        }
        guard let removed else { throw OperatorTokens.unknown(name) }
        return removed
    }

    public func authenticateOperator(token: String, now: Date) throws -> OperatorAccount? {
        guard OperatorTokens.isTokenShaped(token) else { return nil }
        let hash = LinkSecrets.digest(token)
        return try read { c in
            guard let row = try c.exec("SELECT name, created_at, last_used_at, token_hash FROM operators WHERE token_hash = $1", [.blob(hash)]).first,
                  let stored = row.data(3), LinkSecrets.constantTimeEquals(stored, hash) else { return nil }
            var account = Self.operatorAccount(row)
            try c.exec("UPDATE operators SET last_used_at = $1 WHERE name = $2 AND token_hash = $3", [Self.seconds(now), .text(account.name), .blob(hash)])
            account.lastUsedAt = now
            return account
        }
    }

    public func recordAudit(_ entry: AuditEntry) throws {
        try read { c in
            try c.exec("INSERT INTO audit (happened_at, actor, method, route, target, status) VALUES ($1, $2, $3, $4, $5, $6)",
                       [Self.seconds(entry.at), .text(entry.actor), .text(entry.method), .text(entry.route), Self.text(entry.target),
                        .integer(Int64(entry.status))])
        }
    }

    public func auditEntries(since: Date?, actor: String?) throws -> [AuditEntry] {
        try read { c in
            guard try tableExists(c, "audit") else { return [] }
            return try c.exec("""
                SELECT happened_at, actor, method, route, target, status FROM audit
                WHERE ($1::double precision IS NULL OR happened_at >= $1) AND ($2::text IS NULL OR actor = $2) ORDER BY happened_at, id
                """, [Self.seconds(since), Self.text(actor)]).all.map { row in
                AuditEntry(at: row.date(0), actor: row.string(1), method: row.string(2), route: row.string(3), target: row.optionalString(4),
                           status: row.optionalInt(5) ?? 0)
            }
        }
    }
}
