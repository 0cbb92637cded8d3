import Foundation

// `check --claim` (issue 16, item 4): several `check` workers on one PostgreSQL store share the
// connections of a round. A round is one pass over every connection: a worker joins the newest
// unfinished round (or the one `--round LABEL` names), adds the connections it knows, then claims
// batches of those not checked yet this round with `SELECT ... FOR UPDATE SKIP LOCKED`, each claim
// held under a lease (renewed while the worker lives). A verdict and its claim's completion are
// one transaction; a claim whose lease ran out (its worker died) is claimed again by another
// worker, and a worker whose claim was taken over records nothing for it: each connection is
// recorded once per round. The round finishes when every claim in it is done.

/// A worker's view of a round: which one, and how far it is.
public struct ClaimRound: Sendable, Equatable {
    public var id: String
    /// Connections in the round, and how many are done.
    public var total: Int
    public var done: Int

    public init(id: String, total: Int, done: Int) {
        self.id = id
        self.total = total
        self.done = done
    }
}

/// What a completion wrote: verdicts recorded, and connections whose claim another worker had taken over.
public struct ClaimCompletion: Sendable, Equatable {
    public var recorded: Int
    public var takenOver: [String]
    public var roundFinished: Bool

    public init(recorded: Int, takenOver: [String], roundFinished: Bool) {
        self.recorded = recorded
        self.takenOver = takenOver
        self.roundFinished = roundFinished
    }
}

/// Claims with leases: implemented by `PostgresStore` (several machines); a SQLite store is one
/// machine's file, split with `check --shard K/N` instead.
public protocol CheckClaims: Sendable {
    /// Joins the round `label` names (made if new), or without one the newest unfinished round (a
    /// new one when every round is finished), and adds `connections` to it (those already in it
    /// stay as they are). One transaction.
    func joinRound(label: String?, connections: [String], now: Date) throws -> ClaimRound
    /// Claims at most `limit` of `among` (nil: any in the round) that are not done this round and
    /// not leased (or whose lease ran out), skipping rows another worker is claiming right now;
    /// leases them to `worker` until `now + lease`. Returns their names (in name order).
    func claim(round: String, worker: String, among: [String]?, limit: Int, lease: TimeInterval, now: Date) throws -> [String]
    /// Extends the leases of the worker's claims that are not done yet; returns how many.
    @discardableResult
    func extendLeases(round: String, worker: String, lease: TimeInterval, now: Date) throws -> Int
    /// One transaction: the worker's claims on `verdicts`' connections are marked done and those
    /// verdicts recorded in the history (`record`), and `released` claims are given back (not done,
    /// no lease: claimable again this round). Claims another worker took over are left alone.
    func completeClaims(round: String, worker: String, verdicts: [CheckVerdict], record: Bool, released: [String],
                        now: Date) throws -> ClaimCompletion
    /// The round's progress; nil when no such round.
    func round(id: String) throws -> ClaimRound?
}

extension PostgresStore: CheckClaims {
    /// pg_advisory_xact_lock key serialising round starts ("rounds" + 2 in ASCII).
    static let roundLock: Int64 = 0x726f_756e_6473_0002
    /// pg_advisory_xact_lock key serialising the "is the round finished?" check ("rounds" + 3).
    static let roundFinishLock: Int64 = 0x726f_756e_6473_0003

    /// A PostgreSQL array literal of texts (`{"a","b"}`), every element quoted and escaped.
    static func textArray(_ values: [String]) -> StoreValue {
        var out = "{"
        out.reserveCapacity(values.reduce(2) { $0 + $1.utf8.count + 3 })
        for (n, value) in values.enumerated() {
            if n > 0 { out += "," }
            out += "\""
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" { out += "\\" }
                out.unicodeScalars.append(character)
            }
            out += "\""
        }
        return .text(out + "}")
    }

    public func joinRound(label: String?, connections: [String], now: Date) throws -> ClaimRound {
        try transaction { c in
            try c.exec("SELECT pg_advisory_xact_lock($1)", [.integer(Self.roundLock)])
            let id: String
            if let label {
                try c.exec("INSERT INTO check_rounds (id, started_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                           [.text(label), Self.seconds(now)])
                id = label
            } else if let open = try c.exec("""
                SELECT id FROM check_rounds WHERE finished_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1
                """).first?.string(0) {
                id = open
            } else {
                id = LinkSecrets.newID(prefix: "rnd_")
                try c.exec("INSERT INTO check_rounds (id, started_at) VALUES ($1, $2)", [.text(id), Self.seconds(now)])
            }
            if !connections.isEmpty {
                try c.exec("""
                    INSERT INTO check_claims (round, connection) SELECT $1, name FROM unnest($2::text[]) AS name
                    ON CONFLICT (round, connection) DO NOTHING
                    """, [.text(id), Self.textArray(connections)])
            }
            return try progress(c, id: id) ?? ClaimRound(id: id, total: 0, done: 0)
        }
    }

    func progress(_ c: PGConnection, id: String) throws -> ClaimRound? {
        guard try c.exec("SELECT 1 FROM check_rounds WHERE id = $1", [.text(id)]).first != nil else { return nil }
        let row = try c.exec("SELECT COUNT(*), COUNT(done_at) FROM check_claims WHERE round = $1", [.text(id)]).first
        return ClaimRound(id: id, total: row?.int(0) ?? 0, done: row?.int(1) ?? 0)
    }

    public func round(id: String) throws -> ClaimRound? {
        try read { c in try progress(c, id: id) }
    }

    public func claim(round: String, worker: String, among: [String]?, limit: Int, lease: TimeInterval, now: Date) throws -> [String] {
        guard limit > 0, among?.isEmpty != true else { return [] }
        let at = now.timeIntervalSince1970
        // One statement (its own transaction): the rows picked are locked, skipped by every other
        // claimer meanwhile, and leased before the statement ends. Picked by row address (a TID
        // scan): a join back on (round, connection) let the planner scan the table once per row
        // on a table with no statistics yet (35 s instead of 4 for 10,000 connections).
        return try read { c in
            try c.exec("""
                UPDATE check_claims SET worker = $2, claimed_at = $3, lease_until = $4
                WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM check_claims
                    WHERE round = $1 AND done_at IS NULL AND (lease_until IS NULL OR lease_until < $3)
                      AND ($5::text[] IS NULL OR connection = ANY($5::text[]))
                    ORDER BY connection LIMIT $6 FOR UPDATE SKIP LOCKED))
                RETURNING connection
                """, [.text(round), .text(worker), .real(at), .real(at + lease), among.map(Self.textArray) ?? .null, .integer(Int64(limit))])
                .all.map { $0.string(0) }.sorted()
        }
    }

    public func extendLeases(round: String, worker: String, lease: TimeInterval, now: Date) throws -> Int {
        try read { c in
            try c.exec("UPDATE check_claims SET lease_until = $3 WHERE round = $1 AND worker = $2 AND done_at IS NULL",
                       [.text(round), .text(worker), .real(now.timeIntervalSince1970 + lease)]).affected
        }
    }

    public func completeClaims(round: String, worker: String, verdicts: [CheckVerdict], record: Bool, released: [String],
                               now: Date) throws -> ClaimCompletion {
        let at = Self.seconds(now)
        let completion: (ClaimCompletion, [CheckVerdict]) = try transaction { c in
            var mine: Set<String> = []
            if !verdicts.isEmpty {
                mine = Set(try c.exec("""
                    UPDATE check_claims SET done_at = $3, lease_until = NULL
                    WHERE round = $1 AND worker = $2 AND done_at IS NULL AND connection = ANY($4::text[])
                    RETURNING connection
                    """, [.text(round), .text(worker), at, Self.textArray(verdicts.map(\.connection))]).all.map { $0.string(0) })
            }
            if !released.isEmpty {
                try c.exec("""
                    UPDATE check_claims SET worker = NULL, lease_until = NULL, claimed_at = NULL
                    WHERE round = $1 AND worker = $2 AND done_at IS NULL AND connection = ANY($3::text[])
                    """, [.text(round), .text(worker), Self.textArray(released)])
            }
            // Serialised: two workers finishing their last claims at once would each still see the
            // other's claims undone (read committed) and neither would mark the round finished, so the
            // next `check --claim` without --round would join the finished round and find nothing.
            try c.exec("SELECT pg_advisory_xact_lock($1)", [.integer(Self.roundFinishLock)])
            let finished = try c.exec("""
                UPDATE check_rounds SET finished_at = $2 WHERE id = $1 AND finished_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM check_claims WHERE round = $1 AND done_at IS NULL)
                """, [.text(round), at]).affected > 0
            let kept = verdicts.filter { mine.contains($0.connection) }
            if record { try insertVerdicts(c, kept) }
            let takenOver = verdicts.map(\.connection).filter { !mine.contains($0) }
            return (ClaimCompletion(recorded: record ? kept.count : 0, takenOver: takenOver, roundFinished: finished), kept)
        }
        return completion.0
    }
}
