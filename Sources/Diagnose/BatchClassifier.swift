import EvidenceModel
import Foundation
import RuleEngine

/// `classify --batch FILE.jsonl`: one record a line in, one report a line out, same id. A bad line
/// becomes an error record for its id and the rest still classify.
public struct BatchClassifier: Sendable {
    public let engine: ClassifyEngine
    public let writer: JSONReportWriter

    public struct Summary: Sendable {
        public var records = 0
        public var errors = 0
        public var byFailure: [String: Int] = [:]
    }

    public init(engine: ClassifyEngine, writer: JSONReportWriter = JSONReportWriter()) {
        self.engine = engine
        self.writer = writer
    }

    /// Classifies one line (without its newline) into `out`.
    public func classifyLine(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into out: inout JSONWriter, summary: inout Summary) {
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
        let report = engine.report(for: [record.evidence], source: nil, id: id)
        summary.byFailure[report.findings.first?.failure ?? "unknown", default: 0] += 1
        writer.write(report, into: &out)
        out.bytes.append(0x0A)
    }

    /// Streams `input` to `output` (both file descriptors), reading and writing in large blocks.
    public func run(input: FileHandle, output: FileHandle) throws -> Summary {
        var summary = Summary()
        var pending: [UInt8] = []
        var out = JSONWriter(capacity: 1 << 20)
        var lineNumber = 0
        let flushAt = 1 << 20

        func processLines(final: Bool) {
            pending.withUnsafeBufferPointer { buffer in
                var start = 0
                var i = 0
                while i < buffer.count {
                    if buffer[i] == 0x0A {
                        lineNumber += 1
                        emit(UnsafeBufferPointer(rebasing: buffer[start..<i]))
                        start = i + 1
                    }
                    i += 1
                }
                if final && start < buffer.count {
                    lineNumber += 1
                    emit(UnsafeBufferPointer(rebasing: buffer[start..<buffer.count]))
                    start = buffer.count
                }
                consumed = start
            }
            pending.removeFirst(consumed)
        }
        var consumed = 0
        func emit(_ line: UnsafeBufferPointer<UInt8>) {
            var end = line.count
            while end > 0 && (line[end - 1] == 0x0D || line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
            guard end > 0 else { return }
            classifyLine(UnsafeBufferPointer(rebasing: line[0..<end]), lineNumber: lineNumber, into: &out, summary: &summary)
            if out.bytes.count >= flushAt {
                output.write(Data(out.bytes))
                out.bytes.removeAll(keepingCapacity: true)
            }
        }

        while true {
            let chunk = input.readData(ofLength: 4 << 20)
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            processLines(final: false)
        }
        processLines(final: true)
        if !out.bytes.isEmpty { output.write(Data(out.bytes)) }
        return summary
    }
}
