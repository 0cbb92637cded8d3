import Foundation

/// Turns evidence into the flat facts rules look at (docs/RULES.md lists every name).
public struct FactExtractor: Sendable {
    /// Limits that keep a hostile or huge body from costing more than it tells.
    public var maxBodyFacts = 400
    public var maxDepth = 12
    public var now: Date

    public init(now: Date = Date()) { self.now = now }

    public func facts(for evidence: Evidence) -> Facts {
        facts(for: evidence, parsedBody: nil)
    }

    /// The same, with the final response's body already parsed as JSON by the caller (a probe's
    /// runner reads it for its yields): it is not parsed a second time.
    public func facts(for evidence: Evidence, parsedBody: JSONValue?) -> Facts {
        var facts = Facts(capacity: 64)
        facts.merge(evidence.extraFacts)
        facts.set("input.kind", evidence.kind.rawValue)

        var messages: [String] = []
        if let response = evidence.finalResponse {
            addResponseFacts(response, into: &facts, messages: &messages, parsedBody: parsedBody)
        }
        if evidence.responses.count > 1 {
            let hops = evidence.responses.dropLast()
            facts.setIfAbsent("redirect.count", .int(hops.count))
            let locations = hops.compactMap { $0.header("location").map(URLFacts.withoutQuery) }
            let repeated = Dictionary(grouping: locations, by: { $0 }).values.contains { $0.count >= 2 }
            facts.setIfAbsent("redirect.loop", .bool(repeated || hops.count >= 10))
            for hop in hops {
                if let location = hop.header("location") { addAuthuser(from: location, into: &facts) }
            }
        }

        // The URL: what the caller said, else the request's, else the response's.
        if let url = evidence.url ?? evidence.request?.url ?? evidence.finalResponse?.url {
            addURLFacts(url, into: &facts)
        }

        if let request = evidence.request {
            addRequestFacts(request, into: &facts)
        }

        if let code = evidence.curlExit {
            addCurlFacts(code, into: &facts)
            if let message = evidence.curlMessage, !message.isEmpty { messages.append(message) }
        }

        if let text = evidence.text?.trimmedWhitespace(), !text.isEmpty {
            addTextFacts(text, into: &facts)
        }
        if let sqlstate = evidence.sqlstate { facts.set("sqlstate", sqlstate.uppercased()) }

        if let message = messages.first, !message.isEmpty {
            facts.setIfAbsent("message", .string(message))
        }
        var textParts: [String] = []
        if let pasted = evidence.text, !pasted.isEmpty { textParts.append(pasted) }
        textParts.append(contentsOf: messages)
        if !textParts.isEmpty { facts.set("text", textParts.joined(separator: "\n")) }
        if let text = facts.string("text"), facts["sqlstate"] == nil, let state = SQLState.find(in: text) {
            facts.set("sqlstate", state)
        }

        addScopeFacts(into: &facts)
        DerivedFacts.add(into: &facts)
        ProviderDetector.apply(given: evidence.provider, to: &facts)
        return facts
    }

    // MARK: - Response

    func addResponseFacts(_ response: ResponseSnapshot, into facts: inout Facts, messages: inout [String], parsedBody: JSONValue? = nil) {
        facts.set("http.status", response.status)
        // A response has a handful of headers: a list (repeated names joined) costs less than a table.
        // A hostile one has 200,000: past a handful, a table finds the repeated names (linear, not quadratic).
        var seen: [(key: String, value: String)] = []
        seen.reserveCapacity(response.headers.count)
        let indexed = response.headers.count > 16
        var position: [String: Int] = [:]
        for (name, value) in response.headers {
            let key = name.fastLowercased()
            let safe = Redactor.secretHeaders.contains(key) ? Redactor.mask : Redactor.headerFactValue(name: key, value: value)
            let found = indexed ? position[key] : seen.firstIndex(where: { $0.key == key })
            if let i = found {
                seen[i].value += ", " + safe
            } else {
                if indexed { position[key] = seen.count }
                seen.append((key, safe))
            }
        }
        func header(_ key: String) -> String? { indexed ? position[key].map { seen[$0].value } : seen.first { $0.key == key }?.value }
        for (key, value) in seen { facts.set("http.header." + key, value) }
        let contentType = header("content-type").map(Self.mediaType)
        if let contentType { facts.set("http.content_type", contentType) }
        var challengeMessage: String?
        if let challenge = header("www-authenticate").flatMap(WWWAuthenticate.parse) {
            facts.set("www-authenticate.scheme", challenge.scheme)
            for (name, value) in challenge.parameters {
                switch name {
                case "scope":
                    facts.set("www-authenticate.scope", .list(value.split(separator: " ").map { .string(String($0)) }))
                case "realm", "error", "error_description", "error_uri":
                    facts.set("www-authenticate." + name, value)
                default: continue
                }
            }
            if let description = challenge.parameters["error_description"], !description.isEmpty {
                challengeMessage = description
            }
        }
        if let retry = header("retry-after") {
            // A number from the network: clamped to a year, never trusted into arithmetic.
            if let seconds = Int(retry.trimmedWhitespace()) {
                facts.set("retry_after", NumberInput.clamp(seconds, to: NumberInput.Range.retryAfterNetwork))
            } else if let date = HTTPDate.parse(retry) {
                facts.set("retry_after", Int(NumberInput.clamp(date.timeIntervalSince(now), to: NumberInput.Range.retryAfterNetwork)))
            }
        }
        addBodyFacts(response.body, contentType: contentType, into: &facts, messages: &messages, parsedBody: parsedBody)
        // The body's own sentence is usually fuller than the challenge's; the challenge comes after it.
        if let challengeMessage { messages.append(challengeMessage) }
    }

    /// `Application/JSON; charset=utf-8` → `application/json` (the part before any parameter, trimmed, lower case).
    static func mediaType(_ contentType: String) -> String {
        var copy = contentType
        return copy.withUTF8 { bytes in
            // The first non-empty part between semicolons (as splitting on ';' gives).
            var start = 0
            while start < bytes.count {
                let end = UTF8Scan.firstIndex(bytes, from: start) { $0 == UInt8(ascii: ";") } ?? bytes.count
                if end > start { return UTF8Scan.string(bytes, start..<end).trimmedWhitespace().fastLowercased() }
                start = end + 1
            }
            return ""
        }
    }

    func addBodyFacts(_ body: String, contentType: String?, into facts: inout Facts, messages: inout [String],
                      parsedBody: JSONValue? = nil) {
        let trimmed = body.trimmedWhitespace()
        if trimmed.isEmpty {
            facts.set("body.format", "empty")
            return
        }
        var copy = trimmed
        let parsed = copy.withUTF8 { buffer -> Result<JSONValue, JSONParseError>? in
            guard JSON.looksLikeJSON(buffer) else { return nil }
            if let parsedBody { return .success(parsedBody) }
            do { return .success(try JSON.parse(buffer)) } catch { return .failure(error as! JSONParseError) }
        }
        switch parsed {
        case let .success(json)?:
            facts.set("body.format", "json")
            var budget = maxBodyFacts
            flatten(json, path: "body", inArray: false, depth: 0, into: &facts, budget: &budget)
            if let message = Self.message(in: json) { messages.append(message) }
            return
        case .failure?:
            facts.set("body.format", "invalid-json")
            // A body that is almost JSON (a JS object literal with bare keys, a cut-off answer, a
            // Python dict a proxy passed on): the forgiving reader still finds its error object.
            if let best = TextEvidence.bestErrorObject(in: LooseStructure.objects(in: String(trimmed.prefix(TextEvidence.maxText)))),
               best.score >= 5 {
                var budget = maxBodyFacts
                var local = Facts()
                flatten(TextEvidence.normalise(best.value), path: "body", inArray: false, depth: 0, into: &local, budget: &budget)
                facts.merge(local)
                if let message = Self.message(in: best.value) { messages.append(Self.redactedPrefix(Substring(message), 300)); return }
            }
            messages.append(Self.redactedPrefix(firstLine(trimmed), 300))
            return
        case nil:
            // `"key": value` lines without their braces (a body copied out of a log or a console).
            if LooseStructure.startsWithQuotedKeyLines(Array(trimmed.utf8.prefix(4096))),
               let best = TextEvidence.bestErrorObject(in: LooseStructure.objects(in: String(trimmed.prefix(TextEvidence.maxText)))),
               best.score >= 5 {
                facts.set("body.format", "invalid-json")
                var budget = maxBodyFacts
                var local = Facts()
                flatten(TextEvidence.normalise(best.value), path: "body", inArray: false, depth: 0, into: &local, budget: &budget)
                facts.merge(local)
                messages.append(Self.redactedPrefix(Substring(Self.message(in: best.value) ?? String(firstLine(trimmed))), 300))
                return
            }
        }
        let lower = trimmed.prefix(512).lowercased()
        if contentType?.contains("html") == true || lower.hasPrefix("<!doctype html") || lower.hasPrefix("<html") || lower.contains("<body") {
            facts.set("body.format", "html")
            if let title = HTML.title(trimmed) {
                facts.set("body.html.title", title)
                messages.append(title)
            }
            let visible = HTML.visibleText(trimmed, limit: 600)
            if !visible.isEmpty { facts.set("body.html.text", visible); messages.append(visible) }
            return
        }
        if contentType?.contains("json") == true {
            facts.set("body.format", "invalid-json")
            messages.append(Self.redactedPrefix(firstLine(trimmed), 300))
            return
        }
        if lower.hasPrefix("<?xml") || contentType?.contains("xml") == true {
            facts.set("body.format", "xml")
            messages.append(String(HTML.visibleText(trimmed, limit: 300)))
            return
        }
        if contentType == "application/x-www-form-urlencoded" || (!trimmed.contains(" ") && trimmed.contains("=") && (trimmed.hasPrefix("error=") || trimmed.contains("&error="))) {
            facts.set("body.format", "form")
            for (k, v) in URLFacts.formItems(trimmed) {
                let value = (v.removingPercentEncoding ?? v).replacingOccurrences(of: "+", with: " ")
                facts.set("body." + k, Redactor.isSecretJSONKey(k, value: value) ? Redactor.mask : value)
            }
            if let description = facts.string("body.error_description") { messages.append(description) }
            else if let error = facts.string("body.error") { messages.append(error) }
            return
        }
        facts.set("body.format", "text")
        facts.set("body.text", Self.redactedPrefix(Substring(trimmed), 600))
        messages.append(Self.redactedPrefix(firstLine(trimmed), 300))
    }

    /// The first `limit` characters of a text, redacted before it is cut: a cut can split a secret
    /// from the quote or name that marks it (`"access_token":"ya29.…` without its closing quote).
    /// The redactor sees a bounded window, far past the cut, so a long body costs no more than that.
    static func redactedPrefix(_ text: Substring, _ limit: Int) -> String {
        let window = String(text.prefix(max(limit * 16, 8192)))
        return String(Redactor.redact(window).prefix(limit))
    }

    private func firstLine(_ s: String) -> Substring {
        s.split(maxSplits: 1, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).first ?? Substring(s)
    }

    func flatten(_ value: JSONValue, path: String, inArray: Bool, depth: Int, into facts: inout Facts, budget: inout Int) {
        var buffer = Array(path.utf8)
        buffer.reserveCapacity(128)
        flatten(value, path: &buffer, inArray: inArray, depth: depth, into: &facts, budget: &budget)
    }

    /// The path is built in one byte buffer, grown and cut back as the walk goes: a fact name
    /// becomes a String only where a value is stored.
    private func flatten(_ value: JSONValue, path: inout [UInt8], inArray: Bool, depth: Int, into facts: inout Facts, budget: inout Int) {
        guard budget > 0, depth <= maxDepth else { return }
        switch value {
        case let .object(members):
            let base = path.count
            for (key, member) in members {
                let secret: Bool
                switch member {
                case let .string(s): secret = Redactor.isSecretJSONKey(key, value: s)
                case .int, .double: secret = Redactor.isSecretJSONKey(key, value: nil)
                default: secret = false
                }
                path.append(UInt8(ascii: "."))
                path.append(contentsOf: key.utf8)
                if secret {
                    store(.string(Redactor.mask), at: String(decoding: path, as: UTF8.self), inArray: inArray, into: &facts, budget: &budget)
                } else {
                    flatten(member, path: &path, inArray: inArray, depth: depth + 1, into: &facts, budget: &budget)
                }
                path.removeSubrange(base...)
            }
        case let .array(items):
            let base = path.count
            if items.isEmpty {
                let name = String(decoding: path, as: UTF8.self)
                if !inArray { facts.setIfAbsent(name + "[]", .list([])) }
                facts.setIfAbsent(name + ".count", .int(0))
                return
            }
            if !inArray { facts.set(String(decoding: path, as: UTF8.self) + ".count", items.count) }
            path.append(UInt8(ascii: "["))
            path.append(UInt8(ascii: "]"))
            for item in items {
                flatten(item, path: &path, inArray: true, depth: depth + 1, into: &facts, budget: &budget)
            }
            path.removeSubrange(base...)
        default:
            store(FactValue(value), at: String(decoding: path, as: UTF8.self), inArray: inArray, into: &facts, budget: &budget)
        }
    }

    @inline(__always)
    private func store(_ value: FactValue, at path: String, inArray: Bool, into facts: inout Facts, budget: inout Int) {
        budget -= 1
        if inArray { facts.append(path, value) } else { facts.set(path, value) }
    }

    /// The most telling human sentence in a JSON error body.
    public static func message(in json: JSONValue) -> String? {
        // A top-level array of errors (Salesforce and others): the first one speaks.
        if case let .array(items) = json {
            return items.lazy.compactMap(message(in:)).first ?? items.first?.stringValue
        }
        if let error = json["error"] {
            switch error {
            case let .object(members):
                let object = JSONValue.object(members)
                for key in ["message", "error_user_msg", "error_description", "description", "detail", "errorMessage"] {
                    if let s = object[key]?.stringValue, !s.isEmpty { return s }
                }
                if let first = object["errors"]?.arrayValue?.first?["message"]?.stringValue { return first }
            case let .string(code):
                // RFC 6749 errors: the description is the sentence; the code stays in body.error.
                if let description = json["error_description"]?.stringValue, !description.isEmpty {
                    return description
                }
                if let message = json["message"]?.stringValue, !message.isEmpty { return message }
                return code
            default: break
            }
        }
        for key in ["message", "error_description", "errorMessage", "error_message", "detail", "title", "msg", "Message", "faultstring"] {
            if let s = json[key]?.stringValue, !s.isEmpty { return s }
        }
        if let s = json["errors"]?.arrayValue?.first?["message"]?.stringValue { return s }
        if let s = json["errors"]?.stringValue, !s.isEmpty { return s }
        if let s = json["errors"]?.arrayValue?.first?.stringValue { return s }
        if let s = json["data"]?["error"]?["message"]?.stringValue { return s }
        if let s = json["fault"]?["faultstring"]?.stringValue { return s }
        if let s = json["status"]?["message"]?.stringValue { return s }
        return nil
    }

    // MARK: - URL, request, transport, text

    func addURLFacts(_ url: String, into facts: inout Facts) {
        facts.setIfAbsent("url", .string(url))
        if let host = URLFacts.host(of: url) { facts.setIfAbsent("url.host", .string(host)) }
        if let path = URLFacts.path(of: url) { facts.setIfAbsent("url.path", .string(path)) }
        addAuthuser(from: url, into: &facts)
        if let error = URLFacts.queryValue("error", in: url) {
            facts.setIfAbsent("url.query.error", .string(error.removingPercentEncoding ?? error))
            if let description = URLFacts.queryValue("error_description", in: url) {
                let text = (description.removingPercentEncoding ?? description).replacingOccurrences(of: "+", with: " ")
                facts.setIfAbsent("url.query.error_description", .string(text))
            }
        }
    }

    func addAuthuser(from url: String, into facts: inout Facts) {
        let indexes = URLFacts.googleAccountIndexes(in: url)
        guard !indexes.isEmpty else { return }
        var all = facts["url.authuser"]?.elements.compactMap { v -> Int? in if case let .int(i) = v { return i }; return nil } ?? []
        all.append(contentsOf: indexes)
        facts.set("url.authuser", .list(all.map { .int($0) }))
        facts.set("url.authuser.distinct", Set(all).count)
    }

    func addRequestFacts(_ request: RequestSnapshot, into facts: inout Facts) {
        var token: String?
        if let authorization = request.header("authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            let scheme = parts.first.map { $0.lowercased() } ?? ""
            facts.set("request.auth.scheme", scheme)
            token = parts.count > 1 ? String(parts[1]) : ""
            if scheme != "bearer" && scheme != "oauth" && scheme != "token" { token = nil; facts.set("token.present", true) }
        } else if let url = request.url, let param = URLFacts.queryValue("access_token", in: url) {
            facts.set("request.auth.scheme", "query")
            token = param
        } else {
            facts.set("request.auth.scheme", "none")
        }
        if token != nil || facts["token.present"] == nil {
            TokenShape.add(for: token, now: now, into: &facts)
        }
    }

    func addCurlFacts(_ code: Int, into facts: inout Facts) {
        facts.set("curl.code", code)
        facts.set("curl.name", CurlCodes.name(code))
        if let transport = CurlCodes.transportError(code) { facts.set("transport.error", transport) }
        if code == 47 { facts.set("redirect.loop", true) }
    }

    func addTextFacts(_ text: String, into facts: inout Facts) {
        // curl's own error line inside pasted text.
        if facts["curl.code"] == nil {
            for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
                if let (code, _) = ResponseParser.parseCurlErrorLine(line) { addCurlFacts(code, into: &facts); break }
            }
        }
        if facts["transport.error"] == nil, let transport = TransportPhrases.classify(text) {
            facts.set("transport.error", transport)
        }
        if let state = SQLState.find(in: text) { facts.set("sqlstate", state) }
        // Structure, statuses, codes, exception classes and URLs inside the text (TextEvidence).
        TextEvidence.addFacts(text, into: &facts, extractor: self)
    }

    // MARK: - Scopes

    func addScopeFacts(into facts: inout Facts) {
        var required: [String] = []
        if let scopes = facts["www-authenticate.scope"] { required += scopes.elements.compactMap(\.stringValue) }
        // Unsorted on purpose: this runs for every record, and order does not matter here.
        for (key, value) in facts.table where Self.namesRequiredScopes(key.name) {
            required += value.elements.compactMap(\.stringValue).flatMap { UTF8Scan.words($0, separatedBy: { $0 == 0x20 }) }
        }
        var granted: [String] = facts["token.scopes"]?.elements.compactMap(\.stringValue) ?? []
        let status = facts.int("http.status") ?? 0
        if status < 400 || status == 0 {
            for name in ["body.scope", "body.scopes[]", "body.data.scopes[]", "body.scopes"] {
                if let value = facts[name] {
                    granted += value.elements.compactMap(\.stringValue).flatMap { UTF8Scan.words($0, separatedBy: { $0 == 0x20 || $0 == 0x2C }) }
                }
            }
        }
        if !granted.isEmpty { facts.set("scopes.granted", .list(granted.uniqued().map { .string($0) })) }
        guard !required.isEmpty else { return }
        let requiredSet = required.uniqued()
        facts.set("scopes.required", .list(requiredSet.map { .string($0) }))
        let missing = granted.isEmpty ? requiredSet : requiredSet.filter { !granted.contains($0) }
        if !missing.isEmpty { facts.set("scopes.missing", .list(missing.map { .string($0) })) }
    }

    /// Whether a fact names the scopes an API required (`…required_scopes`, `…requiredScopes[]`,
    /// `…requiredGranularScopes[]`). Every fact of every record is asked: the last byte decides most.
    static func namesRequiredScopes(_ name: String) -> Bool {
        var copy = name
        return copy.withUTF8 { bytes in
            var end = bytes.count
            guard let last = bytes.last, last == UInt8(ascii: "s") || last == UInt8(ascii: "]") else { return false }
            let list = last == UInt8(ascii: "]")
            if list {
                guard end >= 2, bytes[end - 2] == UInt8(ascii: "[") else { return false }
                end -= 2
            }
            func endsWith(_ suffix: StaticString) -> Bool {
                let n = suffix.utf8CodeUnitCount
                return end >= n && memcmp(bytes.baseAddress! + (end - n), suffix.utf8Start, n) == 0
            }
            return endsWith("required_scopes") || endsWith("requiredScopes") || (list && endsWith("requiredGranularScopes"))
        }
    }
}

/// SQLSTATE codes in PostgreSQL / Redshift text, or implied by the server's well-known messages.
public enum SQLState {
    public static func find(in text: String) -> String? {
        let lowered = ByteSearch.lowered(text)
        let hasMarker = lowered.withUnsafeBufferPointer { buffer in
            markers.contains { ByteSearch.contains(buffer, $0) }
        }
        guard hasMarker else { return nil }
        if let explicit = firstMatch(explicitPattern, in: text) { return explicit.uppercased() }
        if lowered.withUnsafeBufferPointer({ ByteSearch.contains($0, npgsqlMarker) }), let npgsql = firstMatch(npgsqlPattern, in: text) {
            return npgsql
        }
        return implied(by: String(decoding: lowered, as: UTF8.self))
    }

    static let npgsqlMarker = Array("postgresexception".utf8)
    /// Npgsql prints the SQLSTATE before a colon, whatever language (or mis-decoding) the message is in:
    /// `Npgsql.PostgresException (0x80004005): 28P01: …`, `PostgresException:“28P01: …”`.
    nonisolated(unsafe) static let npgsqlPattern = try! NSRegularExpression(
        pattern: #"PostgresException(?:\s*\(0x[0-9A-Fa-f]{8}\))?\s*:\s*["“']?([0-9A-Z]{5}):"#)

    /// Words without which no SQLSTATE can be found (keeps the regex off most texts).
    static let markers: [[UInt8]] = ["sqlstate", "sql state", "error:", "fatal:", "panic:", "password authentication", "pg_hba", "postgresexception",
                                     "permission denied", "must be owner", "connection slots", "too many connections", "too many clients",
                                     "connection limit", "does not exist"].map { Array($0.utf8) }

    nonisolated(unsafe) static let explicitPattern = try! NSRegularExpression(
        pattern: "(?:(?i:SQL ?STATE)[\\s=:\\[\\(\\->]*|(?:ERROR|FATAL|PANIC):\\s+)([0-9A-Z]{2}[0-9A-Z]{3})\\b(?=[\\]\\):,\\s]|$)", options: [])

    /// Server messages that imply their SQLSTATE when the code itself was not pasted.
    static let phrases: [(String, String)] = [
        ("password authentication failed", "28P01"),
        ("no pg_hba.conf entry", "28000"),
        ("pg_hba.conf rejects connection", "28000"),
        ("permission denied for", "42501"),
        ("must be owner of", "42501"),
        ("remaining connection slots are reserved", "53300"),
        ("too many connections", "53300"),
        ("too many clients", "53300"),
        ("connection limit exceeded", "53300"),
    ]
    /// `<object> "name" does not exist` messages, by object.
    static let missingObjects: [(String, String)] = [
        ("role \"", "28000"), ("database \"", "3D000"), ("schema \"", "3F000"), ("relation \"", "42P01"),
    ]

    static func implied(by lower: String) -> String? {
        let bytes = Array(lower.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> String? in
            func has(_ s: String) -> Bool { ByteSearch.contains(buffer, Array(s.utf8)) }
            for (phrase, state) in phrases where has(phrase) { return state }
            if has("does not exist") {
                // Only PostgreSQL's own sentence `database "x" does not exist`: a `database "X"` in one
                // sentence and Snowflake's "Object does not exist" in another imply nothing.
                for (object, state) in missingObjects where namesMissing(object, in: buffer) { return state }
            }
            return nil
        }
        return nil
    }

    /// Whether `object` (`role "`) is followed by a quoted name and ` does not exist`.
    static func namesMissing(_ object: String, in buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        let needle = Array(object.utf8)
        let tail = Array("\" does not exist".utf8)
        var from = 0
        while let i = ByteSearch.firstIndex(of: needle, in: buffer, from: from) {
            let nameStart = i + needle.count
            var j = nameStart
            while j < buffer.count, j - nameStart < 256, buffer[j] != UInt8(ascii: "\""), buffer[j] != 0x0A { j += 1 }
            if j + tail.count <= buffer.count, memcmp(buffer.baseAddress! + j, tail, tail.count) == 0 { return true }
            from = i + 1
        }
        return false
    }

    static func firstMatch(_ regex: NSRegularExpression, in text: String) -> String? {
        let range = NSRange(text.startIndex..., in: text)
        guard let match = regex.firstMatch(in: text, range: range), match.numberOfRanges > 1,
              let r = Range(match.range(at: 1), in: text) else { return nil }
        let candidate = String(text[r])
        // Words like "FATAL: ERROR" are not codes: a SQLSTATE has a digit in its class.
        return candidate.first(where: { $0.isNumber }) != nil ? candidate : nil
    }
}

/// Transport failures named in pasted text (browser, driver or curl wording).
enum TransportPhrases {
    static let table: [(String, String)] = [
        ("could not resolve host", "dns"), ("could not translate host name", "dns"), ("name or service not known", "dns"),
        ("nodename nor servname", "dns"), ("err_name_not_resolved", "dns"), ("getaddrinfo", "dns"), ("no such host", "dns"),
        ("temporary failure in name resolution", "dns"), ("server misbehaving", "dns"), ("unknownhostexception", "dns"),
        ("no address associated with hostname", "dns"),
        ("connection refused", "refused"), ("err_connection_refused", "refused"), ("econnrefused", "refused"),
        ("timed out", "timeout"), ("timeout expired", "timeout"), ("err_timed_out", "timeout"), ("etimedout", "timeout"),
        ("ssl certificate problem", "tls"), ("certificate verify failed", "tls"), ("self-signed certificate", "tls"),
        ("self signed certificate", "tls"), ("err_cert_", "tls"), ("ssl handshake", "tls"), ("tls handshake", "tls"),
        ("unable to get local issuer certificate", "tls"), ("sslhandshakeexception", "tls"), ("pkix path building failed", "tls"),
        ("unable_to_verify_leaf_signature", "tls"),
        ("connection reset", "reset"), ("econnreset", "reset"), ("empty reply from server", "reset"),
        ("server closed the connection unexpectedly", "reset"), ("err_empty_response", "reset"),
        ("too many redirects", "too-many-redirects"), ("redirected you too many times", "too-many-redirects"),
        ("err_too_many_redirects", "too-many-redirects"), ("maximum (", "too-many-redirects"),
    ]

    static func classify(_ text: String) -> String? {
        let lowered = ByteSearch.lowered(text)
        return lowered.withUnsafeBufferPointer { buffer in
            table.first { phrase, kind in
                let needle = Array(phrase.utf8)
                guard ByteSearch.contains(buffer, needle) else { return false }
                return kind != "refused" || phrase != "connection refused" || !onlySimbaWrapper(needle, in: buffer)
            }?.1
        }
    }

    /// Simba-built drivers (Amazon Redshift, Simba Spark/BigQuery JDBC/ODBC) wrap every failure to
    /// connect in `[Amazon][JDBC](10100) Connection Refused: [Amazon][JDBC](11640) Required Connection Key(s): PWD`:
    /// the driver refused its own settings before any TCP connect. Refused only when the phrase stands elsewhere.
    static func onlySimbaWrapper(_ needle: [UInt8], in buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        var from = 0
        var wrapped = 0
        while let i = ByteSearch.firstIndex(of: needle, in: buffer, from: from) {
            var j = i + needle.count
            guard j < buffer.count, buffer[j] == UInt8(ascii: ":") else { return false }
            j += 1
            while j < buffer.count, buffer[j] == 0x20 { j += 1 }
            guard j < buffer.count, buffer[j] == UInt8(ascii: "[") else { return false }
            wrapped += 1
            from = i + 1
        }
        return wrapped > 0
    }
}

enum HTML {
    static func title(_ html: String) -> String? {
        guard let open = html.range(of: "<title", options: .caseInsensitive),
              let close = html.range(of: "</title>", options: .caseInsensitive, range: open.upperBound..<html.endIndex),
              let gt = html[open.upperBound..<close.lowerBound].firstIndex(of: ">") else { return nil }
        let title = decodeEntities(String(html[html.index(after: gt)..<close.lowerBound]))
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return title.isEmpty ? nil : title
    }

    /// Text outside tags, scripts and styles, whitespace collapsed, capped.
    static func visibleText(_ html: String, limit: Int) -> String {
        var out = ""
        var inTag = false
        var skipUntil: String?
        var i = html.startIndex
        while i < html.endIndex, out.count < limit {
            let c = html[i]
            if let end = skipUntil {
                if html[i...].prefix(end.count).lowercased() == end {
                    skipUntil = nil
                    inTag = false
                    i = html.index(i, offsetBy: end.count)
                    continue
                }
                i = html.index(after: i); continue
            }
            if c == "<" {
                let rest = html[i...].prefix(8).lowercased()
                if rest.hasPrefix("<script") { skipUntil = "</script>" }
                else if rest.hasPrefix("<style") { skipUntil = "</style>" }
                else if rest.hasPrefix("<title") { skipUntil = "</title>" }
                inTag = true
                out.append(" ")
            } else if c == ">" && inTag {
                inTag = false
            } else if !inTag {
                out.append(c)
            }
            i = html.index(after: i)
        }
        return decodeEntities(out).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&#x27;", with: "'")
            .replacingOccurrences(of: "&nbsp;", with: " ")
    }
}

enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text.trimmedWhitespace())
    }
}
