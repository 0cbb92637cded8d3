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

        var failing: [Evidence] = []
        var authusers: [Int] = []
        var redirectCounts: [String: Int] = [:]
        var redirects = 0
        var browserLoop = false
        var hosts: [String] = []

        for (index, entry) in entries.enumerated() {
            guard let requestJSON = entry["request"], let responseJSON = entry["response"] else {
                throw InputError(.data, "entry \(index) has no request or response", place: "\(source): log.entries[\(index)]")
            }
            let url = requestJSON["url"]?.stringValue ?? ""
            let status = responseJSON["status"]?.intValue ?? 0
            let request = RequestSnapshot(method: requestJSON["method"]?.stringValue ?? "GET", url: url,
                                          headers: headerList(requestJSON["headers"]))
            let headers = headerList(responseJSON["headers"])
            var body = responseJSON["content"]?["text"]?.stringValue ?? ""
            if responseJSON["content"]?["encoding"]?.stringValue == "base64",
               let data = Data(base64Encoded: body), let decoded = String(data: data, encoding: .utf8) {
                body = decoded
            }
            authusers.append(contentsOf: URLFacts.googleAccountIndexes(in: url))
            if let host = URLFacts.host(of: url) { hosts.append(host) }
            let browserError = entry["_error"]?.stringValue ?? responseJSON["_error"]?.stringValue
            if let browserError, browserError.contains("TOO_MANY_REDIRECTS") { browserLoop = true }
            if (300...399).contains(status) {
                redirects += 1
                let key = URLFacts.withoutQuery(url)
                redirectCounts[key, default: 0] += 1
                let location = responseJSON["redirectURL"]?.stringValue ?? headers.first(where: { $0.name.lowercased() == "location" })?.value
                if let location { authusers.append(contentsOf: URLFacts.googleAccountIndexes(in: location)) }
            }
            let oauthError = URLFacts.queryValue("error", in: url)
            guard status >= 400 || (status == 0 && browserError != nil) || oauthError != nil else { continue }

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

        var session = Facts()
        session.set("har.entries", entries.count)
        session.set("har.failing", failing.count)
        if !authusers.isEmpty {
            session.set("url.authuser", .list(authusers.map { .int($0) }))
            session.set("url.authuser.distinct", Set(authusers).count)
        }
        let loopByRepeats = (redirectCounts.values.max() ?? 0) >= 3 && redirects >= 5
        session.set("redirect.count", redirects)
        session.set("redirect.loop", browserLoop || loopByRepeats || redirects >= 20)
        if !hosts.isEmpty {
            var seen = Set<String>()
            session.set("har.hosts", .list(hosts.filter { seen.insert($0).inserted }.map { .string($0) }))
        }
        for i in failing.indices {
            failing[i].extraFacts.merge(session)
        }
        // With nothing failing, the session's own evidence still names where it went last.
        if let last = entries.last?["request"]?["url"]?.stringValue {
            session.set("har.last_url", last)
        }
        return HARAnalysis(entryCount: entries.count, failing: failing, sessionFacts: session)
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
