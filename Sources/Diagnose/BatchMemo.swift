import EvidenceModel
import RuleEngine

/// The report tails of records a batch worker has classified, keyed by the facts classification
/// reads. Failure logs repeat: the same expired token or missing scope comes back thousands of
/// times, differing only in trace ids, timestamps and padding that no rule reads. A record whose
/// read facts equal an earlier one's gets that record's report after its own `id`, byte for byte
/// what classifying it would have written (BatchMemoTests compares both over the real corpus).
/// One worker's: not shared between threads.
final class BatchMemo: @unchecked Sendable {
    struct Entry {
        /// The report after its `id` (JSONReportWriter.writeTail).
        var tail: [UInt8]
        /// The first finding's failure class, for the batch summary.
        var failure: String
    }

    private let read: FactNamesRead
    /// What a record of some providers reads, by provider mask: a batch holds few providers.
    struct ReadNames {
        var values: Set<FactName>
        var presence: Set<FactName>
        /// `presence` as strings, to check a report's evidence against.
        var presenceNames: Set<String>
    }
    private var namesByProviders: [UInt32: ReadNames] = [:]
    private var entries: [Key: Entry] = [:]

    /// A key's bytes, hashed as one buffer: `[UInt8]`'s own hashing feeds the hasher a byte at a
    /// time (a few hundred calls a record, 6% of a repeating batch's time).
    struct Key: Hashable {
        let bytes: [UInt8]
        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
    private var storedBytes = 0
    /// Beyond this (keys and tails together) the memo starts over: a batch of all-different
    /// records must not grow it without bound.
    static let maxBytes = 16 << 20

    init(factNamesRead: FactNamesRead) {
        read = factNamesRead
    }

    /// A record's key: its kind and its read facts, sorted by name, in an unambiguous encoding.
    /// What counts as read depends on the record's providers (FactNamesRead); `provider` is always
    /// read, so records of different providers never share a key. A fact tested only with
    /// `exists` counts by its presence, not its value (`presenceOnly`: a report that shows one
    /// must not be stored).
    func key(kind: String, facts: Facts) -> (key: Key, presenceOnly: Set<String>) {
        let providers = FactNamesRead.providers(of: facts)
        let names: ReadNames
        if let known = namesByProviders[providers] { names = known } else {
            let split = read.names(forProviders: providers)
            names = ReadNames(values: Set(split.values.map(FactName.init)), presence: Set(split.presenceOnly.map(FactName.init)),
                              presenceNames: split.presenceOnly)
            namesByProviders[providers] = names
        }
        var read: [(name: String, value: FactValue)] = []
        for (name, value) in facts.table {
            if names.values.contains(name) {
                read.append((name.name, value))
            } else if names.presence.contains(name) {
                read.append((name.name, .bool(value.isPresent)))
            }
        }
        read.sort { $0.name < $1.name }
        var key: [UInt8] = []
        key.reserveCapacity(256)
        Self.append(string: kind, to: &key)
        for (name, value) in read {
            Self.append(string: name, to: &key)
            Self.append(value, to: &key)
        }
        return (Key(bytes: key), names.presenceNames)
    }

    /// Whether to consult the memo for the next record. A stretch of records that rarely repeat
    /// pauses it (building keys and keeping tails costs about a tenth of classifying); it tries
    /// again later, since a batch can change character part-way.
    func wanted() -> Bool {
        records += 1
        return records >= pausedUntil
    }

    subscript(key: Key) -> Entry? {
        let entry = entries[key]
        trialLookups += 1
        if entry != nil { trialHits += 1 }
        if trialLookups == Self.trialLength {
            if trialHits < Self.trialLength / 16 {
                pausedUntil = records + Self.pauseLength
                entries.removeAll()
                storedBytes = 0
            }
            trialLookups = 0
            trialHits = 0
        }
        return entry
    }

    static let trialLength = 1024
    static let pauseLength = 16 * 1024
    private var records = 0
    private var pausedUntil = 0
    private var trialLookups = 0
    private var trialHits = 0

    func store(_ entry: Entry, for key: Key) {
        let size = key.bytes.count + entry.tail.count
        if storedBytes + size > Self.maxBytes {
            entries.removeAll(keepingCapacity: true)
            storedBytes = 0
        }
        entries[key] = entry
        storedBytes += size
    }

    private static func append(length: Int, to key: inout [UInt8]) {
        withUnsafeBytes(of: UInt64(bitPattern: Int64(length)).littleEndian) { key.append(contentsOf: $0) }
    }

    private static func append(string: String, to key: inout [UInt8]) {
        append(length: string.utf8.count, to: &key)
        key.append(contentsOf: string.utf8)
    }

    private static func append(_ value: FactValue, to key: inout [UInt8]) {
        switch value {
        case let .string(s):
            key.append(1)
            append(string: s, to: &key)
        case let .int(i):
            key.append(2)
            append(length: i, to: &key)
        case let .double(d):
            key.append(3)
            withUnsafeBytes(of: d.bitPattern.littleEndian) { key.append(contentsOf: $0) }
        case let .bool(b):
            key.append(b ? 4 : 5)
        case .null:
            key.append(6)
        case let .list(items):
            key.append(7)
            append(length: items.count, to: &key)
            for item in items { append(item, to: &key) }
        }
    }
}
