import Foundation

/// Removes secrets from any text before it reaches a report, a log line or an error message:
/// Authorization/Cookie headers, secret-named parameters in URLs, forms and JSON, bearer tokens,
/// and known token shapes (Google `ya29.`/`1//`, Facebook `EAA…`, JWTs, HubSpot `pat-`, API keys).
public enum Redactor {
    public static let mask = "[REDACTED]"

    /// Parameter names whose values are secrets wherever they appear.
    public static let secretNames = [
        "access_token", "refresh_token", "id_token", "client_secret", "password", "passwd", "pwd", "code",
        "state", "api_key", "apikey", "api-key", "key", "token", "input_token", "client_assertion", "assertion",
        "secret", "app_secret", "appsecret_proof", "developer_token", "developer-token", "private_key",
        "session_token", "sessiontoken", "mastertoken", "master_token", "x-api-key", "signature", "sig", "auth",
        "accessToken", "refreshToken", "idToken", "clientSecret", "apiKey", "appSecret", "privateKey",
        "sessionToken", "masterToken", "developerToken", "clientAssertion", "inputToken",
        "secret_access_key", "secretAccessKey", "secret_key", "secretKey", "aws_secret_access_key", "aws_session_token",
        "x-amz-security-token", "x-amz-signature", "security_token", "securityToken",
    ]

    /// Header names whose values are always secret.
    public static let secretHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-goog-api-key", "api-key",
        "developer-token", "x-auth-token", "x-access-token", "x-hubspot-api-key", "x-csrf-token", "x-xsrf-token",
        "x-amz-security-token", "x-amz-signature", "x-goog-iam-authorization-token", "x-vault-token",
    ]

    /// The secret header names as one regex alternative (header lines in text, HAR header objects).
    private static let headerNames = secretHeaders.sorted().map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")

    public static func isSecretHeader(_ name: String) -> Bool { secretHeaders.contains(name.fastLowercased()) }

    public static func redactHeader(name: String, value: String) -> String {
        isSecretHeader(name) ? mask : redact(value)
    }

    /// A header value as a fact shows it: masked when the header's name says secret (a secret
    /// header, or a secret-named field such as `SecretAccessKey` or `PGPASSWORD` parsed as a header
    /// from pasted text), or when the whole `name: value` line would be redacted (a DSN's
    /// `user:password@tcp(...)` split at its colon). Otherwise the value as it is.
    public static func headerFactValue(name: String, value: String) -> String {
        if isSecretHeader(name) { return mask }
        var bare = Substring(name)
        while let first = bare.first, first == "\"" || first == "'" { bare = bare.dropFirst() }
        while let last = bare.last, last == "\"" || last == "'" { bare = bare.dropLast() }
        if isSecretJSONKey(String(bare), value: value) { return mask }
        // As the line was (no space: `user:password@tcp(...)` is one word).
        let line = name + ":" + value
        guard needsRedaction(line) else { return value }
        let redacted = redact(line)
        guard redacted != line else { return value }
        let prefix = name + ":"
        return redacted.hasPrefix(prefix) ? String(redacted.dropFirst(prefix.count)) : mask
    }

    private static let names = secretNames.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")
    /// In JSON, `code` and `state` are mostly error codes ("390100", "INVALID_ACCESS_TOKEN"): only values
    /// that look like OAuth codes/states (mixed case, 8+ characters) are masked; `key`, `auth` and
    /// `sig` name ordinary JSON members too often to be masked by name alone.
    private static let jsonNames = secretNames.filter { !["code", "state", "key", "auth", "sig", "signature"].contains($0) }
        .map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")

    /// Secret member names with case, `_` and `-` removed (`access_token`, `accessToken` → `accesstoken`).
    private static let normalizedSecretNames: Set<String> = Set(secretNames.map(normalize))

    static func normalize(_ key: String) -> String {
        String(key.lowercased().unicodeScalars.filter { $0 != "_" && $0 != "-" })
    }

    /// Whether a JSON member of this name holds a secret (used when flattening bodies into facts).
    /// `value` is nil for numbers: a numeric password or PIN is still a secret, a numeric code is not.
    public static func isSecretJSONKey(_ key: String, value: String?) -> Bool {
        // Most keys ("error", "message", "code"...) hold none of the words secret names are made of.
        guard mayNameSecret(key) else { return false }
        let k = normalize(key)
        if k == "code" || k == "state" { return value.map(looksLikeOpaqueSecret) ?? false }
        if ["key", "auth", "sig", "signature"].contains(k) { return value.map { looksLikeOpaqueSecret($0) && $0.count >= 16 } ?? false }
        return normalizedSecretNames.contains(k) || k.hasSuffix("token") || k.hasSuffix("secret") || k.hasSuffix("password")
            || k == "pin" || k == "passphrase" || k.contains("secret") || k.hasSuffix("privatekey") || k.hasSuffix("apikey")
            || k.hasSuffix("passwd")
    }

    private static let secretKeyWords: [[UInt8]] = ["token", "secret", "pass", "key", "code", "state", "auth", "sig",
                                                    "pwd", "pin", "assertion", "proof"].map { Array($0.utf8) }

    static func mayNameSecret(_ key: String) -> Bool {
        var copy = key
        return copy.withUTF8 { raw in
            // Case-insensitive, in one pass: only the words starting with a byte's letter are tried
            // there. Every JSON member of every answer is asked.
            for i in 0..<raw.count {
                for word in secretKeyWordsByFirst[Int(raw[i].asciiLowercased)] where i + word.count <= raw.count {
                    var j = 1
                    while j < word.count && raw[i + j].asciiLowercased == word[j] { j += 1 }
                    if j == word.count { return true }
                }
            }
            return false
        }
    }

    /// The secret words by their first byte.
    private static let secretKeyWordsByFirst: [[[UInt8]]] = {
        var table = [[[UInt8]]](repeating: [], count: 256)
        for word in secretKeyWords { table[Int(word[0])].append(word) }
        return table
    }()

    static func looksLikeOpaqueSecret(_ value: String) -> Bool {
        guard value.count >= 8, value.contains(where: { $0.isLowercase }), !value.contains(" ") else { return false }
        // An error name (`MissingAuthenticationToken`, `invalid_grant`, `auth.expired`) is letters and
        // separators only; an authorization code or state carries digits or base64 punctuation.
        let isErrorName = value.utf8.allSatisfy { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
        }
        return !isErrorName
    }

    /// One pattern and its replacement. The regex is compiled on first use: most runs redact
    /// nothing, and ICU's first compile costs milliseconds of start-up.
    private final class Replacement: @unchecked Sendable {
        let source: String
        let template: String
        /// Skips the regex when none of its literals occurs (most strings hold no secret).
        let prefilter: LiteralPrefilter?
        private let lock = NSLock()
        private var compiled: NSRegularExpression?

        init(_ source: String, _ template: String) {
            self.source = source
            self.template = template
            prefilter = LiteralPrefilter(pattern: source)
        }

        var regex: NSRegularExpression {
            lock.lock()
            defer { lock.unlock() }
            if let compiled { return compiled }
            // The patterns are constants; a failure here is a programming error caught by the tests.
            let made = try! NSRegularExpression(pattern: source, options: [])
            compiled = made
            return made
        }
    }

    private static let patterns: [Replacement] = {
        func re(_ p: String, _ template: String) -> Replacement { Replacement(p, template) }
        return [
            // Header lines in pasted text (`Authorization: Bearer …`, `> Cookie: …`, `set-cookie: …`).
            re("(?im)^([<>]?[ \\t]*(?:\(headerNames))[ \\t]*:)[^\\r\\n]*", "$1 \(mask)"),
            // JSON members: "access_token": "…" (string values only; numbers are not secrets here).
            re("(?i)(\"(?:\(jsonNames))\"\\s*:\\s*\")(?:[^\"\\\\]|\\\\.)*(\")", "$1\(mask)$2"),
            // ... and one cut short or never closed: secret to the end of the text.
            re("(?i)(\"(?:\(jsonNames))\"\\s*:\\s*\")(?![^\"\\\\]*\\[REDACTED\\]\")(?:[^\"\\\\]|\\\\.)*\\\\?\\z", "$1\(mask)"),
            re("(?i)(\"(?:password|passwd|pwd|pin|passphrase|client_secret|clientSecret)\"\\s*:\\s*)-?[0-9][0-9.]*", "$1\"\(mask)\""),
            // An error name (letters, `_` and `.` only: "MissingAuthenticationToken") is kept, as in looksLikeOpaqueSecret.
            re("(\"(?:code|state)\"\\s*:\\s*\")(?=[^\"\\s]*[a-z])(?=[^\"\\s]*[^A-Za-z_.\"\\s])[^\"\\s]{8,}(\")", "$1\(mask)$2"),
            // HAR / JSON header objects: {"name": "Cookie", "value": "…"}
            re("(?i)(\"name\"\\s*:\\s*\"(?:\(headerNames))\"\\s*,\\s*\"value\"\\s*:\\s*\")(?:[^\"\\\\]|\\\\.)*(\")", "$1\(mask)$2"),
            // Escaped JSON inside JSON strings: \"access_token\":\"…\"
            re("(?i)(\\\\\"(?:\(jsonNames))\\\\\"\\s*:\\s*\\\\\")(?:[^\"\\\\]|\\\\[^\"])*(\\\\\")", "$1\(mask)$2"),
            // URL / form parameters: ?access_token=…&code=…
            re("(?i)((?:^|[?&;#\\s\"'(,])(?:\(names))=)[^&\\s\"'#<>,)]+", "$1\(mask)"),
            // YAML/INI style "password: value" / "client_secret = value"
            re("(?im)(\\b(?:password|passwd|client_secret|api_key|apikey|secret|refresh_token|access_token)[ \\t]*[:=][ \\t]*)(?![ \\t]*\\[REDACTED\\])[^\\s,;\"'&]+", "$1\(mask)"),
            // Credentials inside URLs: scheme://user:secret@host, the secret up to the last '@' of the
            // URL (a password may hold '/' or '@').
            re("(?i)(\\b[a-z][a-z0-9+.-]{0,31}://[^/\\s:@\"'<>]+:)(?!\\[REDACTED\\]@)[^\\s\"'<>]*?(@)(?=[^@\\s\"'<>]*(?:[\\s\"'<>]|\\z))", "$1\(mask)$2"),
            // Go DSNs: user:password@tcp(host:3306)/db
            re("(?i)(\\b[A-Za-z0-9_.$-]{1,128}:)(?!\\[REDACTED\\]@)[^\\s\"'<>]*?(@(?:tcp6?|udp|unix)\\()", "$1\(mask)$2"),
            // Runs of name characters before and after are bounded ({0,128}): unbounded, a long run of
            // them ("a.b.c.d…", 60 KB) cost quadratic backtracking from every word boundary (fuzzer,
            // seed 1139717945: over a minute). The same holds for the URL scheme and the Go DSN user.
            // Names with a prefix or suffix (PGPASSWORD=, SNOWFLAKE_PASSWORD:, aws_secret_access_key =,
            // "SecretAccessKey": ...), quoted values too (password='...', password = "...").
            re("(?i)\\b([A-Za-z0-9_.-]{0,128}(?:password|passwd|passphrase|secret|amz[_-]?signature|private[_-]?key|api[_-]?key|access[_-]?token|refresh[_-]?token|session[_-]?token|security[_-]?token|auth[_-]?token|client[_-]?assertion)[A-Za-z0-9_.-]{0,128}[\"']?[ \\t]*(?:=|:(?!//))[ \\t]*)(?![\"']?\\[REDACTED\\])(?:\"(?:[^\"\\\\\\r\\n]|\\\\.)*\"?|'[^'\\r\\n]*'?|[^\\s,;\"'&<>]+)", "$1\(mask)"),
            // Percent-encoded parameters inside another URL's parameter: ...%3Fcode%3D...%26state%3D...
            re("(?i)((?:\\b|%26|%3F|%23)(?:\(names))%(?:25)?3D)(?!\\[REDACTED\\])(?:(?!%(?:25)?26)[^&\\s\"'#<>,)])+", "$1\(mask)"),
            // Authorization schemes followed by a credential anywhere in text.
            // A credential has a digit or punctuation, or is long: "Basic authentication" is not one.
            re("(?i)\\b(Bearer|Basic|OAuth)([ \\t]+)(?!realm\\b|error\\b|scope\\b|\"|\\[REDACTED\\])(?:(?=[A-Za-z0-9._~+/=:-]*[0-9._~+/=-])[A-Za-z0-9._~+/=:-]{8,}|[A-Za-z0-9._~+/=:-]{20,})", "$1$2\(mask)"),
            // Known token shapes.
            re("ya29\\.[A-Za-z0-9._-]+", mask),
            re("(?<![A-Za-z0-9])1//[A-Za-z0-9._-]{6,}", mask),
            re("(?<![A-Za-z0-9])EAA[A-Za-z0-9]{6,}", mask),
            re("eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]*", mask),
            re("\\bpat-(?:na|eu|ap)[0-9]-[A-Za-z0-9-]{8,}", mask),
            re("\\bAIza[0-9A-Za-z_-]{20,}", mask),
            re("\\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}", mask),
            re("\\bxox[abposr]-[A-Za-z0-9-]{8,}", mask),
            re("\\bgh[pousr]_[A-Za-z0-9]{20,}", mask),
            re("\\bAKIA[0-9A-Z]{16}\\b", mask),
            re("\\bGOCSPX-[A-Za-z0-9_-]{8,}", mask),
            re("-----BEGIN [A-Z ]*PRIVATE KEY-----[\\s\\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", mask),
        ]
    }()

    /// All patterns' literals in one automaton: one pass over a string tells which patterns can apply.
    private static let trigger: (automaton: NeedleAutomaton, patternOfNeedle: [Int], alwaysRun: UInt64) = {
        precondition(patterns.count <= 64, "applicablePatterns keeps one bit per pattern")
        var needles: [[UInt8]] = []
        var owners: [Int] = []
        var always: UInt64 = 0
        for (index, pattern) in patterns.enumerated() {
            if let prefilter = pattern.prefilter, !prefilter.needles.contains(LiteralPrefilter.nonASCII) {
                for needle in prefilter.needles { needles.append(needle); owners.append(index) }
            } else {
                always |= 1 << UInt64(index)
            }
        }
        return (NeedleAutomaton(needles: needles), owners, always)
    }()

    /// Whether any redaction pattern could apply to the text (one pass over it).
    public static func needsRedaction(_ text: String) -> Bool {
        applicablePatterns(text) != 0 || ByteSearch.contains(text, lowercaseNeedle: "%")
    }

    /// The patterns whose literals occur in the text, as bits (pattern i is bit i): a set without
    /// an allocation, since every shown string of every diagnosis is asked.
    private static func applicablePatterns(_ text: String) -> UInt64 {
        var applicable = trigger.alwaysRun
        var copy = text
        copy.withUTF8 { buffer in
            trigger.automaton.scan(buffer) { applicable |= 1 << UInt64(trigger.patternOfNeedle[$0]) }
        }
        return applicable
    }

    public static func redact(_ text: String) -> String {
        guard !text.isEmpty else { return text }
        let applicable = applicablePatterns(text)
        // "basic" is one of the Authorization-scheme pattern's literals, so no pattern means no Basic credential.
        // A percent sign may hide any shape (ya29%2E..., code%3D...): those texts are decoded and looked at too.
        let encoded = ByteSearch.contains(text, lowercaseNeedle: "%")
        guard applicable != 0 || encoded else { return text }
        // Redaction is a pure function and the same texts recur (a provider's URLs and answers with
        // the secrets already masked): `check` over thousands of connections asks for them again and again.
        if let known = memo.value(for: text) { return known }
        let result = redact(text, applicable: applicable)
        memo.store(result, for: text)
        return result
    }

    private static let memo = RedactionMemo()

    /// Redacts these texts ahead of need: the trigger automaton is built, the patterns they need
    /// compiled (ICU's first compile costs milliseconds) and the results remembered. A diagnosis
    /// does it on another thread while its probes are out. Redaction is pure, so an early result
    /// is the result.
    public static func prepare(_ texts: [String]) {
        for text in texts { _ = redact(text) }
    }

    private static func redact(_ text: String, applicable: UInt64) -> String {
        var result = text
        for (index, pattern) in patterns.enumerated() where applicable & (1 << UInt64(index)) != 0 {
            let range = NSRange(result.startIndex..., in: result)
            let regex = pattern.regex
            guard regex.firstMatch(in: result, options: [], range: range) != nil else { continue }
            result = regex.stringByReplacingMatches(in: result, options: [], range: range, withTemplate: pattern.template)
        }
        return redactPercentEncoded(redactBasicCredentials(result))
    }

    /// The secret values the patterns mask in this text, as they appear in it: a structure read out
    /// of a pasted text (a Ruby hash or a cut-off dump) can carry a value away from the name that
    /// marked it as a secret, so every fact taken from the text is cleared of these too.
    public static func secrets(in text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        let applicable = applicablePatterns(text)
        guard applicable != 0 else { return [] }
        // Nothing redacted, nothing to find (redaction is memoized for the short texts that recur).
        if text.utf8.count <= 2048, redact(text) == text { return [] }
        var found: [String] = []
        let ns = text as NSString
        for (index, pattern) in patterns.enumerated() where applicable & (1 << UInt64(index)) != 0 {
            let regex = pattern.regex
            // The secret is what the template does not keep: after the groups written before the
            // mask, up to the first group written after it.
            let template = pattern.template
            guard let maskAt = template.range(of: mask) else { continue }
            func groups(_ part: Substring) -> [Int] {
                var out: [Int] = []
                var rest = part[...]
                while let dollar = rest.firstIndex(of: "$") {
                    rest = rest[rest.index(after: dollar)...]
                    if let digit = rest.first?.wholeNumberValue { out.append(digit); rest = rest.dropFirst() }
                }
                return out
            }
            let before = groups(template[..<maskAt.lowerBound]), after = groups(template[maskAt.upperBound...])
            for match in regex.matches(in: text, options: [], range: NSRange(location: 0, length: ns.length)) {
                var start = match.range.location, end = match.range.location + match.range.length
                for g in before where g < match.numberOfRanges && match.range(at: g).location != NSNotFound {
                    start = max(start, match.range(at: g).location + match.range(at: g).length)
                }
                for g in after where g < match.numberOfRanges && match.range(at: g).location != NSNotFound {
                    end = min(end, match.range(at: g).location)
                }
                guard end - start >= 6 else { continue }
                let value = ns.substring(with: NSRange(location: start, length: end - start))
                    .trimmingCharacters(in: CharacterSet(charactersIn: "\"' \t"))
                if value.count >= 6, !value.contains(mask), !found.contains(value) { found.append(value) }
            }
        }
        // Longest first, so a secret holding another is cleared whole.
        return found.sorted { $0.utf8.count > $1.utf8.count }
    }

    /// Percent-encoded secrets: each `&`/`?`/`;`-separated part of a word that holds a `%` is decoded;
    /// when the decoded part would be redacted, its value (after `=`, else all of it) is masked.
    static func redactPercentEncoded(_ text: String) -> String {
        guard text.utf8.contains(0x25) else { return text }
        var changed = false
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var part = ""
        func flush() {
            defer { part = "" }
            guard part.utf8.contains(0x25), let decoded = percentDecoded(part), decoded != part else { out += part; return }
            let redacted = redact(decoded)
            guard redacted != decoded else { out += part; return }
            changed = true
            if let eq = part.firstIndex(of: "="), !part[..<eq].contains("%") {
                out += String(part[...eq]) + mask
            } else {
                out += mask
            }
        }
        for c in text {
            if c == "&" || c == "?" || c == ";" || c == " " || c == "\n" || c == "\"" || c == "'" || c == "<" || c == ">" || c == "\t" || c == "," {
                flush()
                out.append(c)
            } else {
                part.append(c)
            }
        }
        flush()
        return changed ? out : text
    }

    /// `%XX` decoded (and `+` as a space); invalid escapes stay as they are.
    static func percentDecoded(_ s: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        let u = Array(s.utf8)
        var i = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            case 0x61...0x66: return b - 0x61 + 10
            default: return nil
            }
        }
        while i < u.count {
            if u[i] == 0x25, i + 2 < u.count, let h = hex(u[i + 1]), let l = hex(u[i + 2]) {
                bytes.append(h << 4 | l)
                i += 3
            } else {
                bytes.append(u[i] == 0x2B ? 0x20 : u[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// "Basic <base64>" whose payload decodes to "user:password", however short or plain it looks.
    static func redactBasicCredentials(_ text: String) -> String {
        guard ByteSearch.contains(text, lowercaseNeedle: "basic ") else { return text }
        var words = text.components(separatedBy: " ")
        var changed = false
        for i in words.indices.dropLast() where words[i].lowercased().hasSuffix("basic") {
            let candidate = words[i + 1].trimmingCharacters(in: CharacterSet(charactersIn: "\"',;.)"))
            guard candidate.count >= 4, candidate != mask,
                  let data = Data(base64Encoded: candidate.count % 4 == 0 ? candidate : candidate + String(repeating: "=", count: 4 - candidate.count % 4)),
                  let decoded = String(data: data, encoding: .utf8), decoded.contains(":") else { continue }
            words[i + 1] = words[i + 1].replacingOccurrences(of: candidate, with: mask)
            changed = true
        }
        return changed ? words.joined(separator: " ") : text
    }

    /// The most characters of one value a report shows; a pasted log of megabytes is evidence
    /// enough in its first pages, and redacting all of it would cost seconds.
    public static let displayLimit = 4_096
    /// Raw characters past the shown part that are redacted with it, so a secret that straddles
    /// the cut is recognised whole (no secret shape is longer).
    static let cutMargin = 1_024

    /// `redact`, then at most `limit` characters, with a note of how many were left out. The text is
    /// redacted before it is cut (a secret cut in half would no longer look like one) and the last
    /// `cutMargin` redacted characters are never shown, so what is shown was redacted in full context.
    public static func redactForDisplay(_ text: String, limit: Int = displayLimit) -> String {
        guard text.utf8.count > limit else { return redact(text) }
        let total = text.count
        guard total > limit else { return redact(text) }
        let window = String(text.prefix(limit + cutMargin))
        let redacted = redact(window)
        let shown = max(0, min(limit, redacted.count - cutMargin))
        return String(redacted.prefix(shown)) + " … [\(total - shown) more characters not shown]"
    }

    public static func redactForDisplay(_ value: FactValue, limit: Int = displayLimit) -> FactValue {
        switch value {
        case let .string(s): return .string(redactForDisplay(s, limit: limit))
        case let .list(items): return .list(items.prefix(64).map { redactForDisplay($0, limit: limit) })
        default: return value
        }
    }

    public static func redact(_ value: FactValue) -> FactValue {
        switch value {
        case let .string(s): return .string(redact(s))
        case let .list(items): return .list(items.map(redact))
        default: return value
        }
    }
}


/// A bounded memo of redacted texts (short ones only); emptied when full rather than aged.
final class RedactionMemo: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: String] = [:]
    private let capacity = 4096
    private let longest = 2048

    func value(for text: String) -> String? {
        guard text.utf8.count <= longest else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return entries[text]
    }

    func store(_ result: String, for text: String) {
        guard text.utf8.count <= longest else { return }
        lock.lock()
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[text] = result
        lock.unlock()
    }
}
