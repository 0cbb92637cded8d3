import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import Probe
import XCTest

/// `authdoctor serve`: its start-up checks (one line, sysexits) and a real run stopped by SIGTERM.
final class ServeCommandTests: XCTestCase {
    func testOAuthClientFlagsAreCheckedAtStart() throws {
        let db = try makeTemporaryDirectory(self).appendingPathComponent("links.sqlite").path
        assertOneLineError(try CLI.run(["serve", "--db", db, "--oauth-client", "google"]), status: 64, mentions: ["PROVIDER=CLIENT_ID"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--oauth-client", "nosuch=abc"]), status: 64, mentions: ["unknown provider 'nosuch'", "google"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--oauth-client", "snowflake=abc"]), status: 64, mentions: ["snowflake is not connected through OAuth"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--oauth-client", "google-ads=abc"], environment: ["AUTHDOCTOR_OAUTH_GOOGLE_ADS_SECRET": nil]),
                           status: 78, mentions: ["AUTHDOCTOR_OAUTH_GOOGLE_ADS_SECRET"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--oauth-client", "google=a", "--oauth-client", "google=b"],
                                       environment: ["AUTHDOCTOR_OAUTH_GOOGLE_SECRET": "s3cr3t-value"]), status: 64, mentions: ["given twice"])
        assertOneLineError(try CLI.run(["serve", "--db", db]), status: 78, mentions: ["--oauth-client", "--sandbox"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--sandbox", "--public-url", "https://links.example.com/x"]), status: 64, mentions: ["without a path"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--sandbox-url", "http://sandbox.example.com:8700"]), status: 64, mentions: ["loopback"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--sandbox", "--sandbox-url", "http://127.0.0.1:8700"]), status: 64, mentions: ["not both"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--sandbox", "--host", "0.0.0.0"]), status: 64, mentions: ["--public-url is needed"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--sandbox", "--port", "70000"]), status: 64, mentions: ["--port"])
    }

    func testServesUntilSIGTERMAndLogsNoSecret() throws {
        let directory = try makeTemporaryDirectory(self)
        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", directory.appendingPathComponent("links.sqlite").path])
        let url = serve.url
        let health = Prober().perform(ProbeRequest(url: url + "/healthz"))
        XCTAssertEqual(health.status, 200)
        let token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE"
        let unknown = Prober().perform(ProbeRequest(url: url + "/l/" + token))
        XCTAssertEqual(unknown.status, 404)

        let text = serve.stop()  // SIGTERM
        XCTAssertEqual(serve.process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("GET /l/[REDACTED] 404"), text)
        XCTAssertFalse(text.contains(token))
        XCTAssertTrue(text.hasSuffix("authdoctor serve: stopped\n"), text)
    }

    /// The whole flow against the real binaries: `authdoctor serve --sandbox`, `authdoctor links
    /// issue`, a browser (libcurl, cookie by hand) that opens the link, connects two sources through
    /// the Sandbox's OAuth servers and presses Finish, then `authdoctor connections list`: both active.
    func testLinkFlowAgainstTheServeProcess() throws {
        let directory = try makeTemporaryDirectory(self)
        let db = directory.appendingPathComponent("links.sqlite").path

        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", db])
        let base = serve.url

        let issue = try CLI.run(["links", "issue", "--db", db, "--client", "Acme Ltd", "--sources", "google,hubspot",
                                 "--public-url", base, "--format", "json"])
        XCTAssertEqual(issue.status, 0, issue.summary)
        let link = try XCTUnwrap(JSON.parse(issue.stdoutText)["url"]?.stringValue)
        XCTAssertTrue(link.hasPrefix(base + "/l/"), link)
        let token = String(link.dropFirst(base.count + 3))

        let prober = Prober()
        let startPage = prober.perform(ProbeRequest(url: link))
        XCTAssertEqual(startPage.status, 200)
        XCTAssertTrue(startPage.headerValues("Set-Cookie").isEmpty, "a GET starts nothing")
        let started = prober.perform(ProbeRequest(method: "POST", url: link + "/open",
                                                  headers: [HTTPHeader("Origin", base), HTTPHeader("Content-Type", "application/x-www-form-urlencoded")], body: Array("start=1".utf8)))
        XCTAssertEqual(started.status, 303, started.bodyText)
        let cookie = started.headerValues("Set-Cookie").map { String($0.prefix(while: { $0 != ";" })) }.first ?? ""
        let opened = prober.perform(ProbeRequest(url: link, headers: [HTTPHeader("Cookie", cookie)]))
        XCTAssertEqual(opened.status, 200)
        let page = opened.bodyText
        let csrf = try XCTUnwrap(page.range(of: #"name="csrf" value=""#).map { String(page[$0.upperBound...].prefix(while: { $0 != "\"" })) })
        let form = [HTTPHeader("Cookie", cookie), HTTPHeader("Origin", base), HTTPHeader("Content-Type", "application/x-www-form-urlencoded")]
        for provider in ["google", "hubspot"] {
            let connect = prober.perform(ProbeRequest(method: "POST", url: "\(link)/connect/\(provider)", headers: form, body: Array("csrf=\(csrf)".utf8)))
            XCTAssertEqual(connect.status, 303, connect.bodyText)
            let approve = prober.perform(ProbeRequest(url: try XCTUnwrap(connect.header("Location"))))
            XCTAssertEqual(approve.status, 302)
            let callback = try XCTUnwrap(approve.header("Location"))
            XCTAssertTrue(callback.hasPrefix(base + "/oauth/callback?"), callback)
            let back = prober.perform(ProbeRequest(url: callback, headers: [HTTPHeader("Cookie", cookie)]))
            XCTAssertEqual(back.status, 303, back.bodyText)
        }
        let pending = try CLI.run(["connections", "list", "--db", db, "--format", "json"])
        XCTAssertEqual(try JSON.parse(pending.stdoutText).arrayValue?.compactMap { $0["status"]?.stringValue }, ["pending", "pending"])

        let finish = prober.perform(ProbeRequest(method: "POST", url: "\(link)/finish", headers: form, body: Array("csrf=\(csrf)".utf8)))
        XCTAssertEqual(finish.status, 200, finish.bodyText)

        let list = try CLI.run(["connections", "list", "--db", db, "--format", "json"])
        XCTAssertEqual(list.status, 0, list.summary)
        let connections = try XCTUnwrap(JSON.parse(list.stdoutText).arrayValue)
        XCTAssertEqual(Set(connections.compactMap { $0["provider"]?.stringValue }), ["google", "hubspot"])
        XCTAssertEqual(connections.compactMap { $0["status"]?.stringValue }, ["active", "active"])
        let table = try CLI.run(["connections", "list", "--db", db])
        XCTAssertTrue(table.stdoutText.contains("Acme Ltd"), table.stdoutText)

        let log = serve.stop()
        XCTAssertEqual(serve.process.terminationStatus, 0, log)
        for secret in [token, String(cookie.split(separator: ".").last ?? "-")] {
            XCTAssertFalse(log.contains(secret), "a secret in the server's log")
        }
        XCTAssertFalse(list.stdoutText.contains(token) || table.stdoutText.contains(token), "connections list shows no link token")
        XCTAssertFalse(log.contains("code=") && !log.contains("code=[REDACTED]"), "no OAuth code is logged")
    }
}
