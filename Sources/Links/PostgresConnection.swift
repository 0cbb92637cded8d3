import CLibPQ
import EvidenceModel
import Foundation

/// Why a PostgreSQL store call failed, besides link refusals and `StoreError`s.
public enum PostgresStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server cannot be reached, refused the login, or the connection broke (a restart):
    /// nothing was committed by the call that got it; retrying later may succeed.
    case unavailable(String)
    /// The server refused a statement (SQLSTATE and its primary message, never a value).
    case failed(sqlstate: String?, message: String)

    public var description: String {
        switch self {
        case let .unavailable(message): return "PostgreSQL is unavailable: \(message)"
        case let .failed(state, message): return "PostgreSQL refused a statement" + (state.map { " (SQLSTATE \($0))" } ?? "") + ": \(message)"
        }
    }

    /// True when the server was unreachable or went away (HTTP 503 territory).
    public var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }
}

/// libpq's functions, loaded on first use (CLibPQ).
var libpq: cpq_functions { cpq_api().pointee }

/// One libpq connection, used by one thread at a time (the pool hands it out). Parameters go as
/// text; `bytea` travels as `\x` hex both ways. Nothing outside this file sees a libpq type.
final class PGConnection {
    private let raw: OpaquePointer
    /// Statements run since the pool last handed this connection out.
    var statements = 0

    private init(_ raw: OpaquePointer) { self.raw = raw }

    deinit { libpq.PQfinish(raw) }

    /// Connects with libpq keywords, in order (a later keyword overrides an earlier one, and the
    /// URL given as `dbname` is expanded). libpq itself reads PGPASSWORD and ~/.pgpass.
    static func connect(_ parameters: [(String, String)]) throws -> PGConnection {
        if let problem = cpq_load_problem() { throw PostgresStoreError.unavailable(String(cString: problem)) }
        let keys = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            for p in keys { free(p) }
            for p in values {
                if let p { memset(p, 0, strlen(p)) }
                free(p)
            }
        }
        var keyArray: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
        var valueArray: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        let made = keyArray.withUnsafeMutableBufferPointer { k in
            valueArray.withUnsafeMutableBufferPointer { v in libpq.PQconnectdbParams(k.baseAddress, v.baseAddress, 1) }
        }
        guard let made else { throw PostgresStoreError.unavailable("libpq could not allocate a connection") }
        let connection = PGConnection(made)
        guard libpq.PQstatus(made) == CONNECTION_OK else {
            throw PostgresStoreError.unavailable(connection.errorMessage)
        }
        // libpq prints the server's NOTICEs on stderr by default; the store says what matters itself.
        libpq.PQsetNoticeProcessor(made, { _, _ in }, nil)
        return connection
    }

    var isOK: Bool { libpq.PQstatus(raw) == CONNECTION_OK }

    var errorMessage: String {
        guard let text = libpq.PQerrorMessage(raw) else { return "" }
        // libpq's text may run over several lines ("connection to server ... failed: ..."): one line.
        return String(cString: text).trimmedWhitespace().split(whereSeparator: \.isNewline).map { $0.trimmedWhitespace() }.joined(separator: "; ")
    }

    /// Statements prepared on this connection (server-side), by SQL text: `exec(..., prepared: true)`.
    private var preparedNames: [String: String] = [:]

    /// `prepared`: parse and plan the statement once per connection (PQprepare) and execute it by
    /// name afterwards: for the hot statements of the link lifecycle, where the server's parsing and
    /// planning are a large part of the work. Only for fixed SQL texts.
    @discardableResult
    func exec(_ sql: String, _ parameters: [StoreValue] = [], prepared: Bool) throws -> PGRows {
        guard prepared else { return try exec(sql, parameters) }
        let name: String
        if let known = preparedNames[sql] {
            name = known
        } else {
            name = "authdoctor_\(preparedNames.count)"
            guard let result = libpq.PQprepare(raw, name, sql, Int32(parameters.count), nil) else { throw PostgresStoreError.unavailable(errorMessage) }
            defer { libpq.PQclear(result) }
            if libpq.PQresultStatus(result) != PGRES_COMMAND_OK {
                statements += 1
                _ = try rows(result)
            }
            preparedNames[sql] = name
        }
        return try exec(sql, parameters, preparedName: name)
    }

    /// Runs one statement. Rows come back as text (nil = NULL); `affected` is the row count of an
    /// INSERT/UPDATE/DELETE.
    @discardableResult
    func exec(_ sql: String, _ parameters: [StoreValue] = []) throws -> PGRows {
        try exec(sql, parameters, preparedName: nil)
    }

    private func exec(_ sql: String, _ parameters: [StoreValue], preparedName: String?) throws -> PGRows {
        statements += 1
        let texts: [UnsafeMutablePointer<CChar>?] = parameters.map { value in
            switch value {
            case .null: return nil
            case let .integer(n): return strdup(String(n))
            case let .real(d): return strdup(Self.text(d))
            case let .text(s): return strdup(s)
            case let .blob(b): return strdup(Self.hex(b))
            }
        }
        defer { for p in texts { free(p) } }
        var pointers: [UnsafePointer<CChar>?] = texts.map { $0.map { UnsafePointer($0) } }
        let result = pointers.withUnsafeMutableBufferPointer { v in
            if let preparedName {
                return libpq.PQexecPrepared(raw, preparedName, Int32(parameters.count), v.baseAddress, nil, nil, 0)
            }
            return libpq.PQexecParams(raw, sql, Int32(parameters.count), nil, v.baseAddress, nil, nil, 0)
        }
        guard let result else { throw PostgresStoreError.unavailable(errorMessage) }
        defer { libpq.PQclear(result) }
        return try rows(result)
    }

    /// A result's rows, or the error it holds (unavailable when the connection is gone).
    private func rows(_ result: OpaquePointer) throws -> PGRows {
        let status = libpq.PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            if libpq.PQstatus(raw) != CONNECTION_OK || status == PGRES_FATAL_ERROR && authdoctor_pq_sqlstate(result) == nil {
                throw PostgresStoreError.unavailable(errorMessage.isEmpty ? "the connection was lost" : errorMessage)
            }
            let state = authdoctor_pq_sqlstate(result).map { String(cString: $0) }
            // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 08xxx connection exceptions.
            if let state, state.hasPrefix("57P") || state.hasPrefix("08") {
                throw PostgresStoreError.unavailable(authdoctor_pq_primary_message(result).map { String(cString: $0) } ?? errorMessage)
            }
            let message = authdoctor_pq_primary_message(result).map { String(cString: $0) } ?? errorMessage
            throw PostgresStoreError.failed(sqlstate: state, message: message)
        }
        var rows: [[String?]] = []
        let count = libpq.PQntuples(result), fields = libpq.PQnfields(result)
        rows.reserveCapacity(Int(count))
        for row in 0..<count {
            var values: [String?] = []
            values.reserveCapacity(Int(fields))
            for column in 0..<fields {
                values.append(libpq.PQgetisnull(result, row, column) == 1 ? nil : String(cString: libpq.PQgetvalue(result, row, column)!))
            }
            rows.append(values)
        }
        let affected = libpq.PQcmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
        return PGRows(rows: rows, affected: affected)
    }

    /// A Double as PostgreSQL reads it back exactly (Swift prints the shortest round-trip form).
    static func text(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        return "\(value)"
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    static func hex(_ data: Data) -> String {
        var out = [UInt8]()
        out.reserveCapacity(2 + data.count * 2)
        out.append(UInt8(ascii: "\\"))
        out.append(UInt8(ascii: "x"))
        for byte in data {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(_ text: String) -> Data? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else { return nil }
        var out = Data(capacity: (utf8.count - 2) / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// A statement's answer as text.
struct PGRows {
    var rows: [[String?]]
    var affected: Int

    var first: PGRow? { rows.first.map(PGRow.init) }
    var all: [PGRow] { rows.map(PGRow.init) }
}

/// One row, with typed readers for the store's column types.
struct PGRow {
    let values: [String?]

    init(_ values: [String?]) { self.values = values }

    func string(_ i: Int) -> String { values[i] ?? "" }
    func optionalString(_ i: Int) -> String? { values[i] }
    func double(_ i: Int) -> Double { values[i].flatMap(Double.init) ?? 0 }
    func date(_ i: Int) -> Date { Date(timeIntervalSince1970: double(i)) }
    func optionalDate(_ i: Int) -> Date? { values[i].flatMap(Double.init).map { Date(timeIntervalSince1970: $0) } }
    func int(_ i: Int) -> Int { values[i].flatMap { Int($0) } ?? 0 }
    func optionalInt(_ i: Int) -> Int? { values[i].flatMap { Int($0) } }
    func data(_ i: Int) -> Data? { values[i].flatMap(PGConnection.bytes) }

    func value(_ i: Int, _ type: StoreColumnType) -> StoreValue {
        guard let text = values[i] else { return .null }
        switch type {
        case .integer: return Int64(text).map(StoreValue.integer) ?? .text(text)
        case .real: return Double(text).map(StoreValue.real) ?? .text(text)
        case .text: return .text(text)
        case .blob: return PGConnection.bytes(text).map(StoreValue.blob) ?? .text(text)
        }
    }
}

/// Connections shared by the threads of one process: at most `capacity` open at once, idle ones
/// kept for the next call. A connection that broke is dropped, and so is every idle one (a
/// restarted server has closed them all); the next call connects afresh.
final class PGPool: @unchecked Sendable {
    private let parameters: [(String, String)]
    private let lock = NSLock()
    private var idle: [PGConnection] = []
    private let slots: DispatchSemaphore

    init(parameters: [(String, String)], capacity: Int) {
        self.parameters = parameters
        self.slots = DispatchSemaphore(value: capacity)
    }

    /// Runs `body` on a connection. When a reused connection turns out dead at its first statement
    /// (nothing was sent that could have changed anything), the call is retried once on a new one.
    func withConnection<T>(_ body: (PGConnection) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        var retried = false
        while true {
            let (connection, reused) = try take()
            connection.statements = 0
            do {
                let result = try body(connection)
                give(connection)
                return result
            } catch let error as PostgresStoreError where error.isUnavailable || !connection.isOK {
                dropIdle()
                if reused && !retried && connection.statements <= 1 {
                    retried = true
                    continue
                }
                throw error.isUnavailable ? error : PostgresStoreError.unavailable(connection.errorMessage)
            } catch {
                if connection.isOK { give(connection) } else { dropIdle() }
                throw error
            }
        }
    }

    private func take() throws -> (PGConnection, Bool) {
        lock.lock()
        let reused = idle.popLast()
        lock.unlock()
        if let reused, reused.isOK { return (reused, true) }
        return (try PGConnection.connect(parameters), false)
    }

    private func give(_ connection: PGConnection) {
        guard connection.isOK else { return }
        lock.lock()
        idle.append(connection)
        lock.unlock()
    }

    func dropIdle() {
        lock.lock()
        let dropped = idle
        idle.removeAll()
        lock.unlock()
        _ = dropped
    }
}
