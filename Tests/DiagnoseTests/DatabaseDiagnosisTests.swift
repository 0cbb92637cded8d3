import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import XCTest

/// `diagnose --provider postgres|redshift` against a real PostgreSQL server over the wire protocol.
/// `make test` (and CI) starts one with scripts/pg-test-server.sh and exports
/// AUTHDOCTOR_PG_TEST_PORT and the per-run passwords; without it these tests are skipped.
final class DatabaseDiagnosisTests: XCTestCase {
    struct Server {
        var port: Int
        var loader: String
        var reader: String
        var blocked: String
        /// Admitted only without TLS (`hostnossl`) / only over TLS (`hostssl`).
        var plainOnly: String
        var tlsOnly: String
        /// The server's self-signed certificate (issued for `localhost`), and one that did not sign it.
        var caFile: String
        var otherCAFile: String
    }

    func server() throws -> Server {
        let env = ProcessInfo.processInfo.environment
        guard let portText = env["AUTHDOCTOR_PG_TEST_PORT"], let port = Int(portText) else {
            throw XCTSkip("no PostgreSQL test server: run `make test`, or `eval \"$(scripts/pg-test-server.sh start)\"` and export "
                          + "AUTHDOCTOR_PG_TEST_PORT=$PGTEST_PORT AUTHDOCTOR_PG_TEST_{LOADER,READER,BLOCKED}_PASSWORD")
        }
        func password(_ role: String) throws -> String {
            try XCTUnwrap(env["AUTHDOCTOR_PG_TEST_\(role)_PASSWORD"], "AUTHDOCTOR_PG_TEST_\(role)_PASSWORD must be set with the port")
        }
        func file(_ name: String) throws -> String {
            let path = try XCTUnwrap(env["AUTHDOCTOR_PG_TEST_\(name)"], "AUTHDOCTOR_PG_TEST_\(name) must be set with the port (scripts/pg-test-server.sh prints it)")
            XCTAssertTrue(FileManager.default.isReadableFile(atPath: path), path)
            return path
        }
        return Server(port: port, loader: try password("LOADER"), reader: try password("READER"), blocked: try password("BLOCKED"),
                      plainOnly: try password("PLAINONLY"), tlsOnly: try password("TLSONLY"),
                      caFile: try file("CA_FILE"), otherCAFile: try file("OTHER_CA_FILE"))
    }

    func diagnose(_ target: DatabaseTarget) throws -> Diagnosis {
        let diagnosis = try DatabaseDiagnosisRunner(target: target, engine: Repo.engine(), keepFacts: true).run()
        if let password = target.password { try assertNoSecret(password, in: diagnosis.report) }
        for format in ["json", "text"] {
            let rendered = format == "json" ? JSONReportWriter().render(diagnosis.report, pretty: true)
                : TextReportRenderer(color: false).render(diagnosis.report)
            if format == "json" { try assertConformsToReportSchema(rendered, "database report") }
        }
        return diagnosis
    }

    func assertNoSecret(_ secret: String, in report: Report, file: StaticString = #filePath, line: UInt = #line) throws {
        let outputs = [JSONReportWriter().render(report, pretty: true), TextReportRenderer(color: false).render(report),
                       MarkdownReportRenderer().render(report), BriefReportRenderer().render(report)]
        for output in outputs {
            XCTAssertFalse(output.contains(secret), "the password appears in a report:\n\(output)", file: file, line: line)
        }
    }

    func target(_ s: Server, user: String, password: String?, database: String = "dw", port: Int? = nil,
                schema: String? = "analytics", table: String? = "events", timeout: Double = 5,
                host: String = "127.0.0.1", tls: DatabaseTarget.TLSMode = .prefer, caFile: String? = nil) -> DatabaseTarget {
        DatabaseTarget(provider: "postgres", host: host, port: port ?? s.port, user: user, database: database,
                       schema: schema, table: table, password: password, tls: tls, tlsCAFile: caFile, timeout: timeout)
    }

    func describe(_ d: Diagnosis) -> String { JSONReportWriter().render(d.report, pretty: true) }

    // MARK: each failure class, through the wire protocol

    func testWrongPasswordIsCredentials28P01() throws {
        let s = try server()
        let d = try diagnose(target(s, user: "loader", password: "wrong-\(s.loader.prefix(4))-Xy9"))
        XCTAssertEqual(d.report.verdict, .failure, describe(d))
        XCTAssertEqual(d.exitStatus, 2)
        XCTAssertEqual(d.report.findings.first?.failure, "credentials", describe(d))
        XCTAssertEqual(d.report.findings.first?.rule, "postgres.auth.password-failed", describe(d))
        XCTAssertEqual(d.report.findings.first?.category, "destination")
        XCTAssertEqual(d.probes.first?.sqlstate, "28P01", describe(d))
        XCTAssertEqual(d.probes.first?.outcome, .serverError)
        XCTAssertEqual(d.probes.map(\.outcome), [.serverError, .skipped])
    }

    func testPgHbaRejectIsNetworkPolicy28000() throws {
        let s = try server()
        let d = try diagnose(target(s, user: "blocked", password: s.blocked))
        XCTAssertEqual(d.report.findings.first?.failure, "network-policy", describe(d))
        XCTAssertEqual(d.probes.first?.sqlstate, "28000", describe(d))
        XCTAssertEqual(d.exitStatus, 2)
    }

    func testMissingDatabaseIsConfiguration3D000() throws {
        let s = try server()
        let d = try diagnose(target(s, user: "loader", password: s.loader, database: "dw_missing"))
        XCTAssertEqual(d.report.findings.first?.failure, "configuration", describe(d))
        XCTAssertEqual(d.report.findings.first?.rule, "postgres.config.database-missing", describe(d))
        XCTAssertEqual(d.probes.first?.sqlstate, "3D000", describe(d))
    }

    func testClosedPortIsConnectivity() throws {
        let s = try server()
        let closed = try XCTUnwrap(Self.closedPort())
        let d = try diagnose(target(s, user: "loader", password: s.loader, port: closed))
        XCTAssertEqual(d.report.findings.first?.failure, "connectivity", describe(d))
        XCTAssertEqual(d.report.findings.first?.rule, "postgres.net.connection-refused", describe(d))
        XCTAssertEqual(d.probes.first?.outcome, .transportError)
    }

    func testBlackHoleCostsAtMostTheTimeout() throws {
        let s = try server()
        let hole = try LoopbackServer { _ in .blackHole }
        defer { hole.stop() }
        let started = Date()
        let d = try diagnose(target(s, user: "loader", password: s.loader, port: hole.port, timeout: 1))
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertLessThan(elapsed, 3, "a black hole with --timeout 1 took \(elapsed) s")
        XCTAssertEqual(d.report.findings.first?.failure, "connectivity", describe(d))
        XCTAssertEqual(d.probes.first?.outcome, .transportError)
        XCTAssertTrue(d.probes.first?.note?.contains("timeout expired") == true, describe(d))
    }

    func testReaderWithoutCreateAndInsertIsPermissionsNamingTheGrants() throws {
        let s = try server()
        let d = try diagnose(target(s, user: "reader", password: s.reader))
        XCTAssertEqual(d.report.findings.first?.failure, "permissions", describe(d))
        XCTAssertEqual(d.report.findings.first?.rule, "postgres.grant.missing-write-privilege", describe(d))
        let summary = d.report.findings.first?.summary ?? ""
        XCTAssertTrue(summary.contains("CREATE on schema analytics"), summary)
        XCTAssertTrue(summary.contains("INSERT on table analytics.events"), summary)
        XCTAssertTrue(summary.contains("GRANT CREATE ON SCHEMA analytics TO reader"), summary)
        XCTAssertFalse(summary.contains("USAGE on schema"), "reader has USAGE: \(summary)")
        // Issue 14: the first step is the computed GRANTs themselves, not "ask for usage and create".
        let first = try XCTUnwrap(d.report.findings.first?.remediation.first)
        XCTAssertEqual(first.title, "Run the missing GRANT statements")
        XCTAssertTrue(first.steps[0].contains("GRANT CREATE ON SCHEMA analytics TO reader; GRANT INSERT ON analytics.events TO reader"), first.steps[0])
        XCTAssertTrue(d.report.findings.first?.evidence.contains { $0.name == "db.grant.missing" } == true, describe(d))
        XCTAssertEqual(d.probes.map(\.outcome), [.ok, .ok], describe(d))
        XCTAssertEqual(d.exitStatus, 2)
    }

    func testLoaderIsHealthy() throws {
        let s = try server()
        let d = try diagnose(target(s, user: "loader", password: s.loader))
        XCTAssertEqual(d.report.verdict, .ok, describe(d))
        XCTAssertEqual(d.exitStatus, 0)
        XCTAssertEqual(d.probes.map(\.outcome), [.ok, .ok], describe(d))
        XCTAssertEqual(d.facts["db.privilege.granted"]?.elements.count, 3, describe(d))
    }

    func testMissingSchemaAndTable() throws {
        let s = try server()
        let noSchema = try diagnose(target(s, user: "loader", password: s.loader, schema: "analytic"))
        XCTAssertEqual(noSchema.report.findings.first?.rule, "postgres.config.schema-missing", describe(noSchema))
        let noTable = try diagnose(target(s, user: "loader", password: s.loader, table: "event"))
        XCTAssertEqual(noTable.report.findings.first?.rule, "postgres.config.table-missing", describe(noTable))
        XCTAssertEqual(noTable.exitStatus, 1, "a table the loader may create is a warning")
    }

    // MARK: TLS (the test server has ssl=on with a certificate made at start-up)

    func testRequireConnectsOverTLSAndSaysWhichProtocol() throws {
        let s = try server()
        let d = try diagnose(target(s, user: "loader", password: s.loader, tls: .require))
        XCTAssertEqual(d.report.verdict, .ok, describe(d))
        XCTAssertEqual(d.facts["db.tls"], .bool(true), describe(d))
        let version = try XCTUnwrap(d.facts.string("db.tls.protocol"), describe(d))
        XCTAssertTrue(["TLSv1.2", "TLSv1.3"].contains(version), version)
        XCTAssertNotNil(d.facts.string("db.tls.cipher"), describe(d))
        XCTAssertEqual(d.facts["db.tls.verified"], .bool(false), "require without a CA bundle does not check the certificate")
        let note = try XCTUnwrap(d.probes.first?.note)
        XCTAssertTrue(note.contains("over TLS (\(version)"), note)
        XCTAssertTrue(note.contains("certificate not verified"), note)
        // Healthy means healthy (issue 14): no finding, the note says what was checked.
        XCTAssertEqual(d.report.findings.count, 0, describe(d))
        XCTAssertTrue(d.report.note?.contains("over TLS (\(version))") == true, describe(d))
    }

    func testDisableConnectsWithoutTLS() throws {
        let s = try server()
        let d = try diagnose(target(s, user: "loader", password: s.loader, tls: .disable))
        XCTAssertEqual(d.report.verdict, .ok, describe(d))
        XCTAssertEqual(d.facts["db.tls"], .bool(false), describe(d))
        XCTAssertNil(d.facts["db.tls.protocol"], describe(d))
        XCTAssertTrue(d.probes.first?.note?.contains("without TLS") == true, describe(d))
        XCTAssertTrue(d.report.note?.contains("without TLS") == true, describe(d))
    }

    func testPreferUsesTLSWhenOfferedAndFallsBackWhenRefused() throws {
        let s = try server()
        let loader = try diagnose(target(s, user: "loader", password: s.loader, tls: .prefer))
        XCTAssertEqual(loader.facts["db.tls"], .bool(true), describe(loader))
        // plainonly is admitted only without TLS: prefer tries TLS, is refused, and logs in unencrypted.
        let plain = try diagnose(target(s, user: "plainonly", password: s.plainOnly, tls: .prefer))
        XCTAssertEqual(plain.report.verdict, .ok, describe(plain))
        XCTAssertEqual(plain.facts["db.tls"], .bool(false), describe(plain))
    }

    func testServerRefusingTLSForTheUserIsNetworkPolicyWhenTLSIsRequired() throws {
        let s = try server()
        for mode in [DatabaseTarget.TLSMode.require, .verifyCA] {
            let d = try diagnose(target(s, user: "plainonly", password: s.plainOnly, tls: mode, caFile: mode == .require ? nil : s.caFile))
            XCTAssertEqual(d.exitStatus, 2, describe(d))
            XCTAssertEqual(d.report.findings.first?.rule, "postgres.tls.no-hba-entry-over-tls", describe(d))
            XCTAssertEqual(d.report.findings.first?.failure, "network-policy", describe(d))
            XCTAssertEqual(d.probes.first?.sqlstate, "28000", describe(d))
            XCTAssertTrue(d.probes.first?.note?.contains("SSL encryption") == true, describe(d))
            XCTAssertTrue(d.report.findings.first?.summary.contains("sslmode \(mode.rawValue)") == true, describe(d))
        }
    }

    func testServerNeedingTLSForTheUserIsConfigurationWhenTLSIsDisabled() throws {
        let s = try server()
        let refused = try diagnose(target(s, user: "tlsonly", password: s.tlsOnly, tls: .disable))
        XCTAssertEqual(refused.report.findings.first?.rule, "postgres.tls.server-needs-tls", describe(refused))
        XCTAssertEqual(refused.report.findings.first?.failure, "configuration", describe(refused))
        XCTAssertEqual(refused.probes.first?.sqlstate, "28000", describe(refused))
        XCTAssertTrue(refused.probes.first?.note?.contains("no encryption") == true, describe(refused))
        // The remedy it names works: the same user over TLS is healthy.
        let overTLS = try diagnose(target(s, user: "tlsonly", password: s.tlsOnly, tls: .require))
        XCTAssertEqual(overTLS.report.verdict, .ok, describe(overTLS))
        XCTAssertEqual(overTLS.facts["db.tls"], .bool(true))
    }

    func testVerifyFullWithTheServersCAPassesForItsHostName() throws {
        let s = try server()
        let d = try diagnose(target(s, user: "loader", password: s.loader, host: "localhost", tls: .verifyFull, caFile: s.caFile))
        XCTAssertEqual(d.report.verdict, .ok, describe(d))
        XCTAssertEqual(d.facts["db.tls.verified"], .bool(true), describe(d))
        XCTAssertTrue(d.probes.first?.note?.contains("certificate verified") == true, describe(d))
        // verify-ca checks the chain only: 127.0.0.1 (not a name on the certificate) passes too.
        let chainOnly = try diagnose(target(s, user: "loader", password: s.loader, tls: .verifyCA, caFile: s.caFile))
        XCTAssertEqual(chainOnly.report.verdict, .ok, describe(chainOnly))
        // require with a CA bundle checks the chain as verify-ca does.
        let requireWithCA = try diagnose(target(s, user: "loader", password: s.loader, tls: .require, caFile: s.otherCAFile))
        XCTAssertEqual(requireWithCA.report.findings.first?.rule, "postgres.tls.certificate-unverified", describe(requireWithCA))
    }

    func testVerificationFailuresStopTheLogin() throws {
        let s = try server()
        // The certificate is issued for localhost, not 127.0.0.1.
        let wrongHost = try diagnose(target(s, user: "loader", password: s.loader, tls: .verifyFull, caFile: s.caFile))
        XCTAssertEqual(wrongHost.report.findings.first?.rule, "postgres.tls.certificate-unverified", describe(wrongHost))
        XCTAssertEqual(wrongHost.report.findings.first?.failure, "connectivity", describe(wrongHost))
        XCTAssertEqual(wrongHost.facts["db.connected"], .bool(false))
        XCTAssertTrue(wrongHost.probes.first?.note?.contains("does not match host name") == true, describe(wrongHost))
        // A CA that did not sign the server's certificate.
        let wrongCA = try diagnose(target(s, user: "loader", password: s.loader, host: "localhost", tls: .verifyFull, caFile: s.otherCAFile))
        XCTAssertEqual(wrongCA.report.findings.first?.rule, "postgres.tls.certificate-unverified", describe(wrongCA))
        XCTAssertTrue(wrongCA.probes.first?.note?.contains("certificate verify failed") == true, describe(wrongCA))
        XCTAssertEqual(wrongCA.probes.map(\.outcome), [.transportError, .skipped], describe(wrongCA))
    }

    func testTLSFlagsOnTheCommandLine() throws {
        let s = try server()
        let binary = TestPaths.authdoctorBinary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw XCTSkip("no built authdoctor at \(binary.path)") }
        func run(_ extra: [String], host: String = "127.0.0.1") throws -> ProcessResult {
            try ProcessRunner.run(binary, ["diagnose", "--provider", "postgres", "--host", host, "--port", String(s.port), "--user", "loader",
                                           "--database", "dw", "--schema", "analytics", "--password-env", "PGTEST_SECRET",
                                           "--format", "json", "--show-facts", "--timeout", "5"] + extra,
                                  environment: ["PGTEST_SECRET": s.loader], timeout: 60)
        }
        let verified = try run(["--tls", "verify-full", "--tls-ca-file", s.caFile], host: "localhost")
        XCTAssertEqual(verified.status, 0, verified.summary)
        XCTAssertTrue(verified.stdoutText.contains("\"db.tls.verified\""), verified.stdoutText)
        XCTAssertTrue(verified.stdoutText.contains("\"db.tls.protocol\""), verified.stdoutText)
        // verify-* without the CA bundle, and a CA bundle where it would not be enforced: usage errors.
        for extra in [["--tls", "verify-full"], ["--tls", "verify-ca"], ["--tls", "prefer", "--tls-ca-file", s.caFile],
                      ["--tls", "disable", "--tls-ca-file", s.caFile]] {
            let r = try run(extra)
            XCTAssertEqual(r.status, 64, "\(extra): \(r.summary)")
            XCTAssertEqual(r.stdoutText, "")
            XCTAssertTrue(r.stderrText.contains("--tls"), r.summary)
        }
        let missing = try run(["--tls", "verify-full", "--tls-ca-file", "/nonexistent/ca.pem"])
        XCTAssertEqual(missing.status, 66, missing.summary)
        XCTAssertTrue(missing.stderrText.contains("--tls-ca-file"), missing.summary)
    }

    // MARK: the command line: flags, exit statuses, no password on any stream

    func testCommandLineNeverShowsThePassword() throws {
        let s = try server()
        let binary = TestPaths.authdoctorBinary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw XCTSkip("no built authdoctor at \(binary.path)") }
        let cases: [(user: String, password: String, status: Int32)] = [
            ("loader", s.loader, 0), ("reader", s.reader, 2), ("loader", "Wrong-Pass-7731x", 2),
        ]
        for c in cases {
            for format in ["text", "json", "markdown", "brief"] {
                let r = try ProcessRunner.run(binary, ["diagnose", "--provider", "postgres", "--host", "127.0.0.1", "--port", String(s.port),
                                                       "--user", c.user, "--database", "dw", "--schema", "analytics", "--table", "events",
                                                       "--password-env", "PGTEST_SECRET", "--format", format, "--show-facts", "--timeout", "5"],
                                              environment: ["PGTEST_SECRET": c.password], timeout: 60)
                XCTAssertEqual(r.status, c.status, r.summary)
                XCTAssertFalse(r.stdoutText.contains(c.password), "password on stdout: \(r.summary)")
                XCTAssertFalse(r.stderrText.contains(c.password), "password on stderr: \(r.summary)")
            }
        }
        // From stdin, and through --url.
        let piped = try ProcessRunner.run(binary, ["diagnose", "--provider", "redshift", "--url", "postgres://loader@127.0.0.1:\(s.port)/dw",
                                                   "--schema", "analytics", "--password-file", "-", "--format", "brief"],
                                          stdin: Data((s.loader + "\n").utf8), timeout: 60)
        XCTAssertEqual(piped.status, 0, piped.summary)
        XCTAssertFalse(piped.stdoutText.contains(s.loader) || piped.stderrText.contains(s.loader), piped.summary)
    }

    func testURLWithPasswordIsRefusedWithoutEchoingIt() throws {
        let binary = TestPaths.authdoctorBinary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw XCTSkip("no built authdoctor at \(binary.path)") }
        let r = try ProcessRunner.run(binary, ["diagnose", "--provider", "postgres", "--url", "postgres://loader:Sekr3tPass@127.0.0.1:1/dw"], timeout: 60)
        XCTAssertEqual(r.status, 64, r.summary)
        XCTAssertEqual(r.stdoutText, "")
        XCTAssertFalse(r.stderrText.contains("Sekr3tPass"), r.summary)
        XCTAssertTrue(r.stderrText.contains("--password-env"), r.summary)
        let bad = try ProcessRunner.run(binary, ["diagnose", "--provider", "postgres", "--host", "127.0.0.1", "--user", "u",
                                                 "--database", "d", "--tls", "sometimes"], timeout: 60)
        XCTAssertEqual(bad.status, 64, bad.summary)
        XCTAssertTrue(bad.stderrText.contains("--tls"), bad.summary)
    }

    // MARK: offline

    func testURLParsingAndDisplay() throws {
        let parts = try DatabaseTarget.parseURL("postgresql://load%40er@db.example.com:6543/dw?sslmode=require")
        XCTAssertEqual(parts.host, "db.example.com")
        XCTAssertEqual(parts.port, 6543)
        XCTAssertEqual(parts.user, "load@er")
        XCTAssertEqual(parts.database, "dw")
        XCTAssertEqual(parts.tls, .require)
        XCTAssertThrowsError(try DatabaseTarget.parseURL("postgres://u:secret@h/db")) { error in
            XCTAssertFalse(String(describing: error).contains("secret"))
        }
        XCTAssertThrowsError(try DatabaseTarget.parseURL("https://h/db"))
        let t = DatabaseTarget(provider: "redshift", host: "h", user: "u", database: "dev", password: "pw-123456")
        XCTAssertEqual(t.port, 5439)
        XCTAssertEqual(t.displayURL, "postgres://u@h:5439/dev?sslmode=prefer")
    }

    /// A loopback port nothing listens on (bound, then closed).
    static func closedPort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
