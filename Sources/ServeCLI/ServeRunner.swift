import ArgumentParser
import AuthDoctorCLI
import Diagnose
import EvidenceModel
import Foundation
import HealthCheck
import Hummingbird
import LinkServer
import Links
import Logging
import Probe
import RuleEngine
import Sandbox

/// What `authdoctor-serve` adds to the command line: the link server behind `serve`, and the
/// authorization-link walk of `demo`. `authdoctor` hands those commands over to this executable.
public enum ServerCommands {
    public static func install() {
        do { try ServerExecutable.checkHandOver() } catch { AuthDoctorCommand.fail(error.message, code: error.exitCode) }
        ServeCommand.server = { try $0.runServer() }
        LinkFlowDemo.walk = LinkFlowDemo.run
    }
}

extension ServeCommand {
    /// `authdoctor serve`, once its flags are valid: the store, the OAuth apps, then the server until Ctrl-C or SIGTERM.
    func runServer() throws {
        let environment = ProcessInfo.processInfo.environment
        let publicURL = try (self.publicURL ?? environment["AUTHDOCTOR_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 })
            .map { url throws(InputError) in try LinkServerConfiguration.validatedPublicURL(url) }
        if publicURL == nil && !ProviderLoader.isLoopbackHost(host) {
            throw InputError(.usage, "--public-url is needed when listening on \(host) (the URL clients and providers reach this server at)")
        }
        // The link flow exchanges codes and re-checks connections through libcurl.
        try Libcurl.requireLoaded()
        let (definitions, issues) = try ProviderLibrary.load(directories: providerDirectories)
        if let first = issues.first {
            throw InputError(.config, first.message + (issues.count > 1 ? " (and \(issues.count - 1) more)" : ""), place: "\(first.file):\(first.line)")
        }
        var sandboxServer: SandboxServer?
        let clients: [String: OAuthClientSetup]
        if sandbox {
            let server = try InProcessSandbox.start()
            sandboxServer = server
            clients = LinkServerConfiguration.sandboxClients(definitions: definitions, sandboxBaseURL: server.baseURL)
        } else if let sandboxURL {
            clients = LinkServerConfiguration.sandboxClients(definitions: definitions, sandboxBaseURL: sandboxURL)
        } else {
            clients = try Self.clients(oauthClients, definitions: definitions, environment: environment)
        }
        defer { sandboxServer?.stop() }
        let store = try storeOptions.open()
        // What can never be used again goes at start (as `authdoctor store prune` does), and what
        // this server can connect is recorded for `links issue --sources`.
        let pruned = try StoreCall.run(store) { try store.prune(now: Date()) }
        if !pruned.isEmpty {
            FileHandle.standardError.write(Data(("authdoctor serve: pruned \(pruned.authorizations) OAuth attempts and \(pruned.sessions) expired sessions; "
                + "erased the tokens of \(pruned.pendingConnectionsErased) connections never activated\n").utf8))
        }
        try StoreCall.run(store) { try store.recordConnectableProviders(clients.keys.sorted(), now: Date()) }

        let limits = ConnectionLimits(idleTimeout: idleTimeout, bodyTimeout: bodyTimeout, maxConnections: maxConnections)
        let configuration = LinkServerConfiguration(host: host, port: port, publicURL: publicURL, clients: clients,
                                                    exchangeTimeout: exchangeTimeout, limits: limits)
        let metricsToken = environment[Self.metricsTokenVariable].flatMap { $0.isEmpty ? nil : $0 }
        var metrics: MetricsEndpoint? = (metricsListen == nil && metricsToken == nil) ? nil : MetricsEndpoint(
            listen: metricsListen.flatMap(ListenAddress.parse), bearerToken: metricsToken,
            exposition: {
                // The latest verdicts `check --db` recorded in this store, for Prometheus to scrape.
                StoredMetrics.exposition((try? store.recentVerdicts(perConnection: ConnectionHistory.flapWindow)) ?? [:])
            },
            onRunning: { url in
                FileHandle.standardError.write(Data("authdoctor serve: metrics on \(url)\(metricsToken == nil ? "" : " (bearer token required)")\n".utf8))
            })
        // The built-in rules: the console's paste page and reports, and GET /probe.
        let (ruleSet, ruleIssues) = try RuleLibrary.load(includeBuiltin: true, directories: [])
        ruleSet.decodeAll()
        if let first = ruleIssues.first { throw InputError(.config, first.message, place: "\(first.file):\(first.line)") }
        if metrics != nil {
            // GET /probe?connection=NAME beside /metrics: one stored connection checked now.
            let probe = ServeProbe(store: store, definitions: definitions, engine: ClassifyEngine(ruleSet: ruleSet),
                                   oauthClients: clients.mapValues { .init(clientID: $0.clientID, clientSecret: $0.clientSecret) },
                                   sandboxURL: sandboxServer.map(SandboxRouting.baseURL(server:)))
            metrics?.probe = { name, timeout in await probe.run(name, scrapeTimeout: timeout) }
        }
        let metricsEndpoint = metrics
        let metricsOn = metrics != nil
        let providers = clients.keys.sorted().joined(separator: ", ")
        let sandboxNote = (sandboxServer?.baseURL ?? sandboxURL).map { " (OAuth servers of the Sandbox at \($0))" } ?? ""
        let host = self.host, port = self.port
        let application = buildApplication(
            configuration: configuration, store: store,
            logger: StandardErrorLogHandler.logger(level: quiet ? .warning : .info),
            metrics: metricsEndpoint,
            operatorAPI: OperatorAPI(catalog: LinkText.sourceCatalog(definitions)),
            console: OperatorConsole(catalog: LinkText.sourceCatalog(definitions), engine: ClassifyEngine(ruleSet: ruleSet)),
            onServerRunning: { url in
                let metricsNote = !metricsOn ? "authdoctor serve: /metrics is off (--metrics-listen ADDRESS:PORT or \(Self.metricsTokenVariable))\n" : ""
                FileHandle.standardError.write(Data((metricsNote + "authdoctor serve: listening on \(url) for \(providers)\(sandboxNote); Ctrl-C stops it\n").utf8))
            })

        // Hummingbird runs on Swift concurrency; this command's thread waits for it to stop
        // (SIGINT/SIGTERM trigger a graceful shutdown inside runService).
        let finished = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task {
            do { try await application.runService() } catch { failure.set(error) }
            finished.signal()
        }
        finished.wait()
        if let error = failure.error {
            let text = String(describing: error)
            if text.contains("Address already in use") || text.contains("EADDRINUSE") {
                AuthDoctorCommand.fail("cannot listen on \(host):\(port): the port is in use", code: 69)
            }
            AuthDoctorCommand.fail("the server stopped: \(text)", code: 71)
        }
        FileHandle.standardError.write(Data("authdoctor serve: stopped\n".utf8))
    }

    /// `--oauth-client PROVIDER=CLIENT_ID` flags with their secrets from the environment.
    static func clients(_ flags: [String], definitions: [String: ProviderDefinition], environment: [String: String]) throws(InputError) -> [String: OAuthClientSetup] {
        let oauthProviders = definitions.values.filter { $0.oauth != nil }.map(\.id).sorted()
        guard !flags.isEmpty else {
            throw InputError(.config, "no OAuth app configured: pass --oauth-client PROVIDER=CLIENT_ID (secret in AUTHDOCTOR_OAUTH_<PROVIDER>_SECRET) for some of \(oauthProviders.joined(separator: ", ")), or --sandbox")
        }
        var out: [String: OAuthClientSetup] = [:]
        for flag in flags {
            let parts = flag.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].trimmingCharacters(in: .whitespaces).isEmpty else {
                throw InputError(.usage, "--oauth-client takes PROVIDER=CLIENT_ID (e.g. google=123-abc.apps.googleusercontent.com), not '\(Redactor.redact(flag))'")
            }
            let provider = String(parts[0]), clientID = String(parts[1])
            guard let definition = definitions[provider] else {
                throw InputError(.usage, "--oauth-client: unknown provider '\(provider)' (OAuth providers: \(oauthProviders.joined(separator: ", ")))")
            }
            guard let endpoints = definition.oauth else {
                throw InputError(.usage, "--oauth-client: \(provider) is not connected through OAuth (OAuth providers: \(oauthProviders.joined(separator: ", ")))")
            }
            if out[provider] != nil { throw InputError(.usage, "--oauth-client: \(provider) is given twice") }
            let variable = secretVariable(for: provider)
            guard let secret = environment[variable], !secret.isEmpty else {
                throw InputError(.config, "--oauth-client \(provider): set \(variable) to the OAuth app's client secret")
            }
            out[provider] = OAuthClientSetup(provider: provider, displayName: definition.name, endpoints: endpoints,
                                             clientID: clientID, clientSecret: secret)
        }
        return out
    }
}

private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?

    func set(_ error: any Error) {
        lock.lock()
        stored = error
        lock.unlock()
    }

    var error: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
