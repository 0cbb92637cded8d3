import Foundation

/// The notification settings of a PostgreSQL store: the same rows as SQLite's (`settings`), so
/// `store copy` carries them and every `check` worker on the team store sees one list and one claim
/// per change.
extension PostgresStore: NotificationStore {
    public func notifyURLs() throws -> [String] {
        let sealed: String? = try read { c in
            try c.exec("SELECT value FROM settings WHERE name = $1", [.text(SealedNotifyURLs.setting)]).first?.string(0)
        }
        return try SealedNotifyURLs.open(sealed ?? "", box: box)
    }

    /// Read, change and write in one transaction, the row locked: two engineers adding at once both land.
    public func updateNotifyURLs(now: Date, _ change: (inout [String]) -> Void) throws -> [String] {
        try transaction { c in
            try c.exec("INSERT INTO settings (name, value, updated_at) VALUES ($1, '', $2) ON CONFLICT (name) DO NOTHING",
                       [.text(SealedNotifyURLs.setting), Self.seconds(now)])
            let sealed = try c.exec("SELECT value FROM settings WHERE name = $1 FOR UPDATE", [.text(SealedNotifyURLs.setting)]).first?.string(0) ?? ""
            var urls = try SealedNotifyURLs.open(sealed, box: box)
            change(&urls)
            try c.exec("UPDATE settings SET value = $1, updated_at = $2 WHERE name = $3",
                       [.text(try SealedNotifyURLs.seal(urls, box: box)), Self.seconds(now), .text(SealedNotifyURLs.setting)])
            return urls
        }
    }

    /// One row per connection holding the last change announced; the upsert changes it only when it
    /// differs and says so with RETURNING: of several workers (or instances) that saw the same change,
    /// exactly one gets the row back and announces it.
    public func claimNotification(connection: String, change: String, now: Date) throws -> Bool {
        try read { c in
            try !c.exec("""
                INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
                ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                WHERE settings.value <> excluded.value
                RETURNING name
                """, [.text(SQLiteStore.notifyClaimPrefix + connection), .text(change), Self.seconds(now)]).all.isEmpty
        }
    }
}
