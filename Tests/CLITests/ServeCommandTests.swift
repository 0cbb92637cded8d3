import AuthDoctorTestSupport
import Foundation
import Links
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
        assertOneLineError(try CLI.run(["serve", "--db", db, "--sandbox", "--host", "0.0.0.0"]), status: 64, mentions: ["--public-url is needed"])
        assertOneLineError(try CLI.run(["serve", "--db", db, "--sandbox", "--port", "70000"]), status: 64, mentions: ["--port"])
    }

    func testServesUntilSIGTERMAndLogsNoSecret() throws {
        let directory = try makeTemporaryDirectory(self)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--sandbox", "--port", "0", "--db", directory.appendingPathComponent("links.sqlite").path]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The first line names the listening URL.
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("Ctrl-C stops it"), Date() < deadline {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let url = try XCTUnwrap(text.range(of: #"listening on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression)
            .map { String(text[$0].dropFirst("listening on ".count)) }, text)
        let health = Prober().perform(ProbeRequest(url: url + "/healthz"))
        XCTAssertEqual(health.status, 200)
        let token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE"
        let unknown = Prober().perform(ProbeRequest(url: url + "/l/" + token))
        XCTAssertEqual(unknown.status, 404)

        process.terminate()  // SIGTERM
        process.waitUntilExit()
        text += String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("GET /l/[REDACTED] 404"), text)
        XCTAssertFalse(text.contains(token))
        XCTAssertTrue(text.hasSuffix("authdoctor serve: stopped\n"), text)
    }

    /// The whole flow against the real binary: a link in the database, `authdoctor serve --sandbox`,
    /// a browser (libcurl, cookie by hand) that opens it, connects two sources through the Sandbox's
    /// OAuth servers and presses Finish; both connections are then active in the database.
    func testLinkFlowAgainstTheServeProcess() throws {
        let directory = try makeTemporaryDirectory(self)
        let db = directory.appendingPathComponent("links.sqlite").path
        let store = try StoreLocation.open(path: db)
        let issued = try store.issueLink(client: "Acme Ltd", sources: ["google", "hubspot"], maxSources: nil, ttl: 3600, now: Date())

        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--sandbox", "--port", "0", "--db", db]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var log = ""
        while !log.contains("Ctrl-C stops it") {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        let base = try XCTUnwrap(log.range(of: #"listening on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression)
            .map { String(log[$0].dropFirst("listening on ".count)) }, log)

        let prober = Prober()
        let opened = prober.perform(ProbeRequest(url: "\(base)/l/\(issued.token)"))
        XCTAssertEqual(opened.status, 200)
        let cookie = opened.headerValues("Set-Cookie").map { String($0.prefix(while: { $0 != ";" })) }.first ?? ""
        let page = opened.bodyText
        let csrf = try XCTUnwrap(page.range(of: #"name="csrf" value=""#).map { String(page[$0.upperBound...].prefix(while: { $0 != "\"" })) })
        for provider in ["google", "hubspot"] {
            let connect = prober.perform(ProbeRequest(method: "POST", url: "\(base)/l/\(issued.token)/connect/\(provider)",
                                                      headers: [HTTPHeader("Cookie", cookie), HTTPHeader("Origin", base),
                                                                HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                                                      body: Array("csrf=\(csrf)".utf8)))
            XCTAssertEqual(connect.status, 303, connect.bodyText)
            let approve = prober.perform(ProbeRequest(url: try XCTUnwrap(connect.header("Location"))))
            XCTAssertEqual(approve.status, 302)
            let callback = try XCTUnwrap(approve.header("Location"))
            XCTAssertTrue(callback.hasPrefix(base + "/oauth/callback?"), callback)
            let back = prober.perform(ProbeRequest(url: callback, headers: [HTTPHeader("Cookie", cookie)]))
            XCTAssertEqual(back.status, 303, back.bodyText)
        }
        XCTAssertEqual(try store.allConnections().map(\.status), [.pending, .pending])
        let finish = prober.perform(ProbeRequest(method: "POST", url: "\(base)/l/\(issued.token)/finish",
                                                 headers: [HTTPHeader("Cookie", cookie), HTTPHeader("Origin", base),
                                                           HTTPHeader("Content-Type", "application/x-www-form-urlencoded")],
                                                 body: Array("csrf=\(csrf)".utf8)))
        XCTAssertEqual(finish.status, 200, finish.bodyText)
        let connections = try store.allConnections()
        XCTAssertEqual(Set(connections.map(\.provider)), ["google", "hubspot"])
        XCTAssertTrue(connections.allSatisfy { $0.status == .active }, "\(connections)")

        process.terminate()
        process.waitUntilExit()
        log += String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, log)
        XCTAssertFalse(log.contains(issued.token), "the link token is not logged")
        XCTAssertFalse(log.contains(String(cookie.split(separator: ".").last ?? "-")), "the cookie secret is not logged")
        XCTAssertFalse(log.contains("code=") && !log.contains("code=[REDACTED]"), "no OAuth code is logged")
    }
}
