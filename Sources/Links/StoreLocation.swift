import EvidenceModel
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Where the store lives and how a command opens it: `--db PATH`, else `$AUTHDOCTOR_DB`, else the
/// user's data directory. Every failure becomes a one-line `InputError` naming the path.
public enum StoreLocation {
    public static let environmentVariable = "AUTHDOCTOR_DB"
    public static let fileName = "authdoctor.sqlite"

    /// `$AUTHDOCTOR_DB`, else `$XDG_DATA_HOME/authdoctor/authdoctor.sqlite`, else
    /// `~/.local/share/authdoctor/authdoctor.sqlite`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment[environmentVariable], !path.isEmpty { return path }
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") {
            return data + "/authdoctor/" + fileName
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/share/authdoctor/" + fileName
    }

    /// The key file sits beside the database (`authdoctor.key`).
    public static func keyFilePath(forDatabase path: String) -> String {
        (directory(of: path) as NSString).appendingPathComponent(SecretBox.keyFileName)
    }

    static func directory(of path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// Opens the store `value` names (nil: the default): a SQLite file path, or a PostgreSQL URL
    /// (`postgres://USER@HOST:PORT/DB?sslmode=...`; the password from the variable
    /// `passwordVariable` names, else PGPASSWORD or ~/.pgpass, read by libpq). Anything else that
    /// looks like a URL is refused (64).
    public static func open(path value: String?, passwordVariable: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            warn: (String) -> Void = StoreLocation.warnOnStandardError) throws(InputError) -> any AuthDoctorStore {
        switch try StoreTarget.parse(value ?? defaultPath(environment: environment), passwordVariable: passwordVariable, environment: environment) {
        case let .sqlite(path): return try openSQLite(path: path, environment: environment, warn: warn)
        case let .postgres(location): return try openPostgres(location, environment: environment, readOnly: false)
        }
    }

    /// For commands that only read: nothing is created or migrated, no key is needed.
    public static func openReadOnly(path value: String?, passwordVariable: String? = nil,
                                    environment: [String: String] = ProcessInfo.processInfo.environment,
                                    warn: (String) -> Void = StoreLocation.warnOnStandardError) throws(InputError) -> any AuthDoctorStore {
        switch try StoreTarget.parse(value ?? defaultPath(environment: environment), passwordVariable: passwordVariable, environment: environment) {
        case let .sqlite(path): return try openSQLiteReadOnly(path: path, environment: environment, warn: warn)
        case let .postgres(location): return try openPostgres(location, environment: environment, readOnly: true)
        }
    }

    /// `store copy|migrate|status`: a store opened without the key (sealed values move as they
    /// are; migrations read none). `mustExist`: a SQLite file is not made (66 when missing).
    /// `migrating: false` applies nothing (status, and migrate itself, which reports what it applied).
    public static func openWithoutKey(_ value: String?, passwordVariable: String? = nil, mustExist: Bool, migrating: Bool,
                                      environment: [String: String] = ProcessInfo.processInfo.environment,
                                      warn: (String) -> Void = StoreLocation.warnOnStandardError) throws(InputError) -> any AuthDoctorStore {
        switch try StoreTarget.parse(value ?? defaultPath(environment: environment), passwordVariable: passwordVariable, environment: environment) {
        case let .sqlite(path):
            if path == ":memory:" { throw InputError(.usage, "give a file or a postgres:// URL, not :memory:") }
            if mustExist {
                guard FileManager.default.fileExists(atPath: path) else { throw InputError(.noInput, "no authdoctor store here", place: path) }
            } else {
                try prepareDirectory(directory(of: path))
                try prepareFile(path)
            }
            let store = try opened(path) { try SQLiteStore(path: path, secretBox: .ephemeral(), checkingKey: false, migrating: migrating) }
            try restrictPermissions(path, warn: warn)
            return store
        case let .postgres(location):
            return try opened(location.display) {
                try PostgresStore(location: location, secretBox: .ephemeral(), migrating: migrating, checkingKey: false, allowEmpty: true,
                                  maxConnections: 2)
            }
        }
    }

    /// A PostgreSQL store: the key must come from AUTHDOCTOR_KEY (every instance shares it; there is
    /// no directory beside the database for a key file).
    static func openPostgres(_ location: PostgresLocation, environment: [String: String], readOnly: Bool) throws(InputError) -> PostgresStore {
        if readOnly {
            return try opened(location.display) {
                try PostgresStore(location: location, secretBox: .ephemeral(), migrating: false, checkingKey: false)
            }
        }
        guard environment[SecretBox.environmentVariable] != nil else {
            throw InputError(.config, "a PostgreSQL store needs \(SecretBox.environmentVariable): the key every instance shares (make one with: openssl rand -base64 32)")
        }
        let box = try SecretBox.load(environment: environment, keyFile: "")
        return try opened(location.display) { try PostgresStore(location: location, secretBox: box) }
    }

    /// Opens the SQLite store at `path` (nil: the default path), creating its directory (0700), the
    /// database file (0600) and the key file on first use.
    /// A database file group or others can read is set to 0600 first, with a warning (`warn`).
    public static func openSQLite(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                                  warn: (String) -> Void = StoreLocation.warnOnStandardError) throws(InputError) -> SQLiteStore {
        let path = path ?? defaultPath(environment: environment)
        guard !path.isEmpty else { throw InputError(.usage, "--db needs a file path") }
        if path == ":memory:" {
            let box = environment[SecretBox.environmentVariable] == nil
                ? SecretBox.ephemeral() : try SecretBox.load(environment: environment, keyFile: "")
            return try opened(path) { try SQLiteStore.inMemory(secretBox: box) }
        }
        try prepareDirectory(directory(of: path))
        let box = try SecretBox.load(environment: environment, keyFile: keyFilePath(forDatabase: path))
        try prepareFile(path)
        let store = try opened(path) { try SQLiteStore(path: path, secretBox: box) }
        try restrictPermissions(path, warn: warn)
        return store
    }

    /// Opens an existing store for reading only (listings: `links list/show`, `connections list`,
    /// `history`): creates no directory, database or key, needs no key, migrates nothing. A
    /// missing database is a one-line error (66) that says where it was looked for.
    public static func openSQLiteReadOnly(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                                          warn: (String) -> Void = StoreLocation.warnOnStandardError) throws(InputError) -> SQLiteStore {
        let path = path ?? defaultPath(environment: environment)
        guard !path.isEmpty else { throw InputError(.usage, "--db needs a file path") }
        if path == ":memory:" { return try opened(path) { try SQLiteStore.inMemory() } }
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT || errno == ENOTDIR {
                throw InputError(.noInput, "no authdoctor store here (nothing recorded yet: `links issue`, `check --db` or `serve` make it)", place: path)
            }
            throw InputError(.noInput, "cannot read the database: \(String(cString: strerror(errno)))", place: path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw InputError(.noInput, "cannot open the database: it is a directory", place: path) }
        let store = try opened(path) { try SQLiteStore(readOnlyPath: path) }
        try restrictPermissions(path, warn: warn)
        return store
    }

    public static func warnOnStandardError(_ message: String) {
        FileHandle.standardError.write(Data(("authdoctor: " + message + "\n").utf8))
    }

    /// A database file (and its -wal/-shm) that group or others can read holds who connected what
    /// and the sealed tokens: set to 0600 with a warning when it is ours, refused when it is not.
    /// Checked once the file has opened as a store (a path given by mistake is not touched).
    static func restrictPermissions(_ path: String, warn: (String) -> Void) throws(InputError) {
        var fixed: [String] = []
        defer {
            if let mode = fixed.first {
                warn("\(path): the database could be read by group or others (mode \(mode)); its mode is now 600")
            }
        }
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            guard lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_mode & 0o077 != 0 else { continue }
            guard info.st_uid == geteuid() else {
                throw InputError(.config, "the database can be read by group or others and belongs to another user (its owner must run: chmod 600 \(file))", place: file)
            }
            let before = String(info.st_mode & 0o777, radix: 8)
            guard chmod(file, 0o600) == 0 else {
                throw InputError(.io, "the database can be read by group or others and its mode cannot be changed: \(String(cString: strerror(errno)))", place: file)
            }
            fixed.append(before)
        }
    }

    static func opened<Store>(_ path: String, _ make: () throws -> Store) throws(InputError) -> Store {
        do {
            return try make()
        } catch let error as InputError {
            throw error
        } catch let error as PostgresStoreError {
            throw describe(error, location: path)
        } catch let error as DatabaseError {
            throw describe(error, path: path)
        } catch StoreOpeningError.newerSchema {
            throw InputError(.data, "the database was written by a newer authdoctor (unknown schema migrations)", place: path)
        } catch StoreOpeningError.notAStore {
            throw InputError(.data, "not an authdoctor database (no store tables; `authdoctor store migrate` makes them)", place: path)
        } catch let error as StoreError {
            throw InputError(.config, error.description, place: path)
        } catch {
            throw InputError(.io, "cannot open the database: \(error)", place: path)
        }
    }

    /// Any failure of a store call as a one-line error: SQLite's (naming the file), a missing
    /// connection (66), a removed one (65), a key that does not open the tokens (78).
    /// Link refusals are not converted: the caller says what they mean in its context.
    public static func inputError(for error: Error, path: String) -> InputError? {
        switch error {
        case let error as InputError: return error
        case let error as DatabaseError: return describe(error, path: path)
        case let error as PostgresStoreError: return describe(error, location: path)
        case let error as StoreError:
            switch error {
            case .unknownConnection: return InputError(.noInput, error.description)
            case .connectionRemoved: return InputError(.data, error.description)
            case .cannotDecrypt: return InputError(.config, error.description, place: path)
            }
        default: return nil
        }
    }

    /// PostgreSQL's answer in one line: unreachable, refused login or lost (74), a refused statement (74).
    public static func describe(_ error: PostgresStoreError, location: String) -> InputError {
        InputError(.io, Redactor.redact(error.description), place: location)
    }

    /// SQLite's answer in one line: not a database (65), cannot open or create (74), busy (74).
    public static func describe(_ error: DatabaseError, path: String) -> InputError {
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return InputError(.data, "not an authdoctor database (the file is not SQLite, or is damaged)", place: path)
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
            return InputError(.io, "cannot open or create the database (\(error.message ?? "permission denied"))", place: path)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return InputError(.io, "the database stayed locked by another process", place: path)
        case .SQLITE_FULL:
            return InputError(.io, "the disk is full", place: path)
        default:
            return InputError(.io, "database error: \(error.message ?? "\(error.resultCode)")", place: path)
        }
    }

    /// mkdir -p with 0700 for what it makes; an existing directory is left as it is.
    static func prepareDirectory(_ directory: String) throws(InputError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw InputError(.io, "cannot create the database here: not a directory", place: directory) }
            return
        }
        let parent = Self.directory(of: directory)
        if parent != directory { try prepareDirectory(parent) }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw InputError(.io, "cannot create the directory: \(String(cString: strerror(errno)))", place: directory)
        }
    }

    /// Makes an empty database file readable by its owner only, so SQLite (and its -wal/-shm files,
    /// which copy the mode) never creates it with the umask's wider default.
    static func prepareFile(_ path: String) throws(InputError) {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd); return }
        switch errno {
        case EEXIST:
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw InputError(.io, "cannot open the database: it is a directory", place: path)
            }
        default:
            throw InputError(.io, "cannot create the database: \(String(cString: strerror(errno)))", place: path)
        }
    }
}

extension StoreLocation {
    /// Whether a store error says PostgreSQL could not be reached (down, restarting, connection
    /// lost), as `describe` words it: `check` reports the connections that need it UNKNOWN.
    public static func isUnavailable(_ error: InputError) -> Bool {
        error.message.hasPrefix("PostgreSQL is unavailable")
    }
}
