import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

final class HelpTests: XCTestCase {
    /// The lines under "Examples:" (up to the next blank line).
    static func examples(_ lines: [String]) -> [String] {
        guard let start = lines.firstIndex(of: "Examples:") else { return [] }
        return Array(lines[(start + 1)...].prefix { !$0.isEmpty })
    }

    func testRootHelpShowsExamplesAndSubcommands() throws {
        let result = try CLI.run(["--help"], environment: ["COLUMNS": "200"])
        assertSuccess(result)
        let lines = result.stdoutLines
        XCTAssertEqual(lines.first, "OVERVIEW: Tells why a data connection fails to authenticate, and what to do about it.")
        let examples = Self.examples(lines)
        XCTAssertGreaterThanOrEqual(examples.count, 4, result.stdoutText)
        XCTAssertTrue(examples.contains("  authdoctor classify --response error.http"), result.stdoutText)
        XCTAssertTrue(examples.contains("  authdoctor rules test"), result.stdoutText)
        for input in ["--response", "--har", "--text", "--batch"] {
            XCTAssertTrue(examples.contains { $0.contains("authdoctor classify ") && $0.contains(input + " ") }, "an example uses \(input)")
        }
        for example in examples {
            XCTAssertTrue(example.hasPrefix("  authdoctor ") || example.hasPrefix("  curl "), "an indented command: \(example)")
        }
        for expected in ["USAGE: authdoctor <subcommand>", "SUBCOMMANDS:"] {
            XCTAssertTrue(lines.contains(expected), "root help has \"\(expected)\":\n\(result.stdoutText)")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("  classify ") }, "lists classify")
        XCTAssertTrue(lines.contains { $0.hasPrefix("  rules ") }, "lists rules")
        XCTAssertTrue(result.stdoutText.contains("Exit status: 0 done; 64 bad usage; 65 malformed input; 66 missing input; 69 libcurl, libpq or authdoctor-serve missing; 78 bad rule files;"), result.stdoutText)
    }

    func testClassifyHelpShowsExamplesAndOptions() throws {
        for arguments in [["classify", "--help"], ["help", "classify"]] {
            let result = try CLI.run(arguments, environment: ["COLUMNS": "200"])
            assertSuccess(result)
            let lines = result.stdoutLines
            XCTAssertTrue(lines.first?.hasPrefix("OVERVIEW: Classify evidence a customer sent") ?? false, result.summary)
            let examples = Self.examples(lines)
            XCTAssertTrue(examples.contains("  authdoctor classify --curl-exit 6"), "\(arguments):\n\(result.stdoutText)")
            for input in ["--response", "--har", "--text", "--batch", "--curl-exit"] {
                XCTAssertTrue(examples.contains { $0.hasPrefix("  authdoctor classify ") && $0.contains(input + " ") }, "\(arguments): an example uses \(input)")
            }
            XCTAssertTrue(examples.contains { $0.contains("--format markdown") }, "an example of a ticket report")
            for option in ["--response <FILE>", "--har <FILE>", "--text <TEXT>", "--curl-exit <N>", "--batch <FILE.jsonl>",
                           "--provider <P>", "--format <FORMAT>", "--show-facts", "--rules <DIR>", "--no-builtin-rules"] {
                XCTAssertTrue(result.stdoutText.contains(option), "\(arguments) documents \(option)")
            }
            XCTAssertTrue(result.stdoutText.contains("google-analytics"), "the provider ids are listed")
        }
        let byHelp = try CLI.run(["help", "classify"], environment: ["COLUMNS": "200"])
        let byFlag = try CLI.run(["classify", "--help"], environment: ["COLUMNS": "200"])
        XCTAssertEqual(byHelp.stdoutText, byFlag.stdoutText)
    }

    /// Help at the default width (80 columns: any pipe, `| less`) reflows its paragraphs and keeps every
    /// example whole (before a02f6d3 hard line breaks left fragments and examples wrapped to column 0).
    func testHelpReadsWellAt80Columns() throws {
        for arguments in [["--help"], ["classify", "--help"]] {
            let result = try CLI.run(arguments, environment: ["COLUMNS": "80"])
            XCTAssertEqual(result.status, 0, result.summary)
            let lines = result.stdoutLines
            let usage = lines.firstIndex { $0.hasPrefix("USAGE:") } ?? lines.count
            var inExamples = false
            var problems: [String] = []
            for (i, line) in lines[..<usage].enumerated() {
                if line == "Examples:" { inExamples = true; continue }
                if line.isEmpty { inExamples = false; continue }
                if inExamples {
                    if !line.hasPrefix("  ") { problems.append("broken example line: \"\(line)\"") }
                    continue
                }
                // Prose: a line break is justified only when the next word does not fit (2 columns of slack
                // for the wrapper's own margin).
                let next = i + 1 < usage ? lines[i + 1] : ""
                guard !next.isEmpty, !next.hasPrefix(" "), !line.hasPrefix(" ") else { continue }
                let word = next.split(separator: " ").first.map(String.init) ?? ""
                if line.count + 1 + word.count <= 78 { problems.append("hard break after \"\(line)\"") }
            }
            XCTAssertEqual(problems, [], "\(arguments):\n\(result.stdoutText)")
        }
    }

    func testRulesHelpAndVersion() throws {
        let rules = try CLI.run(["rules", "--help"])
        assertSuccess(rules)
        for sub in ["list", "lint", "test"] {
            XCTAssertTrue(rules.stdoutLines.contains { $0.hasPrefix("  \(sub) ") }, "rules help lists \(sub):\n\(rules.stdoutText)")
        }
        let version = try CLI.run(["--version"])
        assertSuccess(version)
        XCTAssertEqual(version.stdoutText, "0.1.0\n")
    }
}

final class EnvironmentTests: XCTestCase {
    /// The binary carries its rules: it works from a directory with no rules/ or fixtures/, even copied away.
    func testWorksFromAnotherDirectoryWithBuiltinRules() throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("rules").path))
        let arguments = ["classify", "--text", "Token has been expired or revoked.", "--provider", "google", "--format", "json"]
        let result = try CLI.run(arguments, in: dir)
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText, "from \(dir.path)")
        XCTAssertTrue(["revoked", "expiry"].contains(doc.at("findings", 0, "failure")?.stringValue ?? ""), result.stdoutText)

        let list = try CLI.run(["rules", "list"], in: dir)
        assertSuccess(list)
        XCTAssertTrue(list.stdoutText.contains("facebook.token.session-expired"))

        // A copy of the binary, away from the build tree.
        let copy = dir.appendingPathComponent("bin/authdoctor")
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: CLI.binary, to: copy)
        let copied = try ProcessRunner.run(copy, arguments, currentDirectory: dir)
        XCTAssertEqual(copied.status, 0, copied.summary)
        XCTAssertEqual(try JSON.parse(copied.stdoutText).at("findings", 0, "failure"), doc.at("findings", 0, "failure"))
    }

    func testNoEscapesWhenNotATerminalOrNoColor() throws {
        let fixture = CLI.fixture("facebook/190-463-session-expired.http")
        for noColor in [true, false] {
            let result = try CLI.run(["classify", "--response", fixture, "--show-facts"], noColor: noColor)
            assertSuccess(result)
            XCTAssertFalse(result.stdoutText.contains("\u{1B}"), "NO_COLOR=\(noColor), stdout is a pipe")
            XCTAssertTrue(result.stdoutText.contains("✖ expiry"))
        }
        let markdown = try CLI.run(["classify", "--response", fixture, "--format", "markdown"], noColor: false)
        XCTAssertFalse(markdown.stdoutText.contains("\u{1B}"))
    }

    /// On a terminal (a pseudo-terminal from script(1)) colour is on, unless NO_COLOR is set.
    func testColorOnATerminalUnlessNoColor() throws {
        let script = URL(fileURLWithPath: "/usr/bin/script")
        guard FileManager.default.isExecutableFile(atPath: script.path) else { throw XCTSkip("script(1) is not installed") }
        let command = "'\(CLI.binary.path)' classify --curl-exit 6"
        let tty = try ProcessRunner.run(script, ["-qec", command, "/dev/null"], noColor: false, timeout: 60)
        XCTAssertEqual(tty.status, 0, tty.summary)
        XCTAssertTrue(tty.stdoutText.contains("\u{1B}[1mauthdoctor"), "colour on a terminal: \(tty.summary)")
        let noColor = try ProcessRunner.run(script, ["-qec", command, "/dev/null"], noColor: true, timeout: 60)
        XCTAssertEqual(noColor.status, 0, noColor.summary)
        XCTAssertTrue(noColor.stdoutText.contains("authdoctor · provider not recognised"), noColor.summary)
        XCTAssertFalse(noColor.stdoutText.contains("\u{1B}["), "NO_COLOR wins on a terminal: \(noColor.summary)")
    }
}
