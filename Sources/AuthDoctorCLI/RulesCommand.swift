import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "List, lint and test the classification rules.",
        discussion: "Rules are YAML files (docs/RULES.md); the built-in set is compiled into the binary, --rules DIR adds local ones.",
        subcommands: [List.self, Lint.self, Test.self, Score.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the rules: id, failure class, category, severity, where defined.")
        @OptionGroup var ruleOptions: RuleOptions
        @Option(help: "text (default), json (one array) or jsonl (one rule a line).") var format: ListFormat = .text

        func run() throws {
            let set = try ruleOptions.load()
            if format == .json || format == .jsonl {
                var items: [JSONValue] = []
                for r in set.rules {
                    items.append(.object([("id", .string(r.id)), ("category", .string(r.category)), ("failure", .string(r.failure)),
                                          ("severity", .string(r.severity)), ("fallback", .bool(r.fallback)),
                                          ("remediation", .array(r.remediation.map { .string($0) })), ("file", .string(r.place))]))
                }
                if format == .jsonl {
                    Terminal.write(items.map { JSONWriter.serialize($0) + "\n" }.joined())
                } else {
                    Terminal.write(JSONWriter.serialize(.array(items)) + "\n")
                }
                return
            }
            let width = set.rules.map(\.id.count).max() ?? 10
            var out = ""
            for r in set.rules.sorted(by: { $0.id < $1.id }) {
                out += r.id.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                out += r.failure.padding(toLength: 20, withPad: " ", startingAt: 0)
                out += r.category.padding(toLength: 13, withPad: " ", startingAt: 0)
                out += r.severity.padding(toLength: 9, withPad: " ", startingAt: 0)
                out += r.place + (r.fallback ? " (fallback)" : "") + "\n"
            }
            out += "\(set.rules.count) rules, \(set.remediations.count) remediations\n"
            Terminal.write(out)
        }
    }

    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "lint",
            abstract: "Check rule files: unknown keys, failure/category/remediation ids, facts, bad regular expressions.",
            discussion: "Prints one problem a line as FILE:LINE: message; exits 78 when there is any.")
        @OptionGroup var ruleOptions: RuleOptions

        func run() throws {
            let (set, issues) = try RuleLibrary.load(includeBuiltin: !ruleOptions.noBuiltinRules, directories: ruleOptions.directories, checkBuiltin: true)
            for issue in issues { print(issue.description) }
            if issues.isEmpty {
                print("\(set.rules.count) rules and \(set.remediations.count) remediations: no problems")
            } else {
                print("\(issues.count) problem(s)")
                throw ExitCode(78)
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "test",
            abstract: "Run every rule's examples: `match` fixtures must satisfy it, `no-match` ones must not.",
            discussion: "Fixtures come from --fixtures DIR, else the fixtures/ folder beside the first --rules DIR, else the built-in set. Exits 1 on any mismatch.")
        @OptionGroup var ruleOptions: RuleOptions
        @Option(help: ArgumentHelp("Where example fixtures live.", valueName: "DIR")) var fixtures: String?
        @Option(help: ArgumentHelp("Only rules whose id or file contains this.", valueName: "TEXT")) var only: String?
        @Flag(help: "Also list match examples whose first finding is another failure class, and unused fixtures.") var verbose = false

        func run() throws {
            let (set, issues) = try RuleLibrary.load(includeBuiltin: !ruleOptions.noBuiltinRules, directories: ruleOptions.directories, checkBuiltin: true)
            for issue in issues { print("lint: \(issue.description)") }
            let fixtureFiles: [String: String]
            if let fixtures {
                fixtureFiles = try RuleLibrary.fixtures(in: fixtures)
            } else if let first = ruleOptions.directories.first {
                let sibling = URL(fileURLWithPath: first).deletingLastPathComponent().appendingPathComponent("fixtures").path
                fixtureFiles = FileManager.default.fileExists(atPath: sibling) ? try RuleLibrary.fixtures(in: sibling) : RuleLibrary.builtinFixtures()
            } else {
                fixtureFiles = RuleLibrary.builtinFixtures()
            }
            let outcome = ExampleRunner(ruleSet: set, fixtures: fixtureFiles).run(onlyPrefix: only)
            for failure in outcome.failures { print("FAIL \(failure.description)") }
            if verbose {
                for warning in outcome.warnings { print("note: \(warning)") }
                for fixture in outcome.unusedFixtures { print("note: fixture \(fixture) is no rule's example") }
                for rule in outcome.rulesWithoutExamples { print("note: rule \(rule) has no match example") }
            } else if !outcome.warnings.isEmpty {
                print("\(outcome.warnings.count) example(s) rank another failure first (--verbose lists them)")
            }
            print("examples: \(outcome.passed) passed, \(outcome.failures.count + issues.count) failed")
            if !outcome.failures.isEmpty || !issues.isEmpty { throw ExitCode(1) }
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "score",
            abstract: "Score the rules on a labelled corpus of real error reports: how often the top finding is right.",
            discussion: """
            Each FILE has one JSON record a line: the --batch members (id, provider, status, headers, body, text, \
            curl_exit, url, sqlstate) plus "expect" (the acceptable failure classes, best first), "source" and "note". \
            Every record is classified with its provider and again without it (as a ticket that does not say). \
            Prints accuracy overall, by file, by provider and by expected class, and the most common confusions.

            Examples:
              authdoctor rules score fixtures/real/*.jsonl
              authdoctor rules score fixtures/real/holdout/*.jsonl --misses
              authdoctor rules score corpus.jsonl --format json --min 90
            """)
        @OptionGroup var ruleOptions: RuleOptions
        @Argument(help: ArgumentHelp("Labelled corpus files (JSON lines); - reads standard input.", valueName: "FILE"))
        var files: [String]
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text
        @Flag(help: "List every record whose top finding is wrong (with or without the provider).") var misses = false
        @Option(help: ArgumentHelp("Exit 1 when accuracy with the provider is below this percentage (0-100).", valueName: "PERCENT"))
        var min: Double?

        func validate() throws {
            if let min, !(0...100).contains(min) { throw ValidationError("--min must be between 0 and 100 (got \(min))") }
            if files.isEmpty { throw ValidationError("give at least one corpus file") }
        }

        func run() throws {
            let engine = ClassifyEngine(ruleSet: try ruleOptions.load())
            var score = CorpusScore()
            for file in files {
                let contents = try InputFile.read(file)
                score.add(contents: contents, file: file == "-" ? "stdin" : URL(fileURLWithPath: file).lastPathComponent, engine: engine)
            }
            if score.outcomes.isEmpty {
                throw InputError(.data, "no labelled records" + (score.problems.first.map { " (\($0))" } ?? ""))
            }
            if format == .json {
                Terminal.write(JSONWriter.serialize(score.json()) + "\n")
            } else {
                Terminal.write(score.text(showMisses: misses))
            }
            if let min, score.overall.percent < min { throw ExitCode(1) }
        }
    }

}
