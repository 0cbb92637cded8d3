import EvidenceModel
import Foundation
import RuleEngine

/// `authdoctor rules score FILE…`: how often the top finding names the right failure class on a
/// labelled corpus of real error reports (fixtures/real/*.jsonl: one record a line, the `--batch`
/// members plus `expect`, `source`, `note`). Each record is classified twice: with its `provider`
/// and with the provider left for detection, since a ticket rarely says which provider it is.
public struct CorpusScore: Sendable {
    public struct Outcome: Sendable {
        public var id: String
        public var file: String
        public var provider: String?
        public var expect: [String]
        public var got: String
        public var gotWithoutProvider: String
        public var detected: String?
        public var rule: String
        public var right: Bool { expect.contains(got) }
        public var rightWithoutProvider: Bool { expect.contains(gotWithoutProvider) }
    }

    public var outcomes: [Outcome] = []
    public var problems: [String] = []

    public init() {}

    /// Reads and classifies every record of `contents` (one file's text).
    public mutating func add(contents: String, file: String, engine: ClassifyEngine) {
        var lineNumber = 0
        for line in contents.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let place = "\(file):\(lineNumber)"
            guard let json = try? JSON.parse(String(trimmed)), case let .object(members) = json else {
                problems.append("\(place): not a JSON object")
                continue
            }
            let expect = json["expect"]?.arrayValue?.compactMap(\.stringValue) ?? []
            guard !expect.isEmpty else { problems.append("\(place): no \"expect\" list"); continue }
            let id = json["id"]?.stringValue ?? json["id"]?.intValue.map(String.init) ?? place
            let withProvider: BatchRecord
            let withoutProvider: BatchRecord
            do {
                withProvider = try BatchRecord.from(json, place: place)
                withoutProvider = try BatchRecord.from(.object(members.filter { $0.0 != "provider" }), place: place)
            } catch {
                problems.append("\(place): \(error.message)")
                continue
            }
            let given = engine.report(for: [withProvider.evidence], source: nil, id: id)
            let detected = engine.report(for: [withoutProvider.evidence], source: nil, id: id)
            outcomes.append(Outcome(
                id: id, file: file, provider: json["provider"]?.stringValue, expect: expect,
                got: given.findings.first?.failure ?? "healthy", gotWithoutProvider: detected.findings.first?.failure ?? "healthy",
                detected: detected.provider, rule: given.findings.first?.rule ?? "-"))
        }
    }

    public struct Tally: Sendable {
        public var right = 0
        public var rightWithoutProvider = 0
        public var total = 0
        public var percent: Double { total == 0 ? 0 : Double(right) * 100 / Double(total) }
        public var percentWithoutProvider: Double { total == 0 ? 0 : Double(rightWithoutProvider) * 100 / Double(total) }
        mutating func add(_ o: Outcome) {
            total += 1
            if o.right { right += 1 }
            if o.rightWithoutProvider { rightWithoutProvider += 1 }
        }
    }

    public var overall: Tally { outcomes.reduce(into: Tally()) { $0.add($1) } }

    public func tally(by key: (Outcome) -> String) -> [(String, Tally)] {
        var table: [String: Tally] = [:]
        for o in outcomes { table[key(o), default: Tally()].add(o) }
        return table.sorted { $0.value.total != $1.value.total ? $0.value.total > $1.value.total : $0.key < $1.key }
    }

    /// expected → got pairs among the misses (with the provider given), most common first.
    public var confusions: [(String, Int)] {
        var table: [String: Int] = [:]
        for o in outcomes where !o.right { table["\(o.expect[0]) → \(o.got)", default: 0] += 1 }
        return table.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    }

    public func text(showMisses: Bool) -> String {
        func pct(_ d: Double) -> String { String(format: "%5.1f%%", d) }
        let all = overall
        var out = "records: \(all.total)\n"
        out += "top finding right: \(pct(all.percent)) with the provider, \(pct(all.percentWithoutProvider)) without (\(all.right)/\(all.total), \(all.rightWithoutProvider)/\(all.total))\n"
        func rows(_ table: [(String, Tally)]) -> String {
            table.map { name, t in
                "  \(name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(String(format: "%4d", t.total))  \(pct(t.percent))  \(pct(t.percentWithoutProvider))\n"
            }.joined()
        }
        let files = tally(by: \.file)
        if files.count > 1 { out += "\nby file\n" + rows(files) }
        out += "\nby provider                              n    with  without\n" + rows(tally(by: { $0.provider ?? "(none)" }))
        out += "\nby expected class\n" + rows(tally(by: { $0.expect[0] }))
        let confusions = self.confusions
        if !confusions.isEmpty {
            out += "\nmost common confusions (expected → got, with the provider)\n"
            for (pair, n) in confusions.prefix(12) { out += "  \(String(format: "%3d", n))  \(pair)\n" }
        }
        if showMisses {
            out += "\nmisses\n"
            for o in outcomes where !o.right || !o.rightWithoutProvider {
                out += "  \(o.id): expect \(o.expect.joined(separator: "|")), got \(o.got) (\(o.rule)), without provider \(o.gotWithoutProvider) (detected \(o.detected ?? "none"))\n"
            }
        }
        for problem in problems { out += "problem: \(problem)\n" }
        return out
    }

    public func json() -> JSONValue {
        func tallies(_ rows: [(String, Tally)]) -> JSONValue {
            .object(rows.map { ($0.0, .object([("records", .int($0.1.total)), ("right", .int($0.1.right)),
                                                 ("rightWithoutProvider", .int($0.1.rightWithoutProvider))])) })
        }
        let all = overall
        return .object([
            ("schema", .string("authdoctor.score/v1")),
            ("records", .int(all.total)), ("right", .int(all.right)), ("rightWithoutProvider", .int(all.rightWithoutProvider)),
            ("accuracy", .double((all.percent * 10).rounded() / 10)),
            ("accuracyWithoutProvider", .double((all.percentWithoutProvider * 10).rounded() / 10)),
            ("byProvider", tallies(tally(by: { $0.provider ?? "(none)" }))),
            ("byClass", tallies(tally(by: { $0.expect[0] }))),
            ("confusions", .object(confusions.map { ($0.0, .int($0.1)) })),
            ("misses", .array(outcomes.filter { !$0.right || !$0.rightWithoutProvider }.map {
                .object([("id", .string($0.id)), ("expect", .array($0.expect.map { .string($0) })), ("got", .string($0.got)),
                         ("gotWithoutProvider", .string($0.gotWithoutProvider)), ("rule", .string($0.rule))])
            })),
            ("problems", .array(problems.map { .string($0) })),
        ])
    }
}
