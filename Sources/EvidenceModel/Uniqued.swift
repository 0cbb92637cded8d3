extension Array where Element: Hashable {
    /// The elements in order, each once. Lists of scopes and permissions are short: below 17
    /// elements comparing costs less than hashing.
    public func uniqued() -> [Element] {
        if count <= 16 {
            var out: [Element] = []
            out.reserveCapacity(count)
            for item in self where !out.contains(item) { out.append(item) }
            return out
        }
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
