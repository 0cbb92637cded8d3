/// "did you mean ...?" for a mistyped name (a subcommand, a provider id, a key): the nearest known
/// name by edit distance (Damerau–Levenshtein: a swap of two neighbours counts as one edit), when
/// it is near enough to be a typo rather than another word.
public enum Suggestion {
    /// The nearest candidate, or nil when none is within the typo distance (a third of the
    /// longer name, at least 1, at most 3 edits) or two are equally near.
    public static func nearest(_ word: String, among candidates: some Sequence<String>) -> String? {
        let lowered = word.lowercased()
        let typed = Array(lowered)
        guard !typed.isEmpty else { return nil }
        // ASCII words (every key and provider name) compare as bytes: Characters cost ten times more,
        // and a connections file can ask about the same unknown key for thousands of entries.
        let typedBytes = lowered.utf8.allSatisfy { $0 < 0x80 } ? Array(lowered.utf8) : nil
        var best: (name: String, distance: Int)?
        var tie = false
        for candidate in candidates {
            let loweredCandidate = candidate.lowercased()
            let d: Int
            let count: Int
            if let typedBytes, loweredCandidate.utf8.allSatisfy({ $0 < 0x80 }) {
                let name = Array(loweredCandidate.utf8)
                if name == typedBytes { return candidate }
                d = distance(typedBytes, name)
                count = name.count
            } else {
                let name = Array(loweredCandidate)
                if name == typed { return candidate }
                d = distance(typed, name)
                count = name.count
            }
            let limit = min(3, max(1, max(count, typed.count) / 3))
            guard d <= limit else { continue }
            if let current = best {
                if d < current.distance { best = (candidate, d); tie = false } else if d == current.distance && current.name != candidate { tie = true }
            } else {
                best = (candidate, d)
            }
        }
        return tie ? nil : best?.name
    }

    /// " (did you mean 'x'?)", or "" when nothing is near.
    public static func hint(_ word: String, among candidates: some Sequence<String>) -> String {
        nearest(word, among: candidates).map { " (did you mean '\($0)'?)" } ?? ""
    }

    /// Optimal string alignment distance (Damerau–Levenshtein without repeated edits of a substring).
    public static func distance<Element: Equatable>(_ a: [Element], _ b: [Element]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
