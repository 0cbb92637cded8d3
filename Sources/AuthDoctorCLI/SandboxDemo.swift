import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import Sandbox

/// Diagnoses every Sandbox scenario against an in-process Sandbox: the whole engine — provider
/// definitions, libcurl probes, facts, rules, reports — on loopback, with no internet. Used by
/// `authdoctor demo`, its tests and the benchmarks.
public struct SandboxDemo: Sendable {
    public struct Outcome: Sendable {
        public var scenario: SandboxScenario
        public var diagnosis: Diagnosis
        /// The failure class found first, or "none" when healthy.
        public var found: String {
            diagnosis.report.verdict == .ok ? "none" : (diagnosis.report.findings.first?.failure ?? "none")
        }
        public var asExpected: Bool { found == scenario.expect }
    }

    public let engine: ClassifyEngine
    public var timeout: Double
    /// Diagnoses running at once (each runs its own steps concurrently too).
    public var concurrency: Int

    public init(engine: ClassifyEngine, timeout: Double = 3, concurrency: Int = 16) {
        self.engine = engine
        self.timeout = timeout
        self.concurrency = concurrency
    }

    /// The options a scenario asks for (`options:` in scenarios.yaml), pointed at the server.
    public static func options(for scenario: SandboxScenario, server: SandboxServer, timeout: Double) throws -> DiagnosisOptions {
        var options = DiagnosisOptions(timeout: timeout)
        options.expectAccount = scenario.options["expect-account"]
        options.expectScopes = scenario.options["expect-scopes"].map(CredentialInput.scopes)
        if let warn = scenario.options["warn-expiry"] { options.warnExpiry = try CredentialInput.duration(warn) }
        let base = scenario.fault.map { server.faultURL($0) } ?? server.baseURL
        options.baseURLOverrides = [(scenario.provider, base)]
        // Offline scenarios (Looker Studio): the evidence the customer's browser saw.
        if let har = scenario.options["har"] {
            guard let text = RuleLibrary.builtinFixtures()[har] else {
                throw InputError(.config, "scenario \(scenario.id): no fixture \(har)")
            }
            options.evidence = try EvidenceLoader.load(text, format: .har, source: har, provider: scenario.provider)
            options.evidenceSource = har
        } else if let url = scenario.options["url"] {
            options.evidence = [try DiagnosisEvidence.url(url, provider: scenario.provider)]
        }
        return options
    }

    /// The scenario's credentials as a diagnosis takes them. `private-key: generate` is a key made
    /// now (no private key is committed; the Sandbox accepts any correctly shaped assertion).
    public static func credentials(for scenario: SandboxScenario, generatedKey: () -> String) -> DiagnosisCredentials {
        var values = scenario.credentials
        if values[CredentialName.privateKey] == "generate" { values[CredentialName.privateKey] = generatedKey() }
        return DiagnosisCredentials(values)
    }

    public func run(server: SandboxServer, scenarios: [SandboxScenario]) throws -> [Outcome] {
        var runners: [(SandboxScenario, DiagnosisRunner)] = []
        var key: String?
        for scenario in scenarios {
            let definition = try ProviderLibrary.definition(for: scenario.provider)
            let credentials = Self.credentials(for: scenario) {
                if key == nil { key = RSAKey.generatePEM() }
                return key!
            }
            let runner = try DiagnosisRunner(definition: definition, credentials: credentials,
                                             options: Self.options(for: scenario, server: server, timeout: timeout), engine: engine)
            runners.append((scenario, runner))
        }
        let slots = ConcurrentSlots<Outcome>(count: runners.count)
        let limit = DispatchSemaphore(value: max(1, concurrency))
        let group = DispatchGroup()
        for (index, (scenario, runner)) in runners.enumerated() {
            limit.wait()
            group.enter()
            // A thread each: a diagnosis blocks on its probes (a black hole costs its timeout), and
            // the others must not wait behind it.
            Thread.detachNewThread {
                slots.set(index, Outcome(scenario: scenario, diagnosis: runner.run()))
                limit.signal()
                group.leave()
            }
        }
        group.wait()
        return slots.values
    }
}

/// The Sandbox started inside a command (`demo`, `diagnose --sandbox`), with its errors as one line.
package enum InProcessSandbox {
    package static func start() throws -> SandboxServer {
        do {
            return try SandboxServer.start()
        } catch let error as ScenarioCatalogError {
            throw InputError(.config, error.description)
        } catch {
            throw InputError(.usage, "cannot start the sandbox: \(error)")
        }
    }
}
