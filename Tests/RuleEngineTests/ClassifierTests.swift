import XCTest
import EvidenceModel
import Diagnose
@testable import RuleEngine

final class ClassifierTests: XCTestCase {
    static let rulesYAML = """
    rules:
      - id: t.fallback.credentials
        category: source
        failure: credentials
        severity: warning
        fallback: true
        when:
          http.status: 401
        summary: Fallback for 401.
        remediation: [fix]
      - id: t.expiry.high
        category: api-token
        failure: expiry
        severity: error
        confidence: 0.9
        when:
          http.status: 401
          message: { contains: expired }
        summary: "Expired: {message}"
        remediation: [fix, other]
      - id: t.expiry.low
        category: api-token
        failure: expiry
        severity: error
        confidence: 0.6
        when:
          message: { contains: expired }
        summary: Expired (generic).
        remediation: [fix]
      - id: t.revoked.warning
        category: api-token
        failure: revoked
        severity: warning
        confidence: 0.8
        when:
          message: { contains: revoked }
        summary: Revoked.
        remediation: [fix]
      - id: t.scopes.error
        category: api-token
        failure: scopes
        severity: error
        confidence: 0.8
        when:
          message: { contains: revoked }
        summary: "Missing {scopes.missing}"
        remediation: [other]
      - id: t.outage
        category: source
        failure: outage
        when:
          http.status: { gte: 500 }
        summary: Provider down.
        remediation: [fix]
      - id: t.rate
        category: source
        failure: rate-limit
        when:
          http.status: 429
        summary: Throttled for {retry_after} seconds.
        remediation: [fix]
      - id: t.connectivity
        category: source
        failure: connectivity
        when:
          transport.error: { exists: true }
        summary: Network.
        remediation: [fix]
      - id: t.token-missing
        category: api-token
        failure: token-missing
        when:
          token.present: false
        summary: No token.
        remediation: [fix]
      - id: t.link-expired
        category: link
        failure: link-expired
        when:
          link.state: expired
        summary: Link expired.
        remediation: [fix]
      - id: t.explicit
        category: source
        failure: permissions
        actor: provider
        transient: true
        when:
          http.status: 403
        summary: Explicit.
        remediation: [fix]
    """

    var set: RuleSet!
    var classifier: Classifier!

    override func setUp() {
        set = RuleTestSupport.ruleSet(Self.rulesYAML)
        classifier = Classifier(ruleSet: set)
    }

    private func classify(_ facts: [String: FactValue]) -> [Finding] {
        classifier.classify([Facts(facts)])
    }

    func testFallbackOnlyWhenNothingElseMatched() {
        let specific = classify(["http.status": .int(401), "message": .string("token expired")])
        XCTAssertEqual(specific.map(\.rule), ["t.expiry.high"])
        let fallback = classify(["http.status": .int(401), "message": .string("nope")])
        XCTAssertEqual(fallback.map(\.rule), ["t.fallback.credentials"])
        XCTAssertEqual(fallback.first?.severity, "warning")
        // Across fact sets too: a fallback in one set does not survive a specific match in another.
        let mixed = classifier.classify([Facts(["http.status": .int(401)]), Facts(["message": .string("access revoked")])])
        XCTAssertEqual(mixed.map(\.rule), ["t.scopes.error", "t.revoked.warning"])
    }

    func testUnknownFindingKeepsEvidence() throws {
        let findings = classify([
            "http.status": .int(418), "provider": .list([.string("bigquery"), .string("google")]),
            "message": .string("teapot refused Bearer abcdef123456"), "text": .string("pasted text"),
            "curl.code": .int(0), "url.host": .string("bigquery.googleapis.com"), "body.format": .string("text"),
        ])
        XCTAssertEqual(findings.count, 1)
        let unknown = try XCTUnwrap(findings.first)
        XCTAssertEqual(unknown.rule, "unknown")
        XCTAssertEqual(unknown.failure, "unknown")
        XCTAssertEqual(unknown.category, "destination")
        XCTAssertEqual(unknown.severity, "warning")
        XCTAssertEqual(unknown.confidence, 0)
        XCTAssertEqual(unknown.actor, "engineer")
        XCTAssertFalse(unknown.transient)
        XCTAssertEqual(unknown.evidence.map(\.name), ["provider", "http.status", "message", "curl.code", "url.host"])
        XCTAssertEqual(unknown.evidence.first { $0.name == "message" }?.value, .string("teapot refused Bearer [REDACTED]"))
        XCTAssertEqual(unknown.remediation.map(\.id), ["test-connection-manually", "review-api-docs"])

        let empty = classifier.classify([])
        XCTAssertEqual(empty.map(\.rule), ["unknown"])
        XCTAssertEqual(empty.first?.category, "source")
        XCTAssertTrue(empty.first?.evidence.isEmpty ?? false)

        let textOnly = classify(["text": .string("something odd")])
        XCTAssertEqual(textOnly.first?.evidence.map(\.name), ["text"])
    }

    /// Issue 14 / DESIGN.md: cause first, then severity, then confidence. One message read two ways
    /// is not a cause and its effect (class defaults hold across evidence only): severity decides.
    func testOrderingBySeverityThenConfidenceForOneEvidence() {
        let findings = classify(["message": .string("token expired and access revoked")])
        XCTAssertEqual(findings.map(\.rule), ["t.scopes.error", "t.expiry.low", "t.revoked.warning"])
        XCTAssertEqual(findings.map(\.explainedBy), [nil, nil, nil])
    }

    func testOneFindingPerFailureClass() {
        let findings = classify(["http.status": .int(401), "message": .string("token expired")])
        XCTAssertEqual(findings.filter { $0.failure == "expiry" }.count, 1)
        XCTAssertEqual(findings.first?.rule, "t.expiry.high")
        XCTAssertEqual(set.matches(Facts(["http.status": .int(401), "message": .string("token expired")])).map(\.rule.id).sorted(),
                       ["t.expiry.high", "t.expiry.low", "t.fallback.credentials"])
        // Several fact sets matching the same rule give one finding.
        let twice = classifier.classify([Facts(["link.state": .string("expired")]), Facts(["link.state": .string("expired")])])
        XCTAssertEqual(twice.map(\.rule), ["t.link-expired"])
    }

    func testSummaryInterpolationIsRedacted() throws {
        let findings = classify(["http.status": .int(401), "message": .string("token expired; sent Bearer abcdef123456")])
        XCTAssertEqual(findings.first?.summary, "Expired: token expired; sent Bearer [REDACTED]")
        let evidence = try XCTUnwrap(findings.first?.evidence)
        XCTAssertEqual(evidence.map(\.name), ["http.status", "message"])
        XCTAssertEqual(evidence.last?.value, .string("token expired; sent Bearer [REDACTED]"))
        XCTAssertEqual(findings.first?.remediation.map(\.id), ["fix", "other"])
        XCTAssertEqual(findings.first?.remediation.first?.steps, ["First do this.", "Then check that."])

        XCTAssertEqual(classify(["message": .string("revoked")]).first?.summary, "Missing (unknown)")
        XCTAssertEqual(classify(["message": .string("revoked"), "scopes.missing": .list([.string("a"), .string("b")])]).first?.summary,
                       "Missing [a, b]")
        XCTAssertEqual(classify(["http.status": .int(429), "retry_after": .int(30)]).first?.summary, "Throttled for 30 seconds.")
        XCTAssertEqual(Classifier.render("key {text} end", facts: Facts(["text": .string("ya29.FAKE-token")])), "key [REDACTED] end")
        XCTAssertEqual(Classifier.render("no placeholders", facts: Facts()), "no placeholders")
    }

    func testActorAndTransientDefaultsByFailure() {
        func top(_ facts: [String: FactValue]) -> Finding? { classify(facts).first }
        let outage = top(["http.status": .int(503)])
        XCTAssertEqual(outage?.rule, "t.outage")
        XCTAssertEqual(outage?.actor, "provider")
        XCTAssertEqual(outage?.transient, true)
        let rate = top(["http.status": .int(429)])
        XCTAssertEqual(rate?.actor, "provider")
        XCTAssertEqual(rate?.transient, true)
        let timeout = top(["transport.error": .string("timeout")])
        XCTAssertEqual(timeout?.actor, "engineer")
        XCTAssertEqual(timeout?.transient, true)
        XCTAssertEqual(top(["transport.error": .string("reset")])?.transient, true)
        let dns = top(["transport.error": .string("dns")])
        XCTAssertEqual(dns?.actor, "engineer")
        XCTAssertEqual(dns?.transient, false)
        let missing = top(["token.present": .bool(false)])
        XCTAssertEqual(missing?.actor, "engineer")
        XCTAssertEqual(missing?.transient, false)
        let link = top(["link.state": .string("expired")])
        XCTAssertEqual(link?.actor, "engineer")
        let expiry = top(["http.status": .int(401), "message": .string("expired")])
        XCTAssertEqual(expiry?.actor, "client")
        XCTAssertEqual(expiry?.transient, false)
        let explicit = top(["http.status": .int(403)])
        XCTAssertEqual(explicit?.actor, "provider")
        XCTAssertEqual(explicit?.transient, true)
    }

    func testVocabularyDefaults() {
        for failure in ["outage", "rate-limit"] {
            XCTAssertEqual(Vocabulary.defaultActor(for: failure), "provider", failure)
            XCTAssertTrue(Vocabulary.defaultTransient(for: failure, transportError: nil), failure)
        }
        // Issue 14: a network policy (a destination's firewall, an IP allow-list) is the client's to change.
        XCTAssertEqual(Vocabulary.defaultActor(for: "network-policy"), "client")
        for failure in ["connectivity", "configuration", "subscription", "token-missing",
                        "link-expired", "link-used", "link-revoked", "plan-limit"] {
            XCTAssertEqual(Vocabulary.defaultActor(for: failure), "engineer", failure)
        }
        for failure in ["credentials", "scopes", "permissions", "expiry", "revoked", "multi-account", "looker-400"] {
            XCTAssertEqual(Vocabulary.defaultActor(for: failure), "client", failure)
            XCTAssertFalse(Vocabulary.defaultTransient(for: failure, transportError: "timeout"), failure)
        }
        XCTAssertTrue(Vocabulary.defaultTransient(for: "connectivity", transportError: "timeout"))
        XCTAssertTrue(Vocabulary.defaultTransient(for: "connectivity", transportError: "reset"))
        XCTAssertFalse(Vocabulary.defaultTransient(for: "connectivity", transportError: "tls"))
        XCTAssertFalse(Vocabulary.defaultTransient(for: "connectivity", transportError: nil))
        XCTAssertFalse(Vocabulary.defaultTransient(for: "configuration", transportError: "timeout"))
    }

    func testVocabularyMatchesDesign() {
        XCTAssertEqual(Vocabulary.categories, ["source", "destination", "api-token", "link"])
        XCTAssertEqual(Set(Vocabulary.failures), [
            "credentials", "token-missing", "scopes", "permissions", "expiry", "revoked", "multi-account", "looker-400",
            "connectivity", "outage", "configuration", "network-policy", "subscription", "rate-limit",
            "link-expired", "link-used", "link-revoked", "session-unfinished", "plan-limit", "unknown",
        ])
        XCTAssertTrue(Vocabulary.isKnownFact("http.header.retry-after"))
        XCTAssertTrue(Vocabulary.isKnownFact("body.error.details[].reason"))
        XCTAssertTrue(Vocabulary.isKnownFact("body"))
        XCTAssertFalse(Vocabulary.isKnownFact("body."))
        XCTAssertFalse(Vocabulary.isKnownFact("http.headers.x"))
    }

    // MARK: - ClassifyEngine (Diagnose)

    func testClassifyEngineReport() throws {
        let engine = ClassifyEngine(ruleSet: set, extractor: FactExtractor(now: Date(timeIntervalSince1970: 1_700_000_000)))
        let raw = "HTTP/1.1 401 Unauthorized\nContent-Type: application/json\nSet-Cookie: sid=FAKEcookie\n\n{\"error\": {\"message\": \"Token expired; Bearer abcdef123456\"}}"
        let evidence = try ResponseParser.parse(raw, source: "t.http", provider: "google-ads")
        let report = engine.report(for: [evidence], source: "t.http?access_token=FAKEsrc", id: "r1", keepFacts: true)
        XCTAssertEqual(report.findings.map(\.rule), ["t.expiry.high"])
        XCTAssertEqual(report.verdict, .failure)
        XCTAssertEqual(report.httpStatus, 401)
        XCTAssertEqual(report.inputKind, "response")
        XCTAssertEqual(report.provider, "google-ads")
        XCTAssertFalse(report.providerDetected)
        XCTAssertEqual(report.id, "r1")
        XCTAssertEqual(report.source, "t.http?access_token=[REDACTED]")
        let facts = try XCTUnwrap(report.facts)
        XCTAssertEqual(facts["message"], .string("Token expired; Bearer [REDACTED]"))
        XCTAssertEqual(facts["http.header.set-cookie"], .string("[REDACTED]"))
        XCTAssertNil(engine.report(for: [evidence], source: nil).facts)
    }

    func testReportVerdicts() throws {
        let engine = ClassifyEngine(ruleSet: set)
        func verdict(_ raw: String) throws -> Report.Verdict {
            engine.report(for: [try ResponseParser.parse(raw)], source: nil).verdict
        }
        XCTAssertEqual(try verdict("HTTP/1.1 418 Teapot\n\n"), .unknown)
        XCTAssertEqual(try verdict("HTTP/1.1 200 OK\n\nfine"), .ok)
        XCTAssertEqual(try verdict("HTTP/1.1 401 Unauthorized\n\nnope"), .warning)
        XCTAssertEqual(try verdict("HTTP/1.1 503 Service Unavailable\n\n"), .failure)
    }
}
