import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import XCTest

/// Runs the real built `authdoctor` binary.
enum CLI {
    static var binary: URL { TestPaths.authdoctorBinary }

    /// One Sandbox Facebook connection whose token and app secret come from FB_TOKEN and FB_SECRET
    /// (`sbx-fb-healthy` / `sbx-fb-expired`, `sbx-fb-app-secret`): the notify tests' connections file.
    static let sandboxFacebookConnection = """
        connections:
          - name: shop-fb
            provider: facebook
            token-env: FB_TOKEN
            client-id: "5550001112223"
            client-secret-env: FB_SECRET
        """

    static func run(_ arguments: [String], stdin: String? = nil, noColor: Bool = true, environment: [String: String?] = [:],
                    in directory: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary.path), "built binary at \(binary.path)", file: file, line: line)
        let result = try ProcessRunner.run(binary, arguments, stdin: stdin.map { Data($0.utf8) }, noColor: noColor,
                                           environment: environment, currentDirectory: directory, timeout: 120)
        XCTAssertFalse(result.timedOut, "timed out: \(result.summary)", file: file, line: line)
        XCTAssertFalse(result.signaled, "crashed: \(result.summary)", file: file, line: line)
        return result
    }

    static func fixture(_ relative: String) -> String { TestPaths.fixturesDirectory + "/" + relative }

    static let repoRules = ["--no-builtin-rules", "--rules", TestPaths.rulesDirectory]
}

/// Exit 0, nothing on stderr.
func assertSuccess(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
    XCTAssertEqual(result.stderrText, "", "stderr stays empty on success: \(result.summary)", file: file, line: line)
}

/// The contract for bad input: the sysexits status, nothing on stdout, and exactly one stderr line
/// "authdoctor: ..." naming what (and where) — never a stack trace.
func assertOneLineError(_ result: ProcessResult, status: Int32, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.status, status, result.summary, file: file, line: line)
    XCTAssertEqual(result.stdoutText, "", "nothing on stdout: \(result.summary)", file: file, line: line)
    XCTAssertTrue(result.stderrText.hasSuffix("\n"), "the error line ends with a newline: \(result.summary)", file: file, line: line)
    XCTAssertEqual(result.stderrLines.count, 1, "exactly one stderr line: \(result.summary)", file: file, line: line)
    let message = result.stderrLines.first ?? ""
    XCTAssertTrue(message.hasPrefix("authdoctor: "), message, file: file, line: line)
    for needle in mentions {
        XCTAssertTrue(message.contains(needle), "the error names \(needle): \(message)", file: file, line: line)
    }
    for trace in ["Fatal error", "Stack dump", "stack trace", "Backtrace", "Thread 0", ".swift:", "Swift runtime failure"] {
        XCTAssertFalse(result.stderrText.contains(trace), "no crash output: \(result.summary)", file: file, line: line)
    }
}

/// Parses stdout as one JSON document and checks it against schema/report.schema.json.
@discardableResult
func assertReportJSON(_ text: String, _ context: String = "", file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
    let doc: JSONValue
    do {
        doc = try JSON.parse(text)
    } catch {
        XCTFail("\(context): not JSON (\(error)):\n\(text.prefix(1500))", file: file, line: line)
        throw error
    }
    XCTAssertFalse(hasDuplicateKeys(doc), "\(context): an object repeats a member", file: file, line: line)
    let issues = try JSONSchemaValidator.reportSchema().validate(doc)
    XCTAssertEqual(issues, [], "\(context): " + issues.map(\.description).joined(separator: "\n") + "\n" + String(text.prefix(3000)),
                   file: file, line: line)
    return doc
}


/// A fresh temporary directory, removed after the test.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

@discardableResult
func write(_ text: String, to directory: URL, _ relative: String) throws -> URL {
    let url = directory.appendingPathComponent(relative)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
    return url
}

/// A local rules folder (with its sibling fixtures/ folder) holding one good rule and its examples.
enum LocalRules {
    static let remediations = """
    remediations:
      - id: verify-credentials
        title: Check the credentials
        doc: fix-authentication-errors 1.1
        issues-link: false
        steps:
          - Check them against the provider console.
    """

    static let goodRule = """
    id: local.unauthorized
    category: source
    failure: credentials
    severity: error
    when:
      http.status: 401
    summary: The server said 401.
    remediation: [verify-credentials]
    examples:
      match: [generic/401.http]
      no-match: [generic/500.http]
    """

    /// Line 7: a bad regular expression; line 10: an unknown key.
    static let badRule = """
    id: local.bad
    category: source
    failure: credentials
    severity: error
    when:
      http.status: 401
      text: { matches: "(unclosed" }
    summary: Bad.
    remediation: [verify-credentials]
    colour: red
    """

    static let response401 = "HTTP/1.1 401 Unauthorized\nContent-Type: text/plain\n\nno\n"
    static let response500 = "HTTP/1.1 500 Internal Server Error\nContent-Type: text/plain\n\noops\n"

    /// root/rules (remediations + good rule [+ extra files]) and root/fixtures/generic/{401,500}.http.
    static func make(in root: URL, extra: [String: String] = [:]) throws -> URL {
        try write(remediations, to: root, "rules/remediations.yaml")
        try write(goodRule, to: root, "rules/good.yaml")
        for (name, text) in extra { try write(text, to: root, "rules/" + name) }
        try write(response401, to: root, "fixtures/generic/401.http")
        try write(response500, to: root, "fixtures/generic/500.http")
        return root.appendingPathComponent("rules")
    }
}

func hasDuplicateKeys(_ value: JSONValue) -> Bool {
    switch value {
    case let .object(members):
        return Set(members.map(\.0)).count != members.count || members.contains { hasDuplicateKeys($0.1) }
    case let .array(items):
        return items.contains(where: hasDuplicateKeys)
    default:
        return false
    }
}

/// `authdoctor serve ...` as a child process, up and listening: its URL is read from the first
/// stderr line. The caller terminates it (SIGTERM) or lets `stop()` do it.
final class ServeProcess {
    let process = Process()
    let stderr = Pipe()
    /// http://127.0.0.1:PORT
    private(set) var url = ""
    /// What it wrote on stderr so far.
    private(set) var log = ""

    init(_ arguments: [String], environment: [String: String] = [:], binary: URL = CLI.binary,
         file: StaticString = #filePath, line: UInt = #line) throws {
        process.executableURL = binary
        process.arguments = ["serve"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        let waitForMetrics = arguments.contains("--metrics-listen")
        while !log.contains("Ctrl-C stops it") || (waitForMetrics && !log.contains("metrics on http")), Date() < deadline {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        url = try XCTUnwrap(log.range(of: #"listening on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression)
            .map { String(log[$0].dropFirst("listening on ".count)) }, log, file: file, line: line)
    }

    /// The separate metrics listener's URL (`--metrics-listen`), e.g. http://127.0.0.1:PORT/metrics.
    var metricsURL: String? {
        log.range(of: #"metrics on http://[0-9.]+:[0-9]+/metrics"#, options: .regularExpression)
            .map { String(log[$0].dropFirst("metrics on ".count)) }
    }

    /// SIGTERM, then everything it wrote on stderr.
    @discardableResult
    func stop() -> String {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        log += String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return log
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// `authdoctor sandbox --port 0` as a process of its own (one test provider shared by several
/// `serve` instances); its URL is read from the line it prints on start.
final class SandboxProcess {
    let process = Process()
    let stdout = Pipe()
    private(set) var url = ""

    init(file: StaticString = #filePath, line: UInt = #line) throws {
        process.executableURL = CLI.binary
        process.arguments = ["sandbox", "--port", "0"]
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        var printed = ""
        let deadline = Date().addingTimeInterval(30)
        while !printed.contains("Ctrl-C stops it"), Date() < deadline {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        url = try XCTUnwrap(printed.range(of: #"on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression)
            .map { String(printed[$0].dropFirst("on ".count)) }, printed, file: file, line: line)
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { if process.isRunning { process.terminate() } }
}
