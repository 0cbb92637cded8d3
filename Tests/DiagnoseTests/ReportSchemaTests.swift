import AuthDoctorTestSupport
import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import XCTest

/// Reports built through the public API (rules → ClassifyEngine → JSONReportWriter) conform to
/// schema/report.schema.json, for every kind of evidence and many providers.
final class ReportSchemaTests: XCTestCase {
    /// fixture → the failure class its first finding must carry, and the verdict.
    static let cases: [(fixture: String, failure: String, verdict: String)] = [
        ("facebook/190-463-session-expired.http", "expiry", "failure"),
        ("facebook/17-user-request-limit.http", "rate-limit", "warning"),
        ("facebook/190-malformed-access-token.txt", "token-missing", "failure"),
        ("google/api-401-access-token-expired.http", "expiry", "failure"),
        ("google/api-403-scope-insufficient.http", "scopes", "failure"),
        ("google/signin-two-accounts-consent-error.har", "multi-account", "failure"),
        ("google-ads/403-developer-token-not-approved.http", "permissions", "failure"),
        ("google-analytics/403-insufficient-permissions-property.http", "permissions", "failure"),
        ("bigquery/500-internal-error.http", "outage", "warning"),
        ("looker-studio/connector-authorize-two-accounts-400.har", "looker-400", "failure"),
        ("linkedin/401-65601-revoked-by-user.http", "revoked", "failure"),
        ("linkedin/429-throttle-pasted.txt", "rate-limit", "warning"),
        ("hubspot/403-missing-scopes-granular.http", "scopes", "failure"),
        ("hubspot/429-ten-secondly-rolling.http", "rate-limit", "warning"),
        ("snowflake/login-390100-incorrect-username-or-password.http", "credentials", "failure"),
        ("snowflake/login-390422-ip-not-allowed.http", "network-policy", "failure"),
        ("snowflake/390420-ip-not-allowed-pasted.txt", "network-policy", "failure"),
        ("oauth2/bearer-no-token.http", "token-missing", "failure"),
        ("platform-api/402-account-expired.http", "subscription", "failure"),
        ("generic/503-maintenance.http", "outage", "failure"),
        ("postgres/28P01-password-auth-failed.txt", "credentials", "failure"),
        ("postgres/28P01-jdbc.json", "credentials", "failure"),
        ("postgres/42501-permission-denied-table.json", "permissions", "failure"),
        ("redshift/3D000-database-does-not-exist.json", "configuration", "failure"),
        ("transport/curl-6-dns.json", "connectivity", "failure"),
        ("transport/curl-28-timeout.json", "connectivity", "warning"),
        ("transport/curl-60-unknown-ca.json", "connectivity", "failure"),
        ("text/link-expired.txt", "link-expired", "failure"),
        ("text/subscription-expired.txt", "subscription", "failure"),
    ]

    static func inputKind(of fixture: String) -> String {
        switch EvidenceLoader.format(forPath: fixture) {
        case .response?: return "response"
        case .har?: return "har"
        case .text?: return "text"
        default: return "record"
        }
    }

    func testFixtureReportsConformAndCarryTheExpectedFirstFinding() throws {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 15)
        XCTAssertEqual(Set(Self.cases.map { Self.inputKind(of: $0.fixture) }), ["response", "har", "text", "record"],
                       "every kind of fixture is covered")
        let writer = JSONReportWriter()
        for (fixture, failure, verdict) in Self.cases {
            let report = try Repo.report(fixture: fixture)
            for pretty in [false, true] {
                let json = writer.render(report, pretty: pretty)
                let doc = try assertConformsToReportSchema(json, "\(fixture) (pretty: \(pretty))")
                XCTAssertEqual(doc.at("findings", 0, "failure")?.stringValue, failure, fixture)
                XCTAssertEqual(doc.at("verdict")?.stringValue, verdict, fixture)
                XCTAssertEqual(doc.at("input", "kind")?.stringValue, Self.inputKind(of: fixture), fixture)
                XCTAssertEqual(doc.at("input", "source")?.stringValue, "fixtures/" + fixture, fixture)
                XCTAssertEqual(doc.at("findings", 0, "rule")?.stringValue, report.findings.first?.rule, fixture)
                XCTAssertNil(doc["facts"], "facts only with keepFacts: \(fixture)")
                XCTAssertNil(doc["id"], "no id outside a batch: \(fixture)")
                if let provider = ExampleRunner.provider(forFixture: fixture) {
                    XCTAssertEqual(doc.at("provider")?.stringValue, provider, fixture)
                    XCTAssertEqual(doc.at("providerDetected"), .bool(false), "the provider was given: \(fixture)")
                }
                let remediation = doc.at("findings", 0, "remediation")?.arrayValue ?? []
                XCTAssertFalse(remediation.isEmpty, "a recognised failure says what to do: \(fixture)")
            }
        }
    }

    func testPrettyAndCompactJSONAreTheSameDocument() throws {
        let writer = JSONReportWriter()
        for fixture in ["facebook/190-463-session-expired.http", "google/signin-two-accounts-consent-error.har"] {
            let report = try Repo.report(fixture: fixture, keepFacts: true)
            let compact = writer.render(report)
            let pretty = writer.render(report, pretty: true)
            XCTAssertFalse(compact.contains("\n"), "compact JSON is one line (JSON Lines)")
            XCTAssertTrue(pretty.contains("\n  \"findings\": ["), pretty)
            XCTAssertEqual(try JSON.parse(compact), try JSON.parse(pretty))
        }
    }

    func testFactsConformWhenKept() throws {
        for fixture in ["google/api-403-scope-insufficient.http", "google/signin-two-accounts-consent-error.har",
                        "transport/curl-6-dns.json", "postgres/28P01-password-auth-failed.txt"] {
            let report = try Repo.report(fixture: fixture, keepFacts: true)
            let doc = try assertConformsToReportSchema(JSONReportWriter().render(report), fixture)
            let facts = try XCTUnwrap(doc["facts"]?.objectValue, fixture)
            XCTAssertEqual(facts.map(\.0), report.facts?.names, "every fact, sorted by name: \(fixture)")
            XCTAssertEqual(doc.at("facts", "input.kind")?.stringValue, Self.inputKind(of: fixture), fixture)
        }
        let scopes = try JSONReportWriter().render(Repo.report(fixture: "google/api-403-scope-insufficient.http", keepFacts: true))
        let doc = try JSON.parse(scopes)
        XCTAssertEqual(doc.at("facts", "http.status"), .int(403))
        XCTAssertNotNil(doc.at("facts", "www-authenticate.scope")?.arrayValue, "list facts are JSON arrays")
    }

    func testUnknownFindingConformsAndKeepsTheEvidence() throws {
        let engine = try Repo.engine()
        let text = "Zorglub frobnicated the wibble on node 7"
        let report = engine.report(for: [Evidence(kind: .text, text: text)], source: nil)
        let doc = try assertConformsToReportSchema(JSONReportWriter().render(report), "unknown finding")
        XCTAssertEqual(doc.at("verdict")?.stringValue, "unknown")
        XCTAssertEqual(doc.at("findings")?.arrayValue?.count, 1)
        XCTAssertEqual(doc.at("findings", 0, "failure")?.stringValue, "unknown")
        XCTAssertEqual(doc.at("findings", 0, "rule")?.stringValue, "unknown")
        XCTAssertEqual(doc.at("findings", 0, "evidence", "text")?.stringValue, text, "the evidence is kept for a person")
        XCTAssertEqual(doc.at("provider"), .null)
        XCTAssertNil(doc.at("input", "source"))

        // A 200 answer no rule flags is "ok", not "unknown".
        let fine = try Repo.report(fixture: "generic/200-html-docs-page-near-miss.http")
        let okDoc = try assertConformsToReportSchema(JSONReportWriter().render(fine), "200 near miss")
        XCTAssertEqual(okDoc.at("verdict")?.stringValue, "ok")
        // Issue 14: healthy means healthy, no `unknown` finding; a note says what was seen.
        XCTAssertEqual(okDoc.at("findings")?.arrayValue?.count, 0)
        XCTAssertNotNil(okDoc.at("note")?.stringValue)
    }

    func testCurlExitAndBatchRecordReportsConform() throws {
        let engine = try Repo.engine()
        let curl = engine.report(for: [Evidence(kind: .curlExit, curlExit: 6)], source: nil)
        let doc = try assertConformsToReportSchema(JSONReportWriter().render(curl), "curl exit 6")
        XCTAssertEqual(doc.at("input", "kind")?.stringValue, "curl-exit")
        XCTAssertEqual(doc.at("findings", 0, "failure")?.stringValue, "connectivity")
        XCTAssertEqual(doc.at("findings", 0, "evidence", "transport.error")?.stringValue, "dns")

        let batch = BatchClassifier(engine: engine)
        var out = JSONWriter()
        var summary = try Repo.emptySummary()
        let line = Array(#"{"id":"conn-1","provider":"linkedin","status":401,"body":{"serviceErrorCode":65601,"message":"The token used in the request has been revoked by the user","status":401}}"#.utf8)
        line.withUnsafeBufferPointer { batch.classifyLine($0, lineNumber: 1, into: &out, summary: &summary) }
        let text = String(decoding: out.bytes, as: UTF8.self)
        XCTAssertTrue(text.hasSuffix("}\n"))
        let record = try assertConformsToReportSchema(String(text.dropLast()), "batch record")
        XCTAssertEqual(record.at("id")?.stringValue, "conn-1")
        XCTAssertEqual(record.at("input", "kind")?.stringValue, "record")
        XCTAssertEqual(record.at("findings", 0, "failure")?.stringValue, "revoked")
        XCTAssertEqual(summary.records, 1)
        XCTAssertEqual(summary.errors, 0)
        XCTAssertEqual(summary.byFailure, ["revoked": 1])
    }

    func testBatchErrorRecordsConform() throws {
        let batch = BatchClassifier(engine: try Repo.engine())
        let bad: [(line: String, id: String, mentions: String)] = [
            (#"{"id":"x1","status":"abc"}"#, "x1", "status"),
            (#"{"id":"x2","provider":"myspace","status":401}"#, "x2", "myspace"),
            (#"{"id":"x3","status":401"#, "line 7", "invalid JSON"),
            (#"[1,2,3]"#, "line 7", "object"),
            (#"{"id":"x5"}"#, "x5", "none of"),
        ]
        for (line, id, mentions) in bad {
            var out = JSONWriter()
            var summary = try Repo.emptySummary()
            let bytes = Array(line.utf8)
            bytes.withUnsafeBufferPointer { batch.classifyLine($0, lineNumber: 7, into: &out, summary: &summary) }
            let text = String(decoding: out.bytes, as: UTF8.self)
            XCTAssertEqual(text.filter { $0 == "\n" }.count, 1, "one line per record: \(text)")
            let doc = try assertConformsToReportSchema(text, line)
            XCTAssertEqual(doc.at("verdict")?.stringValue, "error", line)
            XCTAssertEqual(doc.at("id")?.stringValue, id, line)
            XCTAssertEqual(doc.at("findings")?.arrayValue?.count, 0, line)
            XCTAssertEqual(doc.at("error", "kind")?.stringValue, "invalid-input", line)
            let message = doc.at("error", "message")?.stringValue ?? ""
            XCTAssertTrue(message.contains(mentions), "\(line): the message says what is wrong: \(message)")
            XCTAssertFalse(message.contains("\n"), line)
            XCTAssertEqual(summary.records, 1, line)
            XCTAssertEqual(summary.errors, 1, line)
            XCTAssertEqual(summary.byFailure, [String: Int](), line)
        }
    }

    /// The schema's vocabulary is exactly the engine's (DESIGN.md's stable identifiers).
    func testSchemaVocabularyMatchesTheEngine() throws {
        let schema = try JSON.parse(String(contentsOfFile: TestPaths.schemaDirectory + "/report.schema.json", encoding: .utf8))
        func strings(_ path: Any...) -> Set<String> {
            var node: JSONValue? = schema
            for step in path { node = (step as? String).flatMap { node?[$0] } }
            return Set(node?.arrayValue?.compactMap(\.stringValue) ?? [])
        }
        XCTAssertEqual(strings("$defs", "finding", "properties", "failure", "enum"), Set(Vocabulary.failures))
        XCTAssertEqual(strings("$defs", "finding", "properties", "category", "enum"), Vocabulary.categories)
        XCTAssertEqual(strings("$defs", "finding", "properties", "severity", "enum"), Set(Vocabulary.severities))
        XCTAssertEqual(strings("$defs", "finding", "properties", "actor", "enum"), Vocabulary.actors)
        let kinds: [Evidence.Kind] = [.response, .har, .text, .curlExit, .record, .probe]
        // "link": `diagnose --link ID` reports on a stored link, not on evidence.
        XCTAssertEqual(strings("$defs", "report", "properties", "input", "properties", "kind", "enum"), Set(kinds.map(\.rawValue) + ["link"]))
        let verdicts: [Report.Verdict] = [.failure, .warning, .ok, .unknown]
        XCTAssertEqual(strings("$defs", "report", "properties", "verdict", "enum"), Set(verdicts.map(\.rawValue)))
        XCTAssertEqual(schema.at("$defs", "schemaName", "const")?.stringValue, Report.schema)

        // Every provider id and every remediation id of the repository passes the schema's patterns.
        let validator = try Repo.schema.get()
        let set = try Repo.loaded.get()
        var report = try JSON.parse(JSONSchemaValidatorTests.validReport)
        for provider in ProviderDetector.known {
            report = report.setting(["provider"], .string(provider))
            XCTAssertEqual(validator.validate(report), [], provider)
        }
        for rule in set.rules {
            report = report.setting(["findings", 0, "rule"], .string(rule.id))
            XCTAssertEqual(validator.validate(report), [], rule.id)
        }
        for id in set.remediationOrder {
            report = report.setting(["findings", 0, "remediation", 0, "id"], .string(id))
            XCTAssertEqual(validator.validate(report), [], id)
        }
    }
}
