// Request → scenario → recorded answer: the scenario listener's whole logic, free of sockets.

import EvidenceModel
import Foundation

/// The credentials a request carries, in the order they are tried.
struct RequestCredentials {
    /// Token-like values: `Authorization: Bearer|OAuth|Token X`, API-key headers, the query's
    /// `access_token` / `input_token` / `token` / `key`, a form body's `refresh_token` /
    /// `client_assertion` / `assertion` / `token` / `access_token`, and JSON members named like tokens.
    var tokens: [String] = []
    /// Client credentials: `Authorization: Basic` user and password, `client_id` / `client_secret`,
    /// JSON members named like passwords or secrets.
    var others: [String] = []
    /// Path segments, for APIs that put the token in the path (HubSpot's `/access-tokens/{token}`).
    var pathSegments: [String] = []

    static let queryTokenNames: Set<String> = ["input_token", "access_token", "token", "oauth_token", "key", "api_key"]
    static let formTokenNames: Set<String> = ["refresh_token", "client_assertion", "assertion", "token", "access_token", "input_token"]
    static let clientNames: Set<String> = ["client_id", "client_secret", "username", "password"]
    static let apiKeyHeaders: Set<String> = ["x-api-key", "api-key", "x-goog-api-key", "x-auth-token"]

    init(_ request: HTTPRequest) {
        for header in request.headers {
            let name = header.name.lowercased()
            if name == "authorization" {
                readAuthorization(header.value)
            } else if Self.apiKeyHeaders.contains(name), !header.value.isEmpty {
                tokens.append(header.value)
            }
        }
        // input_token first: Facebook's debug_token names the user's token there and the app's in access_token.
        let query = request.query
        for name in ["input_token", "access_token", "token", "oauth_token", "key", "api_key"] {
            tokens += query.filter { $0.name == name && !$0.value.isEmpty }.map(\.value)
        }
        others += query.filter { Self.clientNames.contains($0.name) && !$0.value.isEmpty }.map(\.value)
        for field in request.form where !field.value.isEmpty {
            if Self.formTokenNames.contains(field.name) { tokens.append(field.value) }
            else if Self.clientNames.contains(field.name) { others.append(field.value) }
        }
        readJSONBody(request)
        pathSegments = request.path.split(separator: "/").map { FormEncoding.percentDecode($0, plusIsSpace: false) }
    }

    private mutating func readAuthorization(_ value: String) {
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else {
            if let only = parts.first { tokens.append(String(only)) }  // a bare token without scheme
            return
        }
        let credential = parts[1].trimmingCharacters(in: .whitespaces)
        switch parts[0].lowercased() {
        case "basic":
            guard let data = Data(base64Encoded: credential), let pair = String(data: data, encoding: .utf8) else { return }
            let userAndPassword = pair.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            others += userAndPassword.filter { !$0.isEmpty }
        default:
            // Bearer, OAuth (Facebook, LinkedIn), Token, Snowflake's Snowflake Token="..."
            var token = credential
            if let equals = token.firstIndex(of: "="), token.lowercased().hasPrefix("token=") {
                token = String(token[token.index(after: equals)...])
            }
            token = token.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if !token.isEmpty { tokens.append(token) }
        }
    }

    private mutating func readJSONBody(_ request: HTTPRequest) {
        guard let type = request.header("content-type")?.lowercased(), type.contains("json"), !request.body.isEmpty,
              let document = try? JSON.parse(request.body) else { return }
        func visit(_ value: JSONValue, key: String) {
            switch value {
            case let .object(members): for (name, member) in members { visit(member, key: name.lowercased()) }
            case let .array(items): for item in items { visit(item, key: key) }
            case let .string(text) where !text.isEmpty:
                if key.contains("token") || key.contains("assertion") { tokens.append(text) }
                else if key.contains("password") || key.contains("secret") || key.hasSuffix("client_id") || key == "login_name" { others.append(text) }
            default: break
            }
        }
        visit(document, key: "")
    }
}

/// One answered request, as the access log shows it: never a credential, never the raw path or query.
public struct SandboxAccess: Sendable, CustomStringConvertible {
    /// "scenarios", or the fault's id for a fault listener.
    public let listener: String
    public let method: String
    /// The scenario that answered, when one did.
    public let scenario: String?
    /// The route's path as the scenarios file writes it, when one matched.
    public let route: String?
    /// The status sent, nil when no status was sent (a fault).
    public let status: Int?
    /// What else happened ("no route", "unknown credential", "handshake failed", a fault).
    public let note: String?

    public var description: String {
        var parts = [listener, method]
        if let scenario { parts.append(scenario) }
        if let route { parts.append(route) }
        parts.append(status.map(String.init) ?? "-")
        if let note { parts.append("(\(note))") }
        return parts.joined(separator: " ")
    }
}

/// What the scenario listener does with one request.
enum ScenarioAnswer {
    case respond(HTTPResponse, SandboxAccess)
    /// The credential picks a scenario that names a fault: meet it on this connection.
    case fault(SandboxFault, scenario: String)
}

struct ScenarioRouter: Sendable {
    let catalog: ScenarioCatalog
    /// `/oauth/{provider}/authorize|token`: answered before any credential is looked at.
    let oauth: OAuthAuthorizationServers

    init(catalog: ScenarioCatalog, oauth: OAuthAuthorizationServers? = nil) {
        self.catalog = catalog
        self.oauth = oauth ?? OAuthAuthorizationServers(catalog: catalog)
    }

    static let realm = "sandbox"

    func answer(_ request: HTTPRequest) -> ScenarioAnswer {
        let method = request.method.uppercased()
        let path = request.path
        if path == "/healthz" && (method == "GET" || method == "HEAD") {
            return .respond(.json(200, [("status", .string("ok")), ("scenarios", .int(catalog.scenarios.count))]),
                            access(method, route: "/healthz", status: 200))
        }
        if let (response, access) = oauth.answer(request) { return .respond(response, access) }

        let credentials = RequestCredentials(request)
        let scenario = credentials.tokens.lazy.compactMap { catalog.scenario(forToken: $0) }.first
            // A signed assertion (a service-account grant, Snowflake's key-pair login) picks by its issuer or subject.
            ?? credentials.tokens.lazy.compactMap { catalog.scenario(forAssertion: $0) }.first
            ?? credentials.pathSegments.lazy.compactMap { catalog.scenario(forToken: $0) }.first
            // Without any token, a client secret or id only one scenario uses picks it (client-credentials grants).
            ?? (credentials.tokens.isEmpty ? credentials.others.lazy.compactMap { catalog.scenario(forOtherCredential: $0) }.first : nil)

        guard let scenario else {
            if credentials.tokens.isEmpty && credentials.others.isEmpty {
                // RFC 6750 3.1: a request without credentials gets the challenge without an error code.
                return .respond(.json(401, [("error", .string("invalid_request")),
                                            ("error_description", .string("The request carries no credential the sandbox can read"))],
                                      headers: [("WWW-Authenticate", "Bearer realm=\"\(Self.realm)\"")]),
                                access(method, status: 401, note: "no credential"))
            }
            return .respond(Self.unknownCredential, access(method, status: 401, note: "unknown credential"))
        }
        if let fault = scenario.fault { return .fault(fault, scenario: scenario.id) }
        // A client may escape what the scenarios file writes plainly ("123%3ArunReport" for "123:runReport").
        let decodedPath = FormEncoding.percentDecode(Substring(path), plusIsSpace: false)
        guard let route = scenario.route(method: method, path: path) ?? scenario.route(method: method, path: decodedPath) else {
            let known = scenario.routes.map { "\($0.method) \($0.path)" }
            return .respond(.json(404, [("error", .string("not_found")),
                                        ("error_description", .string("The sandbox scenario '\(scenario.id)' has no route for this method and path")),
                                        ("scenario", .string(scenario.id)),
                                        ("routes", .array(known.map { .string($0) }))]),
                            access(method, scenario: scenario.id, status: 404, note: "no route"))
        }
        let response = HTTPResponse(replaying: route.recorded)
        return .respond(response, access(method, scenario: scenario.id, route: route.path, status: response.status))
    }

    static let unknownCredential = HTTPResponse.json(
        401, [("error", .string("invalid_token")), ("error_description", .string("The sandbox knows no scenario for this token"))],
        headers: [("WWW-Authenticate", "Bearer realm=\"\(realm)\", error=\"invalid_token\"")])

    private func access(_ method: String, scenario: String? = nil, route: String? = nil, status: Int?, note: String? = nil) -> SandboxAccess {
        SandboxAccess(listener: "scenarios", method: Self.loggable(method), scenario: scenario, route: route, status: status, note: note)
    }

    /// A method as sent may be anything; the log shows it only when it looks like a method.
    static func loggable(_ method: String) -> String {
        method.count <= 16 && method.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "-") }) ? method : "?"
    }
}
