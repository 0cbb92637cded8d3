import EvidenceModel
import Foundation
import Probe
@testable import Sandbox
import XCTest

/// Every fault of docs/PROVIDERS.md through the real libcurl path (loopback only, plus one lookup
/// of the reserved `.invalid` name).
final class FaultTests: SandboxTestCase {
    func testEveryFaultHasADistinctURL() throws {
        let sandbox = try startSandbox()
        let urls = sandbox.faultURLs.map(\.url)
        XCTAssertEqual(sandbox.faultURLs.map(\.fault), SandboxFault.allCases)
        XCTAssertEqual(Set(urls).count, SandboxFault.allCases.count, "\(urls)")
        XCTAssertEqual(sandbox.faultURL(.dns), "http://sandbox-dns-failure.invalid/")
        XCTAssertTrue(sandbox.faultURL(.tlsSelfSigned).hasPrefix("https://127.0.0.1:"))
        for (fault, url) in sandbox.faultURLs where fault != .dns {
            XCTAssertTrue(url.hasPrefix("http://127.0.0.1:") || url.hasPrefix("https://127.0.0.1:"), "\(fault): \(url)")
            XCTAssertFalse(url.contains(":\(sandbox.port)/"), "\(fault) has a listener of its own")
        }
    }

    func testRefused() throws {
        let sandbox = try startSandbox()
        let start = Date()
        let r = get(sandbox.faultURL(.refused))
        XCTAssertEqual(r.curlCode, 7, r.curlMessage)
        XCTAssertEqual(r.transportError, "refused")
        XCTAssertNil(r.status)
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.5)
        // Still refused on a second try: the port stays reserved, nobody else took it.
        XCTAssertEqual(get(sandbox.faultURL(.refused) + "v19.0/me").curlCode, 7)
    }

    func testDNSFailure() throws {
        let sandbox = try startSandbox()
        // The one lookup of the suite outside loopback: a reserved .invalid name (RFC 6761).
        let r = get(sandbox.faultURL(.dns), totalTimeout: 8)
        XCTAssertEqual(r.curlCode, 6, r.curlMessage)
        XCTAssertEqual(r.transportError, "dns")
        XCTAssertNil(r.primaryIP)
    }

    func testBlackHoleCostsOnlyTheTimeout() throws {
        let sandbox = try startSandbox()
        let start = Date()
        let r = get(sandbox.faultURL(.blackhole) + "v19.0/me", totalTimeout: 1)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.curlCode, 28, r.curlMessage)
        XCTAssertEqual(r.transportError, "timeout")
        XCTAssertNil(r.status)
        XCTAssertGreaterThan(r.timings.connectSeconds, 0, "the connection was accepted")
        XCTAssertGreaterThanOrEqual(elapsed, 0.9)
        XCTAssertLessThan(elapsed, 3)
    }

    func testResetMidResponse() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.faultURL(.reset))
        XCTAssertTrue([52, 56].contains(r.curlCode), "got \(r.curlCode) \(r.curlName): \(r.curlMessage)")
        XCTAssertEqual(r.transportError, "reset")
        XCTAssertNil(r.status)
    }

    func testSlowBodyCompletesSlowly() throws {
        // 10 chunks of 4 bytes, one every 0.1 s.
        let sandbox = try startSandbox(slowBody: SlowBodyPace(chunkBytes: 4, interval: 0.1, chunks: 10))
        let r = get(sandbox.faultURL(.slowBody), totalTimeout: 5)
        XCTAssertEqual(r.curlCode, 0, r.curlMessage)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body.count, 40)
        XCTAssertEqual(r.header("content-length"), "40")
        XCTAssertTrue(r.bodyText.hasPrefix("slow body slow body"), r.bodyText)
        XCTAssertGreaterThanOrEqual(r.timings.totalSeconds, 0.9)
        XCTAssertLessThan(r.timings.firstByteSeconds, 0.5, "headers come at once")
    }

    func testSlowBodyIsCutByTheTimeout() throws {
        let sandbox = try startSandbox(slowBody: SlowBodyPace(chunkBytes: 4, interval: 0.2, chunks: 50))
        let start = Date()
        let r = get(sandbox.faultURL(.slowBody), totalTimeout: 1)
        XCTAssertEqual(r.curlCode, 28, r.curlMessage)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertGreaterThan(r.bodyBytesReceived, 0)
        XCTAssertLessThan(r.bodyBytesReceived, 200)
    }

    func testRedirectLoop() throws {
        let sandbox = try startSandbox()
        let url = sandbox.faultURL(.redirectLoop) + "v19.0/me?x=1"
        let once = get(url)
        XCTAssertEqual(once.status, 302)
        XCTAssertEqual(once.header("location"), url, "302 to itself")

        let followed = get(url, followRedirects: true)
        XCTAssertEqual(followed.curlCode, 47, followed.curlMessage)
        XCTAssertEqual(followed.transportError, "too-many-redirects")
        XCTAssertTrue(followed.redirectLoop)
        XCTAssertEqual(followed.redirects.count, 10)
    }

    func testOutage() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.faultURL(.outage) + "v19.0/me")
        XCTAssertEqual(r.curlCode, 0)
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue(r.header("content-type")?.hasPrefix("text/html") ?? false)
        XCTAssertTrue(r.bodyText.contains("<title>503 Service Unavailable</title>"), r.bodyText)
        XCTAssertTrue(r.bodyText.contains("maintenance"))
    }

    func testRateLimit() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.faultURL(.rateLimit), method: "POST", body: "a=b")
        XCTAssertEqual(r.status, 429)
        XCTAssertEqual(r.header("retry-after"), "30")
        XCTAssertEqual(try JSON.parse(r.body)["error"]?.stringValue, "rate_limit_exceeded")
    }

    func testSelfSignedTLSIsATLSFailure() throws {
        let sandbox = try startSandbox()
        let r = get(sandbox.faultURL(.tlsSelfSigned))
        XCTAssertEqual(r.curlCode, 60, r.curlMessage)
        XCTAssertEqual(r.curlName, "CURLE_PEER_FAILED_VERIFICATION")
        XCTAssertEqual(r.transportError, "tls")
        XCTAssertTrue(r.tls.used)
        XCTAssertFalse(r.tls.verified)
        XCTAssertEqual(r.tls.verifyResult, 18, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT")
        XCTAssertNil(r.status)
        // The server saw the client refuse the certificate.
        let deadline = Date().addingTimeInterval(2)
        while !accessLog.entries.contains(where: { $0.listener == "tls-self-signed" }) && Date() < deadline { usleep(10_000) }
        let entry = accessLog.entries.first { $0.listener == "tls-self-signed" }
        XCTAssertTrue(entry?.note?.hasPrefix("TLS handshake failed") ?? false, "\(String(describing: entry))")
    }

    func testSelfSignedEndpointWorksForAClientGivenItsCertificate() throws {
        // Shows the 60 above comes from trust alone: the endpoint is real TLS, and the certificate
        // names 127.0.0.1, so a client that holds this very certificate verifies it.
        let sandbox = try startSandbox()
        let pem = sandbox.tlsCertificatePEM
        XCTAssertTrue(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-cert-\(UUID().uuidString).pem")
        try Data(pem.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = prober.perform(ProbeRequest(url: sandbox.faultURL(.tlsSelfSigned) + "anything", totalTimeout: 5,
                                            caBundlePath: file.path))
        XCTAssertEqual(r.curlCode, 0, r.curlMessage)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.tls.verified)
    }

    func testEachStartMakesANewCertificate() throws {
        let first = try startSandbox()
        let second = try startSandbox()
        XCTAssertNotEqual(first.tlsCertificatePEM, second.tlsCertificatePEM)
    }

    func testFaultsAnswerEveryPathAndMethod() throws {
        let sandbox = try startSandbox()
        for path in ["", "v19.0/me", "/double-slash", "oauth2/token?grant_type=x"] {
            XCTAssertEqual(get(sandbox.faultURL(.outage) + path).status, 503, path)
            XCTAssertEqual(get(sandbox.faultURL(.rateLimit) + path, method: "DELETE").status, 429, path)
        }
    }
}
