// A TLS endpoint on 127.0.0.1 for tests: a fresh self-signed certificate made with the `openssl`
// CLI in a temporary directory, served by `openssl s_server -www`.

import Foundation

public enum TLSTestEndpointError: Error, CustomStringConvertible {
    /// No `openssl` executable on PATH; tests should skip (XCTSkip) with this description.
    case opensslMissing
    case commandFailed(String)
    case notListening(Int)

    public var description: String {
        switch self {
        case .opensslMissing: return "the openssl command-line tool is not installed (needed for TLS tests)"
        case let .commandFailed(what): return "openssl failed: \(what)"
        case let .notListening(port): return "openssl s_server did not listen on 127.0.0.1:\(port) within 10 s"
        }
    }
}

public final class TLSTestEndpoint: @unchecked Sendable {
    /// A name in the certificate's subjectAltName that only resolves through CURLOPT_RESOLVE.
    public static let hostName = "tls.authdoctor.test"

    public let port: Int
    /// The self-signed certificate (PEM); use it as the CA bundle to trust the endpoint.
    public let certificatePath: String
    public let directory: URL
    /// "https://127.0.0.1:PORT" (the certificate names IP 127.0.0.1, localhost and `hostName`).
    public var baseURL: String { "https://127.0.0.1:\(port)" }
    /// "host:port:127.0.0.1" for ProbeRequest.resolve, so "https://\(hostName):PORT/" reaches this endpoint.
    public var resolveEntry: String { "\(Self.hostName):\(port):127.0.0.1" }

    private let process: Process
    private let stdinPipe = Pipe()
    private let lock = NSLock()
    private var stopped = false

    public static func opensslPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/openssl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public init() throws {
        guard let openssl = Self.opensslPath() else { throw TLSTestEndpointError.opensslMissing }
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("authdoctor-tls-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        certificatePath = cert

        try Self.run(openssl, [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:\(Self.hostName)",
        ])

        port = LoopbackServer.unusedPort()
        process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", cert, "-key", key,
                             "-www", "-quiet"]
        process.standardInput = stdinPipe
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()

        let deadline = Date().addingTimeInterval(10)
        while !LoopbackSocket.canConnect(port: port) {
            if !process.isRunning || Date() > deadline {
                stop()
                throw TLSTestEndpointError.notListening(port)
            }
            usleep(20_000)
        }
    }

    deinit { stop() }

    /// Terminates s_server and removes the temporary directory. Idempotent.
    public func stop() {
        lock.lock()
        if stopped { lock.unlock(); return }
        stopped = true
        lock.unlock()
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? stdinPipe.fileHandleForWriting.close()
        try? FileManager.default.removeItem(at: directory)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        p.standardError = errors
        try p.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TLSTestEndpointError.commandFailed(
                "\(arguments.prefix(1).joined()) exited \(p.terminationStatus): \(String(decoding: output, as: UTF8.self))")
        }
    }
}
