import EvidenceModel

/// `authdoctor rules test`: every rule's `match` examples must satisfy it and its `no-match`
/// examples must not (like `semgrep --test`).
public struct ExampleRunner {
    public struct Failure: Sendable, CustomStringConvertible {
        public var rule: String
        public var place: String
        public var message: String
        public var description: String { "\(place): \(rule): \(message)" }
    }

    public struct Outcome: Sendable {
        public var passed = 0
        public var failures: [Failure] = []
        /// Match examples whose top finding is another failure class (not fatal: a fixture may show two problems).
        public var warnings: [String] = []
        public var rulesWithoutExamples: [String] = []
        public var unusedFixtures: [String] = []
    }

    public let ruleSet: RuleSet
    public let fixtures: [String: String]
    public var extractor = FactExtractor()

    public init(ruleSet: RuleSet, fixtures: [String: String]) {
        self.ruleSet = ruleSet
        self.fixtures = fixtures
    }

    /// The provider a fixture stands for: its first folder, when that is a provider id.
    public static func provider(forFixture path: String) -> String? {
        guard let folder = path.split(separator: "/").first.map(String.init), ProviderDetector.known.contains(folder) else { return nil }
        return folder
    }

    /// The fact sets of one fixture.
    public func facts(forFixture path: String) throws(InputError) -> [Facts] {
        guard let text = fixtures[path] else { throw InputError(.noInput, "no such fixture", place: "fixtures/\(path)") }
        guard let format = EvidenceLoader.format(forPath: path) else {
            throw InputError(.data, "unknown fixture kind (use .http, .har, .txt or .json)", place: "fixtures/\(path)")
        }
        let evidences = try EvidenceLoader.load(text, format: format, source: "fixtures/\(path)", provider: Self.provider(forFixture: path))
        return evidences.map(extractor.facts(for:))
    }

    public func run(onlyPrefix: String? = nil) -> Outcome {
        var outcome = Outcome()
        var used = Set<String>()
        let classifier = Classifier(ruleSet: ruleSet)
        for rule in ruleSet.rules {
            if let onlyPrefix, !rule.id.hasPrefix(onlyPrefix) && !rule.file.contains(onlyPrefix) { continue }
            if rule.examples.match.isEmpty { outcome.rulesWithoutExamples.append(rule.id) }
            for (path, expected) in rule.examples.match.map({ ($0, true) }) + rule.examples.noMatch.map({ ($0, false) }) {
                used.insert(path)
                let factSets: [Facts]
                do {
                    factSets = try facts(forFixture: path)
                } catch {
                    outcome.failures.append(Failure(rule: rule.id, place: rule.place, message: error.description))
                    continue
                }
                let holds = factSets.contains { rule.when.holds(in: $0) }
                if holds == expected {
                    outcome.passed += 1
                } else {
                    outcome.failures.append(Failure(rule: rule.id, place: rule.place,
                        message: expected ? "should match \(path) but does not" : "should not match \(path) but does"))
                }
                if expected && holds {
                    let top = classifier.classify(factSets).first
                    if let top, top.failure != rule.failure {
                        outcome.warnings.append("\(path): first finding is \(top.rule) (\(top.failure)), not \(rule.id) (\(rule.failure))")
                    }
                }
            }
        }
        if onlyPrefix == nil {
            outcome.unusedFixtures = fixtures.keys.filter { !used.contains($0) }.sorted()
        }
        return outcome
    }
}
