import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import Links
import XCTest

/// `authdoctor links ...` and `authdoctor connections ...` as a user runs them, against a store in
/// a temporary directory (the same file is also opened in process to make what only the link
/// server can make: sessions and connections).
final class LinksCommandTests: XCTestCase {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

    var directory: URL!
    var database: String { directory.appendingPathComponent("store/authdoctor.sqlite").path }

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(self)
    }

    /// Runs with the test's database and key; AUTHDOCTOR_PUBLIC_URL unset unless given.
    func run(_ arguments: [String], environment: [String: String?] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        var env: [String: String?] = ["AUTHDOCTOR_KEY": Self.key, "AUTHDOCTOR_PUBLIC_URL": nil, "AUTHDOCTOR_DB": nil]
        for (name, value) in environment { env[name] = value }
        return try CLI.run(arguments + ["--db", database], environment: env, file: file, line: line)
    }

    func store() throws -> SQLiteStore {
        try StoreLocation.openSQLite(path: database, environment: ["AUTHDOCTOR_KEY": Self.key])
    }

    func json(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        assertSuccess(result, file: file, line: line)
        return try JSON.parse(result.stdoutText)
    }

    func issue(_ extra: [String] = [], client: String = "Acme Ltd") throws -> (id: String, url: String) {
        let doc = try json(try run(["links", "issue", "--client", client, "--format", "json"] + extra))
        return (doc["id"]?.stringValue ?? "", doc["url"]?.stringValue ?? "")
    }

    static func token(of url: String) -> String { String(url.split(separator: "/").last ?? "") }

    // MARK: issue

    func testIssuePrintsTheURLInText() throws {
        let result = try run(["links", "issue", "--client", "Acme Ltd", "--sources", "facebook,google-ads", "--ttl", "48h", "--max-sources", "2"])
        assertSuccess(result)
        let lines = result.stdoutLines
        XCTAssertEqual(lines.count, 2, result.summary)
        let url = lines.first ?? ""
        XCTAssertTrue(url.hasPrefix("http://127.0.0.1:8080/l/"), url)
        XCTAssertEqual(Self.token(of: url).count, 43, "256-bit token, base64url")
        let details = lines.last ?? ""
        for needle in ["lnk_", "Acme Ltd", "facebook, google-ads", "in 2d", "at most 2"] {
            XCTAssertTrue(details.contains(needle), "\(needle) in: \(details)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: database), "the store is made on first use")
    }

    func testIssueJSONAndTheURLBase() throws {
        let result = try run(["links", "issue", "--client", "Acme", "--format", "json", "--ttl", "90m"])
        let doc = try json(result)
        let id = try XCTUnwrap(doc["id"]?.stringValue)
        XCTAssertTrue(id.hasPrefix("lnk_"))
        XCTAssertTrue(doc["url"]?.stringValue?.hasPrefix("http://127.0.0.1:8080/l/") ?? false)
        let expires = try XCTUnwrap(doc["expiresAt"]?.stringValue)
        let expiry = try XCTUnwrap(ISO8601DateFormatter().date(from: expires))
        XCTAssertEqual(expiry.timeIntervalSinceNow, 90 * 60, accuracy: 120)
        XCTAssertNotNil(try store().link(token: Self.token(of: doc["url"]?.stringValue ?? "")), "the URL's token names the stored link")

        let fromEnv = try json(try run(["links", "issue", "--client", "Acme", "--format", "json"],
                                       environment: ["AUTHDOCTOR_PUBLIC_URL": "https://links.example.com/base/"]))
        XCTAssertTrue(fromEnv["url"]?.stringValue?.hasPrefix("https://links.example.com/base/l/") ?? false, JSONWriter.serialize(fromEnv))
        let fromFlag = try json(try run(["links", "issue", "--client", "Acme", "--format", "json", "--public-url", "https://flag.example.com"],
                                        environment: ["AUTHDOCTOR_PUBLIC_URL": "https://links.example.com"]))
        XCTAssertTrue(fromFlag["url"]?.stringValue?.hasPrefix("https://flag.example.com/l/") ?? false, "the flag wins over the variable")
    }

    func testIssueRejectsBadInput() throws {
        for ttl in ["0", "0h", "-5h", "24", "1w", "abc", "5.5h", "400d", "99999999999999999999d"] {
            let result = try run(["links", "issue", "--client", "Acme", "--ttl", ttl])
            XCTAssertEqual(result.status, 64, "ttl \(ttl): \(result.summary)")
            XCTAssertEqual(result.stdoutText, "")
            XCTAssertEqual(result.stderrLines.count, 1, result.summary)
        }
        assertOneLineError(try run(["links", "issue", "--client", "Acme", "--sources", "facebook,myspace"]), status: 64,
                           mentions: ["myspace", "facebook", "google-ads"])
        assertOneLineError(try run(["links", "issue", "--client", "Acme", "--sources", ","]), status: 64, mentions: ["--sources"])
        assertOneLineError(try run(["links", "issue", "--client", " "]), status: 64, mentions: ["--client"])
        assertOneLineError(try run(["links", "issue", "--client", "Acme", "--max-sources", "0"]), status: 64, mentions: ["--max-sources"])
        assertOneLineError(try run(["links", "issue", "--client", "Acme", "--public-url", "ftp://x.example"]), status: 64, mentions: ["--public-url"])
        assertOneLineError(try run(["links", "issue", "--client", "Acme", "--public-url", "https://x.example/?a=b"]), status: 64, mentions: ["--public-url"])
        assertOneLineError(try run(["links", "issue", "--client", "Acme"], environment: ["AUTHDOCTOR_PUBLIC_URL": "not a url"]), status: 78,
                           mentions: ["AUTHDOCTOR_PUBLIC_URL"])
        XCTAssertEqual(try store().allLinks(), [], "nothing was issued")
    }

    // MARK: list, show, revoke

    func testListShowsEveryStateAndConnectedSourcesButNoToken() throws {
        let issued = try issue(client: "Issued Co")
        let opened = try issue(client: "Opened Co")
        let finished = try issue(["--sources", "facebook,google-ads"], client: "Finished Co")
        let revoked = try issue(client: "Revoked Co")
        let expired = try issue(["--ttl", "1s"], client: "Expired Co")

        let store = try store()
        _ = try store.openLink(token: Self.token(of: opened.url), now: Date())
        let session = try store.openLink(token: Self.token(of: finished.url), now: Date())
        _ = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: "ads@finished.example",
                                    tokens: ProviderTokens(accessToken: "EAAB-secret-access", refreshToken: "secret-refresh"), now: Date())
        _ = try store.addConnection(sessionID: session.session.id, provider: "google-ads", account: nil,
                                    tokens: ProviderTokens(accessToken: "ya29.secret-access"), now: Date())
        _ = try store.finishSession(id: session.session.id, now: Date())
        assertSuccess(try run(["links", "revoke", revoked.id]))
        Thread.sleep(forTimeInterval: 1.1)

        let text = try run(["links", "list"])
        assertSuccess(text)
        XCTAssertEqual(text.stdoutLines.first?.split(separator: " ", omittingEmptySubsequences: true),
                       ["ID", "CLIENT", "STATE", "CREATED", "EXPIRES", "CONNECTED"])
        func row(_ id: String) -> String { text.stdoutLines.first { $0.hasPrefix(id) } ?? "" }
        XCTAssertTrue(row(issued.id).contains(" issued "), row(issued.id))
        XCTAssertTrue(row(opened.id).contains(" opened "), row(opened.id))
        XCTAssertTrue(row(finished.id).contains(" finished "), row(finished.id))
        XCTAssertTrue(row(finished.id).hasSuffix("facebook, google-ads"), row(finished.id))
        XCTAssertTrue(row(revoked.id).contains(" revoked "), row(revoked.id))
        XCTAssertTrue(row(expired.id).contains(" expired "), row(expired.id))

        let list = try json(try run(["links", "list", "--format", "json"]))
        let items = list.arrayValue ?? []
        XCTAssertEqual(items.count, 5)
        XCTAssertEqual(items.first?["id"]?.stringValue, expired.id, "newest first")
        let states = Dictionary(uniqueKeysWithValues: items.map { ($0["id"]?.stringValue ?? "", $0["state"]?.stringValue ?? "") })
        XCTAssertEqual(states, [issued.id: "issued", opened.id: "opened", finished.id: "finished", revoked.id: "revoked", expired.id: "expired"])

        let show = try run(["links", "show", finished.id])
        assertSuccess(show)
        for needle in ["Finished Co", "finished", "facebook, google-ads", "ads@finished.example", "active", "ses_"] {
            XCTAssertTrue(show.stdoutText.contains(needle), "\(needle) in:\n\(show.stdoutText)")
        }
        let showJSON = try json(try run(["links", "show", finished.id, "--format", "json"]))
        XCTAssertEqual(showJSON["state"]?.stringValue, "finished")
        XCTAssertEqual(showJSON["connections"]?.arrayValue?.compactMap { $0["provider"]?.stringValue }, ["facebook", "google-ads"])
        XCTAssertEqual(showJSON["connections"]?.arrayValue?.compactMap { $0["status"]?.stringValue }, ["active", "active"])
        XCTAssertNotNil(showJSON["session"]?["id"]?.stringValue)

        // The URL's token is shown once, by `issue`: never by list or show, in any format.
        var everything = text.stdoutText + JSONWriter.serialize(list) + show.stdoutText + JSONWriter.serialize(showJSON)
        for link in [issued, opened, finished, revoked, expired] {
            everything += try run(["links", "show", link.id]).stdoutText + (try run(["links", "show", link.id, "--format", "json"])).stdoutText
        }
        everything += try run(["connections", "list"]).stdoutText + (try run(["connections", "list", "--format", "json"])).stdoutText
        for link in [issued, opened, finished, revoked, expired] {
            XCTAssertFalse(everything.contains(Self.token(of: link.url)), "a link token was printed")
        }
        for secret in ["EAAB-secret-access", "secret-refresh", "ya29.secret-access", session.cookieSecret] {
            XCTAssertFalse(everything.contains(secret), "a secret was printed")
        }
    }

    func testRevoke() throws {
        let link = try issue()
        let result = try run(["links", "revoke", link.id])
        assertSuccess(result)
        XCTAssertTrue(result.stdoutText.contains("Revoked \(link.id)"), result.stdoutText)
        let again = try json(try run(["links", "revoke", link.id, "--format", "json"]))
        XCTAssertEqual(again["state"]?.stringValue, "revoked", "revoking twice is fine")
        XCTAssertThrowsError(try store().openLink(token: Self.token(of: link.url), now: Date()), "a revoked link no longer opens")
    }

    func testUnknownIDsAreNoInput() throws {
        _ = try store()
        assertOneLineError(try run(["links", "show", "lnk_nothere"]), status: 66, mentions: ["lnk_nothere"])
        assertOneLineError(try run(["links", "revoke", "lnk_nothere"]), status: 66, mentions: ["lnk_nothere"])
        assertOneLineError(try run(["connections", "remove", "con_nothere"]), status: 66, mentions: ["con_nothere"])
    }

    func testEmptyStoreSaysHowToStart() throws {
        _ = try store()  // made, empty (a missing store is 66: StoreHardeningTests)
        let links = try run(["links", "list"])
        assertSuccess(links)
        XCTAssertTrue(links.stdoutText.contains("authdoctor links issue"), links.stdoutText)
        XCTAssertEqual(try json(try run(["links", "list", "--format", "json"])).arrayValue?.count, 0)
        assertSuccess(try run(["connections", "list"]))
        XCTAssertEqual(try json(try run(["connections", "list", "--format", "json"])).arrayValue?.count, 0)
    }

    // MARK: connections

    func testConnectionsListAndRemove() throws {
        let link = try issue(client: "Acme Ltd")
        let store = try store()
        let session = try store.openLink(token: Self.token(of: link.url), now: Date())
        let connection = try store.addConnection(sessionID: session.session.id, provider: "hubspot", account: "portal 4242",
                                                 tokens: ProviderTokens(accessToken: "hubspot-secret-token"), now: Date())
        let list = try run(["connections", "list"])
        assertSuccess(list)
        let row = list.stdoutLines.first { $0.hasPrefix(connection.id) } ?? ""
        for needle in ["Acme Ltd", "hubspot", "portal 4242", "pending", link.id] {
            XCTAssertTrue(row.contains(needle), "\(needle) in \(row)")
        }
        let removed = try run(["connections", "remove", connection.id])
        assertSuccess(removed)
        XCTAssertTrue(removed.stdoutText.contains(connection.id), removed.stdoutText)
        let after = try json(try run(["connections", "list", "--format", "json"]))
        XCTAssertEqual(after.arrayValue?.first?["status"]?.stringValue, "removed")
        XCTAssertEqual(after.arrayValue?.first?["client"]?.stringValue, "Acme Ltd", "the record of who connected it stays")
        XCTAssertThrowsError(try store.connectionCredentials(id: connection.id), "the tokens are gone")
        XCTAssertFalse(list.stdoutText.contains("hubspot-secret-token"))
    }

    // MARK: the store's place and key

    func testStoreProblemsAreOneLineErrors() throws {
        let notSQLite = try write(String(repeating: "plain text, not a database\n", count: 100), to: directory, "notes.txt")
        assertOneLineError(try CLI.run(["links", "list", "--db", notSQLite.path], environment: ["AUTHDOCTOR_KEY": Self.key]),
                           status: 65, mentions: [notSQLite.path])
        assertOneLineError(try CLI.run(["links", "issue", "--client", "Acme", "--db", notSQLite.path + "/sub/a.sqlite"], environment: ["AUTHDOCTOR_KEY": Self.key]),
                           status: 74, mentions: [notSQLite.path])
        // A listing never creates the store: a path under a file is missing (66).
        assertOneLineError(try CLI.run(["links", "list", "--db", notSQLite.path + "/sub/a.sqlite"], environment: ["AUTHDOCTOR_KEY": Self.key]),
                           status: 66, mentions: [notSQLite.path])
        let badKey = "definitely-not-a-key"
        let result = try run(["links", "issue", "--client", "Acme"], environment: ["AUTHDOCTOR_KEY": badKey])
        assertOneLineError(result, status: 78, mentions: ["AUTHDOCTOR_KEY"])
        XCTAssertFalse(result.stderrText.contains(badKey))
    }

    func testDefaultDatabaseUnderXDGDataHome() throws {
        let dataHome = directory.appendingPathComponent("xdg").path
        let result = try CLI.run(["links", "issue", "--client", "Acme"],
                                 environment: ["AUTHDOCTOR_DB": nil, "AUTHDOCTOR_KEY": nil, "XDG_DATA_HOME": dataHome])
        assertSuccess(result)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dataHome + "/authdoctor/authdoctor.sqlite"))
        let key = try FileManager.default.attributesOfItem(atPath: dataHome + "/authdoctor/authdoctor.key")
        XCTAssertEqual((key[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let list = try CLI.run(["links", "list"], environment: ["AUTHDOCTOR_DB": dataHome + "/authdoctor/authdoctor.sqlite", "AUTHDOCTOR_KEY": nil])
        assertSuccess(list)
        XCTAssertTrue(list.stdoutText.contains("Acme"), "AUTHDOCTOR_DB names the same store")
    }

    func testHelpTeachesWithExamples() throws {
        for command in [["links"], ["links", "issue"], ["connections"]] {
            let result = try CLI.run(command + ["--help"])
            XCTAssertEqual(result.status, 0, result.summary)
            XCTAssertTrue(result.stdoutText.contains("Examples:") || result.stdoutText.contains("Example:"), result.stdoutText)
        }
    }
}
