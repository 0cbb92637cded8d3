import EvidenceModel

/// `check --shard K/N`: worker K of N checks the connections whose name (a file entry's `name`, a
/// stored connection's id) hashes to K-1 modulo N. The hash is 64-bit FNV-1a over the name's UTF-8
/// bytes: the same on every machine, every run and every build (Swift's `Hasher` is seeded per
/// process), so N workers given 1/N … N/N check every connection exactly once between them.
public struct CheckShard: Sendable, Equatable, CustomStringConvertible {
    /// 1-based.
    public var index: Int
    public var count: Int

    public static let maxCount = 4096

    public init(index: Int, count: Int) throws(InputError) {
        guard count >= 1, count <= Self.maxCount else {
            throw InputError(.usage, "--shard K/N: N must be 1 to \(Self.maxCount), not \(count)")
        }
        guard index >= 1, index <= count else {
            throw InputError(.usage, "--shard K/N: K must be 1 to N (\(count)), not \(index)")
        }
        self.index = index
        self.count = count
    }

    /// `K/N`, e.g. `2/3`.
    public init(parsing text: String) throws(InputError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Self.number(parts[0]), let n = Self.number(parts[1]) else {
            throw InputError(.usage, "--shard takes K/N (worker K of N, 1 <= K <= N, e.g. 1/2), not '\(Redactor.redact(String(text.prefix(40))))'")
        }
        try self.init(index: k, count: n)
    }

    static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 6, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(text)
    }

    public var description: String { "\(index)/\(count)" }

    /// 64-bit FNV-1a of the UTF-8 bytes.
    public static func hash(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    public func contains(_ name: String) -> Bool {
        Int(Self.hash(name) % UInt64(count)) == index - 1
    }

    /// The entries of this shard, in source order.
    public func select(_ entries: [ConnectionEntry]) -> [ConnectionEntry] {
        count == 1 ? entries : entries.filter { contains($0.name) }
    }
}
