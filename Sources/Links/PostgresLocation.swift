import CLibPQ
import EvidenceModel
import Foundation

/// A `--db` / `AUTHDOCTOR_DB` value: a SQLite file path, or a PostgreSQL URL.
public enum StoreTarget: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// `postgres://` or `postgresql://` is PostgreSQL; any other `scheme://` (and a `postgres:`
    /// value that is no URL) is refused (64) rather than taken for a file name; the rest is a path.
    public static func parse(_ value: String, passwordVariable: String? = nil,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(InputError) -> StoreTarget {
        guard !value.isEmpty else { throw InputError(.usage, "--db needs a file path or a postgres:// URL") }
        let lower = value.lowercased()
        if lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") {
            return .postgres(try PostgresLocation(url: value, passwordVariable: passwordVariable, environment: environment))
        }
        if passwordVariable != nil { throw InputError(.usage, "--db-password-env is for a postgres:// store; a SQLite file has no password") }
        if lower.hasPrefix("postgres:") || lower.hasPrefix("postgresql:") {
            throw InputError(.usage, "--db: a PostgreSQL store is given as postgres://USER@HOST:PORT/DB (with ?sslmode=... if needed)")
        }
        if let range = value.range(of: "://") {
            let scheme = value[..<range.lowerBound]
            if let first = scheme.first, first.isLetter, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) {
                throw InputError(.usage, "--db: '\(Redactor.redact(String(scheme)))://' is not a supported store; give a file path (SQLite) or a postgres:// URL")
            }
        }
        return .sqlite(path: value)
    }
}

/// Where a PostgreSQL store is: the URL (never with a password in it) and, at most, a password
/// taken from the variable `--db-password-env` names. Otherwise libpq finds the password itself in
/// PGPASSWORD or ~/.pgpass (PGPASSFILE).
public struct PostgresLocation: Sendable, Equatable {
    public let url: String
    /// `postgres://user@host:port/db`: for messages and listings.
    public let display: String
    let password: String?

    public static func == (a: PostgresLocation, b: PostgresLocation) -> Bool { a.url == b.url && a.password == b.password }

    public init(url: String, passwordVariable: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws(InputError) {
        if let problem = cpq_load_problem() { throw InputError(.unavailable, String(cString: problem)) }
        var error: UnsafeMutablePointer<CChar>?
        guard let options = libpq.PQconninfoParse(url, &error) else {
            let message = error.map { String(cString: $0).trimmedWhitespace() } ?? "not a connection URL"
            if let error { libpq.PQfreemem(error) }
            // libpq's message quotes the part it could not read, which could hold a password: keep its first words only.
            let safe = message.split(separator: ":").first.map(String.init) ?? "not a connection URL"
            throw InputError(.usage, "--db: not a PostgreSQL URL (\(safe)); expected postgres://USER@HOST:PORT/DB?sslmode=...")
        }
        defer { libpq.PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        if values["password"] != nil {
            throw InputError(.usage, "--db: the URL holds a password; put it in PGPASSWORD, ~/.pgpass or the variable --db-password-env names, never on the command line")
        }
        if let passwordVariable {
            guard let password = environment[passwordVariable], !password.isEmpty else {
                throw InputError(.usage, "--db-password-env \(passwordVariable): the variable is not set")
            }
            self.password = password
        } else {
            self.password = nil
        }
        self.url = url
        let user = values["user"].map { $0 + "@" } ?? ""
        let host = values["host"] ?? values["hostaddr"] ?? "localhost"
        let port = values["port"].map { ":" + $0 } ?? ""
        let database = values["dbname"].map { "/" + $0 } ?? ""
        self.display = "postgres://" + user + host + port + database
    }

    /// libpq keywords: defaults first, then the URL (expanded by libpq), then the password.
    var parameters: [(String, String)] {
        var out: [(String, String)] = [("connect_timeout", "10"), ("application_name", "authdoctor"), ("dbname", url)]
        if let password { out.append(("password", password)) }
        return out
    }
}
