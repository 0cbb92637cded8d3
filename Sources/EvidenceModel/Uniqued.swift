// For strings only: a generic version is not specialised across modules and cost 20x as much.
extension Array where Element == String {
    /// The elements in order, each once. Lists of scopes and permissions are short: below 17
    /// elements comparing costs less than hashing.
    public func uniqued() -> [String] {
        if count <= 16 {
            var out: [String] = []
            out.reserveCapacity(count)
            for item in self where !out.contains(item) { out.append(item) }
            return out
        }
        var seen = Set<String>()
        return filter { seen.insert($0).inserted }
    }
}
