import EvidenceModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `authdoctor-serve`: the same command line with the link server linked in (Hummingbird, NIO).
/// `authdoctor` leaves the server out, so every other command loads a smaller binary and starts
/// faster (issue 18); `serve`, and `demo` with its link-flow part, replace this process with it.
package enum ServerExecutable {
    package static let name = "authdoctor-serve"

    /// Replaces this process with `authdoctor-serve`, given this process's own arguments: same
    /// process id, standard streams and environment, so signals and exit statuses reach the server.
    package static func handOver() throws(InputError) -> Never {
        guard let path = locate() else {
            throw InputError(.unavailable, "this command runs the link server, which is in the \(name) executable, and there is none "
                + "beside \(ownPath() ?? "authdoctor") nor on PATH: build it (`swift build`) or install both (`make install`)")
        }
        let arguments = [path] + CommandLine.arguments.dropFirst()
        var argv = arguments.map { strdup($0) } + [nil]
        execv(path, &argv)
        let reason = String(cString: strerror(errno))
        for pointer in argv { free(pointer) }
        throw InputError(.unavailable, "cannot start \(path): \(reason)")
    }

    /// Beside this executable first (a build tree, an install prefix), then on PATH.
    static func locate() -> String? {
        var candidates: [String] = []
        if let own = ownPath() { candidates.append((own as NSString).deletingLastPathComponent + "/" + name) }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        candidates += path.split(separator: ":").map { String($0) + "/" + name }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// This process's executable, symbolic links resolved (`/proc/self/exe`).
    static func ownPath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return Bundle.main.executablePath }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
