import Diagnose
import EvidenceModel
import Foundation
import LinkServer
import Links
import RuleEngine
import Sandbox

/// The authorization-link part of `authdoctor demo`: a link issued into a throwaway store, the
/// client's side walked through a live link server whose providers are the Sandbox's test OAuth
/// servers, then each connection it made diagnosed with its stored (decrypted) token.
struct LinkFlowDemo {
    static let providers = ["facebook", "google-ads"]

    struct Result {
        var steps: [LinkFlowStep]
        /// provider → the failure class its diagnosis found ("none" when healthy).
        var diagnoses: [(provider: String, found: String)]
        var asExpected: Bool { steps.allSatisfy(\.asExpected) && diagnoses.count == LinkFlowDemo.providers.count && diagnoses.allSatisfy { $0.found == "none" } }
    }

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
        return Result(steps: outcome.steps, diagnoses: diagnoses)
    }

    static func text(_ result: Result, color: Bool) -> String {
        func mark(_ ok: Bool) -> String { ok ? (color ? "\u{1B}[32m✔\u{1B}[0m" : "✔") : (color ? "\u{1B}[31m✖\u{1B}[0m" : "✖") }
        var out = "\nAuthorization link, end to end on loopback (authdoctor serve + the Sandbox's OAuth servers):\n"
        for (index, step) in result.steps.enumerated() {
            out += "  \(mark(step.asExpected)) \(index + 1). \(step.title)\n       \(step.outcome)\n"
        }
        for (provider, found) in result.diagnoses {
            out += "  \(mark(found == "none")) diagnose \(provider) with the connection's stored token: \(found == "none" ? "healthy" : found)\n"
        }
        return out
    }
}

struct LinkFlowDemoError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
