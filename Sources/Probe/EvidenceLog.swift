import EvidenceModel

/// Builds the short evidence lines of a result. URLs are shown without user info, query or fragment
/// (OAuth `code`/`state` and API keys travel there), so the lines are safe to print as they are.
enum EvidenceLog {
    static func lines(for r: ProbeResult) -> [String] {
        var log: [String] = []
        let t = r.timings
        if let host = host(of: r.effectiveURL ?? r.request.url), !isIPLiteral(host), t.dnsSeconds > 0 {
            log.append("resolved \(host) in \(ms(t.dnsSeconds))")
        }
        if let ip = r.primaryIP {
            let target = ip.contains(":") ? "[\(ip)]" : ip
            let port = r.primaryPort.map { ":\($0)" } ?? ""
            if r.connectionReused {
                log.append("reused connection to \(target)\(port)")
            } else {
                log.append("connected to \(target)\(port) in \(ms(t.connectSeconds))")
            }
        }
        if r.tls.used {
            if let failure = r.tls.failure {
                log.append("TLS verify failed: \(failure) (verify result \(r.tls.verifyResult))")
            } else if r.tls.verified {
                log.append(t.tlsSeconds > 0 ? "TLS handshake in \(ms(t.tlsSeconds)), certificate verified"
                                            : "TLS certificate verified")
            }
        }
        for hop in r.redirects {
            let to = hop.location.map { " -> \(safe($0))" } ?? " without Location"
            log.append("HTTP \(hop.status) from \(safe(hop.url))\(to)")
        }
        if let status = r.status {
            let version = r.httpVersion.map { " (HTTP/\($0))" } ?? ""
            log.append("HTTP \(status)\(version) in \(ms(t.totalSeconds)), \(r.bodyBytesReceived) body bytes")
        }
        if r.bodyTruncated {
            log.append("body truncated to \(r.body.count) of \(r.bodyBytesReceived) bytes")
        }
        if r.curlCode != 0 {
            log.append("curl error \(r.curlCode) (\(r.curlName)) after \(ms(t.totalSeconds)): \(r.curlMessage)")
        }
        return log
    }

    static func ms(_ seconds: Double) -> String {
        let tenths = (seconds * 10_000).rounded() / 10
        return "\(tenths) ms"
    }

    /// scheme://host[:port]/path with user info, query and fragment removed ("?…" marks a query).
    static func safe(_ url: String) -> String {
        var s = Substring(url)
        var hadQuery = false
        if let i = s.firstIndex(of: "#") { s = s[..<i] }
        if let i = s.firstIndex(of: "?") { s = s[..<i]; hadQuery = true }
        if let schemeEnd = s.range(of: "://") {
            let rest = s[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@") {
                s = s[..<schemeEnd.upperBound] + rest[rest.index(after: at)...]
            }
        }
        return String(s) + (hadQuery ? "?…" : "")
    }

    static func host(of url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        var rest = url[schemeEnd.upperBound...]
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close])
        }
        if let colon = rest.lastIndex(of: ":") { rest = rest[..<colon] }
        return rest.isEmpty ? nil : String(rest)
    }

    static func isIPLiteral(_ host: String) -> Bool {
        host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
