// The scenarios the Sandbox replays, read from `fixtures/sandbox/scenarios.yaml` (docs/PROVIDERS.md).

import EmbeddedResources
import EvidenceModel
import Foundation

/// One recorded answer: `METHOD PATH` → a fixture under `fixtures/`.
public struct SandboxRoute: Sendable {
    /// Upper-case HTTP method ("GET", "POST").
    public let method: String
    /// Request path without the query ("/v19.0/me").
    public let path: String
    /// The fixture's path under `fixtures/` ("facebook/190-463-session-expired.http").
    public let fixture: String
    /// The fixture's final response (a `curl -iL` chain replays its last answer).
    public let recorded: ResponseSnapshot
}

/// A provider in one state (expired token, missing scope, healthy, ...), reached by its credentials.
public struct SandboxScenario: Sendable {
    public let id: String
    public let provider: String
    public let description: String
    /// The failure class a diagnosis of this scenario must find (`none` for a healthy one).
    public let expect: String
    /// The diagnose flags this scenario is meant to be run with, by name without "--"
    /// (`expect-account`, `expect-scopes`, `warn-expiry`); a YAML list is joined with ",".
    public let options: [String: String]
    /// Credential name (`token`, `refresh-token`, `client-id`, ...) → value.
    public let credentials: [String: String]
    public let routes: [SandboxRoute]
    /// Set instead of routes: the provider is unreachable in this way.
    public let fault: SandboxFault?
    /// Where the scenario is defined ("fixtures/sandbox/scenarios.yaml:12").
    public let place: String

    /// Credential names whose values pick this scenario whenever a request carries them.
    /// `access-token` is what a scenario's token endpoint hands out (after a service-account
    /// assertion); `api-key` is the platform API's key.
    static let tokenCredentialNames: Set<String> = ["token", "refresh-token", "access-token", "api-key"]

    /// The values of `token` and `refresh-token`: unique across the catalog.
    public var tokens: [String] {
        credentials.filter { Self.tokenCredentialNames.contains($0.key) }.map(\.value).sorted()
    }

    /// The route for a method and path (query already removed). HEAD falls back to the GET route.
    public func route(method: String, path: String) -> SandboxRoute? {
        let method = method.uppercased()
        if let route = routes.first(where: { $0.method == method && $0.path == path }) { return route }
        if method == "HEAD" { return routes.first { $0.method == "GET" && $0.path == path } }
        return nil
    }

    /// The credentials as `authdoctor sandbox --list` may print them, in a stable order. Only
    /// sandbox-made values (`sbx-…`) and plain identifiers are shown; any other value is
    /// replaced by "[not shown]", so a real secret pasted into a scenario file never reaches a terminal.
    public func listedCredentials() -> [(name: String, value: String)] {
        let order = ["token", "refresh-token", "client-id", "client-secret", "developer-token", "account-id"]
        let names = credentials.keys.sorted { a, b in
            let ia = order.firstIndex(of: a) ?? order.count, ib = order.firstIndex(of: b) ?? order.count
            return ia != ib ? ia < ib : a < b
        }
        return names.filter { $0 != "private-key" }.map { name in
            let value = credentials[name] ?? ""
            return (name, Self.isPrintable(name: name, value: value) ? value : "[not shown]")
        }
    }

    /// `sbx-…` values are made for the sandbox; digits-only values, and `*-id` values made of
    /// identifier characters, are ids rather than secrets.
    ///
    /// Identifiers that are not secret (a user name, a dataset, a URL path, a service account's
    /// e-mail, a project) are shown whatever they look like, so every scenario can be replayed by
    /// hand with `diagnose --sandbox`: only what names no secret, and only one printable line.
    static let nonSecretNames: Set<String> = [
        "user", "dataset", "url-path", "url", "client-email", "project", "account", "host", "database", "schema", "table",
        "spreadsheet-id", "expect-account",
    ]

    static func isPrintable(name: String, value: String) -> Bool {
        guard !value.isEmpty else { return false }
        if nonSecretNames.contains(name) {
            return value.count <= 200 && !value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == " " }
        }
        if value.hasPrefix("sbx-") { return true }
        if value.allSatisfy({ $0.isASCII && $0.isNumber }) { return true }
        let identifier = value.count <= 100
            && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        return name.hasSuffix("-id") && identifier
    }
}

/// A problem in the scenarios file, with its place.
public struct CatalogIssue: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// The scenarios file has problems; `issues` lists every one, in file order.
public struct ScenarioCatalogError: Error, Sendable, CustomStringConvertible {
    public let issues: [CatalogIssue]

    /// The first problem, and how many more there are: one line, as the CLI prints errors.
    public var description: String {
        guard let first = issues.first else { return "invalid scenarios file" }
        return first.description + (issues.count > 1 ? " (and \(issues.count - 1) more)" : "")
    }
}

/// Every scenario of a scenarios file, validated: each route's fixture exists and parses, no token
/// picks two scenarios.
public struct ScenarioCatalog: Sendable {
    public let scenarios: [SandboxScenario]
    /// Credential value → index into `scenarios`, for `token` / `refresh-token` values.
    private let byToken: [String: Int]
    /// Other credential values (client id, client secret, ...) that only one scenario uses: they
    /// pick the scenario for requests that carry no token at all (a client-credentials grant).
    private let byUniqueCredential: [String: Int]

    /// The scenarios file inside a fixtures folder.
    public static let scenariosFile = "sandbox/scenarios.yaml"

    /// No scenarios: the Sandbox then serves only faults (and 401 for every credential).
    public static let empty = ScenarioCatalog(scenarios: [])

    init(scenarios: [SandboxScenario]) {
        self.scenarios = scenarios
        var byToken: [String: Int] = [:]
        var owners: [String: Set<Int>] = [:]
        for (index, scenario) in scenarios.enumerated() {
            for token in scenario.tokens where byToken[token] == nil { byToken[token] = index }
            for (name, value) in scenario.credentials where !SandboxScenario.tokenCredentialNames.contains(name) {
                owners[value, default: []].insert(index)
            }
        }
        self.byToken = byToken
        self.byUniqueCredential = owners.compactMapValues { $0.count == 1 ? $0.first : nil }
            .filter { byToken[$0.key] == nil }
    }

    public func scenario(id: String) -> SandboxScenario? { scenarios.first { $0.id == id } }

    /// The scenario a token (`token` or `refresh-token` value) picks.
    public func scenario(forToken token: String) -> SandboxScenario? { byToken[token].map { scenarios[$0] } }

    /// The scenario a non-token credential picks, when exactly one scenario uses that value.
    func scenario(forOtherCredential value: String) -> SandboxScenario? { byUniqueCredential[value].map { scenarios[$0] } }

    /// The scenario a JWT assertion picks, whatever key signed it (the Sandbox makes no key and
    /// checks no signature): its `iss` (a service account's e-mail), its `sub`, or the user of a
    /// Snowflake `sub` (`ACCOUNT.USER`, compared lower-cased). A correctly shaped JWT is three
    /// base64url parts whose header names an `alg`.
    func scenario(forAssertion jwt: String) -> SandboxScenario? {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.base64URLDecode(parts[0]), (try? JSON.parse(header))?["alg"] != nil,
              let payload = Self.base64URLDecode(parts[1]), let claims = try? JSON.parse(payload) else { return nil }
        var candidates: [String] = []
        if let iss = claims["iss"]?.stringValue { candidates.append(iss) }
        if let sub = claims["sub"]?.stringValue {
            candidates.append(sub)
            if let user = sub.split(separator: ".").last { candidates.append(user.lowercased()) }
        }
        return candidates.lazy.compactMap { self.scenario(forOtherCredential: $0) }.first
    }

    static func base64URLDecode<S: StringProtocol>(_ part: S) -> [UInt8]? {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return Data(base64Encoded: text).map { [UInt8]($0) }
    }

    // MARK: loading

    /// The scenarios built into the binary (`fixtures/sandbox/scenarios.yaml` and the fixtures it names).
    public static func builtin() throws(ScenarioCatalogError) -> ScenarioCatalog {
        var files: [String: String] = [:]
        for file in EmbeddedResources.files(under: "fixtures/") {
            files[String(file.path.dropFirst("fixtures/".count))] = file.text
        }
        let place = "fixtures/" + scenariosFile
        guard let yaml = files[scenariosFile] else {
            throw ScenarioCatalogError(issues: [CatalogIssue(
                file: place, line: 1, message: "not built into this binary (add the file, then `make build`)")])
        }
        return try load(yaml: yaml, file: place) { files[$0] }
    }

    /// `DIR/sandbox/scenarios.yaml`, with fixture paths relative to DIR (a checkout's `fixtures/`,
    /// or a folder a test writes).
    public static func load(fixturesDirectory: String) throws(ScenarioCatalogError) -> ScenarioCatalog {
        let root = fixturesDirectory.hasSuffix("/") ? String(fixturesDirectory.dropLast()) : fixturesDirectory
        let place = root + "/" + scenariosFile
        guard let data = FileManager.default.contents(atPath: place), let yaml = String(data: data, encoding: .utf8) else {
            throw ScenarioCatalogError(issues: [CatalogIssue(file: place, line: 1, message: "no such file, or not readable UTF-8 text")])
        }
        return try load(yaml: yaml, file: place) { relative in
            // Fixture paths stay inside the fixtures folder.
            guard !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else { return nil }
            return FileManager.default.contents(atPath: root + "/" + relative).flatMap { String(data: $0, encoding: .utf8) }
        }
    }

    /// Parses and validates a scenarios file. `file` names it in issues; `fixture` returns the
    /// text of a fixture path under `fixtures/`, nil when there is no such file.
    public static func load(yaml: String, file: String, fixture: (String) -> String?) throws(ScenarioCatalogError) -> ScenarioCatalog {
        // The reader keeps the lookup only while it reads.
        let (scenarios, issues) = withoutActuallyEscaping(fixture) { lookup in
            var reader = ScenarioFileReader(file: file, fixture: lookup)
            let scenarios = reader.read(yaml)
            return (scenarios, reader.issues)
        }
        if !issues.isEmpty { throw ScenarioCatalogError(issues: issues) }
        return ScenarioCatalog(scenarios: scenarios)
    }
}
