import Foundation
import HealthCheck
import Links

/// The console's overview: one row per connection, from the store's connections (links) and the
/// check history `check --db` records (a connection of a connections file has a history only).
/// Status, failing since and flapping are `ConnectionHistory`'s, as `authdoctor history` shows them.
struct ConsoleOverview: Sendable {
    static let pageSize = 50
    /// The statuses the filter offers, worst first (`unchecked`: no check recorded yet).
    static let statuses = ["critical", "warning", "unknown", "unchecked", "ok"]

    struct Row: Sendable {
        var id: String
        var provider: String?
        var client: String?
        var account: String?
        /// The stored connection's state (active, pending); nil for a connection of a connections file.
        var state: String?
        var status: String
        var failure: String?
        var summary: String?
        var failingSince: Date?
        var flapping: Bool
        var lastCheck: Date?
    }

    struct Filter: Sendable, Equatable {
        /// One of `statuses`, `failing` (anything not ok), or nil (all).
        var status: String?
        var provider: String?
        var query: String?
        var page: Int = 1

        init(status: String? = nil, provider: String? = nil, query: String? = nil, page: Int = 1) {
            self.status = status
            self.provider = provider
            self.query = query
            self.page = page
        }

        /// From the overview's query string; unknown values are dropped (never echoed unescaped).
        init(query parameters: [(String, String)]) {
            func value(_ name: String) -> String? {
                FormEncoding.value(name, in: parameters).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
            }
            status = value("status").flatMap { ConsoleOverview.statuses.contains($0) || $0 == "failing" ? $0 : nil }
            provider = value("provider").map { String($0.prefix(64)) }
            query = value("q").map { String($0.prefix(200)) }
            page = value("page").flatMap(Int.init).map { max(1, min($0, 1_000_000)) } ?? 1
        }

        /// The query string that gives this filter on another page.
        func queryString(page: Int) -> String {
            var pairs: [(String, String)] = []
            if let status { pairs.append(("status", status)) }
            if let provider { pairs.append(("provider", provider)) }
            if let query { pairs.append(("q", query)) }
            if page > 1 { pairs.append(("page", String(page))) }
            return pairs.isEmpty ? "" : "?" + FormEncoding.encode(pairs)
        }
    }

    struct Page: Sendable {
        var rows: [Row]
        /// Rows that pass the filter, on every page.
        var matching: Int
        var total: Int
        var page: Int
        var pages: Int
        var providers: [String]
        var counts: [String: Int]
    }

    /// What the overview shows of one connection's history (the newest `ConnectionHistory.flapWindow` verdicts).
    struct Summary: Sendable {
        var latest: CheckVerdict
        var failingSince: Date?
        var flapping: Bool

        init(_ verdicts: [CheckVerdict]) {
            let history = ConnectionHistory(connection: verdicts[0].connection, verdicts: verdicts)
            latest = verdicts[0]
            failingSince = history.failingSince
            flapping = history.flapping
        }
    }

    /// The summaries derived from the check history, kept until the history changes
    /// (`checkHistoryVersion`): reading every connection's recent verdicts is the costly part of
    /// the overview, and the history changes once per `check` run. After a run only the verdicts it
    /// added are read and merged into the kept histories (a full read of 100,000 verdicts took
    /// ~300 ms); a history that lost verdicts (pruned) or gained them out of order is read whole.
    final class Cache: @unchecked Sendable {
        private let lock = NSLock()
        private var version: String?
        private var summaries: [String: Summary] = [:]

        private var rowsKey: String?
        private var rows: [Row] = []

        struct Base { var histories: [String: [CheckVerdict]]; var summaries: [String: Summary]; var maxID: Int64; var count: Int64 }
        private var base: Base?

        func get(_ version: String) -> [String: Summary]? { lock.withLock { self.version == version ? summaries : nil } }
        func set(_ version: String, _ summaries: [String: Summary]) { lock.withLock { self.version = version; self.summaries = summaries } }
        func set(_ version: String, base: Base) {
            lock.withLock { self.version = version; summaries = base.summaries; self.base = base }
        }
        func incrementalBase() -> Base? { lock.withLock { base } }
        /// Changes the kept base in place (no copy of 10,000 histories); the change may give up (nil: read whole).
        func updateBase(_ change: (inout Base) throws -> String?) rethrows -> [String: Summary]? {
            try lock.withLock {
                guard var kept = base else { return nil }
                base = nil  // the histories are uniquely referenced while they change
                guard let newVersion = try change(&kept) else { return nil }
                base = kept
                version = newVersion
                summaries = kept.summaries
                return kept.summaries
            }
        }
        func rows(_ key: String) -> [Row]? { lock.withLock { rowsKey == key ? rows : nil } }
        func setRows(_ key: String, _ rows: [Row]) { lock.withLock { rowsKey = key; self.rows = rows } }
    }

    /// "maxID:count", as both stores write `checkHistoryVersion`.
    static func parseVersion(_ version: String) -> (maxID: Int64, count: Int64)? {
        let parts = version.split(separator: ":")
        guard parts.count == 2, let maxID = Int64(parts[0]), let count = Int64(parts[1]) else { return nil }
        return (maxID, count)
    }

    /// Most verdicts read one by one after a run; past this a whole read is as quick.
    static let incrementalLimit: Int64 = 50_000

    static func summaries(store: any AuthDoctorStore, cache: Cache?, version: String?) throws -> [String: Summary] {
        if let cache, let version, let kept = cache.get(version) { return kept }
        let window = ConnectionHistory.flapWindow
        if let cache, let version, let now = parseVersion(version),
           let merged = try cache.updateBase({ base -> String? in
               guard now.maxID >= base.maxID, now.count >= base.count, now.count - base.count <= incrementalLimit,
                     let added = try store.verdicts(afterID: base.maxID, limit: Int(now.count - base.count) + 1),
                     Int64(added.count) == now.count - base.count, (added.last?.id ?? base.maxID) == now.maxID else { return nil }
               for (_, verdict) in added {
                   let name = verdict.connection
                   var list = base.histories.removeValue(forKey: name) ?? []
                   list.insert(verdict, at: 0)
                   // Newest first by check time, as recentVerdicts orders them; a run's verdicts are
                   // usually the newest, so the list only needs sorting when one is not.
                   if list.count > 1, list[0].checkedAt < list[1].checkedAt { list.sort { $0.checkedAt > $1.checkedAt } }
                   if list.count > window { list.removeLast(list.count - window) }
                   base.summaries[name] = Summary(list)
                   base.histories[name] = list
               }
               base.maxID = now.maxID
               base.count = now.count
               return version
           }) {
            return merged
        }
        var out: [String: Summary] = [:]
        let histories = try store.recentVerdicts(perConnection: window)
        out.reserveCapacity(histories.count)
        for (name, verdicts) in histories where !verdicts.isEmpty { out[name] = Summary(verdicts) }
        if let cache, let version {
            if let now = parseVersion(version) {
                cache.set(version, base: Cache.Base(histories: histories, summaries: out, maxID: now.maxID, count: now.count))
            } else {
                cache.set(version, out)
            }
        }
        return out
    }

    /// Every connection, worst first (then the longest failing, then by id).
    /// With a cache, the sorted rows are kept until the history or the connections change (two small queries a request).
    static func rows(store: any AuthDoctorStore, cache: Cache? = nil) throws -> [Row] {
        let historyVersion = try cache == nil ? nil : store.checkHistoryVersion()
        let connectionsVersion = try cache == nil ? nil : store.connectionsVersion()
        let key = historyVersion.flatMap { h in connectionsVersion.map { h + "|" + $0 } }
        if let cache, let key, let kept = cache.rows(key) { return kept }
        let summaries = try summaries(store: store, cache: cache, version: historyVersion)
        let connections = try store.allConnections()
        var rows: [Row] = []
        rows.reserveCapacity(max(connections.count, summaries.count))
        var seen = Set<String>()
        seen.reserveCapacity(connections.count)
        for c in connections where c.status != .removed {
            seen.insert(c.id)
            rows.append(row(id: c.id, summary: summaries[c.id], connection: c))
        }
        for (name, summary) in summaries where !seen.contains(name) {
            rows.append(row(id: name, summary: summary, connection: nil))
        }
        // Each row's rank looked up once, not twice per comparison (10,000 rows: ~280,000 lookups).
        let rank = Dictionary(uniqueKeysWithValues: statuses.enumerated().map { ($1, $0) })
        var keyed = rows.map { (rank: rank[$0.status] ?? 2, since: $0.failingSince?.timeIntervalSince1970, row: $0) }
        keyed.sort { a, b in
            if a.rank != b.rank { return a.rank < b.rank }
            switch (a.since, b.since) {
            case let (x?, y?) where x != y: return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.row.id < b.row.id
            }
        }
        rows = keyed.map(\.row)
        if let cache, let key { cache.setRows(key, rows) }
        return rows
    }

    static func row(id: String, verdicts: [CheckVerdict], connection: StoredConnection?) -> Row {
        row(id: id, summary: verdicts.isEmpty ? nil : Summary(verdicts), connection: connection)
    }

    static func row(id: String, summary: Summary?, connection: StoredConnection?) -> Row {
        guard let summary else {
            return Row(id: id, provider: connection?.provider, client: connection?.client, account: connection?.account,
                       state: connection?.status.rawValue, status: "unchecked", failure: nil, summary: nil, failingSince: nil,
                       flapping: false, lastCheck: nil)
        }
        let latest = summary.latest
        return Row(id: id, provider: connection?.provider ?? latest.provider, client: connection?.client, account: connection?.account,
                   state: connection?.status.rawValue, status: latest.status, failure: latest.failure == "none" ? nil : latest.failure,
                   summary: latest.summary, failingSince: summary.failingSince, flapping: summary.flapping, lastCheck: latest.checkedAt)
    }

    /// The rows that pass the filter, cut to its page.
    static func page(_ all: [Row], filter: Filter) -> Page {
        var counts: [String: Int] = [:]
        var providers = Set<String>()
        for row in all {
            counts[row.status, default: 0] += 1
            if let p = row.provider { providers.insert(p) }
        }
        let needle = filter.query?.lowercased()
        let matching = all.filter { row in
            if let status = filter.status {
                if status == "failing" ? row.status == "ok" || row.status == "unchecked" : row.status != status { return false }
            }
            if let provider = filter.provider, row.provider != provider { return false }
            if let needle {
                let fields = [row.id, row.provider, row.client, row.account, row.failure, row.summary]
                if !fields.contains(where: { $0?.lowercased().contains(needle) ?? false }) { return false }
            }
            return true
        }
        let pages = max(1, (matching.count + pageSize - 1) / pageSize)
        let page = min(filter.page, pages)
        let slice = matching.dropFirst((page - 1) * pageSize).prefix(pageSize)
        return Page(rows: Array(slice), matching: matching.count, total: all.count, page: page, pages: pages,
                    providers: providers.sorted(), counts: counts)
    }
}

/// A connection's check history as an SVG drawn on the server: one bar per verdict, placed by its
/// time, coloured (and titled) by its status; a text summary for screen readers.
enum TimelineSVG {
    static let width = 720.0
    static let height = 72.0

    static func colour(_ status: String) -> String {
        switch status {
        case "ok": return "#1a7f37"
        case "warning": return "#9a6700"
        case "critical": return "#b42318"
        default: return "#57606a"
        }
    }

    /// `verdicts` newest first (as the store gives them).
    static func render(_ verdicts: [CheckVerdict]) -> String {
        guard let newest = verdicts.first, let oldest = verdicts.last else {
            return "<p class=\"muted\">No check of this connection is recorded yet (authdoctor check --db records one per run).</p>"
        }
        let span = max(1, newest.checkedAt.timeIntervalSince(oldest.checkedAt))
        let plot = width - 20
        let barWidth = max(2, min(16, plot / Double(max(1, verdicts.count)) - 1))
        var counts: [String: Int] = [:]
        var bars = ""
        bars.reserveCapacity(verdicts.count * 160)
        for v in verdicts.reversed() {
            counts[v.status, default: 0] += 1
            let x = 10 + (v.checkedAt.timeIntervalSince(oldest.checkedAt) / span) * (plot - barWidth)
            let h = v.status == "ok" ? 20.0 : 40.0
            let title = "\(LinkPages.dateText(v.checkedAt)): \(v.status)" + (v.failure == "none" ? "" : " (\(v.failure))")
            bars += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>", x, 50 - h, barWidth, h, colour(v.status))
                + LinkPages.escape(title) + "</title></rect>"
        }
        let described = ConsoleOverview.statuses.compactMap { s in counts[s].map { "\($0) \(s)" } }.joined(separator: ", ")
        let desc = "\(verdicts.count) checks from \(LinkPages.dateText(oldest.checkedAt)) to \(LinkPages.dateText(newest.checkedAt)): \(described)."
        return """
        <svg class="timeline" role="img" aria-labelledby="tl-title tl-desc" viewBox="0 0 \(Int(width)) \(Int(height))" width="100%" xmlns="http://www.w3.org/2000/svg">
        <title id="tl-title">Check history</title><desc id="tl-desc">\(LinkPages.escape(desc))</desc>
        <line x1="10" y1="50.5" x2="\(Int(width - 10))" y2="50.5" stroke="#5b6475" stroke-width="1"/>
        \(bars)
        <text x="10" y="66" font-size="11" fill="#3b4252">\(LinkPages.escape(LinkPages.dateText(oldest.checkedAt)))</text>
        <text x="\(Int(width - 10))" y="66" font-size="11" fill="#3b4252" text-anchor="end">\(LinkPages.escape(LinkPages.dateText(newest.checkedAt)))</text>
        </svg>
        <p class="muted">\(LinkPages.escape(desc))</p>
        """
    }
}
