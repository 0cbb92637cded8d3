import Foundation

/// The notification settings of a PostgreSQL store: the same rows as SQLite's (`settings`), so
/// `store copy` carries them and every `check` worker on the team store sees one list and one claim
/// per change.
extension PostgresStore: NotificationStore {
    public func notifyURLs() throws -> [String] {
        let sealed: String? = try read { c in
            try c.exec("SELECT value FROM settings WHERE name = $1", [.text(SQLiteStore.notifyURLsSetting)]).first?.string(0)
        }
        guard let sealed, !sealed.isEmpty else { return [] }
        return try Self.openURLs(sealed, box: box)
    }

    @discardableResult
    public func addNotifyURL(_ url: String, now: Date) throws -> [String] {
        try updateNotifyURLs(now: now) { urls in if !urls.contains(url) { urls.append(url) } }
    }

    @discardableResult
    public func removeNotifyURL(_ url: String, now: Date) throws -> [String] {
        try updateNotifyURLs(now: now) { urls in urls.removeAll { $0 == url } }
    }

    /// Read, change and write in one transaction, the row locked: two engineers adding at once both land.
    func updateNotifyURLs(now: Date, _ change: (inout [String]) -> Void) throws -> [String] {
        let context = "setting:" + SQLiteStore.notifyURLsSetting
        return try transaction { c in
            try c.exec("INSERT INTO settings (name, value, updated_at) VALUES ($1, '', $2) ON CONFLICT (name) DO NOTHING",
                       [.text(SQLiteStore.notifyURLsSetting), Self.seconds(now)])
            let sealed = try c.exec("SELECT value FROM settings WHERE name = $1 FOR UPDATE", [.text(SQLiteStore.notifyURLsSetting)]).first?.string(0) ?? ""
            var urls = sealed.isEmpty ? [] : try Self.openURLs(sealed, box: box)
            change(&urls)
            let value = urls.isEmpty ? "" : try box.seal(Data(urls.joined(separator: "\n").utf8), context: context).base64EncodedString()
            try c.exec("UPDATE settings SET value = $1, updated_at = $2 WHERE name = $3",
                       [.text(value), Self.seconds(now), .text(SQLiteStore.notifyURLsSetting)])
            return urls
        }
    }

    static func openURLs(_ sealed: String, box: SecretBox) throws -> [String] {
        guard let data = Data(base64Encoded: sealed) else { throw StoreError.cannotDecrypt }
        return list(String(decoding: try box.open(data, context: "setting:" + SQLiteStore.notifyURLsSetting), as: UTF8.self))
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
