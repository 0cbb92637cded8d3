import Yams

/// Where and why Yams could not read a YAML text, said in one line (rule files, provider
/// definitions and Sandbox scenarios report their problems the same way).
public enum YAMLProblems {
    public static func line(of error: Error) -> Int {
        if let yaml = error as? YamlError {
            switch yaml {
            case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _):
                return mark.line
            case let .duplicatedKeysInMapping(duplicates, context):
                return duplicateLine(key: duplicates.first ?? "", first: context.mark, in: context.text) ?? max(1, context.mark.line)
            default: return 1
            }
        }
        return 1
    }

    public static func oneLine(_ error: Error) -> String {
        if let yaml = error as? YamlError {
            switch yaml {
            case let .scanner(context, problem, _, _), let .parser(context, problem, _, _), let .composer(context, problem, _, _):
                return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
            case let .duplicatedKeysInMapping(duplicates, context):
                let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
                return "duplicate key \(names) in a mapping (first at line \(max(1, context.mark.line)))"
            default: break
            }
        }
        return "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }

    /// The line of a duplicate key's second occurrence: the next line after the first one that
    /// holds the same key at the same column (Yams reports only the first).
    static func duplicateLine(key: String, first: Mark, in yaml: String) -> Int? {
        guard !key.isEmpty, first.line >= 1 else { return nil }
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let column = max(0, first.column - 1)
        for index in first.line..<max(first.line, lines.count) {
            let line = lines[index]
            guard line.count > column, line.prefix(column).allSatisfy({ $0 == " " || $0 == "-" }) else { continue }
            var rest = line.dropFirst(column)
            if rest.first == "\"" || rest.first == "'" { rest = rest.dropFirst() }
            guard rest.hasPrefix(key) else { continue }
            let after = rest.dropFirst(key.count).drop { $0 == "\"" || $0 == "'" || $0 == " " }
            if after.first == ":" { return index + 1 }
        }
        return nil
    }

    /// Anchors and aliases let a short file stand for a huge tree (a "billion laughs" file of 773
    /// bytes expands to gigabytes). Walks the composed tree as its readers would, counting nodes and
    /// scalar bytes, and stops at `limit`: the line of the node where the expanded size passed it,
    /// or nil when the whole tree fits. The walk itself costs at most `limit`.
    public static func expansionProblem(_ node: Node, limit: Int = 4_000_000) -> (line: Int, message: String)? {
        var budget = limit
        var where_: Mark?
        func walk(_ node: Node) -> Bool {
            budget -= 1
            switch node {
            case let .scalar(scalar):
                budget -= scalar.string.utf8.count
            case let .mapping(mapping):
                for (key, value) in mapping {
                    if !walk(key) || !walk(value) { return false }
                }
            case let .sequence(sequence):
                for item in sequence where !walk(item) { return false }
            case .alias:
                break
            }
            if budget < 0 {
                if where_ == nil { where_ = node.mark }
                return false
            }
            return true
        }
        guard !walk(node) else { return nil }
        return (where_?.line ?? 1, "the YAML expands past \(limit) nodes and bytes (aliases of aliases?): refused")
    }
}
