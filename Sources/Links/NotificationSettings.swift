import Crypto
import Foundation
import GRDB

// Issue 17, notifications: the webhook URLs `check --db` notifies (kept in the v2 `settings`
// table, sealed like tokens: a Slack or Teams webhook URL is itself a credential), and the claim
// that makes a state change announced once when several `check` workers share one store.

/// `X-Authdoctor-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the shared secret.
public enum WebhookSignature {
    public static let header = "X-Authdoctor-Signature"

    public static func sign(body: [UInt8], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Constant-time check of a received signature (for receivers written in Swift, and the tests).
    public static func verify(body: [UInt8], secret: String, signature: String) -> Bool {
        guard signature.hasPrefix("sha256="), let given = hexBytes(signature.dropFirst(7)) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: body, using: SymmetricKey(data: Data(secret.utf8)))
    }

    static func hexBytes(_ text: Substring) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var index = 0
        while index < chars.count {
            guard let hi = nibble(chars[index]), let lo = nibble(chars[index + 1]) else { return nil }
            out.append(hi << 4 | lo)
            index += 2
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Where notifications are announced once: a store shared by several `check` workers.
public protocol NotificationClaims: Sendable {
    /// Claims the announcement of one state change of `connection`, named by `change` (the same
    /// text for every worker that sees the same change). True for exactly one caller per change:
    /// a worker that gets false leaves the announcement to the one that got true.
    func claimNotification(connection: String, change: String, now: Date) throws -> Bool
}

/// A store that keeps the webhook URLs `check` notifies and the claims that announce each change once.
/// SQLite and PostgreSQL both: workers of a team store (`check --shard`, `--claim`) share both.
public protocol NotificationStore: NotificationClaims, AuthDoctorStore {
    func notifyURLs() throws -> [String]
    /// Reads the list, applies `change` and writes it back in one transaction; returns the new list.
    func updateNotifyURLs(now: Date, _ change: (inout [String]) -> Void) throws -> [String]
}

extension NotificationStore {
    /// Adds a URL (no-op when present); returns the list after the change. One transaction.
    @discardableResult
    public func addNotifyURL(_ url: String, now: Date) throws -> [String] {
        try updateNotifyURLs(now: now) { urls in if !urls.contains(url) { urls.append(url) } }
    }

    /// Removes a URL; returns the list after the change (unchanged when it was not there).
    @discardableResult
    public func removeNotifyURL(_ url: String, now: Date) throws -> [String] {
        try updateNotifyURLs(now: now) { urls in urls.removeAll { $0 == url } }
    }
}

/// The webhook URL list as both stores keep it in `settings`: one line per URL, sealed with the
/// store's key, base64; the empty list is the empty string.
enum SealedNotifyURLs {
    static let setting = "notify.urls"
    static let context = "setting:" + setting

    static func open(_ sealed: String, box: SecretBox) throws -> [String] {
        guard !sealed.isEmpty else { return [] }
        guard let data = Data(base64Encoded: sealed) else { throw StoreError.cannotDecrypt }
        let text = String(decoding: try box.open(data, context: context), as: UTF8.self)
        return text.isEmpty ? [] : text.split(separator: "\n").map(String.init)
    }

    static func seal(_ urls: [String], box: SecretBox) throws -> String {
        urls.isEmpty ? "" : try box.seal(Data(urls.joined(separator: "\n").utf8), context: context).base64EncodedString()
    }
}

extension SQLiteStore: NotificationStore {
    static let notifyURLsSetting = SealedNotifyURLs.setting
    static let notifyClaimPrefix = "notify.announced:"

    /// The webhook URLs `check --db` notifies on a state change (`authdoctor notify add`), in the order added.
    public func notifyURLs() throws -> [String] {
        let sealed: String? = try read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM settings WHERE name = ?"), arguments: [Self.notifyURLsSetting])
        }
        return try SealedNotifyURLs.open(sealed ?? "", box: box)
    }

    public func updateNotifyURLs(now: Date, _ change: (inout [String]) -> Void) throws -> [String] {
        try write { db in
            let sealed = try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM settings WHERE name = ?"),
                                             arguments: [Self.notifyURLsSetting]) ?? ""
            var urls = try SealedNotifyURLs.open(sealed, box: box)
            change(&urls)
            try Self.execute(db, """
                INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """, [Self.notifyURLsSetting, try SealedNotifyURLs.seal(urls, box: box), Self.seconds(now)])
            return urls
        }
    }

    /// One row per connection (`notify.announced:<connection>`) holding the last change announced:
    /// the upsert changes it only when it differs, in one IMMEDIATE transaction, so of several
    /// workers that saw the same change exactly one changes the row and announces it.
    public func claimNotification(connection: String, change: String, now: Date) throws -> Bool {
        try write { db in
            try Self.execute(db, """
                INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                WHERE settings.value <> excluded.value
                """, [Self.notifyClaimPrefix + connection, change, Self.seconds(now)])
            return db.changesCount == 1
        }
    }
}
