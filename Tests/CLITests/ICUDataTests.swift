import AuthDoctorTestSupport
import Foundation
import XCTest

/// Issue 18: the static binaries link ICU's data trimmed by scripts/trim-icu-data.py
/// (Sources/CICUData) instead of the toolchain's 34 MB copy. The debug build these tests run uses the
/// toolchain's shared ICU, so the trimmed data is checked here on its own: linked with the toolchain's
/// static ICU into scripts/icu-data-check.c, which asks what authdoctor asks of ICU.
final class ICUDataTests: XCTestCase {
    private var root: URL { TestPaths.packageRoot }
    private var dataFile: URL { root.appendingPathComponent("Sources/CICUData/data/icudt76l.dat") }
    private var assembly: URL { root.appendingPathComponent("Sources/CICUData/icu-data.S") }

    /// The static libraries of the toolchain `swiftc` belongs to (its runtime resource path is
    /// .../usr/lib/swift; swiftly's `swift` on PATH is a proxy, so PATH alone does not tell).
    private func staticLibraries() throws -> URL {
        let info = try run("swiftc", ["-print-target-info"], in: root)
        XCTAssertEqual(info.status, 0, info.stderrText)
        let json = try JSONSerialization.jsonObject(with: info.stdout) as? [String: Any]
        let paths = try XCTUnwrap(json?["paths"] as? [String: Any], info.stdoutText)
        let resources = try XCTUnwrap(paths["runtimeResourcePath"] as? String, info.stdoutText)
        let lib = URL(fileURLWithPath: resources).deletingLastPathComponent().appendingPathComponent("swift_static")
        let archive = lib.appendingPathComponent("linux/lib_FoundationICU.a").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: archive), "no \(archive): a toolchain without static libraries")
        return lib
    }

    /// The size `nm` gives the icudt76_dat that `binary` links (nil: none).
    private func linkedDataSize(_ binary: URL) throws -> Int? {
        let symbols = try run("nm", ["-S", "--defined-only", binary.path], in: root)
        XCTAssertEqual(symbols.status, 0, symbols.stderrText)
        guard let line = symbols.stdoutLines.first(where: { $0.hasSuffix(" icudt76_dat") }) else { return nil }
        return Int(line.split(separator: " ")[1], radix: 16)
    }

    private func run(_ tool: String, _ arguments: [String], in directory: URL) throws -> ProcessResult {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), [tool] + arguments, currentDirectory: directory, timeout: 300)
    }

    /// Builds scripts/icu-data-check.c against the toolchain's static ICU, with `data` (nil: the
    /// toolchain's own, the control) and runs it.
    private func check(data: URL?) throws -> ProcessResult {
        let lib = try staticLibraries()
        let icu = lib.appendingPathComponent("linux/lib_FoundationICU.a")
        let work = try makeTemporaryDirectory(self)
        let source = root.appendingPathComponent("scripts/icu-data-check.c").path
        let compiled = try run("clang", ["-I", lib.path, "-c", source, "-o", "check.o"], in: work)
        XCTAssertEqual(compiled.status, 0, compiled.stderrText)
        var objects = ["check.o"]
        if let data {
            let folder = work.appendingPathComponent("data")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: data, to: folder.appendingPathComponent("icudt76l.dat"))
            let assembled = try run("clang", ["-I", folder.path, "-c", assembly.path, "-o", "data.o"], in: work)
            XCTAssertEqual(assembled.status, 0, assembled.stderrText)
            objects.append("data.o")
        }
        let linked = try run("clang++", objects + [icu.path, "-lpthread", "-ldl", "-o", "icu-data-check"], in: work)
        XCTAssertEqual(linked.status, 0, linked.stderrText)
        // The data checked is the data given: the toolchain's own is 34 MB, a new ICU renames the symbol.
        let size = try linkedDataSize(work.appendingPathComponent("icu-data-check"))
        if let data {
            XCTAssertEqual(size, try Data(contentsOf: data).count, "icudt76_dat in the check is not the data given")
        } else {
            XCTAssertGreaterThan(size ?? 0, 30_000_000, "the toolchain's own ICU data")
        }
        return try ProcessRunner.run(work.appendingPathComponent("icu-data-check"), [], timeout: 60)
    }

    func testTheTrimmedDataAnswersWhatAuthdoctorAsksOfICU() throws {
        let control = try check(data: nil)
        XCTAssertEqual(control.status, 0, "the checks themselves fail on the full data:\n" + control.stdoutText)
        let trimmed = try check(data: dataFile)
        XCTAssertEqual(trimmed.status, 0, trimmed.stdoutText)
        XCTAssertTrue(trimmed.stdoutText.contains("\nfails=0"), trimmed.stdoutText)
        XCTAssertFalse(trimmed.stdoutText.contains("FAIL"), trimmed.stdoutText)
    }

    /// The checks can fail: without the currency tree, ICU cannot open a date format at all.
    func testTheChecksCatchDataThatDateFormattingNeeds() throws {
        let work = try makeTemporaryDirectory(self)
        let withoutCurrency = work.appendingPathComponent("icudt76l.dat")
        let script = root.appendingPathComponent("scripts/trim-icu-data.py").path
        let written = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, "--drop", "curr", withoutCurrency.path],
                                            timeout: 120)
        XCTAssertEqual(written.status, 0, written.stderrText)
        let result = try check(data: withoutCurrency)
        XCTAssertEqual(result.status, 1, result.stdoutText)
        XCTAssertTrue(result.stdoutText.contains("FAIL date en_US_POSIX GMT [EEE, dd MMM yyyy HH:mm:ss zzz]: U_MISSING_RESOURCE_ERROR"),
                      result.stdoutText)
    }

    /// The release binary (`make release`), when there is one built after the data: it links the
    /// trimmed data, not the toolchain's, and still reads an HTTP date (FactExtractor's DateFormatter).
    func testAStaticBuildLinksTheTrimmedDataAndReadsHTTPDates() throws {
        let binary = root.appendingPathComponent(".build-static/release/authdoctor")
        let files = FileManager.default
        guard files.isExecutableFile(atPath: binary.path),
              let built = try files.attributesOfItem(atPath: binary.path)[.modificationDate] as? Date,
              let written = try files.attributesOfItem(atPath: dataFile.path)[.modificationDate] as? Date,
              built > written else {
            throw XCTSkip("no .build-static/release/authdoctor built after the ICU data (make release)")
        }
        XCTAssertEqual(try linkedDataSize(binary), try Data(contentsOf: dataFile).count)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let inAnHour = formatter.string(from: Date().addingTimeInterval(3600))
        let response = try makeTemporaryDirectory(self).appendingPathComponent("429.http")
        try Data(("HTTP/1.1 429 Too Many Requests\r\nRetry-After: \(inAnHour)\r\nContent-Type: application/json\r\n\r\n"
                  + #"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#).utf8).write(to: response)
        let result = try ProcessRunner.run(binary, ["classify", "--response", response.path, "--show-facts"],
                                           environment: ["LANG": "de_DE.UTF-8", "TZ": "Asia/Tokyo"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        let line = try XCTUnwrap(result.stdoutLines.first { $0.contains("retry_after = ") }, result.summary)
        let seconds = try XCTUnwrap(Int(line.split(separator: "=").last!.trimmingCharacters(in: .whitespaces)))
        XCTAssertTrue((3500...3600).contains(seconds), line)
    }

    /// The committed file is what the script writes from this toolchain's ICU, so it can be rebuilt
    /// and a toolchain with other ICU data is noticed.
    func testTheCommittedDataIsWhatTheScriptWritesFromThisToolchain() throws {
        let work = try makeTemporaryDirectory(self)
        let fresh = work.appendingPathComponent("icudt76l.dat")
        let script = root.appendingPathComponent("scripts/trim-icu-data.py").path
        let written = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, fresh.path], timeout: 120)
        XCTAssertEqual(written.status, 0, written.stderrText + written.stdoutText)
        XCTAssertTrue(try Data(contentsOf: fresh) == Data(contentsOf: dataFile),
                      "Sources/CICUData/data/icudt76l.dat is stale: run scripts/trim-icu-data.py Sources/CICUData/data/icudt76l.dat")
    }

    /// SwiftPM does not track .incbin's input: the assembly names the data's digest, so new data
    /// comes with an edit to the assembly, which the build does track.
    func testTheAssemblyNamesTheDigestOfTheDataItIncludes() throws {
        let digest = try run("sha256sum", [dataFile.path], in: root)
        XCTAssertEqual(digest.status, 0, digest.stderrText)
        let sum = String(digest.stdoutText.prefix(64))
        let text = try String(contentsOf: assembly, encoding: .utf8)
        XCTAssertTrue(text.contains("data/icudt76l.dat sha256 \(sum)"), "icu-data.S must name sha256 \(sum)")
    }
}
