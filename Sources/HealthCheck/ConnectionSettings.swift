import Diagnose
import EvidenceModel
import Foundation
import RuleEngine

/// One connection as `diagnose`'s flags describe it, and as a `check` connections-file entry
/// describes it with the same names (`token-env`, `client-id`, `base-url`, `host`, ...). Both
/// commands build their diagnosis here, so the two vocabularies cannot drift apart: `keys` is the
/// table of every name, and a test holds it equal to diagnose's long flags.
///
/// Secrets are never values here: only the names of the environment variables or files that hold
/// them.
public struct ConnectionSettings: Sendable, Equatable {
    /// The text values given, by field. An entry names five or six of the thirty, so they are kept
    /// sparse: thirty optional slots made every entry of a large connections file about 500 bytes.
    private var texts: [(field: TextField, value: String)] = []

    enum TextField: UInt8, Sendable {
        case provider, tokenEnv, tokenFile, refreshTokenEnv, clientID, clientSecretEnv, developerTokenEnv, accountID, serviceAccountFile, privateKeyFile, passwordEnv, passwordFile, apiKeyEnv, apiKeyFile, user, account, url, har, project, dataset, spreadsheetID, expectAccount, expectScopes, caBundle, host, database, schema, table, tls, tlsCAFile
    }

    private func text(_ field: TextField) -> String? {
        for item in texts where item.field == field { return item.value }
        return nil
    }

    private mutating func setText(_ field: TextField, _ value: String?) {
        if let i = texts.firstIndex(where: { $0.field == field }) {
            if let value { texts[i].value = value } else { texts.remove(at: i) }
        } else if let value {
            texts.append((field, value))
        }
    }

    public var provider: String? { get { text(.provider) } set { setText(.provider, newValue) } }
    public var tokenEnv: String? { get { text(.tokenEnv) } set { setText(.tokenEnv, newValue) } }
    public var tokenFile: String? { get { text(.tokenFile) } set { setText(.tokenFile, newValue) } }
    public var refreshTokenEnv: String? { get { text(.refreshTokenEnv) } set { setText(.refreshTokenEnv, newValue) } }
    public var clientID: String? { get { text(.clientID) } set { setText(.clientID, newValue) } }
    public var clientSecretEnv: String? { get { text(.clientSecretEnv) } set { setText(.clientSecretEnv, newValue) } }
    public var developerTokenEnv: String? { get { text(.developerTokenEnv) } set { setText(.developerTokenEnv, newValue) } }
    public var accountID: String? { get { text(.accountID) } set { setText(.accountID, newValue) } }
    public var serviceAccountFile: String? { get { text(.serviceAccountFile) } set { setText(.serviceAccountFile, newValue) } }
    public var privateKeyFile: String? { get { text(.privateKeyFile) } set { setText(.privateKeyFile, newValue) } }
    public var passwordEnv: String? { get { text(.passwordEnv) } set { setText(.passwordEnv, newValue) } }
    public var passwordFile: String? { get { text(.passwordFile) } set { setText(.passwordFile, newValue) } }
    public var apiKeyEnv: String? { get { text(.apiKeyEnv) } set { setText(.apiKeyEnv, newValue) } }
    public var apiKeyFile: String? { get { text(.apiKeyFile) } set { setText(.apiKeyFile, newValue) } }
    public var user: String? { get { text(.user) } set { setText(.user, newValue) } }
    public var account: String? { get { text(.account) } set { setText(.account, newValue) } }
    public var url: String? { get { text(.url) } set { setText(.url, newValue) } }
    public var har: String? { get { text(.har) } set { setText(.har, newValue) } }
    public var project: String? { get { text(.project) } set { setText(.project, newValue) } }
    public var dataset: String? { get { text(.dataset) } set { setText(.dataset, newValue) } }
    public var spreadsheetID: String? { get { text(.spreadsheetID) } set { setText(.spreadsheetID, newValue) } }
    public var expectAccount: String? { get { text(.expectAccount) } set { setText(.expectAccount, newValue) } }
    public var expectScopes: String? { get { text(.expectScopes) } set { setText(.expectScopes, newValue) } }
    public var warnExpiry: String = "7d"
    public var timeout: Double = 10
    /// `--base-url NAME=URL`, in the order given.
    public var baseURLs: [(name: String, url: String)] = []
    public var caBundle: String? { get { text(.caBundle) } set { setText(.caBundle, newValue) } }
    // PostgreSQL / Redshift
    public var host: String? { get { text(.host) } set { setText(.host, newValue) } }
    public var port: Int?
    public var database: String? { get { text(.database) } set { setText(.database, newValue) } }
    public var schema: String? { get { text(.schema) } set { setText(.schema, newValue) } }
    public var table: String? { get { text(.table) } set { setText(.table, newValue) } }
    public var tls: String? { get { text(.tls) } set { setText(.tls, newValue) } }
    public var tlsCAFile: String? { get { text(.tlsCAFile) } set { setText(.tlsCAFile, newValue) } }

    public init() {}

    public static func == (a: ConnectionSettings, b: ConnectionSettings) -> Bool {
        a.stringValues == b.stringValues && a.warnExpiry == b.warnExpiry && a.timeout == b.timeout && a.port == b.port
            && a.baseURLs.map { "\($0.name)=\($0.url)" } == b.baseURLs.map { "\($0.name)=\($0.url)" }
    }

    private var stringValues: [String?] { Self.textKeys.map { self[keyPath: $0.path] } }

    // MARK: the shared vocabulary

    /// What kind of value a key takes (a connections file checks it; diagnose's flags parse it).
    public enum ValueKind: String, Sendable {
        case text, environmentVariable = "environment variable", file, number, duration, baseURLMap = "map of NAME: URL"
    }

    /// The names that take one text value, and where it goes.
    nonisolated(unsafe) public static let textKeys: [(key: String, kind: ValueKind, path: WritableKeyPath<ConnectionSettings, String?>)] = [
        ("provider", .text, \.provider),
        ("token-env", .environmentVariable, \.tokenEnv),
        ("token-file", .file, \.tokenFile),
        ("refresh-token-env", .environmentVariable, \.refreshTokenEnv),
        ("client-id", .text, \.clientID),
        ("client-secret-env", .environmentVariable, \.clientSecretEnv),
        ("developer-token-env", .environmentVariable, \.developerTokenEnv),
        ("account-id", .text, \.accountID),
        ("service-account-file", .file, \.serviceAccountFile),
        ("private-key-file", .file, \.privateKeyFile),
        ("password-env", .environmentVariable, \.passwordEnv),
        ("password-file", .file, \.passwordFile),
        ("api-key-env", .environmentVariable, \.apiKeyEnv),
        ("api-key-file", .file, \.apiKeyFile),
        ("user", .text, \.user),
        ("account", .text, \.account),
        ("url", .text, \.url),
        ("har", .file, \.har),
        ("project", .text, \.project),
        ("dataset", .text, \.dataset),
        ("spreadsheet-id", .text, \.spreadsheetID),
        ("expect-account", .text, \.expectAccount),
        ("expect-scopes", .text, \.expectScopes),
        ("ca-bundle", .file, \.caBundle),
        ("host", .text, \.host),
        ("database", .text, \.database),
        ("schema", .text, \.schema),
        ("table", .text, \.table),
        ("tls", .text, \.tls),
        ("tls-ca-file", .file, \.tlsCAFile),
    ]

    /// Every name a connection takes, with its kind: `diagnose --NAME` and a connections-file `NAME:`.
    public static let keys: [(key: String, kind: ValueKind)] =
        textKeys.map { ($0.key, $0.kind) } + [("warn-expiry", .duration), ("timeout", .number), ("port", .number), ("base-url", .baseURLMap)]

    /// The credential-holding environment variables named, as (key, variable).
    public var environmentVariables: [(key: String, variable: String)] {
        Self.textKeys.filter { $0.kind == .environmentVariable }.compactMap { entry in
            self[keyPath: entry.path].map { (entry.key, $0) }
        }
    }

    public var isDatabase: Bool { provider.map(DatabaseTarget.providers.contains) ?? false }

    /// Any PostgreSQL/Redshift-only setting given.
    public var anyDatabaseSetting: Bool {
        host != nil || port != nil || database != nil || schema != nil || table != nil || tls != nil || tlsCAFile != nil
    }

    // MARK: checks diagnose makes on its flags

    /// The pairs that exclude each other; one-line usage errors.
    public func validateExclusions() throws(InputError) {
        if tokenEnv != nil && tokenFile != nil { throw InputError(.usage, "give only one of --token-env, --token-file") }
        if passwordEnv != nil && passwordFile != nil { throw InputError(.usage, "give only one of --password-env, --password-file") }
        if apiKeyEnv != nil && apiKeyFile != nil { throw InputError(.usage, "give only one of --api-key-env, --api-key-file") }
        if serviceAccountFile != nil && privateKeyFile != nil { throw InputError(.usage, "give only one of --service-account-file, --private-key-file") }
        if url != nil && har != nil { throw InputError(.usage, "give only one of --url, --har") }
    }

    // MARK: planning

    /// The provider, or the usage error that asks for one.
    public func requireProvider() throws(InputError) -> String {
        guard let provider, !provider.isEmpty else {
            throw InputError(.usage, "diagnose needs --provider P (google, google-ads, google-analytics, facebook, linkedin, hubspot, bigquery, google-sheets, snowflake, postgres, redshift, platform-api, looker-studio)")
        }
        return provider
    }

    /// What a diagnosis of these settings runs (boxed: a runner is large, and entries are many).
    public indirect enum Plan: Sendable {
        case http(DiagnosisRunner)
        case database(DatabaseDiagnosisRunner)
    }

    /// Where the provider definitions come from (loaded once for many connections).
    public typealias DefinitionLookup = (String) throws(InputError) -> ProviderDefinition

    /// Everything checked before the first probe: provider, credentials, flags. One-line errors
    /// that name the flag or file, never a secret.
    ///
    /// - Parameter sandboxURL: with `--sandbox`, the base URL a token's scenario is served at.
    public func plan(engine: ClassifyEngine, definitions: DefinitionLookup, sandboxURL: (@Sendable (String) -> String)? = nil,
                     keepFacts: Bool = false, environment: [String: String] = ProcessInfo.processInfo.environment,
                     readStandardInput: @escaping () throws(InputError) -> Data = { () throws(InputError) -> Data in try SystemIO.readStandardInput() }) throws(InputError) -> Plan {
        try validateExclusions()
        let provider = try requireProvider()
        guard timeout > 0, timeout <= 600, timeout.isFinite else {
            throw InputError(.usage, "--timeout must be more than 0 and at most 600 seconds, not \(timeout)")
        }
        if DatabaseTarget.providers.contains(provider) {
            if sandboxURL != nil { throw InputError(.usage, "--sandbox has no database: point --host/--port at a test server instead") }
            let target = try databaseTarget(provider: provider, environment: environment, readStandardInput: readStandardInput)
            return .database(try DatabaseDiagnosisRunner(target: target, engine: engine, keepFacts: keepFacts))
        }
        if anyDatabaseSetting { throw InputError(.usage, "--host, --port, --database, --schema, --table and --tls are for --provider postgres or redshift") }
        // Provider definitions first: an unknown provider is the first thing to say.
        let definition = try definitions(provider)

        var options = DiagnosisOptions()
        for (name, url) in baseURLs { options.baseURLOverrides.append(try CredentialInput.baseURL(name + "=" + url)) }
        options.expectAccount = expectAccount
        options.expectScopes = expectScopes.map(CredentialInput.scopes)
        options.warnExpiry = try CredentialInput.duration(warnExpiry)
        options.timeout = timeout
        options.keepFacts = keepFacts
        if let caBundle {
            guard FileManager.default.isReadableFile(atPath: caBundle) else {
                throw InputError(.noInput, "cannot read the CA bundle", place: caBundle)
            }
            options.caBundlePath = caBundle
        }

        var credentials = DiagnosisCredentials()
        func fromEnvironment(_ variable: String, _ flag: String) throws(InputError) -> String {
            try CredentialInput.fromEnvironment(variable, flag: flag, environment: environment)
        }
        if let tokenEnv { credentials[CredentialName.token] = try fromEnvironment(tokenEnv, "--token-env") }
        if let tokenFile { credentials[CredentialName.token] = try CredentialInput.fromFile(tokenFile, readStandardInput: readStandardInput) }
        if let refreshTokenEnv { credentials[CredentialName.refreshToken] = try fromEnvironment(refreshTokenEnv, "--refresh-token-env") }
        if let clientSecretEnv { credentials[CredentialName.clientSecret] = try fromEnvironment(clientSecretEnv, "--client-secret-env") }
        if let developerTokenEnv { credentials[CredentialName.developerToken] = try fromEnvironment(developerTokenEnv, "--developer-token-env") }
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

        let urlBase = try readDestinationInputs(definition, into: &credentials, options: &options, environment: environment,
                                                readStandardInput: readStandardInput)
        if sandboxURL == nil, let urlBase, options.baseURLOverrides.isEmpty {
            options.baseURLOverrides = [(definition.id, urlBase)]
        }
        if let sandboxURL, options.baseURLOverrides.isEmpty {
            // The scenario the token picks may be a fault (a black hole, a self-signed TLS host):
            // point the provider at that fault's listener, as the scenario describes.
            let token = credentials[CredentialName.token] ?? credentials[CredentialName.refreshToken]
                ?? credentials[CredentialName.apiKey] ?? ""
            options.baseURLOverrides = [(provider, sandboxURL(token))]
        }
        return .http(try DiagnosisRunner(definition: definition, credentials: credentials, options: options, engine: engine))
    }

    /// The destination settings: key files, passwords, API keys, identifiers, `url`/`har`.
    /// Returns the scheme and host of a platform-API `url` (its base URL).
    func readDestinationInputs(_ definition: ProviderDefinition, into credentials: inout DiagnosisCredentials,
                               options: inout DiagnosisOptions, environment: [String: String],
                               readStandardInput: @escaping () throws(InputError) -> Data) throws(InputError) -> String? {
        if let serviceAccountFile {
            let key = try ServiceAccountKey.load(path: serviceAccountFile)
            credentials[CredentialName.privateKey] = key.privateKeyPEM
            credentials[CredentialName.clientEmail] = key.clientEmail
            if project == nil { credentials[CredentialName.project] = key.projectID }
        }
        if let privateKeyFile { credentials[CredentialName.privateKey] = try RSAKey.loadFile(privateKeyFile) }
        if let passwordEnv {
            credentials[CredentialName.password] = try CredentialInput.fromEnvironment(passwordEnv, flag: "--password-env", environment: environment)
        }
        if let passwordFile {
            credentials[CredentialName.password] = try CredentialInput.fromFile(passwordFile, flag: "--password-file", readStandardInput: readStandardInput)
        }
        if let apiKeyEnv {
            credentials[CredentialName.apiKey] = try CredentialInput.fromEnvironment(apiKeyEnv, flag: "--api-key-env", environment: environment)
        }
        if let apiKeyFile {
            credentials[CredentialName.apiKey] = try CredentialInput.fromFile(apiKeyFile, flag: "--api-key-file", readStandardInput: readStandardInput)
        }
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
            throw InputError(.usage, "--url carries a key (its \(name) parameter): remove it from the URL and give it with --api-key-env or --api-key-file")
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

    /// PostgreSQL/Redshift: the destination, checked. One-line usage errors name the flag, never the password.
    public func databaseTarget(provider: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                               readStandardInput: @escaping () throws(InputError) -> Data = { () throws(InputError) -> Data in try SystemIO.readStandardInput() }) throws(InputError) -> DatabaseTarget {
        if passwordEnv != nil && passwordFile != nil { throw InputError(.usage, "give only one of --password-env, --password-file") }
        var parts = DatabaseTarget.URLParts()
        if let url {
            if host != nil || port != nil || user != nil || database != nil {
                throw InputError(.usage, "give either --url or --host/--port/--user/--database, not both")
            }
            parts = try DatabaseTarget.parseURL(url)
        }
        var mode = parts.tls ?? .prefer
        if let tls {
            guard let given = DatabaseTarget.TLSMode(rawValue: tls) else {
                throw InputError(.usage, "bad --tls '\(tls)': use one of \(DatabaseTarget.TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            mode = given
        }
        var password: String?
        if let passwordEnv { password = try CredentialInput.fromEnvironment(passwordEnv, flag: "--password-env", environment: environment) }
        if let passwordFile {
            password = try CredentialInput.fromFile(passwordFile, flag: "--password-file", readStandardInput: readStandardInput)
        }
        let target = DatabaseTarget(provider: provider, host: host ?? parts.host ?? "", port: port ?? parts.port,
                                    user: user ?? parts.user ?? "", database: database ?? parts.database ?? "",
                                    schema: schema, table: table, password: password, tls: mode, tlsCAFile: tlsCAFile, timeout: timeout)
        try target.validate()
        return target
    }
}
