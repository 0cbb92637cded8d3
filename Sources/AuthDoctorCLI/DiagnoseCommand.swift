import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
import Probe
import RuleEngine
import Sandbox

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
          authdoctor diagnose --provider bigquery --service-account-file sa-key.json --dataset windsor_data
          authdoctor diagnose --provider google-sheets --token-env G_TOKEN --spreadsheet-id ID
          authdoctor diagnose --provider snowflake --account ORG-ACCOUNT --user LOADER --password-env SF_PASSWORD
          authdoctor diagnose --provider snowflake --account ORG-ACCOUNT --user LOADER --private-key-file key.p8
          authdoctor diagnose --provider snowflake --account xy12345.eu-central-1 --user LOADER --password-env SF_PASSWORD
          authdoctor diagnose --provider platform-api --url "https://connectors.windsor.ai/all?fields=date" --api-key-env KEY
          authdoctor diagnose --provider looker-studio --har attempt.har    (or --url URL; nothing is probed)

        --base-url NAME=URL replaces a base URL (sandboxes, proxies); NAME is one of the definition's \
        base URL names, or the provider id for all of them. The API version path is still appended.

        Exit status: 0 healthy; 1 warnings only (e.g. a token expiring within --warn-expiry); \
        2 a failure found; 3 could not tell; 64 bad usage (unknown provider, missing credential, bad \
        --base-url); 65 malformed input (a bad key file, HAR); 66 unreadable token or key file; 78 a bad rule or provider file.
        """
    )

    @Option(name: .customLong("provider"), help: ArgumentHelp("The provider to probe (sources: google, google-ads, google-analytics, facebook, linkedin, hubspot; destinations: bigquery, google-sheets, snowflake, platform-api, looker-studio; or a local definition's id).", valueName: "P"))
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

    @Option(name: .customLong("warn-expiry"), help: ArgumentHelp("Warn when a token expires within this time: 7d, 36h, 90m, seconds; 0 = never.", valueName: "DURATION"))
    var warnExpiry: String = "7d"

    @Option(name: .customLong("timeout"), help: ArgumentHelp("Seconds each probe may take, connect included.", valueName: "SECONDS"))
    var timeout: Double = 10

    @Option(name: .customLong("base-url"), help: ArgumentHelp("Replace a base URL: NAME=URL (repeatable).", valueName: "NAME=URL"))
    var baseURLs: [String] = []

    @Flag(name: .customLong("sandbox"), help: "Probe a local replay of the provider (the Sandbox, started in-process) instead of the real one; `authdoctor sandbox --list` names the credentials of every scenario.")
    var sandbox = false

    @Option(name: .customLong("ca-bundle"), help: ArgumentHelp("Also trust the CA certificates in this PEM file (a sandbox or proxy CA). Verification stays on.", valueName: "FILE"))
    var caBundle: String?

    @Option(name: .customLong("providers"), help: ArgumentHelp("Also load provider definitions from DIR (one with a built-in id replaces it). Repeatable.", valueName: "DIR"))
    var providerDirectories: [String] = []

    @Option(name: .customLong("format"), help: ArgumentHelp("text (default), json, markdown or brief.", valueName: "FORMAT"))
    var format: OutputFormat = .text

    @Flag(name: .customLong("show-facts"), help: "Also print every fact (diagnosis-level, then each step's as STEP:fact), redacted.")
    var showFacts = false

    @OptionGroup var ruleOptions: RuleOptions

    /// PostgreSQL/Redshift: --host, --port, --database, --schema, --table, --tls (DatabaseOptions.swift).
    @OptionGroup(title: "PostgreSQL and Redshift") var database: DatabaseOptions

    @OptionGroup(title: "Authorization links") var links: LinkPairingOptions

    @Option(name: .customLong("link"), help: ArgumentHelp("Explain an authorization link's state instead of probing: expired, used, revoked, session not finished, plan limit (the link store: --db).", valueName: "ID"))
    var linkID: String?

    public init() {}

    public func validate() throws {
        if format == .jsonl { throw ValidationError("diagnose writes one report: use --format json") }
        if tokenEnv != nil && tokenFile != nil { throw ValidationError("give only one of --token-env, --token-file") }
        if passwordEnv != nil && passwordFile != nil { throw ValidationError("give only one of --password-env, --password-file") }
        if apiKeyEnv != nil && apiKeyFile != nil { throw ValidationError("give only one of --api-key-env, --api-key-file") }
        if serviceAccountFile != nil && privateKeyFile != nil { throw ValidationError("give only one of --service-account-file, --private-key-file") }
        if url != nil && har != nil { throw ValidationError("give only one of --url, --har") }
    }

    public func run() throws {
        if let linkID { return try explainLink(linkID) }
        let pairing = try links.checked()
        if let provider, DatabaseTarget.providers.contains(provider) { return try runDatabase(provider) }
        if database.anyGiven { throw InputError(.usage, "--host, --port, --database, --schema, --table and --tls are for --provider postgres or redshift") }
        let server = sandbox ? try InProcessSandbox.start() : nil
        defer { server?.stop() }
        let diagnosis = try makeRunner(sandbox: server).run()
        var report = diagnosis.report
        try pairing?.attach(to: &report)
        Terminal.write(report, format: format)
        if diagnosis.exitStatus != 0 { throw ExitCode(diagnosis.exitStatus) }
    }

    /// Everything checked before the first probe: provider, credentials, flags. One-line errors.
    func makeRunner(sandbox server: SandboxServer? = nil) throws -> DiagnosisRunner {
        guard let provider, !provider.isEmpty else {
            throw InputError(.usage, "diagnose needs --provider P (google, google-ads, google-analytics, facebook, linkedin, hubspot, bigquery, google-sheets, snowflake, platform-api, looker-studio)")
        }
        // Provider definitions first: an unknown provider is the first thing to say.
        var directories = providerDirectories
        for rules in ruleOptions.directories {
            let sub = URL(fileURLWithPath: rules).appendingPathComponent("providers").path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: sub, isDirectory: &isDirectory), isDirectory.boolValue { directories.append(sub) }
        }
        let definition = try ProviderLibrary.definition(for: provider, includeBuiltin: true, directories: directories)

        var options = DiagnosisOptions()
        for argument in baseURLs { options.baseURLOverrides.append(try CredentialInput.baseURL(argument)) }
        options.expectAccount = expectAccount
        options.expectScopes = expectScopes.map(CredentialInput.scopes)
        options.warnExpiry = try CredentialInput.duration(warnExpiry)
        guard timeout > 0, timeout <= 600, timeout.isFinite else {
            throw InputError(.usage, "--timeout must be more than 0 and at most 600 seconds, not \(timeout)")
        }
        options.timeout = timeout
        options.keepFacts = showFacts
        if let caBundle {
            _ = try InputFile.checkReadable(caBundle)
            options.caBundlePath = caBundle
        }

        var credentials = DiagnosisCredentials()
        if let tokenEnv { credentials[CredentialName.token] = try CredentialInput.fromEnvironment(tokenEnv, flag: "--token-env") }
        if let tokenFile { credentials[CredentialName.token] = try CredentialInput.fromFile(tokenFile) }
        if let refreshTokenEnv {
            credentials[CredentialName.refreshToken] = try CredentialInput.fromEnvironment(refreshTokenEnv, flag: "--refresh-token-env")
        }
        if let clientSecretEnv {
            credentials[CredentialName.clientSecret] = try CredentialInput.fromEnvironment(clientSecretEnv, flag: "--client-secret-env")
        }
        if let developerTokenEnv {
            credentials[CredentialName.developerToken] = try CredentialInput.fromEnvironment(developerTokenEnv, flag: "--developer-token-env")
        }
        if let clientID {
            guard !clientID.isEmpty, !clientID.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw InputError(.usage, "--client-id is empty or holds a control character")
            }
            credentials[CredentialName.clientID] = clientID
        }
        if let accountID {
            guard !accountID.isEmpty, !accountID.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw InputError(.usage, "--account-id is empty or holds a control character")
            }
            credentials[CredentialName.accountID] = accountID
        }

        let urlBase = try readDestinationInputs(definition, into: &credentials, options: &options)
        if server == nil, let urlBase, options.baseURLOverrides.isEmpty {
            options.baseURLOverrides = [(definition.id, urlBase)]
        }

        if let server, options.baseURLOverrides.isEmpty {
            // The scenario the token picks may be a fault (a black hole, a self-signed TLS host):
            // point the provider at that fault's listener, as the scenario describes.
            let token = credentials[CredentialName.token] ?? credentials[CredentialName.refreshToken]
                ?? credentials[CredentialName.apiKey] ?? ""
            let fault = server.scenarios.scenario(forToken: token)?.fault
            options.baseURLOverrides = [(provider, fault.map { server.faultURL($0) } ?? server.baseURL)]
        }

        let ruleSet = try ruleOptions.load()
        return try DiagnosisRunner(definition: definition, credentials: credentials, options: options,
                                   engine: ClassifyEngine(ruleSet: ruleSet))
    }

    /// The destination flags: key files, passwords, API keys, identifiers, `--url`/`--har`.
    /// Returns the scheme and host of a platform-API `--url` (its base URL).
    func readDestinationInputs(_ definition: ProviderDefinition, into credentials: inout DiagnosisCredentials,
                               options: inout DiagnosisOptions) throws -> String? {
        if let serviceAccountFile {
            let key = try ServiceAccountKey.load(path: serviceAccountFile)
            credentials[CredentialName.privateKey] = key.privateKeyPEM
            credentials[CredentialName.clientEmail] = key.clientEmail
            if project == nil { credentials[CredentialName.project] = key.projectID }
        }
        if let privateKeyFile { credentials[CredentialName.privateKey] = try RSAKey.loadFile(privateKeyFile) }
        if let passwordEnv { credentials[CredentialName.password] = try CredentialInput.fromEnvironment(passwordEnv, flag: "--password-env") }
        if let passwordFile { credentials[CredentialName.password] = try CredentialInput.fromFile(passwordFile, flag: "--password-file") }
        if let apiKeyEnv { credentials[CredentialName.apiKey] = try CredentialInput.fromEnvironment(apiKeyEnv, flag: "--api-key-env") }
        if let apiKeyFile { credentials[CredentialName.apiKey] = try CredentialInput.fromFile(apiKeyFile, flag: "--api-key-file") }
        for (flag, name, value) in [("--user", CredentialName.user, user), ("--account", CredentialName.account, account),
                                    ("--project", CredentialName.project, project), ("--dataset", CredentialName.dataset, dataset),
                                    ("--spreadsheet-id", CredentialName.spreadsheetID, spreadsheetID)] {
            guard let value else { continue }
            guard !value.isEmpty, !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw InputError(.usage, "\(flag) is empty or holds a control character")
            }
            credentials[name] = value
        }
        if let har {
            guard definition.evidenceInputs.contains("har") else {
                throw InputError(.usage, "--har is for providers that classify a browser recording (looker-studio), not \(definition.id)")
            }
            options.evidence = try DiagnosisEvidence.har(path: har, provider: definition.id)
            options.evidenceSource = har
        }
        guard let url else { return nil }
        if definition.evidenceInputs.contains("url") {
            options.evidence = [try DiagnosisEvidence.url(url, provider: definition.id)]
            return nil
        }
        guard definition.credential(CredentialName.urlPath) != nil else {
            throw InputError(.usage, "--url is not used by \(definition.id)")
        }
        // The platform API's URL: scheme and host become the base URL, path and query the `url-path`.
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), let sep = url.range(of: "://") else {
            throw InputError(.usage, "--url must be an http(s) URL")
        }
        for name in ["api_key", "apikey", "key", "access_token", "token"] where URLFacts.queryValue(name, in: url) != nil {
            throw InputError(.usage, "--url carries a key ('\(name)='): remove it from the URL and give it with --api-key-env or --api-key-file")
        }
        let rest = url[sep.upperBound...]
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let base = String(url[..<slash])
        var path = String(url[slash...]).components(separatedBy: "#")[0]
        if path.isEmpty { path = "/" }
        if path.hasPrefix("?") { path = "/" + path }
        if !path.contains("?") { path += "?" } else if !path.hasSuffix("?") && !path.hasSuffix("&") { path += "&" }
        guard !path.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw InputError(.usage, "--url holds a space or control character")
        }
        if let problem = ProviderLoader.baseURLProblem(base) { throw InputError(.usage, "--url: the URL \(problem)") }
        credentials[CredentialName.urlPath] = path
        return base
    }
}
