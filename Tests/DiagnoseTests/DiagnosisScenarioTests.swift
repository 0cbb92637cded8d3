import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import Sandbox
import XCTest
import Yams

/// fixtures/sandbox/scenarios.yaml, replayed route by route on loopback (the Sandbox's own server is
/// tested in SandboxTests): every scenario's diagnosis must find the failure class it names.
final class DiagnosisScenarioTests: XCTestCase {
    struct Scenario {
        var id: String
        var provider: String
        var expect: String
        var credentials: [String: String]
        var routes: [String: String]
        var fault: String?
        var options: [String: String]
    }

    static func scenarios() throws -> [Scenario] {
        let text = try TestPaths.fixture("sandbox/scenarios.yaml")
        let root = try XCTUnwrap(try Yams.compose(yaml: text, .basic)?.mapping?["scenarios"]?.sequence)
        func map(_ node: Node?) -> [String: String] {
            var out: [String: String] = [:]
            for (k, v) in node?.mapping ?? [:] { if let key = k.string, let value = v.string { out[key] = value } }
            return out
        }
        return root.map { node in
            let m = node.mapping!
            return Scenario(id: m["id"]!.string!, provider: m["provider"]!.string!, expect: m["expect"]!.string!,
                            credentials: map(m["credentials"]), routes: map(m["routes"]), fault: m["fault"]?.string,
                            options: map(m["options"]))
        }
    }

    func testTheScenariosCoverEveryProviderAndTheSourceFailureClasses() throws {
        let all = try Self.scenarios()
        let providers = Set(all.map(\.provider))
        XCTAssertEqual(providers, Set(["google", "google-ads", "google-analytics", "facebook", "linkedin", "hubspot"])
                       .union(Self.destinations))
        for provider in providers {
            XCTAssertTrue(all.contains { $0.provider == provider && $0.expect == "none" }, "\(provider) has a healthy scenario")
        }
        let classes = Set(all.map(\.expect))
        for failure in ["credentials", "token-missing", "scopes", "permissions", "expiry", "revoked", "multi-account",
                        "connectivity", "outage", "rate-limit"] {
            XCTAssertTrue(classes.contains(failure), "a scenario expects \(failure)")
        }
        XCTAssertEqual(Set(all.map(\.id)).count, all.count, "scenario ids are unique")
        let tokens = all.flatMap { s in ["token", "refresh-token"].compactMap { s.credentials[$0] } }
        XCTAssertEqual(Set(tokens).count, tokens.count, "every token picks one scenario")
        XCTAssertTrue(all.contains { $0.options["expect-account"] != nil && $0.expect == "multi-account" && $0.provider == "google" })
        for s in all {
            XCTAssertTrue(s.fault != nil || !s.routes.isEmpty || s.options["har"] != nil || s.options["url"] != nil, s.id)
            for name in s.credentials.keys where name != "access-token" { XCTAssertTrue(CredentialName.all.contains(name), "\(s.id): credential \(name)") }
            for key in s.options.keys { XCTAssertTrue(["expect-account", "expect-scopes", "warn-expiry", "har", "url"].contains(key), "\(s.id): option \(key)") }
        }
    }

    /// Destination scenarios need keys made at run time and offline evidence: `authdoctor demo`
    /// (SandboxDemo) diagnoses them, see CLITests/DestinationDiagnoseTests.
    static let destinations: Set<String> = ["bigquery", "google-sheets", "snowflake", "platform-api", "looker-studio"]

    func testEveryScenarioDiagnosesItsExpectedFailure() throws {
        var tls: TLSTestEndpoint?
        defer { tls?.stop() }
        for s in try Self.scenarios() where !Self.destinations.contains(s.provider) {
            var fake: FakeProvider?
            let base: String
            var options = DiagnosisOptions(timeout: 2)
            switch s.fault {
            case nil:
                var routes: [String: FakeProvider.Route] = [:]
                for (route, fixture) in s.routes { routes[route] = .fixture(fixture) }
                fake = try FakeProvider(routes)
                base = fake!.baseURL
            case "refused"?:
                base = "http://127.0.0.1:\(LoopbackServer.unusedPort())"
            case "blackhole"?:
                fake = try FakeProvider(["*": .blackHole])
                base = fake!.baseURL
                options.timeout = 1
            case "outage"?:
                fake = try FakeProvider(["*": .fixture("generic/503-maintenance.http")])
                base = fake!.baseURL
            case "rate-limit"?:
                fake = try FakeProvider(["*": .fixture("generic/429-retry-after.http")])
                base = fake!.baseURL
            case "tls-self-signed"?:
                do { tls = try tls ?? TLSTestEndpoint() } catch { print("skipping \(s.id): \(error)"); continue }
                base = tls!.baseURL
            case let other?:
                XCTFail("\(s.id): fault \(other) is not replayed by this test")
                continue
            }
            options.expectAccount = s.options["expect-account"]
            options.expectScopes = s.options["expect-scopes"].map(CredentialInput.scopes)
            if let warn = s.options["warn-expiry"] { options.warnExpiry = try CredentialInput.duration(warn) }
            let d = try Diag.run(s.provider, at: base, credentials: DiagnosisCredentials(s.credentials), options: options)
            XCTAssertEqual(topFailure(d), s.expect, "\(s.id):\n\(summary(d))")
            let expectedExit: Int32 = s.expect == "none" ? 0 : (d.report.findings.contains { $0.severity == "error" } ? 2 : 1)
            XCTAssertEqual(d.exitStatus, expectedExit, "\(s.id):\n\(summary(d))")
            if s.expect == "none" {
                XCTAssertTrue(d.probes.allSatisfy { $0.outcome == .ok || $0.outcome == .skipped }, "\(s.id):\n\(summary(d))")
            }
            if s.fault == nil, let fake {
                // Every request a step made has its route in the scenario.
                for request in fake.requests {
                    XCTAssertNotNil(s.routes[request.method + " " + request.pathOnly], "\(s.id): no route for \(request.method) \(request.pathOnly)")
                }
            }
            for secret in DiagnosisCredentials(s.credentials).secrets {
                for (format, text) in Diag.renderings(d.report) {
                    XCTAssertFalse(text.contains(secret), "\(s.id): a secret in \(format) output")
                }
            }
            fake = nil
        }
    }

    /// The same scenarios through the real Sandbox server: routing by credential, fault listeners.
    func testEveryScenarioThroughTheSandboxServer() throws {
        let catalog: ScenarioCatalog
        do {
            catalog = try ScenarioCatalog.load(fixturesDirectory: TestPaths.fixturesDirectory)
        } catch {
            return XCTFail("the scenarios file does not load in the Sandbox: \(error)")
        }
        let server = try SandboxServer.start(scenarios: catalog)
        defer { server.stop() }
        XCTAssertGreaterThanOrEqual(catalog.scenarios.count, 30)
        for s in catalog.scenarios where !Self.destinations.contains(s.provider) {
            var options = DiagnosisOptions(timeout: 2)
            options.expectAccount = s.options["expect-account"]
            options.expectScopes = s.options["expect-scopes"].map(CredentialInput.scopes)
            if let warn = s.options["warn-expiry"] { options.warnExpiry = try CredentialInput.duration(warn) }
            if s.fault == .blackhole { options.timeout = 1 }
            let base = s.fault.map { server.faultURL($0) } ?? server.baseURL
            let d = try Diag.run(s.provider, at: base, credentials: DiagnosisCredentials(s.credentials), options: options)
            XCTAssertEqual(topFailure(d), s.expect, "\(s.id) via the Sandbox:\n\(summary(d))")
        }
    }

    func testTheExpiringSoonScenarioOnlyWarns() throws {
        let s = try XCTUnwrap(try Self.scenarios().first { $0.id == "facebook-expiring-soon" })
        var routes: [String: FakeProvider.Route] = [:]
        for (route, fixture) in s.routes { routes[route] = .fixture(fixture) }
        let fake = try FakeProvider(routes)
        var options = DiagnosisOptions()
        options.warnExpiry = try CredentialInput.duration(s.options["warn-expiry"] ?? "")
        let d = try Diag.run("facebook", at: fake.baseURL, credentials: DiagnosisCredentials(s.credentials), options: options)
        XCTAssertEqual(d.report.verdict, .warning, summary(d))
        XCTAssertEqual(d.exitStatus, 1)
        XCTAssertEqual(d.report.findings.first?.rule, "diagnose.token.expiring-soon")
        XCTAssertEqual(d.facts["token.expires_on"], .string("2031-01-01T00:00:00Z"))
        // With the default window (7 days) the same answers are healthy.
        let plain = try Diag.run("facebook", at: fake.baseURL, credentials: DiagnosisCredentials(s.credentials))
        XCTAssertEqual(plain.report.verdict, .ok, summary(plain))
    }
}
