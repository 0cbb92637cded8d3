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
        // Written as bytes, made a String once: every request of `check` renders two URLs.
        var out: [UInt8] = []
        out.reserveCapacity(template.utf8.count + 96)
        var inQuery = false
        for piece in Self.pieces(template) {
            switch piece {
            case let .literal(text, opensQuery):
                if opensQuery { inQuery = true }
                out.append(contentsOf: text.utf8)
            case let .base(name):
                out.append(contentsOf: (baseURLs[name] ?? "").utf8)
            case .version:
                out.append(contentsOf: versionPath.utf8)
            case let .value(placeholder, credential, upper, secret):
                if placeholder == CredentialName.urlPath, let path = credentials[placeholder] {
                    // `--url`'s path and query, checked by the command line: verbatim.
                    if ByteSearch.contains(path, "?") { inQuery = true }
                    out.append(contentsOf: path.utf8)
                    continue
                }
                guard let given = credentials[credential] else {
                    if masked { out.append(contentsOf: ("{" + placeholder + "}").utf8) }
                    continue
                }
                if masked && secret {
                    out.append(contentsOf: Redactor.mask.utf8)
                    continue
                }
                let value = upper ? given.uppercased() : given
                switch context {
                case .url: out.append(contentsOf: (Self.percentEncode(value, keep: inQuery ? Self.queryKeep : Self.segmentKeep)).utf8)
                case .formBody: out.append(contentsOf: (Self.percentEncode(value, keep: Self.queryKeep)).utf8)
                case .jsonBody: out.append(contentsOf: (Self.jsonEscape(value)).utf8)
                case .header, .rawBody: out.append(contentsOf: value.utf8)
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A template piece with what rendering needs worked out once: whether a literal opens the
    /// query, which credential a placeholder names, whether it is secret.
    enum Piece {
        case literal(String, opensQuery: Bool)
        case base(String)
        case version
        /// `{name}` or `{name.upper}`: the credential (or, for names that are none, the name itself).
        case value(placeholder: String, credential: String, upper: Bool, secret: Bool)

        init(_ piece: TemplatePiece) {
            switch piece {
            case let .literal(text):
                self = .literal(text, opensQuery: ByteSearch.contains(text, "?"))
            case let .placeholder(name):
                if name.hasPrefix("base.") {
                    self = .base(String(name.dropFirst(5)))
                } else if name == "version" {
                    self = .version
                } else {
                    let credential = CredentialName.credential(inPlaceholder: name) ?? name
                    self = .value(placeholder: name, credential: credential, upper: name.hasSuffix(".upper"),
                                  secret: CredentialName.secret.contains(credential))
                }
            }
        }
    }

    /// A definition's templates are few and rendered for every connection: split each once.
    static func pieces(_ template: String) -> [Piece] {
        splitTemplates.lock.lock()
        if let known = splitTemplates.pieces[template] { splitTemplates.lock.unlock(); return known }
        splitTemplates.lock.unlock()
        let pieces = TemplatePiece.split(template).map(Piece.init)
        splitTemplates.lock.lock()
        if splitTemplates.pieces.count >= 2048 { splitTemplates.pieces.removeAll() }
        splitTemplates.pieces[template] = pieces
        splitTemplates.lock.unlock()
        return pieces
    }

    private final class SplitTemplates: @unchecked Sendable {
        let lock = NSLock()
        var pieces: [String: [Piece]] = [:]
    }
    private static let splitTemplates = SplitTemplates()

    /// RFC 3986 unreserved characters: never encoded.
    static let unreserved = ByteClass("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    static let queryKeep = unreserved
    /// In a path segment, '/' is encoded too (a Google refresh token "1//..." stays one segment).
    static let segmentKeep = unreserved

    /// A set of bytes as a 256-entry table (a `Set<UInt8>` hashes every byte it is asked about).
    struct ByteClass: Sendable {
        private let table: [Bool]
        init(_ members: String) {
            var table = [Bool](repeating: false, count: 256)
            for byte in members.utf8 { table[Int(byte)] = true }
            self.table = table
        }
        @inline(__always) func contains(_ byte: UInt8) -> Bool { table[Int(byte)] }
    }

    static func percentEncode(_ value: String, keep: ByteClass) -> String {
        // Most credentials need no encoding at all: the value itself, not a copy.
        guard value.utf8.contains(where: { !keep.contains($0) }) else { return value }
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count + 16)
        let hex: StaticString = "0123456789ABCDEF"
        let digits = hex.utf8Start
        for byte in value.utf8 {
            if keep.contains(byte) {
                out.append(byte)
            } else {
                out.append(0x25)
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func jsonEscape(_ value: String) -> String {
        // What JSONWriter escapes: quotes, backslashes and control characters; anything else as is.
        guard value.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else { return value }
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
        var all: [String] = []
        func add(_ needle: String) { if !all.contains(needle) { all.append(needle) } }
        for secret in secrets where secret.count >= 4 {
            add(secret)
            let encoded = DiagnosisTemplate.percentEncode(secret, keep: DiagnosisTemplate.unreserved)
            add(encoded)
            add(DiagnosisTemplate.jsonEscape(secret))
            if ByteSearch.contains(encoded, "%20") { add(encoded.replacingOccurrences(of: "%20", with: "+")) }
        }
        // Longest first, so a secret containing another is replaced whole.
        needles = all.filter { $0.count >= 4 }.sorted { $0.utf8.count != $1.utf8.count ? $0.utf8.count > $1.utf8.count : $0 < $1 }
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

    /// What a finding shows: its summary, evidence, and the remediation steps filled from facts.
    func scrub(_ finding: Finding) -> Finding {
        var out = finding
        out.summary = scrub(finding.summary)
        out.evidence = finding.evidence.map { ($0.name, scrub($0.value)) }
        for r in out.remediation.indices where out.remediation[r].filled {
            out.remediation[r].steps = out.remediation[r].steps.map(scrub)
        }
        return out
    }
}

import Foundation
