import Foundation

/// What a presented token looks like, judged locally (a JWT is decoded, never verified or sent anywhere).
public enum TokenShape {
    public static func facts(for token: String?, now: Date = Date()) -> Facts {
        var facts = Facts()
        guard let raw = token else {
            facts.set("token.present", false)
            return facts
        }
        let token = raw.trimmedWhitespace()
        facts.set("token.present", !token.isEmpty)
        facts.set("token.format", format(of: token))
        if let claims = jwtClaims(token) {
            if let exp = claims["exp"]?.intValue {
                facts.set("token.expires_at", exp)
                facts.set("token.expired", Double(exp) < now.timeIntervalSince1970)
            }
            if let iat = claims["iat"]?.intValue { facts.set("token.issued_at", iat) }
            let scopes = scopeList(claims["scope"] ?? claims["scp"] ?? claims["scopes"])
            if !scopes.isEmpty { facts.set("token.scopes", .list(scopes.map { .string($0) })) }
            if let email = claims["email"]?.stringValue { facts.set("token.email", email) }
            if let iss = claims["iss"]?.stringValue { facts.set("token.issuer", iss) }
            if let aud = claims["aud"] { facts.set("token.audience", FactValue(aud)) }
        }
        return facts
    }

    public static func format(of token: String) -> String {
        if token.isEmpty { return "malformed" }
        if token.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" || $0 == "\n" || $0 == "<" || $0 == "{" }) { return "malformed" }
        if token.hasPrefix("ya29.") { return "google-access" }
        if token.hasPrefix("1//") { return "google-refresh" }
        if token.hasPrefix("EAA") { return "facebook" }
        if token.hasPrefix("pat-") { return "hubspot-private-app" }
        if token.hasPrefix("sbx-") { return "sandbox" }
        if jwtClaims(token) != nil { return "jwt" }
        if token.split(separator: ".").count == 3 && token.hasPrefix("eyJ") { return "malformed" }
        return "opaque"
    }

    /// The payload of a JWT (`header.payload.signature`), or nil when the token is not one.
    public static func jwtClaims(_ token: String) -> JSONValue? {
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
