import EvidenceModel

extension JSONValue {
    /// Follows a path of member names and array indexes ("findings", 0, "failure").
    public func at(_ path: Any...) -> JSONValue? {
        var node: JSONValue? = self
        for step in path {
            if let key = step as? String { node = node?[key] }
            else if let index = step as? Int, let items = node?.arrayValue, items.indices.contains(index) { node = items[index] }
            else { return nil }
        }
        return node
    }
}
