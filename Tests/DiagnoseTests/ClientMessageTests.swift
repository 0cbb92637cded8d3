import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import RuleEngine
import XCTest
@testable import Diagnose

/// Issue 14: `clientMessage` when the client must act — plain words, the link when one was issued,
/// no internal words; none otherwise.
final class ClientMessageTests: XCTestCase {
    static let internalWords = ["rule", "fact", "confidence", "section", "fix-authentication-errors", "authorize-via-link",
                                "actor", "severity", "1.1", "2.2", "3.3", "network-policy", "snowflake.", "{", "}"]

    func assertPlain(_ message: String, file: StaticString = #filePath, line: UInt = #line) {
        for word in Self.internalWords {
            XCTAssertFalse(message.lowercased().contains(word), "internal word '\(word)' in:\n\(message)", file: file, line: line)
        }
    }

    func testSnowflakeIPRefusalTellsTheClientWhatToDoInPlainWords() throws {
        let report = try Repo.report(fixture: "snowflake/login-390422-ip-not-allowed.http")
        let message = try XCTUnwrap(report.clientMessage)
        XCTAssertTrue(message.contains("Snowflake"), message)
        XCTAssertTrue(message.contains("203.0.113.45"), message)
        XCTAssertTrue(message.contains("allow our IP addresses"), message)
        assertPlain(message)
    }

    func testALinkWhenOneWasIssuedAndNoMessageWhenTheClientNeedNotAct() throws {
        var report = try Repo.report(fixture: "facebook/190-463-session-expired.http")
        let without = try XCTUnwrap(report.clientMessage)
        XCTAssertTrue(without.contains("We will send you a link"), without)
        let url = "https://auth.example.test/l/tok_FAKEsecret0123456789"
        report.findings[0].link = FindingLink(id: "lnk_1", url: url, expiresAt: Date(timeIntervalSince1970: 1_800_000_000))
        let with = try XCTUnwrap(report.clientMessage)
        XCTAssertTrue(with.contains(url), "the link is the point of the message:\n\(with)")
        XCTAssertTrue(with.contains("15 January 2027"), with)
        assertPlain(with.replacingOccurrences(of: url, with: ""))

        // Throttling is the provider's to end: nothing for the client.
        let throttled = try Repo.report(fixture: "generic/429-retry-after-120.http")
        XCTAssertEqual(throttled.findings.first?.actor, "provider")
        XCTAssertNil(throttled.clientMessage)
        XCTAssertNil(try Repo.report(fixture: "generic/200-html-docs-page-near-miss.http").clientMessage, "healthy: no message")
    }

    func testMarkdownQuotesTheClientMessageAtTheEnd() throws {
        let report = try Repo.report(fixture: "snowflake/login-390422-ip-not-allowed.http")
        let md = MarkdownReportRenderer().render(report)
        let lines = md.components(separatedBy: "\n").filter { !$0.isEmpty }
        XCTAssertEqual(lines.last, "> Thank you.", md)
        XCTAssertTrue(md.contains("Message for the client:\n\n> Hello,\n>\n> Our connection to Snowflake"), md)
        XCTAssertEqual(lines.filter { $0.hasPrefix("#### ") }.count, report.findings.count)
        XCTAssertFalse(md.contains("| | |"))
    }

    func testHealthyReportsAgreeAcrossFormats() throws {
        let report = try Repo.report(fixture: "generic/200-html-docs-page-near-miss.http")
        XCTAssertEqual(report.findings.count, 0)
        XCTAssertEqual(BriefReportRenderer().render(report), "ok\t-\t-\t-\t-\n")
        let text = TextReportRenderer(color: false).render(report)
        XCTAssertTrue(text.contains("verdict: no failure seen"), text)
        XCTAssertFalse(text.contains("unknown"), text)
        XCTAssertFalse(text.contains("0%"), text)
        let json = JSONReportWriter().render(report)
        XCTAssertTrue(json.contains(#""verdict":"ok","findings":[]"#), json)
        XCTAssertFalse(json.contains(#""failure":"unknown""#), json)
    }
}
