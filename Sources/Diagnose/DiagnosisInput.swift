import EvidenceModel
import Foundation
import RuleEngine

/// The credentials of one connection, by name (`CredentialName`). Secrets come from environment
/// variables, files or stdin (see `CredentialInput`), never from the command line.
public struct DiagnosisCredentials: Sendable, Equatable {
    public private(set) var values: [String: String] = [:]

    public init(_ values: [String: String] = [:]) {
        for (name, value) in values { self[name] = value }
    }

    public init(token: String? = nil, refreshToken: String? = nil, clientID: String? = nil, clientSecret: String? = nil,
                developerToken: String? = nil, accountID: String? = nil) {
        self[CredentialName.token] = token
        self[CredentialName.refreshToken] = refreshToken
        self[CredentialName.clientID] = clientID
        self[CredentialName.clientSecret] = clientSecret
        self[CredentialName.developerToken] = developerToken
        self[CredentialName.accountID] = accountID
    }

    /// An empty value counts as absent.
    public subscript(name: String) -> String? {
        get { values[name] }
        set { values[name] = (newValue?.isEmpty ?? true) ? nil : newValue }
    }

    /// The secret values (tokens, client secret, developer token) that must never be shown.
    public var secrets: [String] {
        values.filter { CredentialName.secret.contains($0.key) }.map(\.value)
    }
}

/// What a diagnosis checks beyond the provider's definition.
public struct DiagnosisOptions: Sendable {
    /// `--base-url NAME=URL`: NAME is a base URL name of the definition, or the provider id (every base URL).
    public var baseURLOverrides: [(name: String, url: String)] = []
    /// `--expect-account`: the account (e-mail, or id/name) the connection should be authorized as.
    public var expectAccount: String?
    /// `--expect-scopes`: replaces the definition's required scopes.
    public var expectScopes: [String]?
    /// `--warn-expiry`: warn when a token expires within this many seconds (0 turns the warning off).
    public var warnExpiry: Double = 7 * 86_400
    /// `--timeout`: seconds each probe may take, all phases included.
    public var timeout: Double = 10
    /// Keep every fact in the report (`--show-facts`).
    public var keepFacts = false
    /// The clock (tests pin it); nil = the time the diagnosis starts.
    public var now: Date?
    /// Trust anchors for https base URLs (a sandbox's own CA); verification itself is never off.
    public var caBundlePath: String?
    /// Largest response body kept per probe.
    public var maxBodyBytes = 256 * 1024
    /// For a definition without steps (`evidence: [url, har]`): what to classify (`--url`, `--har`).
    public var evidence: [Evidence] = []
    /// Where that evidence came from (a file name), shown in the report.
    public var evidenceSource: String?
    /// `check --dry-run`: steps that send the refresh token (the token exchange, which may rotate
    /// it) are skipped, so a run that stores nothing cannot lose a rotated refresh token.
    public var neverRenew = false

    public init(baseURLOverrides: [(name: String, url: String)] = [], expectAccount: String? = nil, expectScopes: [String]? = nil,
                warnExpiry: Double = 7 * 86_400, timeout: Double = 10, keepFacts: Bool = false, now: Date? = nil,
                caBundlePath: String? = nil) {
        self.baseURLOverrides = baseURLOverrides
        self.expectAccount = expectAccount
        self.expectScopes = expectScopes
        self.warnExpiry = warnExpiry
        self.timeout = timeout
        self.keepFacts = keepFacts
        self.now = now
        self.caBundlePath = caBundlePath
    }
}

/// Reading credentials and option values from where the command line points, with one-line errors
/// (sysexits kinds) that name the flag or file, never the secret.
public enum CredentialInput {
    /// `--token-env VAR` and friends: the variable must be set and non-empty.
    public static func fromEnvironment(_ variable: String, flag: String,
                                       environment: [String: String] = ProcessInfo.processInfo.environment) throws(InputError) -> String {
        // ASCII letters, digits and '_' (checked on bytes: `check` reads thousands of entries).
        guard !variable.isEmpty, variable.utf8.allSatisfy({ ($0 | 0x20) &- 0x61 < 26 || $0 &- 0x30 < 10 || $0 == 0x5F }) else {
            throw InputError(.usage, "'\(variable)' is not an environment variable name", place: flag)
        }
        guard let value = environment[variable] else {
            throw InputError(.usage, "environment variable \(variable) is not set", place: flag)
        }
        return try clean(value, what: { "environment variable \(variable)" }, place: flag)
    }

    /// `--token-file FILE` ('-' reads standard input): the whole content, trimmed; one line.
    public static func fromFile(_ path: String, flag: String = "--token-file",
                                readStandardInput: () throws(InputError) -> Data = { () throws(InputError) -> Data in try SystemIO.readStandardInput() }) throws(InputError) -> String {
        let data: Data
        let place = path == "-" ? "stdin" : path
        // "--password-file" → "password file": the error names what the file was meant to hold.
        let noun = flag == "--token-file" ? "token file" : flag.drop(while: { $0 == "-" }).replacingOccurrences(of: "-", with: " ")
            .replacingOccurrences(of: "api key", with: "API key")
        if path == "-" {
            data = try readStandardInput()
        } else {
            data = try SystemIO.readFile(path, noun: noun)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(.data, "the \(noun) is not UTF-8 text", place: place)
        }
        return try clean(text, what: "the \(noun)", place: place)
    }

    /// Trims surrounding whitespace; refuses empty values and control characters (a line break
    /// inside a header value would forge headers).
    static func clean(_ raw: String, what: String, place: String) throws(InputError) -> String {
        try clean(raw, what: { what }, place: place)
    }

    /// The same, naming what was read only when there is something to say.
    static func clean(_ raw: String, what: () -> String, place: String) throws(InputError) -> String {
        let value = raw.trimmedWhitespace()
        if value.isEmpty { throw InputError(.data, "\(what()) is empty", place: place) }
        // Control characters are ASCII: a byte scan finds them (UTF-8 continuation bytes are ≥ 0x80).
        if value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw InputError(.data, "\(what()) holds a line break or control character (one credential, one line)", place: place)
        }
        return value
    }

    /// `--base-url NAME=URL`.
    public static func baseURL(_ argument: String) throws(InputError) -> (name: String, url: String) {
        guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else {
            throw InputError(.usage, "bad --base-url '\(argument)': expected NAME=URL, e.g. facebook=http://127.0.0.1:8080")
        }
        let name = String(argument[..<eq]).trimmedWhitespace()
        let url = String(argument[argument.index(after: eq)...]).trimmedWhitespace()
        if let problem = ProviderLoader.baseURLProblem(url) {
            throw InputError(.usage, "bad --base-url '\(argument)': the URL \(problem)")
        }
        return (name, ProviderLoader.trimmingSlash(url))
    }

    /// `--warn-expiry`: seconds, or a number with s, m, h, d or w ("7d", "36h"); 0 turns it off.
    public static func duration(_ text: String, flag: String = "--warn-expiry", kind: InputError.Kind = .usage) throws(InputError) -> Double {
        try NumberInput.duration(text, what: flag, bounds: NumberInput.Range.warnExpiry, kind: kind)
    }

    /// A duration's seconds, or nil when the text is not one (a connections file words its own error).
    /// Out of the `--warn-expiry` range (0 to ten years) is not one either.
    public static func seconds(_ text: String) -> Double? {
        NumberInput.seconds(text).flatMap { NumberInput.Range.warnExpiry.contains($0) ? $0 : nil }
    }

    /// `--expect-scopes`: comma- or space-separated.
    public static func scopes(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
    }
}
