import EvidenceModel
import Foundation
import RuleEngine
#if canImport(Glibc)
import Glibc
#endif

/// `authdoctor-serve`: the same command line with the link server linked in (Hummingbird, NIO).
/// `authdoctor` leaves the server out, so every other command loads a smaller binary and starts
/// faster (issue 18); `serve`, and `demo` with its link-flow part, replace this process with it.
package enum ServerExecutable {
    package static let name = "authdoctor-serve"
    /// Set for the exec: the build the hand-over came from (its rules and engine digest). The
    /// server refuses another build's hand-over, and `authdoctor` never hands over twice.
    package static let handOverVariable = "AUTHDOCTOR_HANDED_OVER_FROM"

    /// Replaces this process with `authdoctor-serve` from beside this executable, given this
    /// process's own arguments byte for byte: same process id, standard streams and environment,
    /// so signals and exit statuses reach the server.
    package static func handOver() throws(InputError) -> Never {
        if ProcessInfo.processInfo.environment[handOverVariable] != nil {
            // authdoctor-serve is (or runs) an authdoctor without the server: exec'ing again would loop.
            throw InputError(.unavailable, "\(name) handed this command back to authdoctor: reinstall both from one build (`make install`)")
        }
        let own = ownPath()
        guard let path = own.map({ ($0 as NSString).deletingLastPathComponent + "/" + name }), isRunnable(path) else {
            throw InputError(.unavailable, "this command runs the link server, which is in the \(name) executable, and there is none "
                + "beside \(own ?? "authdoctor"): build both (`swift build`) or install both (`make install`)")
        }
        setenv(handOverVariable, RuleSnapshot.builtinKey, 1)
        // The original argv (not CommandLine.arguments, which went through String decoding), with argv[0] replaced.
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(path)]
        for index in 1..<Int(CommandLine.argc) { argv.append(CommandLine.unsafeArgv[index]) }
        argv.append(nil)
        execv(path, &argv)
        let reason = String(cString: strerror(errno))
        free(argv[0])
        unsetenv(handOverVariable)
        throw InputError(.unavailable, "cannot start \(path): \(reason)")
    }

    /// In `authdoctor-serve`: a hand-over from another build (a stale binary beside a rebuilt one)
    /// is refused, since its flags and rules may differ.
    package static func checkHandOver() throws(InputError) {
        guard let from = ProcessInfo.processInfo.environment[handOverVariable] else { return }
        unsetenv(handOverVariable)
        if from != RuleSnapshot.builtinKey {
            throw InputError(.unavailable, "\(name) beside authdoctor is from another build: rebuild both (`swift build`) or reinstall both (`make install`)")
        }
    }

    /// A regular file this process may execute (a directory of that name is not one).
    static func isRunnable(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    /// This process's executable, symbolic links resolved (`/proc/self/exe`).
    static func ownPath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return Bundle.main.executablePath }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
