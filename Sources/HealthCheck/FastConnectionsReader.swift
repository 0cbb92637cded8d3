/// Reads the plain shape of a connections file without a YAML library:
///
/// ```yaml
/// connections:
///   - name: shop-ads
///     provider: facebook
///     client-id: "5550001112223"
///     base-url: {facebook: "http://127.0.0.1:8080"}
///     expect-scopes: [ads_read, business_management]
/// ```
///
/// Two-space list items, four-space keys, one `key: value` a line, values plain, quoted without
/// escapes, or a one-line `{...}` / `[...]`, `#` comments on lines of their own. Anything outside
/// that shape returns nil and the file is read by Yams instead, so this is only ever a faster way
/// to the same entries (a test holds the two equal).
enum FastConnectionsReader {
    typealias RawEntry = ConnectionsFile.RawEntry

    static func read(_ text: String) -> [RawEntry]? {
        var entries: [RawEntry] = []
        var current: RawEntry?
        var sawHeader = false
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = rawLine
            if line.last == "\r" { line = line.dropLast() }
            let content = line.drop { $0 == " " }
            if content.isEmpty || content.first == "#" { continue }
            if line.contains("\t") { return nil }
            if !sawHeader {
                guard trimmingTrailingSpaces(line) == "connections:" else { return nil }
                sawHeader = true
                continue
            }
            let field: Substring
            let column: Int
            if line.hasPrefix("  - ") {
                if let current { entries.append(current) }
                current = RawEntry(line: lineNumber, fields: [])
                field = line.dropFirst(4)
                column = 4
            } else if line.hasPrefix("    "), line.dropFirst(4).first != " " {
                guard current != nil else { return nil }
                field = line.dropFirst(4)
                column = 4
            } else {
                return nil
            }
            _ = column
            guard let parsed = parseField(field, line: lineNumber) else { return nil }
            // A key given twice: Yams says so for the whole file.
            if current!.fields!.contains(where: { $0.key == parsed.key }) { return nil }
            current!.fields!.append(parsed)
        }
        guard sawHeader else { return nil }
        if let current { entries.append(current) }
        return entries
    }

    static func trimmingTrailingSpaces(_ s: Substring) -> Substring {
        var s = s
        while s.last == " " { s = s.dropLast() }
        return s
    }

    static func isKeyCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_")
    }

    /// `key: value` with a key of letters, digits, '-' and '_'.
    static func parseField(_ text: Substring, line: Int) -> RawEntry.Field? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let key = text[..<colon]
        guard !key.isEmpty, key.allSatisfy(isKeyCharacter) else { return nil }
        let afterColon = text[text.index(after: colon)...]
        guard afterColon.first == " " else { return nil }
        let valueText = trimmingTrailingSpaces(afterColon.drop { $0 == " " })
        guard let value = parseValue(valueText) else { return nil }
        return RawEntry.Field(key: String(key), keyLine: line, value: value, valueLine: line)
    }

    static func parseValue(_ text: Substring) -> RawEntry.Value? {
        guard let first = text.first else { return nil }
        switch first {
        case "{":
            guard text.last == "}" else { return nil }
            let inner = text.dropFirst().dropLast()
            var pairs: [(name: String?, value: String?)] = []
            for part in inner.split(separator: ",", omittingEmptySubsequences: false) {
                let item = trimmingTrailingSpaces(part.drop { $0 == " " })
                guard let colon = item.firstIndex(of: ":") else { return nil }
                let name = item[..<colon]
                let rest = item[item.index(after: colon)...]
                guard rest.first == " ", let key = scalar(name), let value = scalar(trimmingTrailingSpaces(rest.drop { $0 == " " })) else {
                    return nil
                }
                pairs.append((key, value))
            }
            return .map(pairs)
        case "[":
            guard text.last == "]" else { return nil }
            let inner = text.dropFirst().dropLast()
            if inner.allSatisfy({ $0 == " " }) { return .list([]) }
            var items: [String?] = []
            for part in inner.split(separator: ",", omittingEmptySubsequences: false) {
                guard let item = scalar(trimmingTrailingSpaces(part.drop { $0 == " " })) else { return nil }
                items.append(item)
            }
            return .list(items)
        default:
            return scalar(text).map(RawEntry.Value.scalar)
        }
    }

    /// A plain scalar, or a quoted one without escapes; nil for anything YAML would read otherwise.
    static func scalar(_ text: Substring) -> String? {
        guard let first = text.first else { return nil }
        if first == "\"" || first == "'" {
            guard text.count >= 2, text.last == first else { return nil }
            let inner = text.dropFirst().dropLast()
            if inner.contains(first) || (first == "\"" && inner.contains("\\")) { return nil }
            return String(inner)
        }
        // Characters that start something else in YAML (anchors, tags, block scalars, flow, ...).
        if "&*!|>%@`-?:,[]{}#\"'".contains(first) { return nil }
        // A comment or a nested mapping inside the value, or flow characters: leave them to Yams.
        var previous: Character = " "
        for c in text {
            if c == "#" && previous == " " { return nil }
            if previous == ":" && c == " " { return nil }
            if "{}[],".contains(c) { return nil }
            previous = c
        }
        if previous == ":" { return nil }
        return String(text)
    }
}

/// Whether a text takes the fast path (tests).
public enum FastConnectionsProbe {
    public static func readsFast(_ text: String) -> Bool { FastConnectionsReader.read(text) != nil }
}
