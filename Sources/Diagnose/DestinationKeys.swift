import Crypto
import EvidenceModel
import Foundation
import RuleEngine
import _CryptoExtras

// Keys of destinations (docs/PROVIDERS.md): a Google service-account key file, an RSA private key
// (Snowflake key-pair authentication), and the RS256 JWTs signed with them before the steps run.
// Errors are one line naming the file, never the key.

/// What a service-account key file (`--service-account-file`) holds that the diagnosis uses.
public struct ServiceAccountKey: Sendable {
    public var clientEmail: String
    public var privateKeyPEM: String
    public var projectID: String?
    public var privateKeyID: String?

    /// Parses a key file's text. `place` names the file in errors (malformed input: sysexits 65).
    public static func parse(_ text: String, place: String) throws(InputError) -> ServiceAccountKey {
        let json: JSONValue
        do { json = try JSON.parse(text) } catch {
            throw InputError(.data, "not a service-account key file: invalid JSON", place: place)
        }
        guard json.objectValue != nil else { throw InputError(.data, "not a service-account key file: expected a JSON object", place: place) }
        let type = json["type"]?.stringValue
        if type == "authorized_user" {
            throw InputError(.data, "this is a personal OAuth credential (type authorized_user), not a service-account key: "
                             + "destinations such as BigQuery need a service account (remediation use-service-account, fix-authentication-errors 2.2)",
                             place: place)
        }
        guard type == "service_account" else {
            throw InputError(.data, "not a service-account key file: 'type' is \(type.map { "'\($0)'" } ?? "missing"), expected 'service_account'", place: place)
        }
        guard let email = json["client_email"]?.stringValue, email.contains("@") else {
            throw InputError(.data, "the service-account key file has no 'client_email'", place: place)
        }
        guard let pem = json["private_key"]?.stringValue, !pem.isEmpty else {
            throw InputError(.data, "the service-account key file has no 'private_key'", place: place)
        }
        _ = try RSAKey.load(pem, place: place, what: "the service-account key file's 'private_key'")
        return ServiceAccountKey(clientEmail: email, privateKeyPEM: pem, projectID: json["project_id"]?.stringValue,
                                 privateKeyID: json["private_key_id"]?.stringValue)
    }

    /// Reads and parses `--service-account-file FILE` (missing or unreadable: sysexits 66).
    public static func load(path: String) throws(InputError) -> ServiceAccountKey {
        try parse(try RSAKey.readText(path, what: "service-account key file"), place: path)
    }
}

/// An RSA private key in PEM (PKCS#1 or PKCS#8, unencrypted).
public enum RSAKey {
    static func readText(_ path: String, what: String) throws(InputError) -> String {
        let data = try SystemIO.readFile(path, noun: what)
        guard let text = String(data: data, encoding: .utf8) else { throw InputError(.data, "the \(what) is not UTF-8 text", place: path) }
        return text
    }

    /// Checks a PEM key; `what` and `place` name it in the error.
    static func load(_ pem: String, place: String, what: String) throws(InputError) -> _RSA.Signing.PrivateKey {
        if pem.contains("ENCRYPTED") {
            throw InputError(.data, "\(what) is an encrypted PEM key; decrypt it first (openssl pkcs8 -in key.p8 -out key.pem)", place: place)
        }
        guard pem.contains("-----BEGIN") else { throw InputError(.data, "\(what) is not a PEM private key (no -----BEGIN line)", place: place) }
        do {
            return try _RSA.Signing.PrivateKey(unsafePEMRepresentation: pem)
        } catch {
            throw InputError(.data, "\(what) is not a usable RSA private key in PEM (bad base64, not RSA, or cut off)", place: place)
        }
    }

    /// Reads `--private-key-file FILE` and checks it is an RSA key.
    public static func loadFile(_ path: String) throws(InputError) -> String {
        let text = try readText(path, what: "private key file")
        _ = try load(text, place: path, what: "the private key file")
        return text
    }

    /// Snowflake's public key fingerprint: `SHA256:` + base64 of SHA-256 over the DER SubjectPublicKeyInfo.
    static func fingerprint(_ key: _RSA.Signing.PrivateKey) -> String {
        "SHA256:" + Data(SHA256.hash(data: key.publicKey.derRepresentation)).base64EncodedString()
    }

    /// A fresh 2048-bit key in PEM (the Sandbox's scenarios make their keys at run time; none is committed).
    public static func generatePEM() -> String {
        (try? _RSA.Signing.PrivateKey(keySize: .bits2048))?.pemRepresentation ?? ""
    }
}

/// RS256 JWTs (RFC 7515/7519).
enum JWTSigner {
    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Signs `claims` (+ `iat`, `exp`) with the key. Claims keep their order.
    static func sign(claims: [(String, String)], issuedAt: Int, lifetime: Int, key: _RSA.Signing.PrivateKey) throws -> String {
        var header = JSONWriter(capacity: 64)
        header.raw("{\"alg\":\"RS256\",\"typ\":\"JWT\"}")
        var body = JSONWriter(capacity: 256)
        body.raw("{")
        for (name, value) in claims {
            body.string(name); body.raw(":"); body.string(value); body.raw(",")
        }
        body.raw("\"iat\":"); body.int(issuedAt)
        body.raw(",\"exp\":"); body.int(issuedAt + lifetime)
        body.raw("}")
        let input = base64URL(Data(header.bytes)) + "." + base64URL(Data(body.bytes))
        let signature = try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + base64URL(signature.rawRepresentation)
    }
}

extension DiagnosisRunner {
    /// Signs the definition's `assertion` when its credentials are at hand; the result is the
    /// `assertion` credential. A key that does not load is malformed input (65).
    static func signAssertion(_ spec: AssertionSpec, credentials: DiagnosisCredentials, baseURLs: [String: String],
                              now: Date) throws(InputError) -> String? {
        guard spec.needs.allSatisfy({ credentials[$0] != nil }), let pem = credentials[CredentialName.privateKey] else { return nil }
        let key = try RSAKey.load(pem, place: "private key", what: "the private key")
        let fingerprint = RSAKey.fingerprint(key)
        var claims: [(String, String)] = []
        for (name, template) in spec.claims {
            var value = ""
            for piece in TemplatePiece.split(template) {
                switch piece {
                case let .literal(text): value += text
                case let .placeholder(p):
                    if p.hasPrefix("base.") { value += baseURLs[String(p.dropFirst(5))] ?? "" }
                    else if p == "public-key-fingerprint" { value += fingerprint }
                    else if let c = CredentialName.credential(inPlaceholder: p) {
                        let v = credentials[c] ?? ""
                        value += p.hasSuffix(".upper") ? v.uppercased() : v
                    }
                }
            }
            claims.append((name, value))
        }
        do {
            return try JWTSigner.sign(claims: claims, issuedAt: Int(now.timeIntervalSince1970), lifetime: spec.lifetime, key: key)
        } catch {
            throw InputError(.data, "the private key cannot sign (RS256)", place: "private key")
        }
    }
}

/// Evidence for definitions without steps (`evidence: [url, har]`).
public enum DiagnosisEvidence {
    /// `--url URL`: a URL the customer pasted (its `authuser=N`, `/u/N/` tell how many Google accounts were signed in).
    public static func url(_ url: String, provider: String) throws(InputError) -> Evidence {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), URLFacts.host(of: url) != nil else {
            throw InputError(.usage, "--url '\(Redactor.redact(url))' is not an http(s) URL")
        }
        return Evidence(kind: .record, provider: provider, url: url)
    }

    /// `--har FILE`.
    public static func har(path: String, provider: String) throws(InputError) -> [Evidence] {
        let text = try RSAKey.readText(path, what: "HAR file")
        return try EvidenceLoader.load(text, format: .har, source: path, provider: provider)
    }
}

extension JWTSigner {
    /// Whether `jwt` is an RS256 JWT signed by the key in `pem` (tests; the Sandbox checks no signature).
    static func verify(_ jwt: String, pem: String) -> Bool {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let key = try? _RSA.Signing.PrivateKey(unsafePEMRepresentation: pem) else { return false }
        var b64 = parts[2].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let signature = Data(base64Encoded: b64) else { return false }
        return key.publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature),
                                              for: Data("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5)
    }
}
