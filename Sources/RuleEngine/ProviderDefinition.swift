import EmbeddedResources
import EvidenceModel
import Foundation
import YAMLSupport
import Yams

// Provider definitions (`rules/providers/<id>.yaml`, docs/PROVIDERS.md): which endpoints
// `authdoctor diagnose` calls for a provider and how to build them from a connection's credentials.
// Data, not code: a new provider is a new file. No I/O happens here beyond reading the files.

/// The credentials a step can use. `{name}` in a URL, header or body is replaced by the value.
public enum CredentialName {
    public static let token = "token"
    public static let refreshToken = "refresh-token"
    public static let clientID = "client-id"
    public static let clientSecret = "client-secret"
    public static let developerToken = "developer-token"
    public static let accountID = "account-id"

    // Destinations (docs/PROVIDERS.md).
    /// A PEM RSA private key: a service-account key file's `private_key`, or `--private-key-file`.
    public static let privateKey = "private-key"
    /// The service account's e-mail (a key file's `client_email`).
    public static let clientEmail = "client-email"
    /// A JWT signed with `private-key` before the steps (the definition's `assertion:`).
    public static let assertion = "assertion"
    public static let password = "password"
    public static let user = "user"
    /// An account identifier (Snowflake's `orgname-account` or locator).
    public static let account = "account"
    /// The account as a login names it, derived from `account` (Snowflake: without region and cloud).
    public static let accountName = "account-name"
    public static let apiKey = "api-key"
    /// The path and query of `--url` (always ending in `?` or `&`, so a step can append a parameter).
    public static let urlPath = "url-path"
    public static let project = "project"
    public static let dataset = "dataset"
    public static let spreadsheetID = "spreadsheet-id"

    /// Every credential name, in the order help texts list them.
    public static let all: [String] = [token, refreshToken, clientID, clientSecret, developerToken, accountID,
                                       privateKey, clientEmail, assertion, password, user, account, accountName, apiKey, urlPath,
                                       project, dataset, spreadsheetID]
    /// Credentials whose values are secrets (never shown); the client and account ids are not.
    public static let secret: Set<String> = [token, refreshToken, clientSecret, developerToken, privateKey, assertion, password, apiKey]

    /// `{name}` or `{name.upper}` (the value upper-cased, e.g. Snowflake's account in a JWT claim):
    /// the credential a placeholder names, or nil.
    public static func credential(inPlaceholder placeholder: String) -> String? {
        let name = placeholder.hasSuffix(".upper") ? String(placeholder.dropLast(6)) : placeholder
        return all.contains(name) ? name : nil
    }
}

/// A JWT the runner signs (RS256) with the `private-key` credential before the steps run; steps
/// use it as `{assertion}` (Google's service-account grant, Snowflake's key-pair login).
public struct AssertionSpec: Sendable {
    /// Claim name → template (credentials, `{base.NAME}`, `{public-key-fingerprint}`). `iat` and
    /// `exp` are added.
    public var claims: [(name: String, value: String)]
    /// Seconds from `iat` to `exp`.
    public var lifetime: Int
    /// Credentials the claims name, plus `private-key`.
    public var needs: [String]

    public init(claims: [(name: String, value: String)], lifetime: Int = 3600, needs: [String]) {
        self.claims = claims
        self.lifetime = lifetime
        self.needs = needs
    }
}

/// What one credential means to a provider.
public struct CredentialSpec: Sendable, Equatable {
    public var name: String
    /// Diagnose refuses to run without it.
    public var required: Bool
    /// A short hint shown when it is missing ("the app's client id, --client-id").
    public var description: String?

    public init(name: String, required: Bool = false, description: String? = nil) {
        self.name = name
        self.required = required
        self.description = description
    }
}

/// Where in a JSON answer a value is: `body.data.scopes[]`, `body.data[].permission`,
/// `body.data[status=granted].permission` (array items whose member equals a value).
public struct BodyPath: Sendable, Equatable, CustomStringConvertible {
    public enum Segment: Sendable, Equatable {
        case key(String)
        /// Every array item.
        case each
        /// Array items whose member `key` (a string, number or boolean) equals `value`.
        case filter(key: String, value: String)
    }

    public var source: String
    public var segments: [Segment]
    public var description: String { source }

    /// Parses a path; nil when it does not start with `body` or is malformed.
    public init?(_ source: String) {
        self.source = source
        var segments: [Segment] = []
        var rest = Substring(source)
        guard rest.hasPrefix("body") else { return nil }
        rest = rest.dropFirst(4)
        while !rest.isEmpty {
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { return nil }
                let inside = rest[rest.index(after: rest.startIndex)..<close]
                if inside.isEmpty {
                    segments.append(.each)
                } else {
                    let parts = inside.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
                    segments.append(.filter(key: String(parts[0]), value: String(parts[1])))
                }
                rest = rest[rest.index(after: close)...]
            } else if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let end = rest.firstIndex(where: { $0 == "." || $0 == "[" }) ?? rest.endIndex
                let key = rest[..<end]
                guard !key.isEmpty else { return nil }
                segments.append(.key(String(key)))
                rest = rest[end...]
            } else {
                return nil
            }
        }
        self.segments = segments
    }

    /// Whether the path passes through an array (its result is a list).
    public var isList: Bool {
        segments.contains { if case .key = $0 { return false }; return true }
    }

    /// The values the path reaches in a JSON document (empty when it reaches none).
    public func values(in json: JSONValue) -> [JSONValue] {
        var current: [JSONValue] = [json]
        for segment in segments {
            var next: [JSONValue] = []
            for value in current {
                switch segment {
                case let .key(key):
                    if let member = value[key] { next.append(member) }
                case .each:
                    if let items = value.arrayValue { next += items }
                case let .filter(key, expected):
                    for item in value.arrayValue ?? [] {
                        guard let member = item[key] else { continue }
                        let text: String?
                        switch member {
                        case let .string(s): text = s
                        case let .int(i): text = String(i)
                        case let .bool(b): text = b ? "true" : "false"
                        case let .double(d): text = String(d)
                        default: text = nil
                        }
                        if text == expected { next.append(item) }
                    }
                }
            }
            current = next
        }
        return current.filter { if case .null = $0 { return false }; return true }
    }
}

/// One probe of a provider: a request template and what its answer tells.
public struct ProviderStep: Sendable {
    public var id: String
    public var description: String?
    /// Credentials the step needs: the declared `needs` plus every credential its templates name.
    public var needs: [String]
    public var method: String
    /// URL template: `{base.NAME}`, `{version}` and credential placeholders.
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: String?
    public var contentType: String?
    /// Diagnosis facts taken from a 2xx JSON answer: fact name → body path.
    public var yields: [(fact: String, path: BodyPath)]
    /// Credentials a 2xx answer supplies to later steps (`token: body.access_token` after a refresh).
    public var provides: [(credential: String, path: BodyPath)]
    /// Run only when the token has one of these shapes (`TokenShape.format`), e.g. `hubspot-private-app`.
    public var ifTokenFormat: [String]
    /// Skip when the token has one of these shapes.
    public var unlessTokenFormat: [String]
    public var line: Int

    public init(id: String, description: String? = nil, needs: [String] = [], method: String = "GET", url: String,
                headers: [(name: String, value: String)] = [], body: String? = nil, contentType: String? = nil,
                yields: [(fact: String, path: BodyPath)] = [], provides: [(credential: String, path: BodyPath)] = [],
                ifTokenFormat: [String] = [], unlessTokenFormat: [String] = [], line: Int = 1) {
        self.id = id
        self.description = description
        self.needs = needs
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.contentType = contentType
        self.yields = yields
        self.provides = provides
        self.ifTokenFormat = ifTokenFormat
        self.unlessTokenFormat = unlessTokenFormat
        self.line = line
    }
}

/// One provider's definition file.
public struct ProviderDefinition: Sendable {
    public var id: String
    public var name: String
    public var category: String
    /// Base URL names to their defaults, in file order.
    public var baseURLs: [(name: String, url: String)]
    /// Appended by `{version}` (e.g. "/v23.0"); empty when the provider has none.
    public var versionPath: String
    public var requiredScopes: [String]
    public var credentials: [CredentialSpec]
    /// At least one of these credentials must be given (e.g. an access token or a refresh token).
    public var requireAny: [String]
    public var steps: [ProviderStep]
    /// Signed before the steps when its credentials are at hand (`assertion:`).
    public var assertion: AssertionSpec?
    /// Permissions the connection needs (`required-permissions:`), compared with `permissions.granted`.
    public var requiredPermissions: [String] = []
    /// Evidence `diagnose` classifies instead of probing (`evidence: [url, har]`), for a provider
    /// whose failures only the customer's browser sees (Looker Studio).
    public var evidenceInputs: [String] = []
    /// How a client grants access through an authorization link (`oauth:`); nil when the provider
    /// is not connected by OAuth (API keys, service accounts, databases).
    public var oauth: OAuthEndpoints?
    public var file: String
    public var line: Int

    public init(id: String, name: String, category: String = "source", baseURLs: [(name: String, url: String)],
                versionPath: String = "", requiredScopes: [String] = [], credentials: [CredentialSpec] = [],
                requireAny: [String] = [], steps: [ProviderStep], file: String = "(code)", line: Int = 1) {
        self.id = id
        self.name = name
        self.category = category
        self.baseURLs = baseURLs
        self.versionPath = versionPath
        self.requiredScopes = requiredScopes
        self.credentials = credentials
        self.requireAny = requireAny
        self.steps = steps
        self.file = file
        self.line = line
    }

    public var place: String { "\(file):\(line)" }

    public func baseURL(_ name: String) -> String? { baseURLs.first(where: { $0.name == name })?.url }

    public func credential(_ name: String) -> CredentialSpec? { credentials.first(where: { $0.name == name }) }
}

/// Parses provider definition files, reporting every problem with file and line (like `RuleLoader`).
public struct ProviderLoader {
    public private(set) var definitions: [ProviderDefinition] = []
    public private(set) var issues: [LintIssue] = []

    public init() {}

    static let definitionKeys: Set<String> = [
        "id", "name", "category", "base-urls", "version-path", "required-scopes", "credentials", "require-any", "steps",
        "description", "docs", "assertion", "required-permissions", "evidence", "oauth",
    ]
    static let assertionKeys: Set<String> = ["claims", "lifetime"]
    static let evidenceKinds: Set<String> = ["url", "har"]
    static let stepKeys: Set<String> = [
        "id", "description", "needs", "method", "url", "headers", "body", "content-type", "yields", "provides",
        "if-token-format", "unless-token-format", "docs",
    ]
    static let credentialKeys: Set<String> = ["required", "description"]
    static let methods: Set<String> = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]

    public mutating func load(yaml: String, file: String) {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml, .basic)
        } catch {
            issues.append(LintIssue(file: file, line: YAMLProblems.line(of: error), message: "invalid YAML: \(YAMLProblems.oneLine(error))"))
            return
        }
        guard let node else { issue(file, nil, "the file is empty (expected a provider definition)"); return }
        if let problem = YAMLProblems.expansionProblem(node) {
            issues.append(LintIssue(file: file, line: problem.line, message: problem.message))
            return
        }
        loadDefinition(node, file: file)
    }

    mutating func issue(_ file: String, _ node: Node?, _ message: String) {
        issues.append(LintIssue(file: file, line: node?.mark?.line ?? 1, message: message))
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.first != "-" && s.last != "-"
            && s.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
    }

    mutating func strings(_ node: Node?, _ what: String, file: String) -> [String] {
        guard let node else { return [] }
        guard let items = node.sequence else { issue(file, node, "'\(what)' must be a list"); return [] }
        var out: [String] = []
        for item in items {
            if let s = item.scalar?.string, !s.isEmpty { out.append(s) } else { issue(file, item, "'\(what)' items must be non-empty strings") }
        }
        return out
    }

    mutating func loadDefinition(_ node: Node, file: String) {
        guard let map = node.mapping else { issue(file, node, "a provider definition must be a mapping"); return }
        let start = issues.count
        for (key, _) in map where !Self.definitionKeys.contains(key.string ?? "") {
            issue(file, key, "unknown key '\(key.string ?? "?")' in provider definition (allowed: \(Self.definitionKeys.sorted().joined(separator: ", ")))")
        }
        let fields = RuleLoader.fields(map)
        func text(_ key: String, required: Bool) -> String? {
            guard let value = fields[key] else {
                if required { issue(file, node, "provider definition is missing '\(key)'") }
                return nil
            }
            guard let s = value.scalar?.string, !s.isEmpty else { issue(file, value, "'\(key)' must be a non-empty string"); return nil }
            return s
        }
        let id = text("id", required: true) ?? "?"
        if id != "?" && !Self.isIdentifier(id) {
            issue(file, fields["id"], "provider id '\(id)' must be lower-case letters, digits and '-'")
        }
        let name = text("name", required: false) ?? id
        let category = text("category", required: false) ?? "source"
        if !["source", "destination"].contains(category) {
            issue(file, fields["category"], "'category' must be source or destination")
        }
        var baseURLs: [(name: String, url: String)] = []
        if let b = fields["base-urls"] {
            if let bm = b.mapping {
                for (key, value) in bm {
                    guard let k = key.string, Self.isIdentifier(k) else {
                        issue(file, key, "base URL names are lower-case letters, digits and '-'"); continue
                    }
                    guard let url = value.scalar?.string else { issue(file, value, "base URL '\(k)' must be a URL"); continue }
                    // A host may name a credential ("https://{account}.snowflakecomputing.com").
                    var sample = ""
                    for piece in TemplatePiece.split(url) {
                        switch piece {
                        case let .literal(text): sample += text
                        case let .placeholder(name):
                            if CredentialName.all.contains(name) { sample += "x" } else { sample += "{\(name)}" }
                        }
                    }
                    if let problem = Self.baseURLProblem(sample) { issue(file, value, "base URL '\(k)': \(problem)"); continue }
                    if baseURLs.contains(where: { $0.name == k }) { issue(file, key, "base URL '\(k)' is named twice"); continue }
                    baseURLs.append((k, Self.trimmingSlash(url)))
                }
            } else {
                issue(file, b, "'base-urls' must map names to URLs")
            }
        }
        if baseURLs.isEmpty { issue(file, fields["base-urls"] ?? node, "provider definition needs at least one base URL under 'base-urls'") }
        var versionPath = ""
        if let v = fields["version-path"], let s = v.scalar?.string, s != "null", s != "~", !s.isEmpty {
            if !s.hasPrefix("/") || s.contains("?") || s.contains(" ") || s.hasSuffix("/") {
                issue(file, v, "'version-path' must start with '/', not end with one, and hold no query (e.g. /v23.0)")
            } else {
                versionPath = s
            }
        }
        let requiredScopes = strings(fields["required-scopes"], "required-scopes", file: file)
        var credentials: [CredentialSpec] = []
        if let c = fields["credentials"] {
            if let cm = c.mapping {
                for (key, value) in cm {
                    guard let k = key.string, CredentialName.all.contains(k) else {
                        issue(file, key, "unknown credential '\(key.string ?? "?")' (known: \(CredentialName.all.joined(separator: ", ")))"); continue
                    }
                    var spec = CredentialSpec(name: k)
                    if let vm = value.mapping {
                        for (ok, ov) in vm {
                            switch ok.string {
                            case "required":
                                if let b = RuleLoader.bool(ov) { spec.required = b } else { issue(file, ov, "'required' must be true or false") }
                            case "description":
                                spec.description = ov.scalar?.string
                            default:
                                issue(file, ok, "unknown key '\(ok.string ?? "?")' in credential (allowed: \(Self.credentialKeys.sorted().joined(separator: ", ")))")
                            }
                        }
                    } else if !(value.scalar.map { $0.string.isEmpty || $0.string == "null" || $0.string == "~" } ?? false) {
                        issue(file, value, "a credential maps to { required: true|false, description: ... } or {}")
                    }
                    credentials.append(spec)
                }
            } else {
                issue(file, c, "'credentials' must map credential names to { required: ... }")
            }
        }
        let requireAny = strings(fields["require-any"], "require-any", file: file)
        for name in requireAny where credentials.first(where: { $0.name == name }) == nil {
            issue(file, fields["require-any"], "'require-any' names '\(name)', which is not under 'credentials'")
        }

        for (_, url) in baseURLs {
            for name in Self.placeholders(in: url) where !credentials.contains(where: { $0.name == name }) {
                issue(file, fields["base-urls"], "base URL uses '{\(name)}', which is not under 'credentials'")
            }
        }
        let requiredPermissions = strings(fields["required-permissions"], "required-permissions", file: file)
        let evidenceInputs = strings(fields["evidence"], "evidence", file: file)
        for kind in evidenceInputs where !Self.evidenceKinds.contains(kind) {
            issue(file, fields["evidence"], "unknown evidence '\(kind)' (allowed: \(Self.evidenceKinds.sorted().joined(separator: ", ")))")
        }
        var assertion: AssertionSpec?
        if let a = fields["assertion"] {
            assertion = loadAssertion(a, file: file, baseNames: baseURLs.map(\.name), credentials: credentials.map(\.name))
        }

        var oauth: OAuthEndpoints?
        if let o = fields["oauth"] {
            oauth = loadOAuth(o, file: file, requiredScopes: requiredScopes)
        }

        var steps: [ProviderStep] = []
        if fields["steps"] == nil && !evidenceInputs.isEmpty {
            // Offline: the evidence given is classified, nothing is probed.
        } else if let s = fields["steps"] {
            if let items = s.sequence, !items.isEmpty {
                for item in items {
                    if let step = loadStep(item, file: file, baseNames: baseURLs.map(\.name), credentials: credentials.map(\.name)) {
                        if steps.contains(where: { $0.id == step.id }) {
                            issue(file, item, "step id '\(step.id)' is used twice")
                        } else {
                            steps.append(step)
                        }
                    }
                }
            } else {
                issue(file, s, "'steps' must be a non-empty list")
            }
        } else {
            issue(file, node, "provider definition is missing 'steps'")
        }
        let providable = Set(steps.flatMap { $0.provides.map(\.credential) })
        for spec in credentials where spec.required && providable.contains(spec.name) {
            issue(file, fields["credentials"], "credential '\(spec.name)' is required but also provided by a step; drop 'required'")
        }
        if assertion != nil && !credentials.contains(where: { $0.name == CredentialName.assertion }) {
            issue(file, fields["assertion"], "'assertion' needs the credential 'assertion' under 'credentials' (the steps use {assertion})")
        }
        guard issues.count == start else { return }
        var definition = ProviderDefinition(id: id, name: name, category: category, baseURLs: baseURLs, versionPath: versionPath,
                                            requiredScopes: requiredScopes, credentials: credentials, requireAny: requireAny,
                                            steps: steps, file: file, line: node.mark?.line ?? 1)
        definition.assertion = assertion
        definition.requiredPermissions = requiredPermissions
        definition.evidenceInputs = evidenceInputs
        definition.oauth = oauth
        definitions.append(definition)
    }

    mutating func loadAssertion(_ node: Node, file: String, baseNames: [String], credentials: [String]) -> AssertionSpec? {
        guard let map = node.mapping else { issue(file, node, "'assertion' must be a mapping (claims, lifetime)"); return nil }
        for (key, _) in map where !Self.assertionKeys.contains(key.string ?? "") {
            issue(file, key, "unknown key '\(key.string ?? "?")' in assertion (allowed: \(Self.assertionKeys.sorted().joined(separator: ", ")))")
        }
        let fields = RuleLoader.fields(map)
        var claims: [(name: String, value: String)] = []
        var needs = [CredentialName.privateKey]
        guard let cm = fields["claims"]?.mapping, !cm.isEmpty else {
            issue(file, fields["claims"] ?? node, "'assertion' needs 'claims' (claim name → template)")
            return nil
        }
        for (key, value) in cm {
            guard let name = key.string, !name.isEmpty, let template = value.scalar?.string else {
                issue(file, key, "a claim maps a name to a text template"); continue
            }
            if name == "iat" || name == "exp" { issue(file, key, "'\(name)' is added by the runner"); continue }
            for placeholder in Self.placeholders(in: template) {
                if placeholder.hasPrefix("base.") {
                    if !baseNames.contains(String(placeholder.dropFirst(5))) { issue(file, value, "claim '\(name)': unknown base URL '{\(placeholder)}'") }
                } else if placeholder == "public-key-fingerprint" {
                    continue
                } else if let credential = CredentialName.credential(inPlaceholder: placeholder), credentials.contains(credential),
                          credential != CredentialName.assertion, !CredentialName.secret.contains(credential) {
                    if !needs.contains(credential) { needs.append(credential) }
                } else {
                    issue(file, value, "claim '\(name)': unknown placeholder '{\(placeholder)}' (a credential under 'credentials' that is not a secret, {base.NAME}, {public-key-fingerprint})")
                }
            }
            claims.append((name, template))
        }
        if !credentials.contains(CredentialName.privateKey) {
            issue(file, node, "'assertion' is signed with 'private-key', which is not under 'credentials'")
        }
        var lifetime = 3600
        if let l = fields["lifetime"] {
            if let n = l.scalar.flatMap({ Int($0.string) }), (60...86_400).contains(n) { lifetime = n }
            else { issue(file, l, "'lifetime' must be seconds between 60 and 86400") }
        }
        return AssertionSpec(claims: claims, lifetime: lifetime, needs: needs)
    }

    mutating func loadStep(_ node: Node, file: String, baseNames: [String], credentials: [String]) -> ProviderStep? {
        guard let map = node.mapping else { issue(file, node, "a step must be a mapping"); return nil }
        let start = issues.count
        for (key, _) in map where !Self.stepKeys.contains(key.string ?? "") {
            issue(file, key, "unknown key '\(key.string ?? "?")' in step (allowed: \(Self.stepKeys.sorted().joined(separator: ", ")))")
        }
        let fields = RuleLoader.fields(map)
        guard let id = fields["id"]?.scalar?.string, Self.isIdentifier(id) else {
            issue(file, fields["id"] ?? node, "a step needs an 'id' of lower-case letters, digits and '-'")
            return nil
        }
        let method = (fields["method"]?.scalar?.string ?? "GET").uppercased()
        if !Self.methods.contains(method) {
            issue(file, fields["method"], "step '\(id)': unknown method '\(method)' (allowed: \(Self.methods.sorted().joined(separator: ", ")))")
        }
        guard let url = fields["url"]?.scalar?.string, !url.isEmpty else {
            issue(file, fields["url"] ?? node, "step '\(id)' is missing 'url'")
            return nil
        }
        if !url.hasPrefix("{base.") {
            issue(file, fields["url"], "step '\(id)': the URL must start with a base URL placeholder such as {base.\(baseNames.first ?? "api")}")
        }
        var headers: [(name: String, value: String)] = []
        if let h = fields["headers"] {
            if let hm = h.mapping {
                for (key, value) in hm {
                    guard let name = key.string, !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                        issue(file, key, "step '\(id)': header names are letters, digits, '-' and '_'"); continue
                    }
                    guard let v = value.scalar?.string else { issue(file, value, "step '\(id)': header '\(name)' needs a text value"); continue }
                    headers.append((name, v))
                }
            } else if !(h.scalar.map { $0.string == "null" || $0.string.isEmpty } ?? false) {
                issue(file, h, "step '\(id)': 'headers' must map header names to values")
            }
        }
        let body = fields["body"]?.scalar.flatMap { $0.string == "null" || $0.string == "~" || $0.string.isEmpty ? nil : $0.string }
        let contentType = fields["content-type"]?.scalar.flatMap { $0.string == "null" || $0.string == "~" || $0.string.isEmpty ? nil : $0.string }
        if body != nil && contentType == nil {
            issue(file, fields["body"], "step '\(id)': a body needs a 'content-type' (application/x-www-form-urlencoded or application/json)")
        }
        if body != nil && (method == "GET" || method == "HEAD") {
            issue(file, fields["body"], "step '\(id)': a \(method) request carries no body")
        }

        // Placeholders: base URLs, the version, credentials.
        var referenced: [String] = []
        var templates: [(text: String, node: Node?)] = [(url, fields["url"])]
        for header in headers { templates.append((header.value, fields["headers"])) }
        if let body { templates.append((body, fields["body"])) }
        for (template, where_) in templates {
            for name in Self.placeholders(in: template) {
                if name.hasPrefix("base.") {
                    let base = String(name.dropFirst(5))
                    if !baseNames.contains(base) { issue(file, where_, "step '\(id)': unknown base URL '{\(name)}' (known: \(baseNames.joined(separator: ", ")))") }
                } else if name == "version" {
                    continue
                } else if let name = CredentialName.credential(inPlaceholder: name) {
                    if !credentials.contains(name) {
                        issue(file, where_, "step '\(id)' uses '{\(name)}', which is not under 'credentials'")
                    } else if !referenced.contains(name) {
                        referenced.append(name)
                    }
                } else {
                    issue(file, where_, "step '\(id)': unknown placeholder '{\(name)}' (known: {base.NAME}, {version}, \(CredentialName.all.map { "{\($0)}" }.joined(separator: ", ")))")
                }
            }
        }
        var needs = strings(fields["needs"], "needs", file: file)
        for name in needs where !credentials.contains(name) {
            issue(file, fields["needs"], "step '\(id)' needs '\(name)', which is not under 'credentials'")
        }
        for name in referenced where !needs.contains(name) { needs.append(name) }

        var yields: [(fact: String, path: BodyPath)] = []
        if let y = fields["yields"] {
            if let ym = y.mapping {
                for (key, value) in ym {
                    guard let fact = key.string, Vocabulary.isKnownFact(fact), !fact.hasPrefix("body") else {
                        issue(file, key, "step '\(id)': '\(key.string ?? "?")' is not a diagnosis fact name (token.*, scopes.*, account.*, ...)"); continue
                    }
                    guard let source = value.scalar?.string, let path = BodyPath(source) else {
                        issue(file, value, "step '\(id)': '\(value.scalar?.string ?? "?")' is not a body path (body.a.b, body.list[], body.list[key=value].member)"); continue
                    }
                    yields.append((fact, path))
                }
            } else if !(y.scalar.map { $0.string.isEmpty || $0.string == "null" } ?? false) {
                issue(file, y, "step '\(id)': 'yields' must map fact names to body paths")
            }
        }
        var provides: [(credential: String, path: BodyPath)] = []
        if let p = fields["provides"] {
            if let pm = p.mapping {
                for (key, value) in pm {
                    guard let name = key.string, CredentialName.secret.contains(name) || name == CredentialName.accountID else {
                        issue(file, key, "step '\(id)' can provide only credentials (\(CredentialName.all.joined(separator: ", ")))"); continue
                    }
                    if !credentials.contains(name) { issue(file, key, "step '\(id)' provides '\(name)', which is not under 'credentials'"); continue }
                    if needs.contains(name) { issue(file, key, "step '\(id)' cannot both need and provide '\(name)'"); continue }
                    guard let source = value.scalar?.string, let path = BodyPath(source), !path.isList else {
                        issue(file, value, "step '\(id)': '\(name)' must come from a single body member (body.access_token)"); continue
                    }
                    provides.append((name, path))
                }
            } else {
                issue(file, p, "step '\(id)': 'provides' must map credential names to body paths")
            }
        }
        let ifFormat = strings(fields["if-token-format"], "if-token-format", file: file)
        let unlessFormat = strings(fields["unless-token-format"], "unless-token-format", file: file)
        if (!ifFormat.isEmpty || !unlessFormat.isEmpty) && !needs.contains(CredentialName.token) {
            issue(file, fields["if-token-format"] ?? fields["unless-token-format"], "step '\(id)': token format conditions need a step that uses {token}")
        }
        guard issues.count == start else { return nil }
        return ProviderStep(id: id, description: fields["description"]?.scalar?.string, needs: needs, method: method, url: url,
                            headers: headers, body: body, contentType: contentType, yields: yields, provides: provides,
                            ifTokenFormat: ifFormat, unlessTokenFormat: unlessFormat, line: node.mark?.line ?? 1)
    }

    /// `{name}` placeholders of a template, in order.
    public static func placeholders(in template: String) -> [String] {
        TemplatePiece.split(template).compactMap { if case let .placeholder(name) = $0 { return name }; return nil }
    }

    /// Why a base URL is unusable, or nil: an absolute http(s) URL with a host, and no query,
    /// fragment or user info (credentials go in their own flags, never in a URL).
    public static func baseURLProblem(_ url: String) -> String? {
        // Checked for every connection of a `check` run, mostly the same few URLs: remember the
        // answers (a pure function of the text).
        if let known = checkedBaseURLs.answer(url) { return known.problem }
        let problem = uncachedBaseURLProblem(url)
        checkedBaseURLs.remember(url, problem)
        return problem
    }

    private final class CheckedBaseURLs: @unchecked Sendable {
        private let lock = NSLock()
        private var answers: [String: String?] = [:]
        func answer(_ url: String) -> (problem: String?, Void)? {
            lock.lock(); defer { lock.unlock() }
            guard let found = answers[url] else { return nil }
            return (found, ())
        }
        func remember(_ url: String, _ problem: String?) {
            lock.lock(); defer { lock.unlock() }
            if answers.count >= 1024 { answers.removeAll() }
            answers[url] = .some(problem)
        }
    }
    private static let checkedBaseURLs = CheckedBaseURLs()

    static func uncachedBaseURLProblem(_ url: String) -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return "must start with http:// or https://" }
        guard let host = URLFacts.host(of: url), !host.isEmpty else { return "has no host" }
        if url.contains("?") || url.contains("#") { return "must not carry a query or fragment" }
        if url.contains(where: { $0 == " " || $0 == "{" || $0 == "}" || $0.isNewline || $0 == "\"" || $0 == "<" || $0 == ">" }) {
            return "contains characters a URL cannot hold"
        }
        let authority = url.drop(while: { $0 != ":" }).dropFirst(3).prefix(while: { $0 != "/" })
        if authority.contains("@") { return "must not carry user info (user:password@)" }
        if authority.hasPrefix("[") {
            // An IPv6 literal: closed, hex digits and colons inside, then nothing or ":PORT".
            guard let close = authority.firstIndex(of: "]") else { return "has an IPv6 address without its closing ']'" }
            let inside = authority[authority.index(after: authority.startIndex)..<close]
            guard inside.contains(":"), inside.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return "has a bad IPv6 address '[\(inside)]'"
            }
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let n = Int(rest.dropFirst()), (1...65535).contains(n) else { return "has a bad port '\(rest.dropFirst())'" }
            }
            return URLComponents(string: url) == nil ? "is not a valid URL" : nil
        }
        if authority.contains("[") || authority.contains("]") { return "has a '[' or ']' outside an IPv6 address" }
        if URLComponents(string: url)?.host == nil { return "is not a valid URL" }
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            let port = authority[authority.index(after: colon)...]
            guard let n = Int(port), (1...65535).contains(n) else { return "has a bad port '\(port)'" }
        }
        return nil
    }

    /// The URL without trailing slashes (a base URL is followed by a path that starts with one).
    public static func trimmingSlash(_ url: String) -> String {
        var u = url
        while u.hasSuffix("/") && u.count > 1 { u.removeLast() }
        return u
    }
}

/// Where provider definitions come from: the set built into the binary (`rules/providers/`) and
/// local folders (`--providers DIR`, or the `providers/` folder of a `--rules DIR`).
public enum ProviderLibrary {
    static func isDefinitionFile(_ path: String) -> Bool { path.hasSuffix(".yaml") || path.hasSuffix(".yml") }

    public static func builtinFiles() -> [SourceFile] {
        EmbeddedResources.files(under: "rules/providers/").filter { isDefinitionFile($0.path) }.map { SourceFile(path: $0.path, text: $0.text) }
    }

    /// Every YAML file under a folder of definitions, paths shown relative to the folder's parent.
    public static func files(in directory: String) throws(InputError) -> [SourceFile] {
        try RuleLibrary.files(in: directory, where: isDefinitionFile)
    }

    public static func parse(_ files: [SourceFile]) -> ([ProviderDefinition], [LintIssue]) {
        var loader = ProviderLoader()
        for file in files { loader.load(yaml: file.text, file: file.path) }
        return (loader.definitions, loader.issues)
    }

    /// The built-in definitions (unless excluded), then each folder's; a later definition with an
    /// earlier one's id replaces it. Duplicate ids within one layer are problems.
    public static func load(includeBuiltin: Bool = true, directories: [String] = []) throws(InputError) -> ([String: ProviderDefinition], [LintIssue]) {
        var layers: [[SourceFile]] = []
        if includeBuiltin { layers.append(builtinFiles()) }
        for directory in directories { layers.append(try files(in: directory)) }
        var out: [String: ProviderDefinition] = [:]
        var issues: [LintIssue] = []
        for layer in layers {
            let (definitions, problems) = parse(layer)
            issues += problems
            var seen: [String: ProviderDefinition] = [:]
            for definition in definitions {
                if let first = seen[definition.id] {
                    issues.append(LintIssue(file: definition.file, line: definition.line,
                                            message: "provider '\(definition.id)' is defined twice (first at \(first.place))"))
                    continue
                }
                seen[definition.id] = definition
                out[definition.id] = definition
            }
        }
        return (out, issues)
    }

    /// One provider's definition, or a one-line error: unknown provider (usage), bad file (config).
    /// `alsoKnown`: providers served without a definition (postgres, redshift), named in the error too.
    public static func definition(for id: String, includeBuiltin: Bool = true, directories: [String] = [],
                                  alsoKnown: [String] = []) throws(InputError) -> ProviderDefinition {
        // A built-in provider alone reads its own file, not all of them: parsing every definition's
        // YAML was a seventh of a fresh `diagnose`. The built-in set is checked whole by the tests.
        if includeBuiltin, directories.isEmpty {
            let path = "rules/providers/\(id).yaml"
            if let file = EmbeddedResources.files(under: path).first(where: { $0.path == path }) {
                let (definitions, issues) = parse([SourceFile(path: file.path, text: file.text)])
                if issues.isEmpty, definitions.count == 1, let only = definitions.first, only.id == id { return only }
            }
        }
        let (all, issues) = try load(includeBuiltin: includeBuiltin, directories: directories)
        if let first = issues.first {
            let more = issues.count > 1 ? " (and \(issues.count - 1) more)" : ""
            throw InputError(.config, first.message + more, place: "\(first.file):\(first.line)")
        }
        guard let definition = all[id] else {
            let names = Set(all.keys).union(alsoKnown).sorted()
            let known = names.joined(separator: ", ")
            throw InputError(.usage, "unknown provider '\(id)' for diagnose\(Suggestion.hint(id, among: names)) (known: \(known.isEmpty ? "none" : known))")
        }
        return definition
    }
}

/// A template cut into literal text and `{name}` placeholders. A name is lower-case letters, digits,
/// '.', '-' and '_'; any other brace is literal text (so JSON bodies need no escaping).
public enum TemplatePiece: Sendable, Equatable {
    case literal(String)
    case placeholder(String)

    public static func split(_ template: String) -> [TemplatePiece] {
        var pieces: [TemplatePiece] = []
        var literal = ""
        var i = template.startIndex
        while i < template.endIndex {
            let c = template[i]
            if c == "{" {
                var j = template.index(after: i)
                while j < template.endIndex, isNameCharacter(template[j]) { j = template.index(after: j) }
                if j < template.endIndex, template[j] == "}", j > template.index(after: i) {
                    if !literal.isEmpty { pieces.append(.literal(literal)); literal = "" }
                    pieces.append(.placeholder(String(template[template.index(after: i)..<j])))
                    i = template.index(after: j)
                    continue
                }
            }
            literal.append(c)
            i = template.index(after: i)
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        return pieces
    }

    static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLowercase || c.isNumber || c == "." || c == "-" || c == "_")
    }
}
