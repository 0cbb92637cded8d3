import Crypto
import EvidenceModel
import Foundation
import Links
import Probe
import RuleEngine

/// PKCE (RFC 7636) with the S256 method.
public enum PKCE {
    /// 64 bytes from the system CSPRNG, base64url without padding: 86 characters of the unreserved set.
    public static func makeVerifier() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<64).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Base64URL.encode(bytes)
    }

    /// BASE64URL-NOPAD(SHA256(ASCII(verifier))).
    public static func challenge(for verifier: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    /// 43 to 128 characters of [A-Z a-z 0-9 - . _ ~] (RFC 7636 4.1).
    public static func isValidVerifier(_ verifier: String) -> Bool {
        (43...128).contains(verifier.utf8.count) && verifier.utf8.allSatisfy(FormEncoding.isUnreserved)
    }
}

public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        var s = Data(bytes).base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }
}

/// application/x-www-form-urlencoded and URL query strings.
public enum FormEncoding {
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Percent-encodes everything outside the unreserved set (so it is safe in a query and a form).
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for byte in s.utf8 {
            if isUnreserved(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    /// Name/value pairs of a query or form body ('+' is a space); malformed escapes are kept as text.
    public static func decode(_ text: Substring) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = unescape(parts[0])
            let value = parts.count > 1 ? unescape(parts[1]) : ""
            return (name, value)
        }
    }

    static func unescape(_ s: Substring) -> String {
        let plus = s.replacingOccurrences(of: "+", with: " ")
        return plus.removingPercentEncoding ?? plus
    }

    /// The first value of a name.
    public static func value(_ name: String, in pairs: [(String, String)]) -> String? {
        pairs.first(where: { $0.0 == name })?.1
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// The authorize URL a Connect button sends the browser to. Built only from the provider's
/// configured authorize URL and values the server chose: never from anything the request carried.
public func authorizeURL(for client: OAuthClientSetup, redirectURI: String, state: String, codeChallenge: String) -> String {
    var pairs: [(String, String)] = [
        ("response_type", "code"),
        ("client_id", client.clientID),
        ("redirect_uri", redirectURI),
    ]
    if !client.endpoints.scopes.isEmpty {
        pairs.append(("scope", client.endpoints.scopes.joined(separator: client.endpoints.scopeSeparator)))
    }
    pairs += [("state", state), ("code_challenge", codeChallenge), ("code_challenge_method", "S256")]
    pairs += client.endpoints.authorizeParameters.map { ($0.name, $0.value) }
    return client.endpoints.authorizeURL + "?" + FormEncoding.encode(pairs)
}

/// What a token endpoint answered to the code exchange.
public enum TokenExchangeOutcome: Sendable, Equatable {
    case granted(ProviderTokens, account: String?)
    /// An OAuth error (RFC 6749 5.2): `invalid_grant` for a code used twice, expired or not matching.
    case refused(error: String, status: Int)
    /// No usable answer: the endpoint could not be reached or answered something that is not a token.
    case failed(reason: String)
}

/// Exchanges an authorization code at the provider's token endpoint through libcurl (`Prober`).
public struct TokenExchanger: Sendable {
    public var prober: Prober
    public var timeout: Double
    public var caBundlePath: String?

    public init(prober: Prober = Prober(), timeout: Double = 10, caBundlePath: String? = nil) {
        self.prober = prober
        self.timeout = timeout
        self.caBundlePath = caBundlePath
    }

    public func request(client: OAuthClientSetup, code: String, redirectURI: String, codeVerifier: String) -> ProbeRequest {
        var form: [(String, String)] = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirectURI),
            ("code_verifier", codeVerifier),
        ]
        var headers = [HTTPHeader("Content-Type", "application/x-www-form-urlencoded"), HTTPHeader("Accept", "application/json")]
        switch client.endpoints.clientAuthentication {
        case .form:
            form.append(("client_id", client.clientID))
            if let secret = client.clientSecret { form.append(("client_secret", secret)) }
        case .basic:
            // RFC 6749 2.3.1: each part form-encoded before Basic encoding.
            let pair = FormEncoding.escape(client.clientID) + ":" + FormEncoding.escape(client.clientSecret ?? "")
            headers.append(HTTPHeader("Authorization", "Basic " + Data(pair.utf8).base64EncodedString()))
        }
        return ProbeRequest(method: "POST", url: client.endpoints.tokenURL, headers: headers,
                            body: Array(FormEncoding.encode(form).utf8), connectTimeout: min(5, timeout),
                            totalTimeout: timeout, maxBodyBytes: 256 * 1024, caBundlePath: caBundlePath)
    }

    public func exchange(client: OAuthClientSetup, code: String, redirectURI: String, codeVerifier: String, now: Date) async -> TokenExchangeOutcome {
        let result = await prober.perform(request(client: client, code: code, redirectURI: redirectURI, codeVerifier: codeVerifier))
        return Self.outcome(of: result, now: now)
    }

    static func outcome(of result: ProbeResult, now: Date) -> TokenExchangeOutcome {
        guard result.completed, let status = result.status else {
            return .failed(reason: "the token endpoint could not be reached (\(result.transportError ?? result.curlName))")
        }
        let json = try? JSON.parse(result.body)
        if !(200..<300).contains(status) {
            let error = json?["error"]?.stringValue ?? json?["error"]?["type"]?.stringValue
            return .refused(error: error.map(Self.safeErrorCode) ?? "http-\(status)", status: status)
        }
        guard let json, let access = json["access_token"]?.stringValue, !access.isEmpty else {
            return .failed(reason: "the token endpoint answered \(status) without an access token")
        }
        let expiresIn = json["expires_in"]?.intValue
        let scopeText = json["scope"]?.stringValue ?? ""
        // Space-separated per RFC 6749; some providers answer with commas.
        let scopes = scopeText.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        let tokens = ProviderTokens(accessToken: access, refreshToken: json["refresh_token"]?.stringValue,
                                    expiresAt: expiresIn.map { now.addingTimeInterval(TimeInterval($0)) }, scopes: scopes)
        // What the provider says the account is, where the token answer carries it (never a secret):
        // the OpenID Connect ID token's e-mail (Google with the `openid email` scopes), else a member.
        let account = json["id_token"]?.stringValue.flatMap(Self.idTokenEmail)
            ?? json["email"]?.stringValue ?? json["user"]?.stringValue ?? json["hub_domain"]?.stringValue
        return .granted(tokens, account: account.flatMap(Self.displayableAccount))
    }

    /// An account name as the provider sent it, made fit to show anywhere: control characters
    /// (terminal escapes such as `\u{1B}[2J`) and bidirectional overrides dropped, at most 320
    /// characters; nil when nothing is left.
    static func displayableAccount(_ text: String) -> String? {
        let kept = text.unicodeScalars.filter { scalar in
            switch scalar.value {
            case 0x00...0x1F, 0x7F...0x9F, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return false
            default: return true
            }
        }
        let cleaned = String(String.UnicodeScalarView(kept.prefix(320))).trimmingCharacters(in: .whitespaces)
        return cleaned.isEmpty ? nil : cleaned
    }

    /// The `email` claim of an ID token received straight from the token endpoint over the
    /// exchange's own connection (OpenID Connect Core 3.1.3.7 allows using it without checking the
    /// signature there). Display only; nil when it is not a JWT with an e-mail.
    static func idTokenEmail(_ idToken: String) -> String? {
        let parts = idToken.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        guard let data = Data(base64Encoded: payload), let claims = try? JSON.parse(Array(data)),
              let email = claims["email"]?.stringValue, email.contains("@"), email.count <= 320 else { return nil }
        return email
    }

    /// An OAuth error code as shown on a page: letters, digits and '_' only, at most 64 characters.
    static func safeErrorCode(_ s: String) -> String {
        let kept = s.unicodeScalars.filter { ($0.isASCII && (CharacterSet.alphanumerics.contains($0))) || $0 == "_" }
        let text = String(String.UnicodeScalarView(kept.prefix(64)))
        return text.isEmpty ? "unknown_error" : text
    }
}
