import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// Bugs found in Sources/ by these tests, now fixed (see also DiagnoseTests/FixedBugsTests.swift).
/// Each test states the expected behaviour and guards against the bug coming back.
final class CLIFixedBugsTests: XCTestCase {
    /// BUG — control characters in the evidence reach the terminal: `classify --text $'\e]0;pwned\a\e[31mX'`
    /// (or a response body with ESC sequences) is echoed verbatim by the text and markdown formats, even
    /// with NO_COLOR and stdout not a terminal, so pasted text can recolour the terminal, set its title
    /// (OSC) or overwrite lines (CR). Expected: no C0/C1 control character but newline and tab in the
    /// output (escape or replace them); JSON already escapes them.
    func testControlCharactersInEvidenceAreNotEchoed() throws {
        let hostile = "\u{1B}]0;pwned\u{07}\u{1B}[31mZorglub\u{1B}[0m frobnicated\rthe wibble \u{9B}2J"
        for format in ["text", "markdown"] {
            let result = try CLI.run(["classify", "--text", hostile, "--format", format, "--show-facts"], noColor: true)
            XCTAssertEqual(result.status, 0, result.summary)
            let controls = result.stdoutText.unicodeScalars.filter {
                ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value)
            }
            XCTAssertEqual(controls.map { String(format: "U+%04X", $0.value) }, [], "\(format): \(String(reflecting: result.stdoutText))")
        }
    }

    /// BUG — the root help says "1 when `rules lint` or `rules test` finds problems", but `rules lint`
    /// exits 78 on problems (its own help, and the contract scripts rely on). Expected: the exit-status
    /// text matches the behaviour (78 for `rules lint`, 1 for `rules test`).
    func testRootHelpStatesLintExitStatus() throws {
        let root = try makeTemporaryDirectory(self)
        let rules = try LocalRules.make(in: root, extra: ["bad.yaml": LocalRules.badRule])
        let lint = try CLI.run(["rules", "lint", "--no-builtin-rules", "--rules", rules.path])
        XCTAssertEqual(lint.status, 78, lint.summary)
        let help = try CLI.run(["--help"], environment: ["COLUMNS": "300"])
        XCTAssertFalse(help.stdoutText.contains("1 when `rules lint`"), "help promises 1 for rules lint:\n\(help.stdoutText)")
    }

    /// BUG — `rules list --format` accepts every classify format but only implements text and json
    /// (its help says "text (default) or json."): `--format markdown` silently prints the text table
    /// (exit 0), `--format jsonl` prints one JSON array instead of one object a line.
    /// Expected: markdown and jsonl are either refused (exit 64, one line) or really produced.
    func testRulesListFormats() throws {
        let root = try makeTemporaryDirectory(self)
        let rules = try LocalRules.make(in: root).path
        let markdown = try CLI.run(["rules", "list", "--no-builtin-rules", "--rules", rules, "--format", "markdown"])
        if markdown.status == 64 {
            assertOneLineError(markdown, status: 64, mentions: ["markdown"])
        } else {
            assertSuccess(markdown)
            XCTAssertTrue(markdown.stdoutText.contains("|"), "a markdown table: \(markdown.summary)")
            XCTAssertTrue(markdown.stdoutText.contains("`local.unauthorized`") || markdown.stdoutText.contains("| local.unauthorized"),
                          markdown.summary)
        }
        let jsonl = try CLI.run(["rules", "list", "--no-builtin-rules", "--rules", rules, "--format", "jsonl"])
        if jsonl.status == 64 {
            assertOneLineError(jsonl, status: 64, mentions: ["jsonl"])
        } else {
            assertSuccess(jsonl)
            XCTAssertEqual(jsonl.stdoutLines.count, 1, jsonl.summary)
            XCTAssertEqual(try? JSON.parse(jsonl.stdoutLines.first ?? "")["id"]?.stringValue, "local.unauthorized",
                           "one rule object a line: \(jsonl.summary)")
        }
    }
}
