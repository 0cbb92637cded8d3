import EvidenceModel
import Foundation
import HealthCheck
import XCTest

final class ConnectionsFileTests: XCTestCase {
    func entries(_ yaml: String) throws -> [ConnectionEntry] {
        try ConnectionsFile(path: "conns.yaml", text: yaml).connections()
    }

    func testEntriesTakeDiagnosesFlagNames() throws {
        let list = try entries("""
        connections:
          - name: shop-ads
            provider: facebook
            token-env: SHOP_TOKEN
            client-id: "5550001112223"
            client-secret-env: FB_SECRET
            expect-scopes: [ads_read, business_management]
            warn-expiry: 3d
            timeout: 4
            base-url: {facebook: "http://127.0.0.1:9"}
          - name: warehouse
            provider: postgres
            host: 127.0.0.1
            port: 5433
            user: loader
            password-env: PG_PASSWORD
            database: analytics
            tls: disable
        """)
        XCTAssertEqual(list.count, 2)
        XCTAssertNil(list[0].problem)
        XCTAssertEqual(list[0].name, "shop-ads")
        XCTAssertEqual(list[0].line, 2)
        XCTAssertEqual(list[0].settings.tokenEnv, "SHOP_TOKEN")
        XCTAssertEqual(list[0].settings.clientID, "5550001112223")
        XCTAssertEqual(list[0].settings.expectScopes, "ads_read,business_management")
        XCTAssertEqual(list[0].settings.warnExpiry, "3d")
        XCTAssertEqual(list[0].settings.timeout, 4)
        XCTAssertEqual(list[0].settings.baseURLs.map(\.name), ["facebook"])
        XCTAssertEqual(list[0].settings.environmentVariables.map(\.variable), ["SHOP_TOKEN", "FB_SECRET"])
        XCTAssertNil(list[1].problem)
        XCTAssertEqual(list[1].settings.port, 5433)
        XCTAssertEqual(list[1].settings.host, "127.0.0.1")
        XCTAssertTrue(list[1].settings.isDatabase)
    }

    func testBadEntriesNameTheEntryTheFieldAndTheLine() throws {
        let list = try entries("""
        connections:
          - name: a
            provider: facebook
            token-envv: X
          - name: b
            provider: facebook
            timeout: soon
          - provider: facebook
            token-env: X
          - name: d
            token-env: X
          - name: e
            provider: facebook
            token-env: sk-live-not-a-variable-name
          - name: a
            provider: facebook
          - just text
          - name: g
            provider: facebook
            token-env: X
            token-file: t.txt
          - name: h
            provider: facebook
            --token-env: X
        """)
        func problem(_ i: Int) -> String { list[i].problem ?? "" }
        XCTAssertTrue(problem(0).contains("entry 'a' (line 2)") && problem(0).contains("field 'token-envv'") && problem(0).contains("line 4"), problem(0))
        XCTAssertTrue(problem(1).contains("entry 'b'") && problem(1).contains("field 'timeout'") && problem(1).contains("soon"), problem(1))
        XCTAssertTrue(problem(2).contains("entry #3") && problem(2).contains("field 'name'"), problem(2))
        XCTAssertTrue(problem(3).contains("entry 'd'") && problem(3).contains("field 'provider'"), problem(3))
        XCTAssertTrue(problem(4).contains("field 'token-env'") && problem(4).contains("not an environment variable name"), problem(4))
        XCTAssertFalse(problem(4).contains("sk-live-not-a-variable-name"), "a secret pasted by mistake is not echoed: \(problem(4))")
        XCTAssertTrue(problem(5).contains("field 'name'") && problem(5).contains("already"), problem(5))
        XCTAssertTrue(problem(6).contains("entry #7") && problem(6).contains("mapping"), problem(6))
        XCTAssertTrue(problem(7).contains("entry 'g'") && problem(7).contains("token-env") && problem(7).contains("token-file"), problem(7))
        XCTAssertTrue(problem(8).contains("without the leading '--'"), problem(8))
    }

    func testAFileThatIsNotAConnectionsFileIsOneError() {
        for (yaml, needle) in [("connections: [\n  - name: a\n", "not YAML"), ("- a\n- b\n", "connections"),
                               ("hosts:\n  - a\n", "unknown key 'hosts'"), ("connections: 3\n", "list")] {
            XCTAssertThrowsError(try entries(yaml), yaml) { error in
                guard let error = error as? InputError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.exitCode, 65, yaml)
                XCTAssertTrue(error.description.contains(needle), error.description)
                XCTAssertTrue(error.description.contains("conns.yaml"), error.description)
                XCTAssertFalse(error.description.contains("\n"))
            }
        }
        XCTAssertEqual(try entries("connections:\n").count, 0)
    }

    func testDefaultsComeFromTheCommand() throws {
        var defaults = ConnectionSettings()
        defaults.timeout = 2
        defaults.warnExpiry = "1d"
        let list = try ConnectionsFile(path: "c.yaml", text: """
        connections:
          - {name: a, provider: facebook, token-env: T}
          - {name: b, provider: facebook, token-env: T, timeout: 7}
        """, defaults: defaults).connections()
        XCTAssertEqual(list.map(\.settings.timeout), [2, 7])
        XCTAssertEqual(list[0].settings.warnExpiry, "1d")
    }

    func testEveryKeyIsKnownOnce() {
        let keys = ConnectionSettings.keys.map(\.key)
        XCTAssertEqual(Set(keys).count, keys.count)
        XCTAssertFalse(keys.contains("name"))
        for key in ["provider", "token-env", "token-file", "refresh-token-env", "client-id", "client-secret-env", "developer-token-env",
                    "account-id", "expect-account", "expect-scopes", "warn-expiry", "timeout", "base-url", "service-account-file",
                    "host", "port", "user", "database", "schema", "table", "password-env", "password-file", "tls", "url"] {
            XCTAssertTrue(keys.contains(key), key)
        }
    }
}

final class FastReaderTests: XCTestCase {
    /// What an entry came to, comparable across the two readers.
    func summary(_ entries: [ConnectionEntry]) -> [String] {
        entries.map { e in
            let s = e.settings
            let texts = ConnectionSettings.textKeys.map { "\($0.key)=\(s[keyPath: $0.path] ?? "-")" }.joined(separator: ";")
            return "\(e.index)|\(e.name)|\(e.line)|\(e.problem ?? "ok")|\(texts)|\(s.timeout)|\(s.port.map(String.init) ?? "-")|\(s.warnExpiry)|"
                + s.baseURLs.map { "\($0.name)=\($0.url)" }.joined(separator: ",")
        }
    }

    func assertSameEntries(_ yaml: String, fast expectFast: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        var fast = ConnectionsFile(path: "c.yaml", text: yaml)
        fast.fastReader = true
        var slow = fast
        slow.fastReader = false
        XCTAssertEqual(summary(try fast.connections()), summary(try slow.connections()), file: file, line: line)
        XCTAssertEqual(FastConnectionsProbe.readsFast(yaml), expectFast, "fast path taken", file: file, line: line)
    }

    func testTheFastReaderAgreesWithYams() throws {
        try assertSameEntries("""
        # checked every ten minutes
        connections:
          - name: shop-ads
            provider: facebook
            token-env: SHOP_TOKEN
            client-id: "5550001112223"
            client-secret-env: 'FB_SECRET'
            expect-scopes: [ads_read, business_management]
            timeout: 4
            base-url: {facebook: "http://127.0.0.1:9", graph: http://127.0.0.1:10}

          # a comment between entries
          - name: typo
            provider: facebook
            token-envv: X
          - provider: facebook
          - name: shop-ads
            provider: facebook
            timeout: soon
          - name: wh
            provider: postgres
            port: 99999
        """, fast: true)
        // Shapes left to Yams give the same entries too.
        try assertSameEntries("""
        connections:
          - name: a
            provider: facebook
            expect-scopes: ads_read,business_management
            base-url:
              facebook: "http://127.0.0.1:9"
          - {name: b, provider: facebook, token-env: T}
          - name: "c \\"quoted\\""
            provider: facebook # trailing comment
        """, fast: false)
    }
}
