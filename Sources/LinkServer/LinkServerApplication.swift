import EvidenceModel
import Foundation
import HTTPTypes
import Hummingbird
import Links
import Logging

/// The link server (`authdoctor serve`, its tests and the benchmark):
///
/// - `GET /l/{token}`: never changes anything. An unopened link shows a start page; the browser
///   that started the session sees its sources to connect; anything else is refused (410: already
///   used, expired, revoked).
/// - `POST /l/{token}/open`: the start page's button; the first post starts the link's session in
///   this browser (cookie), exactly once however many arrive together.
/// - `POST /l/{token}/connect/{provider}`: starts an authorization-code flow with PKCE (S256).
/// - `GET /oauth/callback`: consumes the `state` once, checks it belongs to this browser's session,
///   exchanges the code through libcurl and records the connection (pending).
/// - `POST /l/{token}/finish`: activates the session's connections.
/// - `GET /healthz`.
/// - `/api/...`: the operator API (`operatorAPI`; bearer tokens of operators, every call audited;
///   OperatorAPI.swift, schema/openapi.yaml).
/// - `/console...`: the operator console (`console`; HTML behind an operator sign-in; OperatorConsole.swift).
///
/// `configureRouter` adds routes of other features (issue 6's `/metrics`); `onServerRunning`
/// receives the public URL once the server listens (with `port: 0`, the port it got).
public func buildApplication(
    configuration: LinkServerConfiguration,
    store: any AuthDoctorStore,
    logger: Logger? = nil,
    configureRouter: (Router<BasicRequestContext>) -> Void = { _ in },
    metrics: MetricsEndpoint? = nil,
    operatorAPI: OperatorAPI? = nil,
    console: OperatorConsole? = nil,
    onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let logger = logger ?? Logger(label: "authdoctor.serve")
    let origin = PublicOrigin(configuration.publicURL)
    let router = makeRouter(configuration: configuration, store: store, origin: origin, configureRouter: configureRouter,
                            metrics: metrics, operatorAPI: operatorAPI, console: console)
    let metricsApplication = metrics.flatMap { endpoint in endpoint.listen.map { endpoint.application(address: $0, logger: logger) } }

    let host = configuration.host
    let limits = configuration.limits
    let counter = ConnectionCounter(limit: limits.effectiveMaxConnections)
    return Application(
        router: router,
        server: .http1(configuration: .init(
            additionalChannelHandlers: [ConnectionGuardHandler(counter: counter, limits: limits)],
            idleTimeout: .nanoseconds(Int64(limits.idleTimeout * 1e9)))),
        configuration: .init(address: .hostname(host, port: configuration.port), serverName: nil),
        services: metricsApplication.map { [$0] } ?? [],
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            let url = origin.resolve(defaultingTo: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)")
            await onServerRunning(url)
        },
        logger: logger
    )
}

/// Every route of the client-facing listener (`buildApplication` serves it; tests list its routes).
func makeRouter(configuration: LinkServerConfiguration, store: any AuthDoctorStore, origin: PublicOrigin,
                configureRouter: (Router<BasicRequestContext>) -> Void = { _ in }, metrics: MetricsEndpoint? = nil,
                operatorAPI: OperatorAPI? = nil, console: OperatorConsole? = nil) -> Router<BasicRequestContext> {
    let handlers = LinkHandlers(configuration: configuration, store: store, origin: origin,
                                exchanger: TokenExchanger(timeout: configuration.exchangeTimeout, caBundlePath: configuration.caBundlePath))
    let router = Router(context: BasicRequestContext.self)
    router.addMiddleware { RedactedRequestLogMiddleware<BasicRequestContext>() }
    router.addMiddleware { OddPathMiddleware<BasicRequestContext>() }
    router.get("/healthz") { _, _ in
        LinkHandlers.response(status: 200, body: "ok\n", contentType: "text/plain; charset=utf-8")
    }
    router.get("/l/:token") { request, context in await handlers.open(request, context) }
    router.post("/l/:token/open") { request, context in await handlers.start(request, context) }
    router.post("/l/:token/connect/:provider") { request, context in await handlers.connect(request, context) }
    router.post("/l/:token/finish") { request, context in await handlers.finish(request, context) }
    router.get("/oauth/callback") { request, context in await handlers.callback(request, context) }
    operatorAPI?.addRoutes(to: router, store: store, configuration: configuration, origin: origin)
    console?.addRoutes(to: router, store: store, configuration: configuration, origin: origin)
    configureRouter(router)
    // /metrics is an operator surface: on the client-facing listener only behind a bearer token.
    if let metrics, metrics.bearerToken != nil { metrics.addRoute(to: router) }
    return router
}

/// The public URL; when none is configured, the running server's own address (known once it listens).
final class PublicOrigin: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?

    init(_ value: String?) { self.value = value }

    var url: String? {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func resolve(defaultingTo fallback: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        if value == nil { value = fallback }
        return value!
    }
}

struct LinkHandlers: Sendable {
    let configuration: LinkServerConfiguration
    let store: any AuthDoctorStore
    let origin: PublicOrigin
    let exchanger: TokenExchanger

    static let maxFormBytes = 16 * 1024

    var publicURL: String { origin.url ?? "http://\(configuration.host):\(configuration.port)" }
    var callbackURL: String { publicURL + "/oauth/callback" }
    var secureCookies: Bool { publicURL.lowercased().hasPrefix("https://") }

    // MARK: GET /l/{token}

    /// A GET never uses a link up (chat unfurlers, mail scanners and "safe links" services fetch
    /// URLs before the client does): the browser that holds the link's session sees its page; an
    /// unopened link shows a start page whose button posts to `/l/{token}/open`; anything else gets
    /// the refusal that says why (unknown, used, expired, revoked).
    func open(_ request: Request, _ context: BasicRequestContext) async -> Response {
        let token = context.parameters.get("token") ?? ""
        let now = configuration.now()
        return guarded(context) {
            guard Self.isTokenShaped(token) else { return Self.page(Self.unknownLinkPage) }
            if let page = try returningBrowserPage(request, token: token, now: now) { return page }
            guard let link = try store.link(token: token) else { return Self.page(Self.unknownLinkPage) }
            switch link.state(at: now) {
            case .issued:
                let providers = link.sources.isEmpty ? configuration.clients.keys.sorted() : link.sources
                return Self.page(LinkPages.start(link: link, token: token, sources: providers.map { displayName($0) }))
            default:
                return Self.page(Self.refusalPage(SQLiteStore.openRefusal(link, now: now), displayName: { displayName($0) }))
            }
        }
    }

    /// The page of the browser that opened the link (its cookie names the live session), else nil.
    private func returningBrowserPage(_ request: Request, token: String, now: Date) throws -> Response? {
        guard let secret = SessionCookie.secret(Self.cookies(request), token: token) else { return nil }
        do {
            let (session, current) = try store.session(token: token, cookieSecret: secret, now: now)
            return try sessionPage(session: session, link: current, token: token, secret: secret, now: now)
        } catch is LinkRefusal {
            // Expired, revoked, finished, unknown or a stale cookie: the caller says which.
            return nil
        }
    }

    // MARK: POST /l/{token}/open

    /// The start page's button: the first post starts the link's session in this browser (cookie)
    /// and sends it to its page; of any number of simultaneous posts exactly one wins (the store's
    /// conditional update), every other gets the refusal (410). Origin-checked like every form post.
    func start(_ request: Request, _ context: BasicRequestContext) async -> Response {
        let token = context.parameters.get("token") ?? ""
        let now = configuration.now()
        _ = await Self.form(request)
        return guarded(context) {
            guard Self.isTokenShaped(token) else { return Self.page(Self.unknownLinkPage) }
            if !Self.isSameOrigin(request, publicURL: publicURL) { return Self.page(Self.crossSitePage) }
            // A second press in the browser that already started it: back to its page.
            if let secret = SessionCookie.secret(Self.cookies(request), token: token),
               (try? store.session(token: token, cookieSecret: secret, now: now)) != nil {
                return Self.redirect(to: linkPageURL(token))
            }
            let opened = try store.openLink(token: token, now: now)
            var response = Self.redirect(to: linkPageURL(token))
            let maxAge = Int(opened.session.expiresAt.timeIntervalSince(now).rounded(.up))
            for cookie in SessionCookie.setCookieHeaders(linkID: opened.link.id, token: token, secret: opened.cookieSecret,
                                                         maxAge: maxAge, secure: secureCookies) {
                response.headers.append(HTTPField(name: .setCookie, value: cookie))
            }
            return response
        }
    }

    private func sessionPage(session: LinkSession, link: AuthorizationLink, token: String, secret: String, now: Date) throws -> Response {
        let connections = try store.connections(sessionID: session.id)
        if session.finishedAt != nil {
            return Self.page(LinkPages.finished(connections: connections.filter { $0.status == .active }, displayName: { displayName($0) }))
        }
        let providers = link.sources.isEmpty ? configuration.clients.keys.sorted() : link.sources
        var rows: [LinkPages.SourceRow] = []
        for provider in providers {
            let made = connections.filter { $0.provider == provider && $0.status != .removed }
            if made.isEmpty {
                rows.append(.init(provider: provider, displayName: displayName(provider), connection: nil,
                                  available: configuration.clients[provider] != nil))
            }
            for connection in made {
                rows.append(.init(provider: provider, displayName: displayName(provider), connection: connection, available: true))
            }
        }
        let csrf = SessionCookie.csrfToken(secret: secret, sessionID: session.id)
        return Self.page(LinkPages.session(link: link, token: token, rows: rows, csrf: csrf, now: now))
    }

    func displayName(_ provider: String) -> String { configuration.clients[provider]?.displayName ?? provider }

    // MARK: POST /l/{token}/connect/{provider}

    func connect(_ request: Request, _ context: BasicRequestContext) async -> Response {
        let token = context.parameters.get("token") ?? ""
        let provider = context.parameters.get("provider") ?? ""
        let now = configuration.now()
        let form = await Self.form(request)
        return guarded(context) {
            let (session, link) = try liveSession(request, token: token, now: now)
            if let refused = forgeryCheck(request, form: form, session: session, token: token, now: now) { return refused }
            guard let client = configuration.clients[provider], link.sources.isEmpty || link.sources.contains(provider) else {
                return Self.page(Self.refusalPage(.providerNotAllowed(provider), displayName: { displayName($0) }))
            }
            if let limit = link.maxSources, try store.connections(sessionID: session.id).filter({ $0.status != .removed }).count >= limit {
                return Self.page(Self.refusalPage(.planLimit(limit), displayName: { displayName($0) }, back: linkPageURL(token)))
            }
            let verifier = PKCE.makeVerifier()
            let state = try store.beginAuthorization(PendingAuthorization(
                sessionID: session.id, linkID: link.id, provider: provider, codeVerifier: verifier,
                redirectURI: callbackURL, createdAt: now))
            let location = authorizeURL(for: client, redirectURI: callbackURL, state: state, codeChallenge: PKCE.challenge(for: verifier))
            return Self.redirect(to: location)
        }
    }

    // MARK: GET /oauth/callback

    func callback(_ request: Request, _ context: BasicRequestContext) async -> Response {
        let query = FormEncoding.decode(Substring(request.uri.query ?? ""))
        let now = configuration.now()
        guard let state = FormEncoding.value("state", in: query), !state.isEmpty else {
            return Self.page(LinkPages.refusal(status: 400, title: "This sign-in answer is incomplete",
                                               message: "The platform sent the browser back without the details of the sign-in. Nothing was connected.",
                                               next: "Go back to your link page and press Connect again."))
        }
        // Consumed first and exactly once: a replayed callback finds nothing.
        let pending: PendingAuthorization
        do {
            pending = try store.consumeAuthorization(state: state, now: now)
        } catch let refusal as LinkRefusal {
            return Self.page(Self.refusalPage(refusal, displayName: { displayName($0) }))
        } catch {
            return Self.internalError(context, error)
        }
        // The browser finishing the sign-in must hold the session that started it.
        let session: LinkSession, token: String
        do {
            guard let cookie = SessionCookie.read(Self.cookies(request), linkID: pending.linkID) else { throw LinkRefusal.noSession }
            let (current, _) = try store.session(token: cookie.token, cookieSecret: cookie.secret, now: now)
            guard current.id == pending.sessionID else { throw LinkRefusal.badState }
            (session, token) = (current, cookie.token)
        } catch let refusal as LinkRefusal {
            return Self.page(Self.refusalPage(refusal, displayName: { displayName($0) }))
        } catch {
            return Self.internalError(context, error)
        }
        let back = linkPageURL(token)
        let name = displayName(pending.provider)

        if let error = FormEncoding.value("error", in: query) {
            let code = TokenExchanger.safeErrorCode(error)
            let message = code == "access_denied"
                ? "\(name) did not grant access (the sign-in was cancelled or declined). Nothing was connected."
                : "\(name) stopped the sign-in (\(code)). Nothing was connected."
            return Self.page(LinkPages.refusal(status: 400, title: "\(name) was not connected", message: message,
                                               next: "You can press Connect again on your link page.", backLink: back))
        }
        guard let code = FormEncoding.value("code", in: query), !code.isEmpty else {
            return Self.page(LinkPages.refusal(status: 400, title: "This sign-in answer is incomplete",
                                               message: "\(name) sent the browser back without a sign-in code. Nothing was connected.",
                                               next: "You can press Connect again on your link page.", backLink: back))
        }
        guard let client = configuration.clients[pending.provider] else {
            return Self.page(Self.refusalPage(.providerNotAllowed(pending.provider), displayName: { displayName($0) }))
        }
        // A verifier that is missing or malformed would let a stolen code be exchanged without
        // proof: refuse before anything leaves the server.
        guard PKCE.isValidVerifier(pending.codeVerifier) else {
            return Self.page(LinkPages.refusal(status: 400, title: "This sign-in cannot be completed",
                                               message: "The sign-in attempt has no valid PKCE proof, so its code was not exchanged. Nothing was connected.",
                                               next: "Press Connect again on your link page.", backLink: back))
        }
        guard pending.redirectURI == callbackURL else {
            return Self.page(LinkPages.refusal(status: 400, title: "This sign-in cannot be completed",
                                               message: "The sign-in was started for another address. Nothing was connected.",
                                               next: "Press Connect again on your link page.", backLink: back))
        }

        switch await exchanger.exchange(client: client, code: code, redirectURI: pending.redirectURI, codeVerifier: pending.codeVerifier, now: now) {
        case let .granted(tokens, account):
            return guarded(context) {
                _ = try store.addConnection(sessionID: session.id, provider: pending.provider, account: account, tokens: tokens, now: now)
                return Self.redirect(to: back)
            }
        case let .refused(error, _):
            let why = error == "invalid_grant"
                ? "\(name) refused the sign-in code (\(error)): it was already used, has expired, or does not belong to this sign-in."
                : "\(name) refused to complete the sign-in (\(error))."
            context.logger.notice("token exchange refused", metadata: ["provider": .string(pending.provider), "error": .string(error)])
            return Self.page(LinkPages.refusal(status: 400, title: "\(name) was not connected", message: why + " Nothing was connected.",
                                               next: "Press Connect again on your link page.", backLink: back))
        case let .failed(reason):
            context.logger.warning("token exchange failed", metadata: ["provider": .string(pending.provider), "reason": .string(Redactor.redact(reason))])
            return Self.page(LinkPages.refusal(status: 502, title: "\(name) could not be reached",
                                               message: "The sign-in could not be completed: \(reason). Nothing was connected.",
                                               next: "Try again in a moment from your link page.", backLink: back))
        }
    }

    // MARK: POST /l/{token}/finish

    func finish(_ request: Request, _ context: BasicRequestContext) async -> Response {
        let token = context.parameters.get("token") ?? ""
        let now = configuration.now()
        let form = await Self.form(request)
        return guarded(context) {
            let session: LinkSession
            do {
                (session, _) = try liveSession(request, token: token, now: now)
            } catch LinkRefusal.expired {
                return Self.page(Self.expiredBeforeFinishPage)
            }
            if let refused = forgeryCheck(request, form: form, session: session, token: token, now: now) { return refused }
            let active: [StoredConnection]
            do {
                active = try store.finishSession(id: session.id, now: now)
            } catch LinkRefusal.expired {
                return Self.page(Self.expiredBeforeFinishPage)
            }
            return Self.page(LinkPages.finished(connections: active, displayName: { displayName($0) }))
        }
    }

    // MARK: checks

    /// The live session this browser's cookie names for the link, or the refusal that says why not.
    private func liveSession(_ request: Request, token: String, now: Date) throws -> (LinkSession, AuthorizationLink) {
        guard Self.isTokenShaped(token), let link = try store.link(token: token) else { throw LinkRefusal.unknownLink }
        guard let cookie = SessionCookie.read(Self.cookies(request), linkID: link.id), SessionCookie.equal(cookie.token, token) else {
            // No cookie: first say what the link is (expired, revoked) if that is why.
            switch link.state(at: now) {
            case .expired: throw LinkRefusal.expired(link)
            case .revoked: throw LinkRefusal.revoked(link)
            default: throw LinkRefusal.noSession
            }
        }
        return try store.session(token: token, cookieSecret: cookie.secret, now: now)
    }

    /// Cross-site form posts: the Origin (or Sec-Fetch-Site) must be this server, and the form must
    /// carry the session's anti-forgery token.
    private func forgeryCheck(_ request: Request, form: [(String, String)], session: LinkSession, token: String, now: Date) -> Response? {
        if !Self.isSameOrigin(request, publicURL: publicURL) { return Self.page(Self.crossSitePage) }
        guard let cookie = SessionCookie.read(Self.cookies(request), linkID: session.linkID),
              let sent = FormEncoding.value("csrf", in: form),
              SessionCookie.equal(sent, SessionCookie.csrfToken(secret: cookie.secret, sessionID: session.id)) else {
            return Self.page(Self.crossSitePage)
        }
        return nil
    }

    /// Whether a form post comes from a page of this server. A browser names the page's origin in
    /// `Origin`; under a referrer policy that strips it (or from a privacy-minded browser) it sends
    /// `Origin: null`, and then `Sec-Fetch-Site` (set by the browser, never by a page) must say
    /// `same-origin`. A client that sends neither header (curl, old browsers) relies on the form's
    /// anti-forgery token alone. Cross-site and same-site-but-other-origin posts are refused.
    static func isSameOrigin(_ request: Request, publicURL: String) -> Bool {
        let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!]?.lowercased()
        if let site, site != "same-origin", site != "none" { return false }
        guard let sent = request.headers[.origin] else { return true }
        if sent.lowercased() == originOf(publicURL).lowercased() { return true }
        // "null": an opaque origin. Only the browser's own word that the page is ours lets it pass.
        return sent == "null" && site == "same-origin"
    }

    static func originOf(_ url: String) -> String {
        let afterScheme = url.range(of: "://").map { url[$0.upperBound...] } ?? Substring(url)
        let authority = afterScheme.prefix(while: { $0 != "/" })
        return String(url[..<afterScheme.startIndex] + authority)
    }

    private func linkPageURL(_ token: String) -> String { publicURL + "/l/" + token }

    /// Runs a handler body; a store refusal becomes its page, anything else a 500 page (logged without detail that could hold a secret).
    private func guarded(_ context: BasicRequestContext, _ body: () throws -> Response) -> Response {
        do {
            return try body()
        } catch let refusal as LinkRefusal {
            return Self.page(Self.refusalPage(refusal, displayName: { displayName($0) }))
        } catch {
            return Self.internalError(context, error)
        }
    }

    /// Seconds a client is asked to wait when the store's database is unreachable (a restart).
    static let storeRetryAfter = 5

    static func internalError(_ context: BasicRequestContext, _ error: any Error) -> Response {
        if let failure = error as? PostgresStoreError, failure.isUnavailable {
            // The shared database is restarting or unreachable: nothing was committed; say when to retry.
            context.logger.warning("store unavailable", metadata: ["error": .string(Redactor.redact(failure.description))])
            var response = page(LinkPages.refusal(status: 503, title: "Please try again in a moment",
                                                  message: "The server cannot reach its database right now. Nothing was changed.",
                                                  next: "Reload this page in a few seconds."))
            response.headers[.retryAfter] = String(storeRetryAfter)
            return response
        }
        context.logger.error("request failed", metadata: ["error": .string(Redactor.redact(String(describing: type(of: error))))])
        return page(LinkPages.refusal(status: 500, title: "Something went wrong",
                                      message: "The server could not complete this request. Nothing was changed.",
                                      next: "Try again in a moment; if it keeps failing, tell the person who sent you the link."))
    }

    // MARK: pages of refusals

    static let unknownLinkPage = LinkPages.refusal(
        status: 404, title: "This link is not valid",
        message: "The address does not match any authorization link.",
        next: "Check that you opened the whole link as you received it, or ask the person who sent it for a new one.")

    static let oddPathPage = LinkPages.refusal(
        status: 400, title: "This address is not valid",
        message: "The address is not written the way this server writes its links (doubled or encoded characters).",
        next: "Open the link exactly as you received it, or ask the person who sent it for a new one.")

    static let expiredBeforeFinishPage = LinkPages.refusal(
        status: 410, title: "This link expired before Finish",
        message: "The session ended before Finish was pressed, so nothing was activated and no access is used.",
        next: "Ask the person who sent you the link to issue a new one, then connect again and press Finish.")

    static let crossSitePage = LinkPages.refusal(
        status: 403, title: "This request was refused",
        message: "It did not come from your link page in this browser. Nothing was changed.",
        next: "Open your link page again and use its buttons.")

    static func refusalPage(_ refusal: LinkRefusal, displayName: (String) -> String, back: String? = nil) -> LinkPages.Page {
        switch refusal {
        case .unknownLink:
            return unknownLinkPage
        case .expired:
            return LinkPages.refusal(status: 410, title: "This link has expired",
                                     message: "Authorization links work for a limited time, and this one has run out. Anything connected without pressing Finish was not activated.")
        case .revoked:
            return LinkPages.refusal(status: 410, title: "This link was withdrawn",
                                     message: "The person who sent it revoked it, so it can no longer be used.")
        case .alreadyUsed:
            return LinkPages.refusal(status: 410, title: "This link was already used",
                                     message: "An authorization link works once, in the browser that opened it first, and it has been opened before.")
        case .alreadyFinished:
            return LinkPages.refusal(status: 410, title: "This link was already used",
                                     message: "The session it started was finished, and its connections are active.",
                                     next: "If more sources need connecting, ask the person who sent you the link to issue a new one.")
        case .noSession:
            return LinkPages.refusal(status: 403, title: "This page belongs to another browser session",
                                     message: "The link was opened in another browser (or its cookie was cleared), and only that browser can continue.",
                                     next: "Continue in the browser where you first opened the link, or ask for a new link.")
        case .badState:
            return LinkPages.refusal(status: 400, title: "This sign-in answer is not valid",
                                     message: "It was already used, or it was not started from your link page in this browser. Nothing was connected.",
                                     next: "Go back to your link page and press Connect again.")
        case let .providerNotAllowed(provider):
            return LinkPages.refusal(status: 400, title: "\(displayName(provider)) cannot be connected here",
                                     message: "This link does not ask for \(displayName(provider)), or this server has no OAuth app for it.",
                                     next: "Connect the sources listed on your link page, or ask for a link that includes this one.")
        case let .planLimit(limit):
            return LinkPages.refusal(status: 403, title: "Plan limit reached",
                                     message: "This session can connect up to \(limit) source\(limit == 1 ? "" : "s"), and that many are connected.",
                                     next: "Press Finish to activate them; ask the person who sent the link if more are needed.", backLink: back)
        }
    }

    // MARK: HTTP helpers

    static func isTokenShaped(_ token: String) -> Bool {
        (16...256).contains(token.utf8.count) && token.utf8.allSatisfy(FormEncoding.isUnreserved)
    }

    static func cookies(_ request: Request) -> [String] { request.headers[values: .cookie] }

    static func form(_ request: Request) async -> [(String, String)] {
        guard let buffer = try? await request.body.collect(upTo: maxFormBytes) else { return [] }
        return FormEncoding.decode(Substring(String(buffer: buffer)))
    }

    static func page(_ page: LinkPages.Page) -> Response {
        response(status: page.status, body: page.html, contentType: "text/html; charset=utf-8")
    }

    static func response(status: Int, body: String, contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-store"
        // same-origin: our own form posts keep their Origin (no-referrer makes browsers send
        // `Origin: null`), and no other origin ever sees a Referer with the link token in it.
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
        return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// 303 See Other: the browser follows with a GET. The location is always built from the public
    /// URL or a provider's configured authorize URL.
    static func redirect(to location: String) -> Response {
        var response = Self.response(status: 303, body: "", contentType: "text/plain; charset=utf-8")
        response.headers[.location] = location
        return response
    }
}
