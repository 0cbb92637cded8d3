import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import Probe
import XCTest

/// Issue 18: `authdoctor` does not link the link server (Hummingbird, NIO); `serve` and the demo's
/// link flow replace the process with `authdoctor-serve`, found beside it.
final class ServerExecutableTests: XCTestCase {
    static var serverBinary: URL { TestPaths.productsDirectory.appendingPathComponent("authdoctor-serve") }

    /// Symbols of the server's modules are in `authdoctor-serve` and nowhere in `authdoctor`.
    func testTheCommandLineBinaryLeavesTheServerOut() throws {
        let cli = try Data(contentsOf: CLI.binary, options: .alwaysMapped)
        let server = try Data(contentsOf: Self.serverBinary, options: .alwaysMapped)
        for module in ["HummingbirdCore", "NIOPosix", "NIOCore"] {
            XCTAssertNotNil(server.range(of: Data(module.utf8)), "authdoctor-serve links \(module)")
            XCTAssertNil(cli.range(of: Data(module.utf8)), "authdoctor must not link \(module)")
        }
    }

    /// The same process carries on as the server: its pid's executable is authdoctor-serve, and it
    /// answers /healthz and stops cleanly on SIGTERM as `serve` did before the split.
    func testServeHandsTheProcessOverToTheServerExecutable() throws {
        let directory = try makeTemporaryDirectory(self)
        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", directory.appendingPathComponent("links.sqlite").path])
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(serve.process.processIdentifier)/exe")
        XCTAssertEqual((executable as NSString).lastPathComponent, "authdoctor-serve")
        XCTAssertEqual(Prober().perform(ProbeRequest(url: serve.url + "/healthz")).status, 200)
        let log = serve.stop()
        XCTAssertEqual(serve.process.terminationStatus, 0, log)
        XCTAssertTrue(log.hasSuffix("authdoctor serve: stopped\n"), log)
    }

    /// A lone copy of `authdoctor` (no authdoctor-serve beside it or on PATH): serve and the full demo
    /// say what is missing in one line with EX_UNAVAILABLE; commands without the server still work,
    /// and serve's flags are still checked by `authdoctor` itself.
    func testWithoutTheServerExecutableServeSaysWhatIsMissing() throws {
        let directory = try makeTemporaryDirectory(self)
        let lone = directory.appendingPathComponent("bin/authdoctor")
        try FileManager.default.createDirectory(at: lone.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: CLI.binary, to: lone)
        // Only what is beside the binary counts, never PATH.
        let path: [String: String?] = ["PATH": TestPaths.productsDirectory.path + ":/usr/bin:/bin"]
        let db = directory.appendingPathComponent("links.sqlite").path

        for arguments in [["serve", "--sandbox", "--port", "0", "--db", db], ["demo"]] {
            let result = try ProcessRunner.run(lone, arguments, environment: path, timeout: 60)
            XCTAssertEqual(result.status, 69, result.summary)
            XCTAssertEqual(result.stdoutText, "", result.summary)
            let lines = result.stderrText.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, result.summary)
            XCTAssertTrue(result.stderrText.contains("authdoctor-serve") && result.stderrText.contains(lone.deletingLastPathComponent().path),
                          result.summary)
        }
        let invalid = try ProcessRunner.run(lone, ["serve", "--db", db, "--sandbox", "--port", "70000"], environment: path)
        XCTAssertEqual(invalid.status, 64, invalid.summary)
        XCTAssertTrue(invalid.stderrText.contains("--port"), invalid.summary)
        let help = try ProcessRunner.run(lone, ["serve", "--help"], environment: path)
        XCTAssertEqual(help.status, 0, help.summary)
        XCTAssertTrue(help.stdoutText.contains("--metrics-listen"), help.summary)

        let classify = try ProcessRunner.run(lone, ["classify", "--text", "Token has been expired or revoked.", "--provider", "google"],
                                             environment: path)
        XCTAssertEqual(classify.status, 0, classify.summary)
        let sandboxOnly = try ProcessRunner.run(lone, ["demo", "--only", "facebook-healthy", "--format", "json"], environment: path, timeout: 120)
        XCTAssertEqual(sandboxOnly.status, 0, "a demo narrowed by --only has no link flow: \(sandboxOnly.summary)")

        // A directory of that name is not an executable.
        try FileManager.default.createDirectory(at: lone.deletingLastPathComponent().appendingPathComponent("authdoctor-serve"),
                                                withIntermediateDirectories: true)
        let directory_ = try ProcessRunner.run(lone, ["serve", "--sandbox", "--port", "0", "--db", db], environment: path, timeout: 60)
        XCTAssertEqual(directory_.status, 69, directory_.summary)
        XCTAssertEqual(directory_.stderrText.split(separator: "\n").count, 1, directory_.summary)
    }

    /// A hand-over that comes back (authdoctor-serve replaced by something that runs authdoctor) ends
    /// with one line instead of a loop; authdoctor-serve refuses a hand-over from another build.
    func testAHandOverNeverLoopsAndNeverCrossesBuilds() throws {
        let db = try makeTemporaryDirectory(self).appendingPathComponent("links.sqlite").path
        let again = try CLI.run(["serve", "--sandbox", "--port", "0", "--db", db], environment: ["AUTHDOCTOR_HANDED_OVER_FROM": "b0123"])
        assertOneLineError(again, status: 69, mentions: ["handed this command back"])
        let stale = try ProcessRunner.run(Self.serverBinary, ["serve", "--sandbox", "--port", "0", "--db", db],
                                          environment: ["AUTHDOCTOR_HANDED_OVER_FROM": "b-another-build"], timeout: 60)
        assertOneLineError(stale, status: 69, mentions: ["another build"])
    }

    /// A symbolic link to authdoctor elsewhere (as a package's bin/ link farm makes) finds the
    /// server beside the real binary.
    func testASymlinkedBinaryFindsTheServerBesideTheRealOne() throws {
        let directory = try makeTemporaryDirectory(self)
        let link = directory.appendingPathComponent("bin/authdoctor")
        try FileManager.default.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: CLI.binary)
        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", directory.appendingPathComponent("links.sqlite").path], binary: link)
        XCTAssertEqual(Prober().perform(ProbeRequest(url: serve.url + "/healthz")).status, 200)
        let log = serve.stop()
        XCTAssertEqual(serve.process.terminationStatus, 0, log)
    }
}
