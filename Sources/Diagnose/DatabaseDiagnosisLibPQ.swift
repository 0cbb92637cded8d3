import CLibPQ
import EvidenceModel
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libpq behind a small Swift API: one connection, opened and queried with the non-blocking calls
/// (PQconnectStartParams/PQconnectPoll, PQsendQueryParams/PQconsumeInput) and poll(2), so every
/// step honours one absolute deadline. Nothing else in the package sees a libpq type.
///
/// The password travels only in PQconnectStartParams' key/value arrays, never in a conninfo string,
/// and libpq's error texts never contain it.
/// libpq's functions, loaded on first use (CLibPQ).
var libpq: cpq_functions { cpq_api().pointee }

extension DatabaseDiagnosisRunner {
    /// libpq is loaded when the first database diagnosis needs it: a missing libpq is a clear
    /// EX_UNAVAILABLE error before anything runs.
    public static func requireClientLibrary() throws {
        if let problem = cpq_load_problem() { throw InputError(.unavailable, String(cString: problem)) }
    }
}

final class PQConnection {
    /// How a connection attempt ended.
    enum ConnectOutcome {
        case connected(seconds: Double, tls: TLSSession?, serverVersion: Int)
        /// libpq gave up: the server's FATAL message, or a transport error (refused, DNS, TLS).
        case failed(message: String, seconds: Double)
        /// No answer before the deadline.
        case timedOut(seconds: Double)
    }

    /// What TLS carries the connection, as OpenSSL negotiated it.
    struct TLSSession {
        /// "TLSv1.3"
        var protocolVersion: String?
        /// "TLS_AES_256_GCM_SHA384"
        var cipher: String?
    }

    /// How one query ended.
    enum QueryOutcome {
        case rows([[String?]])
        case failed(sqlstate: String?, message: String)
        case timedOut
    }

    private var conn: OpaquePointer?

    private init(_ conn: OpaquePointer?) { self.conn = conn }

    deinit { if let conn { libpq.PQfinish(conn) } }

    /// Opens a connection with `parameters` (libpq keywords: host, port, user, password, dbname,
    /// sslmode, ...), giving up at `deadline` (uptime nanoseconds).
    static func connect(_ parameters: [(String, String)], deadline: UInt64) -> (PQConnection?, ConnectOutcome) {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        if let problem = cpq_load_problem() { return (nil, .failed(message: String(cString: problem), seconds: 0)) }

        let keys = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            for p in keys { free(p) }
            for p in values {
                // Wipe the password (and everything else) before handing the memory back.
                if let p { memset(p, 0, strlen(p)) }
                free(p)
            }
        }
        var keyArray: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
        var valueArray: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        let raw = keyArray.withUnsafeMutableBufferPointer { k in
            valueArray.withUnsafeMutableBufferPointer { v in
                libpq.PQconnectStartParams(k.baseAddress, v.baseAddress, 0)
            }
        }
        let connection = PQConnection(raw)
        guard let raw else { return (nil, .failed(message: "libpq could not allocate a connection", seconds: elapsed())) }
        if libpq.PQstatus(raw) == CONNECTION_BAD {
            return (nil, .failed(message: connection.errorMessage, seconds: elapsed()))
        }
        var status = PGRES_POLLING_WRITING
        while true {
            if status == PGRES_POLLING_OK {
                var tls: TLSSession?
                if libpq.PQsslInUse(raw) == 1 {
                    func attribute(_ name: String) -> String? { libpq.PQsslAttribute(raw, name).map { String(cString: $0) } }
                    tls = TLSSession(protocolVersion: attribute("protocol"), cipher: attribute("cipher"))
                }
                return (connection, .connected(seconds: elapsed(), tls: tls, serverVersion: Int(libpq.PQserverVersion(raw))))
            }
            if status == PGRES_POLLING_FAILED {
                return (nil, .failed(message: connection.errorMessage, seconds: elapsed()))
            }
            let ready = wait(socket: libpq.PQsocket(raw), forWriting: status == PGRES_POLLING_WRITING, deadline: deadline)
            if !ready { return (nil, .timedOut(seconds: elapsed())) }
            status = libpq.PQconnectPoll(raw)
        }
    }

    var errorMessage: String {
        guard let conn, let text = libpq.PQerrorMessage(conn) else { return "" }
        return String(cString: text).trimmedWhitespace()
    }

    /// Runs one statement with text parameters; rows come back as text (booleans are "t"/"f").
    func query(_ sql: String, _ parameters: [String], deadline: UInt64) -> QueryOutcome {
        guard let conn else { return .failed(sqlstate: nil, message: "no connection") }
        let copies = parameters.map { strdup($0) }
        defer { for p in copies { free(p) } }
        var values: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        let sent = values.withUnsafeMutableBufferPointer { v in
            libpq.PQsendQueryParams(conn, sql, Int32(parameters.count), nil, v.baseAddress, nil, nil, 0)
        }
        guard sent == 1 else { return .failed(sqlstate: nil, message: errorMessage) }
        // Flush what libpq could not write at once.
        while true {
            let flushed = libpq.PQflush(conn)
            if flushed == 0 { break }
            if flushed < 0 { return .failed(sqlstate: nil, message: errorMessage) }
            if !Self.wait(socket: libpq.PQsocket(conn), forWriting: true, deadline: deadline) { return .timedOut }
        }
        var rows: [[String?]] = []
        var failure: QueryOutcome?
        while true {
            while libpq.PQisBusy(conn) == 1 {
                if !Self.wait(socket: libpq.PQsocket(conn), forWriting: false, deadline: deadline) { return .timedOut }
                if libpq.PQconsumeInput(conn) == 0 { return .failed(sqlstate: nil, message: errorMessage) }
            }
            guard let result = libpq.PQgetResult(conn) else { break }
            defer { libpq.PQclear(result) }
            let status = libpq.PQresultStatus(result)
            if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK {
                for row in 0..<libpq.PQntuples(result) {
                    var values: [String?] = []
                    for column in 0..<libpq.PQnfields(result) {
                        values.append(libpq.PQgetisnull(result, row, column) == 1 ? nil : String(cString: libpq.PQgetvalue(result, row, column)!))
                    }
                    rows.append(values)
                }
            } else if failure == nil {
                let state = authdoctor_pq_sqlstate(result).map { String(cString: $0) }
                let message = libpq.PQresultErrorMessage(result).map { String(cString: $0).trimmedWhitespace() } ?? ""
                failure = .failed(sqlstate: state, message: message.isEmpty ? errorMessage : message)
            }
        }
        return failure ?? .rows(rows)
    }

    /// Waits until the socket is readable (or writable), or the deadline passes (false).
    static func wait(socket: Int32, forWriting: Bool, deadline: UInt64) -> Bool {
        guard socket >= 0 else { return false }
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { return false }
            let milliseconds = Int32(min(Double(deadline - now) / 1e6 + 1, 60_000))
            var descriptor = pollfd(fd: socket, events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
            let n = poll(&descriptor, 1, milliseconds)
            if n > 0 { return true }
            if n < 0 && errno != EINTR { return true }   // let libpq report the socket error
        }
    }
}
