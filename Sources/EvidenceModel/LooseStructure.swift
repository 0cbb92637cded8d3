/// Finds the structured data people paste inside prose: JSON (whole, cut off, or escaped inside a
/// log line), Python reprs (`{'code': 190, 'ok': True}`), Ruby hashes (`{"error"=>"invalid_grant"}`),
/// Node's `util.inspect` (`{ message: '…', code: 2500 }`), Java/Kotlin/.NET `toString`
/// (`GraphResponse{HttpStatus: 400, errorCode: 190, errorMessage: Error validating …}`,
/// `Error(code=16, message=…)`), Go's `%+v` (`{Code:190 Message:Invalid token}`) and protobuf text
/// (`errors { error_code { authorization_error: USER_PERMISSION_DENIED } }`).
///
/// One forgiving parser instead of a parser per language: keys are quoted or bare, separated from
/// their value by `:`, `=`, `=>` or nothing before a `{`; members by commas, semicolons, newlines or
/// spaces; a bare value runs until the next `key:`. What is cut off at the end of the text is kept
/// as far as it goes. Every walk is bounded, so hostile text costs at most a few megabyte-steps.
public enum LooseStructure {
    /// Limits: how many candidate openings are tried, how far one segment may run, how deep it may nest.
    static let maxAttempts = 48
    static let maxSegmentBytes = 64 * 1024
    static let maxDepth = 24
    static let maxMembers = 600
    static let maxSegments = 12

    /// The objects found in the text, in order, outermost only.
    public static func objects(in text: String) -> [JSONValue] {
        let bytes = Array(text.utf8)
        var found = objects(in: bytes)
        // A body copied without its braces: `"errorCode": 0,\n "message": "…",\n "status": 401`.
        if found.isEmpty, bytes.count < maxSegmentBytes, startsWithQuotedKeyLines(bytes) {
            found = objects(in: [UInt8(ascii: "{")] + bytes + [UInt8(ascii: "}")])
        }
        // Log lines often carry JSON escaped inside a string: `"body": "{\"error\":\"invalid_grant\"}"`.
        if bytes.count < 1 << 20, has(bytes, "{\\\"") || has(bytes, "{\\\\\"") {
            var unescaped = bytes
            for _ in 0..<2 {
                unescaped = unescape(unescaped)
                found += objects(in: unescaped)
                if !has(unescaped, "\\\"") { break }
            }
        }
        return found
    }

    /// Whether the text opens with a `"key": value` member and has a second one on another line.
    static func startsWithQuotedKeyLines(_ bytes: [UInt8]) -> Bool {
        var lines = 0
        var i = 0
        while i < bytes.count, lines < 2 {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { break }
            var k = i + 1
            while k < bytes.count, Parser.isIdentByte(bytes[k]) { k += 1 }
            guard k > i + 1, k + 1 < bytes.count, bytes[k] == UInt8(ascii: "\"") else { break }
            k += 1
            while k < bytes.count, bytes[k] == 0x20 { k += 1 }
            guard k < bytes.count, bytes[k] == UInt8(ascii: ":") else { break }
            lines += 1
            while k < bytes.count, bytes[k] != 0x0A { k += 1 }
            i = k
        }
        return lines >= 2
    }

    static func has(_ bytes: [UInt8], _ needle: String) -> Bool {
        bytes.withUnsafeBufferPointer { ByteSearch.contains($0, Array(needle.utf8)) }
    }

    static func objects(in bytes: [UInt8]) -> [JSONValue] {
        var result: [JSONValue] = []
        var attempts = 0
        var i = 0
        bytes.withUnsafeBufferPointer { buffer in
            while i < buffer.count, attempts < maxAttempts, result.count < maxSegments {
                let open = buffer[i]
                guard open == UInt8(ascii: "{") || open == UInt8(ascii: "(") else { i += 1; continue }
                let limit = min(buffer.count, i + maxSegmentBytes)
                var parser = Parser(bytes: buffer, index: i, end: limit)
                // `(type: OAuthException, code: 5, message: …)` (Ruby's Koala, Kotlin data classes): a
                // parenthesis opens an object only when a `key:` / `key=` comes first.
                if open == UInt8(ascii: "("), !parser.looksLikeKeyedCall(from: i + 1) { i += 1; continue }
                attempts += 1
                let value: JSONValue?
                if open == UInt8(ascii: "(") {
                    parser.index = i + 1
                    value = parser.parseObject(close: UInt8(ascii: ")"), depth: 1)
                } else {
                    value = parser.parseValue(depth: 0, context: .top)
                }
                if case let .object(members)? = value, members.count >= (open == UInt8(ascii: "(") ? 2 : 1) {
                    // A protobuf text message names itself before its brace: `errors {`.
                    if let name = protobufFieldName(before: i, in: buffer) {
                        result.append(.object([(name, .object(members))]))
                    } else {
                        result.append(.object(members))
                    }
                    i = max(parser.index, i + 1)
                } else {
                    i += 1
                }
            }
        }
        return result
    }

    /// `  errors {` at the start of a line: the lower-case field name before the brace.
    static func protobufFieldName(before open: Int, in b: UnsafeBufferPointer<UInt8>) -> String? {
        var j = open - 1
        guard j >= 0, b[j] == 0x20 else { return nil }
        while j >= 0, b[j] == 0x20 { j -= 1 }
        let end = j + 1
        while j >= 0, (b[j] >= 0x61 && b[j] <= 0x7A) || b[j] == 0x5F || (b[j] >= 0x30 && b[j] <= 0x39) { j -= 1 }
        let start = j + 1
        guard start < end else { return nil }
        // Only at the start of a line (after indentation).
        var k = j
        while k >= 0, b[k] == 0x20 || b[k] == 0x09 { k -= 1 }
        guard k < 0 || b[k] == 0x0A || b[k] == 0x0D else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self)
    }

    /// One level of backslash escaping removed (`\"` → `"`, `\\` → `\`, `\n` → newline).
    static func unescape(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x5C, i + 1 < bytes.count {
                let n = bytes[i + 1]
                switch n {
                case UInt8(ascii: "\""), 0x5C, UInt8(ascii: "'"), UInt8(ascii: "/"): out.append(n)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                default: out.append(c); out.append(n)
                }
                i += 2
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }

    enum Context { case top, object(close: UInt8), array(close: UInt8) }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index: Int
        let end: Int
        var members = 0

        init(bytes: UnsafeBufferPointer<UInt8>, index: Int, end: Int) {
            self.bytes = bytes
            self.index = index
            self.end = end
        }

        var atEnd: Bool { index >= end }
        func peek(_ offset: Int = 0) -> UInt8? { index + offset < end ? bytes[index + offset] : nil }

        static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        static func isIdentByte(_ c: UInt8) -> Bool {
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D || c == 0x2E || c == 0x24 || c == 0x40
        }

        mutating func skipSpaces() { while let c = peek(), Self.isSpace(c) { index += 1 } }
        mutating func skipInlineSpaces() { while let c = peek(), c == 0x20 || c == 0x09 { index += 1 } }

        mutating func parseValue(depth: Int, context: Context) -> JSONValue? {
            guard depth <= LooseStructure.maxDepth, members < LooseStructure.maxMembers else { return nil }
            skipInlineSpaces()
            // A value may start on the next line (`key:\n  value` is rare; `key {` is protobuf).
            if let c = peek(), c == 0x0A || c == 0x0D {
                if case .top = context {} else { skipSpaces() }
            }
            guard let c = peek() else { return nil }
            switch c {
            case UInt8(ascii: "{"):
                index += 1
                return parseObject(close: UInt8(ascii: "}"), depth: depth + 1)
            case UInt8(ascii: "["):
                index += 1
                return parseArray(close: UInt8(ascii: "]"), depth: depth + 1)
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                return parseQuoted()
            default:
                break
            }
            // Python string prefixes: b'…', u'…', r"…".
            if (c == UInt8(ascii: "b") || c == UInt8(ascii: "u") || c == UInt8(ascii: "r")),
               let q = peek(1), q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") {
                index += 1
                return parseQuoted()
            }
            if case .top = context { return nil }
            return parseBare(depth: depth, context: context)
        }

        mutating func parseQuoted() -> JSONValue {
            let quote = bytes[index]
            index += 1
            var out: [UInt8] = []
            while let c = peek() {
                if c == quote { index += 1; return .string(String(decoding: out, as: UTF8.self)) }
                if c == 0x5C, let n = peek(1) {
                    switch n {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "u"):
                        if index + 5 < end, let scalar = hexScalar(at: index + 2) {
                            out.append(contentsOf: Array(String(Character(scalar)).utf8))
                            index += 6
                            continue
                        }
                        out.append(n)
                    default: out.append(n)
                    }
                    index += 2
                    continue
                }
                out.append(c)
                index += 1
            }
            // Cut off inside the string: keep what there is.
            return .string(String(decoding: out, as: UTF8.self))
        }

        func hexScalar(at start: Int) -> Unicode.Scalar? {
            var v: UInt32 = 0
            for k in start..<(start + 4) {
                let c = bytes[k]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                default: return nil
                }
                v = v * 16 + d
            }
            return Unicode.Scalar(v)
        }

        mutating func parseObject(close: UInt8, depth: Int) -> JSONValue? {
            var items: [(String, JSONValue)] = []
            while true {
                skipSeparators()
                guard let c = peek() else { return .object(items) }           // cut off: keep what came
                if c == close { index += 1; return .object(items) }
                if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || c == UInt8(ascii: ")") {
                    // A closer of an outer level: this one was never closed.
                    return items.isEmpty ? nil : .object(items)
                }
                guard let key = parseKey() else { return items.isEmpty ? nil : .object(items) }
                skipInlineSpaces()
                guard let s = peek() else { items.append((key, .null)); return .object(items) }
                if s == UInt8(ascii: ":") {
                    index += 1
                } else if s == UInt8(ascii: "="), peek(1) == UInt8(ascii: ">") {
                    index += 2
                } else if s == UInt8(ascii: "=") {
                    index += 1
                } else if s == UInt8(ascii: "{") {
                    // protobuf text: `error_code { … }`
                } else {
                    return items.isEmpty ? nil : .object(items)
                }
                members += 1
                guard let value = parseValue(depth: depth, context: .object(close: close)) else {
                    if atEnd { items.append((key, .null)); return .object(items) }
                    return items.isEmpty ? nil : .object(items)
                }
                items.append((key, value))
            }
        }

        mutating func parseArray(close: UInt8, depth: Int) -> JSONValue? {
            var items: [JSONValue] = []
            while true {
                skipSeparators()
                guard let c = peek() else { return .array(items) }
                if c == close { index += 1; return .array(items) }
                if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || c == UInt8(ascii: ")") { return .array(items) }
                members += 1
                guard let value = parseValue(depth: depth, context: .array(close: close)) else { return .array(items) }
                items.append(value)
                if items.count > LooseStructure.maxMembers { return .array(items) }
            }
        }

        mutating func skipSeparators() {
            while let c = peek(), Self.isSpace(c) || c == UInt8(ascii: ",") || c == UInt8(ascii: ";") { index += 1 }
        }

        /// A quoted key, or a bare one (`errorCode`, `error_subcode`, `X-Goog-Status`, `:symbol`).
        mutating func parseKey() -> String? {
            guard let c = peek() else { return nil }
            // Python 2 keys carry a prefix: `{u'error': …}`, `{b'code': …}`.
            if c == UInt8(ascii: "u") || c == UInt8(ascii: "b"), let q = peek(1), q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") {
                index += 1
            }
            if let c = peek(), c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                if case let .string(s) = parseQuoted() { return s }
                return nil
            }
            if c == UInt8(ascii: ":") { index += 1 }        // Ruby symbols `:error => …`
            let start = index
            while let c = peek(), Self.isIdentByte(c) { index += 1 }
            guard index > start, index - start <= 80 else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }

        /// A value without quotes: a number, a literal, a nested `Name{…}` / `Name(…)`, or words
        /// running to the next member (`, key:`), Go's ` Key:value`, or the container's end.
        mutating func parseBare(depth: Int, context: Context) -> JSONValue? {
            let close: UInt8
            var inArray = false
            switch context {
            case let .object(c): close = c
            case let .array(c): close = c; inArray = true
            case .top: return nil
            }
            let start = index
            // `ClassName{…}` / `ClassName(…)` / `&{…}`: a nested object named by its type.
            var j = index
            if j < end, bytes[j] == UInt8(ascii: "&") { j += 1 }
            while j < end, Self.isIdentByte(bytes[j]) { j += 1 }
            if j < end, j > start || bytes[start] == UInt8(ascii: "&"),
               bytes[j] == UInt8(ascii: "{") || (bytes[j] == UInt8(ascii: "(") && looksLikeKeyedCall(from: j + 1)) {
                let opener = bytes[j]
                index = j + 1
                return parseObject(close: opener == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: ")"), depth: depth + 1)
            }
            var nesting = 0
            var lastNonSpace = index
            while let c = peek() {
                if nesting == 0 {
                    if c == close || ((c == UInt8(ascii: "}") || c == UInt8(ascii: "]")) && c != close) { break }
                    if c == UInt8(ascii: ",") || c == UInt8(ascii: ";") || c == 0x0A {
                        if inArray && c == UInt8(ascii: ",") { break }
                        if nextIsKey(from: index + 1, allowNewline: true) { break }
                        if c == 0x0A, followsBlankOrCloser(from: index + 1) { break }
                    } else if c == 0x20, nextIsGoKey(from: index + 1) {
                        break
                    }
                }
                if c == UInt8(ascii: "(") || c == UInt8(ascii: "[") { nesting += 1 }
                if (c == UInt8(ascii: ")") || c == UInt8(ascii: "]")) && nesting > 0 { nesting -= 1 }
                else if c == UInt8(ascii: ")") && nesting == 0 && close == UInt8(ascii: ")") { break }
                if !Self.isSpace(c) { lastNonSpace = index + 1 }
                index += 1
                if index - start > 4096 { break }
            }
            guard lastNonSpace > start else { return nil }
            let word = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<lastNonSpace]), as: UTF8.self)
            return Self.scalar(word)
        }

        /// After `Name(`: `key=` or `key:` comes first (Kotlin/Python `Error(code=16, …)`).
        func looksLikeKeyedCall(from position: Int) -> Bool {
            var k = position
            while k < end, bytes[k] == 0x20 { k += 1 }
            let s = k
            while k < end, Self.isIdentByte(bytes[k]) { k += 1 }
            guard k > s else { return false }
            while k < end, bytes[k] == 0x20 { k += 1 }
            return k < end && (bytes[k] == UInt8(ascii: "=") || bytes[k] == UInt8(ascii: ":"))
        }

        /// `  key:` / `key =` / `"key":` / `'key' =>` after a separator: the next member begins.
        func nextIsKey(from position: Int, allowNewline: Bool) -> Bool {
            var k = position
            while k < end, bytes[k] == 0x20 || bytes[k] == 0x09 || (allowNewline && (bytes[k] == 0x0A || bytes[k] == 0x0D)) { k += 1 }
            guard k < end else { return true }
            var quoted: UInt8?
            if (bytes[k] == UInt8(ascii: "u") || bytes[k] == UInt8(ascii: "b")), k + 1 < end, bytes[k + 1] == UInt8(ascii: "'") || bytes[k + 1] == UInt8(ascii: "\"") { k += 1 }
            if bytes[k] == UInt8(ascii: "\"") || bytes[k] == UInt8(ascii: "'") { quoted = bytes[k]; k += 1 }
            // A quote as the last byte (a dump cut off there) starts no key (fuzzer, seed 1160864217).
            guard k < end else { return false }
            if bytes[k] == UInt8(ascii: ":") && quoted == nil { k += 1 }
            let s = k
            while k < end, Self.isIdentByte(bytes[k]) { k += 1 }
            guard k > s, k - s <= 60 else { return false }
            if let q = quoted { guard k < end, bytes[k] == q else { return false }; k += 1 }
            while k < end, bytes[k] == 0x20 { k += 1 }
            guard k < end else { return false }
            if bytes[k] == UInt8(ascii: ":") {
                // `key: value` or `key:value`; not `http://` (a URL inside prose).
                return !(k + 1 < end && bytes[k + 1] == UInt8(ascii: "/"))
            }
            if bytes[k] == UInt8(ascii: "=") { return true }
            return bytes[k] == UInt8(ascii: "{") && quoted == nil && k > s
        }

        /// A newline followed by a line that closes the container (`}`), or nothing.
        func followsBlankOrCloser(from position: Int) -> Bool {
            var k = position
            while k < end, bytes[k] == 0x20 || bytes[k] == 0x09 || bytes[k] == 0x0D { k += 1 }
            return k >= end || bytes[k] == UInt8(ascii: "}") || bytes[k] == UInt8(ascii: "]")
        }

        /// Go's `%+v`: ` Key:value` with an upper-case field name and no space after the colon.
        func nextIsGoKey(from position: Int) -> Bool {
            var k = position
            guard k < end, bytes[k] >= 0x41, bytes[k] <= 0x5A else { return false }
            while k < end, Self.isIdentByte(bytes[k]) && bytes[k] != UInt8(ascii: ".") { k += 1 }
            return k + 1 < end && bytes[k] == UInt8(ascii: ":") && !Self.isSpace(bytes[k + 1]) && bytes[k + 1] != UInt8(ascii: "/")
        }

        static func scalar(_ word: String) -> JSONValue {
            switch word {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            case "null", "None", "nil", "undefined", "<nil>", "NULL": return .null
            default: break
            }
            if let i = Int(word) { return .int(i) }
            if word.utf8.count < 40, let d = Double(word), d.isFinite, word.utf8.allSatisfy({ $0 < 0x80 && $0 != 0x20 }) {
                return .double(d)
            }
            return .string(word)
        }
    }
}
