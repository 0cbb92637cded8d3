import EvidenceModel
import Foundation
import Probe
import RuleEngine

/// What one `diagnose` run found: the report (findings, verdict, `probes[]`) and its exit status.
public struct Diagnosis: Sendable {
    public var report: Report
    /// The diagnosis-level facts (docs/PROVIDERS.md), redacted. Redacted when read, as `stepFacts`
    /// are: `check` reads one of them (`fact(_:)`).
    public var facts: Facts {
        get { factsScrubber.map { $0.scrub(rawFacts) } ?? rawFacts }
        set { rawFacts = newValue; factsScrubber = nil }
    }
    /// Each step's facts by step id, redacted (steps that ran). Redacted when read: `check` over
    /// thousands of connections never reads them, and redacting every step's facts cost more
    /// than classifying them.
    public var stepFacts: [String: Facts] {
        get { scrubber.map { scrubber in rawStepFacts.mapValues { scrubber.scrub($0) } } ?? rawStepFacts }
        set { rawStepFacts = newValue; scrubber = nil }
    }
    /// Wall-clock seconds the probes took.
    public var seconds: Double
    /// What a refresh-token exchange gave (an access token, a rotated refresh token), for
    /// `check --renew` to store. Holds secrets in clear: never print or log it.
    public var renewal: RenewedCredentials?
    private var rawFacts: Facts
    private var factsScrubber: SecretScrubber?
    private var rawStepFacts: [String: Facts]
    private var scrubber: SecretScrubber?

    init(report: Report, facts: Facts, stepFacts: [String: Facts], seconds: Double) {
        self.report = report
        rawFacts = facts
        factsScrubber = nil
        self.seconds = seconds
        rawStepFacts = stepFacts
        scrubber = nil
    }

    init(report: Report, unredactedFacts: Facts, unredactedStepFacts: [String: Facts], scrubber: SecretScrubber, seconds: Double) {
        self.report = report
        rawFacts = unredactedFacts
        factsScrubber = scrubber
        self.seconds = seconds
        rawStepFacts = unredactedStepFacts
        self.scrubber = scrubber
    }

    /// One diagnosis-level fact, redacted.
    public func fact(_ name: String) -> FactValue? {
        guard let value = rawFacts[name] else { return nil }
        return factsScrubber.map { $0.scrub(value) } ?? value
    }

    /// The longest `Retry-After` (seconds) any step's answer carried.
    public var retryAfter: Int? { rawStepFacts.values.compactMap { $0.int("retry_after") }.max() }

    public var probes: [ProbeRecord] { report.probes ?? [] }
    public var exitStatus: Int32 { report.diagnoseExitStatus }
}

extension Report {
    /// `diagnose`'s exit status, as monitoring plugins read it: 0 healthy, 1 warnings only,
    /// 2 a failure found, 3 could not tell.
    public var diagnoseExitStatus: Int32 {
        switch verdict {
        case .ok: return 0
        case .warning: return 1
        case .failure: return 2
        case .unknown: return 3
        }
    }
}

/// Runs a provider definition's steps against one connection and classifies what came back.
///
/// Steps run in rounds: every step whose credentials are at hand runs in the first round, all of
/// them concurrently (one libcurl multi handle); a step that needs a credential another step
/// provides (an access token from the refresh-token exchange) runs in a later round. Each probe has
/// its own total timeout (`options.timeout`), so a black hole costs one timeout per round.
public struct DiagnosisRunner: Sendable {
    public let definition: ProviderDefinition
    /// The connection's credentials, plus the signed `assertion` when the definition has one.
    public private(set) var credentials: DiagnosisCredentials
    public private(set) var options: DiagnosisOptions
    public let engine: ClassifyEngine
    /// Every base URL name to the URL used (defaults, then `--base-url` overrides).
    public let baseURLs: [String: String]

    /// Checks the input: required credentials, base URL overrides, the timeout. Throws a one-line
    /// `InputError` (usage) naming the flag to use.
    public init(definition: ProviderDefinition, credentials: DiagnosisCredentials, options: DiagnosisOptions = DiagnosisOptions(),
                engine: ClassifyEngine) throws(InputError) {
        self.definition = definition
        var credentials = credentials
        try Self.deriveAccount(&credentials, definition: definition)
        self.credentials = credentials
        self.options = options
        self.engine = engine

        for spec in definition.credentials where spec.required && credentials[spec.name] == nil {
            throw InputError(.usage, "diagnose --provider \(definition.id) needs \(Self.describe(spec.name))"
                             + (spec.description.map { " (\($0))" } ?? ""))
        }
        if !definition.requireAny.isEmpty && !definition.requireAny.contains(where: { credentials[$0] != nil }) {
            throw InputError(.usage, "diagnose --provider \(definition.id) needs one of: "
                             + definition.requireAny.map(Self.describe).joined(separator: "; "))
        }
        if definition.steps.isEmpty {
            // Offline (Looker Studio): the evidence given is classified instead.
            guard !options.evidence.isEmpty else {
                let flags = definition.evidenceInputs.map { "--\($0)" }.joined(separator: " or ")
                throw InputError(.usage, "diagnose --provider \(definition.id) classifies what the customer's browser saw: give \(flags.isEmpty ? "evidence" : flags)")
            }
            baseURLs = [:]
            return
        }
        // Some step must be able to run with what was given (and what earlier steps provide).
        // A few credentials and steps: arrays compare for less than sets hash (`check` plans every entry).
        var available = Array(credentials.values.keys)
        if let assertion = definition.assertion, assertion.needs.allSatisfy(available.contains) { available.append(CredentialName.assertion) }
        var runnable = [Bool](repeating: false, count: definition.steps.count)
        var grew = true
        while grew {
            grew = false
            for (index, step) in definition.steps.enumerated() where !runnable[index] && step.needs.allSatisfy(available.contains) {
                runnable[index] = true
                for (credential, _) in step.provides where !available.contains(credential) { available.append(credential) }
                grew = true
            }
        }
        if !runnable.contains(true) {
            let needs = definition.steps.map { step in
                "\(step.id) needs " + step.needs.filter { credentials[$0] == nil }.map(Self.flag).joined(separator: ", ")
            }
            throw InputError(.usage, "with the credentials given, no step of \(definition.id) can run: " + needs.joined(separator: "; "))
        }
        guard options.timeout > 0, options.timeout <= 600, options.timeout.isFinite else {
            throw InputError(.usage, "--timeout must be more than 0 and at most 600 seconds")
        }
        var urls: [String: String] = [:]
        for (name, url) in definition.baseURLs { urls[name] = url }
        for (name, url) in options.baseURLOverrides {
            if let problem = ProviderLoader.baseURLProblem(url) {
                throw InputError(.usage, "bad --base-url \(name)=\(url): the URL \(problem)")
            }
            let clean = ProviderLoader.trimmingSlash(url)
            if name == definition.id {
                for key in urls.keys { urls[key] = clean }
            } else if urls[name] != nil {
                urls[name] = clean
            } else {
                var choices = [definition.id]
                for (base, _) in definition.baseURLs where base != definition.id { choices.append(base) }
                let names = choices.joined(separator: ", ")
                throw InputError(.usage, "bad --base-url: '\(name)' is no base URL of \(definition.id) (use one of: \(names))")
            }
        }
        // A base URL may name a credential in its host ("https://{account}.snowflakecomputing.com").
        for (name, url) in urls where ByteSearch.contains(url, "{") {
            var out = ""
            for piece in TemplatePiece.split(url) {
                switch piece {
                case let .literal(text): out += text
                case let .placeholder(p):
                    guard let value = credentials[p] else {
                        throw InputError(.usage, "diagnose --provider \(definition.id) needs \(Self.describe(p)) (it names the host)")
                    }
                    guard value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }) else {
                        throw InputError(.usage, "\(Self.flag(p)) '\(value)' is not a host name part (letters, digits, '-', '_', '.')")
                    }
                    out += value.lowercased()
                }
            }
            urls[name] = out
        }
        baseURLs = urls
        if let assertion = definition.assertion,
           let signed = try Self.signAssertion(assertion, credentials: credentials, baseURLs: urls, now: options.now ?? Date()) {
            self.credentials[CredentialName.assertion] = signed
        }
    }

    /// A Snowflake account identifier (a base URL on snowflakecomputing.com names `{account}`)
    /// is read in any documented form: `account` becomes the host part, `account-name` what the
    /// login and the key-pair JWT name (SnowflakeAccount).
    static func deriveAccount(_ credentials: inout DiagnosisCredentials, definition: ProviderDefinition) throws(InputError) {
        guard let given = credentials[CredentialName.account],
              definition.baseURLs.contains(where: { $0.1.contains("{account}." + SnowflakeAccount.domain) }) else { return }
        let account = try SnowflakeAccount.parse(given, flag: flag(CredentialName.account))
        credentials[CredentialName.account] = account.host
        credentials[CredentialName.accountName] = account.name
    }

    /// How to give a credential on the command line.
    public static func describe(_ credential: String) -> String {
        switch credential {
        case CredentialName.token: return "an access token (--token-env VAR or --token-file FILE)"
        case CredentialName.refreshToken: return "a refresh token (--refresh-token-env VAR)"
        case CredentialName.clientID: return "the app's client id (--client-id ID)"
        case CredentialName.clientSecret: return "the app's client secret (--client-secret-env VAR)"
        case CredentialName.developerToken: return "a developer token (--developer-token-env VAR)"
        case CredentialName.accountID: return "an account id (--account-id ID)"
        case CredentialName.privateKey: return "a private key (--service-account-file FILE or --private-key-file FILE)"
        case CredentialName.clientEmail: return "a service account (--service-account-file FILE)"
        case CredentialName.assertion: return "a signed assertion (--service-account-file FILE or --private-key-file FILE)"
        case CredentialName.password: return "a password (--password-env VAR or --password-file FILE)"
        case CredentialName.user: return "a user name (--user NAME)"
        case CredentialName.account: return "an account identifier (--account ORGNAME-ACCOUNT_NAME or LOCATOR.REGION.CLOUD)"
        case CredentialName.accountName: return "an account identifier (--account ORGNAME-ACCOUNT_NAME or LOCATOR.REGION.CLOUD)"
        case CredentialName.apiKey: return "an API key (--api-key-env VAR or --api-key-file FILE)"
        case CredentialName.urlPath: return "the API URL (--url URL)"
        case CredentialName.project: return "a project id (--project ID)"
        case CredentialName.dataset: return "a dataset (--dataset NAME)"
        case CredentialName.spreadsheetID: return "a spreadsheet id (--spreadsheet-id ID)"
        default: return credential
        }
    }

    /// The flag that gives a credential.
    public static func flag(_ credential: String) -> String {
        switch credential {
        case CredentialName.token: return "--token-env/--token-file"
        case CredentialName.refreshToken: return "--refresh-token-env"
        case CredentialName.clientID: return "--client-id"
        case CredentialName.clientSecret: return "--client-secret-env"
        case CredentialName.developerToken: return "--developer-token-env"
        case CredentialName.accountID: return "--account-id"
        case CredentialName.privateKey, CredentialName.assertion: return "--service-account-file/--private-key-file"
        case CredentialName.clientEmail: return "--service-account-file"
        case CredentialName.password: return "--password-env/--password-file"
        case CredentialName.user: return "--user"
        case CredentialName.account, CredentialName.accountName: return "--account"
        case CredentialName.apiKey: return "--api-key-env/--api-key-file"
        case CredentialName.urlPath: return "--url"
        case CredentialName.project: return "--project"
        case CredentialName.dataset: return "--dataset"
        case CredentialName.spreadsheetID: return "--spreadsheet-id"
        default: return credential
        }
    }

    /// The same connection with its refresh-token steps skipped (`check --dry-run`).
    public func neverRenewing() -> DiagnosisRunner {
        var copy = self
        copy.options.neverRenew = true
        return copy
    }

    /// Whether a step sends the refresh token (exchanges it, and may rotate it).
    public static func exchangesRefreshToken(_ step: ProviderStep) -> Bool {
        step.needs.contains(CredentialName.refreshToken)
    }

    // MARK: running

    /// Whether the run sends requests (through libcurl); a definition without steps only classifies evidence.
    public var probes: Bool { !definition.steps.isEmpty }

    /// Runs every step, blocking until the last probe ends (at most one timeout per round).
    public func run(prober: Prober = Prober()) -> Diagnosis {
        if definition.steps.isEmpty { return offline() }
        var state = RunState(runner: self)
        while let round = state.nextRound() {
            if round.number == 1 { prepareWhileProbing(round) }
            state.absorb(round, prober.performAll(round.requests, maxConcurrent: max(1, round.requests.count)))
        }
        return state.finish()
    }

    /// The same, without blocking a thread of the cooperative pool (probes run on their own thread
    /// and are aborted when the task is cancelled).
    public func run(prober: Prober = Prober()) async -> Diagnosis {
        if definition.steps.isEmpty { return offline() }
        var state = RunState(runner: self)
        while let round = state.nextRound() {
            if round.number == 1 { prepareWhileProbing(round) }
            state.absorb(round, await prober.performAll(round.requests, maxConcurrent: max(1, round.requests.count)))
        }
        return state.finish()
    }

    /// What every run needs once its probes are back, made on another thread while the first
    /// round is out (a one-off `diagnose` process would otherwise do it after the slowest answer):
    /// the redaction of the probe URLs (ICU's first regex compile) and the rule-id lookup.
    private func prepareWhileProbing(_ round: DiagnosisRound) {
        let urls = round.displayURLs, engine = engine
        DispatchQueue.global(qos: .userInitiated).async {
            Redactor.prepare(urls)
            // The rules may still be loading (ClassifyEngine(loadingElsewhere:)): waited for here, not before the probes.
            engine.ruleSet.prepareIDLookup()
        }
    }

    /// The same through any transport, e.g. a `ProbeEngine` shared by many diagnoses (`check`).
    public func run(transport: any ProbeTransport) async -> Diagnosis {
        if definition.steps.isEmpty { return offline() }
        var state = RunState(runner: self)
        while let round = state.nextRound() {
            state.absorb(round, await transport.performAll(round.requests))
        }
        return state.finish()
    }
}

extension DiagnosisRunner {
    /// A definition without steps (`evidence: [url, har]`): classify what the customer's browser saw.
    func offline() -> Diagnosis {
        let started = DispatchTime.now()
        let evidence = options.evidence.map { e -> Evidence in
            var e = e
            e.provider = definition.id
            return e
        }
        var report = engine.report(for: evidence, source: options.evidenceSource, keepFacts: options.keepFacts)
        if report.findings.isEmpty {
            report.note = "Nothing in the evidence shows a failure: one Google account, no 400, no redirect loop."
        }
        report.probes = []
        let facts = evidence.first.map(engine.extractor.facts(for:)) ?? Facts()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        var shown = Facts(capacity: facts.count)
        for name in facts.names { shown[name] = Redactor.redactForDisplay(facts[name]!) }
        return Diagnosis(report: report, facts: shown, stepFacts: [:], seconds: seconds)
    }
}

/// One round of concurrent requests.
struct DiagnosisRound {
    var number: Int
    var steps: [Int]
    var requests: [ProbeRequest]
    var displayURLs: [String]
}

/// The bookkeeping of one run: which steps are waiting, what each answered, what they yielded.
struct RunState {
    let runner: DiagnosisRunner
    let now: Date
    let started = DispatchTime.now()
    var credentials: DiagnosisCredentials
    var pending: [Int]
    var records: [Int: ProbeRecord] = [:]
    var stepFacts: [Int: Facts] = [:]
    var yields: [DiagnosisFactBuilder.Yield] = []
    var round = 0
    /// Credential → the step that was to provide it but did not.
    var notProvided: [String: String] = [:]
    var renewal: RenewedCredentials?

    init(runner: DiagnosisRunner) {
        self.runner = runner
        now = runner.options.now ?? Date()
        credentials = runner.credentials
        pending = Array(runner.definition.steps.indices)
    }

    var steps: [ProviderStep] { runner.definition.steps }

    var template: DiagnosisTemplate {
        DiagnosisTemplate(baseURLs: runner.baseURLs, versionPath: runner.definition.versionPath, credentials: credentials)
    }

    mutating func nextRound() -> DiagnosisRound? {
        var ready: [Int] = []
        var waiting: [Int] = []
        for index in pending {
            let step = steps[index]
            guard step.needs.allSatisfy({ credentials[$0] != nil }) else { waiting.append(index); continue }
            if runner.options.neverRenew && DiagnosisRunner.exchangesRefreshToken(step) {
                records[index] = skipped(step, RenewedCredentials.skippedNote)
                for (credential, _) in step.provides where credentials[credential] == nil { notProvided[credential] = step.id }
            } else if let reason = formatMismatch(step) {
                records[index] = skipped(step, reason)
            } else {
                ready.append(index)
            }
        }
        pending = waiting
        guard !ready.isEmpty else {
            for index in pending { records[index] = skipped(steps[index], missingReason(steps[index])) }
            pending = []
            return nil
        }
        round += 1
        let t = template
        var requests: [ProbeRequest] = []
        var displays: [String] = []
        for index in ready {
            let (request, display) = makeRequest(steps[index], t)
            requests.append(request)
            displays.append(display)
        }
        return DiagnosisRound(number: round, steps: ready, requests: requests, displayURLs: displays)
    }

    /// Why a step does not fit the token's shape, or nil when it does.
    func formatMismatch(_ step: ProviderStep) -> String? {
        guard !step.ifTokenFormat.isEmpty || !step.unlessTokenFormat.isEmpty, let token = credentials[CredentialName.token] else { return nil }
        let format = TokenShape.format(of: token)
        if !step.ifTokenFormat.isEmpty && !step.ifTokenFormat.contains(format) {
            return "only for \(step.ifTokenFormat.joined(separator: " or ")) tokens (this one is \(format))"
        }
        if step.unlessTokenFormat.contains(format) { return "not for \(format) tokens" }
        return nil
    }

    func missingReason(_ step: ProviderStep) -> String {
        let missing = step.needs.filter { credentials[$0] == nil }
        let parts = missing.map { name -> String in
            if let provider = notProvided[name] { return "\(name) (step '\(provider)' did not provide one)" }
            return DiagnosisRunner.describe(name)
        }
        return "needs " + parts.joined(separator: ", ")
    }

    func skipped(_ step: ProviderStep, _ reason: String) -> ProbeRecord {
        ProbeRecord(step: step.id, method: step.method, url: template.render(step.url, .url, masked: true), outcome: .skipped, note: reason)
    }

    static let userAgent = "authdoctor/\(Report.toolVersion)"

    func makeRequest(_ step: ProviderStep, _ t: DiagnosisTemplate) -> (ProbeRequest, String) {
        let url = t.render(step.url, .url, masked: false)
        let display = t.render(step.url, .url, masked: true)
        var headers: [HTTPHeader] = []
        let own = step.headers.map { $0.name.fastLowercased() }
        if !own.contains("accept") { headers.append(HTTPHeader("Accept", "application/json")) }
        if !own.contains("user-agent") { headers.append(HTTPHeader("User-Agent", Self.userAgent)) }
        for (name, value) in step.headers { headers.append(HTTPHeader(name, t.render(value, .header, masked: false))) }
        var body: [UInt8]?
        if let template = step.body, let contentType = step.contentType {
            let lower = contentType.lowercased()
            let context: DiagnosisTemplate.Context = lower.contains("json") ? .jsonBody : lower.contains("x-www-form-urlencoded") ? .formBody : .rawBody
            body = Array(t.render(template, context, masked: false).utf8)
            if !own.contains("content-type") { headers.append(HTTPHeader("Content-Type", contentType)) }
        }
        let timeout = runner.options.timeout
        let request = ProbeRequest(method: step.method, url: url, headers: headers, body: body,
                                   connectTimeout: min(timeout, 5), totalTimeout: timeout,
                                   maxBodyBytes: runner.options.maxBodyBytes, followRedirects: false,
                                   caBundlePath: runner.options.caBundlePath)
        return (request, display)
    }

    mutating func absorb(_ round: DiagnosisRound, _ results: [ProbeResult]) {
        for (offset, index) in round.steps.enumerated() {
            let step = steps[index]
            let result = results[offset]
            let display = round.displayURLs[offset]
            var outcome: ProbeRecord.Outcome
            var note: String?
            var shape: String?
            var json: JSONValue?
            let bodyText = result.status == nil ? "" : result.bodyText
            if let status = result.status {
                if (200..<300).contains(status) {
                    let body = bodyText.trimmedWhitespace()
                    if result.curlCode != 0 {
                        outcome = .unexpectedBody
                        note = "the answer was cut off (\(result.curlName))"
                        shape = "cut-off"
                    } else if body.isEmpty {
                        outcome = step.yields.isEmpty && step.provides.isEmpty ? .ok : .unexpectedBody
                        if outcome != .ok { note = "empty body where JSON was expected"; shape = "empty" }
                    } else if let parsed = try? JSON.parse(body) {
                        outcome = .ok
                        json = parsed
                    } else {
                        outcome = .unexpectedBody
                        let lower = body.prefix(512).lowercased()
                        if lower.hasPrefix("<!doctype html") || lower.hasPrefix("<html") || lower.contains("<body") {
                            note = "an HTML page where JSON was expected"
                            shape = "html"
                        } else if body.hasPrefix("{") || body.hasPrefix("[") || result.header("content-type")?.contains("json") == true {
                            note = result.bodyTruncated ? "a JSON body larger than the cap" : "truncated or invalid JSON"
                            shape = "invalid-json"
                        } else {
                            note = "not JSON"
                            shape = "text"
                        }
                    }
                } else {
                    outcome = .httpError
                }
            } else {
                outcome = .transportError
            }
            if result.bodyTruncated && outcome == .ok { note = "body truncated to \(result.body.count) bytes" }

            // Yields and provided credentials come from a 2xx JSON answer only.
            if outcome == .ok, let json {
                for (fact, path) in step.yields {
                    let values = path.values(in: json)
                    if !values.isEmpty || path.isList { yields.append(.init(fact: fact, values: values, isList: path.isList, step: step.id)) }
                }
                for (credential, path) in step.provides {
                    let value: String?
                    switch path.values(in: json).first {
                    case let .string(s)?: value = s
                    case let .int(i)?: value = String(i)
                    default: value = nil
                    }
                    if let value, !value.isEmpty {
                        if credentials[credential] == nil { credentials[credential] = value }
                        notProvided[credential] = nil
                    } else if credentials[credential] == nil {
                        notProvided[credential] = step.id
                    }
                }
                if !step.provides.isEmpty && DiagnosisRunner.exchangesRefreshToken(step) {
                    renewal = RenewedCredentials(step: step.id, answer: json, now: now) ?? renewal
                }
            } else {
                for (credential, _) in step.provides where credentials[credential] == nil { notProvided[credential] = step.id }
            }

            var evidence = Evidence(kind: .probe, provider: runner.definition.id)
            if let status = result.status {
                evidence.responses = [ResponseSnapshot(status: status, httpVersion: result.httpVersion,
                                                       headers: result.headers.map { ($0.name, $0.value) },
                                                       body: bodyText, url: display)]
            }
            var extra = Facts()
            // The request side: an Authorization header or an access_token query parameter is read by
            // the extractor; a credential in the body or the path is described here (so "no token
            // was sent" rules do not hold for a form-encoded introspection or a token-info path).
            let authorizationHeader = step.headers.contains { $0.name.fastLowercased() == "authorization" }
            if authorizationHeader || URLFacts.queryValue("access_token", in: result.request.url) != nil {
                evidence.request = RequestSnapshot(method: step.method, url: result.request.url,
                                                   headers: result.request.headers.map { ($0.name, $0.value) })
            } else if let place = Self.secretPlace(step) {
                extra.set("request.auth.scheme", place)
                let known = credentials
                let presented = known[CredentialName.token]
                    ?? step.needs.filter { CredentialName.secret.contains($0) }.compactMap { known[$0] }.first
                extra.merge(TokenShape.facts(for: presented, now: now))
            } else {
                extra.set("request.auth.scheme", "none")
                extra.set("token.present", false)
            }
            if result.curlCode != 0 {
                evidence.curlExit = result.curlCode
                evidence.curlMessage = result.curlMessage
            }
            evidence.url = display
            extra.set("probe.step", step.id)
            extra.set("probe.outcome", outcome.rawValue)
            extra.set("probe.round", round.number)
            if result.bodyTruncated { extra.set("probe.body_truncated", true) }
            evidence.extraFacts = extra
            stepFacts[index] = runner.engine.extractor.facts(for: evidence, parsedBody: json)

            records[index] = ProbeRecord(
                step: step.id, method: step.method, url: display, outcome: outcome, status: result.status,
                curlCode: result.curlCode, curlName: result.curlName,
                curlMessage: result.curlCode != 0 ? result.curlMessage : nil, timings: result.timings,
                contentType: result.header("content-type"), bodyBytes: result.status == nil ? nil : result.bodyBytesReceived,
                bodyTruncated: result.bodyTruncated, round: round.number, note: note)
            records[index]?.bodyShape = shape
        }
    }

    /// Where a step puts its secret credentials when not in an Authorization header: "body",
    /// "query" or "path"; nil when it sends none.
    static func secretPlace(_ step: ProviderStep) -> String? {
        func hasSecret(_ template: String) -> Bool {
            ProviderLoader.placeholders(in: template).contains { CredentialName.secret.contains($0) }
        }
        if let body = step.body, hasSecret(body) { return "body" }
        if step.headers.contains(where: { hasSecret($0.value) }) { return "header" }
        if let q = step.url.firstIndex(of: "?"), hasSecret(String(step.url[q...])) { return "query" }
        if hasSecret(step.url) { return "path" }
        return nil
    }

    func finish() -> Diagnosis {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let ordered = steps.indices.compactMap { records[$0] }
        let options = runner.options
        var builder = DiagnosisFactBuilder(provider: runner.definition.id,
                                           requiredScopes: options.expectScopes ?? runner.definition.requiredScopes,
                                           expectAccount: options.expectAccount, warnExpiry: options.warnExpiry, now: now)
        builder.requiredPermissions = runner.definition.requiredPermissions
        let diagnosisFacts = builder.facts(yields: yields, records: ordered)

        // Failing steps first: when no rule holds, the `unknown` finding keeps the first set's evidence.
        let ran = steps.indices.filter { stepFacts[$0] != nil }
        let failing = ran.filter { records[$0]?.outcome != .ok }
        let healthy = ran.filter { records[$0]?.outcome == .ok }
        let sets: [(step: String?, facts: Facts)] = failing.map { (steps[$0].id, stepFacts[$0]!) } + [(nil, diagnosisFacts)]
            + healthy.map { (steps[$0].id, stepFacts[$0]!) }
        var findings = runner.engine.classifier.classify(sets.map(\.facts))

        // Say which step each finding came from.
        for i in findings.indices {
            guard let rule = runner.engine.ruleSet.rule(id: findings[i].rule),
                  let source = sets.first(where: { rule.when.holds(in: $0.facts) }), let step = source.step,
                  !findings[i].evidence.contains(where: { $0.name == "probe.step" }) else { continue }
            findings[i].evidence.insert(("probe.step", .string(step)), at: 0)
        }
        // Root cause first, then errors before warnings before notes, then the more confident.
        findings = runner.engine.classifier.ordered(findings)

        let nothingRan = ran.isEmpty
        let showsFailure = nothingRan || failing.contains { ClassifyEngine.showsFailure(stepFacts[$0]!) || records[$0]?.outcome != .ok }
        if findings.count == 1, findings[0].failure == "unknown" {
            if nothingRan {
                findings[0].summary = "No probe could run: every step needs a credential that was not given (see probes)."
                findings[0].evidence = [("probe.skipped", .int(ordered.count))]
            } else if !showsFailure {
                // Healthy means healthy: no finding at all, and a note that says what was seen.
                findings = []
            }
        }
        let healthyNote = findings.isEmpty && !nothingRan ? healthyNote(diagnosisFacts) : nil
        // This machine reached nothing: say that once, and nothing the steps' failures would suggest.
        let localFailure = diagnosisFacts.bool("network.local_outage") == true ? diagnosisFacts.string("network.local_failure") : nil
        if localFailure != nil {
            let local = findings.filter { $0.rule == "diagnose.network.local-outage" }
            if !local.isEmpty { findings = local }
        }

        let scrubber = SecretScrubber(secrets: credentials.secrets)
        findings = findings.map(scrubber.scrub)
        let probes = ordered.map { record -> ProbeRecord in
            var r = record
            r.url = scrubber.scrub(r.url)
            r.curlMessage = r.curlMessage.map(scrubber.scrub)
            r.note = r.note.map(scrubber.scrub)
            return r
        }
        var rawSteps: [String: Facts] = [:]
        for index in ran { rawSteps[steps[index].id] = stepFacts[index]! }
        var allFacts: Facts?
        if options.keepFacts {
            var merged = scrubber.scrub(diagnosisFacts)
            for index in ran {
                let id = steps[index].id
                let shown = scrubber.scrub(rawSteps[id]!)
                for name in shown.names { merged[id + ":" + name] = shown[name] }
            }
            allFacts = merged
        }
        var report = Report(id: nil, inputKind: Evidence.Kind.probe.rawValue, source: nil, provider: runner.definition.id,
                            providerDetected: false, httpStatus: nil, evidenceShowsFailure: showsFailure, findings: findings,
                            facts: allFacts, probes: probes, rulesVersion: runner.engine.ruleSet.version)
        report.note = healthyNote
        report.localNetwork = localFailure.map(LocalNetwork.message)
        var diagnosis = Diagnosis(report: report, unredactedFacts: diagnosisFacts, unredactedStepFacts: rawSteps, scrubber: scrubber, seconds: seconds)
        diagnosis.renewal = renewal
        return diagnosis
    }

    /// What a healthy diagnosis says instead of a finding: every probe answered, what it saw.
    func healthyNote(_ facts: Facts) -> String {
        let ok = facts.int("probe.ok") ?? 0
        var seen: [String] = []
        if let email = facts.string("account.email") { seen.append("account \(Redactor.redact(email))") }
        if let scopes = facts["scopes.granted"]?.elements.count, scopes > 0 { seen.append("\(scopes) scope\(scopes == 1 ? "" : "s") granted") }
        if let expires = facts.string("token.expires_at") { seen.append("token valid until \(expires)") }
        return "Every probe answered as expected (\(ok) of \(ok) step\(ok == 1 ? "" : "s")); no rule found a problem with this connection"
            + (seen.isEmpty ? "." : " (" + seen.joined(separator: ", ") + ").")
    }
}

/// The answer of a successful refresh-token exchange (RFC 6749 section 5.1): a new access token,
/// perhaps a rotated refresh token, its lifetime and scopes.
public struct RenewedCredentials: Sendable, Equatable {
    /// The step that exchanged the refresh token.
    public var step: String
    public var accessToken: String
    /// Present when the provider rotated the refresh token: the old one may no longer work.
    public var rotatedRefreshToken: String?
    public var expiresAt: Date?
    public var scopes: [String]

    public init(step: String, accessToken: String, rotatedRefreshToken: String? = nil, expiresAt: Date? = nil, scopes: [String] = []) {
        self.step = step
        self.accessToken = accessToken
        self.rotatedRefreshToken = rotatedRefreshToken
        self.expiresAt = expiresAt
        self.scopes = scopes
    }

    init?(step: String, answer: JSONValue, now: Date) {
        guard case let .string(access)? = answer["access_token"], !access.isEmpty else { return nil }
        var rotated: String?
        if case let .string(refresh)? = answer["refresh_token"], !refresh.isEmpty { rotated = refresh }
        var expiresAt: Date?
        switch answer["expires_in"] {
        case let .int(seconds)?: expiresAt = now.addingTimeInterval(TimeInterval(seconds))
        case let .string(text)?: expiresAt = Int(text).map { now.addingTimeInterval(TimeInterval($0)) }
        default: break
        }
        var scopes: [String] = []
        if case let .string(scope)? = answer["scope"] { scopes = scope.split(separator: " ").map(String.init) }
        self.init(step: step, accessToken: access, rotatedRefreshToken: rotated, expiresAt: expiresAt, scopes: scopes)
    }

    /// The note on a refresh step `check --dry-run` skipped.
    public static let skippedNote = "not run: --dry-run never exchanges the refresh token (renewal skipped)"
}
