import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// `GET /metrics` (Prometheus text), kept off the client-facing listener (issue 12): served on a
/// listener of its own (`serve --metrics-listen ADDRESS:PORT`), and/or on any listener only to a
/// request bearing `Authorization: Bearer <token>` (`AUTHDOCTOR_METRICS_TOKEN`). With neither,
/// `/metrics` is not served at all.
public struct MetricsEndpoint: Sendable {
    /// The separate listener's address (port 0: any free port, reported to `onRunning`).
    public var listen: (host: String, port: Int)?
    /// When set, every `/metrics` request must carry it as a bearer token.
    public var bearerToken: String?
    /// The exposition, made on each scrape.
    public var exposition: @Sendable () -> String
    /// Told the metrics URL once the separate listener listens.
    public var onRunning: @Sendable (String) async -> Void
    /// `GET /probe?connection=NAME` (as blackbox_exporter's /probe): check that one connection now and
    /// answer its metrics; given the name and the scrape timeout (seconds), it returns the HTTP status and body.
    public var probe: (@Sendable (String, Double?) async -> (status: Int, body: String))?

    public init(listen: (host: String, port: Int)?, bearerToken: String?, exposition: @escaping @Sendable () -> String,
                onRunning: @escaping @Sendable (String) async -> Void = { _ in }) {
        self.listen = listen
        self.bearerToken = bearerToken
        self.exposition = exposition
        self.onRunning = onRunning
    }

    /// The bearer token check shared by /metrics and /probe: nil when the request may go on.
    func refusal(_ request: Request) -> Response? {
        if let bearerToken {
            let sent = request.headers[.authorization] ?? ""
            let expected = "Bearer " + bearerToken
            // Compared as digests: constant time, and the length of the token is not told either.
            guard Data(SHA256.hash(data: Data(sent.utf8))) == Data(SHA256.hash(data: Data(expected.utf8))) else {
                var response = LinkHandlers.response(status: 401, body: "a bearer token is required\n", contentType: "text/plain; charset=utf-8")
                response.headers[.wwwAuthenticate] = "Bearer realm=\"authdoctor metrics\""
                return response
            }
        }
        return nil
    }

    func respond(_ request: Request) -> Response {
        if let refused = refusal(request) { return refused }
        var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: exposition())))
        response.headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        response.headers[.cacheControl] = "no-store"
        return response
    }

    func addRoute(to router: Router<BasicRequestContext>) {
        let endpoint = self
        router.get("/metrics") { request, _ in endpoint.respond(request) }
        if let probe {
            router.get("/probe") { request, _ in
                if let refused = endpoint.refusal(request) { return refused }
                guard let name = request.uri.queryParameters.get("connection"), !name.isEmpty else {
                    return LinkHandlers.response(status: 400, body: "give ?connection=NAME\n", contentType: "text/plain; charset=utf-8")
                }
                // Prometheus says how long it waits (X-Prometheus-Scrape-Timeout-Seconds); answer within it.
                let timeout = request.headers[HTTPField.Name("X-Prometheus-Scrape-Timeout-Seconds")!].flatMap(Double.init)
                let (status, body) = await probe(name, timeout)
                if status != 200 { return LinkHandlers.response(status: status, body: body, contentType: "text/plain; charset=utf-8") }
                var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
                response.headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                response.headers[.cacheControl] = "no-store"
                return response
            }
        }
    }

    /// The separate metrics listener: `/metrics` and `/healthz`, nothing of the link pages.
    func application(address: (host: String, port: Int), logger: Logger) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.addMiddleware { RedactedRequestLogMiddleware<BasicRequestContext>() }
        router.get("/healthz") { _, _ in
            LinkHandlers.response(status: 200, body: "ok\n", contentType: "text/plain; charset=utf-8")
        }
        addRoute(to: router)
        let onRunning = self.onRunning
        let host = address.host
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(15))),
            configuration: .init(address: .hostname(host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                await onRunning("http://\(host.contains(":") ? "[\(host)]" : host):\(port)/metrics")
            },
            logger: logger)
    }
}
