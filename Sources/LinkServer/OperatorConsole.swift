import Diagnose
import EvidenceModel
import Foundation
import HealthCheck
import HTTPTypes
import Hummingbird
import Links
import Logging

/// The operator console under /console (issue 17, part 1): server-rendered HTML for the engineers
/// who run `serve`, behind the operator tokens of the operator API.
///
/// - Sign-in: `POST /console/login` takes an operator token and starts a session kept in this
///   process (a random id in the `authdoctor_console` cookie: HttpOnly, SameSite=Strict, Path=/console,
///   Secure when the public URL is https, ending after `sessionLifetime`); `POST /console/logout`
///   ends it. Removing the operator ends its sessions at their next request. A restart signs
///   everyone out.
/// - Every POST carries the session's anti-forgery token (the sign-in form a token bound to a
///   cookie of its own) and must come from a page of this server (Origin / Sec-Fetch-Site); a
///   refused one answers 403 and changes nothing.
/// - Every request of a signed-in operator, every POST and every sign-in attempt is written to the
///   audit log (as the API's calls are); an entry that cannot be written withholds the answer (503).
/// - Pages carry the link pages' security headers; the one script (the copy button) runs under a
///   per-response CSP nonce. Texts from checks, reports and pasted evidence pass through `Redactor`.
public struct OperatorConsole: Sendable {
    public var catalog: LinkSourceCatalog
    /// The classify engine of the paste page and of a connection's latest report.
    public var engine: ClassifyEngine
    public var sessionLifetime: TimeInterval
    let sessions = ConsoleSessions()
    let overviewCache = ConsoleOverview.Cache()

    public init(catalog: LinkSourceCatalog, engine: ClassifyEngine, sessionLifetime: TimeInterval = 8 * 3600) {
        self.catalog = catalog
        self.engine = engine
        self.sessionLifetime = sessionLifetime
    }

    public static let sessionCookie = "authdoctor_console"
    public static let loginCookie = "authdoctor_console_login"
    /// The largest form body read; the paste form's (a HAR upload) is larger.
    public static let maxFormBytes = 16 * 1024
    public static let maxEvidenceBytes = 8 * 1024 * 1024

    /// The routes, as registered and as the audit log writes them.
    public enum Route: String, CaseIterable, Sendable {
        case overview = "GET /console"
        case loginForm = "GET /console/login"
        case login = "POST /console/login"
        case logout = "POST /console/logout"
        case connection = "GET /console/connections/{id}"
        case reauthorize = "POST /console/connections/{id}/link"
        case links = "GET /console/links"
        case issueLink = "POST /console/links"
        case revokeLink = "POST /console/links/{id}/revoke"
        case classifyForm = "GET /console/classify"
        case classify = "POST /console/classify"

        public var method: String { String(rawValue.prefix(while: { $0 != " " })) }
        public var path: String { String(rawValue.drop(while: { $0 != " " }).dropFirst()) }
        var routerPath: String { path.replacingOccurrences(of: "{id}", with: ":id") }
    }

    func addRoutes(to router: Router<BasicRequestContext>, store: any AuthDoctorStore, configuration: LinkServerConfiguration, origin: PublicOrigin) {
        let handlers = ConsoleHandlers(console: self, store: store, configuration: configuration, origin: origin)
        for route in Route.allCases {
            let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
                await handlers.handle(route, request, context)
            }
            if route.method == "POST" { router.post(RouterPath(route.routerPath), use: handler) } else { router.get(RouterPath(route.routerPath), use: handler) }
        }
    }
}

/// Console sessions, in memory: the cookie holds a random id, this holds its SHA-256.
final class ConsoleSessions: @unchecked Sendable {
    struct Session: Sendable {
        var operatorName: String
        var csrf: String
        var expiresAt: Date
    }

    private let lock = NSLock()
    private var sessions: [Data: Session] = [:]
    static let maxSessions = 10_000

    func create(operatorName: String, now: Date, lifetime: TimeInterval) -> (id: String, session: Session) {
        let id = LinkSecrets.newSecret()
        let session = Session(operatorName: operatorName, csrf: LinkSecrets.newSecret(), expiresAt: now.addingTimeInterval(lifetime))
        lock.withLock {
            if sessions.count >= Self.maxSessions {
                sessions = sessions.filter { $0.value.expiresAt > now }
                if sessions.count >= Self.maxSessions, let oldest = sessions.min(by: { $0.value.expiresAt < $1.value.expiresAt }) {
                    sessions[oldest.key] = nil
                }
            }
            sessions[LinkSecrets.digest(id)] = session
        }
        return (id, session)
    }

    func lookup(_ id: String, now: Date) -> Session? {
        let key = LinkSecrets.digest(id)
        return lock.withLock {
            guard let session = sessions[key] else { return nil }
            if session.expiresAt <= now {
                sessions[key] = nil
                return nil
            }
            return session
        }
    }

    func end(_ id: String) { _ = lock.withLock { sessions.removeValue(forKey: LinkSecrets.digest(id)) } }

    var count: Int { lock.withLock { sessions.count } }
}

/// A console form: URL-encoded fields, or a multipart body's fields and files.
struct ConsoleForm {
    var fields: [(String, String)] = []
    var files: [MultipartForm.Part] = []
    /// Whether the body was larger than allowed or not well formed.
    var problem: String?

    func value(_ name: String) -> String? { FormEncoding.value(name, in: fields) }
    func values(_ name: String) -> [String] { fields.filter { $0.0 == name }.map(\.1) }

    static func read(_ request: Request, limit: Int) async -> ConsoleForm {
        guard let buffer = try? await request.body.collect(upTo: limit) else {
            return ConsoleForm(problem: "The form is larger than \(limit / 1024) KiB.")
        }
        let bytes = Array(buffer.readableBytesView)
        if let type = request.headers[.contentType], let boundary = MultipartForm.boundary(contentType: type) {
            guard let parts = MultipartForm.parse(bytes, boundary: boundary) else { return ConsoleForm(problem: "The form could not be read.") }
            var form = ConsoleForm()
            for part in parts {
                if part.filename != nil { form.files.append(part) } else { form.fields.append((part.name, part.text)) }
            }
            return form
        }
        return ConsoleForm(fields: FormEncoding.decode(Substring(String(decoding: bytes, as: UTF8.self))))
    }
}

struct ConsoleHandlers: Sendable {
    typealias Route = OperatorConsole.Route
    let console: OperatorConsole
    let store: any AuthDoctorStore
    let configuration: LinkServerConfiguration
    let origin: PublicOrigin

    var publicURL: String { origin.url ?? "http://\(configuration.host):\(configuration.port)" }
    var secureCookies: Bool { publicURL.lowercased().hasPrefix("https://") }

    struct Signed {
        var id: String
        var session: ConsoleSessions.Session
        var name: String { session.operatorName }
    }

    /// What a handler answers, and the link or connection it concerns (for the audit log).
    struct Outcome {
        var response: Response
        var target: String?
    }

    func handle(_ route: Route, _ request: Request, _ context: BasicRequestContext) async -> Response {
        let now = configuration.now()
        let named = context.parameters.get("id").map { String(Self.decodeSegment($0).prefix(100)) }
        switch route {
        case .loginForm: return loginForm(request, now: now)
        case .login: return await login(request, context, now: now)
        default: break
        }
        let form: ConsoleForm? = route.method == "POST"
            ? await ConsoleForm.read(request, limit: route == .classify ? OperatorConsole.maxEvidenceBytes : OperatorConsole.maxFormBytes)
            : nil
        let signed: Signed?
        do {
            signed = try session(request, now: now)
        } catch {
            return page(Self.failurePage(error, context, signed: nil))
        }
        guard let signed else {
            if route.method == "GET" {
                let target = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                return Self.redirect("/console/login?" + FormEncoding.encode([("next", target)]))
            }
            // A post without a session changes nothing; it is recorded and sent to the sign-in page.
            return audited(route, actor: OperatorTokens.anonymous, target: named, now: now, context,
                           Outcome(response: Self.redirect("/console/login"), target: named))
        }
        if let form {
            if let problem = form.problem {
                return audited(route, actor: signed.name, target: named, now: now, context,
                               Outcome(response: page(ConsolePages.message(status: 413, title: "This form was refused", text: problem + " Nothing was changed.",
                                                                           operatorName: signed.name, csrf: signed.session.csrf)), target: named))
            }
            guard LinkHandlers.isSameOrigin(request, publicURL: publicURL), let sent = form.value("csrf"),
                  SessionCookie.equal(sent, signed.session.csrf) else {
                return audited(route, actor: signed.name, target: named, now: now, context,
                               Outcome(response: page(Self.forgedPage(signed)), target: named))
            }
        }
        let outcome: Outcome
        do {
            outcome = try await respond(route, request, form ?? ConsoleForm(), signed: signed, named: named, now: now)
        } catch {
            outcome = Outcome(response: page(Self.failurePage(error, context, signed: signed)), target: named)
        }
        return audited(route, actor: signed.name, target: outcome.target ?? named, now: now, context, outcome)
    }

    func respond(_ route: Route, _ request: Request, _ form: ConsoleForm, signed: Signed, named: String?, now: Date) async throws -> Outcome {
        switch route {
        case .overview:
            let filter = ConsoleOverview.Filter(query: FormEncoding.decode(Substring(request.uri.query ?? "")))
            let page = ConsoleOverview.page(try ConsoleOverview.rows(store: store, cache: console.overviewCache), filter: filter)
            return Outcome(response: self.page(ConsolePages.overview(page, filter: filter, operatorName: signed.name, csrf: signed.session.csrf)))
        case .logout:
            console.sessions.end(signed.id)
            var response = Self.redirect("/console/login")
            response.headers.append(HTTPField(name: .setCookie, value: cookie(OperatorConsole.sessionCookie, value: "", maxAge: 0)))
            return Outcome(response: response)
        case .connection:
            return try connectionPage(named ?? "", signed: signed)
        case .reauthorize:
            return try reauthorize(named ?? "", signed: signed, now: now)
        case .links:
            var notice: String?
            if let revoked = FormEncoding.value("revoked", in: FormEncoding.decode(Substring(request.uri.query ?? ""))) {
                notice = "Link \(String(revoked.prefix(80))) was revoked: it no longer opens, and a session it started can no longer finish."
            }
            return Outcome(response: page(try linksPage(now: now, signed: signed, issued: nil, notice: notice, problem: nil, form: nil)))
        case .issueLink:
            return try issueLink(form, signed: signed, now: now)
        case .revokeLink:
            let id = named ?? ""
            let link = try LinkIssuing.revoke(id: id, store: store, now: now)
            return Outcome(response: Self.redirect("/console/links?" + FormEncoding.encode([("revoked", link.id)])), target: link.id)
        case .classifyForm:
            return Outcome(response: page(ConsolePages.classify(report: nil, problem: nil, kind: "text", provider: nil, providers: ProviderDetector.known,
                                                                operatorName: signed.name, csrf: signed.session.csrf)))
        case .classify:
            return Outcome(response: page(classify(form, signed: signed)))
        case .loginForm, .login:
            return Outcome(response: Self.redirect("/console"))
        }
    }

    // MARK: sign-in

    func loginForm(_ request: Request, now: Date) -> Response {
        if (try? session(request, now: now)) != nil { return Self.redirect("/console") }
        let next = Self.safeNext(FormEncoding.value("next", in: FormEncoding.decode(Substring(request.uri.query ?? ""))))
        return loginPage(request, next: next, problem: nil, status: 200)
    }

    /// The sign-in form, bound to a cookie of its own (set when the browser lacks it).
    func loginPage(_ request: Request, next: String?, problem: String?, status: Int) -> Response {
        var secret = Self.cookie(OperatorConsole.loginCookie, in: request)
        var setCookie: String?
        if secret == nil || !(16...256).contains(secret!.utf8.count) {
            secret = LinkSecrets.newSecret()
            setCookie = cookie(OperatorConsole.loginCookie, value: secret!, maxAge: 3600)
        }
        var response = page(ConsolePages.login(csrf: Self.loginCSRF(secret!), next: next, problem: problem, status: status))
        if let setCookie { response.headers.append(HTTPField(name: .setCookie, value: setCookie)) }
        return response
    }

    static func loginCSRF(_ secret: String) -> String { SessionCookie.csrfToken(secret: secret, sessionID: "console-login") }

    func login(_ request: Request, _ context: BasicRequestContext, now: Date) async -> Response {
        let form = await ConsoleForm.read(request, limit: OperatorConsole.maxFormBytes)
        let next = Self.safeNext(form.value("next"))
        guard form.problem == nil, LinkHandlers.isSameOrigin(request, publicURL: publicURL),
              let secret = Self.cookie(OperatorConsole.loginCookie, in: request), let sent = form.value("csrf"),
              SessionCookie.equal(sent, Self.loginCSRF(secret)) else {
            return audited(.login, actor: OperatorTokens.anonymous, target: nil, now: now, context,
                           Outcome(response: page(ConsolePages.message(status: 403, title: "This sign-in was refused",
                                                                       text: "It did not come from the sign-in page of this console in this browser. Nothing was changed.",
                                                                       operatorName: nil, csrf: nil, back: ("/console/login", "Sign in again")))))
        }
        let token = (form.value("token") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let account: OperatorAccount?
        do {
            account = token.isEmpty ? nil : try store.authenticateOperator(token: token, now: now)
        } catch {
            return page(Self.failurePage(error, context, signed: nil))
        }
        guard let account else {
            return audited(.login, actor: OperatorTokens.anonymous, target: nil, now: now, context,
                           Outcome(response: loginPage(request, next: next, problem: "That is not the token of an operator of this server (it may have been removed).", status: 401)))
        }
        let (id, _) = console.sessions.create(operatorName: account.name, now: now, lifetime: console.sessionLifetime)
        var response = Self.redirect(next ?? "/console")
        response.headers.append(HTTPField(name: .setCookie, value: cookie(OperatorConsole.sessionCookie, value: id, maxAge: Int(console.sessionLifetime))))
        response.headers.append(HTTPField(name: .setCookie, value: cookie(OperatorConsole.loginCookie, value: "", maxAge: 0)))
        let written = audited(.login, actor: account.name, target: nil, now: now, context, Outcome(response: response))
        if written.status.code == 503 { console.sessions.end(id) }
        return written
    }

    /// The signed-in operator of this request, or nil (no cookie, unknown or expired session, operator removed).
    func session(_ request: Request, now: Date) throws -> Signed? {
        guard let id = Self.cookie(OperatorConsole.sessionCookie, in: request), !id.isEmpty,
              let session = console.sessions.lookup(id, now: now) else { return nil }
        guard try store.operatorAccounts().contains(where: { $0.name == session.operatorName }) else {
            console.sessions.end(id)
            return nil
        }
        return Signed(id: id, session: session)
    }

    // MARK: pages

    func connectionPage(_ id: String, signed: Signed) throws -> Outcome {
        let connection = try store.connection(id: id)
        let verdicts = try store.verdicts(connection: id, limit: 200)
        guard connection != nil || !verdicts.isEmpty else {
            return Outcome(response: page(ConsolePages.message(status: 404, title: "No such connection",
                                                               text: "No connection has this id, and no check history is recorded under it.",
                                                               operatorName: signed.name, csrf: signed.session.csrf, back: ("/console", "All connections"))), target: id)
        }
        let row = ConsoleOverview.row(id: id, verdicts: Array(verdicts.prefix(ConnectionHistory.flapWindow)), connection: connection)
        var report: Report?
        if let latest = verdicts.first, latest.status != "ok" {
            // The check keeps its finding's summary: read by the rules again, it gives that finding's steps and client message.
            report = console.engine.report(for: [Evidence(kind: .text, provider: latest.provider ?? connection?.provider, text: latest.summary)], source: nil)
        }
        return Outcome(response: page(ConsolePages.connection(row, connection: connection, verdicts: verdicts, report: report,
                                                              operatorName: signed.name, csrf: signed.session.csrf)), target: id)
    }

    func reauthorize(_ id: String, signed: Signed, now: Date) throws -> Outcome {
        let connection = try store.connection(id: id)
        let latest = try store.verdicts(connection: id, limit: 1).first
        guard connection != nil || latest != nil else {
            return Outcome(response: page(ConsolePages.message(status: 404, title: "No such connection",
                                                               text: "No connection has this id, and no check history is recorded under it. No link was issued.",
                                                               operatorName: signed.name, csrf: signed.session.csrf, back: ("/console", "All connections"))), target: id)
        }
        let provider = connection?.provider ?? latest?.provider
        let sources = provider.map { configuration.clients[$0] != nil ? [$0] : [] } ?? []
        let request = LinkRequest(client: connection?.client ?? String(id.prefix(LinkIssuing.maxClientLength)), sources: sources,
                                  ttl: LinkIssuing.parseTTL(LinkIssuing.defaultTTL)!, maxSources: nil)
        let issued = try LinkIssuing.issue(request, store: store, catalog: console.catalog, connectable: configuration.clients.keys.sorted(),
                                           labels: (client: "client", sources: "sources", maxSources: "maxSources"), now: now)
        let nonce = LinkSecrets.newSecret()
        let view = ConsolePages.IssuedView(link: issued.link, url: LinkIssuing.url(base: publicURL, token: issued.token))
        return Outcome(response: page(ConsolePages.reauthorizationIssued(view, connectionID: id, operatorName: signed.name, csrf: signed.session.csrf, nonce: nonce)),
                       target: issued.link.id)
    }

    var providerChoices: [(id: String, name: String)] {
        configuration.clients.keys.sorted().map { ($0, configuration.clients[$0]!.displayName) }
    }

    func linksPage(now: Date, signed: Signed, issued: ConsolePages.IssuedView?, notice: String?, problem: String?,
                   form: (client: String, ttl: String, maxSources: String, sources: Set<String>)?, status: Int = 200) throws -> ConsolePages.Page {
        let links = try store.allLinks()
        let byLink = Dictionary(grouping: try store.allConnections(), by: \.linkID)
        return ConsolePages.links(links, connections: byLink, providers: providerChoices, now: now, issued: issued, notice: notice, problem: problem,
                                  form: form ?? ("", LinkIssuing.defaultTTL, "", []), operatorName: signed.name, csrf: signed.session.csrf,
                                  nonce: issued == nil ? nil : LinkSecrets.newSecret(), status: status)
    }

    func issueLink(_ form: ConsoleForm, signed: Signed, now: Date) throws -> Outcome {
        let client = form.value("client") ?? ""
        let ttl = (form.value("ttl") ?? "").trimmingCharacters(in: .whitespaces)
        let maxText = (form.value("maxSources") ?? "").trimmingCharacters(in: .whitespaces)
        let sources = form.values("sources")
        let echo = (client: client, ttl: ttl.isEmpty ? LinkIssuing.defaultTTL : ttl, maxSources: maxText, sources: Set(sources))
        func refused(_ message: String) throws -> Outcome {
            Outcome(response: page(try linksPage(now: now, signed: signed, issued: nil, notice: nil, problem: message + " No link was issued.", form: echo, status: 400)))
        }
        if let problem = LinkIssuing.ttlProblem(echo.ttl, label: "Valid for") { return try refused(problem) }
        var maxSources: Int?
        if !maxText.isEmpty {
            guard let n = Int(maxText) else { return try refused("Most connections must be a whole number (1 or more), or empty.") }
            maxSources = n
        }
        let issued: IssuedLink
        do {
            issued = try LinkIssuing.issue(LinkRequest(client: client, sources: sources, ttl: LinkIssuing.parseTTL(echo.ttl)!, maxSources: maxSources),
                                           store: store, catalog: console.catalog, connectable: configuration.clients.keys.sorted(),
                                           labels: (client: "Client", sources: "Sources", maxSources: "Most connections"), now: now)
        } catch let error as InputError where error.kind == .usage || error.kind == .data {
            return try refused(error.message)
        }
        let view = ConsolePages.IssuedView(link: issued.link, url: LinkIssuing.url(base: publicURL, token: issued.token))
        return Outcome(response: page(try linksPage(now: now, signed: signed, issued: view, notice: nil, problem: nil, form: nil)), target: issued.link.id)
    }

    /// The paste form: text, a `curl -i` output or a HAR (pasted or uploaded), classified in memory; nothing is kept.
    func classify(_ form: ConsoleForm, signed: Signed) -> ConsolePages.Page {
        var kind = form.value("kind") ?? "text"
        if !["text", "response", "har"].contains(kind) { kind = "text" }
        let providerField = (form.value("provider") ?? "").trimmingCharacters(in: .whitespaces)
        let provider: String? = ProviderDetector.known.contains(providerField) ? providerField : nil
        func refused(_ message: String) -> ConsolePages.Page {
            ConsolePages.classify(report: nil, problem: message, kind: kind, provider: provider, providers: ProviderDetector.known,
                                  operatorName: signed.name, csrf: signed.session.csrf, status: 400)
        }
        var content = form.value("evidence") ?? ""
        if let file = form.files.first(where: { $0.name == "file" && !$0.data.isEmpty }) {
            content = file.text
            if (file.filename ?? "").lowercased().hasSuffix(".har") { kind = "har" }
        }
        guard !content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return refused("Paste some evidence or choose a file first.") }
        let evidences: [Evidence]
        do {
            switch kind {
            case "response": evidences = try EvidenceLoader.load(content, format: .response, source: "pasted", provider: provider)
            case "har": evidences = try EvidenceLoader.load(content, format: .har, source: "pasted", provider: provider)
            default: evidences = [Evidence(kind: .text, provider: provider, text: content)]
            }
        } catch {
            return refused(Redactor.redact(error.message))
        }
        let report = console.engine.report(for: evidences, source: nil)
        return ConsolePages.classify(report: report, problem: nil, kind: kind, provider: provider, providers: ProviderDetector.known,
                                     operatorName: signed.name, csrf: signed.session.csrf)
    }

    // MARK: audit, errors, HTTP

    /// Writes the audit entry, then answers; an entry that cannot be written withholds the answer.
    func audited(_ route: Route, actor: String, target: String?, now: Date, _ context: BasicRequestContext, _ outcome: Outcome) -> Response {
        do {
            try store.recordAudit(AuditEntry(at: now, actor: actor, method: route.method, route: route.path, target: outcome.target ?? target,
                                             status: Int(outcome.response.status.code)))
            return outcome.response
        } catch {
            context.logger.error("audit entry not written", metadata: ["route": .string(route.rawValue),
                                                                       "error": .string(Redactor.redact(String(describing: type(of: error))))])
            var response = page(ConsolePages.message(status: 503, title: "Please try again in a moment",
                                                     text: "This action could not be written to the audit log, so its answer is withheld.",
                                                     operatorName: nil, csrf: nil))
            response.headers[.retryAfter] = String(LinkHandlers.storeRetryAfter)
            return response
        }
    }

    static func forgedPage(_ signed: Signed) -> ConsolePages.Page {
        ConsolePages.message(status: 403, title: "This request was refused",
                             text: "It did not come from a page of this console in this browser (its anti-forgery token is missing or wrong). Nothing was changed.",
                             operatorName: signed.name, csrf: signed.session.csrf, back: ("/console", "Back to the console"))
    }

    static func failurePage(_ error: any Error, _ context: BasicRequestContext, signed: Signed?) -> ConsolePages.Page {
        let (name, csrf) = (signed?.name, signed?.session.csrf)
        if let input = error as? InputError {
            let status = input.kind == .noInput ? 404 : 400
            return ConsolePages.message(status: status, title: status == 404 ? "Not found" : "This request was refused",
                                        text: Redactor.redact(input.message), operatorName: name, csrf: csrf, back: ("/console", "Back to the console"))
        }
        if let failure = error as? PostgresStoreError, failure.isUnavailable {
            context.logger.warning("store unavailable", metadata: ["error": .string(Redactor.redact(failure.description))])
            return ConsolePages.message(status: 503, title: "Please try again in a moment",
                                        text: "The server cannot reach its database right now. Nothing was changed.", operatorName: name, csrf: csrf)
        }
        context.logger.error("console request failed", metadata: ["error": .string(Redactor.redact(String(describing: type(of: error))))])
        return ConsolePages.message(status: 500, title: "Something went wrong", text: "The server could not complete this request. Nothing was changed.",
                                    operatorName: name, csrf: csrf)
    }

    /// The link pages' headers; the console's CSP also limits form targets and allows the copy button's script by nonce.
    func page(_ page: ConsolePages.Page) -> Response {
        var response = LinkHandlers.response(status: page.status, body: page.html, contentType: "text/html; charset=utf-8")
        var policy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        if let nonce = page.scriptNonce { policy += "; script-src 'nonce-\(nonce)'" }
        response.headers[.contentSecurityPolicy] = policy
        if page.status == 503 { response.headers[.retryAfter] = String(LinkHandlers.storeRetryAfter) }
        return response
    }

    func cookie(_ name: String, value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/console; Max-Age=\(max(0, maxAge)); HttpOnly; SameSite=Strict" + (secureCookies ? "; Secure" : "")
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        for header in LinkHandlers.cookies(request) {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop(while: { $0 == " " })
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                return String(trimmed[trimmed.index(after: equals)...])
            }
        }
        return nil
    }

    /// A relative redirect (303: the browser follows with a GET), always to a console path.
    static func redirect(_ location: String) -> Response {
        var response = LinkHandlers.response(status: 303, body: "", contentType: "text/plain; charset=utf-8")
        response.headers[.location] = location
        return response
    }

    /// Where to go after signing in: a console path of this server only.
    static func safeNext(_ next: String?) -> String? {
        guard let next, next.hasPrefix("/console"), !next.hasPrefix("//"), next.utf8.count <= 2000,
              next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && $0 != "\\" }) else { return nil }
        return next
    }

    /// A connection id or link id as one path segment (URL-safe bytes kept, every other byte percent-encoded).
    static func pathSegment(_ s: String) -> String { FormEncoding.escape(s) }

    static func decodeSegment(_ s: String) -> String {
        s.contains("%") ? (s.removingPercentEncoding ?? s) : s
    }
}

extension ConsoleHandlers {
    /// `/console/connections/<id>` (and its `/link`) with a percent-encoded id: a connection of a
    /// connections file may have a name outside the URL-safe set. The decoded id must be UTF-8
    /// without a slash or a control character.
    static func isEncodedConnectionPath(_ path: String) -> Bool {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count == 4 || (segments.count == 5 && segments[4] == "link"),
              segments[0].isEmpty, segments[1] == "console", segments[2] == "connections", !segments[3].isEmpty,
              segments[3].utf8.allSatisfy({ FormEncoding.isUnreserved($0) || $0 == UInt8(ascii: "%") }),
              let decoded = String(segments[3]).removingPercentEncoding, !decoded.isEmpty, decoded != ".", decoded != ".." else { return false }
        return decoded.unicodeScalars.allSatisfy { $0 != "/" && $0.value >= 0x20 && $0.value != 0x7f }
    }
}
