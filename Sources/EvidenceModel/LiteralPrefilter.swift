#if canImport(Glibc)
import Glibc
#endif
/// A cheap test that rules a regular expression out before ICU runs it: every way the pattern can
/// match contains one of a few literal strings. Batch classification evaluates many phrase rules
/// per record, and most texts contain none of their words, so most regex runs are skipped.
///
/// The analysis is conservative: it only ever answers "cannot match" when that is certain, and
/// gives up (nil) on anything it does not understand.
public struct LiteralPrefilter: Sendable {
    /// ASCII-lowercased literals; the text must contain at least one (compared ASCII-case-insensitively).
    /// Used to index rules by word.
    /// May hold `nonASCII` (an alternative of cased non-ASCII letters only): the rule index then
    /// looks for any non-ASCII byte in the fact instead.
    public let needles: [[UInt8]]
    /// The finer test: for some top-level alternative, every one of its required word sets has a
    /// word in the text ("link" and "expired", not just one of them).
    public let requirements: [[[[UInt8]]]]

    /// A prefilter analysed earlier (the rule snapshot stores it: the analysis is a fifth of a
    /// one-shot command's start-up).
    public init(needles: [[UInt8]], requirements: [[[[UInt8]]]]) {
        self.needles = needles
        self.requirements = requirements
    }

    public init?(pattern: String) {
        if pattern.contains("(?x") { return nil }
        // Escapes that stand for characters by number or property (\x41, \u0041, \0, \cA, \p{L},
        // \N{…}, back-references) are not analysed: give up rather than guess.
        // Inside a character class they are harmless: the analysis skips classes whole.
        let scalarsOfPattern = Array(pattern.unicodeScalars)
        var k = 0
        var inClass = false
        // The analysis recurses per group: a pattern nested deeper than any rule's is left to the
        // regex engine alone rather than risk the stack.
        var depth = 0
        while k + 1 < scalarsOfPattern.count {
            if !inClass && scalarsOfPattern[k] == "(" {
                depth += 1
                if depth > 64 { return nil }
            } else if !inClass && scalarsOfPattern[k] == ")" {
                depth -= 1
            }
            if scalarsOfPattern[k] == "\\" {
                if !inClass, "xuUcNpPkgoQE".unicodeScalars.contains(scalarsOfPattern[k + 1]) || ("0"..."9").contains(scalarsOfPattern[k + 1]) { return nil }
                k += 2
                continue
            }
            if scalarsOfPattern[k] == "[" && !inClass {
                inClass = true
                // `[]…]` and `[^]…]`: a leading `]` is a member, not the end.
                if k + 1 < scalarsOfPattern.count && scalarsOfPattern[k + 1] == "^" { k += 1 }
                if k + 1 < scalarsOfPattern.count && scalarsOfPattern[k + 1] == "]" { k += 1 }
            } else if scalarsOfPattern[k] == "]" && inClass {
                inClass = false
            }
            k += 1
        }
        let scalars = Array(pattern.unicodeScalars)
        var index = 0
        var needles: [[UInt8]] = []
        var requirements: [[[[UInt8]]]] = []
        while true {
            guard let candidates = Self.sequenceCandidates(scalars, &index), let best = Self.best(candidates) else { return nil }
            needles += best
            requirements.append(candidates.filter { $0.allSatisfy { $0.count >= 2 || $0 == Self.nonASCII } })
            if index < scalars.count && scalars[index] == "|" { index += 1; continue }
            break
        }
        guard index == scalars.count, !needles.isEmpty, needles.allSatisfy({ $0.count >= 2 || $0 == Self.nonASCII }) else { return nil }
        self.needles = needles
        self.requirements = requirements
    }

    /// A pseudo-needle (0xFF never occurs in UTF-8): "some non-ASCII character". A letter with case
    /// outside ASCII (é, Ж, Σ) matches only non-ASCII text under (?i) (the two that fold to ASCII,
    /// K and ſ, end the analysis), so a Russian alternative still rules out an all-ASCII text.
    public static let nonASCII: [UInt8] = [0xFF]

    public func mayMatch(_ lowered: UnsafeBufferPointer<UInt8>) -> Bool {
        var anyNonASCII: Bool?
        func has(_ needle: [UInt8]) -> Bool {
            guard needle == Self.nonASCII else { return ByteSearch.contains(lowered, needle) }
            if let known = anyNonASCII { return known }
            let found = Self.hasNonASCII(lowered)
            anyNonASCII = found
            return found
        }
        for alternative in requirements {
            var all = true
            for set in alternative where !set.contains(where: has) {
                all = false
                break
            }
            if all { return true }
        }
        return false
    }

    /// `a|b|c` up to a closing parenthesis or the end: the union of each alternative's needles,
    /// or nil when some alternative has none.
    static func alternation(_ s: [Unicode.Scalar], _ i: inout Int) -> [[UInt8]]? {
        var union: [[UInt8]] = []
        var ok = true
        while true {
            let needles = sequence(s, &i)
            if let needles { union += needles } else { ok = false }
            if i < s.count && s[i] == "|" { i += 1; continue }
            break
        }
        return ok ? union : nil
    }

    /// One alternative: the best needle set among its mandatory literal runs and mandatory groups.
    static func sequence(_ s: [Unicode.Scalar], _ i: inout Int) -> [[UInt8]]? {
        sequenceCandidates(s, &i).flatMap(best)
    }

    /// The best set is the one whose shortest needle is longest (fewest false candidates).
    static func best(_ candidates: [[[UInt8]]]) -> [[UInt8]]? {
        // A one-byte needle (a lone space between two non-ASCII words) rules nothing out.
        candidates.filter { !$0.isEmpty && $0.allSatisfy { $0.count >= 2 || $0 == nonASCII } }.max { a, b in
            let ma = a.map(\.count).min() ?? 0, mb = b.map(\.count).min() ?? 0
            return ma != mb ? ma < mb : a.count > b.count
        }
    }

    /// Every word set one alternative requires (each a literal run, or a mandatory group's choices);
    /// nil when the alternative cannot be read.
    static func sequenceCandidates(_ s: [Unicode.Scalar], _ i: inout Int) -> [[[UInt8]]]? {
        var candidates: [[[UInt8]]] = []
        // The literal run so far, as its spellings: a small class or an optional character multiplies
        // them (`private[_-]?key` is "privatekey", "private_key" or "private-key", a better needle
        // than "private", which "Cache-Control: private" holds).
        var run: [[UInt8]] = [[]]
        func endRun() {
            if run.count == 1 {
                // One spelling (most runs): nothing to compare.
                if !run[0].isEmpty { candidates.append(run) }
                run = [[]]
                return
            }
            // A spelling that holds another is implied by it: keep the shortest ones.
            let spellings = Array(Set(run)).sorted { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) }
            run = [[]]
            // One spelling empty (`x?` alone): the run requires nothing.
            guard let shortest = spellings.first, !shortest.isEmpty else { return }
            var kept: [[UInt8]] = []
            for spelling in spellings {
                let implied = spelling.withUnsafeBufferPointer { haystack in kept.contains { ByteSearch.contains(haystack, $0) } }
                if !implied { kept.append(spelling) }
            }
            candidates.append(kept)
        }
        func append(_ bytes: [UInt8]) { for k in run.indices { run[k] += bytes } }
        /// Each spelling once per choice (an empty choice: the optional part left out); ends the run
        /// instead when that would make too many spellings.
        func branch(_ choices: [[UInt8]]) {
            guard run.count * choices.count <= maxSpellings else { endRun(); return }
            run = run.flatMap { spelling in choices.map { spelling + $0 } }
        }
        func quantifierFollows(_ j: Int) -> (optional: Bool, present: Bool) {
            guard j < s.count else { return (false, false) }
            switch s[j] {
            case "?", "*": return (true, true)
            case "+": return (false, true)
            case "{":
                // {0,…} makes it optional; {n,…} with n ≥ 1 keeps one copy mandatory.
                return (j + 1 < s.count && s[j + 1] == "0", true)
            default: return (false, false)
            }
        }
        /// After a `?` at j: how far a plain optional goes (`x?`, lazy `x??`, possessive `x?+`); nil for
        /// any other quantifier.
        func afterOptional(_ j: Int) -> Int? {
            guard j < s.count, s[j] == "?" else { return nil }
            if j + 1 < s.count && (s[j + 1] == "?" || s[j + 1] == "+") { return j + 2 }
            return j + 1
        }
        while i < s.count {
            let c = s[i]
            if c == "|" || c == ")" { break }
            if c == "\\" {
                guard i + 1 < s.count else { return nil }
                let e = s[i + 1]
                i += 2
                let literal = e.isASCII && !e.properties.isAlphabetic && !("0"..."9").contains(e)
                if literal, let next = afterOptional(i) {
                    branch([[UInt8(ascii: e).asciiLowercased], []])
                    i = next
                    continue
                }
                let q = quantifierFollows(i)
                if literal && !q.optional { append([UInt8(ascii: e).asciiLowercased]) }
                if !literal || q.present { endRun() }
                continue
            }
            if c == "[" {
                let open = i
                i += 1
                if i < s.count && s[i] == "^" { i += 1 }
                if i < s.count && s[i] == "]" { i += 1 }
                while i < s.count && s[i] != "]" { if s[i] == "\\" { i += 1 }; i += 1 }
                i += 1
                // A small class of plain ASCII characters (`[_-]`, `[ _]`, `[sz]`), once or optional:
                // its members are spellings. Anything else ends the run.
                if let members = Self.smallClassMembers(s, open, i) {
                    if let next = afterOptional(i) {
                        branch(members.map { [$0] } + [[]])
                        i = next
                        continue
                    }
                    if !quantifierFollows(i).present {
                        branch(members.map { [$0] })
                        continue
                    }
                }
                endRun()
                continue
            }
            if c == "(" {
                endRun()
                i += 1
                var capture = true
                if i < s.count && s[i] == "?" {
                    // (?i) / (?i-m) flags alone, (?:…) non-capturing, lookarounds and others.
                    var j = i + 1
                    while j < s.count && (s[j].properties.isAlphabetic || s[j] == "-") { j += 1 }
                    if j < s.count && s[j] == ")" { i = j + 1; continue }
                    if j < s.count && s[j] == ":" {
                        i = j + 1
                    } else if j == i + 1 && j < s.count && s[j] == "=" {
                        // A positive lookahead (`^(?=.{0,3000}\bdelegation denied\b)(?=…)`): what it
                        // requires, the whole match requires. Negative ones and lookbehinds stay out.
                        i = j + 1
                    } else {
                        capture = false; i = j
                    }
                }
                let inner = alternation(s, &i)
                guard i < s.count, s[i] == ")" else { return nil }
                i += 1
                let q = quantifierFollows(i)
                if capture, !q.optional, let inner { candidates.append(inner) }
                continue
            }
            switch c {
            case ".", "^", "$": endRun(); i += 1
            case "?", "*", "+", "{":
                endRun()
                if c == "{" { while i < s.count && s[i] != "}" { i += 1 } }
                i += 1
            default:
                if c.isASCII, let next = afterOptional(i + 1) {
                    // `s?`, ` ?`: spelled with and without it.
                    branch([[UInt8(ascii: c).asciiLowercased], []])
                    i = next
                    continue
                }
                let q = quantifierFollows(i + 1)
                if c.isASCII && !q.optional {
                    append([UInt8(ascii: c).asciiLowercased])
                    if q.present { endRun() }
                } else if !c.isASCII && !q.optional && !c.properties.changesWhenCaseMapped {
                    // A caseless character (Japanese, Chinese, Korean, symbols): its UTF-8 bytes are
                    // the same in the text whatever the flags, so it can be part of a needle.
                    append(Array(String(Character(c)).utf8))
                    if q.present { endRun() }
                } else if !c.isASCII && !q.optional && c != "\u{212A}" && c != "\u{17F}" {
                    // A letter with case: the text must hold some non-ASCII character.
                    endRun()
                    candidates.append([Self.nonASCII])
                } else {
                    endRun()
                }
                i += 1
            }
        }
        endRun()
        return candidates.filter { !$0.isEmpty }
    }

    /// At most this many spellings of one literal run.
    static let maxSpellings = 8

    /// The members of the class between `open` (its `[`) and `end` (just past its `]`) when it is a
    /// short list of plain ASCII characters: no negation, ranges, escapes other than punctuation,
    /// or letters whose case the pattern might not fold (they are lowered, as needles are).
    static func smallClassMembers(_ s: [Unicode.Scalar], _ open: Int, _ end: Int) -> [UInt8]? {
        var members: [UInt8] = []
        var k = open + 1
        guard k < end - 1, s[k] != "^" else { return nil }
        while k < end - 1 {
            var c = s[k]
            if c == "\\" {
                guard k + 1 < end - 1 else { return nil }
                c = s[k + 1]
                guard c.isASCII, !c.properties.isAlphabetic, !("0"..."9").contains(c) else { return nil }
                k += 2
            } else {
                // `-` between two members is a range; `[` opens a nested set or a POSIX class.
                guard c.isASCII, c != "[" else { return nil }
                if c == "-", k != open + 1, k != end - 2 { return nil }
                k += 1
            }
            let byte = UInt8(ascii: c).asciiLowercased
            if !members.contains(byte) { members.append(byte) }
        }
        return !members.isEmpty && members.count <= 4 ? members : nil
    }
}

extension LiteralPrefilter {
    /// Whether any byte is outside ASCII (eight bytes at a time).
    public static func hasNonASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        var i = 0
        let raw = UnsafeRawPointer(base)
        while i + 8 <= bytes.count {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return true }
            i += 8
        }
        while i < bytes.count { if bytes[i] >= 0x80 { return true }; i += 1 }
        return false
    }
}

public enum ByteSearch {
    /// Whether `haystack` (already ASCII-lowercased) contains `needle` (ASCII-lowercased).
    @inline(__always)
    public static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= haystack.count, let base = haystack.baseAddress else { return needle.isEmpty }
        // A vectorised first-byte scan (memchr), then memcmp: every rule's literal prefilter asks this.
        return needle.withUnsafeBufferPointer { n in
            let first = Int32(n[0])
            var start = 0
            let last = haystack.count - n.count
            while start <= last {
                guard let hit = memchr(base + start, first, last - start + 1) else { return false }
                let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if n.count == 1 || memcmp(base + i + 1, n.baseAddress! + 1, n.count - 1) == 0 { return true }
                start = i + 1
            }
            return false
        }
    }

    /// Where `needle` first starts in `haystack` at or after `from`.
    public static func firstIndex(of needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard !needle.isEmpty, let base = haystack.baseAddress, from >= 0, needle.count <= haystack.count - from else { return nil }
        return needle.withUnsafeBufferPointer { n in
            var start = from
            let last = haystack.count - n.count
            while start <= last {
                guard let hit = memchr(base + start, Int32(n[0]), last - start + 1) else { return nil }
                let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(base + i, n.baseAddress!, n.count) == 0 { return i }
                start = i + 1
            }
            return nil
        }
    }

    public static func lowered(_ s: String) -> [UInt8] {
        var out = Array(s.utf8)
        for i in out.indices { out[i] = out[i].asciiLowercased }
        return out
    }
}

extension UInt8 {
    @inline(__always) public var asciiLowercased: UInt8 { (self >= 65 && self <= 90) ? self + 32 : self }
}

extension ByteSearch {
    /// Case-sensitive substring test on UTF-8 bytes, without Foundation's UTF-16 bridge (which
    /// `String.contains` takes once Foundation is imported).
    public static func contains(_ text: String, _ needle: String) -> Bool {
        offset(of: needle, in: text) != nil
    }

    /// The UTF-8 offset where `needle` first starts in `text`.
    public static func offset(of needle: String, in text: String) -> Int? {
        var text = text
        var needle = needle
        return text.withUTF8 { haystack in
            needle.withUTF8 { n -> Int? in
                guard let first = n.first else { return 0 }
                guard n.count <= haystack.count, let base = haystack.baseAddress, let nb = n.baseAddress else { return nil }
                let last = haystack.count - n.count
                var start = 0
                while start <= last {
                    guard let hit = memchr(base + start, Int32(first), last - start + 1) else { return nil }
                    let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + i, nb, n.count) == 0 { return i }
                    start = i + 1
                }
                return nil
            }
        }
    }

    /// Case-insensitive (ASCII) substring test for a lower-case ASCII needle.
    public static func contains(_ text: String, lowercaseNeedle: String) -> Bool {
        let haystack = lowered(text)
        let needle = Array(lowercaseNeedle.utf8)
        return haystack.withUnsafeBufferPointer { contains($0, needle) }
    }
}
