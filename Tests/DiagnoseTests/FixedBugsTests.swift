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

/// Found by the fuzzer (seed 1126344431): a Ruby-hash dump cut off mid-string swallows the next
/// lines, so `"secretKey":"…"`'s value lands in `body.error.errors[]` away from its name, where
/// redaction by shape does not know it. Before the fix: the secret was in `--show-facts` output.
final class NamedSecretLeakTests: XCTestCase {
    let secret = "QxLGuPcX8RsMvU27ZmKR4wH2"
    var text: String {
        """
        @data=#<Google::APIClient:hema::Webmasters::V3::UrlCrawlErrorsSamplesListResponse:0x67752d0 DATA:{"error"=>{"errors"=>[{"domain"=>"gloQueryClient.java:295)
        X-Amz-Security-Token: QxckvJUYrJcevBKoat7PVctQ
        "secretKey":"\(secret)"
          at com.google.cloud.spark.bigquery.repackaged.com.google.cloud.bibal", "reason"=>"forbi.
        dden", "message"=>"User does not have sufficient permission for site 'http://www.example.com/'."}], "code"=>403
        """
    }

    func testASecretNamedInTheTextIsInNoOutputEvenWhenAFactCarriedIt() throws {
        let evidence = Evidence(kind: .text, text: text)
        XCTAssertTrue(FactExtractor().facts(for: evidence)["body.error.errors[]"]?.description.contains(secret) == true,
                      "the loose structure still carries the value (the rules see the facts as read)")
        let report = try Repo.engine().report(for: [evidence], source: nil, keepFacts: true)
        let outputs = [JSONReportWriter().render(report, pretty: true), MarkdownReportRenderer().render(report),
                       TextReportRenderer(color: false).render(report)]
        for output in outputs {
            XCTAssertFalse(output.contains(secret), output)
            XCTAssertFalse(output.contains("QxckvJUYrJcevBKoat7PVctQ"), output)
        }
        XCTAssertTrue(outputs[1].contains("body.error.errors[]"), "the fact is shown, cleared")
    }

    /// Clearing is for what is shown: a placeholder named like a secret ("Bearer undefined") still
    /// decides the rule that looks for it.
    func testRulesStillSeeWhatTheTextSays() throws {
        let text = "headers: { Accept: 'application/json', Authorization: 'Bearer undefined' }\nError: Request had invalid authentication credentials. [401]"
        let report = try Repo.engine().report(for: [Evidence(kind: .text, text: text)], source: nil)
        XCTAssertEqual(report.findings.first?.rule, "generic.request.bearer-placeholder")
    }

    /// Found by the fuzzer (seed 1128260303): cut-off JSON whose member name swallowed a line with a
    /// Slack token made the token part of a fact's name, and names were shown unredacted.
    func testATokenInAFactsNameIsRedacted() throws {
        let token = "xoxb-1234-Qxb7KSnzPuGY2xD9w4VTgt9K"
        let text = "[{\"erro\n\(token)\nC}ode\":\"NOT_FOUND\",\"message\":\"Could not find a match for URL\"0]\nr URL\"0]"
        let evidence = Evidence(kind: .text, text: text)
        XCTAssertTrue(FactExtractor().facts(for: evidence).names.contains { $0.contains(token) }, "the name carries the token as read")
        let report = try Repo.engine().report(for: [evidence], source: nil, keepFacts: true)
        for output in [JSONReportWriter().render(report, pretty: true), MarkdownReportRenderer().render(report)] {
            XCTAssertFalse(output.contains("Qxb7KSnzPuGY2xD9w4VTgt9K"), output)
        }
    }
}
