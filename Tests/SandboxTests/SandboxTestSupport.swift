// Helpers for the Sandbox tests: a small fixtures folder written per test, a started server that
// is stopped at tear-down, and a raw socket client for byte-level checks.

import Foundation
import Probe
@testable import Sandbox
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixtures folder in the temporary directory: `sandbox/scenarios.yaml` plus fixture files.
struct TemporaryFixtures {
    let root: URL
    var path: String { root.path }
    var scenariosPath: String { root.appendingPathComponent("sandbox/scenarios.yaml").path }

    init(scenarios: String, fixtures: [String: String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-sandbox-\(UUID().uuidString)", isDirectory: true)
        try write("sandbox/scenarios.yaml", scenarios)
        for (relative, text) in fixtures { try write(relative, text) }
    }

    func write(_ relative: String, _ text: String) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

/// Recorded answers used by the test scenarios. CRLF headers as `curl -i` prints them.
enum TestFixtures {
    /// An HTTP/2 answer with framing headers the Sandbox must drop and a multi-line, non-ASCII body.
    static let facebookExpired = [
        "HTTP/2 400",
        "vary: Origin",
        "www-authenticate: OAuth \"Facebook Platform\" \"invalid_token\" \"Error validating access token: Session has expired\"",
        "content-type: application/json; charset=UTF-8",
        "transfer-encoding: chunked",
        "content-encoding: gzip",
        "content-length: 9999",
        "x-fb-trace-id: FAKEtrace01",
        "x-fb-trace-id: FAKEtrace02",
        "",
        "{\"error\":{\"message\":\"Error validating access token: Session has expired on Monday, 13-Oct-25 09:00:00 PDT.\",",
        " \"type\":\"OAuthException\",\"code\":190,\"error_subcode\":463,\"fbtrace_id\":\"FAKE-Zürich-✓\"}}",
    ].joined(separator: "\r\n") + "\r\n"

    static let debugTokenExpired = """
    HTTP/1.1 200 OK
    Content-Type: application/json

    {"data":{"app_id":"5550001112223","is_valid":false,"expires_at":1760371200,"error":{"code":190,"subcode":463}}}
    """

    static let meHealthy = """
    HTTP/1.1 200 OK
    Content-Type: application/json
    ETag: "fake-etag"

    {"id":"10000000001","name":"Sandbox User"}
    """

    /// A `curl -iL` chain: the Sandbox replays the final answer.
    static let tokenInvalidGrant = """
    HTTP/1.1 302 Found
    Location: https://oauth2.example.test/token2

    HTTP/1.1 400 Bad Request
    Content-Type: application/json
    Cache-Control: no-store

    {"error":"invalid_grant","error_description":"Token has been expired or revoked."}
    """

    static let clientCredentialsOK = """
    HTTP/1.1 200 OK
    Content-Type: application/json

    {"access_token":"sbx-issued","token_type":"Bearer","expires_in":3600}
    """

    static let hubspotTokenInfo = """
    HTTP/1.1 200 OK
    Content-Type: application/json

    {"token":"sbx-hs-ok","user":"sandbox@example.test","hub_id":1234,"scopes":["crm.objects.contacts.read"]}
    """

    static let scenarios = """
    # Scenarios for the Sandbox tests (the real file is fixtures/sandbox/scenarios.yaml).
    scenarios:
      - id: facebook-expired
        provider: facebook
        description: The user token expired (190/463).
        expect: expiry
        credentials:
          token: sbx-fb-expired
          client-id: "5550001112223"
          client-secret: sbx-app-secret
        routes:
          GET /v19.0/debug_token: facebook/debug-token-expired.http
          GET /v19.0/me: facebook/190-463-expired.http
      - id: facebook-healthy
        provider: facebook
        description: Everything works.
        expect: none
        credentials:
          token: sbx-fb-healthy
          client-id: "5550001112223"
          client-secret: sbx-app-secret
        routes:
          GET /v19.0/me: facebook/me-healthy.http
      - id: oauth2-refresh-revoked
        provider: oauth2
        description: The refresh token was revoked.
        expect: revoked
        credentials:
          refresh-token: sbx-refresh-revoked
          client-id: sbx-client-a
          client-secret: sbx-client-a-secret
        routes:
          POST /token: oauth2/token-invalid-grant.http
      - id: oauth2-client-credentials
        provider: oauth2
        description: A client-credentials grant that works.
        expect: none
        credentials:
          client-id: cc-client-7
          client-secret: sbx-cc-secret
        routes:
          POST /token: oauth2/client-credentials-ok.http
      - id: hubspot-token-in-path
        provider: hubspot
        description: HubSpot puts the token in the path.
        expect: none
        credentials:
          token: sbx-hs-ok
        routes:
          GET /oauth/v1/access-tokens/sbx-hs-ok: hubspot/token-info.http
      - id: google-outage
        provider: google
        description: Google answers 503.
        expect: outage
        credentials:
          token: sbx-google-outage
        fault: outage
      - id: google-blackhole
        provider: google
        description: Google never answers.
        expect: connectivity
        credentials:
          token: sbx-google-blackhole
        fault: blackhole
      - id: google-dns
        provider: google
        description: The host does not resolve.
        expect: connectivity
        credentials:
          token: sbx-google-dns
        fault: dns
    """

    static let files: [String: String] = [
        "facebook/190-463-expired.http": facebookExpired,
        "facebook/debug-token-expired.http": debugTokenExpired,
        "facebook/me-healthy.http": meHealthy,
        "oauth2/token-invalid-grant.http": tokenInvalidGrant,
        "oauth2/client-credentials-ok.http": clientCredentialsOK,
        "hubspot/token-info.http": hubspotTokenInfo,
    ]
}

/// Collects access-log entries from the server's threads.
final class AccessRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [SandboxAccess] = []

    func record(_ entry: SandboxAccess) {
        lock.lock()
        items.append(entry)
        lock.unlock()
    }

    var entries: [SandboxAccess] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}

class SandboxTestCase: XCTestCase {
    let prober = Prober()
    let accessLog = AccessRecorder()

    /// The test scenarios, loaded from a temporary fixtures folder.
    func makeCatalog() throws -> ScenarioCatalog {
        let fixtures = try TemporaryFixtures(scenarios: TestFixtures.scenarios, fixtures: TestFixtures.files)
        addTeardownBlock { fixtures.remove() }
        return try ScenarioCatalog.load(fixturesDirectory: fixtures.path)
    }

    /// A started Sandbox with the test scenarios, stopped at tear-down.
    func startSandbox(slowBody: SlowBodyPace = SlowBodyPace(chunkBytes: 4, interval: 0.1, chunks: 10),
                      catalog: ScenarioCatalog? = nil) throws -> SandboxServer {
        let recorder = accessLog
        let server = try SandboxServer.start(scenarios: catalog ?? makeCatalog(),
                                             options: SandboxOptions(slowBody: slowBody, accessLog: { recorder.record($0) }))
        addTeardownBlock { server.stop() }
        return server
    }

    func get(_ url: String, headers: [HTTPHeader] = [], method: String = "GET", body: String? = nil,
             totalTimeout: Double = 5, followRedirects: Bool = false) -> ProbeResult {
        prober.perform(ProbeRequest(method: method, url: url, headers: headers, body: body.map { Array($0.utf8) },
                                    connectTimeout: 2, totalTimeout: totalTimeout, followRedirects: followRedirects))
    }

    static func bearer(_ token: String) -> [HTTPHeader] { [HTTPHeader("Authorization", "Bearer \(token)")] }
}

/// A raw TCP client for checks below libcurl (exact bytes on the wire, held connections).
enum RawClient {
    static func connect(port: Int) -> Int32? {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); return nil }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends `request` and reads until the server closes (or 5 s pass).
    static func exchange(port: Int, _ request: String) -> [UInt8]? {
        guard let fd = connect(port: port) else { return nil }
        defer { close(fd) }
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { return nil }
        return readToEnd(fd)
    }

    static func readToEnd(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            out += chunk[..<n]
        }
        return out
    }

    /// Whether a plain listening socket can take 127.0.0.1:port (the port is free).
    static func canListen(port: Int) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0 && listen(fd, 1) == 0
    }
}
