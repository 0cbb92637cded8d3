/// "did you mean ...?" for a mistyped name (a subcommand, a provider id, a key): the nearest known
/// name by edit distance (Damerau–Levenshtein: a swap of two neighbours counts as one edit), when
/// it is near enough to be a typo rather than another word.
public enum Suggestion {
    /// The nearest candidate, or nil when none is within the typo distance (a third of the
    /// longer name, at least 1, at most 3 edits) or two are equally near.
    public static func nearest(_ word: String, among candidates: some Sequence<String>) -> String? {
        let typed = Array(word.lowercased())
        guard !typed.isEmpty else { return nil }
        var best: (name: String, distance: Int)?
        var tie = false
        for candidate in candidates {
            let name = Array(candidate.lowercased())
            if name == typed { return candidate }
            let limit = min(3, max(1, max(name.count, typed.count) / 3))
            let d = distance(typed, name)
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
    public static func distance(_ a: [Character], _ b: [Character]) -> Int {
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
