#if canImport(Glibc)
import Glibc
#endif

/// Small scans over a string's UTF-8 bytes, for the hot paths that must not walk Characters.
public enum UTF8Scan {
    @inline(__always)
    public static func firstIndex(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int? = nil,
                                  where predicate: (UInt8) -> Bool) -> Int? {
        var i = start
        let end = end ?? bytes.count
        while i < end {
            if predicate(bytes[i]) { return i }
            i += 1
        }
        return nil
    }

    @inline(__always)
    public static func lastIndex(_ bytes: UnsafeBufferPointer<UInt8>, in range: Range<Int>, of byte: UInt8) -> Int? {
        var i = range.upperBound
        while i > range.lowerBound {
            i -= 1
            if bytes[i] == byte { return i }
        }
        return nil
    }

    @inline(__always)
    public static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ other: UnsafeBufferPointer<UInt8>) -> Bool {
        guard range.count == other.count else { return false }
        var i = 0
        while i < other.count {
            if bytes[range.lowerBound + i] != other[i] { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    public static func string(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// The bytes as a string, lower-cased (ASCII on bytes; anything else as `String.lowercased`).
    public static func lowercasedString(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        var ascii = true
        for i in range where bytes[i] >= 0x80 { ascii = false; break }
        guard ascii else { return string(bytes, range).lowercased() }
        return String(unsafeUninitializedCapacity: range.count) { out in
            for (k, i) in range.enumerated() { out[k] = bytes[i].asciiLowercased }
            return range.count
        }
    }

    /// The non-empty runs between separator bytes (ASCII separators), as strings.
    public static func words(_ text: String, separatedBy isSeparator: (UInt8) -> Bool) -> [String] {
        var words: [String] = []
        var copy = text
        copy.withUTF8 { bytes in
            var start = 0
            var i = 0
            while i <= bytes.count {
                if i == bytes.count || isSeparator(bytes[i]) {
                    if i > start { words.append(string(bytes, start..<i)) }
                    start = i + 1
                }
                i += 1
            }
        }
        return words
    }

    /// Whether the string ends with `suffix` (ASCII), compared on bytes.
    @inline(__always)
    public static func hasSuffix(_ text: String, _ suffix: StaticString) -> Bool {
        let n = suffix.utf8CodeUnitCount
        var copy = text
        return copy.withUTF8 { bytes in
            n == 0 || (bytes.count >= n && memcmp(bytes.baseAddress! + (bytes.count - n), suffix.utf8Start, n) == 0)
        }
    }

    /// Whether the string starts with `prefix` (ASCII), compared on bytes.
    @inline(__always)
    public static func hasPrefix(_ text: String, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        var copy = text
        return copy.withUTF8 { bytes in
            n == 0 || (bytes.count >= n && memcmp(bytes.baseAddress!, prefix.utf8Start, n) == 0)
        }
    }
}

extension String {
    /// `lowercased()` for the ASCII names of headers, keys and hosts: no copy when nothing is upper
    /// case, bytes otherwise; non-ASCII text still goes through `lowercased()`.
    public func fastLowercased() -> String {
        var copy = self
        return copy.withUTF8 { bytes -> String in
            var needsWork = false
            for byte in bytes {
                if byte >= 0x80 { return lowercased() }
                if byte &- 0x41 < 26 { needsWork = true }
            }
            guard needsWork else { return self }
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                for i in 0..<bytes.count { out[i] = bytes[i].asciiLowercased }
                return bytes.count
            }
        }
    }
}
