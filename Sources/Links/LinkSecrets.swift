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
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var generator = SystemRandomNumberGenerator()
        var id = prefix
        id.reserveCapacity(prefix.count + 12)
        for _ in 0..<12 { id.append(alphabet[Int(generator.next(upperBound: UInt8(32)))]) }
        return id
    }

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

    public static func base64URL<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
