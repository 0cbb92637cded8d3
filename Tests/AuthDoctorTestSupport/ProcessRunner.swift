// Runs a built executable as a subprocess for CLI tests: captures stdout, stderr and the exit status,
// feeds optional stdin, controls NO_COLOR, and kills the process when it outlives a timeout.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a finished (or killed) subprocess left behind.
public struct ProcessResult: Sendable {
    public var arguments: [String]
    public var status: Int32
    public var stdout: Data
    public var stderr: Data
    /// True when the process was killed because it outlived the timeout.
    public var timedOut: Bool
    /// True when it ended by a signal (a crash: SIGILL/SIGTRAP from a Swift trap, SIGSEGV, ...).
    public var signaled: Bool

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    /// stderr split into lines (a trailing newline does not make an extra empty line).
    public var stderrLines: [String] { Self.lines(stderrText) }
    public var stdoutLines: [String] { Self.lines(stdoutText) }

    static func lines(_ s: String) -> [String] {
        var parts = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    /// A one-line summary for assertion messages.
    public var summary: String {
        "authdoctor \(arguments.joined(separator: " ")) → status \(status)\(timedOut ? " (timed out)" : "")\(signaled ? " (signal)" : "")\n--- stdout ---\n\(String(stdoutText.prefix(2000)))\n--- stderr ---\n\(String(stderrText.prefix(2000)))"
    }
}

public enum ProcessRunner {
    public struct LaunchError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `executable` with `arguments` and waits for it.
    /// - Parameters:
    ///   - stdin: bytes written to the process's standard input, which is then closed; nil gives it
    ///     /dev/null (never the test runner's own stdin, so a process that reads stdin cannot hang).
    ///   - noColor: true sets NO_COLOR=1; false removes NO_COLOR from the environment.
    ///   - environment: further variables; a nil value removes the variable. AUTHDOCTOR_RULES is
    ///     removed unless given here, so tests do not depend on the developer's shell.
    ///   - currentDirectory: the working directory (default: the runner's).
    ///   - timeout: seconds before the process is killed (SIGTERM, then SIGKILL).
    public static func run(_ executable: URL, _ arguments: [String], stdin: Data? = nil, noColor: Bool = true,
                           environment: [String: String?] = [:], currentDirectory: URL? = nil,
                           timeout: TimeInterval = 120) throws -> ProcessResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }

        var env = ProcessInfo.processInfo.environment
        env["AUTHDOCTOR_RULES"] = nil
        if noColor { env["NO_COLOR"] = "1" } else { env["NO_COLOR"] = nil }
        for (name, value) in environment { env[name] = value }
        process.environment = env

        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let inPipe: Pipe?
        if stdin != nil {
            let pipe = Pipe()
            process.standardInput = pipe
            inPipe = pipe
        } else {
            process.standardInput = FileHandle.nullDevice
            inPipe = nil
        }

        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            throw LaunchError(description: "cannot start \(executable.path): \(error)")
        }

        // Drain both pipes concurrently so a chatty process never blocks on a full pipe.
        let stdoutBox = DataBox(), stderrBox = DataBox()
        let readers = DispatchGroup()
        let outHandle = outPipe.fileHandleForReading, errHandle = errPipe.fileHandleForReading
        readers.enter()
        DispatchQueue.global().async { stdoutBox.set(outHandle.readDataToEndOfFile()); readers.leave() }
        readers.enter()
        DispatchQueue.global().async { stderrBox.set(errHandle.readDataToEndOfFile()); readers.leave() }
        if let stdin, let inPipe {
            let writer = inPipe.fileHandleForWriting
            DispatchQueue.global().async {
                // The process may exit without reading everything: ignore EPIPE.
                signal(SIGPIPE, SIG_IGN)
                try? writer.write(contentsOf: stdin)
                try? writer.close()
            }
        }

        var timedOut = false
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
            if exited.wait(timeout: .now() + 5) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                exited.wait()
            }
        }
        _ = readers.wait(timeout: .now() + 10)
        return ProcessResult(arguments: arguments, status: process.terminationStatus, stdout: stdoutBox.get(),
                             stderr: stderrBox.get(), timedOut: timedOut,
                             signaled: process.terminationReason == .uncaughtSignal)
    }
}

/// Data written by one thread and read by another.
final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}
