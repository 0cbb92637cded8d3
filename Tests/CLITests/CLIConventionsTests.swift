import AuthDoctorTestSupport
@testable import AuthDoctorCLI
import EvidenceModel
import Foundation
import HealthCheck
import Links
import XCTest

/// Issue 15, items 3–8: did-you-mean, help that tells the truth, classify --exit-code, colour,
/// history to the second, sandbox --list identifiers.
final class DidYouMeanTests: XCTestCase {
    func testMistypedSubcommandsSuggestTheNearest() throws {
        assertOneLineError(try CLI.run(["diagnos", "--provider", "facebook"]), status: 64,
                           mentions: ["unknown command 'diagnos'", "did you mean 'diagnose'?"])
        assertOneLineError(try CLI.run(["links", "isue", "--client", "Acme"]), status: 64,
                           mentions: ["unknown command 'isue' of 'authdoctor links'", "did you mean 'issue'?"])
        assertOneLineError(try CLI.run(["rules", "lnit"]), status: 64, mentions: ["did you mean 'lint'?"])
        // Far from every name: no guess, the list instead.
        let far = try CLI.run(["frobnicate"])
        assertOneLineError(far, status: 64, mentions: ["unknown command 'frobnicate'", "classify, diagnose, check"])
        XCTAssertFalse(far.stderrText.contains("did you mean"), far.stderrText)
        // Under --format nagios the same error is UNKNOWN.
        XCTAssertEqual(try CLI.run(["chek", "--format", "nagios"]).status, 64, "not a check command line: sysexits")
    }

    func testMistypedProviderSuggestsTheNearest() throws {
        assertOneLineError(try CLI.run(["classify", "--provider", "facebok", "--text", "x"]), status: 64,
                           mentions: ["unknown provider 'facebok'", "did you mean 'facebook'?"])
        let diagnose = try CLI.run(["diagnose", "--provider", "facebok", "--token-env", "NOPE"])
        assertOneLineError(diagnose, status: 64, mentions: ["unknown provider 'facebok'", "did you mean 'facebook'?", "postgres", "redshift"])
        assertOneLineError(try CLI.run(["diagnose", "--provider", "postgress", "--host", "127.0.0.1"]), status: 64,
                           mentions: ["did you mean 'postgres'?"])
        assertOneLineError(try CLI.run(["diagnose"]), status: 64, mentions: ["postgres", "redshift"])
        let help = try CLI.run(["diagnose", "--help"], environment: ["COLUMNS": "300"])
        let providerLine = try XCTUnwrap(help.stdoutLines.first { $0.contains("--provider <P>") })
        XCTAssertTrue(providerLine.contains("postgres") && providerLine.contains("redshift"), providerLine)
    }

    /// A connections-file key: the nearest one; an unknown provider is bad-entry even when its token variable is unset.
    func testConnectionsFileTyposAndUnknownProviders() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = try write("""
        connections:
          - name: typo
            provider: facebook
            tokn-env: T_OK
          - name: wrong-provider
            provider: facebok
            token-env: UNSET_VARIABLE_FOR_THIS_TEST
        """, to: directory, "conns.yaml").path
        let result = try CLI.run(["check", "--connections", file, "--format", "json"] + CLI.repoRules)
        XCTAssertEqual(result.status, 3, result.summary)
        let entries = try XCTUnwrap(JSON.parse(result.stdoutText)["connections"]?.arrayValue)
        let typo = try XCTUnwrap(entries.first { $0["name"]?.stringValue == "typo" })
        XCTAssertEqual(typo["failure"]?.stringValue, "bad-entry")
        XCTAssertTrue(typo["summary"]?.stringValue?.contains("unknown field (did you mean 'token-env'?)") == true, "\(typo)")
        let provider = try XCTUnwrap(entries.first { $0["name"]?.stringValue == "wrong-provider" })
        XCTAssertEqual(provider["failure"]?.stringValue, "bad-entry", "not token-missing: \(provider)")
        XCTAssertEqual(provider["status"]?.stringValue, "unknown")
        XCTAssertTrue(provider["summary"]?.stringValue?.contains("unknown provider 'facebok' (did you mean 'facebook'?)") == true, "\(provider)")
    }

    /// Rule fields: a mistyped key, fact or value names the nearest known one.
    func testRuleFieldTyposSuggestTheNearest() throws {
        let directory = try makeTemporaryDirectory(self)
        try write("""
        id: local.typos
        category: source
        failure: credentials
        severity: eror
        when:
          mesage: { contains: "denied" }
        summary: Typos.
        remediation: [verify-credentials]
        """, to: directory, "rules/typos.yaml")
        try write("""
        id: local.key-typo
        category: source
        failure: credentials
        when:
          http.status: 401
        sumary: Typo in a key.
        remediation: [verify-credentials]
        """, to: directory, "rules/key.yaml")
        let lint = try CLI.run(["rules", "lint", "--rules", directory.appendingPathComponent("rules").path])
        XCTAssertEqual(lint.status, 78, lint.summary)
        let out = lint.stdoutText + lint.stderrText
        XCTAssertTrue(out.contains("unknown severity 'eror' (did you mean 'error'?)"), out)
        XCTAssertTrue(out.contains("unknown fact 'mesage' (did you mean 'message'?)"), out)
        XCTAssertTrue(out.contains("unknown key 'sumary' in rule (did you mean 'summary'?)"), out)
        XCTAssertTrue(out.contains("typos.yaml:4") && out.contains("typos.yaml:6"), "file and line: \(out)")
    }
}

final class HonestHelpTests: XCTestCase {
    /// The `--format` line of a command's help (joined over its wrapped lines).
    func formatHelp(_ command: [String]) throws -> String {
        let help = try CLI.run(command + ["--help"], environment: ["COLUMNS": "300"])
        XCTAssertEqual(help.status, 0, help.summary)
        return try XCTUnwrap(help.stdoutLines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--format <") }, help.stdoutText)
    }

    /// Each command lists only the formats it accepts (help snapshots of the --format line), and accepts each one listed.
    func testFormatListsOnlyWhatEachCommandAccepts() throws {
        let expected: [([String], String)] = [
            (["diagnose"], "(values: text, json, markdown, brief, client; default: text)"),
            (["demo"], "(values: text, json; default: text)"),
            (["rules", "list"], "(values: text, json, jsonl; default: text)"),
            (["rules", "score"], "(values: text, json; default: text)"),
            (["classify"], "(values: text, json, jsonl, markdown, brief, client)"),
        ]
        for (command, values) in expected {
            let line = try formatHelp(command)
            XCTAssertTrue(line.hasSuffix(values), "\(command): \(line)")
        }
        // What is not listed is refused by the parser, with the accepted values.
        assertOneLineError(try CLI.run(["diagnose", "--provider", "facebook", "--format", "jsonl"]), status: 64, mentions: ["jsonl"])
        assertOneLineError(try CLI.run(["demo", "--format", "markdown"]), status: 64, mentions: ["markdown"])
        assertOneLineError(try CLI.run(["rules", "list", "--format", "brief"]), status: 64, mentions: ["brief"])
    }

    /// The completion scripts offer the same values as the help.
    func testCompletionsFollowTheFormats() throws {
        let bash = try CLI.run(["--generate-completion-script", "bash"])
        XCTAssertEqual(bash.status, 0, bash.summary)
        let script = bash.stdoutText
        func values(_ list: [String]) -> String { "-W " + list.map { "'\($0)'" }.joined(separator: "$'\\n'") }
        XCTAssertTrue(script.contains(values(["text", "json", "markdown", "brief"])), "diagnose --format:\n\(script)")
        XCTAssertTrue(script.contains(values(["text", "json", "jsonl", "nagios", "prometheus"])), "check --format")
        XCTAssertTrue(script.contains(values(["text", "json", "jsonl"])), "rules list --format")
        XCTAssertTrue(script.contains(values(["auto", "always", "never"])), "--color")
        // The five report formats only where they are accepted (classify).
        XCTAssertEqual(script.components(separatedBy: values(["text", "json", "jsonl", "markdown", "brief"])).count - 1, 1)
        let fish = try CLI.run(["--generate-completion-script", "fish"])
        XCTAssertEqual(fish.status, 0, fish.summary)
        XCTAssertTrue(fish.stdoutText.contains("diagnose"))
    }

    /// Every command's help at 80 columns: no line past 80 before USAGE, and every line of an
    /// example block indented (a wrapped example never falls to column 0).
    func testEveryHelpKeepsExamplesIndentedAt80Columns() throws {
        let commands = [[], ["classify"], ["diagnose"], ["check"], ["demo"], ["rules"], ["sandbox"], ["links"], ["links", "issue"],
                        ["connections"], ["serve"], ["history"], ["store"]]
        for command in commands {
            let result = try CLI.run(command + ["--help"], environment: ["COLUMNS": "80"])
            XCTAssertEqual(result.status, 0, result.summary)
            let lines = result.stdoutLines
            let usage = lines.firstIndex { $0.hasPrefix("USAGE:") } ?? lines.count
            var inBlock = false
            for line in lines[..<usage] {
                XCTAssertLessThanOrEqual(line.count, 80, "\(command): \(line)")
                if line.hasSuffix(":") && !line.hasPrefix(" ") && !line.contains(" ") || line == "Examples:" || line == "Destinations:" {
                    inBlock = true; continue
                }
                if line.isEmpty { inBlock = false; continue }
                if inBlock { XCTAssertTrue(line.hasPrefix("  "), "\(command): an example line at column 0: \"\(line)\"") }
            }
        }
    }

    /// The environment variables are listed in the root help (the same table as the README).
    func testRootHelpListsTheEnvironmentVariables() throws {
        let help = try CLI.run(["--help"], environment: ["COLUMNS": "200"])
        for variable in EnvironmentVariables.all.map(\.name) {
            XCTAssertTrue(help.stdoutText.contains(variable), "\(variable) in --help")
        }
        let readme = try String(contentsOfFile: TestPaths.packageRoot.path + "/README.md", encoding: .utf8)
        for variable in EnvironmentVariables.all {
            XCTAssertTrue(readme.contains("| `\(variable.name)` |"), "\(variable.name) in the README's table")
        }
    }
}

final class ScriptingAndTerminalTests: XCTestCase {
    /// `classify --exit-code`: 2 a failure, 1 warnings only, 0 none (without it: 0).
    func testClassifyExitCode() throws {
        let expired = CLI.fixture("facebook/190-463-session-expired.http")
        XCTAssertEqual(try CLI.run(["classify", "--response", expired]).status, 0)
        XCTAssertEqual(try CLI.run(["classify", "--response", expired, "--exit-code"]).status, 2)
        let healthy = try write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"id\":\"1\"}\n", to: makeTemporaryDirectory(self), "ok.http")
        XCTAssertEqual(try CLI.run(["classify", "--response", healthy.path, "--exit-code"]).status, 0)
        // Nothing recognised the failure the text shows: still a failure for a script.
        XCTAssertEqual(try CLI.run(["classify", "--text", "something odd happened, error", "--exit-code"]).status, 2)
        // A warning-only rule (throttling in prose).
        let throttled = try CLI.run(["classify", "--text", "Too many requests, slow down", "--exit-code", "--format", "json"])
        XCTAssertEqual(try JSON.parse(throttled.stdoutText).at("findings", 0, "severity")?.stringValue, "warning", throttled.stdoutText)
        XCTAssertEqual(throttled.status, 1, throttled.summary)
        assertOneLineError(try CLI.run(["classify", "--batch", "-", "--exit-code"], stdin: ""), status: 64, mentions: ["--exit-code"])
    }

    /// AUTHDOCTOR_REGEX_RUNS=1 lists the rule patterns that reached ICU, most-run first, and never
    /// the records' text.
    func testRegexRunsNameThePatternsThatRan() throws {
        let records = (0..<3).map { #"{"id": "r\#($0)", "text": "Error: invalid username or password for user acme-secret-\#($0)"}"# }.joined(separator: "\n")
        let counted = try CLI.run(["classify", "--batch", "-", "--format", "jsonl"], stdin: records + "\n", environment: ["AUTHDOCTOR_REGEX_RUNS": "1"])
        XCTAssertEqual(counted.status, 0, counted.summary)
        let lines = counted.stderrText.split(separator: "\n").filter { $0.hasPrefix("regex runs ") }
        XCTAssertFalse(lines.isEmpty, counted.stderrText)
        XCTAssertTrue(lines.contains { $0.hasPrefix("regex runs 3: ") }, "each record ran the password pattern: \(lines)")
        XCTAssertFalse(counted.stderrText.contains("acme-secret"), "patterns only, no record text")
        let quiet = try CLI.run(["classify", "--batch", "-", "--format", "jsonl"], stdin: records + "\n")
        XCTAssertFalse(quiet.stderrText.contains("regex runs"), quiet.stderrText)
    }

    /// `--color auto|always|never`; auto is off for TERM=dumb, NO_COLOR and pipes.
    func testColorModes() throws {
        let fixture = CLI.fixture("facebook/190-463-session-expired.http")
        let always = try CLI.run(["classify", "--response", fixture, "--color", "always"])
        XCTAssertTrue(always.stdoutText.contains("\u{1B}["), "always colours even into a pipe")
        let never = try CLI.run(["classify", "--response", fixture, "--color", "never"], noColor: false)
        XCTAssertFalse(never.stdoutText.contains("\u{1B}"))
        assertOneLineError(try CLI.run(["classify", "--response", fixture, "--color", "sometimes"]), status: 64, mentions: ["sometimes"])
        XCTAssertTrue(Terminal.colorAllowed(mode: .auto, stdoutIsTerminal: true, environment: ["TERM": "xterm-256color"]))
        XCTAssertFalse(Terminal.colorAllowed(mode: .auto, stdoutIsTerminal: true, environment: ["TERM": "dumb"]))
        XCTAssertFalse(Terminal.colorAllowed(mode: .auto, stdoutIsTerminal: true, environment: ["NO_COLOR": "1"]))
        XCTAssertFalse(Terminal.colorAllowed(mode: .auto, stdoutIsTerminal: false, environment: [:]))
        XCTAssertTrue(Terminal.colorAllowed(mode: .always, stdoutIsTerminal: false, environment: ["TERM": "dumb"]))
        XCTAssertFalse(Terminal.colorAllowed(mode: .never, stdoutIsTerminal: true, environment: [:]))
    }

    /// On a terminal (script(1)): TERM=dumb gets no colour; the progress line is cleared before the table.
    func testTerminalDumbAndProgressLine() throws {
        let script = URL(fileURLWithPath: "/usr/bin/script")
        guard FileManager.default.isExecutableFile(atPath: script.path) else { throw XCTSkip("script(1) is not installed") }
        let binary = CLI.binary.path
        let dumb = try ProcessRunner.run(script, ["-qec", "'\(binary)' classify --curl-exit 6", "/dev/null"], noColor: false,
                                         environment: ["TERM": "dumb"], timeout: 60)
        XCTAssertEqual(dumb.status, 0, dumb.summary)
        XCTAssertFalse(dumb.stdoutText.contains("\u{1B}["), "TERM=dumb: no colour: \(dumb.stdoutText)")
        let colour = try ProcessRunner.run(script, ["-qec", "'\(binary)' classify --curl-exit 6", "/dev/null"], noColor: false,
                                           environment: ["TERM": "xterm"], timeout: 60)
        XCTAssertTrue(colour.stdoutText.contains("\u{1B}["), "a terminal: colour")

        // check on a terminal: the progress line ("checked N/M") is erased before the table begins.
        let check = try ProcessRunner.run(script, ["-qec", "'\(binary)' check --sandbox --retries 0 --timeout 2", "/dev/null"], noColor: true,
                                          environment: ["TERM": "xterm"], timeout: 120)
        let out = check.stdoutText
        let table = try XCTUnwrap(out.range(of: "CONNECTION"), out)
        let before = String(out[..<table.lowerBound])
        if let lastProgress = before.range(of: "checked ", options: .backwards) {
            XCTAssertTrue(before[lastProgress.upperBound...].contains("\r\u{1B}[K"), "the progress line is cleared before the table: \(before.suffix(200).debugDescription)")
        }
        XCTAssertFalse(out[table.lowerBound...].contains("\r\u{1B}[Kchecked "), "no progress after the table began")
    }

    /// `demo --only postgres` lines up its columns under the header.
    func testDemoPostgresColumnsAligned() throws {
        let result = try CLI.run(["demo", "--only", "postgres"])
        let lines = result.stdoutLines.filter { !$0.isEmpty }
        guard let header = lines.first(where: { $0.hasPrefix("SCENARIO") || $0.hasPrefix("CONNECTION") || $0.contains("EXPECTED") }) else {
            throw XCTSkip("no table (no local PostgreSQL for the demo): \(result.summary)")
        }
        let columns = Self.columnStarts(header)
        let rows = lines.drop { $0 != header }.dropFirst().prefix { $0.hasPrefix("postgres") }.filter { !$0.contains(" skipped ") }
        if rows.isEmpty { throw XCTSkip("no PostgreSQL rows: \(result.stdoutText)") }
        for row in rows {
            for start in columns.dropFirst() {
                let index = row.index(row.startIndex, offsetBy: min(start, row.count))
                XCTAssertTrue(start < row.count && row[row.index(before: index)] == " ", "column at \(start) in \"\(row)\" under \"\(header)\"")
            }
        }
    }

    /// Where each heading starts: after two spaces or more (a heading may hold one: "FIRST STEP").
    static func columnStarts(_ header: String) -> [Int] {
        let characters = Array(header)
        return characters.indices.filter { i in
            characters[i] != " " && (i == 0 || (i >= 2 && characters[i - 1] == " " && characters[i - 2] == " "))
        }
    }
}

final class HistoryAndSandboxListTests: XCTestCase {
    /// Seven runs in one minute read apart: history shows seconds; --timeline (or a terminal) adds the last runs.
    func testHistoryToTheSecondWithATimeline() throws {
        let directory = try makeTemporaryDirectory(self)
        let database = directory.appendingPathComponent("authdoctor.sqlite").path
        let key = Data(repeating: 9, count: 32).base64EncodedString()
        let store = try StoreLocation.open(path: database, environment: ["AUTHDOCTOR_KEY": key])
        let start = Date(timeIntervalSince1970: 1_900_000_000)
        let statuses = ["ok", "critical", "ok", "warning", "ok", "ok", "unknown"]
        try store.recordVerdicts(statuses.enumerated().map { i, status in
            CheckVerdict(connection: "shop-ads", checkedAt: start.addingTimeInterval(Double(i) * 7), status: status,
                         failure: status == "ok" ? "none" : "expiry", summary: "run \(i)")
        })
        let history = try CLI.run(["history", "shop-ads", "--db", database], environment: ["AUTHDOCTOR_KEY": key])
        assertSuccess(history)
        let times = history.stdoutLines.filter { $0.hasPrefix("2030-") }.map { String($0.prefix(20)) }
        XCTAssertEqual(times.count, 7, history.stdoutText)
        XCTAssertEqual(Set(times).count, 7, "every run its own time: \(times)")
        XCTAssertTrue(times.contains("2030-03-17 17:47:22Z"), "\(times)")

        let overview = try CLI.run(["history", "--db", database, "--timeline"], environment: ["AUTHDOCTOR_KEY": key])
        assertSuccess(overview)
        XCTAssertTrue(overview.stdoutLines.first?.contains("LAST RUNS") == true, overview.stdoutText)
        XCTAssertTrue(overview.stdoutLines.contains { $0.hasPrefix("shop-ads") && $0.hasSuffix("+X+w++?") }, overview.stdoutText)
        let plain = try CLI.run(["history", "--db", database], environment: ["AUTHDOCTOR_KEY": key])
        XCTAssertFalse(plain.stdoutText.contains("LAST RUNS"), "not a terminal, not asked: \(plain.stdoutText)")
    }

    /// Identifiers that are not secret are shown, so every destination scenario can be replayed by hand.
    func testSandboxListShowsNonSecretIdentifiers() throws {
        let result = try CLI.run(["sandbox", "--list"])
        assertSuccess(result)
        let lines = result.stdoutLines
        for id in ["snowflake-healthy", "bigquery-dataset-not-found", "platform-api-wrong-url"] {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix(id + " ") }, id)
            XCTAssertFalse(line.contains("[not shown]"), line)
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("snowflake-healthy ") && $0.contains("user=") && !$0.contains("user=[not shown]") })
        XCTAssertTrue(lines.contains { $0.hasPrefix("bigquery-dataset-not-found ") && $0.contains("dataset=") })
        XCTAssertTrue(lines.contains { $0.hasPrefix("platform-api-wrong-url ") && $0.contains("url-path=/") })
        XCTAssertFalse(result.stdoutText.contains("BEGIN PRIVATE KEY"), "a private key is never listed")
    }
}
