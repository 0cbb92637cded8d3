/// Reads an HTTP exchange as `curl -i` (or `curl -v`, or `curl -iL`) prints it.
public enum ResponseParser {
    /// - Parameter source: a name for error messages (a file name, "stdin").
    public static func parse(_ raw: String, source: String = "response", provider: String? = nil) throws(InputError) -> Evidence {
        // Lines without their terminators; curl prints CRLF in headers and the body as sent.
        let normalized = raw.hasPrefix("\u{FEFF}") ? String(raw.dropFirst()) : raw
        // "\r\n" is a single Character in Swift, so split on both forms (curl -i prints CRLF headers).
        var lines = normalized.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { line -> Substring in line.hasSuffix("\r") ? line.dropLast() : line }
        // A trailing "curl: (N) message" line is curl's own verdict on the transfer.
        var curlExit: Int?
        var curlMessage: String?
        while let last = lines.last, last.trimmedWhitespace().isEmpty { lines.removeLast() }
        if let last = lines.last, let (code, message) = parseCurlErrorLine(last) {
            curlExit = code
            curlMessage = message
            lines.removeLast()
        }

        if lines.contains(where: { $0.hasPrefix("< HTTP/") }) {
            var evidence = try parseVerbose(lines, source: source)
            evidence.provider = provider
            evidence.curlExit = evidence.curlExit ?? curlExit
            evidence.curlMessage = evidence.curlMessage ?? curlMessage
            return evidence
        }

        guard let first = lines.firstIndex(where: { isStatusLine($0) }) else {
            if let curlExit {
                return Evidence(kind: .curlExit, provider: provider, curlExit: curlExit, curlMessage: curlMessage)
            }
            throw InputError(.data, "no HTTP status line (like 'HTTP/1.1 401 Unauthorized') found; give the output of `curl -i`", place: "\(source):1")
        }
        var responses: [ResponseSnapshot] = []
        var index = first
        while index < lines.count {
            let (status, version, reason) = try parseStatusLine(lines[index], place: "\(source):\(index + 1)")
            index += 1
            var headers: [(name: String, value: String)] = []
            while index < lines.count, !lines[index].isEmpty {
                let line = lines[index]
                if line.first == " " || line.first == "\t", !headers.isEmpty {
                    headers[headers.count - 1].value += " " + line.trimmedWhitespace()
                } else if let colon = line.firstIndex(of: ":"), colon != line.startIndex {
                    let name = line[..<colon].trimmedWhitespace()
                    let value = line[line.index(after: colon)...].trimmedWhitespace()
                    headers.append((name, value))
                } else {
                    throw InputError(.data, "header line without ':' (\"\(Redactor.redact(String(line.prefix(60))))\")", place: "\(source):\(index + 1)")
                }
                index += 1
            }
            index += 1 // the blank line
            // Another status line right after: this response was a redirect or an interim answer.
            var next = index
            while next < lines.count, lines[next].isEmpty { next += 1 }
            if next < lines.count, isStatusLine(lines[next]) {
                responses.append(ResponseSnapshot(status: status, reason: reason, httpVersion: version, headers: headers))
                index = next
                continue
            }
            let body = index < lines.count ? lines[index...].joined(separator: "\n") : ""
            responses.append(ResponseSnapshot(status: status, reason: reason, httpVersion: version, headers: headers, body: body))
            break
        }
        return Evidence(kind: .response, provider: provider, responses: responses, curlExit: curlExit, curlMessage: curlMessage)
    }

    /// `curl -v`: "> " request lines, "< " response lines, "* " notes, the body unprefixed.
    static func parseVerbose(_ lines: [Substring], source: String) throws(InputError) -> Evidence {
        var request: RequestSnapshot?
        var responses: [ResponseSnapshot] = []
        var current: ResponseSnapshot?
        var bodyLines: [Substring] = []
        var host: String?
        for (offset, line) in lines.enumerated() {
            if line.hasPrefix("> ") {
                let content = line.dropFirst(2)
                if request == nil || (current != nil && content.split(separator: " ").count == 3 && content.contains("HTTP/")) {
                    if let done = current { responses.append(done); current = nil; bodyLines = [] }
                    let parts = content.split(separator: " ")
                    request = RequestSnapshot(method: parts.first.map(String.init) ?? "GET", url: parts.count > 1 ? String(parts[1]) : nil)
                } else if let colon = content.firstIndex(of: ":") {
                    let name = content[..<colon].trimmedWhitespace()
                    let value = content[content.index(after: colon)...].trimmedWhitespace()
                    request?.headers.append((name, value))
                    if name.lowercased() == "host" { host = value }
                }
            } else if line.hasPrefix("< ") {
                let content = line.dropFirst(2)
                if isStatusLine(content) {
                    if let done = current { responses.append(done) }
                    let (status, version, reason) = try parseStatusLine(content, place: "\(source):\(offset + 1)")
                    current = ResponseSnapshot(status: status, reason: reason, httpVersion: version)
                    bodyLines = []
                } else if let colon = content.firstIndex(of: ":") {
                    let name = content[..<colon].trimmedWhitespace()
                    let value = content[content.index(after: colon)...].trimmedWhitespace()
                    current?.headers.append((name, value))
                }
            } else if line.hasPrefix("* ") || line.hasPrefix("{ [") || line.hasPrefix("} [") || line == "<" || line == ">" {
                continue
            } else if current != nil {
                bodyLines.append(line)
            }
        }
        if var last = current {
            last.body = bodyLines.joined(separator: "\n")
            responses.append(last)
        }
        if var req = request, let path = req.url, path.hasPrefix("/"), let host {
            req.url = "https://\(host)\(path)"
            request = req
        }
        return Evidence(kind: .response, responses: responses, request: request, url: request?.url)
    }

    static func isStatusLine<S: StringProtocol>(_ line: S) -> Bool {
        guard line.hasPrefix("HTTP/") else { return false }
        let parts = line.split(separator: " ", maxSplits: 2)
        return parts.count >= 2 && parts[1].count == 3 && parts[1].allSatisfy(\.isNumber)
    }

    static func parseStatusLine<S: StringProtocol>(_ line: S, place: String) throws(InputError) -> (Int, String, String?) {
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]), (100...599).contains(status) else {
            throw InputError(.data, "invalid HTTP status line \"\(line.prefix(60))\"", place: place)
        }
        let version = String(parts[0].dropFirst(5))
        return (status, version, parts.count > 2 ? String(parts[2]) : nil)
    }

    /// "curl: (6) Could not resolve host: x" → (6, "Could not resolve host: x")
    public static func parseCurlErrorLine<S: StringProtocol>(_ line: S) -> (Int, String)? {
        let trimmed = line.trimmedWhitespace()
        guard trimmed.hasPrefix("curl: ("), let close = trimmed.firstIndex(of: ")") else { return nil }
        let digits = trimmed[trimmed.index(trimmed.startIndex, offsetBy: 7)..<close]
        // curl's exit codes are 1-99: "(-5)" or "(99999999999)" is text, not a code.
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count <= 2,
              let code = Int(digits), (1...99).contains(code) else { return nil }
        let message = trimmed[trimmed.index(after: close)...].trimmedWhitespace()
        return (code, message)
    }
}

import Foundation
