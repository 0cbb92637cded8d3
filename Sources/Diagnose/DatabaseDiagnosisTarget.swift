import EvidenceModel
import Foundation

/// One PostgreSQL or Amazon Redshift destination as `diagnose --provider postgres|redshift` sees it:
/// where to connect, as whom, and what the loader writes to. The password comes from an
/// environment variable, a file or stdin (the CLI), never from the command line or the URL.
public struct DatabaseTarget: Sendable {
    /// `--tls`: libpq's sslmode. Verification is never weakened beyond what was asked.
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// `postgres` or `redshift`.
    public var provider: String
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    /// The schema the loader creates tables in; nil = the user's current schema.
    public var schema: String?
    /// The table the loader inserts into; nil = no table check.
    public var table: String?
    public var password: String?
    public var tls: TLSMode
    /// `--tls-ca-file`: the CA bundle (PEM) that signed the server's certificate, libpq's
    /// `sslrootcert`. Needed by verify-ca and verify-full, allowed with require (libpq then checks the
    /// chain as verify-ca does); refused with prefer, where a failed check would fall back to no TLS.
    public var tlsCAFile: String?
    /// Seconds the whole diagnosis may take: connection, login and the privilege queries.
    public var timeout: Double

    public init(provider: String, host: String, port: Int? = nil, user: String, database: String, schema: String? = nil,
                table: String? = nil, password: String? = nil, tls: TLSMode = .prefer, tlsCAFile: String? = nil, timeout: Double = 10) {
        self.provider = provider
        self.host = host
        self.port = port ?? Self.defaultPort(provider)
        self.user = user
        self.database = database
        self.schema = schema
        self.table = table
        self.password = password
        self.tls = tls
        self.tlsCAFile = tlsCAFile
        self.timeout = timeout
    }

    public static let providers: Set<String> = ["postgres", "redshift"]

    public static func defaultPort(_ provider: String) -> Int { provider == "redshift" ? 5439 : 5432 }

    /// `postgres://user@host:port/db` (also `postgresql://`, `redshift://`), with an optional
    /// `?sslmode=` query. A password in the URL is refused: it would sit in shell history and `ps`.
    public struct URLParts: Sendable, Equatable {
        public var host: String?
        public var port: Int?
        public var user: String?
        public var database: String?
        public var tls: TLSMode?

        public init() {}
    }

    public static func parseURL(_ text: String) throws(InputError) -> URLParts {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              ["postgres", "postgresql", "redshift"].contains(scheme) else {
            throw InputError(.usage, "bad --url: expected postgres://USER@HOST:PORT/DATABASE")
        }
        if components.password != nil {
            throw InputError(.usage, "--url must not hold a password; give the password with --password-env VAR or --password-file FILE")
        }
        var parts = URLParts()
        parts.host = components.host.flatMap { $0.isEmpty ? nil : $0 }
        parts.port = components.port
        parts.user = components.user.flatMap { $0.removingPercentEncoding ?? $0 }.flatMap { $0.isEmpty ? nil : $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        parts.database = path.isEmpty ? nil : (path.removingPercentEncoding ?? path)
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw InputError(.usage, "bad --url: sslmode must be one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                parts.tls = mode
            default:
                throw InputError(.usage, "bad --url: unsupported parameter '\(item.name)' (only sslmode)")
            }
        }
        return parts
    }

    /// The connection as reports show it: no password, ever.
    public var displayURL: String {
        func encode(_ s: String) -> String {
            s.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed.subtracting(CharacterSet(charactersIn: ":@/"))) ?? s
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(encode(user))@\(hostPart):\(port)/\(encode(database))?sslmode=\(tls.rawValue)"
    }

    /// Checks what can be checked before connecting; one-line usage errors.
    public func validate() throws(InputError) {
        for (flag, value) in [("--host", host), ("--user", user), ("--database", database)] {
            if value.isEmpty { throw InputError(.usage, "diagnose --provider \(provider) needs \(flag) (or --url postgres://USER@HOST:PORT/DATABASE)") }
            if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw InputError(.usage, "\(flag) holds a control character")
            }
        }
        guard (1...65535).contains(port) else { throw InputError(.usage, "--port must be between 1 and 65535, not \(port)") }
        guard timeout > 0, timeout <= 600, timeout.isFinite else {
            throw InputError(.usage, "--timeout must be more than 0 and at most 600 seconds")
        }
        for (flag, value) in [("--schema", schema), ("--table", table)] {
            if let value, value.isEmpty || value.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                throw InputError(.usage, "\(flag) is empty or holds a control character")
            }
        }
        try validateTLS()
    }

    /// verify-ca and verify-full check the server's certificate against a CA bundle that must be
    /// named: libpq would otherwise look in the current user's ~/.postgresql/root.crt.
    private func validateTLS() throws(InputError) {
        switch (tls, tlsCAFile) {
        case (.verifyCA, nil), (.verifyFull, nil):
            throw InputError(.usage, "--tls \(tls.rawValue) checks the server's certificate: give the CA bundle that signed it with --tls-ca-file FILE (PEM)")
        case (.disable, _?), (.prefer, _?):
            throw InputError(.usage, "--tls-ca-file needs --tls require, verify-ca or verify-full (with \(tls.rawValue) a failed check would not stop the login)")
        case let (_, file?):
            if file.isEmpty || file.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                throw InputError(.usage, "--tls-ca-file is empty or holds a control character")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue,
                  FileManager.default.isReadableFile(atPath: file) else {
                throw InputError(.noInput, "--tls-ca-file: no readable file at \(file)")
            }
        default:
            break
        }
    }

    /// Whether a TLS connection made with these settings had its server certificate checked
    /// (chain; verify-full also the host name).
    public var verifiesCertificate: Bool {
        switch tls {
        case .verifyCA, .verifyFull: return true
        case .require: return tlsCAFile != nil
        case .disable, .prefer: return false
        }
    }

    /// libpq's connection keywords. The password is only here, in PQconnectStartParams' arrays.
    var libpqParameters: [(String, String)] {
        var p: [(String, String)] = [
            ("host", host), ("port", String(port)), ("user", user), ("dbname", database),
            ("sslmode", tls.rawValue),
            // Our own deadline governs; this is libpq's fallback (whole seconds, at least 2).
            ("connect_timeout", String(max(2, Int(timeout.rounded(.up))))),
            ("application_name", "authdoctor"),
            // No Kerberos probing (it can stall on a missing KDC) and no ~/.pgpass or service file:
            // the diagnosis uses exactly the credentials it was given.
            ("gssencmode", "disable"),
            ("passfile", "/nonexistent/authdoctor-uses-no-pgpass"),
        ]
        if let tlsCAFile { p.append(("sslrootcert", tlsCAFile)) }
        if let password { p.append(("password", password)) }
        return p
    }
}
