import EvidenceModel
import RuleEngine

/// Fills a step's templates. Each placeholder is encoded for where it stands: a URL path segment or
/// query value is percent-encoded, a form body value form-encoded, a JSON body value JSON-escaped,
/// a header value inserted as it is. Base URLs and the version path go in verbatim.
/// With `masked`, secret credentials become `[REDACTED]`: that rendering is the one shown.
struct DiagnosisTemplate {
    enum Context {
        case url, header, formBody, jsonBody, rawBody
    }

    var baseURLs: [String: String]
    var versionPath: String
    var credentials: DiagnosisCredentials

    func render(_ template: String, _ context: Context, masked: Bool) -> String {
        var out = ""
        var inQuery = false
        for piece in Self.pieces(template) {
            switch piece {
            case let .literal(text):
                if text.contains("?") { inQuery = true }
                out += text
            case let .placeholder(name):
                if name.hasPrefix("base.") {
                    out += baseURLs[String(name.dropFirst(5))] ?? ""
                } else if name == "version" {
                    out += versionPath
                } else if name == CredentialName.urlPath, let path = credentials[name] {
                    // `--url`'s path and query, checked by the command line: verbatim.
                    if path.contains("?") { inQuery = true }
                    out += path
                } else if masked && credentials[CredentialName.credential(inPlaceholder: name) ?? name] == nil {
                    out += "{\(name)}"
                } else if let value = credentials[CredentialName.credential(inPlaceholder: name) ?? name]
                    .map({ name.hasSuffix(".upper") ? $0.uppercased() : $0 }) {
                    if masked && CredentialName.secret.contains(CredentialName.credential(inPlaceholder: name) ?? name) {
                        out += Redactor.mask
                    } else {
                        switch context {
                        case .url: out += Self.percentEncode(value, keep: inQuery ? Self.queryKeep : Self.segmentKeep)
                        case .formBody: out += Self.percentEncode(value, keep: Self.queryKeep)
                        case .jsonBody: out += Self.jsonEscape(value)
                        case .header, .rawBody: out += value
                        }
                    }
                }
            }
        }
        return out
    }

    /// A definition's templates are few and rendered for every connection: split each once.
    static func pieces(_ template: String) -> [TemplatePiece] {
        splitTemplates.lock.lock()
        if let known = splitTemplates.pieces[template] { splitTemplates.lock.unlock(); return known }
        splitTemplates.lock.unlock()
        let pieces = TemplatePiece.split(template)
        splitTemplates.lock.lock()
        if splitTemplates.pieces.count >= 2048 { splitTemplates.pieces.removeAll() }
        splitTemplates.pieces[template] = pieces
        splitTemplates.lock.unlock()
        return pieces
    }

    private final class SplitTemplates: @unchecked Sendable {
        let lock = NSLock()
        var pieces: [String: [TemplatePiece]] = [:]
    }
    private static let splitTemplates = SplitTemplates()

    /// RFC 3986 unreserved characters: never encoded.
    static let unreserved: Set<UInt8> = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8))
    static let queryKeep = unreserved
    /// In a path segment, '/' is encoded too (a Google refresh token "1//..." stays one segment).
    static let segmentKeep = unreserved

    static func percentEncode(_ value: String, keep: Set<UInt8>) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in value.utf8 {
            if keep.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0F)]))
            }
        }
        return out
    }

    static func jsonEscape(_ value: String) -> String {
        var w = JSONWriter(capacity: value.utf8.count + 2)
        w.string(value)
        let quoted = String(decoding: w.bytes, as: UTF8.self)
        return String(quoted.dropFirst().dropLast())
    }
}

/// Replaces every known secret value, in the forms it can travel in (as is, percent-encoded,
/// JSON-escaped), with `[REDACTED]`. Runs over everything a diagnosis shows, on top of `Redactor`.
struct SecretScrubber: Sendable {
    let needles: [String]

    init(secrets: [String]) {
        var all = Set<String>()
        for secret in secrets where secret.count >= 4 {
            all.insert(secret)
            all.insert(DiagnosisTemplate.percentEncode(secret, keep: DiagnosisTemplate.unreserved))
            all.insert(DiagnosisTemplate.jsonEscape(secret))
            all.insert(DiagnosisTemplate.percentEncode(secret, keep: DiagnosisTemplate.unreserved).replacingOccurrences(of: "%20", with: "+"))
        }
        // Longest first, so a secret containing another is replaced whole.
        needles = all.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
    }

    func scrub(_ text: String) -> String {
        var out = text
        // A byte search first: Foundation's String.contains goes through NSString (UTF-16) and
        // dominated `check` over thousands of connections; most texts hold no secret at all.
        for needle in needles where ByteSearch.contains(out, needle) {
            out = out.replacingOccurrences(of: needle, with: Redactor.mask)
        }
        return Redactor.redact(out)
    }

    func scrub(_ value: FactValue) -> FactValue {
        switch value {
        case let .string(s): return .string(scrub(s))
        case let .list(items): return .list(items.map(scrub))
        default: return value
        }
    }

    func scrub(_ facts: Facts) -> Facts {
        Facts(facts.values.mapValues(scrub))
    }
}

import Foundation
