import Crypto
import Foundation

/// The cookie that binds a link's session to the browser that opened it first.
///
/// One cookie per link (`authdoctor_<link id>`), so a browser can hold sessions of several links.
/// Its value is `<link token>.<session secret>`: the OAuth callback arrives on a fixed URL
/// (`/oauth/callback`, registered at each provider) and needs both to check that the browser
/// finishing a sign-in is the one that started it, and to send it back to its link page.
/// It is set twice, scoped to the two paths that read it (`/l/` and `/oauth/`), HttpOnly,
/// SameSite=Lax (sent on the provider's top-level redirect back, not on cross-site POSTs), and
/// Secure when the public URL is https.
enum SessionCookie {
    static let prefix = "authdoctor_"
    static let paths = ["/l/", "/oauth/"]

    static func name(linkID: String) -> String {
        prefix + String(linkID.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") }
            .map(Character.init))
    }

    static func value(token: String, secret: String) -> String { token + "." + secret }

    /// The cookie's link token and session secret, if the request carries the cookie.
    static func read(_ cookieHeaders: [String], linkID: String) -> (token: String, secret: String)? {
        let wanted = name(linkID: linkID)
        for header in cookieHeaders {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop(while: { $0 == " " })
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == wanted else { continue }
                let value = trimmed[trimmed.index(after: equals)...]
                let parts = value.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { continue }
                return (String(parts[0]), String(parts[1]))
            }
        }
        return nil
    }

    /// The session secret of the cookie that carries this link token (whatever the link's id), so
    /// a returning browser needs no lookup of the link first.
    static func secret(_ cookieHeaders: [String], token: String) -> String? {
        for header in cookieHeaders {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop(while: { $0 == " " })
                guard trimmed.hasPrefix(prefix), let equals = trimmed.firstIndex(of: "=") else { continue }
                let value = trimmed[trimmed.index(after: equals)...]
                guard let dot = value.firstIndex(of: "."), equal(String(value[..<dot]), token) else { continue }
                let secret = value[value.index(after: dot)...]
                if !secret.isEmpty { return String(secret) }
            }
        }
        return nil
    }

    static func setCookieHeaders(linkID: String, token: String, secret: String, maxAge: Int, secure: Bool) -> [String] {
        paths.map { path in
            "\(name(linkID: linkID))=\(value(token: token, secret: secret)); Path=\(path); Max-Age=\(max(0, maxAge)); HttpOnly; SameSite=Lax"
                + (secure ? "; Secure" : "")
        }
    }

    /// The per-session anti-forgery token of the page's forms: an HMAC of the session id keyed by
    /// the session secret, so a page can be rendered again after a restart and no other site can
    /// compute it.
    static func csrfToken(secret: String, sessionID: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("authdoctor-csrf:\(sessionID)".utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Base64URL.encode(Array(mac))
    }

    /// Constant-time comparison (the length is not secret).
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<x.count { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
