import AuthDoctorTestSupport
import EmbeddedResources
import EvidenceModel
import Foundation
@testable import RuleEngine
import XCTest

/// The on-disk snapshot of the built-in rules: it must classify exactly like the YAML it came from,
/// and be ignored whenever it does not match the rule files.
final class RuleSnapshotTests: XCTestCase {
    var cacheDirectory: URL!
    var previous: String?

    override func setUpWithError() throws {
        cacheDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("authdoctor-snapshot-\(UUID().uuidString)")
        previous = ProcessInfo.processInfo.environment["AUTHDOCTOR_CACHE_DIR"]
        setenv("AUTHDOCTOR_CACHE_DIR", cacheDirectory.path, 1)
        unsetenv("AUTHDOCTOR_NO_CACHE")
    }

    override func tearDownWithError() throws {
        if let previous { setenv("AUTHDOCTOR_CACHE_DIR", previous, 1) } else { unsetenv("AUTHDOCTOR_CACHE_DIR") }
        try? FileManager.default.removeItem(at: cacheDirectory)
    }

    func testSnapshotClassifiesLikeTheYAML() throws {
        let files = try RuleLibrary.ruleFiles(in: TestPaths.rulesDirectory)
        let parsed = RuleLoader.loadConcurrently(files)
        XCTAssertEqual(parsed.issues, [])
        XCTAssertNil(RuleSnapshot.load(for: files), "nothing cached yet")
        RuleSnapshot.store(parsed.rules, parsed.remediations, for: files)
        let cached = try XCTUnwrap(RuleSnapshot.load(for: files), "the snapshot reads back")
        XCTAssertEqual(cached.rules.map(\.id), parsed.rules.map(\.id))
        XCTAssertEqual(cached.rules.map(\.confidence), parsed.rules.map(\.confidence))
        XCTAssertEqual(cached.rules.map(\.fallback), parsed.rules.map(\.fallback))
        XCTAssertEqual(cached.rules.map(\.place), parsed.rules.map(\.place))
        XCTAssertEqual(cached.remediations.map(\.id), parsed.remediations.map(\.id))
        XCTAssertEqual(cached.remediations.map(\.steps), parsed.remediations.map(\.steps))
        // The stored prefilters are the analysed ones, word for word (a lost word would hide a match).
        func prefilters(_ rules: [Rule]) -> [String] {
            rules.flatMap { Self.patterns(in: $0.when) }.map { pattern in
                guard let p = pattern.prefilter else { return pattern.source + " -> none" }
                return pattern.source + " -> \(p.needles) \(p.requirements)"
            }
        }
        let parsedPrefilters = prefilters(parsed.rules)
        XCTAssertGreaterThan(parsedPrefilters.filter { !$0.hasSuffix("-> none") }.count, 500)
        XCTAssertTrue(parsedPrefilters.contains { $0.contains("\(LiteralPrefilter.nonASCII)") }, "a rule with a non-ASCII alternative is covered")
        XCTAssertEqual(prefilters(cached.rules), parsedPrefilters)

        let fromYAML = RuleSet(rules: parsed.rules, remediations: parsed.remediations)
        let fromSnapshot = RuleSet(rules: cached.rules, remediations: cached.remediations)
        let runner = ExampleRunner(ruleSet: fromYAML, fixtures: try RuleLibrary.fixtures(in: TestPaths.fixturesDirectory))
        Self.assertMatchAlike(fromSnapshot, fromYAML, onEveryFixtureOf: runner)
    }

    /// Both sets find the same rules, in the same order, for every fact set of every fixture.
    static func assertMatchAlike(_ tested: RuleSet, _ reference: RuleSet, onEveryFixtureOf runner: ExampleRunner,
                                 file: StaticString = #filePath, line: UInt = #line) {
        var compared = 0
        for path in runner.fixtures.keys.sorted() {
            guard let factSets = try? runner.facts(forFixture: path) else { continue }
            for facts in factSets {
                XCTAssertEqual(tested.matches(facts).map(\.rule.id), reference.matches(facts).map(\.rule.id), path, file: file, line: line)
                compared += 1
            }
        }
        XCTAssertGreaterThan(compared, 200, file: file, line: line)
    }

    static func patterns(in when: When) -> [Pattern] {
        var out: [Pattern] = []
        for condition in when.all { if case let .matches(p) = condition.op { out.append(p) } }
        for branch in when.any + when.not { out += patterns(in: branch) }
        return out
    }

    func testTheCacheKeepsOnlyTheNewestSnapshots() throws {
        let files = try RuleLibrary.ruleFiles(in: TestPaths.rulesDirectory)
        let parsed = RuleLoader.loadConcurrently(files)
        var variants: [[SourceFile]] = []
        for n in 0..<(RuleSnapshot.kept + 3) {
            var changed = files
            changed[0].text += "\n# edit \(n)\n"
            variants.append(changed)
            RuleSnapshot.store(Array(parsed.rules.prefix(10)), parsed.remediations, for: changed)
            // Distinct modification times, oldest first.
            let path = try XCTUnwrap(RuleSnapshot.path(key: RuleSnapshot.key(changed)))
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: Double(n - 100))], ofItemAtPath: path)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: cacheDirectory.path).filter { $0.hasSuffix(".bin") }
        XCTAssertEqual(left.count, RuleSnapshot.kept)
        XCTAssertNotNil(RuleSnapshot.load(for: variants.last!), "the newest is kept")
        XCTAssertNil(RuleSnapshot.load(for: variants.first!), "the oldest is gone")
    }

    func testAnyChangeToTheRulesMissesTheSnapshot() throws {
        let files = try RuleLibrary.ruleFiles(in: TestPaths.rulesDirectory)
        let parsed = RuleLoader.loadConcurrently(files)
        RuleSnapshot.store(parsed.rules, parsed.remediations, for: files)
        var changed = files
        changed[0].text += "\n# a comment changes the key\n"
        XCTAssertNil(RuleSnapshot.load(for: changed))
        XCTAssertNotNil(RuleSnapshot.load(for: files))
    }

    func testACorruptSnapshotIsIgnored() throws {
        let files = try RuleLibrary.ruleFiles(in: TestPaths.rulesDirectory)
        let parsed = RuleLoader.loadConcurrently(files)
        RuleSnapshot.store(parsed.rules, parsed.remediations, for: files)
        let path = try XCTUnwrap(RuleSnapshot.path(key: RuleSnapshot.key(files)))
        try Data("{\"format\": \"authdoctor.rules-snapshot/1\", \"rules\": [{\"id\": 5}]".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertNil(RuleSnapshot.load(for: files))
        // Loading through the library falls back to the YAML and rewrites a good snapshot.
        let (set, issues) = RuleLibrary.assemble([RuleLibrary.Layer(files: files, check: false)])
        XCTAssertEqual(issues, [])
        XCTAssertEqual(set.rules.count, parsed.rules.count)
        XCTAssertNotNil(RuleSnapshot.load(for: files))
    }

    /// Every cut of a good snapshot, and a byte changed at every tenth offset, reads as "no
    /// snapshot" (or as a whole one), never as a crash or a huge allocation.
    func testATruncatedOrAlteredSnapshotIsRefusedWithoutACrash() throws {
        let files = try RuleLibrary.ruleFiles(in: TestPaths.rulesDirectory)
        let parsed = RuleLoader.loadConcurrently(files)
        let bytes = RuleSnapshot.encode(Array(parsed.rules.prefix(40)), parsed.remediations, [])
        XCTAssertEqual(RuleSnapshot.decode(bytes)?.rules.map(\.id), parsed.rules.prefix(40).map(\.id))
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 500)) {
            XCTAssertNil(RuleSnapshot.decode(Array(bytes[..<cut])), "cut at \(cut) of \(bytes.count)")
        }
        XCTAssertNil(RuleSnapshot.decode(bytes + [0]), "trailing bytes")
        // The checksum refuses any changed byte, so rules decoded later (lazily) are known whole.
        for offset in stride(from: 0, to: bytes.count, by: 10) where bytes[offset] != 0xff {
            var altered = bytes
            altered[offset] = 0xff
            XCTAssertNil(RuleSnapshot.decode(altered), "byte \(offset) changed")
            XCTAssertNil(RuleSnapshot.decodeSet(MappedSnapshot(copying: altered), version: "v"), "byte \(offset) changed")
        }
    }

    /// A snapshot keeps the rule set's index: the set read back lazily has the index the rules give,
    /// matches like the parsed set on every fixture, and decodes only the rules it needed.
    func testTheSnapshotKeepsTheIndexAndDecodesRulesOnlyWhenNeeded() throws {
        let files = try RuleLibrary.ruleFiles(in: TestPaths.rulesDirectory)
        let parsed = RuleLoader.loadConcurrently(files)
        XCTAssertEqual(parsed.issues, [])
        let fromYAML = RuleSet(rules: parsed.rules, remediations: parsed.remediations, variants: parsed.variants)
        let bytes = RuleSnapshot.encode(parsed.rules, parsed.remediations, parsed.variants)
        let lazy = try XCTUnwrap(RuleSnapshot.decodeSet(MappedSnapshot(copying: bytes), version: "v"))
        XCTAssertEqual(lazy.ruleCount, parsed.rules.count)
        XCTAssertEqual(lazy.store.decodedCount, 0, "nothing decoded before a record is classified")

        XCTAssertEqual(lazy.always, fromYAML.always)
        XCTAssertEqual(lazy.providerMasks, fromYAML.providerMasks)
        XCTAssertEqual(lazy.fallbackFlags, fromYAML.fallbackFlags)
        XCTAssertEqual(lazy.byNonASCII.map(\.fact), fromYAML.byNonASCII.map(\.fact))
        XCTAssertEqual(lazy.byNonASCII.map(\.rules), fromYAML.byNonASCII.map(\.rules))
        XCTAssertEqual(lazy.byName.keys.sorted(), fromYAML.byName.keys.sorted())
        for (name, anchors) in fromYAML.byName {
            XCTAssertEqual(lazy.byName[name]?.values, anchors.values, name)
            XCTAssertEqual(lazy.byName[name]?.exists, anchors.exists, name)
        }
        XCTAssertEqual(lazy.byNeedle.map(\.fact), fromYAML.byNeedle.map(\.fact))
        XCTAssertEqual(lazy.byNeedle.map(\.needles), fromYAML.byNeedle.map(\.needles))
        XCTAssertEqual(lazy.byNeedle.map(\.rules), fromYAML.byNeedle.map(\.rules))
        XCTAssertGreaterThan(lazy.byNeedle.map(\.needles.count).reduce(0, +), 500)

        let runner = ExampleRunner(ruleSet: fromYAML, fixtures: try RuleLibrary.fixtures(in: TestPaths.fixturesDirectory))
        let first = try XCTUnwrap(runner.facts(forFixture: "google/token-invalid-grant-bad-request.http").first)
        XCTAssertEqual(lazy.matches(first).map(\.rule.id), fromYAML.matches(first).map(\.rule.id))
        XCTAssertFalse(lazy.matches(first).isEmpty)
        let decoded = lazy.store.decodedCount
        XCTAssertGreaterThan(decoded, 0)
        XCTAssertLessThan(decoded, lazy.ruleCount / 10, "one record decodes its candidates only")

        Self.assertMatchAlike(lazy, fromYAML, onEveryFixtureOf: runner)
        XCTAssertEqual(lazy.rules.map(\.id), parsed.rules.map(\.id))
        XCTAssertEqual(lazy.rule(id: parsed.rules[7].id)?.place, parsed.rules[7].place)
        XCTAssertNil(lazy.rule(id: "no.such.rule"))
    }

    /// Threads that need the same undecoded rules at once all get the one decoded copy.
    func testRulesDecodedByManyThreadsAtOnceAreOneCopy() throws {
        let files = try RuleLibrary.ruleFiles(in: TestPaths.rulesDirectory)
        let parsed = RuleLoader.loadConcurrently(files)
        let bytes = RuleSnapshot.encode(parsed.rules, parsed.remediations, parsed.variants)
        let lazy = try XCTUnwrap(RuleSnapshot.decodeSet(MappedSnapshot(copying: bytes), version: "v"))
        let count = lazy.ruleCount
        // Each thread writes its own quarter of the table, so no lock is needed.
        final class Table: @unchecked Sendable {
            let slots: UnsafeMutablePointer<ObjectIdentifier?>
            init(_ n: Int) { slots = .allocate(capacity: n); slots.initialize(repeating: nil, count: n) }
            subscript(i: Int) -> ObjectIdentifier? { get { slots[i] } set { slots[i] = newValue } }
            deinit { slots.deallocate() }
        }
        let seen = Table(count * 4)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for step in 0..<count {
                let index = thread % 2 == 0 ? step : count - 1 - step
                seen[thread * count + index] = ObjectIdentifier(lazy.store[index])
            }
        }
        for index in 0..<count {
            let first = seen[index]
            XCTAssertNotNil(first)
            for thread in 1..<4 { XCTAssertEqual(seen[thread * count + index], first, "rule \(index)") }
        }
        XCTAssertEqual(lazy.store.decodedCount, count)
    }

    /// A snapshot of rules with a repeated id has no index (the library drops duplicates first), so
    /// it is read whole, never as a lazily indexed set.
    func testASnapshotWithDuplicateIdsIsNotReadAsAnIndexedSet() throws {
        let files = try RuleLibrary.ruleFiles(in: TestPaths.rulesDirectory)
        let parsed = RuleLoader.loadConcurrently(files)
        let rules = Array(parsed.rules.prefix(5)) + [parsed.rules[0]]
        let bytes = RuleSnapshot.encode(rules, parsed.remediations, [])
        XCTAssertEqual(RuleSnapshot.decode(bytes)?.rules.count, 6)
        XCTAssertNil(RuleSnapshot.decodeSet(MappedSnapshot(copying: bytes), version: "v"))
    }

    func testTheBuiltInSetIsCachedUnderTheBuildsDigestAndClassifiesTheSame() throws {
        let checked = try RuleLibrary.load(checkBuiltin: true).0
        XCTAssertNil(RuleSnapshot.load(key: RuleSnapshot.builtinKey), "nothing cached yet")
        let first = try RuleLibrary.load().0           // parses, then caches
        XCTAssertNotNil(RuleSnapshot.load(key: RuleSnapshot.builtinKey))
        let second = try RuleLibrary.load().0          // from the cache, rules decoded when needed
        XCTAssertEqual(second.store.decodedCount, 0)
        second.decodeAll()   // what serve and check do at start-up
        XCTAssertEqual(second.store.decodedCount, second.ruleCount)
        XCTAssertEqual(second.rules.map(\.id), checked.rules.map(\.id))
        XCTAssertEqual(first.rules.map(\.id), checked.rules.map(\.id))
        // The key follows the build's digest of the rule files, not the cache's contents.
        XCTAssertFalse(EmbeddedFiles.rulesDigest.isEmpty)
        XCTAssertTrue(RuleSnapshot.builtinKey.hasPrefix("b"))
    }

    func testNoCacheTurnsItOff() throws {
        setenv("AUTHDOCTOR_NO_CACHE", "1", 1)
        defer { unsetenv("AUTHDOCTOR_NO_CACHE") }
        XCTAssertNil(RuleSnapshot.directory)
    }
}
