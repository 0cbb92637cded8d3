import Foundation

/// What a presented token looks like, judged locally (a JWT is decoded, never verified or sent anywhere).
public enum TokenShape {
    /// How a Google OAuth access token begins (also a word that names Google in pasted text).
    public static let googleAccessPrefix: StaticString = "ya29."

    public static func facts(for token: String?, now: Date = Date()) -> Facts {
        var facts = Facts()
        add(for: token, now: now, into: &facts)
        return facts
    }

    /// The same facts added to `facts` where absent (as `merge` would), without a table of their own.
    public static func add(for token: String?, now: Date = Date(), into facts: inout Facts) {
        guard let raw = token else {
            facts.setIfAbsent("token.present", .bool(false))
            return
        }
        let token = raw.trimmedWhitespace()
        facts.setIfAbsent("token.present", .bool(!token.isEmpty))
        facts.setIfAbsent("token.format", .string(format(of: token)))
        if let claims = jwtClaims(token) {
            if let exp = claims["exp"]?.intValue {
                facts.setIfAbsent("token.expires_at", .int(exp))
                facts.setIfAbsent("token.expired", .bool(Double(exp) < now.timeIntervalSince1970))
            }
            if let iat = claims["iat"]?.intValue { facts.setIfAbsent("token.issued_at", .int(iat)) }
            let scopes = scopeList(claims["scope"] ?? claims["scp"] ?? claims["scopes"])
            if !scopes.isEmpty { facts.setIfAbsent("token.scopes", .list(scopes.map { .string($0) })) }
            if let email = claims["email"]?.stringValue { facts.setIfAbsent("token.email", .string(email)) }
            if let iss = claims["iss"]?.stringValue { facts.setIfAbsent("token.issuer", .string(iss)) }
            if let aud = claims["aud"] { facts.setIfAbsent("token.audience", FactValue(aud)) }
        }
    }

    public static func format(of token: String) -> String {
        if token.isEmpty { return "malformed" }
        // On bytes: every probe of `check` asks, and the characters looked for are all ASCII.
        if token.utf8.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x27 || $0 == 0x0A || $0 == 0x3C || $0 == 0x7B }) { return "malformed" }
        if UTF8Scan.hasPrefix(token, googleAccessPrefix) { return "google-access" }
        if UTF8Scan.hasPrefix(token, "1//") { return "google-refresh" }
        if UTF8Scan.hasPrefix(token, "EAA") { return "facebook" }
        if UTF8Scan.hasPrefix(token, "pat-") { return "hubspot-private-app" }
        if UTF8Scan.hasPrefix(token, "sbx-") { return "sandbox" }
        guard UTF8Scan.hasPrefix(token, "eyJ") else { return "opaque" }
        if jwtClaims(token) != nil { return "jwt" }
        if token.split(separator: ".").count == 3 { return "malformed" }
        return "opaque"
    }

    /// The payload of a JWT (`header.payload.signature`), or nil when the token is not one.
    public static func jwtClaims(_ token: String) -> JSONValue? {
        // Every JWT starts with the encoded `{"`: anything else is not one, without splitting it.
        guard UTF8Scan.hasPrefix(token, "eyJ") else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].hasPrefix("eyJ"),
              let header = base64URLDecode(parts[0]), (try? JSON.parse(header))?["alg"] != nil,
              let payload = base64URLDecode(parts[1]), let claims = try? JSON.parse(payload),
              claims.objectValue != nil
        else { return nil }
        return claims
    }

    static func base64URLDecode<S: StringProtocol>(_ part: S) -> [UInt8]? {
        var s = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map { [UInt8]($0) }
    }

    public static func scopeList(_ value: JSONValue?) -> [String] {
        switch value {
        case let .string(s)?: return s.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        case let .array(items)?: return items.compactMap(\.stringValue)
        default: return []
        }
    }
}
