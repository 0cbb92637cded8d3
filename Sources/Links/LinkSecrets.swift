import Crypto
import Foundation

/// The secrets and identifiers of the link flow: how they are made, hashed and compared.
public enum LinkSecrets {
    /// 32 bytes (256 bits) from the system CSPRNG (getrandom(2) on Linux), base64url without padding:
    /// link tokens, session cookie secrets, OAuth `state` values.
    public static func newSecret() -> String {
        base64URL(randomBytes(32))
    }

    /// What the store keeps instead of a secret: its SHA-256. A lookup by this digest reveals nothing
    /// about the secret through timing (finding a digest prefix is finding a SHA-256 preimage).
    public static func digest(_ secret: String) -> Data {
        Data(SHA256.hash(data: Data(secret.utf8)))
    }

    /// True when both digests are equal, in time independent of where they differ.
    public static func constantTimeEquals(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count {
            difference |= a[a.startIndex + index] ^ b[b.startIndex + index]
        }
        return difference == 0
    }

    /// A public identifier: prefix + 12 characters of lower-case base32 (60 random bits), e.g.
    /// `lnk_7f3k9q2m4xab`. Not secret; random so ids say nothing about how many links exist.
    public static func newID(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        var bits = generator.next() as UInt64
        var characters = [UInt8](repeating: 0, count: 12)
        for index in 0..<12 {
            characters[index] = base32Alphabet[Int(bits & 31)]
            bits >>= 5
        }
        return prefix + String(decoding: characters, as: UTF8.self)
    }

    static let base32Alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = generator.next() as UInt64
            for _ in 0..<8 where index < count {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }

    /// Base64url without padding (RFC 4648 section 5), as URLs and cookies carry it.
    public static func base64URL<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var out = [UInt8]()
        out.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            for shift in [18, 12, 6, 0] { out.append(base64URLAlphabet[Int(chunk >> UInt32(shift) & 63)]) }
            index += 3
        }
        let rest = input.count - index
        if rest > 0 {
            let chunk = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
            let shifts = rest == 2 ? [18, 12, 6] : [18, 12]
            for shift in shifts { out.append(base64URLAlphabet[Int(chunk >> UInt32(shift) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
