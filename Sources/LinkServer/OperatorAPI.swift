import EvidenceModel
import Foundation
import HTTPTypes
import Hummingbird
import Links
import Logging

/// The operator API under /api (issue 16, item 5): engineers issue, list and revoke links and read
/// connections and their check history without a shell on the server. schema/openapi.yaml
/// documents every route and answer; a test holds the two together.
///
/// - Every call carries `Authorization: Bearer <operator token>` (`authdoctor operators add`). A
///   missing, malformed, unknown or removed token gets the same 401 with `WWW-Authenticate`: the
///   answer never says which.
/// - Every call, refused ones too, is written to the audit log before its answer is sent: the
///   operator (or `anonymous`), the method and route template, the time, the link or connection,
///   and the status. A call whose entry cannot be written answers 503 (its answer is withheld).
/// - Answers are JSON; errors are `{"error": {"code": "...", "message": "..."}}`, also for odd
///   paths under /api (400), paths it lacks (404) and methods a route does not answer (405 with
///   `Allow`): `OddPathMiddleware` answers those before any route, without an audit entry.
public struct OperatorAPI: Sendable {
    /// The providers a link may ask for (from the provider definitions `serve` loaded).
    public var catalog: LinkSourceCatalog

    public init(catalog: LinkSourceCatalog) {
        self.catalog = catalog
    }

    /// The routes, as registered and as the audit log and schema/openapi.yaml write them.
    public enum Route: String, CaseIterable, Sendable {
        case issueLink = "POST /api/links"
        case listLinks = "GET /api/links"
        case revokeLink = "POST /api/links/{id}/revoke"
        case listConnections = "GET /api/connections"
        case connectionHistory = "GET /api/connections/{id}/history"

        public var method: String { String(rawValue.prefix(while: { $0 != " " })) }
        public var path: String { String(rawValue.drop(while: { $0 != " " }).dropFirst()) }

        /// Whether a request path fits a template (`{name}` matches any one segment).
        public static func matches(_ path: String, _ template: String) -> Bool {
            let a = path.split(separator: "/", omittingEmptySubsequences: false), b = template.split(separator: "/", omittingEmptySubsequences: false)
            return a.count == b.count && zip(a, b).allSatisfy { $1.hasPrefix("{") || $0 == $1 }
        }
    }

    public static let realm = "authdoctor operators"
    /// The largest JSON body read (`POST /api/links`).
    public static let maxBodyBytes = 16 * 1024
    /// `GET /api/connections/{id}/history`: the default and the largest `limit`.
    public static let defaultHistoryLimit = 20
    public static let maxHistoryLimit = 10_000

    func addRoutes(to router: Router<BasicRequestContext>, store: any AuthDoctorStore, configuration: LinkServerConfiguration,
                   origin: PublicOrigin) {
        let handlers = OperatorHandlers(api: self, store: store, configuration: configuration, origin: origin)
        for route in Route.allCases {
            let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
                await handlers.call(route, request, context)
            }
            switch route.method {
            case "POST": router.post(RouterPath(route.path), use: handler)
            default: router.get(RouterPath(route.path), use: handler)
            }
        }
    }
}

/// An answer of the API, with the link or connection it concerns (for the audit log).
struct APIAnswer {
    var status: Int
    var body: JSONValue
    var target: String?

    static func error(_ status: Int, _ code: String, _ message: String, target: String? = nil) -> APIAnswer {
        APIAnswer(status: status, body: .object([("error", .object([("code", .string(code)), ("message", .string(message))]))]), target: target)
    }
}

struct OperatorHandlers: Sendable {
    let api: OperatorAPI
    let store: any AuthDoctorStore
    let configuration: LinkServerConfiguration
    let origin: PublicOrigin

    var publicURL: String { origin.url ?? "http://\(configuration.host):\(configuration.port)" }

    /// Authenticates, answers, writes the audit entry, then sends the answer.
    func call(_ route: OperatorAPI.Route, _ request: Request, _ context: BasicRequestContext) async -> Response {
        let now = configuration.now()
        // The id the path names, for the audit log even when the call is refused (bounded: it is what was sent).
        let named = context.parameters.get("id").map { String($0.prefix(100)) }
        var actor = OperatorTokens.anonymous
        var answer: APIAnswer
        do {
            if let account = try authenticate(request, now: now) {
                actor = account.name
                answer = try await respond(route, request, context, now: now)
            } else {
                answer = .error(401, "unauthorized", "an operator token is required: Authorization: Bearer <token> (authdoctor operators add NAME)", target: named)
            }
        } catch {
            answer = Self.failure(error, context)
        }
        if answer.target == nil { answer.target = named }
        do {
            try store.recordAudit(AuditEntry(at: now, actor: actor, method: route.method, route: route.path, target: answer.target, status: answer.status))
        } catch {
            context.logger.error("audit entry not written", metadata: ["route": .string(route.rawValue),
                                                                       "error": .string(Redactor.redact(String(describing: type(of: error))))])
            answer = Self.failure(error, context)
            if answer.status == 500 {
                answer = .error(503, "unavailable", "the call could not be written to the audit log, so its answer is withheld; try again in a moment")
            }
        }
        return Self.response(answer)
    }

    /// The operator whose bearer token the request carries, or nil (any reason: the answer is the same).
    func authenticate(_ request: Request, now: Date) throws -> OperatorAccount? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return try store.authenticateOperator(token: parts[1].trimmingCharacters(in: .whitespaces), now: now)
    }

    func respond(_ route: OperatorAPI.Route, _ request: Request, _ context: BasicRequestContext, now: Date) async throws -> APIAnswer {
        switch route {
        case .issueLink: return try await issueLink(request, now: now)
        case .listLinks:
            let (links, connections) = (try store.allLinks(), try store.allConnections())
            let byLink = Dictionary(grouping: connections.reversed(), by: \.linkID)
            return APIAnswer(status: 200, body: .object([("links", .array(links.map { LinkJSON.link($0, now: now, connections: byLink[$0.id] ?? []) }))]))
        case .revokeLink:
            let id = context.parameters.get("id") ?? ""
            let link = try LinkIssuing.revoke(id: id, store: store, now: now)
            return APIAnswer(status: 200, body: LinkJSON.link(link, now: now, connections: nil), target: link.id)
        case .listConnections:
            return APIAnswer(status: 200, body: .object([("connections", .array(try store.allConnections().map(LinkJSON.connection)))]))
        case .connectionHistory:
            let id = context.parameters.get("id") ?? ""
            var limit = OperatorAPI.defaultHistoryLimit
            if let text = request.uri.queryParameters.get("limit") {
                guard let n = Int(text), (1...OperatorAPI.maxHistoryLimit).contains(n) else {
                    return .error(400, "bad_request", "limit must be a whole number from 1 to \(OperatorAPI.maxHistoryLimit)", target: id)
                }
                limit = n
            }
            let connection = try store.connection(id: id)
            let verdicts = try store.verdicts(connection: id, limit: limit)
            // A connection of a connections file has a history under its name but no stored record.
            guard connection != nil || !verdicts.isEmpty else {
                return .error(404, "unknown_connection", "no connection has the id '\(DisplayText.safe(String(id.prefix(100))))' and no check history is recorded under it", target: id)
            }
            return APIAnswer(status: 200, body: .object([
                ("connection", .string(id)), ("verdicts", .array(verdicts.map(LinkJSON.verdict))),
            ]), target: id)
        }
    }

    /// `POST /api/links`: a JSON object with `client` (required), `sources` (provider ids), `ttl`
    /// (`24h` when absent) and `maxSources`, checked as `authdoctor links issue` checks its flags.
    func issueLink(_ request: Request, now: Date) async throws -> APIAnswer {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            return .error(415, "unsupported_media_type", "send the link as JSON (Content-Type: application/json)")
        }
        guard let buffer = try? await request.body.collect(upTo: OperatorAPI.maxBodyBytes) else {
            return .error(413, "payload_too_large", "the body is larger than \(OperatorAPI.maxBodyBytes) bytes")
        }
        let parsed: LinkRequest
        switch Self.linkRequest(String(buffer: buffer)) {
        case let .failure(problem): return .error(400, "bad_request", problem.message)
        case let .success(request): parsed = request
        }
        let issued = try LinkIssuing.issue(parsed, store: store, catalog: api.catalog, connectable: configuration.clients.keys.sorted(),
                                           labels: (client: "client", sources: "sources", maxSources: "maxSources"), now: now)
        let url = LinkIssuing.url(base: publicURL, token: issued.token)
        return APIAnswer(status: 201, body: LinkJSON.issued(issued.link, url: url), target: issued.link.id)
    }

    struct Problem: Error { var message: String }

    /// The body of `POST /api/links` as a request, or why it is not one (unknown members are refused, so a typo never passes).
    static func linkRequest(_ text: String) -> Result<LinkRequest, Problem> {
        guard let document = try? JSON.parse(text), case let .object(members) = document else {
            return .failure(Problem(message: "the body must be a JSON object such as {\"client\": \"Acme Ltd\", \"sources\": [\"google\"], \"ttl\": \"24h\"}"))
        }
        var client: String?, sources: [String] = [], ttl = LinkIssuing.defaultTTL, maxSources: Int?
        var seen = Set<String>()
        for (name, value) in members {
            guard seen.insert(name).inserted else { return .failure(Problem(message: "'\(DisplayText.safe(String(name.prefix(40))))' is given twice")) }
            switch (name, value) {
            case let ("client", .string(s)): client = s
            case ("sources", .null): sources = []
            case let ("sources", .array(items)):
                var ids: [String] = []
                for item in items {
                    guard case let .string(id) = item else { return .failure(Problem(message: "sources must be an array of provider ids (strings)")) }
                    ids.append(id.trimmingCharacters(in: .whitespaces))
                }
                sources = ids
            case let ("ttl", .string(s)): ttl = s
            case ("maxSources", .null): maxSources = nil
            case let ("maxSources", .int(n)): maxSources = n
            case ("client", _): return .failure(Problem(message: "client must be a string"))
            case ("sources", _): return .failure(Problem(message: "sources must be an array of provider ids (strings)"))
            case ("ttl", _): return .failure(Problem(message: "ttl must be a string such as 24h, 90m or 7d"))
            case ("maxSources", _): return .failure(Problem(message: "maxSources must be a whole number (1 or more) or null"))
            default:
                return .failure(Problem(message: "unknown member '\(DisplayText.safe(String(name.prefix(40))))' (a link takes client, sources, ttl, maxSources)"))
            }
        }
        guard let client else { return .failure(Problem(message: "client is required: who the link is for")) }
        if let problem = LinkIssuing.ttlProblem(ttl, label: "ttl") { return .failure(Problem(message: problem)) }
        return .success(LinkRequest(client: client, sources: sources, ttl: LinkIssuing.parseTTL(ttl)!, maxSources: maxSources))
    }

    /// A thrown error as an answer: a refused input (400/404), the database unreachable (503), else 500 (logged without detail).
    static func failure(_ error: any Error, _ context: BasicRequestContext) -> APIAnswer {
        if let input = error as? InputError {
            switch input.kind {
            case .noInput: return .error(404, "unknown_link", input.message)
            case .usage, .data: return .error(400, "bad_request", input.message)
            default: break
            }
        }
        if let failure = error as? PostgresStoreError, failure.isUnavailable {
            context.logger.warning("store unavailable", metadata: ["error": .string(Redactor.redact(failure.description))])
            return .error(503, "unavailable", "the server cannot reach its database right now; nothing was changed; try again in a moment")
        }
        context.logger.error("api request failed", metadata: ["error": .string(Redactor.redact(String(describing: type(of: error))))])
        return .error(500, "internal", "the server could not complete this call")
    }

    static func response(_ answer: APIAnswer) -> Response {
        var response = LinkHandlers.response(status: answer.status, body: JSONWriter.serialize(answer.body) + "\n",
                                             contentType: "application/json; charset=utf-8")
        switch answer.status {
        case 401: response.headers[.wwwAuthenticate] = "Bearer realm=\"\(OperatorAPI.realm)\""
        case 503: response.headers[.retryAfter] = String(LinkHandlers.storeRetryAfter)
        default: break
        }
        return response
    }
}
