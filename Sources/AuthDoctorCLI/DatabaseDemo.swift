import Diagnose
import EvidenceModel
import Foundation

/// The PostgreSQL connections of `authdoctor demo`: real logins against the throwaway server of
/// scripts/pg-test-server.sh (`make demo` and `make test` start one), found through
/// AUTHDOCTOR_PG_TEST_PORT and the per-run role passwords. Without a reachable server the demo
/// says so in its table instead.
struct DatabaseDemo {
    struct Connection {
        var id: String
        var expect: String
        var target: DatabaseTarget
    }

    struct Row {
        var id: String
        var expect: String
        var diagnosis: Diagnosis
        var found: String { diagnosis.report.verdict == .ok ? "none" : (diagnosis.report.findings.first?.failure ?? "none") }
        var asExpected: Bool { found == expect }
    }

    enum Outcome {
        case rows([Row])
        /// Why there are no PostgreSQL rows.
        case unavailable(String)
    }

    static let hint = "no PostgreSQL test server: `make demo` starts one (scripts/pg-test-server.sh), or export AUTHDOCTOR_PG_TEST_PORT and AUTHDOCTOR_PG_TEST_{LOADER,READER,BLOCKED}_PASSWORD"

    /// The demo connections, or why there are none.
    static func connections(environment: [String: String], timeout: Double) -> Result<[Connection], DemoUnavailable> {
        guard let portText = environment["AUTHDOCTOR_PG_TEST_PORT"], let port = Int(portText),
              let loader = environment["AUTHDOCTOR_PG_TEST_LOADER_PASSWORD"], let reader = environment["AUTHDOCTOR_PG_TEST_READER_PASSWORD"],
              let blocked = environment["AUTHDOCTOR_PG_TEST_BLOCKED_PASSWORD"] else {
            return .failure(DemoUnavailable(reason: hint))
        }
        let host = environment["AUTHDOCTOR_PG_TEST_HOST"] ?? "127.0.0.1"
        func target(_ user: String, _ password: String, database: String = "dw", port p: Int = port) -> DatabaseTarget {
            DatabaseTarget(provider: "postgres", host: host, port: p, user: user, database: database, schema: "analytics",
                           table: "events", password: password, tls: .prefer, timeout: timeout)
        }
        var list = [
            Connection(id: "postgres-healthy", expect: "none", target: target("loader", loader)),
            Connection(id: "postgres-wrong-password", expect: "credentials", target: target("loader", "not-the-password-\(UInt32.random(in: 1000...9999))")),
            Connection(id: "postgres-pg-hba-reject", expect: "network-policy", target: target("blocked", blocked)),
            Connection(id: "postgres-missing-database", expect: "configuration", target: target("loader", loader, database: "dw_missing")),
            Connection(id: "postgres-no-create-insert", expect: "permissions", target: target("reader", reader)),
        ]
        if let closed = closedLoopbackPort() {
            var t = target("loader", loader, port: closed)
            t.host = "127.0.0.1"
            list.append(Connection(id: "postgres-closed-port", expect: "connectivity", target: t))
        }
        return .success(list)
    }

    struct DemoUnavailable: Error {
        var reason: String
    }

    static func run(engine: ClassifyEngine, timeout: Double, only: String?,
                    environment: [String: String] = ProcessInfo.processInfo.environment) -> Outcome {
        if let only, !(only.hasPrefix("postgres") || "postgres-".hasPrefix(only)) { return .rows([]) }
        let all: [Connection]
        switch connections(environment: environment, timeout: timeout) {
        case let .failure(why): return .unavailable(why.reason)
        case let .success(list): all = list
        }
        let chosen = all.filter { only == nil || $0.id.hasPrefix(only!) }
        guard !chosen.isEmpty else { return .rows([]) }
        var rows: [Row] = []
        for connection in chosen {
            guard let runner = try? DatabaseDiagnosisRunner(target: connection.target, engine: engine) else { continue }
            let row = Row(id: connection.id, expect: connection.expect, diagnosis: runner.run())
            // The healthy connection doubles as the reachability check.
            if connection.id == "postgres-healthy", row.diagnosis.probes.first?.outcome == .transportError {
                let t = connection.target
                return .unavailable("no PostgreSQL server reachable at \(t.host):\(t.port) (\(row.diagnosis.probes.first?.note ?? "no answer"))")
            }
            rows.append(row)
        }
        return .rows(rows)
    }

    /// Table rows in the layout of DemoCommand.table, or one line saying why there are none.
    static func table(_ outcome: Outcome, idWidth: Int, color: Bool) -> String {
        switch outcome {
        case let .unavailable(reason):
            return DemoTable.pad("postgres-*", idWidth) + DemoTable.pad("skipped", 10) + reason + "\n"
        case let .rows(rows):
            return rows.map {
                DemoTable.row(id: $0.id, report: $0.diagnosis.report, found: $0.found, expect: $0.expect,
                              asExpected: $0.asExpected, idWidth: idWidth, color: color)
            }.joined()
        }
    }

    /// A loopback port nothing listens on (bound, then closed at once).
    static func closedLoopbackPort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
