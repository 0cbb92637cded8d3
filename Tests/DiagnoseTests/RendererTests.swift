import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

final class TextReportRendererTests: XCTestCase {
    let fixture = "facebook/190-463-session-expired.http"

    func testNoEscapeSequencesWithoutColor() throws {
        for fixture in [fixture, "hubspot/429-ten-secondly-rolling.http", "generic/200-html-docs-page-near-miss.http"] {
            let text = TextReportRenderer(color: false).render(try Repo.report(fixture: fixture, keepFacts: true))
            XCTAssertFalse(text.contains("\u{1B}"), "\(fixture):\n\(text)")
            XCTAssertTrue(text.hasSuffix("\n"))
        }
    }

    func testColorPaintsTheSameText() throws {
        for fixture in [fixture, "hubspot/429-ten-secondly-rolling.http"] {
            let report = try Repo.report(fixture: fixture, keepFacts: true)
            let plain = TextReportRenderer(color: false).render(report)
            let colored = TextReportRenderer(color: true).render(report)
            XCTAssertTrue(colored.contains("\u{1B}["), fixture)
            XCTAssertTrue(colored.contains("\u{1B}[0m"), "every colour is reset: \(fixture)")
            XCTAssertNotEqual(colored, plain)
            XCTAssertEqual(strippingANSI(colored), plain, "colour changes nothing but the escapes: \(fixture)")
        }
        let colored = TextReportRenderer(color: true).render(try Repo.report(fixture: fixture))
        XCTAssertTrue(colored.hasPrefix("\u{1B}[1mauthdoctor · "), "bold header")
        XCTAssertTrue(colored.contains("\u{1B}[31m✖\u{1B}[0m"), "errors are marked in red")
        let warning = TextReportRenderer(color: true).render(try Repo.report(fixture: "hubspot/429-ten-secondly-rolling.http"))
        XCTAssertTrue(warning.contains("\u{1B}[33m!\u{1B}[0m"), "warnings are marked in yellow:\n\(warning)")
    }

    func testContent() throws {
        let report = try Repo.report(fixture: fixture)
        let text = TextReportRenderer(color: false).render(report)
        let lines = text.components(separatedBy: "\n")
        guard lines.count > 2 else { return XCTFail(text) }
        XCTAssertEqual(lines[0], "authdoctor · fixtures/\(fixture) · facebook · HTTP 400")
        XCTAssertEqual(lines[1], "generated \(RFC3339.string(report.generatedAt)) · \(report.rulesVersion)")
        XCTAssertTrue(report.rulesVersion.hasPrefix("rules-"), report.rulesVersion)
        XCTAssertEqual(lines[2], "verdict: failure")
        let top = try XCTUnwrap(report.findings.first)
        XCTAssertEqual(top.failure, "expiry")
        XCTAssertTrue(lines.contains("✖ expiry [api-token] \(top.summary)"), text)
        XCTAssertTrue(lines.contains("   rule \(top.rule) · confidence 95% · who acts: client · not transient"), text)
        XCTAssertTrue(lines.contains("   evidence:"))
        XCTAssertTrue(lines.contains("     body.error.code = 190"), text)
        XCTAssertTrue(lines.contains("   what to do:"))
        XCTAssertFalse(top.remediation.isEmpty)
        for (n, r) in top.remediation.enumerated() {
            let link = r.issuesLink ? " [client re-authorizes]" : ""
            XCTAssertTrue(lines.contains("     \(n + 1). \(r.title) (\(r.doc))\(link)"), "remediation \(r.id):\n\(text)")
            for step in r.steps { XCTAssertTrue(lines.contains("        - \(step)"), "step of \(r.id): \(step)") }
        }
        XCTAssertTrue(top.remediation.contains { $0.id == "reauthorize" && $0.issuesLink })
        XCTAssertFalse(text.contains("facts:"), "facts only when kept")
    }

    func testRanksSeveralFindingsAndListsFacts() throws {
        var report = try Repo.report(fixture: fixture, keepFacts: true)
        let other = try Repo.report(fixture: "transport/curl-6-dns.json")
        report.findings += other.findings
        let text = TextReportRenderer(color: false).render(report)
        XCTAssertTrue(text.contains("✖ 1. expiry [api-token] "), text)
        XCTAssertTrue(text.contains("✖ 2. connectivity [source] "), text)
        let lines = text.components(separatedBy: "\n")
        XCTAssertTrue(lines.contains("facts:"))
        XCTAssertTrue(lines.contains("  http.status = 400"), text)
        XCTAssertTrue(lines.contains("  provider = [facebook]"), text)
    }

    func testUnknownAndBatchHeader() throws {
        let engine = try Repo.engine()
        var report = engine.report(for: [Evidence(kind: .text, text: "Zorglub frobnicated the wibble")], source: nil, id: "conn-9")
        let text = TextReportRenderer(color: false).render(report)
        XCTAssertTrue(text.hasPrefix("authdoctor · conn-9 · provider not recognised\ngenerated "), text)
        XCTAssertTrue(text.contains("\nverdict: unknown — no rule recognised the evidence\n"), text)
        XCTAssertTrue(text.contains("! unknown [source] "), text)
        XCTAssertTrue(text.contains("     text = Zorglub frobnicated the wibble"), text)
        report.findings[0].evidence = [("text", .string(String(repeating: "x", count: 300) + "\nsecond line"))]
        let clipped = TextReportRenderer(color: false).render(report)
        XCTAssertTrue(clipped.contains("     text = " + String(repeating: "x", count: 160) + "…\n"), "long evidence is clipped to one line")
    }

    /// A rule that reads a non-authentication error (failure `unknown`) recognised the evidence.
    func testANonAuthenticationFindingIsNotCalledUnrecognised() throws {
        let engine = try Repo.engine()
        let report = engine.report(for: [Evidence(kind: .text, text: "google.api_core.exceptions.NotFound: 404 Not found: Table acme-project:analytics.events_staging was not found in location US at [3:8]")], source: nil)
        XCTAssertEqual(report.verdict, .unknown)
        XCTAssertNotEqual(report.findings.first?.rule, "unknown")
        let text = TextReportRenderer(color: false).render(report)
        XCTAssertTrue(text.contains("\nverdict: unknown — recognised, but not an authentication failure\n"), text)
        XCTAssertFalse(text.contains("no rule recognised"), text)
    }
}

final class MarkdownReportRendererTests: XCTestCase {
    let fixture = "facebook/190-463-session-expired.http"

    func testStructure() throws {
        let report = try Repo.report(fixture: fixture)
        let md = MarkdownReportRenderer().render(report)
        let lines = md.components(separatedBy: "\n")
        let top = try XCTUnwrap(report.findings.first)
        // One heading per finding (issue 14): the report's heading names the verdict, not the top finding again.
        XCTAssertEqual(lines[0], "### authdoctor report: failure")
        XCTAssertEqual(lines.filter { $0.hasPrefix("#### ") }.count, report.findings.count, md)
        XCTAssertFalse(md.contains("| | |"), "no empty table headers")
        XCTAssertTrue(lines.contains("| Field | Value |"), md)
        XCTAssertTrue(lines.contains("| Generated | \(RFC3339.string(report.generatedAt)) |"), md)
        XCTAssertTrue(lines.contains("| Evidence | `fixtures/\(fixture)` (response) |"), md)
        XCTAssertTrue(lines.contains("| Provider | `facebook` |"), md)
        XCTAssertTrue(lines.contains("| HTTP status | 400 |"), md)
        XCTAssertTrue(lines.contains("| Verdict | failure |"), md)
        XCTAssertTrue(lines.contains("#### 1. `expiry` (api-token, error) — \(top.summary)"), md)
        XCTAssertTrue(lines.contains("Rule `\(top.rule)`, confidence 95%, who acts: **client**, not transient."), md)
        // Evidence is code.
        XCTAssertTrue(lines.contains("Evidence:"))
        XCTAssertTrue(lines.contains("- `body.error.code`: `190`"), md)
        XCTAssertTrue(lines.contains("- `body.error.error_subcode`: `463`"), md)
        // Steps are listed under their remediation, which cites its document section.
        XCTAssertTrue(lines.contains("What to do:"))
        for (n, r) in top.remediation.enumerated() {
            let heading = "\(n + 1). **\(r.title)** (\(r.doc))\(r.issuesLink ? " — the client must re-authorize" : "")"
            let at = try XCTUnwrap(lines.firstIndex(of: heading), "remediation \(r.id):\n\(md)")
            XCTAssertEqual(Array(lines[(at + 1)...].prefix(r.steps.count)), r.steps.map { "   - " + $0 }, r.id)
            XCTAssertNotNil(r.doc.range(of: #"^(fix-authentication-errors [1-3]\.[1-4]|authorize-via-link|none)$"#, options: .regularExpression),
                            "doc cites a section: \(r.doc)")
        }
        XCTAssertTrue(lines.contains("1. **Have the client log in to Facebook again through a new link** (fix-authentication-errors 1.1) — the client must re-authorize"), md)
        XCTAssertFalse(md.contains("\u{1B}"))
    }

    func testEveryFindingGetsASectionAndDocsAreCited() throws {
        var report = try Repo.report(fixture: fixture)
        let other = try Repo.report(fixture: "snowflake/login-390422-ip-not-allowed.http")
        report.findings += other.findings
        let md = MarkdownReportRenderer().render(report)
        XCTAssertTrue(md.contains("\n#### 1. `expiry` "), md)
        XCTAssertTrue(md.contains("\n#### 2. `network-policy` (destination, error) — "), md)
        for finding in report.findings {
            for r in finding.remediation { XCTAssertTrue(md.contains("(\(r.doc))"), "cites \(r.doc)") }
        }
    }

    func testEscapesTableAndCodeBreakers() throws {
        var report = try Repo.report(fixture: fixture)
        report.id = "conn|1"
        report.findings[0].summary = "a | b\nc"
        report.findings[0].evidence = [("message", .string("has `ticks` | and\nnewline"))]
        let md = MarkdownReportRenderer().render(report)
        let lines = md.components(separatedBy: "\n")
        XCTAssertTrue(lines.contains("#### 1. `expiry` (api-token, error) — a \\| b c"), md)
        XCTAssertTrue(lines.contains("| Record | `conn\\|1` |"), md)
        XCTAssertTrue(lines.contains("- `message`: `has 'ticks' \\| and newline`"), md)
    }

    func testUnknownAndNoProvider() throws {
        let report = try Repo.engine().report(for: [Evidence(kind: .text, text: "Zorglub frobnicated the wibble")], source: nil)
        let md = MarkdownReportRenderer().render(report)
        XCTAssertTrue(md.hasPrefix("### authdoctor report: unknown\n"), md)
        XCTAssertTrue(md.contains("#### 1. `unknown` "), md)
        XCTAssertTrue(md.contains("| Provider | not recognised |"), md)
        XCTAssertTrue(md.contains("| Verdict | unknown |"), md)
        XCTAssertTrue(md.contains("- `text`: `Zorglub frobnicated the wibble`"), md)
        XCTAssertFalse(md.contains("| Evidence |"), "no source row without a source")
    }
}
