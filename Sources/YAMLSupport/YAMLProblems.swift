import Yams

/// Where and why Yams could not read a YAML text, said in one line (rule files, provider
/// definitions and Sandbox scenarios report their problems the same way).
public enum YAMLProblems {
    public static func line(of error: Error) -> Int {
        if let yaml = error as? YamlError {
            switch yaml {
            case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _):
                return mark.line
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
            default: break
            }
        }
        return "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}
