import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading inputs and writing error lines with the system calls themselves, so that a closed,
/// full or vanished descriptor is an error to report, never a trap (Foundation's FileHandle traps
/// on EBADF, ENOSPC and EPIPE).
public enum SystemIO {
    /// Called first thing: a standard descriptor that is closed (`<&-`, `2>&-`) is filled with
    /// /dev/null opened the wrong way round (stdin write-only, stdout/stderr read-only), so that no
    /// later file, pipe or socket takes its number (the Sandbox's wake pipe became fd 0 and a read
    /// of stdin waited on it forever), and every read or write of it fails with EBADF as a closed
    /// one would: reported, not trapped on.
    public static func guardStandardDescriptors() {
        for fd: Int32 in [0, 1, 2] where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let opened = open("/dev/null", (fd == 0 ? O_WRONLY : O_RDONLY))
            if opened >= 0 && opened != fd {
                _ = dup2(opened, fd)
                _ = close(opened)
            }
            closedAtStart.insert(fd)
        }
    }

    /// The standard descriptors found closed by `guardStandardDescriptors()`.
    nonisolated(unsafe) public private(set) static var closedAtStart: Set<Int32> = []

    /// All of standard input ('-'). A closed stdin is refused (66), not read as empty.
    public static func readStandardInput() throws(InputError) -> Data {
        if closedAtStart.contains(0) || (fcntl(0, F_GETFD) == -1 && errno == EBADF) {
            throw InputError(.noInput, "standard input is closed: nothing to read for '-'", place: "stdin")
        }
        return try readAll(fd: 0, place: "stdin")
    }

    /// A whole file: a regular file, a pipe, a FIFO, /dev/stdin or a `<(...)` process substitution
    /// alike. Missing → 66 "no such NOUN"; a directory → 66; unreadable → 66 with the reason.
    public static func readFile(_ path: String, noun: String = "file") throws(InputError) -> Data {
        if path == "-" { return try readStandardInput() }
        var info = stat()
        if stat(path, &info) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw InputError(.noInput, "no such \(noun)", place: path) }
            throw InputError(.noInput, "cannot read the \(noun): \(describe(code))", place: path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw InputError(.noInput, "is a directory, not a \(noun)", place: path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw InputError(.noInput, "cannot read the \(noun): \(describe(errno))", place: path) }
        defer { close(fd) }
        return try readAll(fd: fd, place: path, noun: noun)
    }

    /// Reads a descriptor to its end. EINTR is retried; any other failure is a one-line error.
    public static func readAll(fd: Int32, place: String, noun: String = "file") throws(InputError) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { data.append(contentsOf: buffer[0..<n]); continue }
            if n == 0 { return data }
            let code = errno
            if code == EINTR { continue }
            if code == EBADF && fd == 0 {
                throw InputError(.noInput, "standard input is closed: nothing to read for '-'", place: "stdin")
            }
            throw InputError(.noInput, "cannot read the \(noun): \(describe(code))", place: place)
        }
    }

    /// Reads up to `count` bytes (fewer only at the end); empty at the end. For streaming inputs.
    public static func readChunk(fd: Int32, count: Int, place: String) throws(InputError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
            if n > 0 { filled += n; continue }
            if n == 0 { break }
            let code = errno
            if code == EINTR { continue }
            if code == EBADF && fd == 0 {
                throw InputError(.noInput, "standard input is closed: nothing to read for '-'", place: "stdin")
            }
            throw InputError(.noInput, "cannot read: \(describe(code))", place: place)
        }
        buffer.removeSubrange(filled...)
        return buffer
    }

    /// Writes a line to standard error. A closed or full stderr loses the line, nothing more: the
    /// exit status still says what happened.
    public static func writeStandardError(_ text: String) {
        var copy = text
        copy.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = write(STDERR_FILENO, base + offset, buffer.count - offset)
                if n > 0 { offset += n; continue }
                if n < 0 && errno == EINTR { continue }
                return
            }
        }
    }

    static func describe(_ code: Int32) -> String {
        switch code {
        case EACCES, EPERM: return "permission denied"
        default: return String(cString: strerror(code)).lowercased()
        }
    }
}
