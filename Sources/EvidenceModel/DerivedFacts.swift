import Foundation

/// Facts that remediation steps quote, read from the evidence's own words after everything else:
/// the IP address a network policy refused (`network.refused_ip`) and the provider permission an
/// error names as denied (`permissions.denied`, e.g. `bigquery.tables.create`).
enum DerivedFacts {
    static let refusedIP = try! NSRegularExpression(
        pattern: #"(?i)\b(?:IP(?:/Token)?|IP address|client IP(?: address)?|address)\s+['"]?((?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})['"]?\s+(?:is\s+)?not\s+(?:allowed|permitted|authori[sz]ed|whitelisted|in the allow)"#)
    static let deniedPermission = try! NSRegularExpression(
        pattern: #"(?i)(?:permission\s+['"`]?([a-z][a-z0-9]*\.[a-z][a-zA-Z0-9]*\.[a-z][a-zA-Z0-9]*)['"`]?\s+denied|does not have\s+['"`]?([a-z][a-z0-9]*\.[a-z][a-zA-Z0-9]*\.[a-z][a-zA-Z0-9]*)['"`]?\s+permission|permission\s+denied\s+for\s+['"`]?([a-z][a-z0-9]*\.[a-z][a-zA-Z0-9]*\.[a-z][a-zA-Z0-9]*))"#)

    static let not = Array("not ".utf8), permission = Array("permission".utf8)

    static func add(into facts: inout Facts) {
        var texts: [String] = []
        for name in ["message", "text", "body.message", "body.error.message"] {
            if let s = facts.string(name), !texts.contains(s) { texts.append(s) }
        }
        guard !texts.isEmpty else { return }
        for text in texts {
            // Byte searches on ASCII-lowered bytes: Foundation's String.contains bridged every
            // message to UTF-16 (a twentieth of `classify --batch`).
            let lowered = ByteSearch.lowered(text)
            let mentions = { (word: [UInt8]) in lowered.withUnsafeBufferPointer { ByteSearch.contains($0, word) } }
            if facts["network.refused_ip"] == nil, mentions(Self.not), let ip = first(refusedIP, in: text) {
                facts.set("network.refused_ip", ip)
            }
            if facts["permissions.denied"] == nil, mentions(Self.permission), let permission = first(deniedPermission, in: text) {
                facts.set("permissions.denied", permission)
            }
        }
    }

    static func first(_ regex: NSRegularExpression, in text: String) -> String? {
        let range = NSRange(location: 0, length: min(text.utf16.count, 16_384))
        guard let match = regex.firstMatch(in: text, options: [], range: range) else { return nil }
        for group in 1..<match.numberOfRanges {
            let r = match.range(at: group)
            if r.location != NSNotFound, let swiftRange = Range(r, in: text) { return String(text[swiftRange]) }
        }
        return nil
    }
}
