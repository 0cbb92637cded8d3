import ArgumentParser
import EvidenceModel
import Foundation
import Diagnose
import HealthCheck
import LinkServerSettings
import Links
import Probe
import RuleEngine
import Sandbox

/// `authdoctor serve`: the pages a client opens from an authorization link, and the OAuth flow behind them.
package struct ServeCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the authorization-link pages: the client connects sources through OAuth 2.0 and presses Finish.",
        discussion: """
        A link from `authdoctor links issue` opens here (`<public-url>/l/<token>`). Opening it changes \
        nothing (link previews and mail scanners fetch URLs too): the page has a Start button, and the \
        first browser to press it starts the link's session (a cookie); any later open, an expired or \
        a revoked link gets a page saying so (HTTP 410). Each Connect button runs an OAuth 2.0 authorization-code flow with \
        PKCE (S256) at the provider; the code is exchanged through libcurl and the tokens are stored \
        encrypted. Finish activates the session's connections (`authdoctor connections list`); a \
        session not finished before the link expires activates nothing.

        OAuth apps: one `--oauth-client PROVIDER=CLIENT_ID` per provider (the endpoints and scopes come \
        from the provider definition's `oauth:` section), with the client secret in the environment \
        variable AUTHDOCTOR_OAUTH_<PROVIDER>_SECRET (upper case, '-' as '_'). Register \
        `<public-url>/oauth/callback` as the app's redirect URI. `--sandbox` instead starts the \
        Sandbox on 127.0.0.1 and uses its test authorization servers for every provider (no internet).

        Every request is logged on standard error with the link token, OAuth codes and states cut out. \
        `GET /healthz` answers 200 while the server runs.

        Metrics (the latest verdict of every connection `authdoctor check --db` recorded in the same \
        store, Prometheus text format) are not served to clients: `--metrics-listen ADDRESS:PORT` \
        serves `GET /metrics` on a listener of its own, and AUTHDOCTOR_METRICS_TOKEN, when set, is \
        the bearer token every `/metrics` request must carry (then also on the main listener). \
        Beside it, `GET /probe?connection=ID` (as blackbox_exporter's /probe) checks that stored \
        connection now and answers its metrics with probe_success; it never exchanges a refresh \
        token and records nothing.

        Operator API (JSON, documented in schema/openapi.yaml): `POST /api/links` issues a link \
        (body as `links issue` takes: {"client": "Acme", "sources": ["google"], "ttl": "24h", \
        "maxSources": 2}; the answer holds its URL, once), `GET /api/links`, `POST \
        /api/links/{id}/revoke`, `GET /api/connections`, `GET /api/connections/{id}/history`. Every \
        call needs `Authorization: Bearer <token>` of an operator (`authdoctor operators add NAME`) \
        and is written to the audit log, refused ones too (`authdoctor audit`).

        Operator console (HTML, for a browser): `<public-url>/console`. Sign in with an operator \
        token; it lists every connection with its status, provider, client, failing since, flapping \
        and last check (filter, search, 50 a page); a connection's page draws its check history and \
        its latest report (steps, message for the client) and issues a re-authorization link; \
        /console/links issues (URL shown once), lists and revokes links; /console/classify \
        classifies pasted text, a `curl -i` output or a HAR (nothing pasted is stored). Sessions \
        live in this process (a restart signs operators out); every action is in the audit log.

        Slow and idle clients: a connection must complete a request head within --idle-timeout \
        seconds (15) of opening or of its previous answer, and the body within --body-timeout (10); \
        at most --max-connections (512, lowered to fit the descriptor limit) are open at once: a new \
        one takes the place of the longest-idle connection, or is closed when all are busy.

        Examples:
          authdoctor serve --sandbox --port 8080
          authdoctor serve --sandbox --port 0 --db /tmp/links.sqlite
          authdoctor operators add alice --db /tmp/links.sqlite
          # sign in at http://127.0.0.1:8080/console with the token it printed
          curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
              -d '{"client": "Acme"}' http://127.0.0.1:8080/api/links
          export AUTHDOCTOR_OAUTH_GOOGLE_SECRET=... AUTHDOCTOR_OAUTH_HUBSPOT_SECRET=...
          authdoctor serve --public-url https://links.example.com \\
              --oauth-client google=123-abc.apps.googleusercontent.com \\
              --oauth-client hubspot=0a1b2c3d-aaaa-bbbb-cccc-0123456789ab

        The server is in the authdoctor-serve executable, which must sit beside authdoctor (`make \
        install` puts both in place); this command replaces itself with it.

        Exit status: 0 stopped cleanly (Ctrl-C or SIGTERM); 64 bad usage; 69 the port is in use, or \
        authdoctor-serve is missing; \
        71 another system error; 74 the database cannot be opened; 78 a missing client secret or a bad provider file.
        """
    )

    @Option(help: ArgumentHelp("Address to listen on (loopback by default; put a TLS proxy in front for clients).", valueName: "ADDRESS"))
    package var host: String = "127.0.0.1"

    @Option(help: ArgumentHelp("Port to listen on; 0 picks a free one (the listening URL is printed on standard error).", valueName: "N"))
    package var port: Int = 8080

    @Option(name: .customLong("public-url"), help: ArgumentHelp("The URL clients and providers reach this server at (AUTHDOCTOR_PUBLIC_URL); redirects and the OAuth redirect URI are built from it. Default: http://HOST:PORT.", valueName: "URL"))
    package var publicURL: String?

    @OptionGroup package var storeOptions: StoreOptions

    @Option(name: .customLong("oauth-client"), help: ArgumentHelp("The platform's OAuth app at a provider, e.g. google=ID.apps.googleusercontent.com; its secret comes from AUTHDOCTOR_OAUTH_<PROVIDER>_SECRET. Repeatable.", valueName: "PROVIDER=CLIENT_ID"))
    package var oauthClients: [String] = []

    @Flag(help: "Start the Sandbox on 127.0.0.1 and use its test OAuth servers for every provider (demos, tests).")
    package var sandbox = false

    @Option(name: .customLong("sandbox-url"), help: ArgumentHelp("Use the test OAuth servers of a Sandbox already running at URL (`authdoctor sandbox --port N`; loopback only) instead of starting one: several serve instances on one store then share one test provider.", valueName: "URL"))
    package var sandboxURL: String?

    @Option(name: .customLong("providers"), help: ArgumentHelp("Also load provider definitions from DIR (one with a built-in id replaces it). Repeatable.", valueName: "DIR"))
    package var providerDirectories: [String] = []

    @Option(name: .customLong("exchange-timeout"), help: ArgumentHelp("Seconds a code exchange at a token endpoint may take.", valueName: "SECONDS"))
    package var exchangeTimeout: Double = 10

    @Flag(help: "Log warnings and errors only, not every request.")
    package var quiet = false

    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp("Serve GET /metrics on this address of its own, e.g. 127.0.0.1:9464 (port 0: any free port, printed). Not on the client-facing listener.", valueName: "ADDRESS:PORT"))
    package var metricsListen: String?

    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Seconds a connection has to send a complete request head, from its start or its previous answer.", valueName: "SECONDS"))
    package var idleTimeout: Double = ConnectionLimits.defaultIdleTimeout

    @Option(name: .customLong("body-timeout"), help: ArgumentHelp("Seconds, after the head, for the rest of a request.", valueName: "SECONDS"))
    package var bodyTimeout: Double = ConnectionLimits.defaultBodyTimeout

    @Option(name: .customLong("max-connections"), help: ArgumentHelp("Connections open at once; at the cap a new one replaces the longest-idle one (or is closed when all are busy).", valueName: "N"))
    package var maxConnections: Int = ConnectionLimits.defaultMaxConnections

    package static let metricsTokenVariable = "AUTHDOCTOR_METRICS_TOKEN"

    package init() {}

    package func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 (any free port) to 65535, not \(port)") }
        guard exchangeTimeout > 0, exchangeTimeout <= 120 else { throw ValidationError("--exchange-timeout must be more than 0 and at most 120 seconds") }
        if sandbox && !oauthClients.isEmpty { throw ValidationError("--sandbox uses the Sandbox's own OAuth clients; drop --oauth-client") }
        if let sandboxURL {
            if sandbox { throw ValidationError("give --sandbox (start one) or --sandbox-url (use a running one), not both") }
            if !oauthClients.isEmpty { throw ValidationError("--sandbox-url uses the Sandbox's own OAuth clients; drop --oauth-client") }
            guard let url = URL(string: sandboxURL), url.scheme == "http", let host = url.host, ProviderLoader.isLoopbackHost(host) else {
                throw ValidationError("--sandbox-url takes the http:// URL of a Sandbox on loopback (e.g. http://127.0.0.1:8700), not '\(sandboxURL)'")
            }
        }
        if let metricsListen, ListenAddress.parse(metricsListen) == nil {
            throw ValidationError("--metrics-listen takes ADDRESS:PORT (e.g. 127.0.0.1:9464), not '\(metricsListen)'")
        }
        guard idleTimeout.isFinite, idleTimeout > 0, idleTimeout <= 3600 else { throw ValidationError("--idle-timeout must be more than 0 and at most 3600 seconds") }
        guard bodyTimeout.isFinite, bodyTimeout > 0, bodyTimeout <= 3600 else { throw ValidationError("--body-timeout must be more than 0 and at most 3600 seconds") }
        guard (1...1_000_000).contains(maxConnections) else { throw ValidationError("--max-connections must be 1 to 1000000, not \(maxConnections)") }
    }

    /// The server itself: set by the `authdoctor-serve` executable, which links it (Hummingbird,
    /// NIO). Left nil here, so this executable stays small and starts fast; `run` hands over to it.
    package nonisolated(unsafe) static var server: ((ServeCommand) throws -> Void)?

    package func run() throws {
        guard let server = Self.server else { try ServerExecutable.handOver() }
        try server(self)
    }

    /// AUTHDOCTOR_OAUTH_GOOGLE_ADS_SECRET for google-ads.
    package static func secretVariable(for provider: String) -> String {
        "AUTHDOCTOR_OAUTH_" + provider.uppercased().replacingOccurrences(of: "-", with: "_") + "_SECRET"
    }
}

