import EvidenceModel
@testable import HealthCheck
import XCTest

/// `check --shard K/N`: a stable hash (64-bit FNV-1a, not Swift's per-process seeded Hasher) splits
/// the connections so N workers check each exactly once.
final class CheckShardTests: XCTestCase {
    /// The published FNV-1a 64 test vectors: the split is the same on every machine and build.
    func testHashIsFNV1a64() {
        XCTAssertEqual(CheckShard.hash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(CheckShard.hash("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(CheckShard.hash("foobar"), 0x8594_4171_f739_67e8)
    }

    func testEveryNameIsInExactlyOneShardAndTheShardsAreEven() throws {
        let names = (0..<3000).map { "connection-\($0)" } + (0..<300).map { "con_" + String($0 * 7919, radix: 36) }
        for count in 1...5 {
            let shards = try (1...count).map { try CheckShard(index: $0, count: count) }
            var sizes = Array(repeating: 0, count: count)
            for name in names {
                let owners = shards.indices.filter { shards[$0].contains(name) }
                XCTAssertEqual(owners.count, 1, "\(name) in \(owners.count) of \(count) shards")
                sizes[owners.first ?? 0] += 1
            }
            let even = Double(names.count) / Double(count)
            for size in sizes { XCTAssertEqual(Double(size), even, accuracy: even * 0.15, "sizes \(sizes)") }
        }
    }

    func testSelectKeepsSourceOrder() throws {
        let entries = (0..<40).map { ConnectionEntry(index: $0, name: "n\($0)", settings: ConnectionSettings()) }
        let one = try CheckShard(parsing: "1/2").select(entries), two = try CheckShard(parsing: "2/2").select(entries)
        XCTAssertEqual(one.map(\.index), one.map(\.index).sorted())
        XCTAssertEqual(Set(one.map(\.name)).union(two.map(\.name)), Set(entries.map(\.name)))
        XCTAssertTrue(Set(one.map(\.name)).isDisjoint(with: two.map(\.name)))
        XCTAssertEqual(try CheckShard(parsing: "1/1").select(entries).count, 40)
    }

    func testBadValuesAreUsageErrors() {
        for bad in ["0/2", "3/2", "1/0", "2", "a/b", "1/2/3", "-1/2", "/2", "1/", "", " 1/2", "1/99999999", "1/5000"] {
            XCTAssertThrowsError(try CheckShard(parsing: bad), bad) { error in
                XCTAssertEqual((error as? InputError)?.kind, .usage, bad)
                XCTAssertTrue((error as? InputError)?.message.contains("--shard") == true, bad)
            }
        }
        XCTAssertEqual(try CheckShard(parsing: "2/3").description, "2/3")
    }
}
