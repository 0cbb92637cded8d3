/// URL pieces without Foundation's URL parsing, which rejects many of the half-URLs customers paste.
///
/// Every delimiter of a URL is ASCII, so the pieces are found on UTF-8 bytes: `check` reads the
/// URL of every probe it makes, and walking Characters cost more than the probe's own parsing.
public enum URLFacts {
    public static func host(of url: String) -> String? {
        guard let schemeEnd = ByteSearch.offset(of: "://", in: url).map({ $0 + 3 }) else { return nil }
        var copy = url
        return copy.withUTF8 { bytes -> String? in
            var start = schemeEnd
            var end = UTF8Scan.firstIndex(bytes, from: schemeEnd) { $0 == slash || $0 == question || $0 == hash } ?? bytes.count
            if let at = UTF8Scan.lastIndex(bytes, in: start..<end, of: UInt8(ascii: "@")) { start = at + 1 }
            if start < end, bytes[start] == UInt8(ascii: "["),
               let close = UTF8Scan.firstIndex(bytes, from: start, to: end, where: { $0 == UInt8(ascii: "]") }) {
                return UTF8Scan.lowercasedString(bytes, start + 1..<close)
            }
            if let colon = UTF8Scan.lastIndex(bytes, in: start..<end, of: UInt8(ascii: ":")) { end = colon }
            return start < end ? UTF8Scan.lowercasedString(bytes, start..<end) : nil
        }
    }

    public static func path(of url: String) -> String? {
        let schemeEnd = ByteSearch.offset(of: "://", in: url).map { $0 + 3 }
        var copy = url
        return copy.withUTF8 { bytes -> String? in
            guard let schemeEnd else {
                guard bytes.first == slash else { return nil }
                return UTF8Scan.string(bytes, 0..<(UTF8Scan.firstIndex(bytes, from: 0) { $0 == question || $0 == hash } ?? bytes.count))
            }
            // The first '/' after the scheme starts the path, wherever it stands (as it always has).
            guard let start = UTF8Scan.firstIndex(bytes, from: schemeEnd, where: { $0 == slash }) else { return "/" }
            let end = UTF8Scan.firstIndex(bytes, from: start) { $0 == question || $0 == hash } ?? bytes.count
            return UTF8Scan.string(bytes, start..<end)
        }
    }

    public static func withoutQuery(_ url: String) -> String {
        var copy = url
        return copy.withUTF8 { bytes in
            guard let stop = UTF8Scan.firstIndex(bytes, from: 0, where: { $0 == question || $0 == hash }) else { return url }
            return UTF8Scan.string(bytes, 0..<stop)
        }
    }

    /// Query (and fragment) parameters in order, percent-decoding left to the caller.
    public static func queryItems(_ url: String) -> [(String, String)] {
        var items: [(String, String)] = []
        var copy = url
        copy.withUTF8 { bytes in
            forEachQueryItem(bytes) { name, value in
                items.append((UTF8Scan.string(bytes, name), UTF8Scan.string(bytes, value)))
                return true
            }
        }
        return items
    }

    /// `a=1&b=2` (a form body), values left encoded.
    public static func formItems(_ body: String) -> [(String, String)] {
        var items: [(String, String)] = []
        var copy = body
        copy.withUTF8 { bytes in
            forEachPair(bytes, 0..<bytes.count) { name, value in
                items.append((UTF8Scan.string(bytes, name), UTF8Scan.string(bytes, value)))
                return true
            }
        }
        return items
    }

    /// The first value of a query (or fragment) parameter, left encoded.
    public static func queryValue(_ name: String, in url: String) -> String? {
        // No "name=" anywhere: no value, even for a bare "name" item (as it always was).
        guard ByteSearch.contains(url, name + "=") else { return nil }
        var copy = url
        var wanted = name
        return copy.withUTF8 { bytes in
            wanted.withUTF8 { key -> String? in
                var found: Range<Int>?
                forEachQueryItem(bytes) { itemName, value in
                    guard UTF8Scan.equal(bytes, itemName, key) else { return true }
                    found = value
                    return false
                }
                return found.map { UTF8Scan.string(bytes, $0) }
            }
        }
    }

    /// Google account indexes a URL names: `authuser=N` in the query, `/u/N/` in the path.
    public static func googleAccountIndexes(in url: String) -> [Int] {
        var found: [Int] = []
        if ByteSearch.contains(url, "authuser=") {
            for (k, v) in queryItems(url) where k == "authuser" {
                if let n = Int(v) { found.append(n) }
            }
        }
        if ByteSearch.contains(url, "/u/"), let path = path(of: url) {
            let segments = path.split(separator: "/")
            for (i, s) in segments.enumerated() where s == "u" && i + 1 < segments.count {
                if let n = Int(segments[i + 1]) { found.append(n) }
            }
        }
        return found
    }

    // MARK: bytes

    private static let slash = UInt8(ascii: "/")
    private static let question = UInt8(ascii: "?")
    private static let hash = UInt8(ascii: "#")

    /// Calls `body` with each `name=value` of every part after a '?' or '#' (empty parts skipped,
    /// a part without '=' has an empty value) until it returns false.
    private static func forEachQueryItem(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>, Range<Int>) -> Bool) {
        // The parts between '?'/'#' delimiters, empty ones dropped; the first part is the URL itself.
        var partStart = 0
        var isFirst = true
        var i = 0
        while i <= bytes.count {
            if i == bytes.count || bytes[i] == question || bytes[i] == hash {
                if i > partStart {
                    if !isFirst, !forEachPair(bytes, partStart..<i, body) { return }
                    isFirst = false
                }
                partStart = i + 1
            }
            i += 1
        }
    }

    /// `name=value` pairs separated by '&' (empty pairs skipped). Returns false when `body` stopped.
    @discardableResult
    private static func forEachPair(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Range<Int>, Range<Int>) -> Bool) -> Bool {
        var pairStart = range.lowerBound
        var i = range.lowerBound
        while i <= range.upperBound {
            if i == range.upperBound || bytes[i] == UInt8(ascii: "&") {
                if i > pairStart {
                    let equals = UTF8Scan.firstIndex(bytes, from: pairStart, to: i) { $0 == UInt8(ascii: "=") }
                    let name = pairStart..<(equals ?? i)
                    let value = equals.map { ($0 + 1)..<i } ?? i..<i
                    if !body(name, value) { return false }
                }
                pairStart = i + 1
            }
            i += 1
        }
        return true
    }
}
