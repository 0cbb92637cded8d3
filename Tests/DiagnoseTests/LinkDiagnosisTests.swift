import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// `diagnose --link ID` and `--issue-link`: a link's state as findings, links attached to findings.
final class LinkDiagnosisTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func snapshot(opened: Bool = false, finished: Bool = false, revoked: Bool = false, expired: Bool = false,
                  pending: [String] = [], active: [String] = [], maxSources: Int? = nil) -> LinkSnapshot {
        LinkSnapshot(id: "lnk_test", client: "Acme", sources: ["facebook", "google-ads"], maxSources: maxSources,
                     createdAt: now.addingTimeInterval(-3600), expiresAt: now.addingTimeInterval(expired ? -60 : 3600),
                     openedAt: opened ? now.addingTimeInterval(-1800) : nil, finishedAt: finished ? now.addingTimeInterval(-600) : nil,
                     revokedAt: revoked ? now.addingTimeInterval(-300) : nil, pendingProviders: pending, activeProviders: active)
    }

    func failures(_ link: LinkSnapshot) throws -> [String] {
        try LinkDiagnosis(engine: Repo.engine()).report(link, now: now).findings.map(\.failure)
    }

    func testEachStateGivesItsFailureClass() throws {
        XCTAssertEqual(try failures(snapshot(expired: true)), ["link-expired"])
        XCTAssertEqual(try failures(snapshot(revoked: true)), ["link-revoked"])
        XCTAssertEqual(try failures(snapshot(opened: true)), ["link-used"])
        XCTAssertEqual(try failures(snapshot(opened: true, pending: ["facebook"])).first, "session-unfinished")
        let limited = try failures(snapshot(opened: true, pending: ["facebook", "google-ads"], maxSources: 2))
        XCTAssertTrue(limited.contains("plan-limit"), "\(limited)")
        XCTAssertTrue(limited.contains("session-unfinished"), "\(limited)")
        let lapsed = try failures(snapshot(opened: true, expired: true, pending: ["facebook"]))
        XCTAssertEqual(Set(lapsed), ["session-unfinished", "link-expired"])
    }

    /// Healthy means healthy (issue 14): a fine link has no finding, only a note.
    func testFineLinksGetANoteNotAFinding() throws {
        let engine = try Repo.engine()
        let fresh = LinkDiagnosis(engine: engine).report(snapshot(), now: now)
        XCTAssertEqual(fresh.verdict, .ok)
        XCTAssertEqual(fresh.findings.count, 0)
        XCTAssertTrue(fresh.note?.contains("not been opened") ?? false, fresh.note ?? "no note")
        let done = LinkDiagnosis(engine: engine).report(snapshot(opened: true, finished: true, active: ["facebook"]), now: now)
        XCTAssertEqual(done.verdict, .ok)
        XCTAssertTrue(done.note?.contains("facebook") ?? false, done.note ?? "no note")
    }

    func testUnfinishedSessionTellsTheEngineerToHaveTheClientPressFinish() throws {
        let report = try LinkDiagnosis(engine: Repo.engine()).report(snapshot(opened: true, pending: ["facebook"]), now: now)
        XCTAssertEqual(report.findings.first?.remediation.first?.id, "click-finish")
        let json = JSONReportWriter().render(report)
        try assertConformsToReportSchema(json, "link report")
    }

    func testAttachLinksOnlyToFindingsThatNeedReauthorization() throws {
        var report = try Repo.report(fixture: "facebook/190-463-session-expired.http")
        XCTAssertTrue(report.findings.contains(where: \.needsReauthorization), "the fixture's fix re-authorizes")
        var asked: [String?] = []
        let expires = now.addingTimeInterval(86_400)
        report.attachLinks { provider in
            asked.append(provider)
            return FindingLink(id: "lnk_\(asked.count)", url: "http://127.0.0.1:8080/l/tok\(asked.count)", expiresAt: expires)
        }
        XCTAssertEqual(asked.count, report.findings.filter(\.needsReauthorization).count)
        XCTAssertEqual(asked.first ?? nil, "facebook")
        for finding in report.findings { XCTAssertEqual(finding.link != nil, finding.needsReauthorization, finding.rule) }
        let json = JSONReportWriter().render(report)
        let value = try assertConformsToReportSchema(json, "report with a link")
        XCTAssertEqual(value.at("findings", 0, "link", "expiresAt")?.stringValue, RFC3339.string(expires))
        XCTAssertTrue(TextReportRenderer(color: false).render(report).contains("http://127.0.0.1:8080/l/tok1"))
        XCTAssertTrue(MarkdownReportRenderer().render(report).contains("<http://127.0.0.1:8080/l/tok1>"))

        var outage = try Repo.report(fixture: "transport/curl-7-refused.txt")
        outage.attachLinks { _ in XCTFail("no link for a finding that does not re-authorize"); return FindingLink(id: "x", url: "http://x", expiresAt: expires) }
    }

    func testRFC3339() {
        XCTAssertEqual(RFC3339.string(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00Z")
        XCTAssertEqual(RFC3339.string(Date(timeIntervalSince1970: 1_800_000_000.9)), "2027-01-15T08:00:00Z")
        XCTAssertEqual(RFC3339.date("2027-01-15T08:00:00Z"), Date(timeIntervalSince1970: 1_800_000_000))
    }
}
