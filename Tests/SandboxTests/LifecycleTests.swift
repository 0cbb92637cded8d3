import Foundation
import Probe
@testable import Sandbox
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Start-up, ports, and a stop() that ends everything quickly.
final class LifecycleTests: SandboxTestCase {
    func testStopReleasesEveryPort() throws {
        let catalog = try makeCatalog()
        let sandbox = try SandboxServer.start(scenarios: catalog)
        let ports = [sandbox.port] + SandboxFault.allCases.compactMap { fault -> Int? in
            guard fault != .dns, let url = URL(string: sandbox.faultURL(fault)) else { return nil }
            return url.port
        }
        XCTAssertEqual(ports.count, 9)
        XCTAssertEqual(get(sandbox.baseURL + "/healthz").status, 200)
        for port in ports { XCTAssertFalse(RawClient.canListen(port: port), "port \(port) is taken while running") }

        sandbox.stop()
        XCTAssertEqual(get(sandbox.baseURL + "/healthz").curlCode, 7, "nothing listens any more")
        for port in ports { XCTAssertTrue(RawClient.canListen(port: port), "port \(port) is free after stop()") }
        sandbox.stop()  // idempotent
    }

    func testStopEndsHeldConnectionsQuickly() throws {
        let sandbox = try SandboxServer.start(scenarios: try makeCatalog(),
                                              options: SandboxOptions(slowBody: SlowBodyPace(chunkBytes: 1, interval: 5, chunks: 100)))
        // A black-holed connection, a slow body mid-way, and an idle keep-alive connection.
        let blackhole = try XCTUnwrap(RawClient.connect(port: URL(string: sandbox.faultURL(.blackhole))!.port!))
        defer { close(blackhole) }
        let slow = try XCTUnwrap(RawClient.connect(port: URL(string: sandbox.faultURL(.slowBody))!.port!))
        defer { close(slow) }
        _ = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8).withUnsafeBytes { send(slow, $0.baseAddress, $0.count, 0) }
        let idle = try XCTUnwrap(RawClient.connect(port: sandbox.port))
        defer { close(idle) }
        usleep(200_000)

        let start = Date()
        sandbox.stop()
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "stop() does not wait for the black hole, the slow body or idle clients")
        // Every held connection has been closed by the server.
        XCTAssertTrue(RawClient.readToEnd(blackhole).isEmpty)
        XCTAssertTrue(String(decoding: RawClient.readToEnd(slow), as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
        XCTAssertTrue(RawClient.readToEnd(idle).isEmpty)
    }

    func testBlackHoleHoldsTheConnectionUntilStop() throws {
        let sandbox = try startSandbox()
        let fd = try XCTUnwrap(RawClient.connect(port: URL(string: sandbox.faultURL(.blackhole))!.port!))
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        XCTAssertEqual(n, -1, "no answer and no close within a second")
        XCTAssertTrue(errno == EAGAIN || errno == EWOULDBLOCK)
    }

    func testPortInUse() throws {
        let first = try startSandbox()
        XCTAssertThrowsError(try SandboxServer.start(scenarios: .empty, port: first.port)) { error in
            XCTAssertEqual(error as? SandboxError, .portInUse(first.port))
            XCTAssertEqual("\(error)", "port \(first.port) on 127.0.0.1 is already in use")
        }
        // The failed start left nothing behind: the first one still answers.
        XCTAssertEqual(get(first.baseURL + "/healthz").status, 200)
    }

    func testInvalidPorts() {
        for port in [-1, 65535, 65528, 70000] {
            XCTAssertThrowsError(try SandboxServer.start(scenarios: .empty, port: port)) { error in
                XCTAssertEqual(error as? SandboxError, .invalidPort(port))
            }
        }
    }

    func testFixedPortPutsFaultsOnTheFollowingPorts() throws {
        // Find a run of free ports; another program may take one, so try a few places.
        var started: SandboxServer?
        for _ in 0..<20 {
            let port = Int.random(in: 20_000...30_000)
            if let server = try? SandboxServer.start(scenarios: .empty, port: port) { started = server; break }
        }
        let sandbox = try XCTUnwrap(started, "no run of 9 free ports found")
        addTeardownBlock { sandbox.stop() }
        for fault in SandboxFault.allCases {
            XCTAssertEqual(SandboxServer.plannedFaultURL(fault, scenarioPort: sandbox.port), sandbox.faultURL(fault), "\(fault)")
        }
        XCTAssertEqual(sandbox.faultURL(.refused), "http://127.0.0.1:\(sandbox.port + 1)/")
        XCTAssertEqual(sandbox.faultURL(.tlsSelfSigned), "https://127.0.0.1:\(sandbox.port + 8)/")
        XCTAssertNil(SandboxServer.plannedFaultURL(.outage, scenarioPort: 0))
        XCTAssertEqual(get(sandbox.faultURL(.outage)).status, 503)
    }

    func testEmptyCatalogStillServesFaultsAnd401() throws {
        let sandbox = try startSandbox(catalog: .empty)
        XCTAssertEqual(get(sandbox.baseURL + "/x", headers: Self.bearer("sbx-anything")).status, 401)
        XCTAssertEqual(get(sandbox.faultURL(.rateLimit)).status, 429)
    }

    func testReleasingTheServerStopsIt() throws {
        var port = 0
        do {
            let sandbox = try SandboxServer.start(scenarios: .empty)
            port = sandbox.port
            XCTAssertEqual(get(sandbox.baseURL + "/healthz").status, 200)
        }
        XCTAssertEqual(get("http://127.0.0.1:\(port)/healthz").curlCode, 7)
    }
}
