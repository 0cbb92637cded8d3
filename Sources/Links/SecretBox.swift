import Crypto
import EvidenceModel
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Encryption at rest for what the store must be able to read back (provider tokens, PKCE
/// verifiers): AES-256-GCM with a random nonce per value. Each value is bound to its place (the
/// `context`, e.g. a connection id), so a sealed value copied into another row does not open there.
/// `@unchecked`: `SymmetricKey` is not marked Sendable, but it is an immutable value here (set once
/// in `init`, never mutated), so sharing it across threads is safe.
public struct SecretBox: @unchecked Sendable {
    /// The environment variable holding the key: 32 bytes, base64 or hex (`openssl rand -base64 32`).
    public static let environmentVariable = "AUTHDOCTOR_KEY"
    /// The key file's name beside the database, made on first use when the variable is not set.
    public static let keyFileName = "authdoctor.key"

    /// Sealed values start with this byte so another format or key scheme can follow.
    static let formatVersion: UInt8 = 1

    let key: SymmetricKey

    public init(key: SymmetricKey) {
        precondition(key.bitCount == 256, "SecretBox needs a 256-bit key")
        self.key = key
    }

    /// A key that lives as long as the process (in-memory stores, tests).
    public static func ephemeral() -> SecretBox {
        SecretBox(key: SymmetricKey(size: .bits256))
    }

    /// The key from `AUTHDOCTOR_KEY` when it is set, else from the key file (made on first use).
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment,
                            keyFile: String) throws(InputError) -> SecretBox {
        if let text = environment[environmentVariable] {
            guard let key = parseKey(text) else {
                throw InputError(.config, "\(environmentVariable) must hold 32 bytes in base64 or hex (make one with: openssl rand -base64 32)")
            }
            return SecretBox(key: key)
        }
        return SecretBox(key: try KeyFile.loadOrCreate(path: keyFile))
    }

    /// 32 bytes written as base64 (standard or URL alphabet, padding optional) or 64 hex digits.
    /// Never echoes the text: a half-pasted key is still a secret.
    public static func parseKey(_ text: String) -> SymmetricKey? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count == 64, let bytes = hexBytes(trimmed) { return SymmetricKey(data: bytes) }
        var base64 = trimmed.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64.append("=") }
        if let data = Data(base64Encoded: base64), data.count == 32 { return SymmetricKey(data: data) }
        return nil
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for c in text.utf8 {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high { bytes.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return high == nil ? bytes : nil
    }

    public func seal(_ plaintext: Data, context: String) throws -> Data {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw StoreError.cannotDecrypt }
        var out = Data([Self.formatVersion])
        out.append(combined)
        return out
    }

    /// The plaintext, or `StoreError.cannotDecrypt` (another key, another place, or tampered bytes).
    public func open(_ sealed: Data, context: String) throws -> Data {
        guard sealed.first == Self.formatVersion else { throw StoreError.cannotDecrypt }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.dropFirst())
            return try AES.GCM.open(box, using: key, authenticating: Data(context.utf8))
        } catch {
            throw StoreError.cannotDecrypt
        }
    }
}

/// The key file: base64 of 32 random bytes, mode 0600, owned by the user who runs authdoctor.
enum KeyFile {
    static func loadOrCreate(path: String) throws(InputError) -> SymmetricKey {
        if let key = try read(path: path) { return key }
        try create(path: path)
        guard let key = try read(path: path) else {
            throw InputError(.io, "the key file vanished right after it was made", place: path)
        }
        return key
    }

    /// The key, nil when there is no file; a file others can read, or that is not a key, is refused.
    static func read(path: String) throws(InputError) -> SymmetricKey? {
        let fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw InputError(.config, "cannot open the key file: \(String(cString: strerror(errno)))", place: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw InputError(.config, "the key file is not a regular file", place: path)
        }
        if info.st_mode & 0o077 != 0 {
            throw InputError(.config, "the key file can be read by group or others (run: chmod 600 \(path))", place: path)
        }
        if info.st_uid != geteuid() {
            throw InputError(.config, "the key file belongs to another user", place: path)
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        var length = 0
        while length < buffer.count {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + length, $0.count - length) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw InputError(.io, "cannot read the key file: \(String(cString: strerror(errno)))", place: path) }
            if n == 0 { break }
            length += n
        }
        guard let key = SecretBox.parseKey(String(decoding: buffer[0..<length], as: UTF8.self)) else {
            throw InputError(.config, "the key file does not hold a 32-byte key in base64 or hex", place: path)
        }
        return key
    }

    /// Writes a new key beside, then links it into place: the key file appears whole or not at all,
    /// and a key another process made at the same moment wins (link(2) fails with EEXIST).
    static func create(path: String) throws(InputError) {
        let text = LinkSecrets.randomBytes(32).withUnsafeBufferPointer { Data($0) }.base64EncodedString() + "\n"
        let temporary = path + ".new-" + LinkSecrets.newID(prefix: "")
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw InputError(.io, "cannot create the key file: \(String(cString: strerror(errno)))", place: path)
        }
        defer { unlink(temporary) }
        let written = text.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress!, $0.count - 1) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == text.utf8.count, synced else {
            throw InputError(.io, "cannot write the key file", place: path)
        }
        if link(temporary, path) != 0 && errno != EEXIST {
            throw InputError(.io, "cannot create the key file: \(String(cString: strerror(errno)))", place: path)
        }
    }
}

/// Store failures that are not link refusals.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection has this id.
    case unknownConnection(String)
    /// The connection was removed: its tokens were erased with it.
    case connectionRemoved(String)
    /// A sealed value does not open with this key (another key, or the bytes were altered).
    case cannotDecrypt

    public var description: String {
        switch self {
        case let .unknownConnection(id): return "no connection has the id '\(id)'"
        case let .connectionRemoved(id): return "connection '\(id)' was removed; its tokens are gone"
        case .cannotDecrypt:
            return "stored tokens do not open with this key (\(SecretBox.environmentVariable) or \(SecretBox.keyFileName) differs from the one they were written with)"
        }
    }
}
