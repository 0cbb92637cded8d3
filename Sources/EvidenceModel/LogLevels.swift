/// A pasted connector log mixes INFO/DEBUG noise with the real error (Airbyte logs schema checks of
/// every `oneOf` branch at INFO, "is missing but it is required", before the failure it reports).
/// `text.error_lines` holds the lines logged at WARN or above, with the untagged lines that follow
/// them (stack traces), ANSI colour codes removed, so a rule can look at what failed and not at
/// what was merely logged. Set only when the paste mixes levels: a single error line is `text` itself.
enum LogLevels {
    enum Level { case quiet, loud }

    static let maxOutput = 64 * 1024

    static func errorLines(in text: String) -> String? {
        var text = text
        guard ByteSearch.contains(text, "\n"),
              ByteSearch.contains(text, "INFO") || ByteSearch.contains(text, "DEBUG") || ByteSearch.contains(text, "TRACE")
                || ByteSearch.contains(text, "level=info") || ByteSearch.contains(text, "level=debug")
                || ByteSearch.contains(text, "\"level\":\"info\"") || ByteSearch.contains(text, "\"level\": \"info\"") else { return nil }
        return text.withUTF8 { bytes -> String? in
            var out: [UInt8] = []
            var sawQuiet = false
            var sawLoud = false
            var current: Level?
            var lineStart = 0
            while lineStart < bytes.count {
                let lineEnd = UTF8Scan.firstIndex(bytes, from: lineStart) { $0 == 0x0A } ?? bytes.count
                let line = withoutColours(bytes, lineStart..<lineEnd)
                if let level = level(of: line) {
                    current = level
                    if level == .quiet { sawQuiet = true } else { sawLoud = true }
                }
                if current == .loud, out.count < maxOutput {
                    if !out.isEmpty { out.append(0x0A) }
                    out.append(contentsOf: line.prefix(maxOutput - out.count))
                }
                lineStart = lineEnd + 1
            }
            guard sawQuiet, sawLoud, !out.isEmpty else { return nil }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// The line without ANSI colour codes: ESC `[32m`, and the `e[32m` / `[32m` left when a UI copy drops the ESC byte.
    static func withoutColours(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var i = range.lowerBound
        while i < range.upperBound {
            let c = bytes[i]
            var start = -1
            if c == 0x1B, i + 1 < range.upperBound, bytes[i + 1] == UInt8(ascii: "[") { start = i + 2 }
            else if c == UInt8(ascii: "e"), i + 1 < range.upperBound, bytes[i + 1] == UInt8(ascii: "[") { start = i + 2 }
            else if c == UInt8(ascii: "["), i + 1 < range.upperBound, (bytes[i + 1] >= 0x30 && bytes[i + 1] <= 0x39) || bytes[i + 1] == UInt8(ascii: "m") { start = i + 1 }
            if start >= 0 {
                var j = start
                while j < range.upperBound, j - start < 12, (bytes[j] >= 0x30 && bytes[j] <= 0x39) || bytes[j] == UInt8(ascii: ";") { j += 1 }
                if j < range.upperBound, bytes[j] == UInt8(ascii: "m") {
                    i = j + 1
                    continue
                }
            }
            if c != 0x0D { out.append(c) }
            i += 1
        }
        return out
    }

    static let loud: [[UInt8]] = ["ERROR", "WARN", "WARNING", "CRITICAL", "FATAL", "SEVERE", "ERR", "EXCEPTION"].map { Array($0.utf8) }
    static let quiet: [[UInt8]] = ["INFO", "DEBUG", "TRACE", "NOTICE", "FINE"].map { Array($0.utf8) }

    /// The level a log line was written at, from an upper-case word in its first 100 bytes
    /// (`2024-01-02 10:00:00 ERROR …`, `[INFO]`, `level=error`, `"level":"error"`), or nil for an untagged line.
    static func level(of line: [UInt8]) -> Level? {
        let head = line.prefix(100)
        var i = head.startIndex
        while i < head.endIndex {
            let c = head[i]
            guard (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) else { i += 1; continue }
            var j = i
            while j < head.endIndex, (head[j] >= 0x41 && head[j] <= 0x5A) || (head[j] >= 0x61 && head[j] <= 0x7A) { j += 1 }
            let word = Array(head[i..<j])
            let before = i > head.startIndex ? head[i - 1] : 0x20
            let isWordStart = !(before >= 0x30 && before <= 0x39) && before != UInt8(ascii: "_") && before != UInt8(ascii: ".")
            if isWordStart {
                if loud.contains(word) { return .loud }
                if quiet.contains(word) { return .quiet }
                // `level=error`, `"level":"warn"`, `lvl=info`.
                if word == Array("level".utf8) || word == Array("lvl".utf8) || word == Array("severity".utf8) {
                    var k = j
                    while k < head.endIndex, head[k] == UInt8(ascii: "=") || head[k] == UInt8(ascii: ":") || head[k] == UInt8(ascii: "\"") || head[k] == 0x20 { k += 1 }
                    var e = k
                    while e < head.endIndex, (head[e] >= 0x41 && head[e] <= 0x5A) || (head[e] >= 0x61 && head[e] <= 0x7A) { e += 1 }
                    let value = Array(head[k..<e]).map(\.asciiUppercased)
                    if loud.contains(value) { return .loud }
                    if quiet.contains(value) { return .quiet }
                }
            }
            i = j
        }
        return nil
    }
}

extension UInt8 {
    @inline(__always) var asciiUppercased: UInt8 { (self >= 97 && self <= 122) ? self - 32 : self }
}
