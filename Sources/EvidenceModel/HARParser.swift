import Foundation

/// A HAR 1.2 export reduced to what classification needs: the failing entries as evidence, and what
/// only the whole session shows (redirect loops, several Google accounts in play).
public struct HARAnalysis: Sendable {
    public var entryCount: Int
    /// One evidence per failing entry (status ≥ 400, a browser error, an OAuth `error=` redirect).
    public var failing: [Evidence]
    /// Facts about the whole recording, also merged into every failing entry's evidence.
    public var sessionFacts: Facts
}

public enum HARParser {
    public static func parse(_ text: String, source: String = "har", provider: String? = nil) throws(InputError) -> HARAnalysis {
        // Entries are read one at a time from the bytes: a whole HAR as one JSON tree took ~7x its
        // size (a 91 MB recording peaked at 980 MB). Anything the scanner does not follow is parsed
        // whole, so a malformed file gets the JSON parser's exact error.
        var text = text
        var accumulator = Accumulator(source: source, provider: provider)
        let streamed: Result<Bool, InputError> = text.withUTF8 { bytes in
            do throws(InputError) {
                var scanner = EntryScanner(bytes: bytes, source: source)
                return .success(try scanner.entries { (entry: JSONValue) throws(InputError) in try accumulator.add(entry) })
            } catch {
                return .failure(error)
            }
        }
        switch streamed {
        case .success(true): return accumulator.finish()
        case let .failure(error): throw error
        case .success(false):
            accumulator = Accumulator(source: source, provider: provider)
            for entry in try entriesOfWholeTree(text, source: source) { try accumulator.add(entry) }
            return accumulator.finish()
        }
    }

    static func entriesOfWholeTree(_ text: String, source: String) throws(InputError) -> [JSONValue] {
        let root: JSONValue
        do {
            root = try JSON.parse(text)
        } catch let error as JSONParseError {
            throw InputError(.data, "not a HAR file: invalid JSON (\(error.message))", place: "\(source):\(error.line):\(error.column)")
        } catch {
            throw InputError(.data, "not a HAR file: \(error)", place: source)
        }
        guard let log = root["log"] else {
            throw InputError(.data, "not a HAR file: no top-level \"log\" object", place: source)
        }
        guard let entries = log["entries"]?.arrayValue else {
            throw InputError(.data, "not a HAR file: \"log.entries\" is missing or not an array", place: source)
        }
        return entries
    }

    /// Finds `log.entries` in the raw bytes and parses each entry on its own. Returns nil (the
    /// caller then parses the whole tree) for anything unexpected: it never guesses.
    struct EntryScanner {
        let bytes: UnsafeBufferPointer<UInt8>
        let source: String
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>, source: String) {
            self.bytes = bytes
            self.source = source
        }

        /// Hands each entry to `each` as it is read; false when the file is not plainly a HAR object
        /// with a `log.entries` array (the caller then starts again from the whole tree, which
        /// also gives the exact error).
        mutating func entries(_ each: (JSONValue) throws(InputError) -> Void) throws(InputError) -> Bool {
            guard expect(UInt8(ascii: "{")) else { return false }
            var found = false
            guard try members({ (scanner: inout EntryScanner, key: String) throws(InputError) -> Bool in
                guard key == "log", !found else { return scanner.skipValue() }
                guard scanner.expect(UInt8(ascii: "{")) else { return false }
                return try scanner.members { (inner: inout EntryScanner, key: String) throws(InputError) -> Bool in
                    guard key == "entries", !found else { return inner.skipValue() }
                    found = true
                    return try inner.array(each)
                }
            }) else { return false }
            skipSpace()
            return i == bytes.count && found
        }

        /// The members of an object whose `{` was read, each handed to `value` (which reads it).
        mutating func members(_ value: (inout EntryScanner, String) throws(InputError) -> Bool) throws(InputError) -> Bool {
            skipSpace()
            if peek() == UInt8(ascii: "}") { i += 1; return true }
            while true {
                skipSpace()
                guard let key = string() else { return false }
                guard expect(UInt8(ascii: ":")) else { return false }
                skipSpace()
                guard try value(&self, key) else { return false }
                skipSpace()
                guard let c = peek() else { return false }
                i += 1
                if c == UInt8(ascii: "}") { return true }
                guard c == UInt8(ascii: ",") else { return false }
            }
        }

        /// An array whose elements are each parsed from their own bytes and handed to `each`.
        mutating func array(_ each: (JSONValue) throws(InputError) -> Void) throws(InputError) -> Bool {
            guard expect(UInt8(ascii: "[")) else { return false }
            skipSpace()
            if peek() == UInt8(ascii: "]") { i += 1; return true }
            while true {
                skipSpace()
                let start = i
                guard skipValue() else { return false }
                guard let entry = try? JSON.parse(UnsafeBufferPointer(rebasing: bytes[start..<i])) else { return false }
                try each(entry)
                skipSpace()
                guard let c = peek() else { return false }
                i += 1
                if c == UInt8(ascii: "]") { return true }
                guard c == UInt8(ascii: ",") else { return false }
            }
        }

        func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ c: UInt8) -> Bool {
            skipSpace()
            guard peek() == c else { return false }
            i += 1
            return true
        }

        /// A key without escapes (HAR's keys have none); nil otherwise.
        mutating func string() -> String? {
            guard peek() == UInt8(ascii: "\"") else { return nil }
            let start = i + 1
            var j = start
            while j < bytes.count, bytes[j] != UInt8(ascii: "\""), bytes[j] != UInt8(ascii: "\\") { j += 1 }
            guard j < bytes.count, bytes[j] == UInt8(ascii: "\"") else { return nil }
            i = j + 1
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<j]), as: UTF8.self)
        }

        /// Steps over one value (strings with escapes, nested containers); false when unbalanced.
        mutating func skipValue() -> Bool {
            var depth = 0
            while i < bytes.count {
                let c = bytes[i]
                switch c {
                case UInt8(ascii: "\""):
                    i += 1
                    while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                        i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    guard i < bytes.count else { return false }
                    i += 1
                    if depth == 0 { return true }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    i += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    guard depth > 0 else { return false }
                    depth -= 1
                    i += 1
                    if depth == 0 { return true }
                case UInt8(ascii: ","), UInt8(ascii: ":"), 0x20, 0x0A, 0x0D, 0x09:
                    if depth == 0 { return true }
                    i += 1
                default:
                    i += 1
                }
            }
            return depth == 0
        }
    }

    /// What the analysis keeps while entries stream past: the failing ones and session counters.
    struct Accumulator {
        let source: String
        let provider: String?
        var count = 0
        var failing: [Evidence] = []
        var authusers: [Int] = []
        var redirectCounts: [String: Int] = [:]
        var redirects = 0
        var browserLoop = false
        var hosts: [String] = []
        var seenHosts = Set<String>()
        var lastURL: String?

        init(source: String, provider: String?) {
            self.source = source
            self.provider = provider
        }

        mutating func add(_ entry: JSONValue) throws(InputError) {
            let index = count
            count += 1
            guard let requestJSON = entry["request"], let responseJSON = entry["response"] else {
                throw InputError(.data, "entry \(index) has no request or response", place: "\(source): log.entries[\(index)]")
            }
            let url = requestJSON["url"]?.stringValue ?? ""
            lastURL = requestJSON["url"]?.stringValue
            let status = responseJSON["status"]?.intValue ?? 0
            authusers.append(contentsOf: URLFacts.googleAccountIndexes(in: url))
            if let host = URLFacts.host(of: url), seenHosts.insert(host).inserted { hosts.append(host) }
            let browserError = entry["_error"]?.stringValue ?? responseJSON["_error"]?.stringValue
            if let browserError, browserError.contains("TOO_MANY_REDIRECTS") { browserLoop = true }
            if (300...399).contains(status) {
                redirects += 1
                let key = URLFacts.withoutQuery(url)
                redirectCounts[key, default: 0] += 1
                let location = responseJSON["redirectURL"]?.stringValue
                    ?? headerList(responseJSON["headers"]).first(where: { $0.name.lowercased() == "location" })?.value
                if let location { authusers.append(contentsOf: URLFacts.googleAccountIndexes(in: location)) }
            }
            let oauthError = URLFacts.queryValue("error", in: url)
            guard status >= 400 || (status == 0 && browserError != nil) || oauthError != nil else { return }

            let request = RequestSnapshot(method: requestJSON["method"]?.stringValue ?? "GET", url: url,
                                          headers: headerList(requestJSON["headers"]))
            let headers = headerList(responseJSON["headers"])
            var body = responseJSON["content"]?["text"]?.stringValue ?? ""
            if responseJSON["content"]?["encoding"]?.stringValue == "base64",
               let data = Data(base64Encoded: body), let decoded = String(data: data, encoding: .utf8) {
                body = decoded
            }
            var extra = Facts()
            extra.set("har.entry", index)
            var evidence = Evidence(kind: .har, provider: provider, request: request, url: url, extraFacts: extra)
            if status > 0 {
                evidence.responses = [ResponseSnapshot(status: status, reason: responseJSON["statusText"]?.stringValue,
                                                       httpVersion: responseJSON["httpVersion"]?.stringValue,
                                                       headers: headers, body: body, url: url)]
            }
            if let browserError {
                evidence.extraFacts.set("browser.error", browserError)
                if let transport = browserTransportError(browserError) {
                    evidence.extraFacts.set("transport.error", transport)
                }
            }
            failing.append(evidence)
        }

        func finish() -> HARAnalysis {
            var failing = failing
            var session = Facts()
            session.set("har.entries", count)
            session.set("har.failing", failing.count)
            if !authusers.isEmpty {
                session.set("url.authuser", .list(authusers.map { .int($0) }))
                session.set("url.authuser.distinct", Set(authusers).count)
            }
            let loopByRepeats = (redirectCounts.values.max() ?? 0) >= 3 && redirects >= 5
            session.set("redirect.count", redirects)
            session.set("redirect.loop", browserLoop || loopByRepeats || redirects >= 20)
            if !hosts.isEmpty { session.set("har.hosts", .list(hosts.map { .string($0) })) }
            for i in failing.indices {
                failing[i].extraFacts.merge(session)
            }
            // With nothing failing, the session's own evidence still names where it went last.
            if let lastURL { session.set("har.last_url", lastURL) }
            return HARAnalysis(entryCount: count, failing: failing, sessionFacts: session)
        }
    }

    static func headerList(_ value: JSONValue?) -> [(name: String, value: String)] {
        guard let items = value?.arrayValue else { return [] }
        return items.compactMap { item in
            guard let name = item["name"]?.stringValue else { return nil }
            return (name, item["value"]?.stringValue ?? "")
        }
    }

    /// Chrome's net:: errors as the transport failures curl would name.
    static func browserTransportError(_ error: String) -> String? {
        let e = error.uppercased()
        if e.contains("NAME_NOT_RESOLVED") || e.contains("NAME_RESOLUTION") { return "dns" }
        if e.contains("CONNECTION_REFUSED") { return "refused" }
        if e.contains("TIMED_OUT") { return "timeout" }
        if e.contains("CERT") || e.contains("SSL") { return "tls" }
        if e.contains("CONNECTION_RESET") || e.contains("EMPTY_RESPONSE") || e.contains("CONNECTION_CLOSED") { return "reset" }
        if e.contains("TOO_MANY_REDIRECTS") { return "too-many-redirects" }
        if e.contains("PROXY") { return "proxy" }
        return nil
    }
}
