// The operator console of `serve` (issue 17, part 1) through the router, without a socket: sign-in
// with an operator token and sign-out, the redirect of signed-out requests, CSRF refusals, every
// page, the security headers, the audit log of console actions, and secrets pasted as evidence
// never shown back.

import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import LinkServer
@testable import Links
import RuleEngine
import XCTest

final class OperatorConsoleTests: XCTestCase {
    static let engine: ClassifyEngine = {
        do {
            let (set, _) = try RuleLibrary.load(includeBuiltin: false, directories: [TestPaths.rulesDirectory])
            return ClassifyEngine(ruleSet: set)
        } catch { fatalError("rules: \(error)") }
    }()

    struct ConsoleHarness {
        var harness: Harness
        var store: SQLiteStore { harness.store }
        let console: OperatorConsole

        init(publicURL: String = Harness.publicURL) throws {
            harness = try Harness(publicURL: publicURL)
            console = OperatorConsole(catalog: try OperatorAPITests.APIHarness.catalog(), engine: OperatorConsoleTests.engine)
        }

        func application() -> some ApplicationProtocol {
            buildApplication(configuration: harness.configuration, store: harness.store, logger: harness.log.logger, console: console)
        }

        func withRouter(_ test: @escaping @Sendable (@escaping () -> Browser) async throws -> Void) async throws {
            try await application().test(.router) { client in
                let transport: Transport = { method, target, headers, body in
                    var fields = HTTPFields()
                    for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
                    let response = try await client.execute(uri: target, method: HTTPRequest.Method(method)!, headers: fields,
                                                            body: body.map { ByteBuffer(string: $0) })
                    return Reply(status: response.status.code, headers: response.headers.map { ($0.name.rawName, $0.value) },
                                 body: String(buffer: response.body))
                }
                try await test { Browser(publicURL: harness.configuration.publicURL ?? Harness.publicURL, send: transport) }
            }
        }

        /// A stored connection (link, session, grant, Finish) of `client` at `provider`.
        func connect(client: String = "Acme Ltd", provider: String = "google") throws -> StoredConnection {
            let now = harness.clock.now
            let issued = try store.issueLink(client: client, sources: [provider], maxSources: nil, ttl: 3600, now: now)
            let opened = try store.openLink(token: issued.token, now: now)
            let made = try store.addConnection(sessionID: opened.session.id, provider: provider, account: "ops@acme.example",
                                               tokens: ProviderTokens(accessToken: "ya29.console-test-access", refreshToken: "1//console-test-refresh"), now: now)
            _ = try store.finishSession(id: opened.session.id, now: now)
            return made
        }

        /// `statuses` oldest first, one check an hour ending now.
        func history(_ connection: String, _ statuses: [String], provider: String? = "google", failure: String = "revoked",
                     summary: String = "The refresh token was revoked or has expired (invalid_grant).") throws {
            let now = harness.clock.now
            try store.recordVerdicts(statuses.enumerated().map { i, status in
                CheckVerdict(connection: connection, checkedAt: now.addingTimeInterval(Double(i - statuses.count) * 3600), status: status,
                             failure: status == "ok" ? "none" : failure, summary: status == "ok" ? "healthy" : summary, provider: provider)
            })
        }
    }

    /// Signs in through the form; returns the overview's reply (its CSRF token on `.csrf`).
    static func signIn(_ browser: Browser, token: String) async throws -> Reply {
        let form = try await browser.get("/console/login")
        XCTAssertEqual(form.status, 200)
        let signed = try await browser.post("/console/login", form: [("csrf", try XCTUnwrap(form.csrf)), ("token", token)])
        XCTAssertEqual(signed.status, 303, signed.body)
        XCTAssertEqual(signed.header("Location"), "/console")
        return try await browser.get("/console")
    }

    static func assertSecurityHeaders(_ reply: Reply, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(reply.header("X-Frame-Options"), "DENY", file: file, line: line)
        XCTAssertEqual(reply.header("X-Content-Type-Options"), "nosniff", file: file, line: line)
        XCTAssertEqual(reply.header("Referrer-Policy"), "same-origin", file: file, line: line)
        XCTAssertEqual(reply.header("Cache-Control"), "no-store", file: file, line: line)
        let csp = reply.header("Content-Security-Policy") ?? ""
        XCTAssertTrue(csp.hasPrefix("default-src 'none'"), csp, file: file, line: line)
        XCTAssertTrue(csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"), csp, file: file, line: line)
        XCTAssertFalse(csp.contains("unsafe-inline'; script") || csp.contains("script-src 'unsafe"), csp, file: file, line: line)
    }

    func testSignedOutRequestsGoToTheSignInPageAndChangeNothing() async throws {
        let h = try ConsoleHarness()
        try await h.withRouter { browser in
            let b = browser()
            for path in ["/console", "/console/links", "/console/classify", "/console/connections/abc"] {
                let reply = try await b.get(path)
                XCTAssertEqual(reply.status, 303, path)
                XCTAssertEqual(reply.header("Location"), "/console/login?next=" + FormEncoding.escape(path), path)
            }
            let post = try await b.post("/console/links", form: [("csrf", "x"), ("client", "Mallory")])
            XCTAssertEqual(post.status, 303)
            XCTAssertEqual(post.header("Location"), "/console/login")
            XCTAssertEqual(try h.store.allLinks().count, 0)
            let entries = try h.store.auditEntries(since: nil, actor: nil)
            XCTAssertEqual(entries.map { "\($0.actor) \($0.method) \($0.route) \($0.status)" }, ["anonymous POST /console/links 303"])
        }
    }

    func testSignInWithAnOperatorTokenAndSignOut() async throws {
        let h = try ConsoleHarness()
        let alice = try h.store.addOperator(name: "alice", now: h.harness.clock.now)
        try await h.withRouter { browser in
            let b = browser()
            let form = try await b.get("/console/login")
            Self.assertSecurityHeaders(form)
            XCTAssertTrue(form.body.contains("<label for=\"token\">Operator token</label>"))
            let loginCookie = try XCTUnwrap(form.headerValues("Set-Cookie").first { $0.hasPrefix(OperatorConsole.loginCookie + "=") })
            XCTAssertTrue(loginCookie.contains("HttpOnly") && loginCookie.contains("SameSite=Strict") && loginCookie.contains("Path=/console"))

            let wrong = try await b.post("/console/login", form: [("csrf", try XCTUnwrap(form.csrf)), ("token", "ado_not-a-real-token-at-all-000")])
            XCTAssertEqual(wrong.status, 401)
            XCTAssertTrue(wrong.body.contains("not the token of an operator"))
            XCTAssertFalse(wrong.body.contains("ado_not-a-real-token"), "the token typed is never shown back")

            let signed = try await b.post("/console/login", form: [("csrf", try XCTUnwrap(wrong.csrf)), ("token", alice.token), ("next", "/console/links")])
            XCTAssertEqual(signed.status, 303)
            XCTAssertEqual(signed.header("Location"), "/console/links")
            let session = try XCTUnwrap(signed.headerValues("Set-Cookie").first { $0.hasPrefix(OperatorConsole.sessionCookie + "=") })
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] { XCTAssertTrue(session.contains(attribute), session) }
            XCTAssertFalse(session.contains("Secure"), "http: no Secure flag")
            XCTAssertFalse(session.contains(alice.token))

            let overview = try await b.get("/console")
            XCTAssertEqual(overview.status, 200)
            XCTAssertTrue(overview.body.contains("Signed in as alice"))
            Self.assertSecurityHeaders(overview)
            // Signed in: the sign-in page sends the browser on.
            let again = try await b.get("/console/login")
            XCTAssertEqual(again.status, 303)

            let out = try await b.post("/console/logout", form: [("csrf", try XCTUnwrap(overview.csrf))])
            XCTAssertEqual(out.status, 303)
            XCTAssertEqual(out.header("Location"), "/console/login")
            XCTAssertTrue(out.headerValues("Set-Cookie").contains { $0.hasPrefix(OperatorConsole.sessionCookie + "=;") && $0.contains("Max-Age=0") })
            // The old cookie value no longer works even if a browser kept it.
            let after = try await b.get("/console")
            XCTAssertEqual(after.status, 303)
        }
        let entries = try h.store.auditEntries(since: nil, actor: nil).map { "\($0.actor) \($0.method) \($0.route) \($0.status)" }
        XCTAssertEqual(entries, ["anonymous POST /console/login 401", "alice POST /console/login 303", "alice GET /console 200",
                                 "alice POST /console/logout 303"])
    }

    func testARemovedOperatorIsSignedOutAndHttpsCookiesAreSecure() async throws {
        let h = try ConsoleHarness(publicURL: "https://links.example.com")
        let bob = try h.store.addOperator(name: "bob", now: h.harness.clock.now)
        try await h.withRouter { browser in
            let b = browser()
            let form = try await b.get("/console/login")
            let signed = try await b.post("/console/login", form: [("csrf", try XCTUnwrap(form.csrf)), ("token", bob.token)],
                                          origin: "https://links.example.com")
            XCTAssertEqual(signed.status, 303)
            XCTAssertTrue(signed.headerValues("Set-Cookie").allSatisfy { $0.contains("; Secure") })
            let before = try await b.get("/console")
            XCTAssertEqual(before.status, 200)
            _ = try h.store.removeOperator(name: "bob", now: h.harness.clock.now)
            let after = try await b.get("/console")
            XCTAssertEqual(after.status, 303)
        }
    }

    func testPostsWithoutTheAntiForgeryTokenAreRefused() async throws {
        let h = try ConsoleHarness()
        let alice = try h.store.addOperator(name: "alice", now: h.harness.clock.now)
        let connection = try h.connect()
        let link = try h.store.issueLink(client: "Keep", sources: [], maxSources: nil, ttl: 3600, now: h.harness.clock.now)
        try await h.withRouter { browser in
            // The sign-in form without its cookie-bound token.
            let stranger = browser()
            let forged = try await stranger.post("/console/login", form: [("csrf", "guess"), ("token", alice.token)])
            XCTAssertEqual(forged.status, 403)
            XCTAssertFalse(forged.headerValues("Set-Cookie").contains { $0.hasPrefix(OperatorConsole.sessionCookie + "=") })

            let b = browser()
            let overview = try await Self.signIn(b, token: alice.token)
            let csrf = try XCTUnwrap(overview.csrf)
            let attempts: [(String, [(String, String)], String?)] = [
                ("/console/links", [("client", "Mallory")], nil),
                ("/console/links", [("client", "Mallory"), ("csrf", "wrong")], nil),
                ("/console/links", [("client", "Mallory"), ("csrf", csrf)], "https://evil.example"),
                ("/console/links/\(link.link.id)/revoke", [("csrf", "")], nil),
                ("/console/connections/\(connection.id)/link", [], nil),
                ("/console/logout", [], nil),
                ("/console/classify", [("evidence", "HTTP 401"), ("csrf", csrf + "x")], nil),
            ]
            for (path, form, origin) in attempts {
                let reply = try await b.post(path, form: form, origin: origin)
                XCTAssertEqual(reply.status, 403, path)
                XCTAssertTrue(reply.body.contains("Nothing was changed"))
                Self.assertSecurityHeaders(reply)
            }
            XCTAssertEqual(try h.store.allLinks().map(\.client).sorted(), ["Acme Ltd", "Keep"], "no link issued")
            XCTAssertNil(try h.store.link(id: link.link.id)?.revokedAt, "nothing revoked")
            let still = try await b.get("/console")
            XCTAssertEqual(still.status, 200, "still signed in")
        }
        let refused = try h.store.auditEntries(since: nil, actor: "alice").filter { $0.status == 403 }
        XCTAssertEqual(refused.count, 7)
    }

    func testTheOverviewListsFiltersSearchesAndPages() async throws {
        let h = try ConsoleHarness()
        let alice = try h.store.addOperator(name: "alice", now: h.harness.clock.now)
        let acme = try h.connect(client: "Acme Ltd", provider: "google")
        let globex = try h.connect(client: "Globex <script>", provider: "facebook")
        try h.history(acme.id, ["ok", "ok", "critical", "critical"])
        try h.history(globex.id, ["ok", "critical", "ok", "critical", "ok"], provider: "facebook")
        try h.history("warehouse prod", ["warning"], provider: "snowflake", failure: "network-policy", summary: "IP not allowed")
        for i in 0..<120 { try h.history(String(format: "file-%03d", i), ["ok"], provider: "hubspot") }
        try await h.withRouter { browser in
            let b = browser()
            let first = try await Self.signIn(b, token: alice.token)
            XCTAssertEqual(first.status, 200)
            // Worst first: the critical one failing longest, then the warning.
            let body = first.body
            let acmeAt = try XCTUnwrap(body.range(of: acme.id)).lowerBound, warehouseAt = try XCTUnwrap(body.range(of: "warehouse prod")).lowerBound
            XCTAssertLessThan(acmeAt, warehouseAt)
            XCTAssertTrue(body.contains("Globex &lt;script&gt;"), "client names are escaped")
            XCTAssertFalse(body.contains("Globex <script>"))
            XCTAssertTrue(body.contains("123 of 123 connections"))
            XCTAssertTrue(body.contains("Page 1 of 3"))
            XCTAssertEqual(body.components(separatedBy: "<tr><td>").count - 1, 50)
            XCTAssertTrue(body.contains("<strong>yes</strong>"), "globex flaps (4 changes)")
            XCTAssertTrue(body.contains("/console/connections/warehouse%20prod"))

            let critical = try await b.get("/console?status=critical")
            XCTAssertTrue(critical.body.contains("1 of 123 connections") && critical.body.contains(acme.id), "globex's newest check is ok")
            let failing = try await b.get("/console?status=failing")
            XCTAssertTrue(failing.body.contains("2 of 123 connections"), "critical and warning")
            let facebook = try await b.get("/console?provider=facebook")
            XCTAssertTrue(facebook.body.contains("1 of 123 connections") && facebook.body.contains(globex.id))
            let search = try await b.get("/console?q=NETWORK-POLICY")
            XCTAssertTrue(search.body.contains("1 of 123 connections") && search.body.contains("warehouse prod"))
            let last = try await b.get("/console?status=ok&page=3")
            XCTAssertTrue(last.body.contains("121 of 123 connections") && last.body.contains("Page 3 of 3"))
            XCTAssertEqual(last.body.components(separatedBy: "<tr><td>").count - 1, 21)
            XCTAssertTrue(last.body.contains("href=\"/console?status=ok&amp;page=2\""))
            // A check run records new verdicts: the next overview shows them (nothing stale is kept).
            h.harness.clock.advance(3600)
            try h.history(globex.id, ["critical"], provider: "facebook")
            let afterRun = try await b.get("/console?status=critical")
            XCTAssertTrue(afterRun.body.contains("2 of 123 connections") && afterRun.body.contains(globex.id), afterRun.body)
            let odd = try await b.get("/console?status=%3Cb%3E&page=-4")
            XCTAssertEqual(odd.status, 200)
            XCTAssertFalse(odd.body.contains("<b>"))
        }
    }

    func testAConnectionPageDrawsItsHistoryAndIssuesAReauthorizationLink() async throws {
        let h = try ConsoleHarness()
        let alice = try h.store.addOperator(name: "alice", now: h.harness.clock.now)
        let acme = try h.connect()
        try h.history(acme.id, ["ok", "ok", "warning", "critical"], summary: "Token has been expired or revoked. invalid_grant access_token=ya29.leaked-in-a-summary")
        try h.history("warehouse prod", ["ok"], provider: "snowflake")
        try await h.withRouter { browser in
            let b = browser()
            _ = try await Self.signIn(b, token: alice.token)
            let page = try await b.get("/console/connections/\(acme.id)")
            XCTAssertEqual(page.status, 200, page.body)
            Self.assertSecurityHeaders(page)
            XCTAssertTrue(page.body.contains("<svg class=\"timeline\" role=\"img\""))
            XCTAssertEqual(page.body.components(separatedBy: "<rect ").count - 1, 4)
            XCTAssertTrue(page.body.contains("4 checks from"))
            XCTAssertTrue(page.body.contains("<h2>Latest report</h2>"))
            XCTAssertTrue(page.body.contains("class=\"finding\""), "the latest finding is rendered")
            XCTAssertTrue(page.body.contains("What to do"))
            XCTAssertFalse(page.body.contains("ya29.leaked"), "summaries are redacted")
            XCTAssertTrue(page.body.contains("Issue re-authorization link"))
            XCTAssertTrue(page.body.contains("ops@acme.example"))

            let issued = try await b.post("/console/connections/\(acme.id)/link", form: [("csrf", try XCTUnwrap(page.csrf))])
            XCTAssertEqual(issued.status, 200, issued.body)
            let links = try h.store.allLinks()
            XCTAssertEqual(links.count, 2)
            let newest = try XCTUnwrap(links.first { $0.id != acme.linkID })
            XCTAssertEqual(newest.client, "Acme Ltd")
            XCTAssertEqual(newest.sources, ["google"])
            XCTAssertTrue(issued.body.contains("value=\"\(Harness.publicURL)/l/"), "the URL is shown once")
            let nonce = try XCTUnwrap(issued.body.range(of: "<script nonce=\"").map { String(issued.body[$0.upperBound...].prefix(while: { $0 != "\"" })) })
            XCTAssertTrue(issued.header("Content-Security-Policy")!.contains("script-src 'nonce-\(nonce)'"))
            XCTAssertTrue(issued.body.contains("data-copy=\"issued-url\""))

            // A connection of a connections file: its name percent-encoded in the path.
            let file = try await b.get("/console/connections/warehouse%20prod")
            XCTAssertEqual(file.status, 200)
            XCTAssertTrue(file.body.contains("The latest check") || file.body.contains("passed") || file.body.contains("OK"))
            let missing = try await b.get("/console/connections/nope")
            XCTAssertEqual(missing.status, 404)
        }
        let entries = try h.store.auditEntries(since: nil, actor: "alice")
        let issuedEntry = try XCTUnwrap(entries.first { $0.route == "/console/connections/{id}/link" })
        XCTAssertEqual(issuedEntry.status, 200)
        XCTAssertEqual(issuedEntry.target, try h.store.allLinks().first { $0.id != acme.linkID }?.id)
    }

    func testLinksAreIssuedShownOnceListedAndRevoked() async throws {
        let h = try ConsoleHarness()
        let alice = try h.store.addOperator(name: "alice", now: h.harness.clock.now)
        try await h.withRouter { browser in
            let b = browser()
            _ = try await Self.signIn(b, token: alice.token)
            let form = try await b.get("/console/links")
            XCTAssertEqual(form.status, 200)
            XCTAssertTrue(form.body.contains("<label for=\"l-client\">Client</label>"))
            XCTAssertNil(form.header("Content-Security-Policy").flatMap { $0.contains("script-src") ? $0 : nil }, "no script without a URL to copy")
            let csrf = try XCTUnwrap(form.csrf)

            let bad = try await b.post("/console/links", form: [("csrf", csrf), ("client", "Initech"), ("ttl", "forever")])
            XCTAssertEqual(bad.status, 400)
            XCTAssertTrue(bad.body.contains("No link was issued"))
            let unknown = try await b.post("/console/links", form: [("csrf", csrf), ("client", "Initech"), ("sources", "myspace")])
            XCTAssertEqual(unknown.status, 400)
            XCTAssertEqual(try h.store.allLinks().count, 0)

            let issued = try await b.post("/console/links", form: [("csrf", csrf), ("client", "Initech"), ("sources", "google"),
                                                                    ("sources", "facebook"), ("ttl", "2h"), ("maxSources", "2")])
            XCTAssertEqual(issued.status, 200, issued.body)
            let link = try XCTUnwrap(h.store.allLinks().first)
            XCTAssertEqual(link.client, "Initech")
            XCTAssertEqual(link.sources, ["google", "facebook"])
            XCTAssertEqual(link.maxSources, 2)
            let urlStart = try XCTUnwrap(issued.body.range(of: "value=\"\(Harness.publicURL)/l/"))
            let token = String(issued.body[urlStart.upperBound...].prefix(while: { $0 != "\"" }))
            XCTAssertEqual(try h.store.link(token: token)?.id, link.id)

            let list = try await b.get("/console/links")
            XCTAssertTrue(list.body.contains(link.id))
            XCTAssertFalse(list.body.contains(token), "the URL is never shown again")
            let revoked = try await b.post("/console/links/\(link.id)/revoke", form: [("csrf", csrf)])
            XCTAssertEqual(revoked.status, 303)
            XCTAssertEqual(revoked.header("Location"), "/console/links?revoked=\(link.id)")
            XCTAssertNotNil(try h.store.link(id: link.id)?.revokedAt)
            let after = try await b.get(revoked.header("Location")!)
            XCTAssertTrue(after.body.contains("was revoked"))
            XCTAssertFalse(after.body.contains("aria-label=\"Revoke link \(link.id)\""))
            let unknownLink = try await b.post("/console/links/lnk_missing/revoke", form: [("csrf", csrf)])
            XCTAssertEqual(unknownLink.status, 404)
        }
        let routes = try h.store.auditEntries(since: nil, actor: "alice").filter { $0.method == "POST" }.map { "\($0.route) \($0.status)" }
        XCTAssertEqual(routes, ["/console/login 303", "/console/links 400", "/console/links 400", "/console/links 200",
                                "/console/links/{id}/revoke 303", "/console/links/{id}/revoke 404"])
    }

    static func multipart(_ fields: [(String, String)], file: (name: String, filename: String, content: String)? = nil) -> (String, String) {
        let boundary = "----authdoctorTestBoundary7MA4YWxk"
        var body = ""
        for (name, value) in fields {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        if let file {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(file.name)\"; filename=\"\(file.filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n\(file.content)\r\n"
        }
        body += "--\(boundary)--\r\n"
        return ("multipart/form-data; boundary=\(boundary)", body)
    }

    func testPastedEvidenceIsClassifiedRedactedAndNotStored() async throws {
        let h = try ConsoleHarness()
        let alice = try h.store.addOperator(name: "alice", now: h.harness.clock.now)
        try await h.withRouter { browser in
            let b = browser()
            _ = try await Self.signIn(b, token: alice.token)
            let form = try await b.get("/console/classify")
            XCTAssertEqual(form.status, 200)
            XCTAssertTrue(form.body.contains("<label for=\"c-evidence\">Evidence</label>"))
            let csrf = try XCTUnwrap(form.csrf)
            let before = try h.store.schemaStatus().rows.filter { $0.0 != "audit" && $0.0 != "operators" }.map(\.1)

            let secret = "sk_live_51HxYzConsoleSecretValue0001"
            let text = "Error: Couldn't get access token: {\"error\": \"invalid_grant\", \"error_description\": \"Token has been expired or revoked.\"} client_secret=\(secret) Authorization: Bearer ya29.a0FAKE-console-secret"
            let (type, body) = Self.multipart([("csrf", csrf), ("kind", "text"), ("provider", "google"), ("evidence", text)])
            let reply = try await b.send("POST", "/console/classify", [("Content-Type", type), ("Cookie", b.cookieHeader(for: "/console/classify")!)], body)
            XCTAssertEqual(reply.status, 200, reply.body)
            XCTAssertTrue(reply.body.contains("<h2 id=\"result\">Report</h2>"))
            XCTAssertTrue(reply.body.contains("class=\"finding\""))
            XCTAssertFalse(reply.body.contains(secret), "a pasted secret is never shown")
            XCTAssertFalse(reply.body.contains("a0FAKE-console-secret"))
            XCTAssertFalse(reply.body.contains("Token has been expired or revoked.\"} client_secret"), "the pasted text is not echoed")

            // A curl -i output, and a HAR uploaded as a file.
            let response = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nWWW-Authenticate: Bearer error=\"invalid_token\"\r\n\r\n{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication credentials.\",\"status\":\"UNAUTHENTICATED\"}}"
            let (t2, b2) = Self.multipart([("csrf", csrf), ("kind", "response"), ("evidence", response)])
            let curl = try await b.send("POST", "/console/classify", [("Content-Type", t2), ("Cookie", b.cookieHeader(for: "/console/classify")!)], b2)
            XCTAssertEqual(curl.status, 200, curl.body)
            XCTAssertTrue(curl.body.contains("HTTP 401"))
            let har = """
            {"log":{"version":"1.2","creator":{"name":"test","version":"1"},"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":1,
            "request":{"method":"POST","url":"https://oauth2.googleapis.com/token","httpVersion":"HTTP/1.1","headers":[{"name":"Authorization","value":"Bearer ya29.harSecretValue"}],"queryString":[],"cookies":[],"headersSize":-1,"bodySize":-1},
            "response":{"status":400,"statusText":"Bad Request","httpVersion":"HTTP/1.1","headers":[{"name":"Content-Type","value":"application/json"}],"cookies":[],
            "content":{"size":60,"mimeType":"application/json","text":"{\\"error\\":\\"invalid_grant\\",\\"error_description\\":\\"Bad Request\\"}"},"redirectURL":"","headersSize":-1,"bodySize":-1},
            "cache":{},"timings":{"send":0,"wait":1,"receive":0}}]}}
            """
            let (t3, b3) = Self.multipart([("csrf", csrf), ("kind", "text"), ("evidence", "")], file: ("file", "session.har", har))
            let uploaded = try await b.send("POST", "/console/classify", [("Content-Type", t3), ("Cookie", b.cookieHeader(for: "/console/classify")!)], b3)
            XCTAssertEqual(uploaded.status, 200, uploaded.body)
            XCTAssertTrue(uploaded.body.contains("class=\"finding\""))
            XCTAssertFalse(uploaded.body.contains("harSecretValue"))

            let (t4, b4) = Self.multipart([("csrf", csrf), ("kind", "har"), ("evidence", "{not a har")])
            let broken = try await b.send("POST", "/console/classify", [("Content-Type", t4), ("Cookie", b.cookieHeader(for: "/console/classify")!)], b4)
            XCTAssertEqual(broken.status, 400)

            let after = try h.store.schemaStatus().rows.filter { $0.0 != "audit" && $0.0 != "operators" }.map(\.1)
            XCTAssertEqual(before, after, "nothing pasted is stored")
            XCTAssertFalse(h.harness.log.text.contains(secret))
        }
        let audit = try h.store.auditEntries(since: nil, actor: "alice").filter { $0.route == "/console/classify" }
        XCTAssertEqual(audit.map(\.status), [200, 200, 200, 200, 400])
        XCTAssertTrue(audit.allSatisfy { $0.target == nil })
    }

    func testMultipartBodies() {
        let (type, body) = Self.multipart([("a", "1"), ("b", "two\r\nlines")], file: ("file", "x.har", "{}"))
        let boundary = MultipartForm.boundary(contentType: type)!
        let parts = MultipartForm.parse(Array(body.utf8), boundary: boundary)!
        XCTAssertEqual(parts.map(\.name), ["a", "b", "file"])
        XCTAssertEqual(parts[1].text, "two\r\nlines")
        XCTAssertEqual(parts[2].filename, "x.har")
        XCTAssertNil(MultipartForm.parse(Array("--x\r\nno end".utf8), boundary: "x"))
        XCTAssertNil(MultipartForm.boundary(contentType: "application/x-www-form-urlencoded"))
    }

    // MARK: overview after a check run

    /// After each check run the overview reads only the verdicts the run added and merges them into
    /// what it kept; whatever the order of check times, the rows equal a full read's. A history that
    /// lost verdicts is read whole again.
    func testTheOverviewMergesANewRunAndAgreesWithAFullRead() throws {
        let store = try SQLiteStore.inMemory(secretBox: .ephemeral())
        let cache = ConsoleOverview.Cache()
        let statuses = ["ok", "critical", "warning", "ok", "unknown"]
        func rowsText(_ rows: [ConsoleOverview.Row]) -> String { rows.map { String(describing: $0) }.joined(separator: "\n") }
        for run in 0..<14 {
            var verdicts: [CheckVerdict] = []
            for i in 0..<25 {
                let status = statuses[(i * run + i) % statuses.count]
                // Run 9 records some check times older than the kept ones (a backfilled run).
                let seconds = run == 9 && i % 2 == 0 ? Double(i) : Double(run * 600 + i)
                verdicts.append(CheckVerdict(connection: "con_\(i)", checkedAt: Date(timeIntervalSince1970: 1_800_000_000 + seconds),
                                             status: status, failure: status == "ok" ? "none" : "expiry", summary: "run \(run)"))
            }
            try store.recordVerdicts(verdicts)
            let merged = try ConsoleOverview.rows(store: store, cache: cache)
            let full = try ConsoleOverview.rows(store: store)
            XCTAssertEqual(rowsText(merged), rowsText(full), "run \(run)")
            let version = try XCTUnwrap(try store.checkHistoryVersion())
            XCTAssertEqual(cache.incrementalBase().map { "\($0.maxID):\($0.count)" }, version, "run \(run): the kept base follows the history")
        }
        // Verdicts removed (retention): the counts no longer add up, so the history is read whole.
        try store.write { db in try db.execute(sql: "DELETE FROM verdicts WHERE summary IN ('run 12', 'run 13')") }
        try store.recordVerdicts([CheckVerdict(connection: "con_3", checkedAt: Date(timeIntervalSince1970: 1_800_100_000), status: "critical",
                                               failure: "revoked", summary: "after pruning")])
        XCTAssertEqual(rowsText(try ConsoleOverview.rows(store: store, cache: cache)), rowsText(try ConsoleOverview.rows(store: store)))
    }
}
