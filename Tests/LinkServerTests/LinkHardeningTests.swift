// Issue 12: the link server as the open internet meets it (link previews, odd paths, slow
// clients, floods of attempts).

import EvidenceModel
import Foundation
@testable import LinkServer
import Links
import Probe
import XCTest

final class LinkHardeningTests: XCTestCase {
    // MARK: item 9: a GET never uses up a link

    func testGetsFromLinkPreviewsNeverUseUpTheLink() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            // A chat unfurler, a mail scanner and a "safe links" service fetch the URL first.
            for _ in 0..<3 {
                let preview = try await newBrowser().get("/l/\(issued.token)", headers: [("User-Agent", "Slackbot-LinkExpanding 1.0")])
                XCTAssertEqual(preview.status, 200)
                XCTAssertTrue(preview.headerValues("Set-Cookie").isEmpty, "a GET sets no session cookie")
                XCTAssertTrue(preview.body.contains("action=\"/l/\(issued.token)/open\""), preview.body)
                XCTAssertTrue(preview.body.contains(">Start</button>"), preview.body)
                XCTAssertNil(preview.csrf, "no session, no session form")
            }
            XCTAssertNil(try harness.store.link(id: issued.link.id)?.openedAt, "the link is still unopened")
            XCTAssertNil(try harness.store.session(linkID: issued.link.id))

            // The client then opens it and gets its session.
            let client = newBrowser()
            let page = try await Flow.open(client, issued.token)
            XCTAssertEqual(page.status, 200, page.body)
            XCTAssertNotNil(page.csrf)
            XCTAssertNotNil(try harness.store.link(id: issued.link.id)?.openedAt)

            // A later preview still uses nothing and says the link is taken.
            let late = try await newBrowser().get("/l/\(issued.token)")
            XCTAssertEqual(late.status, 410)
            XCTAssertTrue(late.body.contains("already used"), late.body)
            let back = try await client.get("/l/\(issued.token)")
            XCTAssertEqual(back.status, 200)
            XCTAssertEqual(back.csrf, page.csrf)
        }
    }

    func testStartIsOriginCheckedAndACrossSitePostStartsNothing() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let crossOrigin = try await Flow.start(browser, issued.token, origin: "https://evil.example")
            let crossSite = try await Flow.start(browser, issued.token, origin: "null", headers: [("Sec-Fetch-Site", "cross-site")])
            for reply in [crossOrigin, crossSite] {
                XCTAssertEqual(reply.status, 403, reply.body)
                XCTAssertTrue(reply.headerValues("Set-Cookie").isEmpty)
            }
            XCTAssertNil(try harness.store.link(id: issued.link.id)?.openedAt)
            // A real browser under a strict referrer policy: Origin null, Sec-Fetch-Site same-origin.
            let started = try await Flow.start(browser, issued.token, origin: "null", headers: [("Sec-Fetch-Site", "same-origin")])
            XCTAssertEqual(started.status, 303, started.body)
            XCTAssertEqual(started.header("Location"), Harness.publicURL + "/l/\(issued.token)")
            XCTAssertEqual(started.headerValues("Set-Cookie").count, 2)
            // Pressing Start again in that browser goes back to its page, changes nothing.
            let again = try await Flow.start(browser, issued.token)
            XCTAssertEqual(again.status, 303)
            XCTAssertTrue(again.headerValues("Set-Cookie").isEmpty)
        }
    }

    func testFiftyConcurrentStartsStartExactlyOneSession() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browsers = (0..<50).map { _ in newBrowser() }
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for browser in browsers { group.addTask { try await Flow.start(browser, issued.token) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let statuses = replies.map(\.status).sorted()
            XCTAssertEqual(statuses, [303] + Array(repeating: 410, count: 49))
            XCTAssertEqual(replies.filter { !$0.headerValues("Set-Cookie").isEmpty }.count, 1, "one browser got a session")
            XCTAssertNotNil(try harness.store.session(linkID: harness.store.link(id: issued.link.id)!.id))
        }
    }

    // MARK: item 11: no link token in the log, whatever the path's spelling

    func testOddPathVariantsNeverLogTheTokenAndNeverReachARoute() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        let token = issued.token
        let variants = ["//l/\(token)", "/l//\(token)", "/a/l/\(token)", "/L/\(token)", "/%6C/\(token)", "/l/\(token)/",
                        "/l/./\(token)", "/l/%2E%2E/l/\(token)", "/l/\(token)%2Fconnect%2Fgoogle", "/l;x/\(token)",
                        "/l/\(token.prefix(30))", "/x/\(token.prefix(12))/\(token.dropFirst(12))", "//l//\(token)//finish"]
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            for path in variants {
                let get = try await browser.get(path)
                XCTAssertTrue([400, 404].contains(get.status), "\(path): \(get.status)")
                XCTAssertTrue(get.headerValues("Set-Cookie").isEmpty, path)
                let post = try await browser.post(path, form: [("start", "1")], origin: Harness.publicURL)
                XCTAssertTrue([400, 404].contains(post.status), "\(path): \(post.status)")
            }
            XCTAssertNil(try harness.store.link(id: issued.link.id)?.openedAt, "no variant started the session")
        }
        let log = harness.log.text
        XCTAssertEqual(log.components(separatedBy: "\n").filter { $0.contains(" ms") }.count, variants.count * 2, log)
        XCTAssertFalse(log.contains(token), log)
        for piece in [String(token.prefix(20)), String(token.suffix(20)), String(token.prefix(30)), String(token.dropFirst(12).prefix(20))] {
            XCTAssertFalse(log.contains(piece), "a piece of the token is logged: \(log)")
        }
    }

    func testLoggablePathMasksEveryTokenShapedSegment() {
        let token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd"
        XCTAssertEqual(RequestRedaction.loggablePath("//l/\(token)", query: nil), "//l/[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/l//\(token)", query: nil), "/l//[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/a/l/\(token)", query: nil), "/a/l/[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/L/short", query: nil), "/L/[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/%6C/\(token)", query: nil), "/%6C/[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/x/%41%42%43%44%45%46%47%48%49%4A%4B%4C%4D%4E%4F%50%51%52%53%54", query: nil), "/x/[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/l/\(token)/connect/google-analytics", query: nil), "/l/[REDACTED]/connect/google-analytics")
        XCTAssertEqual(RequestRedaction.loggablePath("/metrics", query: nil), "/metrics")
        XCTAssertNil(RequestRedaction.oddPath("/l/\(token)/connect/google"))
        XCTAssertNil(RequestRedaction.oddPath("/"))
        for odd in ["//l/x", "/l//x", "/l/x/", "/%6C/x", "/l/../x", "/l/./x", "l/x", "/l/a b", "/l;x/y"] {
            XCTAssertNotNil(RequestRedaction.oddPath(odd), odd)
        }
    }

    // MARK: item 13: pending OAuth attempts are capped per session

    func testAThousandConnectPressesKeepAtMostTheCapOfAttempts() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            var locations: [String] = []
            for _ in 0..<1000 {
                let reply = try await Flow.connect(browser, issued.token, "google", csrf: csrf)
                XCTAssertEqual(reply.status, 303)
                if let location = reply.header("Location") { locations.append(location) }
            }
            let session = try XCTUnwrap(try harness.store.session(linkID: issued.link.id))
            XCTAssertEqual(try harness.store.pendingAuthorizations(sessionID: session.id), SQLiteStore.maxPendingAuthorizationsPerSession)
            // The newest attempt still completes; the oldest was dropped and its callback is refused.
            let back = try await Flow.authorize(locations.last!)
            let done = try await browser.get(try XCTUnwrap(browser.target(of: back)))
            XCTAssertEqual(done.status, 303, done.body)
            let oldBack = try await Flow.authorize(locations.first!)
            let old = try await browser.get(try XCTUnwrap(browser.target(of: oldBack)))
            XCTAssertEqual(old.status, 400)
            XCTAssertEqual(try harness.store.allConnections().count, 1)
        }
    }

    func testPruneDropsStaleAttemptsAndErasesTokensOfSessionsThatCanNeverFinish() throws {
        let store = try SQLiteStore.inMemory()
        let now = Date()
        let issued = try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 600, now: now)
        let opened = try store.openLink(token: issued.token, now: now)
        _ = try store.beginAuthorization(PendingAuthorization(sessionID: opened.session.id, linkID: issued.link.id, provider: "google",
                                                              codeVerifier: PKCE.makeVerifier(), redirectURI: "http://127.0.0.1/oauth/callback", createdAt: now))
        let pending = try store.addConnection(sessionID: opened.session.id, provider: "google", account: nil,
                                              tokens: ProviderTokens(accessToken: "ya29.never-activated"), now: now)
        XCTAssertEqual(try store.prune(now: now.addingTimeInterval(60)), PruneReport(), "nothing is spent yet")
        let report = try store.prune(now: now.addingTimeInterval(601))
        XCTAssertEqual(report, PruneReport(authorizations: 1, sessions: 0, pendingConnectionsErased: 1))
        XCTAssertThrowsError(try store.connectionCredentials(id: pending.id))
        XCTAssertEqual(try store.connection(id: pending.id)?.provider, "google", "the record stays")

        // A session with nothing connected goes entirely once its link is revoked.
        let other = try store.issueLink(client: "Beta", sources: [], maxSources: nil, ttl: 600, now: now)
        let otherSession = try store.openLink(token: other.token, now: now)
        _ = try store.revokeLink(id: other.link.id, now: now)
        XCTAssertEqual(try store.prune(now: now).sessions, 1)
        XCTAssertNil(try store.session(linkID: other.link.id))
        XCTAssertNotNil(otherSession)
    }

    // MARK: item 12: account names from the network are cleaned before they are kept

    func testAccountNamesFromTheTokenEndpointLoseControlCharacters() {
        let result = ProbeResult(request: ProbeRequest(url: "https://oauth2.example/token"), status: 200,
                                 body: Array(#"{"access_token":"a","email":"x\u001b[2J\u001b]0;t\u0007@client.example\u202e"}"#.utf8))
        guard case let .granted(_, account) = TokenExchanger.outcome(of: result, now: Date()) else { return XCTFail() }
        XCTAssertEqual(account, "x[2J]0;t@client.example")
        XCTAssertNil(TokenExchanger.displayableAccount("\u{1B}\u{07}"))
    }
}
