/// Reads one piece of evidence from text, choosing the reader by kind: a `curl -i` response, a HAR
/// export, pasted text, or a `--batch` record. Fixtures and the CLI share it.
public enum EvidenceLoader {
    public enum Format: String, Sendable {
        case response, har, text, record
    }

    /// The format a fixture's extension names (`.http`, `.har`, `.txt`, `.json`).
    public static func format(forPath path: String) -> Format? {
        if path.hasSuffix(".http") || path.hasSuffix(".response") { return .response }
        if path.hasSuffix(".har") { return .har }
        if path.hasSuffix(".txt") { return .text }
        if path.hasSuffix(".json") { return .record }
        return nil
    }

    /// Every evidence the input holds: one, or one per failing HAR entry (or the HAR's session-wide
    /// facts alone when no entry failed).
    public static func load(_ content: String, format: Format, source: String, provider: String?) throws(InputError) -> [Evidence] {
        switch format {
        case .response:
            return [try ResponseParser.parse(content, source: source, provider: provider)]
        case .har:
            let analysis = try HARParser.parse(content, source: source, provider: provider)
            if analysis.failing.isEmpty {
                return [Evidence(kind: .har, provider: provider, url: analysis.sessionFacts.string("har.last_url"),
                                 extraFacts: analysis.sessionFacts)]
            }
            return analysis.failing
        case .text:
            return [Evidence(kind: .text, provider: provider, text: content)]
        case .record:
            let record = try BatchRecord.parse(content, place: source)
            var evidence = record.evidence
            if evidence.provider == nil { evidence.provider = provider }
            return [evidence]
        }
    }
}

/// One `--batch` line: `{"id", "provider", "status", "headers", "body", "text", "curl_exit", "url", "sqlstate", "facts"}`.
public struct BatchRecord: Sendable {
    public var id: String?
    public var evidence: Evidence

    public static func parse(_ line: String, place: String) throws(InputError) -> BatchRecord {
        var copy = line
        let parsed = copy.withUTF8 { buffer -> Result<JSONValue, JSONParseError> in
            do { return .success(try JSON.parse(buffer)) } catch { return .failure(error as! JSONParseError) }
        }
        let json: JSONValue
        switch parsed {
        case let .success(value): json = value
        case let .failure(error): throw InputError(.data, "invalid JSON: \(error.message) at column \(error.column)", place: place)
        }
        return try from(json, place: place)
    }

    public static func from(_ json: JSONValue, place: String) throws(InputError) -> BatchRecord {
        guard case let .object(members) = json else {
            throw InputError(.data, "a record must be a JSON object", place: place)
        }
        var id: String?
        var provider: String?
        var status: Int?
        var headers: [(name: String, value: String)] = []
        var body = ""
        var text: String?
        var curlExit: Int?
        var url: String?
        var sqlstate: String?
        var requestHeaders: [(name: String, value: String)] = []
        var facts = Facts()
        for (key, value) in members {
            switch key {
            case "id":
                switch value {
                case let .string(s): id = s
                case let .int(i): id = String(i)
                case .null: break
                default: throw InputError(.data, "\"id\" must be a string or a number", place: place)
                }
            case "provider": provider = try string(value, key, place)
            case "status":
                if case .null = value { break }
                guard let s = value.intValue, (0...999).contains(s) else {
                    throw InputError(.data, "\"status\" must be an HTTP status code", place: place)
                }
                status = s
            case "headers": headers = try headerList(value, "headers", place)
            case "request_headers": requestHeaders = try headerList(value, "request_headers", place)
            case "body":
                switch value {
                case let .string(s): body = s
                case .null: body = ""
                default: body = JSONWriter.serialize(value)
                }
            case "text": text = try string(value, key, place)
            case "curl_exit":
                if case .null = value { break }
                guard let c = value.intValue, (0...99).contains(c) else {
                    throw InputError(.data, "\"curl_exit\" must be a curl exit code (0–99)", place: place)
                }
                curlExit = c
            case "url": url = try string(value, key, place)
            case "sqlstate": sqlstate = try string(value, key, place)
            case "facts":
                // Facts known beforehand (a diagnosis's own facts: scopes.missing, account.mismatch, ...).
                if case .null = value { break }
                guard case let .object(items) = value else {
                    throw InputError(.data, "\"facts\" must be an object of fact names to values", place: place)
                }
                for (name, item) in items {
                    switch item {
                    case .object: throw InputError(.data, "fact \"\(name)\" must be a scalar or a list of scalars", place: place)
                    case let .array(elements) where elements.contains(where: { $0.objectValue != nil || $0.arrayValue != nil }):
                        throw InputError(.data, "fact \"\(name)\" must be a scalar or a list of scalars", place: place)
                    default: facts.set(name, FactValue(item))
                    }
                }
            default: continue // unknown members are tolerated: exports carry extra fields
            }
        }
        if let provider, !ProviderDetector.known.contains(provider) {
            throw InputError(.data, "unknown provider \"\(provider)\" (known: \(ProviderDetector.known.joined(separator: ", ")))", place: place)
        }
        var evidence = Evidence(kind: .record, provider: provider, text: text, curlExit: curlExit, url: url, sqlstate: sqlstate,
                                extraFacts: facts)
        if let status, status > 0 {
            evidence.responses = [ResponseSnapshot(status: status, headers: headers, body: body, url: url)]
        } else if !body.isEmpty {
            evidence.text = [text, body].compactMap { $0 }.joined(separator: "\n")
        }
        if !requestHeaders.isEmpty { evidence.request = RequestSnapshot(url: url, headers: requestHeaders) }
        if status == nil && curlExit == nil && text == nil && body.isEmpty && sqlstate == nil && facts.count == 0 {
            throw InputError(.data, "the record has none of status, body, text, curl_exit, sqlstate, facts", place: place)
        }
        return BatchRecord(id: id, evidence: evidence)
    }

    static func string(_ value: JSONValue, _ key: String, _ place: String) throws(InputError) -> String? {
        switch value {
        case let .string(s): return s
        case .null: return nil
        case let .int(i): return String(i)
        default: throw InputError(.data, "\"\(key)\" must be a string", place: place)
        }
    }

    static func headerList(_ value: JSONValue, _ key: String, _ place: String) throws(InputError) -> [(name: String, value: String)] {
        switch value {
        case .null: return []
        case let .object(members):
            return members.map { ($0.0, $0.1.stringValue ?? JSONWriter.serialize($0.1)) }
        case let .array(items):
            var out: [(name: String, value: String)] = []
            for item in items {
                if let name = item["name"]?.stringValue {
                    out.append((name, item["value"]?.stringValue ?? ""))
                } else if let pair = item.arrayValue, pair.count == 2, let n = pair[0].stringValue {
                    out.append((n, pair[1].stringValue ?? ""))
                } else {
                    throw InputError(.data, "\"\(key)\" entries must be {\"name\", \"value\"} objects or [name, value] pairs", place: place)
                }
            }
            return out
        default:
            throw InputError(.data, "\"\(key)\" must be an object of header names to values", place: place)
        }
    }
}
