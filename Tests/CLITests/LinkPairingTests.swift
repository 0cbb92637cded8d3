import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import Links
import XCTest

/// `classify`/`diagnose --issue-link --client NAME` and `diagnose --link ID`, through the binary and a
/// real SQLite store in a temporary directory.
final class LinkPairingTests: XCTestCase {
    var directory: URL!
    var database: String { directory.appendingPathComponent("links.sqlite").path }
    /// The same key for the binary and for the store the test opens beside it.
    let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-pairing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func run(_ arguments: [String]) throws -> ProcessResult {
        try CLI.run(arguments, environment: ["AUTHDOCTOR_KEY": key, "AUTHDOCTOR_PUBLIC_URL": nil, "AUTHDOCTOR_DB": nil])
    }

    func store() throws -> SQLiteStore {
        try StoreLocation.openSQLite(path: database, environment: ["AUTHDOCTOR_KEY": key])
    }

    func testClassifyAttachesAFreshLinkScopedToTheProvider() throws {
        let result = try run(["classify", "--response", CLI.fixture("facebook/190-463-session-expired.http"), "--format", "json",
                              "--issue-link", "--client", "Acme GmbH", "--link-ttl", "2h", "--public-url", "https://links.example.com/",
                              "--db", database])
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText, "classify --issue-link")
        let url = try XCTUnwrap(doc.at("findings", 0, "link", "url")?.stringValue, result.summary)
        XCTAssertTrue(url.hasPrefix("https://links.example.com/l/"), url)
        XCTAssertGreaterThanOrEqual(url.count - "https://links.example.com/l/".count, 22, "≥ 128 bits of token")
        let id = try XCTUnwrap(doc.at("findings", 0, "link", "id")?.stringValue)
        let link = try XCTUnwrap(try store().link(id: id))
        XCTAssertEqual(link.client, "Acme GmbH")
        XCTAssertEqual(link.sources, ["facebook"])
        XCTAssertEqual(link.expiresAt.timeIntervalSince(link.createdAt), 7200, accuracy: 1)
        // The store keeps a hash, never the token.
        let token = String(url.dropFirst("https://links.example.com/l/".count))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: database))
        XCTAssertNil(bytes.range(of: Data(token.utf8)), "the link token is not stored in clear")
        XCTAssertNotNil(try store().link(token: token), "the URL's token opens that link")
    }

    func testNoLinkWhenTheFixDoesNotReauthorize() throws {
        let result = try run(["classify", "--response", CLI.fixture("transport/curl-7-refused.txt"), "--format", "json",
                              "--issue-link", "--client", "Acme", "--db", database])
        assertSuccess(result)
        let doc = try assertReportJSON(result.stdoutText)
        XCTAssertNil(doc.at("findings", 0, "link"))
        XCTAssertEqual(try store().allLinks().count, 0)
    }

    func testTextReportShowsTheLink() throws {
        let result = try run(["classify", "--text", "Token has been expired or revoked.", "--provider", "google",
                              "--issue-link", "--client", "Acme", "--db", database])
        assertSuccess(result)
        XCTAssertTrue(result.stdoutText.contains("authorization link for the client"), result.summary)
        XCTAssertTrue(result.stdoutText.contains("http://127.0.0.1:8080/l/"), result.summary)
    }

    func testBadPairingFlags() throws {
        assertOneLineError(try run(["classify", "--text", "x", "--issue-link", "--db", database]), status: 64, mentions: ["--client"])
        assertOneLineError(try run(["classify", "--text", "x", "--client", "Acme"]), status: 64, mentions: ["--issue-link"])
        assertOneLineError(try run(["classify", "--text", "x", "--issue-link", "--client", "A", "--link-ttl", "soon"]), status: 64, mentions: ["--link-ttl"])
        assertOneLineError(try run(["classify", "--text", "x", "--issue-link", "--client", "A", "--public-url", "ftp://x"]), status: 64, mentions: ["--public-url"])
        assertOneLineError(try run(["diagnose", "--link", "lnk_nothere", "--db", database]), status: 66, mentions: ["lnk_nothere"])
    }

    func testDiagnoseLinkExplainsEachState() throws {
        let store = try store()
        let now = Date()
        func failure(_ id: String) throws -> (String?, Int32) {
            let result = try run(["diagnose", "--link", id, "--db", database, "--format", "json"])
            let doc = try assertReportJSON(result.stdoutText, "diagnose --link")
            return (doc.at("findings", 0, "failure")?.stringValue, result.status)
        }
        let fresh = try store.issueLink(client: "A", sources: ["facebook"], maxSources: nil, ttl: 3600, now: now)
        let (freshFailure, freshStatus) = try failure(fresh.link.id)
        XCTAssertEqual(freshStatus, 0)
        XCTAssertNil(freshFailure, "a fresh link is fine: no finding at all (issue 14), only a note")

        let lapsed = try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 60, now: now.addingTimeInterval(-120))
        XCTAssertEqual(try failure(lapsed.link.id).0, "link-expired")

        let revoked = try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 3600, now: now)
        _ = try store.revokeLink(id: revoked.link.id, now: now)
        XCTAssertEqual(try failure(revoked.link.id).0, "link-revoked")

        let used = try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 3600, now: now)
        _ = try store.openLink(token: used.token, now: now)
        XCTAssertEqual(try failure(used.link.id).0, "link-used")

        let unfinished = try store.issueLink(client: "A", sources: ["facebook"], maxSources: nil, ttl: 3600, now: now)
        let session = try store.openLink(token: unfinished.token, now: now)
        _ = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: "Acme Ads",
                                    tokens: ProviderTokens(accessToken: "EAAsecret-token-value"), now: now)
        let (unfinishedFailure, status) = try failure(unfinished.link.id)
        XCTAssertEqual(unfinishedFailure, "session-unfinished")
        XCTAssertEqual(status, 1, "an unfinished session is a warning")
        let text = try run(["diagnose", "--link", unfinished.link.id, "--db", database])
        XCTAssertTrue(text.stdoutText.contains("Finish"), text.summary)
        XCTAssertFalse(text.stdoutText.contains("EAAsecret"), "no provider token in the report")

        _ = try store.finishSession(id: session.session.id, now: now)
        let finished = try run(["diagnose", "--link", unfinished.link.id, "--db", database])
        XCTAssertEqual(finished.status, 0, finished.summary)
        XCTAssertTrue(finished.stdoutText.contains("active connections: facebook"), finished.summary)
    }
}
