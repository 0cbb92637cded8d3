import Foundation

/// Pasted text (a log line, an SDK exception, a connector's error, a UI message) turned into the
/// facts a response would give, so one rule serves both: the error object found inside the text
/// becomes `body.*`, a status in prose becomes `http.status`, the URL becomes `url.*`. What only
/// prose carries gets facts of its own: `exception`, `grpc.status`, `oauth.error`,
/// `snowflake.code`, `url.endpoint`, `text.hosts` (docs/RULES.md).
///
/// Facts already known from a real response are never overwritten: a response speaks first.
enum TextEvidence {
    /// Longest text looked at; a paste longer than this is a log dump whose start tells the most.
    static let maxText = 256 * 1024

    static func addFacts(_ fullText: String, into facts: inout Facts, extractor: FactExtractor) {
        let text = fullText.utf8.count > maxText ? String(decoding: Array(fullText.utf8.prefix(maxText)), as: UTF8.self) : fullText
        let hasBody = facts["body.format"].map { $0.stringValue != "empty" } ?? false

        // 1. Structured data inside the text.
        let objects = LooseStructure.objects(in: text)
        if !objects.isEmpty {
            facts.setIfAbsent("text.structured", .int(objects.count))
            var statusCandidates: [Int] = []
            for object in objects { collectStatuses(object, into: &statusCandidates, depth: 0) }
            if let status = statusCandidates.first { facts.setIfAbsent("http.status", .int(status)) }
            // A PostgreSQL ErrorResponse as a dict (redshift_connector, pg8000): S severity, C SQLSTATE, M message.
            // node-postgres and pgx print the same fields by name: severity, code, routine.
            func isSQLState(_ s: String) -> Bool {
                s.utf8.count == 5 && s.utf8.contains(where: { $0 >= 0x30 && $0 <= 0x39 })
                    && s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) })
            }
            for object in objects {
                if let state = object["C"]?.stringValue, object["M"] != nil, object["S"] != nil || object["V"] != nil, isSQLState(state) {
                    facts.setIfAbsent("sqlstate", .string(state))
                    if let message = object["M"]?.stringValue { facts.setIfAbsent("message", .string(message)) }
                    break
                }
                if let state = (object["code"] ?? object["sqlState"] ?? object["SQLState"])?.stringValue, isSQLState(state),
                   object["severity"] != nil || object["routine"] != nil || object["Severity"] != nil {
                    facts.setIfAbsent("sqlstate", .string(state))
                    break
                }
            }
            if !hasBody, let best = bestErrorObject(in: objects) {
                var local = Facts()
                var budget = extractor.maxBodyFacts
                let normalised = normalise(best.value)
                extractor.flatten(normalised, path: "body", inArray: false, depth: 0, into: &local, budget: &budget)
                if best.isInnerError, case let .object(members) = normalised, !members.contains(where: { $0.0 == "error" }) {
                    // An SDK's dump of the inner error object (`{'message': …, 'type': 'OAuthException', 'code': 190}`)
                    // is what a response carries under `error`.
                    extractor.flatten(normalised, path: "body.error", inArray: false, depth: 0, into: &local, budget: &budget)
                }
                facts.merge(local)
                facts.setIfAbsent("body.format", .string("json"))
                if let message = FactExtractor.message(in: normalised) { facts.setIfAbsent("message", .string(message)) }
            }
        }

        let lowered = ByteSearch.lowered(text)
        let lowerText = String(decoding: lowered, as: UTF8.self)

        // 1b. Response header lines pasted into the ticket (`WWW-Authenticate: …`, `X-Mashery-Error-Code: …`).
        PastedHeaders.add(from: text, into: &facts)

        // 1c. .NET's TokenResponseException: `Error:"invalid_grant", Description:"Robot is disabled.", Uri:""`.
        if !hasBody, let dotnet = Prose.dotnetTokenError(in: text) {
            facts.setIfAbsent("body.error", .string(dotnet.error))
            if !dotnet.description.isEmpty {
                facts.setIfAbsent("body.error_description", .string(dotnet.description))
                facts.setIfAbsent("message", .string(dotnet.description))
            }
            if !dotnet.uri.isEmpty { facts.setIfAbsent("body.error_uri", .string(dotnet.uri)) }
        }

        // Facebook's Graph envelope (`type: OAuthException`, `fbtrace_id`): its `code` is Graph's, not an HTTP status,
        // and its WWW-Authenticate positional values (`"invalid_request"`) are Graph's, not RFC 6749's.
        let graphEnvelope = facts.string("www-authenticate.realm") == "Facebook Platform" || lowerText.has("\"facebook platform\"")
            || lowerText.has("fbtrace") || Prose.hasBareOAuthException(lowered)

        // 2. HTTP status in prose.
        if facts["http.status"] == nil, let status = Prose.httpStatus(in: text, bareCodeIsStatus: !graphEnvelope) {
            facts.set("http.status", status)
            facts.set("text.http.status", status)
        }

        // 2b. Go's google-api-go-client: `googleapi: Error 403: <message>, <reason>`.
        if let go = Prose.googleAPIError(in: text) {
            if facts["http.status"] == nil { facts.set("http.status", go.status); facts.set("text.http.status", go.status) }
            facts.setIfAbsent("message", .string(go.message))
            if !hasBody, let reason = go.reason, facts["body.error.errors[].reason"] == nil {
                facts.set("body.error.errors[].reason", .list([.string(reason)]))
            }
        }

        // 3. OAuth error codes (RFC 6749/6750 and Google's own) wherever they stand.
        let facebookChallenge = facts.string("www-authenticate.realm") == "Facebook Platform" || lowerText.has("\"facebook platform\"")
        if !facebookChallenge, let code = Prose.oauthError(in: lowerText, original: lowered.count == text.utf8.count ? text : nil) {
            facts.setIfAbsent("oauth.error", .string(code))
            if !hasBody, facts["body.error"] == nil, facts["body.error.code"] == nil, facts["body.error.message"] == nil {
                facts.set("body.error", code)
            }
        } else if let error = facts.string("body.error"), Prose.oauthCodes.contains(error) {
            facts.setIfAbsent("oauth.error", .string(error))
        }

        // 4. Facebook's `(#100)` and `190.460`; error codes and subcodes in prose.
        if !hasBody {
            if facts["body.error.code"] == nil, let code = Prose.facebookCode(in: text, lower: lowerText) {
                facts.set("body.error.code", code.code)
                if let sub = code.subcode { facts.setIfAbsent("body.error.error_subcode", .int(sub)) }
            }
            if facts["body.error.error_subcode"] == nil, let sub = Prose.subcode(in: text) {
                facts.set("body.error.error_subcode", sub)
            }
        }

        // 5. Exception classes.
        let exceptions = Prose.exceptionClasses(in: text)
        if !exceptions.isEmpty { facts.set("exception", .list(exceptions.map { .string($0) })) }

        // 6. gRPC status.
        if let status = Prose.grpcStatus(in: text, lower: lowerText, facts: facts) { facts.setIfAbsent("grpc.status", .string(status)) }

        // 7. Snowflake error numbers (`250001 (08001): …`, `390100`).
        if let code = Prose.snowflakeCode(in: text, lower: lowerText, facts: facts) {
            facts.setIfAbsent("snowflake.code", .string(code))
            if !hasBody { facts.setIfAbsent("body.code", .string(code)) }
        }

        // 7b. Simba-built drivers' error numbers (Redshift, BigQuery, Spark JDBC/ODBC).
        let driverCodes = Prose.driverCodes(in: text)
        if !driverCodes.isEmpty { facts.setIfAbsent("driver.code", .list(driverCodes.map { .string($0) })) }

        // 8. URLs: every host, and the most telling URL as `url`.
        let urls = Prose.urls(in: text)
        if !urls.isEmpty {
            var hosts: [String] = []
            for url in urls { if let host = URLFacts.host(of: url)?.lowercased(), !hosts.contains(host) { hosts.append(host) } }
            if !hosts.isEmpty { facts.set("text.hosts", .list(hosts.map { .string($0) })) }
            let telling = urls.first { url in !Prose.isDocumentationHost(URLFacts.host(of: url)?.lowercased() ?? "") } ?? urls[0]
            if facts["url"] == nil {
                extractor.addURLFacts(telling, into: &facts)
            }
            for url in urls where url != telling { extractor.addAuthuser(from: url, into: &facts) }
        }
        if let path = facts.string("url.path"), let endpoint = Prose.endpoint(host: facts.string("url.host") ?? "", path: path) {
            facts.setIfAbsent("url.endpoint", .string(endpoint))
        }

        // 8b. A connector log's lines at WARN and above (docs/RULES.md: `text.error_lines`).
        if let lines = LogLevels.errorLines(in: text) { facts.set("text.error_lines", lines) }

        // 9. What the text itself names: the provider's vocabulary (for detection without --provider).
        if let named = Prose.providerNamed(in: lowerText, exceptions: exceptions) { facts.setIfAbsent("text.provider", .string(named)) }
    }

    // MARK: - The error object

    struct Candidate { var value: JSONValue; var score: Int; var isInnerError: Bool }

    /// The object most like a provider's error body, searched through every nested level
    /// (Node's inspect of an Axios error holds it under `response.data`).
    static func bestErrorObject(in objects: [JSONValue]) -> Candidate? {
        var best: Candidate?
        func visit(_ value: JSONValue, depth: Int) {
            guard depth < 10 else { return }
            switch value {
            case let .object(members):
                let (score, inner) = errorScore(members)
                if score > 0, score > (best?.score ?? 0) { best = Candidate(value: value, score: score, isInnerError: inner) }
                for (_, member) in members { visit(member, depth: depth + 1) }
            case let .array(items):
                for item in items.prefix(8) { visit(item, depth: depth + 1) }
            case let .string(s):
                // JSON serialised into a string member (Airbyte's `message`, a logged response body).
                if s.utf8.count > 6, s.utf8.count < 65536, s.contains("{") {
                    for nested in LooseStructure.objects(in: s) { visit(nested, depth: depth + 1) }
                }
            default: break
            }
        }
        for object in objects { visit(object, depth: 0) }
        return best
    }

    static func errorScore(_ members: [(String, JSONValue)]) -> (Int, Bool) {
        var score = 0
        var keys = Set<String>()
        for (key, _) in members { keys.insert(normalisedKey(key).lowercased()) }
        if let error = members.first(where: { $0.0.lowercased() == "error" })?.1 {
            switch error {
            case .object: score += 8
            case let .string(s): score += Prose.oauthCodes.contains(s.lowercased()) ? 9 : 4
            default: score += 1
            }
        }
        if keys.contains("error_description") { score += 4 }
        if keys.contains("error_subcode") || keys.contains("fbtrace_id") { score += 4 }
        let hasMessage = keys.contains("message") || keys.contains("error_message") || keys.contains("detail")
        let hasCode = keys.contains("code") || keys.contains("type") || keys.contains("status") || keys.contains("reason")
            || keys.contains("servicecode") || keys.contains("serviceerrorcode") || keys.contains("category") || keys.contains("errorcode")
        if hasMessage && hasCode { score += 5 } else if hasMessage || keys.contains("code") { score += 1 }
        if keys.contains("errors") || keys.contains("error_code") { score += 2 }
        if keys.contains("details") { score += 1 }
        let inner = score > 0 && !keys.contains("error") && hasMessage && hasCode
        return (score, inner)
    }

    /// SDKs' own names for an error's fields, as the wire format spells them.
    static let keyAliases: [String: String] = [
        "errorCode": "code", "ErrorCode": "code", "error_code": "code",
        "subErrorCode": "error_subcode", "errorSubcode": "error_subcode", "errorSubCode": "error_subcode", "error_sub_code": "error_subcode",
        "subcode": "error_subcode", "SubErrorCode": "error_subcode",
        "errorType": "type", "ErrorType": "type", "error_type": "type",
        "errorMessage": "message", "ErrorMessage": "message", "error_message": "message", "Message": "message",
        "errorUserTitle": "error_user_title", "errorUserMsg": "error_user_msg", "errorUserMessage": "error_user_msg",
        "errorDescription": "error_description", "ErrorDescription": "error_description",
        "Code": "code", "Type": "type", "Status": "status", "Error": "error", "Reason": "reason",
        // WeChat and other Chinese platforms' APIs: {"errcode": 40001, "errmsg": "invalid credential"}.
        "errcode": "code", "errmsg": "message",
        "fbtraceId": "fbtrace_id", "FbtraceId": "fbtrace_id",
    ]

    static func normalisedKey(_ key: String) -> String { keyAliases[key] ?? key }

    /// Keys renamed to the wire's names, where that name is not already there.
    static func normalise(_ value: JSONValue, depth: Int = 0) -> JSONValue {
        guard depth < 16 else { return value }
        switch value {
        case let .object(members):
            let present = Set(members.map(\.0))
            var out: [(String, JSONValue)] = []
            for (key, member) in members {
                // Only scalar fields are renamed: protobuf's `error_code { authorization_error: … }` keeps its name.
                let alias: String
                switch member {
                case .object, .array: alias = key
                default: alias = normalisedKey(key)
                }
                let name = alias != key && !present.contains(alias) && !out.contains(where: { $0.0 == alias }) ? alias : key
                out.append((name, normalise(member, depth: depth + 1)))
            }
            return .object(out)
        case let .array(items):
            return .array(items.map { normalise($0, depth: depth + 1) })
        default:
            return value
        }
    }

    /// HTTP statuses named by a dump's fields (`status: 400`, `HttpStatus: 400`, `statusCode=401`, a numeric `error: 401`).
    static func collectStatuses(_ value: JSONValue, into out: inout [Int], depth: Int) {
        guard depth < 10, out.count < 4 else { return }
        switch value {
        case let .object(members):
            for (key, member) in members {
                let k = key.lowercased()
                if ["status", "statuscode", "status_code", "httpstatus", "http_status", "httpstatuscode", "http_code", "httpcode", "responsecode"].contains(k),
                   let n = member.intValue, (400...599).contains(n) {
                    out.append(n)
                } else if k == "error", let n = member.intValue, Prose.isHTTPErrorStatus(n) {
                    // Reddit's and several REST APIs' error shape: `{"message": "Unauthorized", "error": 401}`.
                    out.append(n)
                }
                collectStatuses(member, into: &out, depth: depth + 1)
            }
        case let .array(items):
            for item in items.prefix(8) { collectStatuses(item, into: &out, depth: depth + 1) }
        default: break
        }
    }
}

/// What prose alone carries: patterns over the pasted sentence.
enum Prose {
    /// HTTP statuses in prose; the first in the text wins.
    nonisolated(unsafe) static let statusPatterns: [NSRegularExpression] = [
        #"\b([45]\d\d) (?:Client|Server) Error\b"#,
        #"<(?:Response \[|HttpError )([45]\d\d)\b"#,
        #"\bHTTP(?:/\d(?:\.\d)?)?(?: Error| error| status| Status)?[ :]+([45]\d\d)\b"#,
        // `… failed with status code 403`; .NET's `Response status code does not indicate success: 401 (…)`.
        #"(?i)\b(?:status(?:[ _-]?code)?|http[ _-]?status(?:[ _-]?code)?|response[ _-]?code|http[ _-]?code|httperror|error code|returned(?: (?:http )?(?:status )?code)?|responded with|failed with|received|got a?|does not indicate success)\s*[:=]?\s*\(?([45]\d\d)\b(?![.,]\d)"#,
        // Not a log timestamp's milliseconds: in `15:28:27,511 Internal Server Error`, .511 is the time, not the status.
        #"(?i)(?<!\d[.,:])\b([45]\d\d)\s*[-:(]?\s*(?:Unauthori[sz]ed|Forbidden|Bad Request|Not Found|Too Many Requests|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out|Request Time-?out|Payment Required|Precondition Failed|Conflict)\b"#,
        #"(?<![#\w])\(([45]\d\d)\)"#,
        #"(?i)\bcode[\"']?\s*[:=]\s*([45]\d\d)\b(?![.,]\d)"#,  // bareCodePattern
        // Segment's delivery outcome codes: `errors.discarded.401`.
        #"\berrors\.(?:discarded|awaiting-retry|retried|failed)\.([45]\d\d)\b"#,
    ].map { try! NSRegularExpression(pattern: $0) }

    /// Error statuses HTTP defines (RFC 9110 and the registry) and the CDN ones people paste (Cloudflare's 520-527).
    static func isHTTPErrorStatus(_ status: Int) -> Bool {
        (400...418).contains(status) || (421...426).contains(status) || [428, 429, 431, 451].contains(status)
            || (500...508).contains(status) || [510, 511].contains(status) || (520...527).contains(status)
    }

    /// The index in `statusPatterns` of the bare `code: NNN` pattern.
    static let bareCodePattern = 6

    static let googleAPIErrorPattern = try! NSRegularExpression(
        pattern: #"googleapi: Error ([45]\d\d): ([^\n]*?)(?:, ([a-z][A-Za-z]+))?[ \t]*(?:\n|$)"#)

    /// `googleapi: Error 403: Request had insufficient authentication scopes., insufficientPermissions`:
    /// the status, the message and (last, camelCase) Google's error reason.
    static func googleAPIError(in text: String) -> (status: Int, message: String, reason: String?)? {
        guard text.has("googleapi: Error ") else { return nil }
        let range = NSRange(text.startIndex..., in: text)
        guard let match = googleAPIErrorPattern.firstMatch(in: text, range: range),
              let s = Range(match.range(at: 1), in: text), let status = Int(text[s]),
              let m = Range(match.range(at: 2), in: text) else { return nil }
        let reason = Range(match.range(at: 3), in: text).map { String(text[$0]) }
        return (status, String(text[m]), reason)
    }

    /// `bareCodeIsStatus`: whether `code: 403` may be read as an HTTP status (not inside Graph's envelope,
    /// whose `code` is Graph's own: 415 is "two-factor required", not Unsupported Media Type).
    nonisolated(unsafe) static let dotnetTokenErrorPattern = try! NSRegularExpression(
        pattern: #"\bError:\s?"([a-z_]{3,40})",\s*Description:\s?"([^"\n]{0,400})"(?:,\s*Uri:\s?"([^"\n]{0,400})")?"#)

    static func dotnetTokenError(in text: String) -> (error: String, description: String, uri: String)? {
        guard text.has("Description:") else { return nil }
        let range = NSRange(text.startIndex..., in: text)
        guard let match = dotnetTokenErrorPattern.firstMatch(in: text, range: range),
              let e = Range(match.range(at: 1), in: text), let d = Range(match.range(at: 2), in: text) else { return nil }
        let uri = Range(match.range(at: 3), in: text).map { String(text[$0]) } ?? ""
        return (String(text[e]), String(text[d]), uri)
    }

    /// Whether `OAuthException` appears on its own (Graph's error type), not only as the last part of a
    /// package-qualified class of another library (`org.scribe.exceptions.OAuthException`,
    /// `com.github.scribejava.core.exceptions.OAuthException`, `oauth.signpost.exception.OAuthException`).
    static func hasBareOAuthException(_ lowered: [UInt8]) -> Bool {
        let needle = Array("oauthexception".utf8)
        return lowered.withUnsafeBufferPointer { hay in
            var from = 0
            while let i = ByteSearch.firstIndex(of: needle, in: hay, from: from) {
                if i == 0 || (hay[i - 1] != UInt8(ascii: ".") && hay[i - 1] != UInt8(ascii: "\\")) { return true }
                from = i + 1
            }
            return false
        }
    }

    static func httpStatus(in text: String, bareCodeIsStatus: Bool = true) -> Int? {
        let range = NSRange(text.startIndex..., in: text)
        var best: (position: Int, status: Int)?
        for (index, regex) in statusPatterns.enumerated() {
            if index == bareCodePattern && !bareCodeIsStatus { continue }
            guard let match = regex.firstMatch(in: text, range: range), let r = Range(match.range(at: 1), in: text),
                  let status = Int(text[r]) else { continue }
            // A bare `code: 516` is a product's own error number (ClickHouse's 516 is a wrong password), not HTTP's.
            if index == bareCodePattern && !isHTTPErrorStatus(status) { continue }
            if best == nil || match.range.location < best!.position { best = (match.range.location, status) }
        }
        return best?.status
    }

    /// Codes that name a cause on their own, tried before the ones that usually only echo another.
    static let oauthOrder: [String] = [
        "invalid_grant", "deleted_client", "disabled_client", "unauthorized_client", "invalid_client", "org_internal",
        "admin_policy_enforced", "redirect_uri_mismatch", "invalid_scope", "insufficient_scope", "access_denied",
        "invalid_token", "expired_token", "unsupported_grant_type", "invalid_rapt", "rapt_required", "consent_required",
        "interaction_required", "login_required", "unauthorized_user", "invalid_audience", "unsupported_response_type",
        "invalid_request", "temporarily_unavailable", "server_error",
    ]
    /// RFC 6749/6750 and Google's OAuth error codes.
    static let oauthCodes = Set(oauthOrder)

    /// `original`: the text before lowering (same byte offsets). An upper-case `ACCESS_DENIED` is
    /// another product's error name (ClickHouse's `(ACCESS_DENIED)`), not an RFC 6749 code.
    static func oauthError(in lower: String, original: String? = nil) -> String? {
        guard lower.has("_") else { return nil }
        var originalBytes: [UInt8]?
        var best: (code: String, offset: Int)?
        for code in oauthOrder {
            guard let offset = wordOffset(of: code, in: lower) else { continue }
            if let original {
                if originalBytes == nil { originalBytes = Array(original.utf8) }
                if let bytes = originalBytes, offset + code.utf8.count <= bytes.count,
                   !bytes[offset..<(offset + code.utf8.count)].contains(where: { $0 >= 0x61 && $0 <= 0x7A }) { continue }
            }
            // The first code in the text is the error; one mentioned later is usually advice.
            if best == nil || offset < best!.offset { best = (code, offset) }
        }
        return best?.code
    }

    /// The UTF-8 offset of `needle` (ASCII) as a whole word (not inside `invalid_grant_type`).
    /// On bytes: Foundation's `range(of:)` bridges to UTF-16 and costs seconds on a pasted megabyte.
    static func wordOffset(of needle: String, in text: String) -> Int? {
        var text = text
        let n = Array(needle.utf8)
        return text.withUTF8 { hay -> Int? in
            guard let base = hay.baseAddress, !n.isEmpty, n.count <= hay.count else { return nil }
            // Only ASCII letters, digits and `_` make a word: a code right after a non-ASCII
            // character (Google's localized pages write `錯誤 401：invalid_client`) stands alone.
            func isWord(_ c: UInt8) -> Bool {
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
            }
            var start = 0
            let last = hay.count - n.count
            while start <= last {
                guard let hit = memchr(base + start, Int32(n[0]), last - start + 1) else { return nil }
                let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if n.withUnsafeBufferPointer({ memcmp(base + i, $0.baseAddress!, n.count) == 0 }),
                   i == 0 || !isWord(hay[i - 1]), i + n.count == hay.count || !isWord(hay[i + n.count]) {
                    return i
                }
                start = i + 1
            }
            return nil
        }
    }

    nonisolated(unsafe) static let facebookPatterns: [NSRegularExpression] = [
        #"\(#(\d{1,5})\)"#,                                   // (#100) Invalid parameter
        #"(?i)\bOAuthException\b[^\n]{0,80}?\bcode\W{0,3}(\d{1,5})\b"#,
        #"(?i)\((?:error )?code:? (\d{1,5})(?:[,/ ]+(?:sub ?code|error_subcode):? (\d{2,5}))?\)"#,  // (Code 190)
        #"\b(190)\.(4\d\d)\b"#,
        #"(?i)\berror(?:_code| code)?\s*[:=#]\s*(\d{1,4})\s*[,;)]"#,    // Error: 100,
    ].map { try! NSRegularExpression(pattern: $0) }

    static func facebookCode(in text: String, lower: String) -> (code: Int, subcode: Int?)? {
        let range = NSRange(text.startIndex..., in: text)
        for (i, regex) in facebookPatterns.enumerated() {
            // `Error: 100,` is too loose unless the text is Facebook's.
            if i == 4 && !(lower.has("oauthexception") || lower.has("facebook") || lower.has("fbtrace")) { continue }
            guard let match = regex.firstMatch(in: text, range: range), let r = Range(match.range(at: 1), in: text),
                  let code = Int(text[r]) else { continue }
            if (400...599).contains(code) && i != 0 { continue }
            var sub: Int?
            if match.numberOfRanges > 2, let r2 = Range(match.range(at: 2), in: text) { sub = Int(text[r2]) }
            return (code, sub)
        }
        return nil
    }

    nonisolated(unsafe) static let subcodePattern = try! NSRegularExpression(
        pattern: #"(?i)\b(?:error_subcode|errorSubcode|subErrorCode|error_sub_code|sub_code|subcode|sub-code)["']?\s*[:=]?\s*(\d{2,7})\b"#)

    static func subcode(in text: String) -> Int? {
        let range = NSRange(text.startIndex..., in: text)
        guard let match = subcodePattern.firstMatch(in: text, range: range), let r = Range(match.range(at: 1), in: text) else { return nil }
        return Int(text[r])
    }

    nonisolated(unsafe) static let exceptionPattern = try! NSRegularExpression(
        pattern: #"\b((?:[A-Za-z_][A-Za-z0-9_]*[.\\]){0,8}[A-Z][A-Za-z0-9_]*(?:Error|Exception|Fault|Failure))\b"#)

    static func exceptionClasses(in text: String) -> [String] {
        var out: [String] = []
        let range = NSRange(text.startIndex..., in: text)
        for match in exceptionPattern.matches(in: text, range: range).prefix(24) {
            guard let r = Range(match.range(at: 1), in: text) else { continue }
            let full = String(text[r])
            if !out.contains(full) { out.append(full) }
            // Dotted (Java, Python, .NET) or backslash-qualified (PHP namespaces) names: the short name too.
            if let dot = full.lastIndex(where: { $0 == "." || $0 == "\\" }) {
                let short = String(full[full.index(after: dot)...])
                if !out.contains(short) { out.append(short) }
            }
            if out.count >= 12 { break }
        }
        return out
    }

    static let grpcNames: [String] = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE",
        "DATA_LOSS", "UNAUTHENTICATED",
    ]
    nonisolated(unsafe) static let grpcNamePattern = try! NSRegularExpression(
        pattern: #"\b(UNAUTHENTICATED|PERMISSION_DENIED|RESOURCE_EXHAUSTED|UNAVAILABLE|DEADLINE_EXCEEDED|INVALID_ARGUMENT|FAILED_PRECONDITION|NOT_FOUND|INTERNAL|CANCELLED|ABORTED|UNIMPLEMENTED)\b"#)
    nonisolated(unsafe) static let grpcGoPattern = try! NSRegularExpression(
        pattern: #"code = (Unauthenticated|PermissionDenied|ResourceExhausted|Unavailable|DeadlineExceeded|InvalidArgument|FailedPrecondition|NotFound|Internal|Canceled|Aborted|Unimplemented)\b"#)
    nonisolated(unsafe) static let grpcNumberPattern = try! NSRegularExpression(
        pattern: #"(?i)\b(?:code|status|grpc[_-]status)[\"']?\s*[:=]\s*(1[0-6]|[1-9])\b(?![.\d])"#)

    static func grpcStatus(in text: String, lower: String, facts: Facts) -> String? {
        let range = NSRange(text.startIndex..., in: text)
        if let status = facts.string("body.error.status"), grpcNames.contains(status) { return status }
        if let match = grpcNamePattern.firstMatch(in: text, range: range), let r = Range(match.range(at: 1), in: text) {
            // Upper-case words are common in logs; only the ones that are gRPC's names, and INTERNAL/NOT_FOUND only near "status".
            let name = String(text[r])
            if name != "INTERNAL" && name != "NOT_FOUND" && name != "CANCELLED" && name != "ABORTED" { return name }
        }
        if let match = grpcGoPattern.firstMatch(in: text, range: range), let r = Range(match.range(at: 1), in: text) {
            let camel = String(text[r])
            var out = ""
            for c in camel { if c.isUppercase && !out.isEmpty { out += "_" }; out += c.uppercased() }
            return out == "CANCELED" ? "CANCELLED" : out
        }
        let grpcContext = lower.has("grpc") || lower.has("rpc error") || lower.has("statuscode.") || lower.has("_inactiverpcerror")
            || lower.has("googleadsexception") || lower.has("google.api_core")
        if grpcContext, let match = grpcNumberPattern.firstMatch(in: text, range: range), let r = Range(match.range(at: 1), in: text),
           let n = Int(text[r]), n > 0, n < grpcNames.count {
            return grpcNames[n]
        }
        return nil
    }

    nonisolated(unsafe) static let snowflakePattern = try! NSRegularExpression(
        // `250001 (08001): Failed to connect…`, or the code and its SQLSTATE closing the text
        // (`DatabaseError) 250001 (08001)`, a wrapper that dropped the message).
        pattern: #"(?<![\d.])(\d{6})(?:\s*\(([0-9A-Z]{5})\))?\s*:|(?<![\d.])(\d{6})\s*\(([0-9A-Z]{5})\)\s*$"#)
    nonisolated(unsafe) static let snowflakeLoosePattern = try! NSRegularExpression(
        pattern: #"(?i)\b(?:error code|code|errno|error)\W{0,3}(\d{6})\b"#)

    nonisolated(unsafe) static let libsnowflakePattern = try! NSRegularExpression(
        pattern: #"SQLSTATE\[[0-9A-Z]{5}\][^\n]{0,120}?(?<![\d.])(2400[0-2]\d)\b"#)

    nonisolated(unsafe) static let simbaCodePattern = try! NSRegularExpression(
        pattern: #"\[[A-Za-z][A-Za-z0-9 ._-]{0,30}\](?:\[[A-Za-z][A-Za-z0-9 ._-]{0,30}\]){1,3}\s?\((\d{3,6})\)"#)

    /// Simba-built drivers' error numbers: `[Amazon][JDBC](11640)`, `[Simba][BigQueryJDBCDriver](100004)`.
    static func driverCodes(in text: String) -> [String] {
        guard text.has("][") else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        var out: [String] = []
        for match in simbaCodePattern.matches(in: text, range: range).prefix(8) {
            guard let r = Range(match.range(at: 1), in: text) else { continue }
            let code = String(text[r])
            if !out.contains(code) { out.append(code) }
        }
        return out
    }

    static func snowflakeCode(in text: String, lower: String, facts: Facts) -> String? {
        let mentioned = lower.has("snowflake")
        let range = NSRange(text.startIndex..., in: text)
        for match in snowflakePattern.matches(in: text, range: range).prefix(8) {
            let closing = match.range(at: 3).location != NSNotFound
            guard let r = Range(match.range(at: closing ? 3 : 1), in: text) else { continue }
            let code = String(text[r])
            let hasState = closing || match.range(at: 2).location != NSNotFound
            if mentioned || hasState || code.hasPrefix("39") || code.hasPrefix("25") || code.hasPrefix("26") { return code }
        }
        if mentioned, let match = snowflakeLoosePattern.firstMatch(in: text, range: range), let r = Range(match.range(at: 1), in: text) {
            return String(text[r])
        }
        // libsnowflakeclient's status codes (`SF_STATUS_ERROR_*`, 240000–240025) after PDO's `SQLSTATE[08001]: …:`.
        if lower.has("sqlstate["), let match = libsnowflakePattern.firstMatch(in: text, range: range), let r = Range(match.range(at: 1), in: text) {
            return String(text[r])
        }
        return nil
    }

    static func urls(in text: String) -> [String] {
        var out: [String] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i + 8 < bytes.count, out.count < 16 {
            guard bytes[i] == UInt8(ascii: "h"), bytes[i + 1] == UInt8(ascii: "t"), bytes[i + 2] == UInt8(ascii: "t"), bytes[i + 3] == UInt8(ascii: "p") else { i += 1; continue }
            var j = i + 4
            if j < bytes.count, bytes[j] == UInt8(ascii: "s") { j += 1 }
            guard j + 2 < bytes.count, bytes[j] == UInt8(ascii: ":"), bytes[j + 1] == UInt8(ascii: "/"), bytes[j + 2] == UInt8(ascii: "/") else { i += 1; continue }
            var k = j + 3
            while k < bytes.count {
                let c = bytes[k]
                if c <= 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") || c == UInt8(ascii: "<") || c == UInt8(ascii: ">")
                    || c == UInt8(ascii: "`") || c == UInt8(ascii: "\\") || c == UInt8(ascii: "{") || c == UInt8(ascii: "}") { break }
                k += 1
            }
            // Trailing punctuation of the sentence is not part of the URL.
            while k > j + 3, [UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: ")"), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "]")].contains(bytes[k - 1]) { k -= 1 }
            if k > j + 3 { out.append(String(decoding: bytes[i..<k], as: UTF8.self)) }
            i = max(k, i + 1)
        }
        return out
    }

    /// Hosts of documentation, help and code hosting: where a message points, not what failed.
    static func isDocumentationHost(_ host: String) -> Bool {
        let exact: Set<String> = ["developers.facebook.com", "developers.google.com", "support.google.com", "cloud.google.com",
                                  "stackoverflow.com", "github.com", "docs.github.com", "learn.microsoft.com", "docs.microsoft.com",
                                  "console.cloud.google.com", "console.developers.google.com", "myaccount.google.com",
                                  "business.facebook.com", "legacy.developers.google.com", "developer.linkedin.com",
                                  "learn.linkedin.com", "developers.hubspot.com", "knowledge.hubspot.com", "community.hubspot.com"]
        if exact.contains(host) { return true }
        return host.hasPrefix("docs.") || host.hasPrefix("help.") || host.hasPrefix("community.") || host.hasPrefix("support.")
            || host.hasSuffix(".readthedocs.io") || host.hasSuffix("github.io")
    }

    /// What kind of endpoint a URL is: the OAuth token endpoint, the authorization page, token introspection, or the data API.
    static func endpoint(host: String, path: String) -> String? {
        let p = path.lowercased()
        if p.contains("tokeninfo") || p.contains("debug_token") || p.contains("introspect") { return "tokeninfo" }
        if p.hasSuffix("/token") || p.contains("/oauth2/v4/token") || p.contains("/o/oauth2/token") || p.contains("/oauth/access_token")
            || p.contains("/accesstoken") || p.contains("/oauth/v1/token") || p.contains("/oauth2/token") || p.hasSuffix("/token/") {
            return "token"
        }
        if p.contains("/authorize") || p.contains("/o/oauth2/auth") || p.contains("/o/oauth2/v2/auth") || p.contains("/dialog/oauth")
            || p.contains("/oauth/v2/authorization") || p.contains("/signin/oauth") {
            return "authorize"
        }
        return host.isEmpty ? nil : "api"
    }

    /// The provider a text names by its vocabulary, most specific first.
    static func providerNamed(in lower: String, exceptions: [String]) -> String? {
        func any(_ words: [String]) -> Bool { words.contains { lower.has($0) } }
        if any(["looker studio", "lookerstudio", "data studio", "datastudio", "community connector"]) { return "looker-studio" }
        if hasBareOAuthException(Array(lower.utf8)) { return "facebook" }
        if any(["fbtrace", "facebook", "graph api", "graph.facebook", "instagram", "facebookrequesterror", "facebook_business", "meta ads", "ads_management"]) { return "facebook" }
        if any(["linkedin", "serviceerrorcode", "r_ads_reporting", "rw_ads", "r_liteprofile"]) { return "linkedin" }
        if any(["hubspot", "hapikey", "hubapi"]) { return "hubspot" }
        if any(["snowflake", "private key provided is invalid or not supported", "libsnowflakeclient"]) { return "snowflake" }
        if any(["redshift"]) { return "redshift" }
        if any(["googleadsexception", "google ads", "google_ads", "googleads", "adwords", "developer token", "developer_token", "login-customer-id", "login_customer_id", "authorizationerror.", "authorization_error"]) { return "google-ads" }
        if any(["bigquery"]) { return "bigquery" }
        if any(["google analytics", "analyticsdata", "analyticsreporting", "analytics.readonly", "ga4", "universal analytics", "google-analytics", "google_analytics", "analyticsadmin"]) { return "google-analytics" }
        if any(["google sheets", "sheets.googleapis", "gspread", "google-sheets", "google_sheets", "spreadsheets"]) { return "google-sheets" }
        if any(["psycopg", "postgres", "pg_hba", "libpq", "psqlexception", "pgjdbc", "asyncpg"]) { return "postgres" }
        if any(["google.auth", "googleapis", "google-auth", "accounts.google", "gaxios", "googleapiclient", "google.oauth2", "google api", "gcloud", TokenShape.googleAccessPrefix.description, "googleapi: error",
                 // Google's own auth libraries: Python's oauth2client, PHP's Google_Auth_Exception and Google\Auth, Node's gtoken.
                 "oauth2client", "google_auth_exception", "google\\auth\\", "/gtoken/"]) { return "google" }
        return nil
    }
}

extension String {
    /// Substring test on UTF-8 bytes (memchr + memcmp), for long pasted texts: with Foundation
    /// imported, `contains` bridges to NSString.
    @inline(__always) func has(_ needle: String) -> Bool { ByteSearch.contains(self, needle) }
}
