import EvidenceModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RuleEngine

/// `classify --batch FILE.jsonl`: one record a line in, one report a line out, same id. A bad line
/// becomes an error record for its id and the rest still classify.
public struct BatchClassifier: Sendable {
    public let engine: ClassifyEngine
    public let writer: JSONReportWriter
    /// Include every (redacted) fact in each report line (`--show-facts`).
    public var keepFacts = false
    /// Records whose read facts repeat an earlier record's reuse its report (BatchMemo). Off only
    /// to compare against (tests, `authdoctor-bench batch`).
    public var memoize = true

    public struct Summary: Sendable {
        public var records = 0
        public var errors = 0
        public var byFailure: [String: Int] = [:]
        /// Records whose report was reused from an earlier record with the same read facts (BatchMemo).
        public var reused = 0
        public init() {}
    }

    /// Makes each extra worker its own engine (its own rule set, loaded again). Threads sharing one
    /// rule set contend on the reference counts and locks of the same objects: two threads cost a
    /// third more CPU than two processes. nil: every worker shares `engine`.
    public var makeWorkerEngine: (@Sendable () -> ClassifyEngine?)?

    public init(engine: ClassifyEngine, writer: JSONReportWriter = JSONReportWriter(), keepFacts: Bool = false,
                makeWorkerEngine: (@Sendable () -> ClassifyEngine?)? = nil) {
        self.makeWorkerEngine = makeWorkerEngine
        // One batch, one time of making: every line carries the same `generatedAt`, so the output
        // does not depend on how the lines were spread over jobs.
        var engine = engine
        if engine.generatedAt == nil { engine.generatedAt = Report.now() }
        self.engine = engine
        self.writer = writer
        self.keepFacts = keepFacts
    }

    /// Classifies one line (without its newline) into `out`.
    public func classifyLine(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into out: inout JSONWriter, summary: inout Summary) {
        classifyLine(line, lineNumber: lineNumber, engine: engine, writer: writer, into: &out, summary: &summary)
    }

    func classifyLine(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, engine: ClassifyEngine, writer: JSONReportWriter,
                      memo: BatchMemo? = nil, into out: inout JSONWriter, summary: inout Summary) {
        summary.records += 1
        let json: JSONValue
        do {
            json = try JSON.parse(line)
        } catch {
            let e = error as! JSONParseError
            summary.errors += 1
            writer.writeError(id: "line \(lineNumber)", error: InputError(.data, "invalid JSON: \(e.message) at column \(e.column)", place: "line \(lineNumber)"), into: &out)
            out.bytes.append(0x0A)
            return
        }
        let rawID: String? = {
            switch json["id"] {
            case let .string(s)?: return s
            case let .int(i)?: return String(i)
            default: return nil
            }
        }()
        let id = rawID ?? "line \(lineNumber)"
        let record: BatchRecord
        do {
            record = try BatchRecord.from(json, place: rawID.map { "record \($0) (line \(lineNumber))" } ?? "line \(lineNumber)")
        } catch {
            summary.errors += 1
            writer.writeError(id: id, error: error, into: &out)
            out.bytes.append(0x0A)
            return
        }
        let evidences = [record.evidence]
        let factSets = [engine.extractor.facts(for: record.evidence)]
        // Not with --show-facts (every fact is shown), nor when the text names a secret: the
        // scrubbing then depends on more than the read facts.
        if let memo, !keepFacts, memo.wanted(), ClassifyEngine.namedSecrets(in: evidences, factSets: factSets).isEmpty {
            let (key, presenceOnly) = memo.key(kind: record.evidence.kind.rawValue, facts: factSets[0])
            let entry: BatchMemo.Entry
            if let hit = memo[key] {
                entry = hit
                summary.reused += 1
            } else {
                // The text names no secret (just checked): no need to look again.
                let report = engine.report(for: evidences, factSets: factSets, source: nil, id: id, keepFacts: false, namedSecrets: [])
                var tail = JSONWriter(capacity: 4096)
                writer.writeTail(report, into: &tail)
                entry = BatchMemo.Entry(tail: tail.bytes, failure: report.findings.first?.failure ?? "none")
                // A fact keyed by its presence alone but shown as evidence: another value would
                // show differently, so this report is not for reuse.
                let shows = report.findings.contains { $0.evidence.contains { presenceOnly.contains($0.name) } }
                if !shows { memo.store(entry, for: key) }
            }
            summary.byFailure[entry.failure, default: 0] += 1
            writer.writeHead(id: id, into: &out)
            out.rawBytes(entry.tail)
            out.bytes.append(0x0A)
            return
        }
        let report = engine.report(for: evidences, factSets: factSets, source: nil, id: id, keepFacts: keepFacts)
        summary.byFailure[report.findings.first?.failure ?? "none", default: 0] += 1
        writer.write(report, into: &out)
        out.bytes.append(0x0A)
    }

    /// Streams `input` to `output`, classifying blocks of lines on `jobs` threads and writing the
    /// results in input order.
    public func run(input: FileHandle, output: FileHandle, jobs: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> Summary {
        var summary = Summary()
        var pending: [UInt8] = []
        var lineNumber = 0
        let workers = max(1, jobs)
        // Worker i's engine and writer; the first worker's are this classifier's, the others are
        // made by their own thread at its first block (so loading them overlaps the work).
        let workerTools = ConcurrentSlots<(ClassifyEngine, JSONReportWriter, BatchMemo?)>(count: workers)
        let factNamesRead = memoize ? engine.factNamesReadByProvider() : nil
        workerTools.set(0, (engine, writer, factNamesRead.map { BatchMemo(factNamesRead: $0) }))
        let generatedAt = engine.generatedAt
        @Sendable func tools(_ slice: Int) -> (ClassifyEngine, JSONReportWriter, BatchMemo?) {
            if let made = workerTools.get(slice) { return made }
            var own = makeWorkerEngine?() ?? engine
            own.generatedAt = generatedAt
            let made = (own, JSONReportWriter(), factNamesRead.map { BatchMemo(factNamesRead: $0) })
            workerTools.set(slice, made)
            return made
        }

        /// Cuts complete lines out of `pending` (all of it at the end), skipping blank ones.
        func takeLines(final: Bool) throws {
            var lines: [Range<Int>] = []
            var numbers: [Int] = []
            var start = 0
            var consumed = 0
            pending.withUnsafeBufferPointer { buffer in
                var i = 0
                while i < buffer.count {
                    if buffer[i] == 0x0A {
                        lineNumber += 1
                        Self.addLine(buffer, start..<i, number: lineNumber, to: &lines, &numbers)
                        start = i + 1
                    }
                    i += 1
                }
                if final && start < buffer.count {
                    lineNumber += 1
                    Self.addLine(buffer, start..<buffer.count, number: lineNumber, to: &lines, &numbers)
                    start = buffer.count
                }
                consumed = start
            }
            guard !lines.isEmpty else { pending.removeFirst(consumed); return }
            let block = Array(pending[0..<consumed])
            pending.removeFirst(consumed)
            try classifyNumbered(block, lines: lines, numbers: numbers)
        }

        func classifyNumbered(_ block: [UInt8], lines: [Range<Int>], numbers: [Int]) throws {
            let slices = Self.split(lines.count, into: workers)
            let outputs = ConcurrentSlots<(JSONWriter, Summary)>(count: slices.count)
            block.withUnsafeBufferPointer { whole in
                // The block outlives the concurrent loop and is only read.
                let shared = SharedBytes(buffer: whole)
                DispatchQueue.concurrentPerform(iterations: slices.count) { slice in
                    let buffer = shared.buffer
                    let (engine, writer, memo) = tools(slice)
                    var out = JSONWriter(capacity: 1 << 20)
                    var partial = Summary()
                    for index in slices[slice] {
                        classifyLine(UnsafeBufferPointer(rebasing: buffer[lines[index]]), lineNumber: numbers[index],
                                     engine: engine, writer: writer, memo: memo, into: &out, summary: &partial)
                    }
                    outputs.set(slice, (out, partial))
                }
            }
            for (out, partial) in outputs.values {
                try Self.write(out.bytes, to: output)
                summary.records += partial.records
                summary.errors += partial.errors
                summary.reused += partial.reused
                for (k, v) in partial.byFailure { summary.byFailure[k, default: 0] += v }
            }
        }

        // read(2), not FileHandle: a closed or failing input is an error to report, not a trap.
        let fd = input.fileDescriptor
        let place = fd == 0 ? "stdin" : "the batch file"
        while true {
            let chunk = try SystemIO.readChunk(fd: fd, count: 4 << 20, place: place)
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            try takeLines(final: false)
        }
        try takeLines(final: true)
        return summary
    }

    /// Writes straight from the buffer (no copy into Data: batch output is hundreds of megabytes).
    static func write(_ bytes: [UInt8], to output: FileHandle) throws {
        let fd = output.fileDescriptor
        let failure: Int32? = bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return errno }
            }
            return nil
        }
        if let failure { throw OutputError(code: failure) }
    }

    /// The output could not be written (EPIPE: the reader went away).
    public struct OutputError: Error, Sendable {
        public var code: Int32
        public var readerWentAway: Bool { code == EPIPE }
    }

    static func addLine(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, number: Int,
                        to lines: inout [Range<Int>], _ numbers: inout [Int]) {
        var end = range.upperBound
        while end > range.lowerBound && (buffer[end - 1] == 0x0D || buffer[end - 1] == 0x20 || buffer[end - 1] == 0x09) { end -= 1 }
        guard end > range.lowerBound else { return }
        lines.append(range.lowerBound..<end)
        numbers.append(number)
    }

    /// `count` items cut into at most `parts` contiguous ranges.
    static func split(_ count: Int, into parts: Int) -> [Range<Int>] {
        let n = max(1, min(parts, count))
        return (0..<n).map { i in (count * i / n)..<(count * (i + 1) / n) }
    }
}

/// Read-only bytes shared by the threads of one concurrent loop.
struct SharedBytes: @unchecked Sendable {
    let buffer: UnsafeBufferPointer<UInt8>
}
