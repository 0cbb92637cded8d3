import ArgumentParser
import EvidenceModel
import Foundation
import Links
import RuleEngine

/// `--db PATH|URL` and `--db-password-env NAME`, shared by every command that uses the link store
/// (links, connections, serve, check, history, store).
package struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp(
        "The link store: a SQLite file (made on first use) or a PostgreSQL URL postgres://USER@HOST:PORT/DB?sslmode=... shared by a team. Default: $AUTHDOCTOR_DB, else $XDG_DATA_HOME/authdoctor/authdoctor.sqlite, else ~/.local/share/authdoctor/authdoctor.sqlite. Provider tokens in it are encrypted with $AUTHDOCTOR_KEY (required for PostgreSQL), else with authdoctor.key beside the SQLite file (made on first use, mode 0600).",
        valueName: "PATH|URL"))
    var databasePath: String?

    @Option(name: .customLong("db-password-env"), help: ArgumentHelp(
        "PostgreSQL: the variable holding the password (else libpq reads PGPASSWORD or ~/.pgpass). Never put it in the URL.",
        valueName: "NAME"))
    var passwordVariable: String?

    package init() {}

    /// Any backend: both keep the notification settings.
    func openNotificationStore() throws -> any NotificationStore {
        let store = try open()
        guard let notifying = store as? any NotificationStore else {
            throw InputError(.usage, "this store keeps no notification settings")
        }
        return notifying
    }

    package func open() throws(InputError) -> any AuthDoctorStore {
        try StoreLocation.open(path: databasePath, passwordVariable: passwordVariable)
    }

    /// For commands that only read: never creates anything, needs no key; a missing store is 66.
    func openReadOnly() throws(InputError) -> any AuthDoctorStore {
        try StoreLocation.openReadOnly(path: databasePath, passwordVariable: passwordVariable)
    }

    /// Whether a store was named (flag or AUTHDOCTOR_DB is not consulted here).
    var isGiven: Bool { databasePath != nil }
}

/// text or json: what the store commands print.
enum StoreOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Store calls with their failures as one-line errors (SQLite's name the file).
package enum StoreCall {
    package static func run<T>(_ store: any AuthDoctorStore, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            if let input = StoreLocation.inputError(for: error, path: store.location) { throw input }
            throw error
        }
    }
}

/// The bits of the link commands that are not argument parsing.
package enum LinkText {
    static func parseTTL(_ text: String) -> TimeInterval? { LinkIssuing.parseTTL(text) }

    static func describeTTL(_ seconds: TimeInterval) -> String { LinkIssuing.describeTTL(seconds) }

    /// The providers a link may ask for, from the provider definitions (built in).
    static func sourceCatalog() throws(InputError) -> LinkSourceCatalog {
        sourceCatalog(try ProviderLibrary.load().0)
    }

    package static func sourceCatalog(_ definitions: [String: ProviderDefinition]) -> LinkSourceCatalog {
        LinkSourceCatalog(known: Set(definitions.keys), withOAuth: Set(definitions.values.filter { $0.oauth != nil }.map(\.id)))
    }

    static let defaultPublicURL = "http://127.0.0.1:8080"
    static let publicURLVariable = "AUTHDOCTOR_PUBLIC_URL"

    /// The base of link URLs: an absolute http(s) URL with a host, no query or fragment; the
    /// trailing slash is dropped (a path prefix such as https://example.com/authdoctor is kept).
    static func publicURL(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(InputError) -> String {
        let (text, origin): (String, String)
        if let flag {
            (text, origin) = (flag, "--public-url")
        } else if let value = environment[publicURLVariable], !value.isEmpty {
            (text, origin) = (value, publicURLVariable)
        } else {
            return defaultPublicURL
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty, components.query == nil, components.fragment == nil,
              components.user == nil, components.password == nil else {
            throw InputError(origin == "--public-url" ? .usage : .config,
                             "\(origin) must be an http(s) URL with a host and no query, e.g. https://links.example.com")
        }
        var base = text
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    static func url(base: String, token: String) -> String { LinkIssuing.url(base: base, token: token) }

    static func iso(_ date: Date) -> String { LinkJSON.iso(date) }

    static func iso(_ date: Date?) -> JSONValue { LinkJSON.iso(date) }

    /// `2026-11-24 12:00Z` for tables.
    static func short(_ date: Date?) -> String {
        guard let date else { return "-" }
        let text = iso(date)
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(5)) + "Z"
    }

    /// `2026-11-24 12:00:07Z`: to the second (several runs a minute stay apart).
    static func seconds(_ date: Date?) -> String {
        guard let date else { return "-" }
        let text = iso(date)
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(8)) + "Z"
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s.padding(toLength: width + 1, withPad: " ", startingAt: 0)
    }

    /// Text safe for a terminal (control characters and bidirectional overrides become `?`).
    static func safe(_ s: String) -> String { DisplayText.safe(s) }

    /// Rows as aligned columns (the last column is not padded); every cell made `safe`.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows.map { $0.map(safe) }
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $0.offset == row.count - 1 ? $0.element : pad($0.element, widths[$0.offset]) }.joined()
        }.joined(separator: "\n") + "\n"
    }

    static func linkJSON(_ link: AuthorizationLink, now: Date, connections: [StoredConnection]?) -> JSONValue {
        LinkJSON.link(link, now: now, connections: connections)
    }

    static func connectionJSON(_ c: StoredConnection) -> JSONValue { LinkJSON.connection(c) }

    /// The sources a link connected: active ones by name, pending ones marked, removed ones left out.
    static func connectedSources(_ connections: [StoredConnection]) -> String {
        let live = connections.filter { $0.status != .removed }
        if live.isEmpty { return "-" }
        return live.map { $0.status == .pending ? $0.provider + " (pending)" : $0.provider }.joined(separator: ", ")
    }

    static func json(_ value: JSONValue) -> String { JSONWriter.serialize(value) + "\n" }
}
