/// URL pieces without Foundation's URL parsing, which rejects many of the half-URLs customers paste.
public enum URLFacts {
    /// Where "://" ends, found on bytes (Foundation's range(of:) bridges to UTF-16).
    static func afterScheme(_ url: String) -> String.Index? {
        guard let offset = ByteSearch.offset(of: "://", in: url) else { return nil }
        return url.utf8.index(url.utf8.startIndex, offsetBy: offset + 3)
    }

    public static func host(of url: String) -> String? {
        guard let schemeEnd = afterScheme(url) else { return nil }
        var rest = url[schemeEnd...]
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.hasPrefix("[") , let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close]).lowercased()
        }
        if let colon = rest.lastIndex(of: ":") { rest = rest[..<colon] }
        return rest.isEmpty ? nil : rest.lowercased()
    }

    public static func path(of url: String) -> String? {
        guard let schemeEnd = afterScheme(url) else { return url.hasPrefix("/") ? String(url.prefix { $0 != "?" && $0 != "#" }) : nil }
        let rest = url[schemeEnd...]
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        return String(rest[slash...].prefix { $0 != "?" && $0 != "#" })
    }

    public static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" && $0 != "#" })
    }

    /// Query (and fragment) parameters in order, percent-decoding left to the caller.
    public static func queryItems(_ url: String) -> [(String, String)] {
        var items: [(String, String)] = []
        let parts = url.split(whereSeparator: { $0 == "?" || $0 == "#" }).dropFirst()
        for part in parts {
            for pair in part.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                items.append((String(kv[0]), kv.count > 1 ? String(kv[1]) : ""))
            }
        }
        return items
    }

    /// `a=1&b=2` (a form body), values left encoded.
    public static func formItems(_ body: String) -> [(String, String)] {
        body.split(separator: "&").map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
        }
    }

    public static func queryValue(_ name: String, in url: String) -> String? {
        guard ByteSearch.contains(url, name + "=") else { return nil }
        return queryItems(url).first(where: { $0.0 == name })?.1
    }

    /// Google account indexes a URL names: `authuser=N` in the query, `/u/N/` in the path.
    public static func googleAccountIndexes(in url: String) -> [Int] {
        var found: [Int] = []
        if ByteSearch.contains(url, "authuser=") {
            for (k, v) in queryItems(url) where k == "authuser" {
                if let n = Int(v) { found.append(n) }
            }
        }
        if ByteSearch.contains(url, "/u/"), let path = path(of: url) {
            let segments = path.split(separator: "/")
            for (i, s) in segments.enumerated() where s == "u" && i + 1 < segments.count {
                if let n = Int(segments[i + 1]) { found.append(n) }
            }
        }
        return found
    }
}
