import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import Probe
import RuleEngine
import XCTest

/// A fake provider on 127.0.0.1: answers `METHOD /path` (query ignored) with a fixture, raw bytes,
/// a delay, or a black hole. The route "*" answers every other request; without it, unknown routes
/// get a 404 JSON body (which a test would notice).
final class FakeProvider: @unchecked Sendable {
    enum Route: Sendable {
        /// A fixture under fixtures/, sent as recorded (status, headers, body) over HTTP/1.1.
        case fixture(String)
        /// Status, headers and body.
        case answer(Int, [(String, String)], String)
        /// Bytes as they are (then the connection closes).
        case raw(String)
        /// The route after a pause.
        indirect case delayed(Double, Route)
        /// Accept, read, never answer.
        case blackHole
    }

    let server: LoopbackServer
    var baseURL: String { server.baseURL }

    init(_ routes: [String: Route]) throws {
        func bytes(_ route: Route) throws -> [UInt8]? {
            switch route {
            case let .fixture(path): return Self.wire(try TestPaths.fixture(path))
            case let .answer(status, headers, body):
                var head = "HTTP/1.1 \(status) \(LoopbackAction.reasonPhrase(status))\r\n"
                for (n, v) in headers { head += "\(n): \(v)\r\n" }
                head += "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
                return Array((head + body).utf8)
            case let .raw(text): return Array(text.utf8)
            case let .delayed(_, inner): return try bytes(inner)
            case .blackHole: return nil
            }
        }
        var prepared: [String: (delay: Double, bytes: [UInt8]?)] = [:]
        for (key, route) in routes {
            var delay = 0.0
            if case let .delayed(d, _) = route { delay = d }
            prepared[key] = (delay, try bytes(route))
        }
        let frozen = prepared
        server = try LoopbackServer { request in
            let key = request.method + " " + request.pathOnly
            guard let entry = frozen[key] ?? frozen["*"] else {
                let body = #"{"error":"no route","route":"\#(key)"}"#
                return .respond(status: 404, headers: [("Content-Type", "application/json")], body: body)
            }
            if entry.delay > 0 { usleep(useconds_t(entry.delay * 1_000_000)) }
            guard let bytes = entry.bytes else { return .blackHole }
            return .respond(raw: bytes)
        }
    }

    deinit { server.stop() }

    var requests: [LoopbackRequest] { server.receivedRequests }

    /// A `curl -i` fixture as an HTTP/1.1 answer: the final response of the file, Content-Length recomputed.
    static func wire(_ fixture: String) -> [UInt8] {
        let text = fixture.replacingOccurrences(of: "\r\n", with: "\n")
        // The last response of a chain: the last block that starts with a status line.
        var blocks = text.components(separatedBy: "\nHTTP/")
        let last = blocks.count > 1 ? "HTTP/" + blocks.removeLast() : text
        let split = last.range(of: "\n\n")
        let head = split.map { String(last[..<$0.lowerBound]) } ?? last
        var body = split.map { String(last[$0.upperBound...]) } ?? ""
        if body.hasSuffix("\n") { body.removeLast() }
        var lines = head.split(separator: "\n").map(String.init)
        let statusParts = lines.removeFirst().split(separator: " ")
        let status = Int(statusParts.count > 1 ? statusParts[1] : "200") ?? 200
        var out = "HTTP/1.1 \(status) \(LoopbackAction.reasonPhrase(status))\r\n"
        for line in lines {
            let lower = line.lowercased()
            if lower.hasPrefix("content-length:") || lower.hasPrefix("transfer-encoding:") || lower.hasPrefix("connection:")
                || lower.hasPrefix("content-encoding:") { continue }
            out += line + "\r\n"
        }
        out += "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        return Array(out.utf8)
    }
}

/// Runs diagnoses against the repository's rules and provider definitions (not the built-in copy).
enum Diag {
    static var providersDirectory: String { TestPaths.rulesDirectory + "/providers" }

    static func definition(_ provider: String) throws -> ProviderDefinition {
        try ProviderLibrary.definition(for: provider, includeBuiltin: false, directories: [providersDirectory])
    }

    static func runner(_ provider: String, at baseURL: String?, credentials: DiagnosisCredentials,
                       options: DiagnosisOptions = DiagnosisOptions()) throws -> DiagnosisRunner {
        var options = options
        if let baseURL { options.baseURLOverrides.append((provider, baseURL)) }
        return try DiagnosisRunner(definition: definition(provider), credentials: credentials, options: options, engine: Repo.engine())
    }

    static func run(_ provider: String, at baseURL: String?, credentials: DiagnosisCredentials,
                    options: DiagnosisOptions = DiagnosisOptions()) throws -> Diagnosis {
        try runner(provider, at: baseURL, credentials: credentials, options: options).run()
    }

    /// Every output format of a report, as the CLI writes them.
    static func renderings(_ report: Report) -> [String: String] {
        ["json": JSONReportWriter().render(report, pretty: true),
         "jsonl": JSONReportWriter().render(report),
         "text": TextReportRenderer(color: false).render(report),
         "color": TextReportRenderer(color: true).render(report),
         "markdown": MarkdownReportRenderer().render(report),
         "brief": BriefReportRenderer().render(report)]
    }
}

/// The first finding's failure class, or "none" for a healthy diagnosis.
func topFailure(_ d: Diagnosis) -> String {
    d.report.verdict == .ok ? "none" : (d.report.findings.first?.failure ?? "none")
}

func summary(_ d: Diagnosis) -> String {
    var lines = ["verdict \(d.report.verdict.rawValue), exit \(d.exitStatus)"]
    for f in d.report.findings { lines.append("  \(f.severity) \(f.failure) \(f.rule) (\(f.confidence)): \(f.summary)") }
    for p in d.probes {
        lines.append("  probe \(p.step) \(p.outcome.rawValue) \(p.status.map(String.init) ?? "-") curl \(p.curlCode.map(String.init) ?? "-") \(p.note ?? "")")
    }
    return lines.joined(separator: "\n")
}

final class DiagnosisHarnessTests: XCTestCase {
    func testFakeProviderReplaysAFixtureOverHTTP11() throws {
        let fake = try FakeProvider(["GET /v23.0/me": .fixture("sandbox/facebook/me.http")])
        let result = Prober().perform(ProbeRequest(url: fake.baseURL + "/v23.0/me?fields=id"))
        XCTAssertEqual(result.status, 200)
        XCTAssertEqual(result.header("facebook-api-version"), "v23.0")
        XCTAssertTrue(result.bodyText.contains("FAKE Client Marketer"), result.bodyText)
        let missing = Prober().perform(ProbeRequest(url: fake.baseURL + "/nowhere"))
        XCTAssertEqual(missing.status, 404)
    }
}
