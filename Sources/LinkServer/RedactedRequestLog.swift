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
    /// A request path and query as they may be logged.
    public static func loggablePath(_ path: String, query: String?) -> String {
        var out: String
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.count >= 3, segments[0].isEmpty, segments[1] == "l" {
            // "", "l", token, rest...
            out = (["", "l", Redactor.mask] + segments.dropFirst(3).map(String.init)).joined(separator: "/")
        } else {
            out = path
        }
        if let query, !query.isEmpty {
            let pairs = query.split(separator: "&").map { pair -> String in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0].prefix(40))
                if name == "error", parts.count == 2 { return "error=" + TokenExchanger.safeErrorCode(String(parts[1])) }
                return name + "=" + Redactor.mask
            }
            out += "?" + pairs.joined(separator: "&")
        }
        // A last net for shapes the rules above do not know (a token pasted in another path).
        return Redactor.redact(out)
    }
}
