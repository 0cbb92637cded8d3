import AuthDoctorTestSupport
import Foundation
import Probe
import XCTest

/// Real libcurl transfers against servers on 127.0.0.1 (plus one DNS lookup of a `.invalid` name).
final class ProbeTests: XCTestCase {
    private let prober = Prober()

    private func server(_ handler: @escaping @Sendable (LoopbackRequest) -> LoopbackAction) throws -> LoopbackServer {
        let server = try LoopbackServer(handler: handler)
        addTeardownBlock { server.stop() }
        return server
    }

    private func tlsEndpoint() throws -> TLSTestEndpoint {
        do {
            let endpoint = try TLSTestEndpoint()
            addTeardownBlock { endpoint.stop() }
            return endpoint
        } catch TLSTestEndpointError.opensslMissing {
            throw XCTSkip(TLSTestEndpointError.opensslMissing.description)
        }
    }

    private func assertSaneTimings(_ r: ProbeResult, file: StaticString = #filePath, line: UInt = #line) {
        let t = r.timings
        for value in [t.dnsSeconds, t.connectSeconds, t.tlsSeconds, t.firstByteSeconds, t.totalSeconds, t.redirectSeconds] {
            XCTAssertGreaterThanOrEqual(value, 0, file: file, line: line)
        }
        XCTAssertGreaterThanOrEqual(t.totalSeconds, t.connectSeconds, file: file, line: line)
        XCTAssertGreaterThanOrEqual(t.totalSeconds, t.firstByteSeconds, file: file, line: line)
    }

    // MARK: responses

    func testOKResponseWithHeadersAndBody() throws {
        let srv = try server { _ in
            .respond(status: 200, headers: [("Content-Type", "application/json"), ("X-Request-Id", "abc-123")],
                     body: #"{"ok":true}"#)
        }
        let r = prober.perform(ProbeRequest(url: srv.baseURL + "/v1/me?x=1"))
        XCTAssertEqual(r.curlCode, 0)
        XCTAssertEqual(r.curlName, "CURLE_OK")
        XCTAssertEqual(r.curlMessage, "")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.httpVersion, "1.1")
        XCTAssertEqual(r.header("content-type"), "application/json")
        XCTAssertEqual(r.header("X-REQUEST-ID"), "abc-123")
        XCTAssertEqual(r.bodyText, #"{"ok":true}"#)
        XCTAssertFalse(r.bodyTruncated)
        XCTAssertEqual(r.bodyBytesReceived, 11)
        XCTAssertEqual(r.primaryIP, "127.0.0.1")
        XCTAssertEqual(r.primaryPort, srv.port)
        XCTAssertEqual(r.effectiveURL, srv.baseURL + "/v1/me?x=1")
        XCTAssertTrue(r.redirects.isEmpty)
        XCTAssertFalse(r.tls.used)
        XCTAssertFalse(r.tls.verified)
        XCTAssertTrue(r.completed)
        XCTAssertNil(r.transportError)
        assertSaneTimings(r)
        XCTAssertGreaterThan(r.timings.totalSeconds, 0)
        XCTAssertTrue(r.log.contains { $0.hasPrefix("connected to 127.0.0.1:\(srv.port) in ") }, "\(r.log)")
        XCTAssertTrue(r.log.contains { $0.hasPrefix("HTTP 200 (HTTP/1.1)") }, "\(r.log)")
        XCTAssertEqual(srv.receivedRequests.first?.path, "/v1/me?x=1")
        XCTAssertEqual(srv.receivedRequests.first?.method, "GET")
    }

    func testMethodHeadersAndBodyAreSent() throws {
        let srv = try server { req in .respond(status: 201, body: req.method + " " + String(decoding: req.body, as: UTF8.self)) }
        let body = Array("grant_type=refresh_token&x=\u{0}y".utf8)
        let r = prober.perform(ProbeRequest(
            method: "PUT", url: srv.baseURL + "/token",
            headers: [HTTPHeader("Authorization", "Bearer t0k3n"), HTTPHeader("X-Empty", "")],
            body: body))
        XCTAssertEqual(r.status, 201)
        XCTAssertEqual(r.body, Array("PUT ".utf8) + body)
        let seen = try XCTUnwrap(srv.receivedRequests.first)
        XCTAssertEqual(seen.method, "PUT")
        XCTAssertEqual(seen.body, body)
        XCTAssertEqual(seen.header("authorization"), "Bearer t0k3n")
        XCTAssertEqual(seen.header("x-empty"), "")
        XCTAssertNil(seen.header("expect"))
        XCTAssertEqual(seen.header("content-length"), String(body.count))

        let post = prober.perform(ProbeRequest(method: "POST", url: srv.baseURL + "/p"))
        XCTAssertEqual(post.bodyText, "POST ")
        XCTAssertEqual(srv.receivedRequests.last?.header("content-length"), "0")

        let head = prober.perform(ProbeRequest(method: "HEAD", url: srv.baseURL + "/h"))
        XCTAssertEqual(head.curlCode, 0)
        XCTAssertEqual(head.status, 201)
        XCTAssertEqual(head.body, [])
        XCTAssertEqual(srv.receivedRequests.last?.method, "HEAD")
    }

    func testUnauthorizedCapturesWWWAuthenticate() throws {
        let challenge = #"Bearer realm="api", error="invalid_token", error_description="The access token expired""#
        let srv = try server { _ in
            .respond(status: 401, headers: [("WWW-Authenticate", challenge), ("Content-Type", "application/json")],
                     body: #"{"error":"invalid_token"}"#)
        }
        let r = prober.perform(ProbeRequest(url: srv.baseURL + "/userinfo"))
        XCTAssertEqual(r.curlCode, 0, "an HTTP error status is not a transport error")
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.header("www-authenticate"), challenge)
        XCTAssertEqual(r.bodyText, #"{"error":"invalid_token"}"#)
        XCTAssertTrue(r.log.contains { $0.hasPrefix("HTTP 401") }, "\(r.log)")
    }

    func testRawResponseWithRepeatedHeadersAndFolding() throws {
        let raw = "HTTP/1.1 403 Forbidden\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Folded: one\r\n  two\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
        let srv = try server { _ in .respond(rawText: raw) }
        let r = prober.perform(ProbeRequest(url: srv.baseURL))
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(r.headerValues("set-cookie"), ["a=1", "b=2"])
        XCTAssertEqual(r.header("x-folded"), "one two")
        XCTAssertEqual(r.bodyText, "nope")
    }

    func testGzipBodyIsDecoded() throws {
        let gzipped: [UInt8] = [31, 139, 8, 0, 0, 0, 0, 0, 2, 255, 171, 86, 74, 45, 42, 202, 47, 82, 178, 82, 202, 204,
                                43, 75, 204, 201, 76, 137, 79, 47, 74, 204, 43, 81, 170, 5, 0, 146, 184, 106, 0, 25, 0, 0, 0]
        let srv = try server { _ in .respond(status: 400, headers: [("Content-Encoding", "gzip")], body: gzipped) }
        let r = prober.perform(ProbeRequest(url: srv.baseURL))
        XCTAssertTrue(srv.receivedRequests.first?.header("accept-encoding")?.contains("gzip") ?? false)
        XCTAssertEqual(r.curlCode, 0)
        XCTAssertEqual(r.bodyText, #"{"error":"invalid_grant"}"#)
    }

    func testBodyIsCappedAndTransferCompletes() throws {
        let big = (0..<100_000).map { UInt8($0 % 251) }
        let srv = try server { _ in .respond(status: 200, body: big) }
        let r = prober.perform(ProbeRequest(url: srv.baseURL, maxBodyBytes: 1000))
        XCTAssertEqual(r.curlCode, 0)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.bodyTruncated)
        XCTAssertEqual(r.body.count, 1000)
        XCTAssertEqual(r.body, Array(big.prefix(1000)))
        XCTAssertEqual(r.bodyBytesReceived, 100_000)
        XCTAssertTrue(r.log.contains("body truncated to 1000 of 100000 bytes"), "\(r.log)")

        let exact = prober.perform(ProbeRequest(url: srv.baseURL, maxBodyBytes: 100_000))
        XCTAssertFalse(exact.bodyTruncated)
        XCTAssertEqual(exact.body, big)
    }

    // MARK: redirects

    func testRedirectChainIsRecorded() throws {
        let srv = try server { req in
            let host = req.header("host") ?? ""
            switch req.pathOnly {
            case "/a": return .respond(status: 302, headers: [("Location", "/b?code=SECRET123&state=s")])
            case "/b": return .respond(status: 301, headers: [("Location", "http://\(host)/c")])
            case "/c": return .respond(status: 200, body: "done")
            default: return .respond(status: 404)
            }
        }
        let r = prober.perform(ProbeRequest(url: srv.baseURL + "/a", followRedirects: true))
        XCTAssertEqual(r.curlCode, 0)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.bodyText, "done")
        XCTAssertEqual(r.redirects.map(\.status), [302, 301])
        XCTAssertEqual(r.redirects.map(\.url), [srv.baseURL + "/a", srv.baseURL + "/b?code=SECRET123&state=s"])
        XCTAssertEqual(r.redirects.map(\.location), ["/b?code=SECRET123&state=s", srv.baseURL + "/c"])
        XCTAssertEqual(r.effectiveURL, srv.baseURL + "/c")
        XCTAssertFalse(r.redirectLoop)
        XCTAssertGreaterThanOrEqual(r.timings.totalSeconds, r.timings.redirectSeconds)
        XCTAssertEqual(srv.receivedRequests.map(\.pathOnly), ["/a", "/b", "/c"])
        XCTAssertFalse(r.log.joined().contains("SECRET123"), "log lines must not carry query values: \(r.log)")
        XCTAssertTrue(r.log.contains("HTTP 302 from \(srv.baseURL)/a -> /b?…"), "\(r.log)")

        // Without following, the 302 is the final response and its target is reported.
        let once = prober.perform(ProbeRequest(url: srv.baseURL + "/a"))
        XCTAssertEqual(once.status, 302)
        XCTAssertTrue(once.redirects.isEmpty)
        XCTAssertEqual(once.header("location"), "/b?code=SECRET123&state=s")
        XCTAssertEqual(once.redirectURL, srv.baseURL + "/b?code=SECRET123&state=s")
    }

    func testRedirectLoopEndsWithTooManyRedirects() throws {
        let srv = try server { req in
            .respond(status: 302, headers: [("Location", req.pathOnly == "/x" ? "/y" : "/x")])
        }
        let r = prober.perform(ProbeRequest(url: srv.baseURL + "/x", followRedirects: true, maxRedirects: 4))
        XCTAssertEqual(r.curlCode, 47)
        XCTAssertEqual(r.curlName, "CURLE_TOO_MANY_REDIRECTS")
        XCTAssertEqual(r.transportError, "too-many-redirects")
        XCTAssertEqual(r.status, 302)
        XCTAssertEqual(r.redirects.count, 4)
        XCTAssertEqual(r.redirects.map(\.location), ["/y", "/x", "/y", "/x"])
        XCTAssertTrue(r.redirectLoop)
        XCTAssertEqual(srv.receivedRequests.count, 5)
        XCTAssertTrue(r.curlMessage.lowercased().contains("redirect"), r.curlMessage)
    }

    // MARK: transport failures

    func testConnectionRefused() {
        let port = LoopbackServer.unusedPort()
        let r = prober.perform(ProbeRequest(url: "http://127.0.0.1:\(port)/"))
        XCTAssertEqual(r.curlCode, 7)
        XCTAssertEqual(r.curlName, "CURLE_COULDNT_CONNECT")
        XCTAssertEqual(r.transportError, "refused")
        XCTAssertNil(r.status)
        XCTAssertTrue(r.headers.isEmpty)
        XCTAssertFalse(r.completed)
        XCTAssertFalse(r.curlMessage.isEmpty)
        XCTAssertTrue(r.log.contains { $0.hasPrefix("curl error 7 (CURLE_COULDNT_CONNECT)") }, "\(r.log)")
        assertSaneTimings(r)
    }

    func testBlackHoleHitsTotalTimeout() throws {
        let srv = try server { _ in .blackHole }
        let start = Date()
        let r = prober.perform(ProbeRequest(url: srv.baseURL + "/hang", totalTimeout: 1))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.curlCode, 28)
        XCTAssertEqual(r.curlName, "CURLE_OPERATION_TIMEDOUT")
        XCTAssertEqual(r.transportError, "timeout")
        XCTAssertNil(r.status)
        XCTAssertGreaterThanOrEqual(elapsed, 0.9)
        XCTAssertLessThan(elapsed, 3)
        XCTAssertGreaterThanOrEqual(r.timings.totalSeconds, 0.9)
        XCTAssertGreaterThan(r.timings.connectSeconds, 0, "TCP connect succeeded before the hang")
        assertSaneTimings(r)
    }

    func testSlowBodyIsCutAtTotalTimeout() throws {
        let srv = try server { _ in .slowBody(chunks: Array(repeating: Array("0123456789".utf8), count: 10), delay: 0.3) }
        let start = Date()
        let r = prober.perform(ProbeRequest(url: srv.baseURL, totalTimeout: 1))
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertEqual(r.curlCode, 28)
        XCTAssertEqual(r.status, 200, "headers arrived before the timeout")
        XCTAssertGreaterThan(r.body.count, 0)
        XCTAssertLessThan(r.body.count, 100)

        let fast = prober.perform(ProbeRequest(url: srv.baseURL, totalTimeout: 5))
        XCTAssertEqual(fast.curlCode, 0)
        XCTAssertEqual(fast.body.count, 100)
        XCTAssertGreaterThan(fast.timings.totalSeconds, 2.5)
        XCTAssertLessThan(fast.timings.firstByteSeconds, fast.timings.totalSeconds)
    }

    func testResetMidResponse() throws {
        let srv = try server { _ in .reset }
        let r = prober.perform(ProbeRequest(url: srv.baseURL))
        XCTAssertTrue([52, 56].contains(r.curlCode), "got \(r.curlCode) \(r.curlName): \(r.curlMessage)")
        XCTAssertEqual(r.transportError, "reset")
        XCTAssertNil(r.status)
    }

    func testUnresolvableHost() {
        // The only non-loopback traffic of the suite: one DNS lookup of a reserved .invalid name.
        let r = prober.perform(ProbeRequest(url: "http://no-such-host.invalid/", totalTimeout: 8))
        XCTAssertEqual(r.curlCode, 6, r.curlMessage)
        XCTAssertEqual(r.curlName, "CURLE_COULDNT_RESOLVE_HOST")
        XCTAssertEqual(r.transportError, "dns")
        XCTAssertNil(r.primaryIP)
        XCTAssertNil(r.status)
    }

    func testMalformedURLAndUnsupportedScheme() {
        let malformed = prober.perform(ProbeRequest(url: "http://"))
        XCTAssertEqual(malformed.curlCode, 3)
        XCTAssertEqual(malformed.curlName, "CURLE_URL_MALFORMAT")
        let ftp = prober.perform(ProbeRequest(url: "ftp://127.0.0.1:\(LoopbackServer.unusedPort())/"))
        XCTAssertEqual(ftp.curlCode, 1, "only http and https are allowed")
    }

    func testEnvironmentProxyIsIgnored() throws {
        // A proxy variable pointing at a dead port must not redirect loopback traffic.
        let dead = LoopbackServer.unusedPort()
        setenv("http_proxy", "http://127.0.0.1:\(dead)", 1)
        setenv("ALL_PROXY", "http://127.0.0.1:\(dead)", 1)
        defer { unsetenv("http_proxy"); unsetenv("ALL_PROXY") }
        let srv = try server { _ in .respond(status: 204) }
        let r = prober.perform(ProbeRequest(url: srv.baseURL))
        XCTAssertEqual(r.curlCode, 0, r.curlMessage)
        XCTAssertEqual(r.status, 204)
        XCTAssertEqual(r.primaryPort, srv.port)
    }

    // MARK: TLS

    func testSelfSignedCertificateFailsVerification() throws {
        let tls = try tlsEndpoint()
        let r = prober.perform(ProbeRequest(url: tls.baseURL + "/"))
        XCTAssertEqual(r.curlCode, 60, r.curlMessage)
        XCTAssertEqual(r.curlName, "CURLE_PEER_FAILED_VERIFICATION")
        XCTAssertEqual(r.transportError, "tls")
        XCTAssertTrue(r.tls.used)
        XCTAssertFalse(r.tls.verified)
        XCTAssertEqual(r.tls.verifyResult, 18, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT")
        XCTAssertTrue(r.tls.failure?.contains("self-signed") ?? false, r.tls.failure ?? "nil")
        XCTAssertNil(r.status)
        XCTAssertTrue(r.log.contains { $0.hasPrefix("TLS verify failed: ") }, "\(r.log)")
    }

    func testTrustedCertificateVerifies() throws {
        let tls = try tlsEndpoint()
        let r = prober.perform(ProbeRequest(url: tls.baseURL + "/", caBundlePath: tls.certificatePath))
        XCTAssertEqual(r.curlCode, 0, r.curlMessage)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.tls.used)
        XCTAssertTrue(r.tls.verified)
        XCTAssertEqual(r.tls.verifyResult, 0)
        XCTAssertNil(r.tls.failure)
        XCTAssertGreaterThan(r.timings.tlsSeconds, 0)
        XCTAssertGreaterThanOrEqual(r.timings.tlsSeconds, r.timings.connectSeconds)
        assertSaneTimings(r)
        XCTAssertTrue(r.log.contains { $0.contains("certificate verified") }, "\(r.log)")

        // Same trust anchor, name from CURLOPT_RESOLVE that is in the certificate: verified.
        let named = prober.perform(ProbeRequest(url: "https://\(TLSTestEndpoint.hostName):\(tls.port)/",
                                                caBundlePath: tls.certificatePath, resolve: [tls.resolveEntry]))
        XCTAssertEqual(named.curlCode, 0, named.curlMessage)
        XCTAssertEqual(named.primaryIP, "127.0.0.1")
        XCTAssertTrue(named.tls.verified)

        // Same trust anchor, a name the certificate does not carry: host verification rejects it.
        let wrong = prober.perform(ProbeRequest(url: "https://wrong.authdoctor.test:\(tls.port)/",
                                                caBundlePath: tls.certificatePath,
                                                resolve: ["wrong.authdoctor.test:\(tls.port):127.0.0.1"]))
        XCTAssertEqual(wrong.curlCode, 60, wrong.curlMessage)
        XCTAssertFalse(wrong.tls.verified)
    }

    func testUnreadableCABundleIsATLSError() throws {
        let tls = try tlsEndpoint()
        let r = prober.perform(ProbeRequest(url: tls.baseURL + "/", caBundlePath: "/nonexistent/authdoctor-ca.pem"))
        XCTAssertEqual(r.curlCode, 77, r.curlMessage)
        XCTAssertEqual(r.curlName, "CURLE_SSL_CACERT_BADFILE")
        XCTAssertEqual(r.transportError, "tls")
        XCTAssertFalse(r.tls.verified)
    }

    // MARK: multi interface

    func testPerformAllKeepsInputOrderAndReusesConnections() throws {
        let srv = try server { req in
            let n = Int(req.pathOnly.dropFirst()) ?? -1
            return .respond(status: n % 3 == 0 ? 200 : (n % 3 == 1 ? 401 : 503), body: "n=\(n)")
        }
        let requests = (0..<200).map { ProbeRequest(url: srv.baseURL + "/\($0)") }
        let results = prober.performAll(requests, maxConcurrent: 16)
        XCTAssertEqual(results.count, 200)
        for (i, r) in results.enumerated() {
            XCTAssertEqual(r.curlCode, 0, "request \(i): \(r.curlMessage)")
            XCTAssertEqual(r.status, i % 3 == 0 ? 200 : (i % 3 == 1 ? 401 : 503), "request \(i)")
            XCTAssertEqual(r.bodyText, "n=\(i)")
            XCTAssertEqual(r.request.url, requests[i].url)
        }
        XCTAssertEqual(srv.receivedRequests.count, 200)
        XCTAssertLessThanOrEqual(srv.acceptedConnections, 100, "the multi handle's connection cache is shared")
        XCTAssertTrue(results.contains { $0.connectionReused })
    }

    func testPerformAllMixesOutcomesAndBoundsTime() throws {
        let ok = try server { _ in .respond(status: 200, body: "ok") }
        let hole = try server { _ in .blackHole }
        let refused = LoopbackServer.unusedPort()
        var requests: [ProbeRequest] = []
        for i in 0..<30 {
            switch i % 3 {
            case 0: requests.append(ProbeRequest(url: ok.baseURL + "/\(i)"))
            case 1: requests.append(ProbeRequest(url: hole.baseURL + "/\(i)", totalTimeout: 1))
            default: requests.append(ProbeRequest(url: "http://127.0.0.1:\(refused)/\(i)"))
            }
        }
        let start = Date()
        let results = prober.performAll(requests, maxConcurrent: 10)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(results.map(\.curlCode), (0..<30).map { [0, 28, 7][$0 % 3] })
        XCTAssertEqual(results.map(\.status), (0..<30).map { $0 % 3 == 0 ? 200 : nil })
        // 10 black holes, ≤ 10 at once, 1 s each: about 1-2 s, never 10 s.
        XCTAssertLessThan(elapsed, 5)
        XCTAssertEqual(prober.performAll([], maxConcurrent: 4).count, 0)
        XCTAssertEqual(prober.performAll([ProbeRequest(url: ok.baseURL)], maxConcurrent: 0).first?.status, 200)
    }

    // MARK: async

    func testAsyncPerform() async throws {
        let srv = try server { _ in .respond(status: 401, headers: [("WWW-Authenticate", "Basic realm=\"x\"")]) }
        let r = await prober.perform(ProbeRequest(url: srv.baseURL))
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.header("www-authenticate"), "Basic realm=\"x\"")

        // Many concurrent async probes do not starve the cooperative pool (each runs on its own thread).
        let hole = try server { _ in .blackHole }
        let start = Date()
        let prober = self.prober
        let codes = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { await prober.perform(ProbeRequest(url: hole.baseURL, totalTimeout: 1)).curlCode }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(codes, Array(repeating: 28, count: 8))
        XCTAssertLessThan(Date().timeIntervalSince(start), 4)
    }

    func testAsyncPerformAll() async throws {
        let srv = try server { req in .respond(status: 200, body: req.pathOnly) }
        let requests = (0..<50).map { ProbeRequest(url: srv.baseURL + "/item\($0)") }
        let results = await prober.performAll(requests, maxConcurrent: 8)
        XCTAssertEqual(results.map(\.bodyText), (0..<50).map { "/item\($0)" })
        XCTAssertTrue(results.allSatisfy { $0.status == 200 })
    }

    func testAsyncCancellationAbortsTransfer() async throws {
        let hole = try server { _ in .blackHole }
        let prober = self.prober
        let start = Date()
        let task = Task { await prober.perform(ProbeRequest(url: hole.baseURL, totalTimeout: 20)) }
        try await Task.sleep(nanoseconds: 300_000_000)
        task.cancel()
        let r = await task.value
        XCTAssertEqual(r.curlCode, 42)
        XCTAssertEqual(r.curlName, "CURLE_ABORTED_BY_CALLBACK")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }
}
