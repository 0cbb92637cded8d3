/// Reads the plain shape of a connections file without a YAML library:
///
/// ```yaml
/// connections:
///   - name: shop-ads
///     provider: facebook
///     client-id: "5550001112223"
///     base-url: {facebook: "http://127.0.0.1:8080"}
///     expect-scopes: [ads_read, business_management]
/// ```
///
/// Two-space list items, four-space keys, one `key: value` a line, values plain, quoted without
/// escapes, or a one-line `{...}` / `[...]`, `#` comments on lines of their own. Anything outside
/// that shape returns nil and the file is read by Yams instead, so this is only ever a faster way
/// to the same entries (a test holds the two equal). Works on UTF-8 bytes: character-by-character
/// Swift string handling cost as much as Yams.
enum FastConnectionsReader {
    typealias RawEntry = ConnectionsFile.RawEntry
    typealias Bytes = UnsafeBufferPointer<UInt8>

    static let space: UInt8 = 0x20, newline: UInt8 = 0x0A, carriageReturn: UInt8 = 0x0D, tab: UInt8 = 0x09
    static let hash: UInt8 = 0x23, colon: UInt8 = 0x3A, comma: UInt8 = 0x2C, dash: UInt8 = 0x2D
    static let doubleQuote: UInt8 = 0x22, singleQuote: UInt8 = 0x27, backslash: UInt8 = 0x5C
    static let openBrace: UInt8 = 0x7B, closeBrace: UInt8 = 0x7D, openBracket: UInt8 = 0x5B, closeBracket: UInt8 = 0x5D

    static func read(_ text: String) -> [RawEntry]? {
        var entries: [RawEntry] = []
        return read(text, each: { entries.append($0) }) ? entries : nil
    }

    /// Hands each entry to `each` as soon as it is complete, so a large file is never held as a
    /// second tree of entries; false (after some entries, maybe) when the file is not of the plain
    /// shape: the caller then drops what it got and reads the file with Yams.
    static func read(_ text: String, each: (RawEntry) -> Void) -> Bool {
        var text = text
        return text.withUTF8 { read(bytes: $0, each: each) }
    }

    /// Lines that start a list item ("  - "): the entries of a plain file, counted before reading
    /// so their list is made once at its size (growing it by doubling holds two copies at a time).
    static func itemCount(_ text: String) -> Int {
        var text = text
        return text.withUTF8 { b in
            var n = 0
            var i = 0
            let count = b.count
            while i + 4 < count {
                if b[i] == newline && b[i + 1] == space && b[i + 2] == space && b[i + 3] == dash && b[i + 4] == space { n += 1 }
                i += 1
            }
            return n
        }
    }

    static func read(bytes buffer: Bytes) -> [RawEntry]? {
        var entries: [RawEntry] = []
        return read(bytes: buffer, each: { entries.append($0) }) ? entries : nil
    }

    static func read(bytes buffer: Bytes, each: (RawEntry) -> Void) -> Bool {
        var current: RawEntry?
        var sawHeader = false
        var lineNumber = 0
        var start = 0
        let count = buffer.count
        while start <= count {
            var end = start
            while end < count && buffer[end] != newline { end += 1 }
            lineNumber += 1
            var last = end
            if last > start && buffer[last - 1] == carriageReturn { last -= 1 }
            defer { start = end + 1 }
            // Blank lines and comment lines.
            var firstContent = start
            while firstContent < last && buffer[firstContent] == space { firstContent += 1 }
            if firstContent == last || buffer[firstContent] == hash {
                if end == count { break }
                continue
            }
            for i in start..<last where buffer[i] == tab { return false }
            if !sawHeader {
                var trimmed = last
                while trimmed > start && buffer[trimmed - 1] == space { trimmed -= 1 }
                guard equals(buffer, start, trimmed, "connections:") else { return false }
                sawHeader = true
                if end == count { break }
                continue
            }
            let indent = firstContent - start
            if indent == 2 && firstContent + 1 < last && buffer[firstContent] == dash && buffer[firstContent + 1] == space {
                if let current { each(current) }
                current = RawEntry(line: lineNumber, fields: [])
                guard firstContent + 2 < last, buffer[firstContent + 2] != space else { return false }
                guard let field = parseField(buffer, firstContent + 2, last, line: lineNumber) else { return false }
                current!.fields!.append(field)
            } else if indent == 4 {
                guard current != nil, let field = parseField(buffer, firstContent, last, line: lineNumber) else { return false }
                // A key given twice: Yams says so for the whole file.
                if current!.fields!.contains(where: { $0.key == field.key }) { return false }
                current!.fields!.append(field)
            } else {
                return false
            }
            if end == count { break }
        }
        guard sawHeader else { return false }
        if let current { each(current) }
        return true
    }

    static func equals(_ b: Bytes, _ from: Int, _ to: Int, _ literal: StaticString) -> Bool {
        guard to - from == literal.utf8CodeUnitCount else { return false }
        let p = literal.utf8Start
        for i in 0..<(to - from) where b[from + i] != p[i] { return false }
        return true
    }

    static func string(_ b: Bytes, _ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[from..<to]), as: UTF8.self)
    }

    static func isKeyByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == dash || c == 0x5F
    }

    /// Trims spaces on both sides of [from, to).
    static func trim(_ b: Bytes, _ from: Int, _ to: Int) -> (Int, Int) {
        var from = from, to = to
        while from < to && b[from] == space { from += 1 }
        while to > from && b[to - 1] == space { to -= 1 }
        return (from, to)
    }

    /// `key: value` with a key of letters, digits, '-' and '_'.
    static func parseField(_ b: Bytes, _ from: Int, _ to: Int, line: Int) -> RawEntry.Field? {
        var colonAt = from
        while colonAt < to && isKeyByte(b[colonAt]) { colonAt += 1 }
        guard colonAt > from, colonAt + 1 < to, b[colonAt] == colon, b[colonAt + 1] == space else { return nil }
        let (valueFrom, valueTo) = trim(b, colonAt + 1, to)
        guard let value = parseValue(b, valueFrom, valueTo) else { return nil }
        return RawEntry.Field(key: string(b, from, colonAt), keyLine: line, value: value, valueLine: line)
    }

    static func parseValue(_ b: Bytes, _ from: Int, _ to: Int) -> RawEntry.Value? {
        guard from < to else { return nil }
        let first = b[from]
        if first == openBrace || first == openBracket {
            let close = first == openBrace ? closeBrace : closeBracket
            guard to - from >= 2, b[to - 1] == close else { return nil }
            var pairs: [(name: String?, value: String?)] = []
            var items: [String?] = []
            let (innerFrom, innerTo) = trim(b, from + 1, to - 1)
            if innerFrom == innerTo { return first == openBrace ? .map([]) : .list([]) }
            var partStart = innerFrom
            var i = innerFrom
            while i <= innerTo {
                if i == innerTo || b[i] == comma {
                    let (itemFrom, itemTo) = trim(b, partStart, i)
                    if first == openBracket {
                        guard let item = scalar(b, itemFrom, itemTo) else { return nil }
                        items.append(item)
                    } else {
                        // NAME: VALUE, the first ": " splits (a URL's "://" has no space after the colon).
                        var c = itemFrom
                        while c + 1 < itemTo && !(b[c] == colon && b[c + 1] == space) { c += 1 }
                        guard c + 1 < itemTo else { return nil }
                        let (vFrom, vTo) = trim(b, c + 1, itemTo)
                        guard let name = scalar(b, itemFrom, c), let value = scalar(b, vFrom, vTo) else { return nil }
                        pairs.append((name, value))
                    }
                    partStart = i + 1
                }
                i += 1
            }
            return first == openBrace ? .map(pairs) : .list(items)
        }
        return scalar(b, from, to).map(RawEntry.Value.scalar)
    }

    /// A plain scalar, or a quoted one without escapes; nil for anything YAML would read otherwise.
    static func scalar(_ b: Bytes, _ from: Int, _ to: Int) -> String? {
        guard from < to else { return nil }
        let first = b[from]
        if first == doubleQuote || first == singleQuote {
            guard to - from >= 2, b[to - 1] == first else { return nil }
            for i in (from + 1)..<(to - 1) where b[i] == first || (first == doubleQuote && b[i] == backslash) { return nil }
            return string(b, from + 1, to - 1)
        }
        // Bytes that start something else in YAML (anchors, tags, block scalars, flow, ...).
        switch first {
        case 0x26, 0x2A, 0x21, 0x7C, 0x3E, 0x25, 0x40, 0x60, dash, 0x3F, colon, comma, openBracket, closeBracket,
             openBrace, closeBrace, hash: return nil
        default: break
        }
        // A comment, a nested mapping, flow characters, non-ASCII (YAML's line breaks, BOMs): leave them to Yams.
        var previous = space
        for i in from..<to {
            let c = b[i]
            if c >= 0x80 || c < 0x20 { return nil }
            if c == hash && previous == space { return nil }
            if previous == colon && c == space { return nil }
            if c == openBrace || c == closeBrace || c == openBracket || c == closeBracket || c == comma { return nil }
            previous = c
        }
        if previous == colon { return nil }
        return string(b, from, to)
    }
}

/// Whether a text takes the fast path (tests).
public enum FastConnectionsProbe {
    public static func readsFast(_ text: String) -> Bool { FastConnectionsReader.read(text) != nil }
}
