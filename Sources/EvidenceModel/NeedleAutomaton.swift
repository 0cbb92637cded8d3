/// Aho–Corasick over bytes, ignoring ASCII case: one pass over a text finds every rule needle in it.
/// Phrase rules are candidates only when one of their literal words occurs, so a record costs one
/// scan of its text, not one regex per phrase rule.
public struct NeedleAutomaton: Sendable {
    /// Byte → alphabet class (0 for every byte no needle contains).
    private let classOf: [UInt8]
    private let width: Int
    /// Dense transition table: state * width + class → next state.
    private let next: [Int32]
    /// Needle ids ending at each state (including those reached through failure links).
    private let outputs: [[Int32]]

    public init(needles: [[UInt8]]) {
        var classOf = [UInt8](repeating: 0, count: 256)
        var width = 1
        for needle in needles {
            for byte in needle where classOf[Int(byte)] == 0 {
                // More than 255 distinct bytes cannot happen for ASCII-lowercased needles.
                classOf[Int(byte)] = UInt8(truncatingIfNeeded: width)
                width += 1
            }
        }
        // Upper-case ASCII letters fall in their lower-case letter's class, so a text can be scanned
        // as it is, without a lowered copy (needles are ASCII-lowercased by every caller).
        assert(needles.allSatisfy { !$0.contains { $0 >= 0x41 && $0 <= 0x5A } }, "needles must be lower-case")
        for upper in 0x41...0x5A { classOf[upper] = classOf[upper + 0x20] }
        // At most one state per needle byte, plus the root: allocate the dense table once.
        let maxStates = needles.reduce(1) { $0 + $1.count }
        var goto = [Int32](repeating: -1, count: maxStates * width)
        var out: [[Int32]] = [[]]
        out.reserveCapacity(maxStates)
        for (id, needle) in needles.enumerated() {
            var state = 0
            for byte in needle {
                let slot = state * width + Int(classOf[Int(byte)])
                if goto[slot] == -1 {
                    out.append([])
                    goto[slot] = Int32(out.count - 1)
                }
                state = Int(goto[slot])
            }
            out[state].append(Int32(id))
        }
        var fail = Array(repeating: 0, count: out.count)
        var queue: [Int] = []
        for c in 0..<width {
            let s = goto[c]
            if s == -1 { goto[c] = 0 } else { queue.append(Int(s)) }
        }
        var head = 0
        while head < queue.count {
            let r = queue[head]; head += 1
            for c in 0..<width {
                let s = goto[r * width + c]
                if s == -1 {
                    goto[r * width + c] = goto[fail[r] * width + c]
                } else {
                    let si = Int(s)
                    fail[si] = Int(goto[fail[r] * width + c])
                    out[si] += out[fail[si]]
                    queue.append(si)
                }
            }
        }
        self.classOf = classOf
        self.width = width
        goto.removeSubrange((out.count * width)...)
        next = goto
        outputs = out
    }

    /// Calls `found` with the id of every needle occurring in `text` (possibly more than once),
    /// ignoring ASCII case.
    public func scan(_ text: UnsafeBufferPointer<UInt8>, _ found: (Int) -> Void) {
        next.withUnsafeBufferPointer { table in
            classOf.withUnsafeBufferPointer { classes in
                var state = 0
                for byte in text {
                    state = Int(table[state &* width &+ Int(classes[Int(byte)])])
                    if !outputs[state].isEmpty {
                        for id in outputs[state] { found(Int(id)) }
                    }
                }
            }
        }
    }
}

