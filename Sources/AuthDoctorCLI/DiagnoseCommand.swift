import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
import Probe
import RuleEngine
import Sandbox
import HealthCheck

/// `authdoctor diagnose --provider P ...`: live probes of one connection, classified like `classify`.
public struct DiagnoseCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Probe one connection live: what fails, why, and what to do.",
        discussion: """
        Runs the provider's probe steps (rules/providers/P.yaml) with the connection's credentials, \
        independent steps concurrently, and classifies every answer with the rules. Secrets are read \
        from environment variables, a file or standard input, never from the command line, and never \
        appear in any output.

        Examples:
          authdoctor diagnose --provider facebook --token-env FB_TOKEN \\
              --client-id 5550001112223 --client-secret-env FB_APP_SECRET
          authdoctor diagnose --provider google-analytics --token-file token.txt \\
              --expect-account analyst@example.com --format json
          authdoctor diagnose --provider google --refresh-token-env REFRESH \\
              --client-id ID.apps.googleusercontent.com --client-secret-env SECRET
          authdoctor diagnose --provider hubspot --token-env HS_TOKEN \\
              --base-url hubspot=http://127.0.0.1:8080

        Destinations:
          authdoctor diagnose --provider bigquery --service-account-file sa-key.json \\
              --dataset windsor_data
          authdoctor diagnose --provider google-sheets --token-env G_TOKEN \\
              --spreadsheet-id ID
          authdoctor diagnose --provider snowflake --account ORG-ACCOUNT \\
              --user LOADER --password-env SF_PASSWORD
          authdoctor diagnose --provider snowflake --account ORG-ACCOUNT \\
              --user LOADER --private-key-file key.p8
          authdoctor diagnose --provider snowflake --account xy12345.eu-central-1 \\
              --user LOADER --password-env SF_PASSWORD
          authdoctor diagnose --provider postgres --host 127.0.0.1 --port 5432 \\
              --user loader --password-env PG_PASSWORD --database analytics
          authdoctor diagnose --provider redshift --user loader --database dev \\
              --host CLUSTER.REGION.redshift.amazonaws.com --password-env RS_PASSWORD
          authdoctor diagnose --provider platform-api --api-key-env KEY \\
              --url "https://connectors.windsor.ai/all?fields=date"
          authdoctor diagnose --provider looker-studio --har attempt.har
              (or --url URL; nothing is probed)

        --base-url NAME=URL replaces a base URL (sandboxes, proxies); NAME is one of the definition's \
        base URL names, or the provider id for all of them. The API version path is still appended.

        Exit status: 0 healthy; 1 warnings only (e.g. a token expiring within --warn-expiry); \
        2 a failure found; 3 could not tell; 64 bad usage (unknown provider, missing credential, bad \
        --base-url); 65 malformed input (a bad key file, HAR); 66 unreadable token or key file; 78 a bad rule or provider file.
        """
    )

    @Option(name: .customLong("provider"), help: ArgumentHelp("The provider to probe (sources: google, google-ads, google-analytics, facebook, linkedin, hubspot; destinations: bigquery, google-sheets, snowflake, postgres, redshift, platform-api, looker-studio; or a local definition's id).", valueName: "P"))
    var provider: String?

    @Option(name: .customLong("token-env"), help: ArgumentHelp("Read the access token from this environment variable.", valueName: "VAR"))
    var tokenEnv: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("Read the access token from this file ('-' = standard input).", valueName: "FILE"))
    var tokenFile: String?

    @Option(name: .customLong("refresh-token-env"), help: ArgumentHelp("Read the refresh token from this environment variable.", valueName: "VAR"))
    var refreshTokenEnv: String?

    @Option(name: .customLong("client-id"), help: ArgumentHelp("The OAuth app's client id (not a secret).", valueName: "ID"))
    var clientID: String?

    @Option(name: .customLong("client-secret-env"), help: ArgumentHelp("Read the OAuth app's client secret from this environment variable.", valueName: "VAR"))
    var clientSecretEnv: String?

    @Option(name: .customLong("developer-token-env"), help: ArgumentHelp("Read the Google Ads developer token from this environment variable.", valueName: "VAR"))
    var developerTokenEnv: String?

    @Option(name: .customLong("account-id"), help: ArgumentHelp("An account the connection reads (an ad account, a GA4 property), for the steps that check it.", valueName: "ID"))
    var accountID: String?

    @Option(name: .customLong("service-account-file"), help: ArgumentHelp("A Google service-account key file (JSON): its key signs the token request (BigQuery, Google Sheets).", valueName: "FILE"))
    var serviceAccountFile: String?

    @Option(name: .customLong("private-key-file"), help: ArgumentHelp("An RSA private key in PEM for key-pair (JWT) authentication (Snowflake).", valueName: "FILE"))
    var privateKeyFile: String?

    @Option(name: .customLong("password-env"), help: ArgumentHelp("Read the password from this environment variable.", valueName: "VAR"))
    var passwordEnv: String?

    @Option(name: .customLong("password-file"), help: ArgumentHelp("Read the password from this file ('-' = standard input).", valueName: "FILE"))
    var passwordFile: String?

    @Option(name: .customLong("api-key-env"), help: ArgumentHelp("Read the API key from this environment variable (platform-api).", valueName: "VAR"))
    var apiKeyEnv: String?

    @Option(name: .customLong("api-key-file"), help: ArgumentHelp("Read the API key from this file ('-' = standard input).", valueName: "FILE"))
    var apiKeyFile: String?

    @Option(name: .customLong("user"), help: ArgumentHelp("The login name (Snowflake).", valueName: "NAME"))
    var user: String?

    @Option(name: .customLong("account"), help: ArgumentHelp("The account identifier (Snowflake: ORGNAME-ACCOUNT_NAME, or the locator with its region and cloud, e.g. xy12345.us-east-2.aws; the account URL works too); it names the host.", valueName: "ID"))
    var account: String?

    @Option(name: .customLong("url"), help: ArgumentHelp("platform-api: the API URL (without the key); looker-studio: a URL the customer pasted.", valueName: "URL"))
    var url: String?

    @Option(name: .customLong("har"), help: ArgumentHelp("looker-studio: a HAR export of the failing attempt.", valueName: "FILE"))
    var har: String?

    @Option(name: .customLong("project"), help: ArgumentHelp("The Google Cloud project id (BigQuery; default: the key file's project_id).", valueName: "ID"))
    var project: String?

    @Option(name: .customLong("dataset"), help: ArgumentHelp("The BigQuery dataset the destination writes to.", valueName: "NAME"))
    var dataset: String?

    @Option(name: .customLong("spreadsheet-id"), help: ArgumentHelp("The Google Sheets spreadsheet id (from its URL).", valueName: "ID"))
    var spreadsheetID: String?

    @Option(name: .customLong("expect-account"), help: ArgumentHelp("The account the grant should belong to (e-mail, or id); another one is reported (multi-account).", valueName: "EMAIL"))
    var expectAccount: String?

    @Option(name: .customLong("expect-scopes"), help: ArgumentHelp("Scopes the connection needs, comma-separated (replaces the provider's defaults).", valueName: "LIST"))
    var expectScopes: String?

    @Option(name: .customLong("warn-expiry"), parsing: .unconditional, help: ArgumentHelp("Warn when a token expires within this time: 7d, 36h, 90m, seconds; 0 = never.", valueName: "DURATION"))
    var warnExpiry: String = "7d"

    @Option(name: .customLong("timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds each probe may take, connect included.", valueName: "SECONDS"))
    var timeout: Double = 10

    @Option(name: .customLong("base-url"), help: ArgumentHelp("Replace a base URL: NAME=URL (repeatable).", valueName: "NAME=URL"))
    var baseURLs: [String] = []

    @Flag(name: .customLong("sandbox"), help: "Probe a local replay of the provider (the Sandbox, started in-process) instead of the real one; `authdoctor sandbox --list` names the credentials of every scenario.")
    var sandbox = false

    @Option(name: .customLong("ca-bundle"), help: ArgumentHelp("Also trust the CA certificates in this PEM file (a sandbox or proxy CA). Verification stays on.", valueName: "FILE"))
    var caBundle: String?

    @Option(name: .customLong("providers"), help: ArgumentHelp("Also load provider definitions from DIR (one with a built-in id replaces it). Repeatable.", valueName: "DIR"))
    var providerDirectories: [String] = []

    @Option(name: .customLong("format"), help: ArgumentHelp("text (default), json, markdown, brief or client (only the message for the client).", valueName: "FORMAT"))
    var format: ReportFormat = .text

    @Flag(name: .customLong("show-facts"), help: "Also print every fact (diagnosis-level, then each step's as STEP:fact), redacted.")
    var showFacts = false

    @OptionGroup var ruleOptions: RuleOptions

    @OptionGroup var colorOption: ColorOption

    /// PostgreSQL/Redshift: --host, --port, --database, --schema, --table, --tls (DatabaseOptions.swift).
    @OptionGroup(title: "PostgreSQL and Redshift") var database: DatabaseOptions

    @OptionGroup(title: "Authorization links") var links: LinkPairingOptions

    @Option(name: .customLong("link"), help: ArgumentHelp("Explain an authorization link's state instead of probing: expired, used, revoked, session not finished, plan limit (the link store: --db).", valueName: "ID"))
    var linkID: String?

    public init() {}

    public func validate() throws {
        do {
            try NumberInput.check(timeout, what: "--timeout", bounds: NumberInput.Range.timeout)
            _ = try CredentialInput.duration(warnExpiry)
        } catch { throw ValidationError(error.message) }
        do { try settings.validateExclusions() } catch { throw ValidationError(error.message) }
    }

    public func run() throws {
        // Standard input first, before anything opens a file or a pipe: a closed stdin is refused
        // here, and nothing else can be read in its place.
        let stdinFlags = [tokenFile, passwordFile, apiKeyFile].filter { $0 == "-" }.count
        if stdinFlags > 1 { throw InputError(.usage, "only one of --token-file, --password-file, --api-key-file can be '-' (standard input)") }
        let standardInput: Data? = stdinFlags == 1 ? try SystemIO.readStandardInput() : nil
        if let linkID { return try explainLink(linkID) }
        let pairing = try links.checked()
        // An unknown or missing provider is the first thing to say, before rules load or the Sandbox starts.
        let provider = try settings.requireProvider()
        if !settings.isDatabase {
            Libcurl.loadInBackground()
            _ = try definition(provider)
        }
        let server = sandbox && !settings.isDatabase ? try InProcessSandbox.start() : nil
        defer { server?.stop() }
        let engine = try ruleOptions.engine()
        let diagnosis: Diagnosis
        switch try makePlan(engine: engine, sandbox: server, standardInput: standardInput) {
        case let .http(runner):
            if runner.probes { try Libcurl.requireLoaded() }
            diagnosis = runner.run()
        case let .database(runner):
            try DatabaseDiagnosisRunner.requireClientLibrary()
            diagnosis = runner.run()
        }
        var report = diagnosis.report
        try pairing?.attach(to: &report)
        Terminal.write(report, format: format.output)
        if diagnosis.exitStatus != 0 { throw ExitCode(diagnosis.exitStatus) }
    }

    /// The flags as the shared connection vocabulary (`check` reads the same names from a file).
    var settings: ConnectionSettings {
        var s = ConnectionSettings()
        s.provider = provider
        s.tokenEnv = tokenEnv
        s.tokenFile = tokenFile
        s.refreshTokenEnv = refreshTokenEnv
        s.clientID = clientID
        s.clientSecretEnv = clientSecretEnv
        s.developerTokenEnv = developerTokenEnv
        s.accountID = accountID
        s.serviceAccountFile = serviceAccountFile
        s.privateKeyFile = privateKeyFile
        s.passwordEnv = passwordEnv
        s.passwordFile = passwordFile
        s.apiKeyEnv = apiKeyEnv
        s.apiKeyFile = apiKeyFile
        s.user = user
        s.account = account
        s.url = url
        s.har = har
        s.project = project
        s.dataset = dataset
        s.spreadsheetID = spreadsheetID
        s.expectAccount = expectAccount
        s.expectScopes = expectScopes
        s.warnExpiry = warnExpiry
        s.timeout = timeout
        s.caBundle = caBundle
        s.host = database.host
        s.port = database.port
        s.database = database.database
        s.schema = database.schema
        s.table = database.table
        s.tls = database.tls
        s.tlsCAFile = database.tlsCAFile
        return s
    }

    /// Everything checked before the first probe: provider, credentials, flags. One-line errors.
    func makePlan(engine: ClassifyEngine, sandbox server: SandboxServer? = nil, standardInput: Data? = nil) throws -> ConnectionSettings.Plan {
        var s = settings
        for argument in baseURLs { s.baseURLs.append(try CredentialInput.baseURL(argument)) }
        if s.isDatabase && sandbox { throw InputError(.usage, "--sandbox has no database: point --host/--port at a test server instead") }
        let sandboxURL = server.map(SandboxRouting.baseURL(server:))
        if let standardInput {
            return try s.plan(engine: engine, definitions: definition, sandboxURL: sandboxURL, keepFacts: showFacts,
                              readStandardInput: { standardInput })
        }
        return try s.plan(engine: engine, definitions: definition, sandboxURL: sandboxURL, keepFacts: showFacts)
    }

    /// A provider's definition: built-in, `--providers DIR`, or `providers/` under a `--rules DIR`.
    func definition(_ id: String) throws(InputError) -> ProviderDefinition {
        try ProviderLibrary.definition(for: id, includeBuiltin: true, directories: RuleOptions.providerDirectories(providerDirectories, rules: ruleOptions),
                                       alsoKnown: DatabaseTarget.providers.sorted())
    }
}

/// Where the in-process Sandbox serves the scenario a token picks (a fault's own listener for the
/// black hole, the self-signed TLS host, ...).
package enum SandboxRouting {
    package static func baseURL(server: SandboxServer) -> @Sendable (String) -> String {
        { token in server.scenarios.scenario(forToken: token)?.fault.map { server.faultURL($0) } ?? server.baseURL }
    }
}
