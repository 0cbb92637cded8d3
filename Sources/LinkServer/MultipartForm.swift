import Foundation

/// `multipart/form-data` (RFC 7578) as the console's paste form sends it: named fields and at most
/// a few uploaded files, read from a body already bounded in size. Nothing is written anywhere.
enum MultipartForm {
    struct Part: Sendable {
        var name: String
        var filename: String?
        var data: [UInt8]

        var text: String { String(decoding: data, as: UTF8.self) }
    }

    /// The boundary of a `multipart/form-data` Content-Type, or nil.
    static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = parts.first, type.lowercased() == "multipart/form-data" else { return nil }
        for parameter in parts.dropFirst() {
            guard let equals = parameter.firstIndex(of: "="), parameter[..<equals].lowercased() == "boundary" else { continue }
            var value = String(parameter[parameter.index(after: equals)...])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return (1...70).contains(value.utf8.count) ? value : nil
        }
        return nil
    }

    /// The parts, or nil when the body is not well formed.
    static func parse(_ body: [UInt8], boundary: String) -> [Part]? {
        let delimiter = Array(("--" + boundary).utf8)
        var positions: [Int] = []
        var from = 0
        while let found = find(delimiter, in: body, from: from) {
            positions.append(found)
            from = found + delimiter.count
        }
        guard positions.count >= 2 else { return nil }
        var parts: [Part] = []
        for (start, end) in zip(positions, positions.dropFirst()) {
            var cursor = start + delimiter.count
            // After the delimiter: CRLF, then the part's headers.
            guard cursor + 1 < body.count, body[cursor] == 13, body[cursor + 1] == 10 else { return nil }
            cursor += 2
            guard let headerEnd = find([13, 10, 13, 10], in: body, from: cursor), headerEnd <= end else { return nil }
            let headers = String(decoding: body[cursor..<headerEnd], as: UTF8.self)
            // The content ends with the CRLF that precedes the next delimiter.
            let contentEnd = end - 2
            let contentStart = headerEnd + 4
            guard contentEnd >= contentStart, body[contentEnd] == 13, body[contentEnd + 1] == 10 else { return nil }
            var name: String?, filename: String?
            for line in headers.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
                name = parameter("name", in: line)
                filename = parameter("filename", in: line)
            }
            guard let name else { return nil }
            parts.append(Part(name: name, filename: filename, data: Array(body[contentStart..<contentEnd])))
        }
        // The last delimiter closes the body: `--boundary--`.
        let last = positions.last! + delimiter.count
        guard last + 1 < body.count, body[last] == UInt8(ascii: "-"), body[last + 1] == UInt8(ascii: "-") else { return nil }
        return parts
    }

    /// `name="value"` in a Content-Disposition line (quoted, as browsers send it).
    static func parameter(_ key: String, in line: String) -> String? {
        for piece in line.split(separator: ";").dropFirst() {
            let trimmed = piece.trimmingCharacters(in: .whitespaces)
            guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals].lowercased() == key else { continue }
            var value = String(trimmed[trimmed.index(after: equals)...])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.replacingOccurrences(of: "%22", with: "\"")
        }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard let first = needle.first, needle.count <= haystack.count else { return nil }
        var i = from
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
