import EvidenceModel
import Foundation
import Probe
import RuleEngine

/// `diagnose --provider postgres|redshift`: a real connection over the PostgreSQL wire protocol
/// (libpq), then the privileges a loader needs, each outcome turned into facts and classified with
/// the rules of rules/postgres/.
///
/// Steps (probes[]): `connect` (TCP, TLS as asked, login, database) and `privileges` (USAGE and
/// CREATE on the schema, INSERT on the table). The whole run shares one deadline
/// (`target.timeout`), so a black-holed port costs at most that.
public struct DatabaseDiagnosisRunner: Sendable {
    public let target: DatabaseTarget
    public let engine: ClassifyEngine
    public var keepFacts: Bool

    public init(target: DatabaseTarget, engine: ClassifyEngine, keepFacts: Bool = false) throws(InputError) {
        try target.validate()
        self.target = target
        self.engine = engine
        self.keepFacts = keepFacts
    }

    /// Connects, checks, classifies; blocks for at most `target.timeout` seconds (plus classification).
    ///
    /// The probes run on their own thread: libpq resolves host names with a blocking getaddrinfo
    /// that no deadline reaches, so a hung resolver is abandoned at the deadline (its thread ends
    /// whenever the lookup does) and reported as a timeout.
    public func run() -> Diagnosis {
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = started + UInt64(target.timeout * 1e9)
        let box = ProbeBox()
        let done = DispatchSemaphore(value: 0)
        let runner = self
        let thread = Thread {
            box.value = runner.probe(deadline: deadline)
            done.signal()
        }
        thread.name = "authdoctor-postgres"
        thread.start()
        let probed: Probed
        // A little grace beyond the deadline: the probes themselves stop at it.
        if done.wait(timeout: DispatchTime(uptimeNanoseconds: deadline + 250_000_000)) == .success, let value = box.value {
            probed = value
        } else {
            probed = hungProbe(seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return finish(records: probed.records, stepFacts: probed.stepFacts, summaryFacts: probed.summaryFacts, seconds: seconds)
    }

    typealias Probed = (records: [ProbeRecord], stepFacts: [(step: String, facts: Facts, failed: Bool)], summaryFacts: Facts)

    /// The result of the probe thread, handed over through a semaphore (written before the
    /// signal, read only after a successful wait).
    final class ProbeBox: @unchecked Sendable {
        var value: Probed?
    }

    /// What is reported when the probe thread did not come back in time (a hung DNS lookup).
    func hungProbe(seconds: Double) -> Probed {
        let message = "connection to server at \"\(target.host)\", port \(target.port) failed: timeout expired"
            + " (no answer within \(Self.seconds(target.timeout)) s; the host name lookup did not finish)"
        let connect = ProbeRecord(step: "connect", method: "CONNECT", url: target.displayURL, outcome: .transportError,
                                  timings: PhaseTimings(totalSeconds: seconds), note: message)
        var extra = baseFacts()
        extra.set("probe.step", "connect")
        extra.set("probe.outcome", connect.outcome.rawValue)
        extra.set("db.connected", false)
        extra.set("db.timeout", true)
        let facts = engine.extractor.facts(for: Evidence(kind: .probe, provider: target.provider, text: message, extraFacts: extra))
        var summary = baseFacts()
        summary.set("db.connected", false)
        let privileges = ProbeRecord(step: "privileges", method: "QUERY", url: target.displayURL, outcome: .skipped,
                                     note: "needs a connection (see connect)")
        return ([connect, privileges], [("connect", facts, true)], summary)
    }

    /// The probes: connect, then the privilege queries; stops at `deadline`.
    func probe(deadline: UInt64) -> Probed {
        var records: [ProbeRecord] = []
        var stepFacts: [(step: String, facts: Facts, failed: Bool)] = []
        var summaryFacts = baseFacts()

        let (connection, outcome) = PQConnection.connect(target.libpqParameters, deadline: deadline)
        var connect = ProbeRecord(step: "connect", method: "CONNECT", url: target.displayURL, outcome: .ok)
        var connectEvidence = Evidence(kind: .probe, provider: target.provider)
        var connectExtra = baseFacts()
        connectExtra.set("probe.step", "connect")
        switch outcome {
        case let .connected(seconds, tls, version):
            connect.timings = PhaseTimings(connectSeconds: seconds, totalSeconds: seconds)
            connect.note = "logged in as \(target.user) " + Self.describe(tls, verified: target.verifiesCertificate)
                + " (server version \(Self.version(version)))"
            var tlsFacts = Facts()
            tlsFacts.set("db.connected", true)
            tlsFacts.set("db.tls", tls != nil)
            if let tls {
                if let version = tls.protocolVersion { tlsFacts.set("db.tls.protocol", version) }
                if let cipher = tls.cipher { tlsFacts.set("db.tls.cipher", cipher) }
                tlsFacts.set("db.tls.verified", target.verifiesCertificate)
            }
            connectExtra.merge(tlsFacts, overwrite: true)
            summaryFacts.merge(tlsFacts, overwrite: true)
        case let .failed(message, seconds):
            let state = SQLState.find(in: message)
            connect.outcome = Self.isServerAnswer(message) ? .serverError : .transportError
            connect.sqlstate = state
            connect.timings = PhaseTimings(connectSeconds: seconds, totalSeconds: seconds)
            connect.note = Self.oneLine(message)
            connectEvidence.text = message
            connectEvidence.sqlstate = state
            connectExtra.set("db.connected", false)
            summaryFacts.set("db.connected", false)
        case let .timedOut(seconds):
            let message = "connection to server at \"\(target.host)\", port \(target.port) failed: timeout expired"
                + " (no answer within \(Self.seconds(target.timeout)) s)"
            connect.outcome = .transportError
            connect.timings = PhaseTimings(connectSeconds: seconds, totalSeconds: seconds)
            connect.note = message
            connectEvidence.text = message
            connectExtra.set("db.connected", false)
            connectExtra.set("db.timeout", true)
            summaryFacts.set("db.connected", false)
        }
        connectExtra.set("probe.outcome", connect.outcome.rawValue)
        connectEvidence.extraFacts = connectExtra
        stepFacts.append(("connect", engine.extractor.facts(for: connectEvidence), connect.outcome != .ok))
        records.append(connect)

        var privileges = ProbeRecord(step: "privileges", method: "QUERY", url: target.displayURL, outcome: .skipped)
        if let connection {
            let check = PrivilegeCheck(target: target, connection: connection, deadline: deadline).run()
            privileges.outcome = check.outcome
            privileges.sqlstate = check.sqlstate
            privileges.timings = PhaseTimings(totalSeconds: check.seconds)
            privileges.note = check.note
            var evidence = Evidence(kind: .probe, provider: target.provider, text: check.errorText, sqlstate: check.sqlstate)
            var extra = baseFacts()
            extra.set("probe.step", "privileges")
            extra.set("probe.outcome", check.outcome.rawValue)
            extra.merge(check.facts, overwrite: true)
            summaryFacts.merge(check.facts, overwrite: true)
            evidence.extraFacts = extra
            let facts = engine.extractor.facts(for: evidence)
            stepFacts.append(("privileges", facts, check.outcome != .ok || check.facts["db.privilege.missing"] != nil))
        } else {
            privileges.note = "needs a connection (see connect)"
        }
        records.append(privileges)
        return (records, stepFacts, summaryFacts)
    }

    /// "over TLS (TLSv1.3, TLS_AES_256_GCM_SHA384; certificate verified)" or "without TLS".
    static func describe(_ tls: PQConnection.TLSSession?, verified: Bool) -> String {
        guard let tls else { return "without TLS" }
        let details = [tls.protocolVersion, tls.cipher].compactMap { $0 }.joined(separator: ", ")
        let check = verified ? "certificate verified" : "certificate not verified"
        return "over TLS (" + (details.isEmpty ? "" : details + "; ") + check + ")"
    }

    /// Facts every step carries: the provider, where and as whom (never the password).
    func baseFacts() -> Facts {
        var f = Facts()
        f.set("db.host", target.host)
        f.set("db.port", target.port)
        f.set("db.user", target.user)
        f.set("db.database", target.database)
        f.set("db.sslmode", target.tls.rawValue)
        if let schema = target.schema { f.set("db.schema", schema) }
        if let table = target.table { f.set("db.table", table) }
        if let caFile = target.tlsCAFile { f.set("db.tls.ca_file", caFile) }
        return f
    }

    func finish(records: [ProbeRecord], stepFacts: [(step: String, facts: Facts, failed: Bool)], summaryFacts: Facts,
                seconds: Double) -> Diagnosis {
        let failing = stepFacts.filter(\.failed)
        let healthy = stepFacts.filter { !$0.failed }
        let sets = failing + healthy
        var findings = engine.classifier.classify(sets.map(\.facts))

        // Say which step each finding came from.
        for i in findings.indices {
            guard let rule = engine.ruleSet.rule(id: findings[i].rule), let source = sets.first(where: { rule.when.holds(in: $0.facts) }),
                  !findings[i].evidence.contains(where: { $0.name == "probe.step" }) else { continue }
            findings[i].evidence.insert(("probe.step", .string(source.step)), at: 0)
        }
        findings = engine.classifier.ordered(findings)

        let showsFailure = !failing.isEmpty
        var note: String?
        if findings.count == 1, findings[0].failure == "unknown", !showsFailure {
            // Healthy means healthy: no finding, a note of what was checked.
            note = healthyNote(summaryFacts)
            findings = []
        }

        let scrubber = SecretScrubber(secrets: target.password.map { [$0] } ?? [])
        findings = findings.map(scrubber.scrub)
        let probes = records.map { record -> ProbeRecord in
            var r = record
            r.url = scrubber.scrub(r.url)
            r.note = r.note.map(scrubber.scrub)
            return r
        }
        var shownSteps: [String: Facts] = [:]
        for (step, facts, _) in stepFacts { shownSteps[step] = scrubber.scrub(facts) }
        let shownSummary = scrubber.scrub(summaryFacts)
        var allFacts: Facts?
        if keepFacts {
            var merged = shownSummary
            for (step, _, _) in stepFacts {
                for name in shownSteps[step]!.names { merged[step + ":" + name] = shownSteps[step]![name] }
            }
            allFacts = merged
        }
        var report = Report(id: nil, inputKind: Evidence.Kind.probe.rawValue, source: nil, provider: target.provider,
                            providerDetected: false, httpStatus: nil, evidenceShowsFailure: showsFailure, findings: findings,
                            facts: allFacts, probes: probes, rulesVersion: engine.ruleSet.version)
        report.note = note.map(scrubber.scrub)
        return Diagnosis(report: report, facts: shownSummary, stepFacts: shownSteps, seconds: seconds)
    }

    func healthyNote(_ facts: Facts) -> String {
        var checked: [String] = []
        if let schema = facts.string("db.schema") { checked.append("create tables in schema \(schema)") }
        if let table = facts.string("db.table.qualified") { checked.append("insert into \(table)") }
        return "Connected to \(target.database) as \(target.user)"
            + (facts.bool("db.tls") == true ? " over TLS" + (facts.string("db.tls.protocol").map { " (\($0))" } ?? "") : " without TLS")
            + (checked.isEmpty ? "" : ", and the user may " + checked.joined(separator: " and "))
            + "; no rule found a problem with this destination."
    }

    /// Whether libpq's message is the server's answer (FATAL/ERROR) rather than a transport failure.
    static func isServerAnswer(_ message: String) -> Bool {
        message.contains("FATAL:") || message.contains("ERROR:") || message.contains("fe_sendauth")
    }

    static func oneLine(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).map { $0.trimmedWhitespace() }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    static func version(_ number: Int) -> String {
        number >= 100_000 ? "\(number / 10_000).\(number % 10_000)" : "\(number / 10_000).\(number / 100 % 100).\(number % 100)"
    }

    static func seconds(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(value)
    }
}

/// The loader's write rights: USAGE and CREATE on the schema, INSERT on the table. Queries work on
/// PostgreSQL and Redshift alike (catalog lookups and has_*_privilege, no casts Redshift lacks).
struct PrivilegeCheck {
    let target: DatabaseTarget
    let connection: PQConnection
    let deadline: UInt64

    struct Result {
        var outcome: ProbeRecord.Outcome = .ok
        var facts = Facts()
        var sqlstate: String?
        var errorText: String?
        var note: String?
        var seconds: Double = 0
    }

    func run() -> Result {
        let started = DispatchTime.now().uptimeNanoseconds
        var result = Result()
        func fail(_ outcome: PQConnection.QueryOutcome) -> Result {
            var r = result
            switch outcome {
            case let .failed(state, message):
                r.outcome = .serverError
                r.sqlstate = state
                r.errorText = message
                r.note = DatabaseDiagnosisRunner.oneLine(message)
            case .timedOut:
                let message = "the privilege queries timed out: timeout expired (no answer within \(DatabaseDiagnosisRunner.seconds(target.timeout)) s)"
                r.outcome = .transportError
                r.errorText = message
                r.note = message
                r.facts.set("db.timeout", true)
            case .rows:
                break
            }
            r.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            return r
        }

        // Who we are and where unqualified names go.
        let whoami = connection.query("SELECT current_user, current_database(), current_schema()", [], deadline: deadline)
        guard case let .rows(rows) = whoami, let me = rows.first, me.count == 3 else { return fail(whoami) }
        var schema = target.schema
        var table = target.table
        if schema == nil, let t = table, let dot = t.firstIndex(of: ".") {
            schema = String(t[..<dot])
            table = String(t[t.index(after: dot)...])
        }
        if schema == nil { schema = me[2] }
        if let current = me[0] { result.facts.set("db.current_user", current) }
        var missing: [String] = []
        var grants: [String] = []
        var granted: [String] = []
        let grantee = Self.identifier(me[0] ?? target.user)

        guard let schema else {
            result.facts.set("db.schema.exists", false)
            result.note = "no schema given and the user's search_path names none (use --schema)"
            result.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            return result
        }
        result.facts.set("db.schema", schema)
        let schemaExists = connection.query("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", [schema], deadline: deadline)
        guard case let .rows(found) = schemaExists else { return fail(schemaExists) }
        let hasSchema = found.first?.first == "t"
        result.facts.set("db.schema.exists", hasSchema)
        if hasSchema {
            let rights = connection.query("SELECT has_schema_privilege($1, 'USAGE'), has_schema_privilege($1, 'CREATE')", [schema], deadline: deadline)
            guard case let .rows(r) = rights, let row = r.first, row.count == 2 else { return fail(rights) }
            for (privilege, value) in zip(["USAGE", "CREATE"], row) {
                if value == "t" {
                    granted.append("\(privilege) on schema \(schema)")
                } else {
                    missing.append("\(privilege) on schema \(schema)")
                    grants.append("GRANT \(privilege) ON SCHEMA \(Self.identifier(schema)) TO \(grantee)")
                }
            }
        }
        if let table {
            let qualified = "\(schema).\(table)"
            result.facts.set("db.table", table)
            result.facts.set("db.table.qualified", qualified)
            var hasTable = false
            if hasSchema {
                let exists = connection.query("""
                    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                                   WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'f'))
                    """, [schema, table], deadline: deadline)
                guard case let .rows(t) = exists else { return fail(exists) }
                hasTable = t.first?.first == "t"
            }
            result.facts.set("db.table.exists", hasTable)
            if hasTable {
                let insert = connection.query("SELECT has_table_privilege(quote_ident($1) || '.' || quote_ident($2), 'INSERT')",
                                              [schema, table], deadline: deadline)
                guard case let .rows(r) = insert, let row = r.first, row.count == 1 else { return fail(insert) }
                if row[0] == "t" {
                    granted.append("INSERT on table \(qualified)")
                } else {
                    missing.append("INSERT on table \(qualified)")
                    grants.append("GRANT INSERT ON \(Self.identifier(schema)).\(Self.identifier(table)) TO \(grantee)")
                }
            }
        }
        if !granted.isEmpty { result.facts.set("db.privilege.granted", .list(granted.map { .string($0) })) }
        if !missing.isEmpty {
            result.facts.set("db.privilege.missing", .list(missing.map { .string($0) }))
            result.facts.set("db.grant.missing", .list(grants.map { .string($0) }))
            result.note = "missing: " + missing.joined(separator: ", ")
        } else if !hasSchema {
            result.note = "schema \(schema) does not exist"
        } else if result.facts.bool("db.table.exists") == false {
            result.note = "table \(schema).\(table ?? "") does not exist"
        } else {
            result.note = granted.joined(separator: ", ")
        }
        result.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return result
    }

    /// An SQL identifier as a GRANT statement needs it: bare when simple, double-quoted otherwise.
    static func identifier(_ name: String) -> String {
        let simple = !name.isEmpty && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            && !(name.unicodeScalars.first.map { ("0"..."9").contains($0) } ?? true)
        return simple ? name : "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
