// The authorization-link flow end to end: issue → open → connect providers through the Sandbox's
// OAuth servers → Finish → the connections are active; and each refusal of issue 5.

import EvidenceModel
import Foundation
@testable import LinkServer
import Links
import Probe
import XCTest

final class LinkFlowTests: XCTestCase {
    // MARK: the whole flow over real HTTP

    func testFullFlowOverRealHTTPConnectsTwoProvidersAndFinishActivatesBoth() async throws {
        let harness = try Harness(publicURL: nil)
        let issued = try harness.issue(sources: ["google", "facebook"])
        let store = harness.store
        let log = harness.log
        try await harness.withLiveServer { publicURL, newBrowser in
            let browser = newBrowser()
            var pages: [String] = []
            var secrets: [String] = [issued.token]

            let opened = try await Flow.open(browser, issued.token)
            XCTAssertEqual(opened.status, 200)
            XCTAssertTrue(opened.body.contains("Google OAuth 2.0"), opened.body)
            XCTAssertTrue(opened.body.contains("Meta (Facebook)"), opened.body)
            let csrf = try XCTUnwrap(opened.csrf)
            pages.append(opened.body)

            for provider in ["google", "facebook"] {
                let started = try await Flow.connect(browser, issued.token, provider, csrf: csrf)
                XCTAssertEqual(started.status, 303)
                let location = try XCTUnwrap(started.header("Location"))
                XCTAssertTrue(location.hasPrefix(harness.sandbox.baseURL + "/oauth/\(provider)/authorize?"), location)
                XCTAssertEqual(Flow.parameter("redirect_uri", of: location), publicURL + "/oauth/callback")
                XCTAssertEqual(Flow.parameter("code_challenge_method", of: location), "S256")
                XCTAssertEqual(Flow.parameter("response_type", of: location), "code")
                let state = try XCTUnwrap(Flow.parameter("state", of: location))
                let back = try await Flow.authorize(location)
                let code = try XCTUnwrap(Flow.parameter("code", of: back))
                XCTAssertEqual(Flow.parameter("state", of: back), state)
                secrets += [state, code]

                let target = try XCTUnwrap(browser.target(of: back))
                let callback = try await browser.get(target)
                XCTAssertEqual(callback.status, 303, callback.body)
                XCTAssertEqual(callback.header("Location"), publicURL + "/l/\(issued.token)")
                let page = try await browser.get("/l/\(issued.token)")
                XCTAssertEqual(page.status, 200)
                pages.append(page.body)
            }
            let before = try store.allConnections()
            XCTAssertEqual(Set(before.map(\.provider)), ["google", "facebook"])
            XCTAssertTrue(before.allSatisfy { $0.status == .pending }, "\(before)")
            XCTAssertTrue(pages.last!.contains("active after Finish"))

            let finished = try await Flow.finish(browser, issued.token, csrf: csrf)
            XCTAssertEqual(finished.status, 200, finished.body)
            XCTAssertTrue(finished.body.contains("now active"), finished.body)
            pages.append(finished.body)

            let after = try store.allConnections()
            XCTAssertEqual(after.count, 2)
            XCTAssertTrue(after.allSatisfy { $0.status == .active }, "\(after)")
            // Issue 15: the Sandbox's Google sign-in (openid scope) names the account, as Google's ID token does,
            // so `connections list` shows who connected; Facebook's token answer names nobody.
            XCTAssertEqual(after.first { $0.provider == "google" }?.account, "client.analyst@example.com")
            XCTAssertNil(after.first { $0.provider == "facebook" }?.account)
            XCTAssertEqual(try store.link(id: issued.link.id)?.state(at: Date()), .finished)
            for connection in after {
                let tokens = try store.connectionCredentials(id: connection.id)
                XCTAssertTrue(tokens.accessToken.hasPrefix("sbx-"), "the Sandbox's healthy token is stored")
                secrets.append(tokens.accessToken)
                if let refresh = tokens.refreshToken { secrets.append(refresh) }
            }
            secrets += browser.cookieValues + browser.cookieValues.compactMap { $0.split(separator: ".").last.map(String.init) }

            // Nothing secret in any page (the page's own form actions carry the spent link token only)
            // nor in any log line.
            for page in pages {
                for secret in secrets.dropFirst() { XCTAssertFalse(page.contains(secret), "a page shows a secret") }
                XCTAssertFalse(page.contains(SandboxOAuthClient.clientSecret))
            }
            let logText = log.text
            XCTAssertTrue(logText.contains("GET /l/[REDACTED] 200"), "request lines are logged, redacted")
            XCTAssertTrue(logText.contains("GET /oauth/callback?code=[REDACTED]&state=[REDACTED] 303"), "callbacks are logged, redacted")
            for secret in secrets + [SandboxOAuthClient.clientSecret] {
                XCTAssertFalse(logText.contains(secret), "the log holds a secret")
            }
        }
    }

    // MARK: links that cannot be opened

    func testWrongAndTamperedTokensGetTheSamePageWithoutHint() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        var tampered = Array(issued.token)
        tampered[tampered.count / 2] = tampered[tampered.count / 2] == "A" ? "B" : "A"
        let tamperedToken = String(tampered)
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let wrong = try await Flow.open(browser, LinkSecrets.newSecret())
            let altered = try await Flow.open(browser, tamperedToken)
            let garbage = try await Flow.open(browser, "not-a-token")
            let truncated = try await Flow.open(browser, String(issued.token.dropLast(5)))
            for reply in [wrong, altered, garbage, truncated] {
                XCTAssertEqual(reply.status, 404)
                XCTAssertTrue(reply.body.contains("This link is not valid"), reply.body)
                XCTAssertNil(reply.header("Set-Cookie"))
            }
            XCTAssertEqual(wrong.body, altered.body, "a tampered token says no more than an unknown one")
            // The real link is still unopened.
            XCTAssertEqual(try harness.store.link(id: issued.link.id)?.openedAt, nil)
        }
    }

    func testSecondOpenFromAnotherBrowserIs410AndTheFirstBrowserKeepsItsSession() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let first = newBrowser(), second = newBrowser()
            let startPage = try await first.get("/l/\(issued.token)")
            XCTAssertEqual(startPage.status, 200)
            let started = try await Flow.start(first, issued.token)
            XCTAssertEqual(started.status, 303)
            let opened = try await first.get("/l/\(issued.token)")
            XCTAssertEqual(opened.status, 200)
            let cookies = started.headerValues("Set-Cookie")
            XCTAssertEqual(cookies.count, 2)
            XCTAssertTrue(cookies.contains { $0.contains("Path=/l/") } && cookies.contains { $0.contains("Path=/oauth/") }, "\(cookies)")
            XCTAssertTrue(cookies.allSatisfy { $0.contains("HttpOnly") && $0.contains("SameSite=Lax") && !$0.contains("Secure") }, "\(cookies)")

            let again = try await Flow.open(second, issued.token)
            XCTAssertEqual(again.status, 410)
            XCTAssertTrue(again.body.contains("already used"), again.body)
            XCTAssertTrue(again.body.contains("issue a new one"), again.body)
            XCTAssertNil(again.header("Set-Cookie"))

            let back = try await Flow.open(first, issued.token)
            XCTAssertEqual(back.status, 200)
            XCTAssertEqual(back.csrf, opened.csrf)
        }
    }

    func testExpiredLinkIs410() async throws {
        let harness = try Harness()
        let issued = try harness.issue(ttl: 60)
        harness.clock.advance(61)
        try await harness.withRouter { newBrowser in
            let reply = try await Flow.open(newBrowser(), issued.token)
            XCTAssertEqual(reply.status, 410)
            XCTAssertTrue(reply.body.contains("This link has expired"), reply.body)
            XCTAssertTrue(reply.body.contains("issue a new one"), reply.body)
        }
    }

    func testRevokedLinkIs410EvenForTheBrowserThatOpenedIt() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let opened = try await Flow.open(browser, issued.token)
            _ = try harness.store.revokeLink(id: issued.link.id, now: harness.clock.now)
            for reply in [try await Flow.open(browser, issued.token), try await Flow.open(newBrowser(), issued.token)] {
                XCTAssertEqual(reply.status, 410)
                XCTAssertTrue(reply.body.contains("withdrawn"), reply.body)
            }
            let connect = try await Flow.connect(browser, issued.token, "google", csrf: opened.csrf)
            XCTAssertEqual(connect.status, 410)
            XCTAssertNil(connect.header("Location"))
        }
    }

    func testConcurrentOpensOfOneLinkStartExactlyOneSession() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browsers = (0..<8).map { _ in newBrowser() }
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for browser in browsers { group.addTask { try await Flow.open(browser, issued.token).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(statuses.sorted(), [200] + Array(repeating: 410, count: 7))
        }
    }

    // MARK: the OAuth callback

    func testReplayedCallbackIsRefusedAndAddsNothing() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            let (callback, first) = try await Flow.connectThrough(browser, issued.token, "google", csrf: csrf)
            XCTAssertEqual(first.status, 303)
            let replay = try await browser.get(try XCTUnwrap(browser.target(of: callback)))
            XCTAssertEqual(replay.status, 400)
            XCTAssertTrue(replay.body.contains("already used"), replay.body)
            XCTAssertEqual(try harness.store.allConnections().count, 1)
        }
    }

    func testStateOfAnotherSessionIsRefused() async throws {
        let harness = try Harness()
        let victim = try harness.issue(), attacker = try harness.issue()
        try await harness.withRouter { newBrowser in
            let victimBrowser = newBrowser(), attackerBrowser = newBrowser()
            let csrf = try await Flow.open(attackerBrowser, attacker.token).csrf
            _ = try await Flow.open(victimBrowser, victim.token)
            // The attacker starts a sign-in and gets its own code and state, then sends the victim's
            // browser to the callback with them (login CSRF): the victim's session must not gain it.
            let started = try await Flow.connect(attackerBrowser, attacker.token, "google", csrf: csrf)
            let back = try await Flow.authorize(try XCTUnwrap(started.header("Location")))
            let reply = try await victimBrowser.get(try XCTUnwrap(victimBrowser.target(of: back)))
            XCTAssertEqual(reply.status, 403)
            XCTAssertTrue(reply.body.contains("another browser"), reply.body)
            XCTAssertEqual(try harness.store.allConnections().count, 0)

            // A state nobody issued.
            let forged = try await victimBrowser.get("/oauth/callback?code=abc&state=\(LinkSecrets.newSecret())")
            XCTAssertEqual(forged.status, 400)
            XCTAssertTrue(forged.body.contains("not valid"), forged.body)
            let missing = try await victimBrowser.get("/oauth/callback?code=abc")
            XCTAssertEqual(missing.status, 400)
            XCTAssertEqual(try harness.store.allConnections().count, 0)
        }
    }

    func testAttemptWithoutValidPKCEVerifierIsNotExchanged() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            _ = try await Flow.open(browser, issued.token)
            let session = try XCTUnwrap(harness.store.session(linkID: issued.link.id))
            let redirect = harness.configuration.publicURL! + "/oauth/callback"
            for verifier in ["", "short"] {
                // An attempt recorded without a usable verifier (what a broken or tampered record looks like).
                let state = try harness.store.beginAuthorization(PendingAuthorization(
                    sessionID: session.id, linkID: issued.link.id, provider: "google", codeVerifier: verifier,
                    redirectURI: redirect, createdAt: harness.clock.now))
                let challenge = PKCE.challenge(for: PKCE.makeVerifier())
                let location = harness.configuration.clients["google"]!.endpoints.authorizeURL + "?" + FormEncoding.encode([
                    ("response_type", "code"), ("client_id", SandboxOAuthClient.clientID), ("redirect_uri", redirect),
                    ("state", state), ("code_challenge", challenge), ("code_challenge_method", "S256")])
                let back = try await Flow.authorize(location)
                let reply = try await browser.get(try XCTUnwrap(browser.target(of: back)))
                XCTAssertEqual(reply.status, 400)
                XCTAssertTrue(reply.body.contains("no valid PKCE proof"), reply.body)
            }
            XCTAssertEqual(try harness.store.allConnections().count, 0)
        }
    }

    func testVerifierThatDoesNotMatchTheChallengeIsRefusedByTheProvider() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            _ = try await Flow.open(browser, issued.token)
            let session = try XCTUnwrap(harness.store.session(linkID: issued.link.id))
            let redirect = harness.configuration.publicURL! + "/oauth/callback"
            let state = try harness.store.beginAuthorization(PendingAuthorization(
                sessionID: session.id, linkID: issued.link.id, provider: "google", codeVerifier: PKCE.makeVerifier(),
                redirectURI: redirect, createdAt: harness.clock.now))
            let location = harness.configuration.clients["google"]!.endpoints.authorizeURL + "?" + FormEncoding.encode([
                ("response_type", "code"), ("client_id", SandboxOAuthClient.clientID), ("redirect_uri", redirect),
                ("state", state), ("code_challenge", PKCE.challenge(for: PKCE.makeVerifier())), ("code_challenge_method", "S256")])
            let back = try await Flow.authorize(location)
            let reply = try await browser.get(try XCTUnwrap(browser.target(of: back)))
            XCTAssertEqual(reply.status, 400)
            XCTAssertTrue(reply.body.contains("invalid_grant"), reply.body)
            XCTAssertTrue(reply.body.contains("Nothing was connected"), reply.body)
            XCTAssertEqual(try harness.store.allConnections().count, 0)
        }
    }

    func testCodeUsedTwiceIsRefused() async throws {
        let harness = try Harness()
        let issued = try harness.issue(sources: ["google"], maxSources: nil)
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            let (firstCallback, first) = try await Flow.connectThrough(browser, issued.token, "google", csrf: csrf)
            XCTAssertEqual(first.status, 303)
            let code = try XCTUnwrap(Flow.parameter("code", of: firstCallback))
            // A fresh attempt (its own state), answered with the code that was already exchanged.
            let second = try await Flow.connect(browser, issued.token, "google", csrf: csrf)
            let state = try XCTUnwrap(Flow.parameter("state", of: try XCTUnwrap(second.header("Location"))))
            let reply = try await browser.get("/oauth/callback?" + FormEncoding.encode([("code", code), ("state", state)]))
            XCTAssertEqual(reply.status, 400)
            XCTAssertTrue(reply.body.contains("invalid_grant"), reply.body)
            XCTAssertTrue(reply.body.contains("already used"), reply.body)
            XCTAssertEqual(try harness.store.allConnections().count, 1)
        }
    }

    func testProviderDenialShowsAPageAndConnectsNothing() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            let started = try await Flow.connect(browser, issued.token, "facebook", csrf: csrf)
            let back = try await Flow.authorize(try XCTUnwrap(started.header("Location")), deny: true)
            XCTAssertEqual(Flow.parameter("error", of: back), "access_denied")
            let reply = try await browser.get(try XCTUnwrap(browser.target(of: back)))
            XCTAssertEqual(reply.status, 400)
            XCTAssertTrue(reply.body.contains("did not grant access"), reply.body)
            XCTAssertTrue(reply.body.contains("/l/\(issued.token)"), "a way back to the link page")
            XCTAssertEqual(try harness.store.allConnections().count, 0)
        }
    }

    func testTokenEndpointThatNeverAnswersCostsTheTimeoutAndConnectsNothing() async throws {
        var harness = try Harness()
        var google = try XCTUnwrap(harness.configuration.clients["google"])
        google.endpoints = google.endpoints.pointed(authorizeURL: google.endpoints.authorizeURL,
                                                    tokenURL: harness.sandbox.faultURL(.blackhole) + "/token")
        harness.configuration.clients["google"] = google
        harness.configuration.exchangeTimeout = 1
        let issued = try harness.issue()
        let store = harness.store
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            let started = Date()
            let (_, reply) = try await Flow.connectThrough(browser, issued.token, "google", csrf: csrf)
            let elapsed = Date().timeIntervalSince(started)
            XCTAssertEqual(reply.status, 502)
            XCTAssertTrue(reply.body.contains("could not be reached"), reply.body)
            XCTAssertLessThan(elapsed, 4, "the exchange is bounded by its timeout")
            XCTAssertEqual(try store.allConnections().count, 0)
        }
    }

    // MARK: redirects, forgery, limits

    func testRedirectsAreBuiltFromConfigurationNeverFromTheRequest() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        let evil: [(String, String)] = [("Host", "evil.example"), ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https")]
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let start = try await browser.get("/l/\(issued.token)?next=https://evil.example/&redirect_uri=https://evil.example/", headers: evil)
            XCTAssertFalse(start.body.contains("evil.example"), start.body)
            let started = try await Flow.start(browser, issued.token, headers: evil)
            XCTAssertEqual(started.header("Location"), Harness.publicURL + "/l/\(issued.token)")
            let csrf = try await browser.get("/l/\(issued.token)?next=https://evil.example/", headers: evil).csrf
            let connected = try await browser.post("/l/\(issued.token)/connect/google?redirect_uri=https://evil.example/cb",
                                                 form: [("csrf", csrf ?? ""), ("redirect_uri", "https://evil.example/cb")],
                                                 origin: Harness.publicURL, headers: evil)
            XCTAssertEqual(connected.status, 303)
            let location = try XCTUnwrap(connected.header("Location"))
            XCTAssertTrue(location.hasPrefix(harness.sandbox.baseURL + "/oauth/google/authorize?"), location)
            XCTAssertEqual(Flow.parameter("redirect_uri", of: location), Harness.publicURL + "/oauth/callback")
            let back = try await Flow.authorize(location)
            let callback = try await browser.get(try XCTUnwrap(browser.target(of: back)) + "&next=https://evil.example/", headers: evil)
            XCTAssertEqual(callback.status, 303)
            XCTAssertEqual(callback.header("Location"), Harness.publicURL + "/l/\(issued.token)")
        }
        // The Sandbox itself never sends a browser to a non-loopback redirect_uri.
        let outside = await Prober().perform(ProbeRequest(url: harness.sandbox.baseURL + "/oauth/google/authorize?" + FormEncoding.encode([
            ("response_type", "code"), ("client_id", "c"), ("redirect_uri", "https://evil.example/cb"), ("state", "s"),
            ("code_challenge", PKCE.challenge(for: PKCE.makeVerifier())), ("code_challenge_method", "S256")])))
        XCTAssertEqual(outside.status, 400)
        XCTAssertNil(outside.header("Location"))
        // A public URL with a path (where a redirect could be bent) is refused at start.
        XCTAssertThrowsError(try LinkServerConfiguration.validatedPublicURL("https://links.example.com/evil?x=1"))
        XCTAssertThrowsError(try LinkServerConfiguration.validatedPublicURL("javascript:alert(1)"))
        XCTAssertEqual(try LinkServerConfiguration.validatedPublicURL("https://links.example.com/"), "https://links.example.com")
    }

    func testCrossSitePostsAreRefused() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            let otherSite = try await browser.post("/l/\(issued.token)/connect/google", form: [("csrf", csrf ?? "")], origin: "https://evil.example")
            let nullOrigin = try await browser.post("/l/\(issued.token)/finish", form: [("csrf", csrf ?? "")], origin: "null")
            let noToken = try await browser.post("/l/\(issued.token)/connect/google", form: [], origin: Harness.publicURL)
            let wrongToken = try await browser.post("/l/\(issued.token)/finish", form: [("csrf", LinkSecrets.newSecret())], origin: Harness.publicURL)
            let crossFetch = try await browser.post("/l/\(issued.token)/finish", form: [("csrf", csrf ?? "")],
                                                    headers: [("Sec-Fetch-Site", "cross-site")])
            for reply in [otherSite, nullOrigin, noToken, wrongToken, crossFetch] {
                XCTAssertEqual(reply.status, 403)
                XCTAssertTrue(reply.body.contains("did not come from your link page"), reply.body)
                XCTAssertNil(reply.header("Location"))
            }
            XCTAssertNil(try harness.store.link(id: issued.link.id)?.finishedAt)
            // Another browser (no session cookie) cannot act on the session either.
            let stranger = try await Flow.connect(newBrowser(), issued.token, "google", csrf: csrf)
            XCTAssertEqual(stranger.status, 403)
            XCTAssertTrue(stranger.body.contains("another browser"), stranger.body)
        }
    }

    /// Issue 12: under a policy that strips the Origin (as `no-referrer` did), Chromium posts the
    /// page's own forms with `Origin: null` and `Sec-Fetch-Site: same-origin`: that is our page.
    /// `null` with any other Sec-Fetch-Site, or none, is still refused.
    func testSameOriginPostWithNullOriginIsAcceptedOnlyWhenTheBrowserSaysSameOrigin() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            for site in ["cross-site", "same-site"] {
                let refused = try await browser.post("/l/\(issued.token)/connect/google", form: [("csrf", csrf ?? "")], origin: "null",
                                                     headers: [("Sec-Fetch-Site", site)])
                XCTAssertEqual(refused.status, 403, site)
            }
            let otherOrigin = try await browser.post("/l/\(issued.token)/connect/google", form: [("csrf", csrf ?? "")], origin: "https://evil.example",
                                                     headers: [("Sec-Fetch-Site", "same-origin")])
            XCTAssertEqual(otherOrigin.status, 403, "a named foreign Origin is refused whatever else is said")
            let accepted = try await browser.post("/l/\(issued.token)/connect/google", form: [("csrf", csrf ?? "")], origin: "null",
                                                  headers: [("Sec-Fetch-Site", "same-origin")])
            XCTAssertEqual(accepted.status, 303, accepted.body)
            let finished = try await browser.post("/l/\(issued.token)/finish", form: [("csrf", csrf ?? "")], origin: "null",
                                                  headers: [("Sec-Fetch-Site", "same-origin")])
            XCTAssertEqual(finished.status, 200, finished.body)
        }
    }

    func testPlanLimitRefusesTheConnectionPastIt() async throws {
        let harness = try Harness()
        let issued = try harness.issue(sources: ["google", "facebook", "linkedin"], maxSources: 1)
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let page = try await Flow.open(browser, issued.token)
            XCTAssertTrue(page.body.contains("up to 1 connection"), page.body)
            let (_, first) = try await Flow.connectThrough(browser, issued.token, "google", csrf: page.csrf)
            XCTAssertEqual(first.status, 303)
            let refused = try await Flow.connect(browser, issued.token, "facebook", csrf: page.csrf)
            XCTAssertEqual(refused.status, 403)
            XCTAssertTrue(refused.body.contains("Plan limit reached"), refused.body)
            XCTAssertNil(refused.header("Location"))
            let after = try await Flow.open(browser, issued.token)
            XCTAssertTrue(after.body.contains("Plan limit reached"), after.body)
            XCTAssertFalse(after.body.contains("/connect/facebook"), "no Connect button past the limit")
            XCTAssertEqual(try harness.store.allConnections().count, 1)
        }
    }

    func testProviderOutsideTheLinkIsRefused() async throws {
        let harness = try Harness()
        let issued = try harness.issue(sources: ["google"])
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            for provider in ["hubspot", "snowflake", "no-such-provider"] {
                let reply = try await Flow.connect(browser, issued.token, provider, csrf: csrf)
                XCTAssertEqual(reply.status, 400)
                XCTAssertTrue(reply.body.contains("cannot be connected here"), reply.body)
            }
        }
    }

    // MARK: Finish and expiry

    func testUnfinishedSessionActivatesNothing() async throws {
        let harness = try Harness()
        let issued = try harness.issue(ttl: 600)
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            _ = try await Flow.connectThrough(browser, issued.token, "google", csrf: csrf)
            _ = try await Flow.connectThrough(browser, issued.token, "facebook", csrf: csrf)
            XCTAssertEqual(try harness.store.allConnections().count, 2)
            // The client walks away without pressing Finish; the link runs out.
            harness.clock.advance(601)
            XCTAssertTrue(try harness.store.allConnections().allSatisfy { $0.status == .pending })
            XCTAssertEqual(try harness.store.link(id: issued.link.id)?.state(at: harness.clock.now), .expired)
            let page = try await Flow.open(browser, issued.token)
            XCTAssertEqual(page.status, 410)
            XCTAssertTrue(page.body.contains("was not activated"), page.body)
        }
    }

    func testFinishAfterExpiryActivatesNothing() async throws {
        let harness = try Harness()
        let issued = try harness.issue(ttl: 600)
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            _ = try await Flow.connectThrough(browser, issued.token, "google", csrf: csrf)
            harness.clock.advance(601)
            let reply = try await Flow.finish(browser, issued.token, csrf: csrf)
            XCTAssertEqual(reply.status, 410)
            XCTAssertTrue(reply.body.contains("nothing was activated"), reply.body)
            XCTAssertTrue(try harness.store.allConnections().allSatisfy { $0.status == .pending })
            XCTAssertNil(try harness.store.link(id: issued.link.id)?.finishedAt)
        }
    }

    func testFinishedLinkCannotBeReopenedOrFinishedAgain() async throws {
        let harness = try Harness()
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let csrf = try await Flow.open(browser, issued.token).csrf
            _ = try await Flow.connectThrough(browser, issued.token, "google", csrf: csrf)
            let done = try await Flow.finish(browser, issued.token, csrf: csrf)
            XCTAssertEqual(done.status, 200)
            let again = try await Flow.finish(browser, issued.token, csrf: csrf)
            XCTAssertEqual(again.status, 410)
            let reopened = try await Flow.open(newBrowser(), issued.token)
            XCTAssertEqual(reopened.status, 410)
            XCTAssertTrue(reopened.body.contains("already used"), reopened.body)
            let late = try await Flow.connect(browser, issued.token, "facebook", csrf: csrf)
            XCTAssertEqual(late.status, 410)
        }
    }

    // MARK: small parts

    func testHealthzAndPageHeaders() async throws {
        let harness = try Harness(publicURL: "https://links.example.com")
        let issued = try harness.issue()
        try await harness.withRouter { newBrowser in
            let browser = newBrowser()
            let health = try await browser.get("/healthz")
            XCTAssertEqual(health.status, 200)
            XCTAssertEqual(health.body, "ok\n")
            let page = try await Flow.open(browser, issued.token)
            XCTAssertEqual(page.header("Referrer-Policy"), "same-origin", "no-referrer makes browsers send Origin: null on our own posts")
            XCTAssertTrue(page.body.contains(#"<meta name="referrer" content="same-origin">"#))
            XCTAssertEqual(page.header("Cache-Control"), "no-store")
            XCTAssertTrue(page.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
            XCTAssertTrue(page.headerValues("Set-Cookie").allSatisfy { $0.hasSuffix("; Secure") }, "https public URL: Secure cookies")
        }
    }

    func testPagesEscapeWhatTheStoreHolds() async throws {
        let harness = try Harness()
        let issued = try harness.store.issueLink(client: "<script>alert(1)</script>", sources: ["google"], maxSources: nil, ttl: 600, now: harness.clock.now)
        try await harness.withRouter { newBrowser in
            let page = try await Flow.open(newBrowser(), issued.token)
            XCTAssertFalse(page.body.contains("<script>"))
            XCTAssertTrue(page.body.contains("&lt;script&gt;"))
        }
    }

    func testLoggedPathsHoldNoSecret() {
        XCTAssertEqual(RequestRedaction.loggablePath("/l/AbCdEfGhIjKlMnOpQrStUv", query: nil), "/l/[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/l/AbCdEfGhIjKlMnOpQrStUv/connect/google", query: nil), "/l/[REDACTED]/connect/google")
        XCTAssertEqual(RequestRedaction.loggablePath("/oauth/callback", query: "code=4/0Abc&state=xyz"), "/oauth/callback?code=[REDACTED]&state=[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/oauth/callback", query: "error=access_denied&state=xyz"),
                       "/oauth/callback?error=access_denied&state=[REDACTED]")
        XCTAssertEqual(RequestRedaction.loggablePath("/healthz", query: nil), "/healthz")
    }

    func testTokenAnswersAreReadWithoutKeepingAnythingButTokensAndAccount() throws {
        func answer(_ status: Int, _ body: String) -> ProbeResult {
            ProbeResult(request: ProbeRequest(url: "https://oauth2.example/token"), status: status, body: Array(body.utf8))
        }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let claims = Base64URL.encode(Array(#"{"iss":"https://accounts.google.com","email":"analyst@client.example","sub":"1"}"#.utf8))
        let granted = TokenExchanger.outcome(of: answer(200, """
            {"access_token":"ya29.a0-example","expires_in":3599,"refresh_token":"1//0g-example","scope":"openid https://www.googleapis.com/auth/adwords","token_type":"Bearer","id_token":"eyJhbGciOiJSUzI1NiJ9.\(claims).c2ln"}
            """), now: now)
        guard case let .granted(tokens, account) = granted else { return XCTFail("\(granted)") }
        XCTAssertEqual(tokens.accessToken, "ya29.a0-example")
        XCTAssertEqual(tokens.refreshToken, "1//0g-example")
        XCTAssertEqual(tokens.expiresAt, now.addingTimeInterval(3599))
        XCTAssertEqual(tokens.scopes, ["openid", "https://www.googleapis.com/auth/adwords"])
        XCTAssertEqual(account, "analyst@client.example")

        XCTAssertEqual(TokenExchanger.outcome(of: answer(400, #"{"error":"invalid_grant","error_description":"Bad Request"}"#), now: now),
                       .refused(error: "invalid_grant", status: 400))
        XCTAssertEqual(TokenExchanger.outcome(of: answer(400, #"{"error":"<b>x</b>"}"#), now: now), .refused(error: "bxb", status: 400))
        XCTAssertEqual(TokenExchanger.outcome(of: answer(500, "oops"), now: now), .refused(error: "http-500", status: 500))
        guard case .failed = TokenExchanger.outcome(of: answer(200, #"{"token_type":"Bearer"}"#), now: now) else { return XCTFail() }
        guard case .failed = TokenExchanger.outcome(of: ProbeResult(request: ProbeRequest(url: "https://x.example"), curlCode: 28), now: now) else {
            return XCTFail()
        }
    }

    func testTokenRequestCarriesVerifierAndClientAuthentication() throws {
        let harness = try Harness()
        var client = try XCTUnwrap(harness.configuration.clients["hubspot"])
        let form = TokenExchanger().request(client: client, code: "c0de", redirectURI: "http://127.0.0.1:8080/oauth/callback", codeVerifier: "v3r")
        let body = String(decoding: form.body ?? [], as: UTF8.self)
        XCTAssertEqual(form.method, "POST")
        XCTAssertEqual(body, "grant_type=authorization_code&code=c0de&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Foauth%2Fcallback&code_verifier=v3r&client_id=sbx-link-client&client_secret=sbx-link-client-secret")
        XCTAssertNil(form.headers.first { $0.name == "Authorization" })
        client.endpoints.clientAuthentication = .basic
        let basic = TokenExchanger().request(client: client, code: "c0de", redirectURI: "http://x", codeVerifier: "v3r")
        XCTAssertFalse(String(decoding: basic.body ?? [], as: UTF8.self).contains("client_secret"))
        XCTAssertEqual(basic.headers.first { $0.name == "Authorization" }?.value,
                       "Basic " + Data("sbx-link-client:sbx-link-client-secret".utf8).base64EncodedString())
    }

    func testPKCEMatchesRFC7636AppendixB() {
        XCTAssertEqual(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        let verifier = PKCE.makeVerifier()
        XCTAssertTrue(PKCE.isValidVerifier(verifier))
        XCTAssertNotEqual(verifier, PKCE.makeVerifier())
        XCTAssertFalse(PKCE.isValidVerifier(String(repeating: "a", count: 42)))
        XCTAssertFalse(PKCE.isValidVerifier(String(repeating: "a", count: 129)))
        XCTAssertFalse(PKCE.isValidVerifier(String(repeating: "a", count: 42) + "/"))
    }
}
