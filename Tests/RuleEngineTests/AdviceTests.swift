import XCTest
import EvidenceModel
import AuthDoctorTestSupport
import Diagnose
@testable import RuleEngine

/// Issue 14: steps specific to provider and finding, chosen by data in rules/remediation-variants/,
/// filled from facts, checked by `rules lint`; root cause first; who acts.
final class AdviceTests: XCTestCase {
    static func load() throws -> RuleSet {
        let (set, issues) = try RuleLibrary.load(includeBuiltin: false, directories: [TestPaths.rulesDirectory])
        XCTAssertEqual(issues.map(\.description), [])
        return set
    }

    // MARK: - The walk over every rule x remediation

    /// A provider's own mechanisms: console pages, settings, SQL, ports. A step shown for a finding
    /// of one provider must not name another's (the family shares: redshift may say PostgreSQL things
    /// only through its own variants, which are checked like any other).
    static let mechanisms: [String: [String]] = [
        "postgres": ["pg_hba", "5432", "PostgreSQL", "psql"],
        "redshift": ["Redshift", "5439", "security group"],
        "snowflake": ["Snowflake", "NETWORK POLICY", "Snowsight", "PrivateLink"],
        "bigquery": ["BigQuery"],
        "google-ads": ["Google Ads", "developer token", "API Center"],
        "google-analytics": ["Google Analytics", "Property access management"],
        "google-sheets": ["Google Sheets", "Share dialog"],
        "facebook": ["Business Manager", "Business settings", "Meta ", "app review", "App review"],
        "linkedin": ["LinkedIn", "Campaign Manager"],
        "hubspot": ["HubSpot"],
        "google": ["Google Cloud console", "OAuth consent screen", "myaccount.google.com"],
    ]
    /// Mechanisms of one category that must not reach the other.
    static let destinationOnly = ["pg_hba", "GRANT ", "database administrator", "security group", "schema"]
    static let sourceOnly = ["ad account", "Campaign Manager", "Business Manager", "consent screen"]

    /// Every step of every rule x remediation pair, for every provider the rule can see: the words
    /// of other providers' mechanisms, and of the other category's, are failures.
    static func wrongMechanisms(in set: RuleSet) -> [String] {
        var problems = Set<String>()
        for rule in set.rules {
            for family in AdviceLint.providerFamilies(for: rule) {
                var allowed = Set<String>()
                for provider in family { allowed.formUnion(mechanisms[provider] ?? []) }
                let foreign = mechanisms.filter { !family.contains($0.key) }.flatMap(\.value).filter { !allowed.contains($0) }
                let otherCategory = rule.category == "destination" ? sourceOnly : destinationOnly
                for id in rule.remediation {
                    for (remediation, _) in set.reachableRemediations(id, for: rule, providerFamily: family) {
                        for text in [remediation.title] + remediation.steps {
                            for word in foreign where text.contains(word) {
                                problems.insert("\(rule.id) [\(family.first ?? "any provider")] \(remediation.variant ?? id): names \(word.trimmingCharacters(in: .whitespaces)) — \(text)")
                            }
                            for word in otherCategory where text.contains(word) {
                                problems.insert("\(rule.id) (\(rule.category)) \(remediation.variant ?? id): names \(word.trimmingCharacters(in: .whitespaces)) — \(text)")
                            }
                        }
                    }
                }
            }
        }
        return problems.sorted()
    }

    func testEveryRuleAndRemediationNamesOnlyItsOwnProviderAndCategory() throws {
        let problems = Self.wrongMechanisms(in: try Self.load())
        XCTAssertEqual(problems, [], "steps naming another provider's or category's mechanism:\n" + problems.joined(separator: "\n"))
    }

    /// The walk can fail: a generic step that names Redshift's port is caught on a LinkedIn rule.
    func testWalkCatchesAnotherProvidersMechanism() {
        let catalog = """
        remediations:
          - id: check-network-path
            title: Check the network path
            doc: fix-authentication-errors 1.1
            steps: ["Check pg_hba.conf and that port 5439 is open."]
        """
        let rule = """
        id: linkedin.timeout
        category: source
        failure: connectivity
        when: { provider: linkedin, transport.error: timeout }
        summary: Timed out.
        remediation: [check-network-path]
        """
        let (set, issues) = RuleLibrary.assemble([[SourceFile(path: "rules/remediations.yaml", text: catalog),
                                                   SourceFile(path: "rules/linkedin.yaml", text: rule)]])
        XCTAssertEqual(issues.map(\.description), [])
        let problems = Self.wrongMechanisms(in: set)
        XCTAssertTrue(problems.contains { $0.contains("linkedin.timeout") && $0.contains("names 5439") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("names pg_hba") }, "\(problems)")
    }

    // MARK: - rules lint: placeholders, categories, actors

    static let lintCatalog = """
    remediations:
      - id: wait-and-retry
        title: Back off
        doc: fix-authentication-errors 1.1
        categories: [source, destination, api-token]
        steps: ["Wait a while."]
      - id: allowlist-ip
        title: Allow the IPs
        doc: fix-authentication-errors 2.2
        steps: ["Allow the platform's IPs."]
    """

    func lint(_ files: [(String, String)]) -> [String] {
        let (set, issues) = RuleLibrary.assemble([[SourceFile(path: "rules/remediations.yaml", text: Self.lintCatalog)]
                                                  + files.map { SourceFile(path: $0.0, text: $0.1) }])
        return (issues + AdviceLint.issues(set)).map(\.description)
    }

    func testLintRefusesAPlaceholderTheRuleDoesNotGuarantee() {
        let rule = """
        id: t.throttled
        category: source
        failure: rate-limit
        when: { http.status: 429 }
        summary: Throttled.
        remediation: [wait-and-retry]
        """
        let unguarded = """
        variants:
          - remediation: wait-and-retry
            category: source
            steps: ["Wait {retry_after} seconds."]
        """
        let problems = lint([("rules/t.yaml", rule), ("rules/remediation-variants/t.yaml", unguarded)])
        XCTAssertTrue(problems.contains { $0.contains("fills {retry_after}") && $0.contains("t.throttled") }, "\(problems)")
        // With `requires`, or with the rule requiring the fact, it is guaranteed.
        let guarded = unguarded.replacingOccurrences(of: "category: source", with: "requires: [retry_after]")
        XCTAssertEqual(lint([("rules/t.yaml", rule), ("rules/remediation-variants/t.yaml", guarded)]), [])
        let requiring = rule.replacingOccurrences(of: "{ http.status: 429 }", with: "{ http.status: 429, retry_after: { exists: true } }")
        XCTAssertEqual(lint([("rules/t.yaml", requiring), ("rules/remediation-variants/t.yaml", unguarded)]), [])
        // Every `any` branch must guarantee it.
        let oneBranch = rule.replacingOccurrences(of: "{ http.status: 429 }",
                                                  with: "{ any: [{ retry_after: { gt: 0 } }, { http.status: 429 }] }")
        XCTAssertTrue(lint([("rules/t.yaml", oneBranch), ("rules/remediation-variants/t.yaml", unguarded)]).contains { $0.contains("fills {retry_after}") })
    }

    func testLintRefusesADestinationStepOnASourceFinding() {
        let rule = """
        id: t.source-ip
        category: source
        failure: network-policy
        when: { http.status: 403 }
        summary: IP refused.
        remediation: [allowlist-ip]
        """
        let problems = lint([("rules/t.yaml", rule)])
        XCTAssertTrue(problems.contains { $0.contains("t.source-ip") && $0.contains("written for destination findings") }, "\(problems)")
        let variant = """
        variants:
          - remediation: allowlist-ip
            category: source
            doc: fix-authentication-errors 3.3
            steps: ["Check the key's IP restrictions."]
        """
        XCTAssertEqual(lint([("rules/t.yaml", rule), ("rules/remediation-variants/t.yaml", variant)]), [])
    }

    func testLintChecksTheActor() {
        let rule = """
        id: t.db-ip
        category: destination
        failure: network-policy
        actor: engineer
        when: { http.status: 403 }
        summary: IP refused.
        remediation: [allowlist-ip]
        """
        XCTAssertTrue(lint([("rules/t.yaml", rule)]).contains { $0.contains("actor client, not engineer") })
        XCTAssertEqual(lint([("rules/t.yaml", rule.replacingOccurrences(of: "actor: engineer", with: "actor: client"))]), [])
        let outage = rule.replacingOccurrences(of: "network-policy", with: "outage").replacingOccurrences(of: "actor: engineer", with: "actor: client")
            .replacingOccurrences(of: "[allowlist-ip]", with: "[wait-and-retry]")
        XCTAssertTrue(lint([("rules/t.yaml", outage)]).contains { $0.contains("next step is taken by provider") })
        // Without `actor`, a destination network policy defaults to the client.
        XCTAssertEqual(Vocabulary.defaultActor(for: "network-policy"), "client")
    }

    func testVariantFileErrorsNameFileAndLine() {
        let bad = """
        variants:
          - remediation: allowlist-ip
            provider: nosuchprovider
            colour: blue
            steps: ["{no.such.fact} x"]
        """
        let problems = lint([("rules/remediation-variants/bad.yaml", bad)])
        XCTAssertTrue(problems.contains { $0.hasPrefix("rules/remediation-variants/bad.yaml:3") && $0.contains("unknown provider") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("unknown key 'colour'") })
        XCTAssertTrue(problems.contains { $0.contains("unknown fact '{no.such.fact}'") })
    }

    // MARK: - The concrete cases of issue 14

    func report(_ raw: String, provider: String? = nil) throws -> Report {
        let engine = ClassifyEngine(ruleSet: try Self.load())
        let evidence = try EvidenceLoader.load(raw, format: .response, source: "test", provider: provider)
        return engine.report(for: evidence, source: "test")
    }

    func fixture(_ path: String) throws -> String {
        try String(contentsOfFile: TestPaths.fixturesDirectory + "/" + path, encoding: .utf8)
    }

    func steps(_ finding: Finding?) -> String {
        (finding?.remediation ?? []).flatMap { [$0.title] + $0.steps }.joined(separator: "\n")
    }

    func testBigQueryAccessDeniedNamesIAMRoleAndThePermission() throws {
        let r = try report(try fixture("bigquery/403-access-denied-tables-create.http"))
        let top = try XCTUnwrap(r.findings.first)
        XCTAssertEqual(top.rule, "bigquery.access-denied")
        let text = steps(top)
        XCTAssertTrue(text.contains("BigQuery Data Editor"), text)
        XCTAssertTrue(text.contains("bigquery.tables.create"), text)
        XCTAssertFalse(text.contains("usage and create on the schema"), text)
        XCTAssertFalse(text.contains("GRANT"), text)
        XCTAssertTrue(top.evidence.contains { $0.name == "permissions.denied" })
        XCTAssertTrue(top.remediation.allSatisfy { $0.doc.hasPrefix("fix-authentication-errors 2.") }, top.remediation.map(\.doc).description)
    }

    func testSnowflakeIPRefusalQuotesTheIPAndTheClientActs() throws {
        let r = try report(try fixture("snowflake/login-390422-ip-not-allowed.http"))
        let top = try XCTUnwrap(r.findings.first)
        XCTAssertEqual(top.failure, "network-policy")
        XCTAssertEqual(top.actor, "client")
        let text = steps(top)
        XCTAssertTrue(text.contains("203.0.113.45"), text)
        XCTAssertTrue(text.contains("ALTER NETWORK POLICY"), text)
        XCTAssertFalse(text.contains("pg_hba"), text)
        XCTAssertTrue(r.clientMessage?.contains("203.0.113.45") ?? false, r.clientMessage ?? "no client message")
    }

    func testRetryAfterSecondsAreQuotedAndTheSectionIsNotNone() throws {
        let r = try report(try fixture("generic/429-retry-after-120.http"))
        let top = try XCTUnwrap(r.findings.first)
        XCTAssertEqual(top.failure, "rate-limit")
        XCTAssertTrue(steps(top).contains("120 seconds"), steps(top))
        XCTAssertFalse(top.remediation.contains { $0.doc == "none" })
        // Without the header, the step does not invent a number.
        let bare = try report(try fixture("generic/429-no-retry-after.http"))
        XCTAssertFalse(steps(bare.findings.first).contains("{retry_after}"))
        XCTAssertFalse(steps(bare.findings.first).contains("(unknown)"))
    }

    func testPostgresStepsCarryTheComputedGrants() throws {
        let set = try Self.load()
        let rule = try XCTUnwrap(set.rule(id: "postgres.grant.missing-write-privilege"))
        var facts = Facts()
        facts.set("provider", .list([.string("postgres")]))
        facts.set("db.privilege.missing", .list([.string("CREATE on schema analytics")]))
        facts.set("db.grant.missing", .list([.string("GRANT CREATE ON SCHEMA analytics TO loader"), .string("GRANT INSERT ON analytics.events TO loader")]))
        let r = try XCTUnwrap(set.remediation("grant-write-permissions", for: rule, facts: facts))
        let text = r.steps.joined(separator: "\n")
        XCTAssertTrue(text.contains("GRANT CREATE ON SCHEMA analytics TO loader; GRANT INSERT ON analytics.events TO loader"), text)
        XCTAssertTrue(r.filled)
        // Redshift's family also holds postgres: its own variant wins.
        facts.set("provider", .list([.string("redshift"), .string("postgres")]))
        let redshift = try XCTUnwrap(set.remediation("grant-write-permissions", for: rule, facts: facts))
        XCTAssertTrue(redshift.title.contains("Redshift"), redshift.title)
    }

    func testGoogleAdsDeveloperTokenNotApprovedPointsAtTheAPICenter() throws {
        let r = try report(try fixture("google-ads/403-developer-token-not-approved.http"), provider: "google-ads")
        let top = try XCTUnwrap(r.findings.first)
        let text = steps(top)
        XCTAssertTrue(text.contains("API Center"), text)
        XCTAssertTrue(text.contains("Basic access"), text)
        XCTAssertFalse(text.contains("role may use the API"), text)
    }

    func testSourceConnectivityCitesASourceSectionAndNoDatabaseMechanism() throws {
        let raw = "HTTP/1.1 504 Gateway Timeout\r\ncontent-type: text/plain\r\n\r\nupstream timed out\n"
        _ = raw
        let set = try Self.load()
        for rule in set.rules where rule.category == "source" && rule.failure == "connectivity" {
            for family in AdviceLint.providerFamilies(for: rule) {
                for id in rule.remediation {
                    for (r, _) in set.reachableRemediations(id, for: rule, providerFamily: family) {
                        XCTAssertFalse(r.doc.hasPrefix("fix-authentication-errors 2."), "\(rule.id) \(id) cites \(r.doc)")
                        XCTAssertFalse(r.steps.joined().contains("pg_hba"), "\(rule.id) \(id)")
                    }
                }
            }
        }
    }

    func testRuleSetHasAVersionThatChangesWithTheRules() throws {
        let a = RuleLibrary.assemble([[SourceFile(path: "rules/remediations.yaml", text: Self.lintCatalog)]]).0
        let b = RuleLibrary.assemble([[SourceFile(path: "rules/remediations.yaml", text: Self.lintCatalog + "\n")]]).0
        XCTAssertTrue(a.version.hasPrefix("rules-"))
        XCTAssertNotEqual(a.version, b.version)
    }
}

/// Root cause first (docs/RULES.md): a finding that explains another comes before it.
final class RootCauseOrderTests: XCTestCase {
    static let rules = """
    rules:
      - id: t.access-token-expired
        category: api-token
        failure: expiry
        severity: error
        confidence: 0.95
        when: { message: { contains: expired } }
        summary: Access token expired.
        remediation: [fix]
      - id: t.refresh-token-revoked
        category: api-token
        failure: revoked
        severity: warning
        confidence: 0.7
        when: { message: { contains: revoked } }
        summary: Refresh token revoked.
        remediation: [fix]
      - id: t.quota
        category: source
        failure: rate-limit
        severity: error
        confidence: 0.99
        explains: [t.access-token-expired]
        when: { message: { contains: quota } }
        summary: Quota.
        remediation: [fix]
    """

    func classify(_ messages: String...) -> [Finding] {
        let sets = messages.map { message -> Facts in
            var facts = Facts()
            facts.set("message", message)
            return facts
        }
        return Classifier(ruleSet: RuleTestSupport.ruleSet(Self.rules)).classify(sets)
    }

    func testRevokedRefreshTokenComesBeforeTheExpiredAccessTokenItExplains() {
        // Two probe steps: the API call (access token expired), the refresh (refresh token revoked).
        let findings = classify("access token expired", "refresh token revoked")
        // Without the cause relation, severity and confidence would put the expiry first.
        XCTAssertEqual(findings.map(\.rule), ["t.refresh-token-revoked", "t.access-token-expired"])
        XCTAssertEqual(findings.last?.explainedBy, "t.refresh-token-revoked")
        XCTAssertNil(findings.first?.explainedBy)
        // One answer read both ways is not a cause and its effect: severity, then confidence.
        XCTAssertEqual(classify("expired or revoked").map(\.rule), ["t.access-token-expired", "t.refresh-token-revoked"])
    }

    func testAnExplicitExplainsNamesARule() {
        let findings = classify("quota hit, token expired")
        XCTAssertEqual(findings.map(\.rule), ["t.quota", "t.access-token-expired"])
        XCTAssertEqual(findings.last?.explainedBy, "t.quota")
    }

    func testUnrelatedFindingsKeepSeverityThenConfidence() {
        let findings = classify("expired")
        XCTAssertEqual(findings.map(\.rule), ["t.access-token-expired"])
        XCTAssertNil(findings.first?.explainedBy)
    }

    func testLintRefusesAnExplainsThatNamesNothing() {
        let (_, issues) = RuleTestSupport.assemble([("rules/t.yaml", Self.rules.replacingOccurrences(of: "[t.access-token-expired]", with: "[t.nothing]"))])
        XCTAssertTrue(issues.contains { $0.message.contains("explains 't.nothing'") }, "\(issues)")
    }
}
