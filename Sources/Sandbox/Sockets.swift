// POSIX sockets on 127.0.0.1 and the machinery that lets stop() end every wait at once.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the Sandbox could not start.
public enum SandboxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A port outside 0…65535, or a fixed port too close to 65535 for the fault listeners after it.
    case invalidPort(Int)
    /// Something else already listens on 127.0.0.1:port.
    case portInUse(Int)
    /// A socket call failed (operation, errno).
    case socket(String, Int32)
    /// OpenSSL could not make the self-signed identity or context.
    case tls(String)

    public var description: String {
        switch self {
        case let .invalidPort(port):
            return "port \(port) is not usable: give 0 (any free port) or 1 to \(65535 - SandboxFault.portSpan) (the faults take the \(SandboxFault.portSpan) ports after it)"
        case let .portInUse(port): return "port \(port) on 127.0.0.1 is already in use"
        case let .socket(operation, code): return "\(operation) failed: \(String(cString: strerror(code)))"
        case let .tls(message): return "TLS set-up failed: \(message)"
        }
    }
}

enum Sockets {
    private static func makeTCPSocket() throws(SandboxError) -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw .socket("socket", errno) }
        return fd
    }

    private static func bindLoopback(_ fd: Int32, port: Int) throws(SandboxError) {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian  // 127.0.0.1 only, never a public interface
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw code == EADDRINUSE ? .portInUse(port) : .socket("bind 127.0.0.1:\(port)", code)
        }
    }

    /// A non-blocking listening socket on 127.0.0.1 (port 0: the kernel picks one).
    static func listen(port: Int) throws(SandboxError) -> Int32 {
        let fd = try makeTCPSocket()
        // Restarting the sandbox on a fixed port must not wait for old connections' TIME_WAIT;
        // a port with a live listener still fails with EADDRINUSE.
        setOption(fd, SO_REUSEADDR, 1)
        try bindLoopback(fd, port: port)
        #if canImport(Glibc)
        let rc = Glibc.listen(fd, 512)
        #else
        let rc = Darwin.listen(fd, 512)
        #endif
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw code == EADDRINUSE ? .portInUse(port) : .socket("listen", code)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    /// A socket bound to 127.0.0.1 that never listens: connecting to its port is refused, and as
    /// long as it stays open no other program can take the port (no SO_REUSEADDR on purpose).
    static func reserveClosedPort(_ port: Int) throws(SandboxError) -> Int32 {
        let fd = try makeTCPSocket()
        try bindLoopback(fd, port: port)
        return fd
    }

    static func localPort(_ fd: Int32) -> Int {
        var addr = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Accepts one pending connection of a non-blocking listener; nil when none is pending.
    static func acceptPending(_ listener: Int32) -> Int32? {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        // On Linux an accepted socket does not inherit O_NONBLOCK; elsewhere it may, so clear it.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        // Accepted sockets block: every wait goes through poll() with the stop signal first, and
        // these timeouts bound the rest (a peer that stops reading mid-answer).
        setTimeout(fd, SO_SNDTIMEO, seconds: 10)
        setTimeout(fd, SO_RCVTIMEO, seconds: 10)
        setProtocolOption(fd, TCP_NODELAY, 1)
        return fd
    }

    static func setOption(_ fd: Int32, _ option: Int32, _ value: Int32) {
        var value = value
        setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    static func setProtocolOption(_ fd: Int32, _ option: Int32, _ value: Int32) {
        var value = value
        setsockopt(fd, Int32(IPPROTO_TCP), option, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    static func setTimeout(_ fd: Int32, _ option: Int32, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Makes the next close() send a RST instead of a FIN (the `reset` fault).
    static func abortOnClose(_ fd: Int32) {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
    }

    /// Writes everything (no SIGPIPE); false when the peer is gone or the send timeout passed.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { raw in
                send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }
}

/// Fired once by stop(); every poll in the Sandbox also watches it, so a waiting thread (an idle
/// keep-alive connection, the black hole, a slow body between chunks, the accept loop) wakes at once.
final class StopSignal: @unchecked Sendable {
    private let readEnd: Int32
    private var writeEnd: Int32
    private let lock = NSLock()

    enum Wait { case ready, stopped, timedOut }

    init() throws(SandboxError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw .socket("pipe", errno) }
        readEnd = fds[0]
        writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
    }

    /// Closing the write end makes the read end readable (EOF) for every poller, for good.
    func fire() {
        lock.lock()
        defer { lock.unlock() }
        if writeEnd >= 0 {
            close(writeEnd)
            writeEnd = -1
        }
    }

    var isFired: Bool {
        lock.lock()
        defer { lock.unlock() }
        return writeEnd < 0
    }

    /// Only after every thread that polls it has finished.
    func release() {
        fire()
        close(readEnd)
    }

    /// Sleeps `seconds` unless stopped first (nil fd) — or waits for `fd` to become readable.
    /// `seconds` nil waits without limit.
    func wait(readable fd: Int32? = nil, seconds: Double?) -> Wait {
        let deadline = seconds.map { Date().addingTimeInterval($0) }
        while true {
            var fds = [pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
            if let fd { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            var timeout: Int32 = -1
            if let deadline {
                let left = deadline.timeIntervalSinceNow
                if left <= 0 { return .timedOut }
                timeout = Int32(min(left * 1000, Double(Int32.max)).rounded(.up))
            }
            let rc = poll(&fds, nfds_t(fds.count), timeout)
            if rc < 0 {
                if errno == EINTR { continue }
                return .stopped
            }
            if fds[0].revents != 0 { return .stopped }
            if fds.count > 1 && fds[1].revents != 0 { return .ready }
            if rc == 0 { return .timedOut }
        }
    }

    /// Waits until one of `listeners` has a connection to accept; nil when stopped.
    func waitForAny(_ listeners: [Int32]) -> [Int32]? {
        while true {
            var fds = [pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
            fds += listeners.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let rc = poll(&fds, nfds_t(fds.count), -1)
            if rc < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if fds[0].revents != 0 { return nil }
            return fds.dropFirst().filter { $0.revents != 0 }.map(\.fd)
        }
    }
}

/// The open connections and the threads serving them, so stop() can end and join them all.
final class ConnectionTracker: @unchecked Sendable {
    private let lock = NSLock()
    private var open: Set<Int32> = []
    private var stopped = false
    private let threads = DispatchGroup()

    /// Runs `serve` on a thread of its own, unless the sandbox is stopping (then the socket is closed).
    /// The thread owns the socket and closes it when done.
    func spawn(_ fd: Int32, name: String, _ serve: @escaping @Sendable (Int32) -> Void) {
        lock.lock()
        if stopped {
            lock.unlock()
            close(fd)
            return
        }
        open.insert(fd)
        threads.enter()
        lock.unlock()
        let thread = Thread { [self] in
            serve(fd)
            lock.lock()
            open.remove(fd)
            lock.unlock()
            close(fd)
            threads.leave()
        }
        thread.name = name
        // Small stacks: a black hole may hold many connections at once.
        thread.stackSize = 512 * 1024
        thread.start()
    }

    /// Ends every connection's blocking reads and writes (the owning threads then close them) and
    /// waits for the threads; false when some did not finish within `seconds`.
    func stopAll(seconds: Double) -> Bool {
        lock.lock()
        stopped = true
        for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
        lock.unlock()
        return threads.wait(timeout: .now() + seconds) == .success
    }

    var openCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return open.count
    }
}
