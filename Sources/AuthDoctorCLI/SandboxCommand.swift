import ArgumentParser
import EvidenceModel
import Foundation
import Sandbox

/// `authdoctor sandbox`: the providers of fixtures/ replayed on 127.0.0.1, with network faults.
struct SandboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Replay the providers from fixtures/ on 127.0.0.1, with network faults on their own URLs.",
        discussion: """
        Every scenario (fixtures/sandbox/scenarios.yaml) is one provider in one state; the credential \
        a request carries picks it (bearer token, access_token / input_token query, refresh_token form \
        field). Point a provider's base URL at the sandbox and use the scenario's credentials. Each \
        fault (refused, dns, blackhole, reset, slow-body, redirect-loop, outage, rate-limit, \
        tls-self-signed) has a URL of its own; any path under it meets the fault. For every provider \
        with a healthy token scenario there is also a test OAuth authorization server \
        (/oauth/PROVIDER/authorize with PKCE S256, approving by default, and /oauth/PROVIDER/token), \
        which issues that healthy scenario's token; redirect_uri must be on loopback. Add \
        sandbox_decision=deny to the authorize URL (or use client_id sbx-deny) to see a refusal. \
        The sandbox binds 127.0.0.1 only and runs until Ctrl-C or SIGTERM.

        Examples:
          authdoctor sandbox --list
          authdoctor sandbox --port 8700
          curl -i -H 'Authorization: Bearer sbx-…' http://127.0.0.1:8700/…
          curl -i -G http://127.0.0.1:8700/oauth/google/authorize \\
              -d response_type=code -d client_id=my-app -d state=xyz \\
              -d redirect_uri=http://127.0.0.1:9000/cb -d code_challenge_method=S256 \\
              -d code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM

        Exit status: 0 stopped cleanly; 64 bad usage; 69 the port is in use; 71 another system error; \
        78 a bad scenarios file.
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(parsing: .unconditional, help: ArgumentHelp("The scenarios' port on 127.0.0.1; the faults take the \(SandboxFault.allCases.count - 1) ports after it. 0 (the default) picks free ports.", valueName: "N"))
    var port: Int = 0

    @Flag(help: "Print every scenario with its credentials, the OAuth authorization servers and the fault URLs, then exit.")
    var list = false

    @Option(help: ArgumentHelp("text (default) or json.", valueName: "FORMAT"))
    var format: Format = .text

    func validate() throws {
        let highest = 65535 - (SandboxFault.allCases.count - 1)
        guard port == 0 || (1...highest).contains(port) else {
            throw ValidationError("--port must be 0 (any free port) or 1 to \(highest) (the faults take the ports after it), not \(port)")
        }
    }

    func run() throws {
        let catalog: ScenarioCatalog
        do {
            catalog = try ScenarioCatalog.builtin()
        } catch {
            let first = error.issues.first
            throw InputError(.config, (first?.message ?? "invalid scenarios file") + (error.issues.count > 1 ? " (and \(error.issues.count - 1) more)" : ""),
                             place: first.map { "\($0.file):\($0.line)" })
        }
        if list {
            Terminal.write(format == .json ? Self.listJSON(catalog, port: port) : Self.listText(catalog, port: port))
            return
        }
        serve(catalog)
    }

    // MARK: running

    private func serve(_ catalog: ScenarioCatalog) {
        let json = format == .json
        var options = SandboxOptions()
        // One line a request in text mode (never a credential: see SandboxAccess); JSON mode keeps stdout to the one document.
        if !json { options.accessLog = { access in Terminal.write(access.description + "\n") } }
        let server: SandboxServer
        do {
            server = try SandboxServer.start(scenarios: catalog, port: port, options: options)
        } catch let error as SandboxError {
            if case .portInUse = error { AuthDoctorCommand.fail(error.description, code: 69) }  // EX_UNAVAILABLE
            AuthDoctorCommand.fail(error.description, code: 71)  // EX_OSERR
        } catch {
            AuthDoctorCommand.fail("the sandbox did not start: \(error)", code: 71)
        }

        // Ctrl-C and SIGTERM end the wait below; the server then closes every connection and port.
        let stopRequested = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { stopRequested.signal() }
            source.resume()
            sources.append(source)
        }

        if json {
            let faults = server.faultURLs.map { ($0.fault.rawValue, JSONValue.string($0.url)) }
            Terminal.write(JSONWriter.serialize(.object([
                ("schema", .string("authdoctor.sandbox/v1")),
                ("baseURL", .string(server.baseURL)),
                ("port", .int(server.port)),
                ("scenarios", .int(catalog.scenarios.count)),
                ("faults", .object(faults)),
                ("oauth", .array(Self.oauthJSON(catalog, base: server.baseURL))),
            ])) + "\n")
        } else {
            var out = "authdoctor sandbox: \(catalog.scenarios.count) scenarios on \(server.baseURL) (Ctrl-C stops it; `authdoctor sandbox --list` shows their credentials)\n"
            out += "faults:\n"
            for (fault, url) in server.faultURLs {
                out += "  " + fault.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)
                    + url.padding(toLength: 40, withPad: " ", startingAt: 0) + fault.summary + "\n"
            }
            out += Self.oauthText(catalog, base: server.baseURL)
            out += "requests:\n"
            Terminal.write(out)
        }

        stopRequested.wait()
        for source in sources { source.cancel() }
        server.stop()
        if !json { Terminal.write("stopped\n") }
    }

    // MARK: --list

    static func listText(_ catalog: ScenarioCatalog, port: Int) -> String {
        let idWidth = max(8, catalog.scenarios.map(\.id.count).max() ?? 0) + 2
        let providerWidth = max(8, catalog.scenarios.map(\.provider.count).max() ?? 0) + 2
        let expectWidth = max(6, catalog.scenarios.map(\.expect.count).max() ?? 0) + 2
        var out = "SCENARIO".padding(toLength: idWidth, withPad: " ", startingAt: 0)
            + "PROVIDER".padding(toLength: providerWidth, withPad: " ", startingAt: 0)
            + "EXPECT".padding(toLength: expectWidth, withPad: " ", startingAt: 0) + "CREDENTIALS\n"
        for scenario in catalog.scenarios {
            var credentials = scenario.listedCredentials().map { "\($0.name)=\($0.value)" }.joined(separator: " ")
            let flags = scenario.options.sorted { $0.key < $1.key }.map { "--\($0.key) \($0.value)" }
            if !flags.isEmpty { credentials += (credentials.isEmpty ? "" : "  ") + "(with \(flags.joined(separator: " ")))" }
            if let fault = scenario.fault { credentials += (credentials.isEmpty ? "" : "  ") + "(fault: \(fault.rawValue))" }
            out += scenario.id.padding(toLength: idWidth, withPad: " ", startingAt: 0)
                + scenario.provider.padding(toLength: providerWidth, withPad: " ", startingAt: 0)
                + scenario.expect.padding(toLength: expectWidth, withPad: " ", startingAt: 0) + credentials + "\n"
        }
        out += "\(catalog.scenarios.count) scenarios\n\n"
        out += oauthText(catalog, base: port == 0 ? nil : "http://127.0.0.1:\(port)")
        out += "\nFAULT            URL\n"
        for fault in SandboxFault.allCases {
            let url = SandboxServer.plannedFaultURL(fault, scenarioPort: port) ?? "-"
            out += fault.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)
                + url.padding(toLength: 40, withPad: " ", startingAt: 0) + fault.summary + "\n"
        }
        if port == 0 {
            out += "(fault ports are chosen when the sandbox starts, which prints them; with --port N they are N+1 to N+\(SandboxFault.allCases.count - 1))\n"
        }
        return out
    }

    static func listJSON(_ catalog: ScenarioCatalog, port: Int) -> String {
        let scenarios: [JSONValue] = catalog.scenarios.map { scenario in
            var members: [(String, JSONValue)] = [
                ("id", .string(scenario.id)),
                ("provider", .string(scenario.provider)),
                ("description", .string(scenario.description)),
                ("expect", .string(scenario.expect)),
                ("credentials", .object(scenario.listedCredentials().map { ($0.name, .string($0.value)) })),
            ]
            if !scenario.options.isEmpty {
                members.append(("options", .object(scenario.options.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
            }
            if let fault = scenario.fault {
                members.append(("fault", .string(fault.rawValue)))
            } else {
                members.append(("routes", .array(scenario.routes.map { .string("\($0.method) \($0.path)") })))
            }
            return .object(members)
        }
        let faults: [JSONValue] = SandboxFault.allCases.map { fault in
            .object([("id", .string(fault.rawValue)),
                     ("url", SandboxServer.plannedFaultURL(fault, scenarioPort: port).map { .string($0) } ?? .null),
                     ("summary", .string(fault.summary))])
        }
        return JSONWriter.serialize(.object([
            ("schema", .string("authdoctor.sandbox-list/v1")),
            ("scenarios", .array(scenarios)),
            ("oauth", .array(oauthJSON(catalog, base: port == 0 ? nil : "http://127.0.0.1:\(port)"))),
            ("faults", .array(faults)),
        ])) + "\n"
    }

    // MARK: OAuth authorization servers

    /// `base` nil: the port is chosen at start-up, so the endpoints are shown as paths.
    static func oauthText(_ catalog: ScenarioCatalog, base: String?) -> String {
        let endpoints = catalog.oauthEndpoints
        guard !endpoints.isEmpty else { return "" }
        let providerWidth = max(8, endpoints.map(\.provider.count).max() ?? 0) + 2
        var out = "OAUTH PROVIDER".padding(toLength: max(providerWidth, 16), withPad: " ", startingAt: 0) + "AUTHORIZE / TOKEN (issues the token of)\n"
        for endpoint in endpoints {
            out += endpoint.provider.padding(toLength: max(providerWidth, 16), withPad: " ", startingAt: 0)
                + (base ?? "") + endpoint.authorizePath + "  " + (base ?? "") + endpoint.tokenPath + "  (\(endpoint.scenario))\n"
        }
        out += "(PKCE S256 required; redirect_uri must be on loopback; approves unless sandbox_decision=deny or client_id=sbx-deny"
            + (base == nil ? "; paths are on the scenarios' base URL" : "") + ")\n"
        return out
    }

    static func oauthJSON(_ catalog: ScenarioCatalog, base: String?) -> [JSONValue] {
        catalog.oauthEndpoints.map { endpoint in
            .object([("provider", .string(endpoint.provider)),
                     ("scenario", .string(endpoint.scenario)),
                     ("authorize", .string((base ?? "") + endpoint.authorizePath)),
                     ("token", .string((base ?? "") + endpoint.tokenPath))])
        }
    }
}
