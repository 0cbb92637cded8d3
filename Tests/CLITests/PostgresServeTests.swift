import AuthDoctorTestSupport
import EvidenceModel
import Foundation
@testable import Links
import Probe
import XCTest

/// Issue 16, items 3 and 6 (serve): three real `authdoctor serve` processes on one PostgreSQL, and
/// the PostgreSQL server stopped and started under a running `serve`.
final class PostgresServeTests: XCTestCase {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

    var environment: [String: String] = [:]

    func freshDatabase() throws -> String {
        let env = ProcessInfo.processInfo.environment
        guard let port = env["AUTHDOCTOR_PG_TEST_PORT"], let password = env["AUTHDOCTOR_PG_TEST_STORE_PASSWORD"] else {
            throw XCTSkip("no PostgreSQL test server: run `make test` (AUTHDOCTOR_PG_TEST_PORT, AUTHDOCTOR_PG_TEST_STORE_PASSWORD)")
        }
        let base = "postgres://storeowner@127.0.0.1:\(port)/"
        let admin = try PostgresLocation(url: base + "authdoctor_store?sslmode=disable", passwordVariable: "AUTHDOCTOR_PG_TEST_STORE_PASSWORD")
        let name = "s_" + LinkSecrets.newID(prefix: "")
        try PGConnection.connect(admin.parameters).exec("CREATE DATABASE \(name)")
        addTeardownBlock {
            if let c = try? PGConnection.connect(admin.parameters) { _ = try? c.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        }
        environment = ["AUTHDOCTOR_KEY": Self.key, "PGPASSWORD": password]
        return base + name + "?sslmode=disable"
    }

    static let closingInheritedDescriptors = #"for fd in /proc/$$/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null; "#

    func cli(_ arguments: [String]) throws -> ProcessResult {
        try CLI.run(arguments, environment: environment.mapValues { Optional($0) }.merging(["AUTHDOCTOR_DB": nil, "AUTHDOCTOR_PUBLIC_URL": nil]) { $1 })
    }

    static func form(_ cookie: String?, origin: String) -> [HTTPHeader] {
        [HTTPHeader("Origin", origin), HTTPHeader("Content-Type", "application/x-www-form-urlencoded")] + (cookie.map { [HTTPHeader("Cookie", $0)] } ?? [])
    }

    /// 50 Start presses of one link spread over three instances start exactly one session; that
    /// browser then connects a source through the second instance and finishes on the third.
    func testThreeServeInstancesStartASessionExactlyOnce() throws {
        let url = try freshDatabase()
        assertSuccess(try cli(["store", "migrate", "--db", url]))
        let instances = try (0..<3).map { _ in try ServeProcess(["--sandbox", "--port", "0", "--db", url], environment: environment) }
        defer { for instance in instances { instance.stop() } }
        let bases = instances.map(\.url)

        for round in 0..<2 {
            let issued = try cli(["links", "issue", "--db", url, "--client", "Acme \(round)", "--sources", "google", "--public-url", bases[0], "--format", "json"])
            assertSuccess(issued)
            let link = try XCTUnwrap(JSON.parse(issued.stdoutText)["url"]?.stringValue)
            let token = String(link.dropFirst(bases[0].count + 3))

            let answers = Locked<[(Int, String?)]>([])
            let start = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for index in 0..<50 {
                group.enter()
                Thread.detachNewThread {
                    let base = bases[index % 3]
                    start.wait()
                    let answer = Prober().perform(ProbeRequest(method: "POST", url: "\(base)/l/\(token)/open", headers: Self.form(nil, origin: base),
                                                               body: Array("start=1".utf8)))
                    let cookie = answer.headerValues("Set-Cookie").first.map { String($0.prefix(while: { $0 != ";" })) }
                    answers.withLock { $0.append((answer.status ?? 0, cookie)) }
                    group.leave()
                }
            }
            for _ in 0..<50 { start.signal() }
            XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
            let all = answers.withLock { $0 }
            XCTAssertEqual(all.filter { $0.0 == 303 }.count, 1, "round \(round): exactly one start wins: \(all.map(\.0))")
            XCTAssertEqual(all.filter { $0.0 == 410 }.count, 49, "the others are told the link was used: \(all.map(\.0))")
            let cookie = try XCTUnwrap(all.first { $0.0 == 303 }?.1)

            // The winner's browser on the second instance: its session page, then Connect there.
            let second = bases[1], third = bases[2]
            let page = Prober().perform(ProbeRequest(url: "\(second)/l/\(token)", headers: [HTTPHeader("Cookie", cookie)]))
            XCTAssertEqual(page.status, 200, page.bodyText)
            let csrf = try XCTUnwrap(page.bodyText.range(of: #"name="csrf" value=""#).map { String(page.bodyText[$0.upperBound...].prefix(while: { $0 != "\"" })) })
            let connect = Prober().perform(ProbeRequest(method: "POST", url: "\(second)/l/\(token)/connect/google", headers: Self.form(cookie, origin: second),
                                                        body: Array("csrf=\(csrf)".utf8)))
            XCTAssertEqual(connect.status, 303, connect.bodyText)
            let approve = Prober().perform(ProbeRequest(url: try XCTUnwrap(connect.header("Location"))))
            XCTAssertEqual(approve.status, 302)
            let callback = try XCTUnwrap(approve.header("Location"))
            let back = Prober().perform(ProbeRequest(url: callback, headers: [HTTPHeader("Cookie", cookie)]))
            XCTAssertEqual(back.status, 303, back.bodyText)

            // Finish on the third instance.
            let finish = Prober().perform(ProbeRequest(method: "POST", url: "\(third)/l/\(token)/finish", headers: Self.form(cookie, origin: third),
                                                       body: Array("csrf=\(csrf)".utf8)))
            XCTAssertEqual(finish.status, 200, finish.bodyText)
            let again = Prober().perform(ProbeRequest(method: "POST", url: "\(bases[0])/l/\(token)/finish", headers: Self.form(cookie, origin: bases[0]),
                                                      body: Array("csrf=\(csrf)".utf8)))
            XCTAssertNotEqual(again.status, 200, "a second Finish, on another instance, activates nothing")
        }
        let list = try cli(["connections", "list", "--db", url, "--format", "json"])
        assertSuccess(list)
        XCTAssertEqual(try JSON.parse(list.stdoutText).arrayValue?.compactMap { $0["status"]?.stringValue }, ["active", "active"])
    }

    /// Behind a load balancer every instance has the same public URL and the OAuth app one redirect
    /// URI: a flow begun (Connect) on one instance comes back from the provider to another, and the
    /// session is finished on a third. The three share one Sandbox as their provider.
    func testOAuthFlowBegunOnOneInstanceCompletesOnAnotherAndFinishesOnAThird() throws {
        let url = try freshDatabase()
        assertSuccess(try cli(["store", "migrate", "--db", url]))
        let sandbox = try SandboxProcess()
        defer { sandbox.stop() }
        let first = try ServeProcess(["--sandbox-url", sandbox.url, "--port", "0", "--db", url], environment: environment)
        defer { first.stop() }
        let publicURL = first.url
        let others = try (0..<2).map { _ in
            try ServeProcess(["--sandbox-url", sandbox.url, "--port", "0", "--db", url, "--public-url", publicURL], environment: environment)
        }
        defer { for instance in others { instance.stop() } }
        let bases = [first.url] + others.map(\.url)

        let issued = try cli(["links", "issue", "--db", url, "--client", "Acme", "--sources", "google", "--public-url", publicURL, "--format", "json"])
        assertSuccess(issued)
        let link = try XCTUnwrap(JSON.parse(issued.stdoutText)["url"]?.stringValue)
        let token = String(link.dropFirst(publicURL.count + 3))

        let open = Prober().perform(ProbeRequest(method: "POST", url: "\(bases[0])/l/\(token)/open", headers: Self.form(nil, origin: publicURL),
                                                 body: Array("start=1".utf8)))
        XCTAssertEqual(open.status, 303, open.bodyText)
        let cookie = try XCTUnwrap(open.headerValues("Set-Cookie").first.map { String($0.prefix(while: { $0 != ";" })) })
        let page = Prober().perform(ProbeRequest(url: "\(bases[1])/l/\(token)", headers: [HTTPHeader("Cookie", cookie)]))
        XCTAssertEqual(page.status, 200, page.bodyText)
        let csrf = try XCTUnwrap(page.bodyText.range(of: #"name="csrf" value=""#).map { String(page.bodyText[$0.upperBound...].prefix(while: { $0 != "\"" })) })

        // Connect on the second instance: the provider sends the browser back to the public URL ...
        let connect = Prober().perform(ProbeRequest(method: "POST", url: "\(bases[1])/l/\(token)/connect/google", headers: Self.form(cookie, origin: publicURL),
                                                    body: Array("csrf=\(csrf)".utf8)))
        XCTAssertEqual(connect.status, 303, connect.bodyText)
        let approve = Prober().perform(ProbeRequest(url: try XCTUnwrap(connect.header("Location"))))
        XCTAssertEqual(approve.status, 302)
        let callback = try XCTUnwrap(approve.header("Location"))
        XCTAssertTrue(callback.hasPrefix(publicURL + "/oauth/callback"), callback)
        // ... which the load balancer hands to the third.
        let landed = bases[2] + callback.dropFirst(publicURL.count)
        let back = Prober().perform(ProbeRequest(url: landed, headers: [HTTPHeader("Cookie", cookie)]))
        XCTAssertEqual(back.status, 303, back.bodyText)
        let replay = Prober().perform(ProbeRequest(url: bases[1] + callback.dropFirst(publicURL.count), headers: [HTTPHeader("Cookie", cookie)]))
        XCTAssertNotEqual(replay.status, 303, "the same callback on another instance completes nothing twice")

        // Finish on the first.
        let finish = Prober().perform(ProbeRequest(method: "POST", url: "\(bases[0])/l/\(token)/finish", headers: Self.form(cookie, origin: publicURL),
                                                   body: Array("csrf=\(csrf)".utf8)))
        XCTAssertEqual(finish.status, 200, finish.bodyText)
        let list = try cli(["connections", "list", "--db", url, "--format", "json"])
        assertSuccess(list)
        XCTAssertEqual(try JSON.parse(list.stdoutText).arrayValue?.compactMap { $0["status"]?.stringValue }, ["active"])
    }

    /// The database stops under a running `serve`: link pages answer 503 with Retry-After (nothing
    /// half-done), and once it is back the same server answers again without a restart.
    func testServeAnswers503WhilePostgresRestartsAndRecovers() throws {
        let url = try freshDatabase()
        guard let cluster = ProcessInfo.processInfo.environment["AUTHDOCTOR_PG_TEST_DIR"] else {
            throw XCTSkip("AUTHDOCTOR_PG_TEST_DIR names the test cluster to stop and start (make test exports it)")
        }
        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", url], environment: environment)
        defer { serve.stop() }
        let issued = try cli(["links", "issue", "--db", url, "--client", "Acme", "--public-url", serve.url, "--format", "json"])
        assertSuccess(issued)
        let link = try XCTUnwrap(JSON.parse(issued.stdoutText)["url"]?.stringValue)
        XCTAssertEqual(Prober().perform(ProbeRequest(url: link)).status, 200)

        let script = TestPaths.packageRoot.appendingPathComponent("scripts/pg-test-server.sh").path
        func control(_ verb: String) throws {
            // Output to a file, and every inherited descriptor closed (Foundation's Process leaks the
            // pipes' ends into the child): the restarted postmaster must not hold the runner's pipe open.
            let result = try ProcessRunner.run(URL(fileURLWithPath: "/bin/bash"),
                                               ["-c", Self.closingInheritedDescriptors + "bash \"$0\" \"$1\" \"$2\" </dev/null >/dev/null 2>>\"$2-pub/control.log\"",
                                                script, verb, cluster],
                                               timeout: 60)
            XCTAssertEqual(result.status, 0, result.summary)
        }
        try control("halt")
        var resumed = false
        defer { if !resumed { try? control("resume") } }
        let down = Prober().perform(ProbeRequest(url: link))
        XCTAssertEqual(down.status, 503, down.bodyText)
        XCTAssertEqual(down.header("Retry-After"), "5")
        XCTAssertTrue(down.bodyText.contains("Nothing was changed"), down.bodyText)
        let start = Prober().perform(ProbeRequest(method: "POST", url: link + "/open", headers: Self.form(nil, origin: serve.url), body: Array("start=1".utf8)))
        XCTAssertEqual(start.status, 503, "a Start press while the database is down starts nothing")
        try control("resume")
        resumed = true

        let page = Prober().perform(ProbeRequest(url: link))
        XCTAssertEqual(page.status, 200, "the same server answers again: \(page.bodyText.prefix(300))")
        let opened = Prober().perform(ProbeRequest(method: "POST", url: link + "/open", headers: Self.form(nil, origin: serve.url), body: Array("start=1".utf8)))
        XCTAssertEqual(opened.status, 303, "the link was not used up by the refused press")
        let log = serve.stop()
        XCTAssertTrue(log.contains("store unavailable"), log)
        XCTAssertFalse(log.contains(String(link.suffix(43))), "no link token in the log")
    }
}

/// A value guarded by a lock, for results gathered from threads.
private final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
