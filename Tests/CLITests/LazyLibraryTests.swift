import AuthDoctorTestSupport
import Foundation
import XCTest

/// libcurl and libpq are loaded with dlopen when a command first needs them (Sources/CCurl,
/// Sources/CLibPQ): a command that never probes starts without them and the ~27 libraries they pull
/// in, and a missing library is a one-line error with EX_UNAVAILABLE, never a loader failure.
final class LazyLibraryTests: XCTestCase {
    /// glibc's loader lists every object it opens on stderr with LD_DEBUG=files.
    private func loadedObjects(_ result: ProcessResult) -> String {
        result.stderrText.split(separator: "\n").filter { $0.contains("file=") }.joined(separator: "\n")
    }

    func testClassifyLoadsNeitherLibcurlNorLibpq() throws {
        let result = try CLI.run(["classify", "--text", "HTTP 401 Unauthorized: invalid_grant"], environment: ["LD_DEBUG": "files"])
        XCTAssertEqual(result.status, 0, result.summary)
        let loaded = loadedObjects(result)
        XCTAssertTrue(loaded.contains("libc.so"), "LD_DEBUG=files lists what the loader opens:\n\(loaded)")
        XCTAssertFalse(loaded.contains("libcurl"), loaded)
        XCTAssertFalse(loaded.contains("libpq"), loaded)
        XCTAssertFalse(loaded.contains("libgssapi"), loaded)
    }

    func testAProbeLoadsLibcurlWhenItStarts() throws {
        let result = try CLI.run(["diagnose", "--provider", "facebook", "--token-env", "FB", "--sandbox"],
                                 environment: ["LD_DEBUG": "files", "FB": "sbx-fb-expired"])
        XCTAssertTrue(result.stdoutText.contains("verdict: failure"), result.summary)
        XCTAssertTrue(loadedObjects(result).contains("libcurl.so.4"), result.summary)
        XCTAssertFalse(loadedObjects(result).contains("libpq"), result.summary)
    }

    func testAMissingLibcurlIsAOneLineErrorWithStatus69() throws {
        let result = try CLI.run(["diagnose", "--provider", "facebook", "--token-env", "FB", "--sandbox"],
                                 environment: ["AUTHDOCTOR_LIBCURL": "/nonexistent/libcurl.so.4", "FB": "sbx-fb-expired"])
        assertOneLineError(result, status: 69, mentions: ["libcurl could not be loaded", "/nonexistent/libcurl.so.4", "apt-get install libcurl4"])
        XCTAssertTrue(result.stdoutText.isEmpty, result.summary)
        // A file that is a library but not libcurl says which function it lacks.
        let directory = try makeTemporaryDirectory(self)
        let connections = try write("connections:\n  - name: a\n    provider: facebook\n    token-env: FB\n", to: directory, "connections.yaml").path
        let wrong = try CLI.run(["check", "--connections", connections, "--sandbox"],
                                environment: ["AUTHDOCTOR_LIBCURL": "libc.so.6", "FB": "sbx-fb-expired"])
        assertOneLineError(wrong, status: 69, mentions: ["libc.so.6 has no curl_global_init"])
    }

    func testClassifyNeedsNoLibcurl() throws {
        let result = try CLI.run(["classify", "--text", "HTTP 401 Unauthorized: invalid_grant"],
                                 environment: ["AUTHDOCTOR_LIBCURL": "/nonexistent/libcurl.so.4", "AUTHDOCTOR_LIBPQ": "/nonexistent/libpq.so.5"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stdoutText.contains("verdict: failure"), result.summary)
    }

    func testAMissingLibpqIsAOneLineErrorWithStatus69() throws {
        let environment = ["AUTHDOCTOR_LIBPQ": "/nonexistent/libpq.so.5"]
        let diagnosis = try CLI.run(["diagnose", "--provider", "postgres", "--url", "postgres://loader@127.0.0.1:1/prod"], environment: environment)
        assertOneLineError(diagnosis, status: 69, mentions: ["libpq could not be loaded", "/nonexistent/libpq.so.5", "apt-get install libpq5"])
        let store = try CLI.run(["links", "list", "--db", "postgres://storeowner@127.0.0.1:1/x"], environment: environment)
        assertOneLineError(store, status: 69, mentions: ["libpq could not be loaded"])
    }
}
