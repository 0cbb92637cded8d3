import EvidenceModel
import Diagnose
import Foundation
import YAMLSupport
import Yams

/// One connection to check: its name, where it came from, and its settings — or why the entry
/// cannot be used (it is then reported UNKNOWN, and the others still run).
public struct ConnectionEntry: Sendable {
    public var index: Int
    public var name: String
    /// 1-based line of the entry in its file (0 when not from a file).
    public var line: Int
    public var settings: ConnectionSettings
    /// The first problem of a bad entry: "entry 'shop-ads' (line 12): field 'timeout': ...".
    public var problem: String?
    /// A diagnosis already planned by the source (the Sandbox's demo connections; stored
    /// connections whose credentials the store decrypts); `settings` then only names the provider.
    public var prepared: ConnectionSettings.Plan?
    /// The store's id of a connection made through a link (`StoredConnections`); nil for a file's.
    /// Renewed tokens of a stored connection go back to its record, a file connection's to
    /// the store's renewed tokens under its name.
    public var storedConnectionID: String?
    /// Set when the store this entry needs (PostgreSQL, down or restarting) could not be reached:
    /// the entry is reported UNKNOWN with this reason and not diagnosed.
    public var storeUnavailable: String?

    public init(index: Int, name: String, line: Int = 0, settings: ConnectionSettings, problem: String? = nil,
                prepared: ConnectionSettings.Plan? = nil) {
        self.prepared = prepared
        self.index = index
        self.name = name
        self.line = line
        self.settings = settings
        self.problem = problem
    }

    /// How errors name the entry: its name and line, or its position when it has no name.
    public var label: String {
        let who = name.hasPrefix("#") ? "entry \(name)" : "entry '\(name)'"
        return line > 0 ? "\(who) (line \(line))" : who
    }
}

/// A source of connections to check: a connections file (`ConnectionsFile`), the store (`StoredConnections`).
public protocol ConnectionSource {
    /// Every connection, bad entries included (they carry `problem`). Throws when the source as a
    /// whole cannot be read (a file that is not YAML, has no `connections:` list).
    func connections() throws(InputError) -> [ConnectionEntry]
}

/// `--connections FILE.yaml`:
///
/// ```yaml
/// connections:
///   - name: shop-ads
///     provider: facebook
///     token-env: SHOP_FB_TOKEN
///     client-id: "5550001112223"
///     client-secret-env: FB_APP_SECRET
///     base-url: {facebook: "http://127.0.0.1:8080"}
/// ```
///
/// Every entry takes `name` and the names of diagnose's flags (`ConnectionSettings.keys`).
public struct ConnectionsFile: ConnectionSource {
    public var path: String
    public var text: String
    /// What an entry starts from: the command's `--timeout` and `--warn-expiry`.
    public var defaults: ConnectionSettings
    /// Read plain files without Yams (`FastConnectionsReader`); off only to compare the two.
    public var fastReader = true

    public init(path: String, text: String, defaults: ConnectionSettings = ConnectionSettings()) {
        self.path = path
        self.text = text
        self.defaults = defaults
    }

    /// Reads the file (missing or unreadable: sysexits 66; not UTF-8: 65).
    public static func load(path: String, defaults: ConnectionSettings = ConnectionSettings()) throws(InputError) -> ConnectionsFile {
        // '-' is standard input; pipes, FIFOs and `<(...)` read like files.
        let data = try SystemIO.readFile(path, noun: "connections file")
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(.data, "the connections file is not UTF-8 text", place: path)
        }
        return ConnectionsFile(path: path, text: text, defaults: defaults)
    }

    public func connections() throws(InputError) -> [ConnectionEntry] {
        // Most files are plain lists of `key: value` lines; those are read without building a YAML
        // node tree (a tenth of the time and memory for 50,000 entries). Anything else goes to Yams.
        // Each entry is checked as the reader finishes it: the file is never held as a list of
        // raw entries besides the checked ones.
        if fastReader {
            var builder = EntryList(defaults: defaults)
            builder.entries.reserveCapacity(FastConnectionsReader.itemCount(text))
            if FastConnectionsReader.read(text, each: { builder.add($0) }) { return builder.entries }
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, .basic)
        } catch {
            throw InputError(.data, "not YAML: " + YAMLProblems.oneLine(error), place: "\(path):\(YAMLProblems.line(of: error))")
        }
        guard let root, let map = root.mapping else {
            throw InputError(.data, "expected a mapping with a 'connections:' list", place: path)
        }
        var list: Node?
        for (key, value) in map {
            let name = key.scalar?.string ?? ""
            guard name == "connections" else {
                throw InputError(.data, "unknown key '\(name)'\(Suggestion.hint(name, among: ["connections"])) (a connections file has only 'connections:')", place: "\(path):\(line(key))")
            }
            list = value
        }
        guard let list else { throw InputError(.data, "no 'connections:' list", place: path) }
        if let empty = list.scalar?.string, ["", "~", "null"].contains(empty) { return [] }
        guard let items = list.sequence else {
            throw InputError(.data, "'connections' must be a list of entries", place: "\(path):\(line(list))")
        }
        return entries(items.enumerated().lazy.map { ($0.offset, RawEntry($0.element)) })
    }

    /// Checks every entry; a name used twice makes the later entry bad.
    func entries<S: Sequence>(_ raws: S) -> [ConnectionEntry] where S.Element == (Int, RawEntry) {
        var builder = EntryList(defaults: defaults)
        for (_, raw) in raws { builder.add(raw) }
        return builder.entries
    }

    /// The checked entries, one raw entry at a time, in file order.
    struct EntryList {
        let defaults: ConnectionSettings
        var entries: [ConnectionEntry] = []
        var seen: [String: Int] = [:]
        /// Base-URL maps already seen, so entries pointing at the same servers share one copy (a
        /// file of many connections against one stand-in repeats the same map in every entry).
        var baseURLMaps: [String: [(name: String, url: String)]] = [:]
        static let baseURLMapsKept = 1024

        /// Spelling hints by unknown field name: a file can repeat one unknown field in every entry.
        let hints = UnknownFieldHints()

        init(defaults: ConnectionSettings) { self.defaults = defaults }

        mutating func add(_ raw: RawEntry) {
            var entry = ConnectionsFile.entry(raw, index: entries.count, defaults: defaults, hints: hints)
            if !entry.settings.baseURLs.isEmpty {
                let key = entry.settings.baseURLs.map { $0.name + "\u{0}" + $0.url }.joined(separator: "\u{0}\u{0}")
                if let shared = baseURLMaps[key] {
                    entry.settings.baseURLs = shared
                } else if baseURLMaps.count < Self.baseURLMapsKept {
                    baseURLMaps[key] = entry.settings.baseURLs
                }
            }
            if entry.problem == nil, let first = seen[entry.name] {
                entry.problem = "\(entry.label): field 'name': '\(entry.name)' is already the name of the entry at line \(first)"
            }
            if seen[entry.name] == nil { seen[entry.name] = entry.line }
            entries.append(entry)
        }
    }

    private func line(_ node: Node) -> Int { Self.line(node) }
    static func line(_ node: Node) -> Int { node.mark?.line ?? 0 }

    /// Lookup of the text keys by name, built once.
    nonisolated(unsafe) static let textKeyPaths: [String: WritableKeyPath<ConnectionSettings, String?>] = {
        var out: [String: WritableKeyPath<ConnectionSettings, String?>] = [:]
        for entry in ConnectionSettings.textKeys { out[entry.key] = entry.path }
        return out
    }()
    static let kinds: [String: ConnectionSettings.ValueKind] = {
        var out: [String: ConnectionSettings.ValueKind] = [:]
        for entry in ConnectionSettings.keys { out[entry.key] = entry.kind }
        return out
    }()
    /// diagnose flags that make no sense per connection, with what to do instead.
    static let commandOnly: [String: String] = [
        "format": "the output format is the command's (--format)",
        "sandbox": "give --sandbox to the command",
        "show-facts": "facts are shown by diagnose only",
        "rules": "give --rules to the command", "no-builtin-rules": "give --no-builtin-rules to the command",
        "providers": "give --providers to the command",
    ]

    /// One entry, checked field by field; the first problem makes it a bad entry.
    /// One entry as read, before its fields are checked: from Yams's node tree, or from
    /// `FastConnectionsReader` for the plain shape most files have.
    struct RawEntry {
        enum Value {
            case scalar(String)
            case map([(name: String?, value: String?)])
            case list([String?])
            case other
        }
        struct Field {
            var key: String?
            var keyLine: Int
            var value: Value
            var valueLine: Int
        }
        var line: Int
        /// nil when the entry is not a mapping.
        var fields: [Field]?

        init(line: Int, fields: [Field]?) {
            self.line = line
            self.fields = fields
        }

        init(_ node: Node) {
            line = ConnectionsFile.line(node)
            guard let map = node.mapping else { fields = nil; return }
            fields = map.map { key, value in
                let raw: Value
                if let scalar = value.scalar {
                    raw = .scalar(scalar.string)
                } else if let pairs = value.mapping {
                    raw = .map(pairs.map { ($0.key.scalar?.string, $0.value.scalar?.string) })
                } else if let items = value.sequence {
                    raw = .list(items.map { $0.scalar?.string })
                } else {
                    raw = .other
                }
                return Field(key: key.scalar?.string, keyLine: ConnectionsFile.line(key), value: raw, valueLine: ConnectionsFile.line(value))
            }
        }
    }

    static func entry(_ node: Node, index: Int, defaults: ConnectionSettings) -> ConnectionEntry {
        entry(RawEntry(node), index: index, defaults: defaults)
    }

    /// One entry, checked field by field; the first problem makes it a bad entry.
    static func entry(_ raw: RawEntry, index: Int, defaults: ConnectionSettings, hints: UnknownFieldHints = UnknownFieldHints()) -> ConnectionEntry {
        var entry = ConnectionEntry(index: index, name: "#\(index + 1)", line: raw.line, settings: defaults)
        guard let fields = raw.fields else {
            entry.problem = "\(entry.label): expected a mapping of settings (name, provider, token-env, ...)"
            return entry
        }
        let nameField = fields.first { $0.key == "name" }
        if let nameField {
            if case let .scalar(name) = nameField.value, !name.isEmpty,
               !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                entry.name = name
            } else {
                entry.problem = "\(entry.label): field 'name': expected a non-empty one-line text"
                return entry
            }
        }
        // Only an entry's first problem is kept: the others' messages (a spelling hint among every
        // key) are never worked out.
        func fail(_ field: String, _ at: Int, _ message: @autoclosure () -> String) {
            if entry.problem == nil {
                let place = at > 0 && at != entry.line ? " (line \(at))" : ""
                entry.problem = "\(entry.label): field '\(field)'\(place): \(message())"
            }
        }
        if nameField == nil {
            entry.problem = "\(entry.label): field 'name': missing (every connection needs a name)"
        }
        for field in fields {
            let line = field.valueLine
            guard let key = field.key else { fail("?", field.keyLine, "a key must be text"); continue }
            if key == "name" { continue }
            guard let kind = kinds[key] else {
                if let why = commandOnly[key] {
                    fail(key, field.keyLine, "not a per-connection setting (\(why))")
                } else {
                    fail(key, field.keyLine, hints.message(forUnknownField: key))
                }
                continue
            }
            var scalar: String?
            if case let .scalar(text) = field.value { scalar = text }
            switch kind {
            case .text, .environmentVariable, .file:
                if key == "expect-scopes", case let .list(items) = field.value {
                    entry.settings.expectScopes = items.compactMap { $0 }.joined(separator: ",")
                    continue
                }
                guard let text = scalar else { fail(key, line, "expected a text value"); continue }
                if text.isEmpty { fail(key, line, "empty"); continue }
                if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                    fail(key, line, "holds a line break or control character"); continue
                }
                if kind == .environmentVariable, !text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
                    fail(key, line, "not an environment variable name (letters, digits, '_'); the secret itself never goes in this file")
                    continue
                }
                if kind == .file && text == "-" { fail(key, line, "standard input cannot serve many connections: name a file"); continue }
                entry.settings[keyPath: textKeyPaths[key]!] = text
            case .number:
                guard let text = scalar, let number = Double(text), number.isFinite else {
                    fail(key, line, "expected a number, not '\(scalar ?? "a list or mapping")'"); continue
                }
                if key == "port" {
                    guard let port = Int(text), (1...65535).contains(port) else { fail(key, line, "expected a port 1-65535, not '\(text)'"); continue }
                    entry.settings.port = port
                } else {
                    guard NumberInput.Range.timeout.contains(number) else { fail(key, line, "must be \(NumberInput.Range.timeout.wording), not \(text)"); continue }
                    entry.settings.timeout = number
                }
            case .duration:
                guard let text = scalar else { fail(key, line, "expected a duration such as 7d, 36h, 90m or 3600"); continue }
                guard let seconds = NumberInput.seconds(text) else {
                    fail(key, line, "expected a duration such as 7d, 36h, 90m or 3600, not '\(text)'")
                    continue
                }
                guard NumberInput.Range.warnExpiry.contains(seconds) else {
                    fail(key, line, "must be \(NumberInput.Range.warnExpiry.wording), not '\(text)'")
                    continue
                }
                entry.settings.warnExpiry = text
            case .baseURLMap:
                switch field.value {
                case let .map(pairs):
                    for (name, url) in pairs {
                        guard let name, !name.isEmpty, let url, !url.isEmpty else {
                            fail(key, line, "expected NAME: URL pairs, e.g. {facebook: \"http://127.0.0.1:8080\"}"); break
                        }
                        entry.settings.baseURLs.append((name, url))
                    }
                case let .scalar(text):
                    guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                        fail(key, line, "expected a mapping {NAME: URL}, e.g. {facebook: \"http://127.0.0.1:8080\"}"); break
                    }
                    entry.settings.baseURLs.append((String(text[..<eq]), String(text[text.index(after: eq)...])))
                case let .list(items):
                    for item in items {
                        guard let text = item, let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                            fail(key, line, "expected NAME=URL items or a {NAME: URL} mapping"); break
                        }
                        entry.settings.baseURLs.append((String(text[..<eq]), String(text[text.index(after: eq)...])))
                    }
                case .other:
                    fail(key, line, "expected a mapping {NAME: URL}, e.g. {facebook: \"http://127.0.0.1:8080\"}")
                }
            }
        }
        if entry.problem == nil, entry.settings.provider == nil, let first = fields.first {
            fail("provider", first.keyLine, "missing (which provider to probe: facebook, google, hubspot, ...)")
        }
        if entry.problem == nil {
            do { try entry.settings.validateExclusions() } catch {
                entry.problem = "\(entry.label): " + error.message.replacingOccurrences(of: "--", with: "")
            }
        }
        return entry
    }
}

/// The message for an unknown field, worked out once per field name in a file.
final class UnknownFieldHints {
    private var messages: [String: String] = [:]

    func message(forUnknownField key: String) -> String {
        if let known = messages[key] { return known }
        let hint = key.hasPrefix("--") ? " (write it without the leading '--')"
            : Suggestion.hint(key, among: ConnectionSettings.keys.map(\.key) + ConnectionsFile.commandOnly.keys.sorted())
        let message = "unknown field\(hint); a connection takes name and diagnose's flag names: "
            + ConnectionSettings.keys.map(\.key).joined(separator: ", ")
        if messages.count < 256 { messages[key] = message }
        return message
    }
}
