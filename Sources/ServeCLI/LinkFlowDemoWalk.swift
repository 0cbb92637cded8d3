import AuthDoctorCLI
import Diagnose
import EvidenceModel
import Foundation
import LinkServer
import Links
import RuleEngine
import Sandbox

extension LinkFlowDemo {
    /// The walk `authdoctor-serve` installs as `LinkFlowDemo.walk`.
    static func run(server: SandboxServer, engine: ClassifyEngine, timeout: Double) throws -> Result {
        let store = try SQLiteStore.inMemory()
        let (definitions, _) = try ProviderLibrary.load()
        let clients = LinkServerConfiguration.sandboxClients(definitions: definitions, sandboxBaseURL: server.baseURL)
        let outcome = try Blocking.await { () async -> Swift.Result<LinkFlowWalkthrough.Outcome, LinkFlowDemoError> in
            do {
                return .success(try await LinkFlowWalkthrough.run(store: store, clients: clients, providers: providers,
                                                                  client: "Demo client", timeout: timeout))
            } catch {
                return .failure(LinkFlowDemoError(message: "the authorization-link demo failed: \(error)"))
            }
        }.get()
        var diagnoses: [(String, String)] = []
        for connection in outcome.connections {
            let tokens = try store.connectionCredentials(id: connection.id)
            // The platform's own credentials (app id and secret, Ads developer token) as the
            // provider's healthy scenario has them; the client's tokens from the store.
            let platform = server.scenarios.scenarios.first { $0.provider == connection.provider && $0.expect == "none" }?.credentials ?? [:]
            var credentials = DiagnosisCredentials(platform)
            credentials[CredentialName.token] = tokens.accessToken
            credentials[CredentialName.refreshToken] = tokens.refreshToken
            let runner = try DiagnosisRunner(definition: try ProviderLibrary.definition(for: connection.provider),
                                             credentials: credentials,
                                             options: DiagnosisOptions(baseURLOverrides: [(connection.provider, server.baseURL)], timeout: timeout),
                                             engine: engine)
            let report = runner.run().report
            diagnoses.append((connection.provider, report.verdict == .ok ? "none" : report.findings.first?.failure ?? "none"))
        }
        return Result(steps: outcome.steps.map { Step(title: $0.title, outcome: $0.outcome, asExpected: $0.asExpected) },
                      diagnoses: diagnoses)
    }
}
