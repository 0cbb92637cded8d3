/// Response header lines a ticket quotes (`WWW-Authenticate: Bearer error="invalid_token"`,
/// `X-Mashery-Error-Code: ERR_403_NOT_AUTHORIZED`, `Retry-After: 30`) read as the same facts a real
/// response gives (`http.header.*`, `www-authenticate.*`, `retry_after`), so header rules fire on a
/// paste too. Only names that are response headers count: `Error: …` or `Caused by: …` lines are prose.
enum PastedHeaders {
    /// Standard response headers that tell something about an auth failure; any `x-…` name counts too.
    static let names: Set<String> = [
        "www-authenticate", "retry-after", "server", "via", "cf-ray", "cf-mitigated", "location", "content-type",
        "proxy-authenticate", "ratelimit-remaining", "ratelimit-reset", "ratelimit-limit", "set-cookie",
    ]

    static func add(from text: String, into facts: inout Facts) {
        var text = text
        // Cheap gate: a header line needs ": " somewhere; most pasted texts have no header at all.
        guard ByteSearch.contains(text, ": ") else { return }
        var found: [(String, String)] = []
        text.withUTF8 { bytes in
            var lineStart = 0
            while lineStart < bytes.count, found.count < 32 {
                let lineEnd = UTF8Scan.firstIndex(bytes, from: lineStart) { $0 == 0x0A } ?? bytes.count
                if let header = header(in: bytes, lineStart..<lineEnd) { found.append(header) }
                lineStart = lineEnd + 1
            }
        }
        guard !found.isEmpty else { return }
        for (name, value) in found {
            let safe = Redactor.isSecretHeader(name) ? Redactor.mask : Redactor.headerFactValue(name: name, value: value)
            facts.setIfAbsent("http.header." + name, .string(safe))
        }
        if facts["www-authenticate.scheme"] == nil, let raw = found.first(where: { $0.0 == "www-authenticate" })?.1,
           let challenge = WWWAuthenticate.parse(raw) {
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
        }
        if facts["retry_after"] == nil, let retry = found.first(where: { $0.0 == "retry-after" })?.1,
           let seconds = Int(retry.trimmedWhitespace()) {
            facts.set("retry_after", NumberInput.clamp(seconds, to: NumberInput.Range.retryAfterNetwork))
        }
    }

    /// `Name: value` at the start of a line (after indentation, `< ` of curl -v, or a `> ` quote).
    static func header(in bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> (String, String)? {
        var i = range.lowerBound
        while i < range.upperBound, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == UInt8(ascii: "<") || bytes[i] == UInt8(ascii: ">") { i += 1 }
        let nameStart = i
        while i < range.upperBound, i - nameStart <= 48 {
            let c = bytes[i]
            let isNameByte = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-")
            if !isNameByte { break }
            i += 1
        }
        guard i > nameStart + 1, i + 1 < range.upperBound, bytes[i] == UInt8(ascii: ":"), bytes[i + 1] == 0x20 else { return nil }
        let name = UTF8Scan.string(bytes, nameStart..<i).fastLowercased()
        guard names.contains(name) || (name.hasPrefix("x-") && name.count > 3) else { return nil }
        var end = range.upperBound
        while end > i + 2, bytes[end - 1] == 0x0D || bytes[end - 1] == 0x20 { end -= 1 }
        let value = UTF8Scan.string(bytes, (i + 2)..<end).trimmedWhitespace()
        guard !value.isEmpty, value.utf8.count <= 2048 else { return nil }
        return (name, value)
    }
}
