import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// Issue 18: a one-off `diagnose` or `classify` loads the built-in rules on another thread while
/// it reads its input or probes (`ClassifyEngine(loadingElsewhere:)`), and prepares the redaction
/// of its probe URLs meanwhile (`Redactor.prepare`). Neither may change a report.
final class RulesLoadedElsewhereTests: XCTestCase {
    func testAnEngineLoadingElsewhereReportsAsOneLoadedNow() throws {
        let now = ClassifyEngine(ruleSet: RuleLibrary.builtin())
        let elsewhere = ClassifyEngine(loadingElsewhere: RuleLibrary.builtin)
        XCTAssertEqual(elsewhere.ruleSet.ruleCount, now.ruleSet.ruleCount)
        XCTAssertGreaterThan(now.ruleSet.ruleCount, 1000)
        for (fixture, failure, _) in ReportSchemaTests.cases {
            let text = try TestPaths.fixture(fixture)
            let format = try XCTUnwrap(EvidenceLoader.format(forPath: fixture), fixture)
            let evidences = try EvidenceLoader.load(text, format: format, source: fixture, provider: ExampleRunner.provider(forFixture: fixture))
            let a = now.report(for: evidences, source: fixture), b = elsewhere.report(for: evidences, source: fixture)
            XCTAssertEqual(a.findings.map(\.rule), b.findings.map(\.rule), fixture)
            XCTAssertEqual(b.findings.first?.failure, failure, fixture)
        }
    }

    /// The engine is made at once (the load runs elsewhere), and the first use waits for the load;
    /// the loader runs once, however many threads ask at once.
    func testTheEngineIsMadeBeforeTheLoadEndsAndItsFirstUseWaits() {
        let calls = Counter()
        let gate = DispatchSemaphore(value: 0)
        let timedOut = Counter()
        let engine = ClassifyEngine(loadingElsewhere: {
            calls.increment()
            // Made synchronously, the engine would wait here until the gate times out.
            if gate.wait(timeout: .now() + 10) == .timedOut { timedOut.increment() }
            return RuleLibrary.builtin()
        })
        gate.signal()
        let counts = ConcurrentSlots<Int>(count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { i in counts.set(i, engine.ruleSet.ruleCount) }
        XCTAssertEqual(timedOut.value, 0, "ClassifyEngine(loadingElsewhere:) returned only after its load")
        XCTAssertEqual(calls.value, 1)
        XCTAssertEqual(counts.values.count, 4)
        XCTAssertEqual(Set(counts.values).count, 1)
        XCTAssertGreaterThan(counts.values.first ?? 0, 1000)
    }

    /// Redaction prepared ahead (on another thread, as a diagnosis does) gives the redacted texts.
    func testPreparedRedactionIsTheRedaction() {
        let token = "FAKE-not-a-real-token-\(Int.random(in: 100_000...999_999))"
        let urls = ["https://graph.facebook.com/v19.0/me?access_token=\(token)&fields=id",
                    "https://oauth2.googleapis.com/tokeninfo?access_token=\(token)-google",
                    "https://api.hubapi.com/crm/v3/objects/contacts?limit=1"]
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { Redactor.prepare(urls); done.signal() }
        done.wait()
        XCTAssertEqual(urls.map(Redactor.redact), [
            "https://graph.facebook.com/v19.0/me?access_token=[REDACTED]&fields=id",
            "https://oauth2.googleapis.com/tokeninfo?access_token=[REDACTED]",
            "https://api.hubapi.com/crm/v3/objects/contacts?limit=1",
        ])
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
