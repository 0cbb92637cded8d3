import AuthDoctorTestSupport
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
}
