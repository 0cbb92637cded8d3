/// An RFC 6750 / RFC 7235 challenge: `Bearer realm="x", error="invalid_token", scope="a b"`.
/// Facebook's positional form (`OAuth "Facebook Platform" "invalid_token" "message"`) is read as
/// realm, error and error_description.
public struct WWWAuthenticate: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]

    public static func parse(_ header: String) -> WWWAuthenticate? {
        let text = header.trimmedWhitespace()
        guard !text.isEmpty else { return nil }
        let schemeEnd = text.firstIndex(where: { $0 == " " || $0 == "," }) ?? text.endIndex
        let scheme = text[..<schemeEnd].lowercased()
        var params: [String: String] = [:]
        var positional: [String] = []
        var i = schemeEnd
        func skipSeparators() { while i < text.endIndex, text[i] == " " || text[i] == "," || text[i] == "\t" { i = text.index(after: i) } }
        func readQuoted() -> String {
            var out = ""
            i = text.index(after: i)
            while i < text.endIndex, text[i] != "\"" {
                if text[i] == "\\", text.index(after: i) < text.endIndex { i = text.index(after: i) }
                out.append(text[i])
                i = text.index(after: i)
            }
            if i < text.endIndex { i = text.index(after: i) }
            return out
        }
        while true {
            skipSeparators()
            guard i < text.endIndex else { break }
            if text[i] == "\"" {
                positional.append(readQuoted())
                continue
            }
            let nameStart = i
            while i < text.endIndex, text[i] != "=", text[i] != ",", text[i] != " " { i = text.index(after: i) }
            let name = text[nameStart..<i].lowercased()
            guard i < text.endIndex, text[i] == "=" else {
                // A second challenge ("Basic realm=...") or a token68: keep the first challenge only.
                if params.isEmpty && positional.isEmpty { continue }
                break
            }
            i = text.index(after: i)
            if i < text.endIndex, text[i] == "\"" {
                params[name] = readQuoted()
            } else {
                let valueStart = i
                while i < text.endIndex, text[i] != "," { i = text.index(after: i) }
                params[name] = text[valueStart..<i].trimmedWhitespace()
            }
        }
        let positionalNames = ["realm", "error", "error_description"]
        for (index, value) in positional.prefix(3).enumerated() where params[positionalNames[index]] == nil {
            params[positionalNames[index]] = value
        }
        return WWWAuthenticate(scheme: scheme, parameters: params)
    }
}

import Foundation
