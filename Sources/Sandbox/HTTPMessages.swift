// HTTP/1.1 requests as the Sandbox reads them and responses as it writes them.

import EvidenceModel
import Foundation

/// One request read from a connection.
struct HTTPRequest {
    var method: String
    /// The request target as sent ("/v19.0/me?fields=id").
    var target: String
    var version: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// The path without query or fragment, with repeated slashes folded ("//v19.0/me" → "/v19.0/me",
    /// which a base URL ending in "/" produces).
    var path: String {
        var path = target
        if let cut = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = String(path[..<cut]) }
        if path.hasPrefix("http://") || path.hasPrefix("https://") {
            // absolute-form target (a proxy-style request): keep only the path
            let afterScheme = path.index(path.firstIndex(of: ":")!, offsetBy: 3)
            path = path[afterScheme...].firstIndex(of: "/").map { String(path[$0...]) } ?? "/"
        }
        while path.contains("//") { path = path.replacingOccurrences(of: "//", with: "/") }
        return path.isEmpty ? "/" : path
    }

    /// The query's name/value pairs, percent-decoded, in order.
    var query: [(name: String, value: String)] {
        guard let mark = target.firstIndex(of: "?") else { return [] }
        var query = target[target.index(after: mark)...]
        if let hash = query.firstIndex(of: "#") { query = query[..<hash] }
        return FormEncoding.decode(query)
    }

    /// The body's name/value pairs when it is `application/x-www-form-urlencoded`.
    var form: [(name: String, value: String)] {
        guard let type = header("content-type")?.lowercased(), type.hasPrefix("application/x-www-form-urlencoded") else { return [] }
        return FormEncoding.decode(Substring(String(decoding: body, as: UTF8.self)))
    }

    /// The client asked to close the connection after this answer (or speaks HTTP/1.0 without keep-alive).
    var wantsClose: Bool {
        let connection = header("connection")?.lowercased() ?? ""
        if connection.contains("close") { return true }
        return version == "HTTP/1.0" && !connection.contains("keep-alive")
    }
}

/// `application/x-www-form-urlencoded` and query strings.
enum FormEncoding {
    static func decode(_ text: Substring) -> [(name: String, value: String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecode(parts[0]), parts.count > 1 ? percentDecode(parts[1]) : "")
        }
    }

    /// A malformed escape is kept as written. In query strings and form bodies "+" is a space;
    /// in a path it is a plus (`plusIsSpace: false`).
    static func percentDecode(_ text: Substring, plusIsSpace: Bool = true) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        let utf8 = Array(text.utf8)
        var i = 0
        while i < utf8.count {
            let byte = utf8[i]
            if byte == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), i + 2 < utf8.count, let high = hexValue(utf8[i + 1]), let low = hexValue(utf8[i + 2]) {
                bytes.append(high << 4 | low)
                i += 2
            } else {
                bytes.append(byte)
            }
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A complete answer: written with an HTTP/1.1 status line and a Content-Length of its body.
struct HTTPResponse {
    var status: Int
    var reason: String?
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// Headers a recorded answer cannot keep: the framing is the Sandbox's own (Content-Length
    /// recomputed, no chunking), the recorded body is already decoded text, and the connection is ours.
    static let framingHeaders: Set<String> = ["content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive"]

    init(status: Int, reason: String? = nil, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    /// A fixture's answer, as recorded apart from its framing headers.
    init(replaying recorded: ResponseSnapshot) {
        self.init(status: recorded.status, reason: recorded.reason,
                  headers: recorded.headers.filter { !Self.framingHeaders.contains($0.name.lowercased()) },
                  body: Array(recorded.body.utf8))
    }

    static func json(_ status: Int, _ object: [(String, JSONValue)], headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")] + headers,
                     body: Array(JSONWriter.serialize(.object(object)).utf8))
    }

    /// 1xx, 204 and 304 answers carry no body and no Content-Length.
    private var bodyless: Bool { (100..<200).contains(status) || status == 204 || status == 304 }

    /// The bytes on the wire. `headOnly` for HEAD requests (Content-Length still says what GET would send).
    func serialized(headOnly: Bool = false, closing: Bool = false) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(reason.flatMap { $0.isEmpty ? nil : $0 } ?? Self.reasonPhrase(status))\r\n"
        for header in headers where !Self.framingHeaders.contains(header.name.lowercased()) {
            head += "\(header.name): \(header.value)\r\n"
        }
        if !bodyless { head += "Content-Length: \(body.count)\r\n" }
        if closing { head += "Connection: close\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if !headOnly && !bodyless { bytes += body }
        return bytes
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 413: return "Content Too Large"
        case 421: return "Misdirected Request"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status \(status)"
        }
    }
}
