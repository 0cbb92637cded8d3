import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// Bugs found in Sources/ by these tests, now fixed (see also CLITests/FixedBugsTests.swift).
/// Each test states the expected behaviour and guards against the bug coming back.
final class DiagnoseFixedBugsTests: XCTestCase {
    /// BUG — TextReportRenderer and MarkdownReportRenderer copy control characters of the evidence
    /// (ESC/CSI/OSC sequences, BEL, CR, C1 controls) into their output, so evidence can drive the
    /// reader's terminal; TextReportRenderer(color: false) output then even contains ANSI escapes.
    /// Expected: no C0/C1 control character but newline and tab in either format.
    func testRenderersNeutraliseControlCharacters() throws {
        let hostile = "\u{1B}]0;pwned\u{07}\u{1B}[31mZorglub\u{1B}[0m frobnicated\rthe wibble \u{9B}2J"
        let engine = try Repo.engine()
        let raw = "HTTP/1.1 401 Unauthorized\nContent-Type: text/plain\n\n\(hostile)\n"
        let reports = [
            engine.report(for: [Evidence(kind: .text, text: hostile)], source: nil, keepFacts: true),
            engine.report(for: [try ResponseParser.parse(raw, source: "x")], source: "x", keepFacts: true),
        ]
        for report in reports {
            for (name, output) in [("text", TextReportRenderer(color: false).render(report)), ("markdown", MarkdownReportRenderer().render(report))] {
                let controls = output.unicodeScalars.filter {
                    ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value)
                }
                XCTAssertEqual(controls.map { String(format: "U+%04X", $0.value) }, [], "\(name): \(String(reflecting: output))")
            }
        }
    }
}
