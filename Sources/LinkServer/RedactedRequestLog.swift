import EvidenceModel
import Foundation
import Hummingbird
import Logging

/// One log line a request, with nothing secret in it: the link token is cut from `/l/<token>`
/// paths, every query value but an OAuth `error` code is replaced by `[REDACTED]`, and no header (Cookie,
/// Set-Cookie, Authorization) is logged. Hummingbird's own request logging is not used: it prints
/// the path as sent.
struct RedactedRequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    var level: Logger.Level = .info

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let path = RequestRedaction.loggablePath(request.uri.path, query: request.uri.query)
        do {
            let response = try await next(request, context)
            log(context, request.method.rawValue, path, status: response.status.code, since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            log(context, request.method.rawValue, path, status: status, since: start)
            throw error
        }
    }

    private func log(_ context: Context, _ method: String, _ path: String, status: Int, since start: UInt64) {
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        context.logger.log(level: level, "\(method) \(path) \(status) \(String(format: "%.1f", milliseconds)) ms")
    }
}

public enum RequestRedaction {
    /// A request path and query as they may be logged. Every segment that could be a link token
    /// (20 characters or more, percent-decoded; any segment after an `l` whatever its case, spelling
    /// or length; anything holding characters outside the URL-safe set) becomes `[REDACTED]`, so
    /// `//l/<token>`, `/l//<token>`, `/a/l/<token>`, `/L/<token>` and `/%6C/<token>` log no token.
    public static func loggablePath(_ path: String, query: String?) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var out: [String] = []
        var afterL = false
        for segment in segments {
            let decoded = segment.removingPercentEncoding ?? String(segment)
            let suspicious = decoded.utf8.count >= 20 || !decoded.utf8.allSatisfy(FormEncoding.isUnreserved)
            if segment.isEmpty {
                out.append("")
            } else if afterL || suspicious {
                out.append(Redactor.mask)
                afterL = false
            } else {
                out.append(String(segment))
                afterL = decoded.lowercased() == "l"
            }
        }
        var text = out.joined(separator: "/")
        if let query, !query.isEmpty {
            let pairs = query.split(separator: "&").map { pair -> String in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0].prefix(40))
                let safeName = name.utf8.allSatisfy(FormEncoding.isUnreserved) ? name : Redactor.mask
                if name == "error", parts.count == 2 { return "error=" + TokenExchanger.safeErrorCode(String(parts[1])) }
                return safeName + "=" + Redactor.mask
            }
            text += "?" + pairs.joined(separator: "&")
        }
        // A last net for shapes the rules above do not know.
        return Redactor.redact(text)
    }

    /// Why a path is refused before routing, or nil when it is a plain path: only `/`-separated
    /// segments of URL-safe characters, no empty segment (`//`, a trailing `/`), no `.` or `..`,
    /// no percent-encoding. The server's own URLs never need anything else, and odd spellings of
    /// them (`//l/<token>`, `/%6C/<token>`) must not reach a route by a detour.
    public static func oddPath(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "not an absolute path" }
        if path == "/" { return nil }
        for segment in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "an empty path segment" }
            if segment == "." || segment == ".." { return "a dot segment" }
            if !segment.utf8.allSatisfy(FormEncoding.isUnreserved) { return "characters outside the URL-safe set" }
        }
        return nil
    }
}

/// Refuses odd paths (see `RequestRedaction.oddPath`) with a plain 400 page before any route sees
/// them; under /api/ the operator API's JSON error instead, and JSON for paths and methods it lacks
/// (404, 405 with Allow).
struct OddPathMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let underAPI = path.hasPrefix("/api/") || path == "/api"
        if let problem = RequestRedaction.oddPath(path), !ConsoleHandlers.isEncodedConnectionPath(path) {
            if underAPI { return OperatorHandlers.response(.error(400, "bad_request", "the path is not written the way the API writes it (\(problem))")) }
            return LinkHandlers.page(LinkHandlers.oddPathPage)
        }
        guard underAPI else { return try await next(request, context) }
        do {
            let response = try await next(request, context)
            guard response.status == .notFound, response.headers[.contentType] == nil else { return response }
            return Self.missing(request)
        } catch let error as any HTTPResponseError where error.status == .notFound || error.status == .methodNotAllowed {
            return Self.missing(request)
        }
    }

    /// A path the API does not have (404), or one it has for other methods (405 with Allow).
    static func missing(_ request: Request) -> Response {
        let allowed = OperatorAPI.Route.allCases.filter { OperatorAPI.Route.matches(request.uri.path, $0.path) }.map(\.method)
        if allowed.isEmpty { return OperatorHandlers.response(.error(404, "not_found", "the operator API has no such route (see schema/openapi.yaml)")) }
        var response = OperatorHandlers.response(.error(405, "method_not_allowed", "this route answers \(allowed.joined(separator: ", ")) only"))
        response.headers[.allow] = allowed.joined(separator: ", ")
        return response
    }
}
