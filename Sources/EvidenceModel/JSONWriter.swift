/// Writes JSON into a byte buffer without Foundation: reports are written for every batch record,
/// so this stays on the hot path and keeps key order as the caller gives it.
public struct JSONWriter {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    public static func serialize(_ value: JSONValue) -> String {
        var w = JSONWriter()
        w.value(value)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func rawBytes(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    public mutating func string(_ s: String) {
        bytes.append(0x22)
        var copy = s
        copy.withUTF8 { buffer in
            var runStart = 0
            for i in 0..<buffer.count {
                let c = buffer[i]
                if c >= 0x20 && c != 0x22 && c != 0x5C { continue }
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<i])) }
                switch c {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
                case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
                case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
                }
                runStart = i + 1
            }
            if runStart < buffer.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<buffer.count])) }
        }
        bytes.append(0x22)
    }

    public mutating func int(_ i: Int) { bytes.append(contentsOf: String(i).utf8) }
    public mutating func double(_ d: Double) {
        if d.isFinite, d.rounded() == d, abs(d) < 1e15 { int(Int(d)) } else if d.isFinite { bytes.append(contentsOf: String(d).utf8) } else { raw("null") }
    }
    public mutating func bool(_ b: Bool) { b ? raw("true") : raw("false") }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: raw("null")
        case let .bool(b): bool(b)
        case let .int(i): int(i)
        case let .double(d): double(d)
        case let .string(s): string(s)
        case let .array(items):
            bytes.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(0x2C) }
                value(item)
            }
            bytes.append(0x5D)
        case let .object(members):
            bytes.append(0x7B)
            for (i, (k, item)) in members.enumerated() {
                if i > 0 { bytes.append(0x2C) }
                string(k)
                bytes.append(0x3A)
                value(item)
            }
            bytes.append(0x7D)
        }
    }

    public mutating func fact(_ v: FactValue) {
        switch v {
        case let .string(s): string(s)
        case let .int(i): int(i)
        case let .double(d): double(d)
        case let .bool(b): bool(b)
        case .null: raw("null")
        case let .list(items):
            bytes.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(0x2C) }
                fact(item)
            }
            bytes.append(0x5D)
        }
    }
}
