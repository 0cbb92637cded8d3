import Diagnose
import EvidenceModel
import Foundation
import Links
import Probe

// Issue 17, notifications: `check --notify URL` (and the URLs kept with `authdoctor notify add`)
// POSTs one signed JSON document per state change of a connection, as the run reaches its
// verdict. The previous state is the connection's newest verdict in the store's history (what the
// last `check --db` recorded); this run's verdicts are recorded only when it finishes, so the
// read in `receive` always sees the run before.

/// How notifications are sent.
public struct NotifyConfiguration: Sendable {
    /// Webhook URLs (http or https); every change goes to each.
    public var urls: [String]
    /// The HMAC-SHA256 key (`AUTHDOCTOR_NOTIFY_SECRET`); never in a body, a header value or a message.
    public var secret: String
    /// The console's base URL (`--console-url`): the body links to `<base>/console/connections/<connection>`.
    public var consoleURL: String?
    /// Extra attempts after a failed one (transport error, 408, 429, 5xx); other answers are final.
    public var retries: Int
    /// The first wait between attempts in seconds; it doubles each time (with jitter), at most `maxBackoff`.
    public var backoff: Double
    public var maxBackoff: Double
    /// Seconds one POST may take, connect included.
    public var timeout: Double

    public init(urls: [String], secret: String, consoleURL: String? = nil, retries: Int = 3, backoff: Double = 0.5,
                maxBackoff: Double = 8, timeout: Double = 5) {
        self.urls = urls
        self.secret = secret
        self.consoleURL = consoleURL
        self.retries = retries
        self.backoff = backoff
        self.maxBackoff = maxBackoff
        self.timeout = timeout
    }
}

/// What became of one notification to one URL.
public struct NotificationOutcome: Sendable {
    public var connection: String
    public var oldStatus: String?
    public var newStatus: String
    /// The URL as it may be shown: scheme, host and port only (a webhook's path is often its secret).
    public var destination: String
    public var delivered: Bool
    public var attempts: Int
    /// The final HTTP status, when one arrived.
    public var httpStatus: Int?
    /// Why it was not delivered ("HTTP 404", "refused (CURLE_COULDNT_CONNECT)"); nil when delivered.
    public var problem: String?
    /// Seconds from the verdict reaching the notifier to the receiver's answer (the last attempt).
    public var seconds: Double

    /// The line `check` writes on stderr for an undelivered notification.
    public var warning: String {
        "authdoctor: warning: the notification of \(connection)'s change (\(oldStatus ?? "new") → \(newStatus)) to \(destination) "
            + "was not delivered after \(attempts) attempt\(attempts == 1 ? "" : "s"): \(problem ?? "unknown reason"); the check's verdicts stand"
    }
}

/// When a verdict is news: the status changed (ok → warning/critical/unknown, back to ok, ...), or
/// the connection still fails but for another failure class. A connection's first verdict is news
/// when it is not ok.
public enum StateChange {
    public static func isChange(previous: CheckVerdict?, current: ConnectionVerdict) -> Bool {
        guard let previous else { return current.status != .ok }
        if previous.status != current.status.name { return true }
        return current.status != .ok && previous.failure != current.failure
    }

    /// Names one change the same way for every worker that sees it (the claim in a shared store).
    public static func key(previous: CheckVerdict?, current: ConnectionVerdict) -> String {
        let since = previous.map { String(format: "%.6f", $0.checkedAt.timeIntervalSince1970) } ?? "first"
        return "\(since)>\(current.status.name)/\(current.failure)"
    }
}

/// Reports that carry a message for the client (issue 14 adds `Report.clientMessage`; until it is
/// there, this default says "none" and the notification uses the summary).
public protocol NotificationClientMessage {
    var clientMessage: String? { get }
}

extension NotificationClientMessage {
    public var clientMessage: String? { nil }
}

extension Report: NotificationClientMessage {}

/// The JSON document POSTed for one change.
public enum NotificationPayload {
    public static let schema = "authdoctor.notification/v1"

    public static func body(current v: ConnectionVerdict, previous: CheckVerdict?, client: String?, consoleURL: String?) -> [UInt8] {
        let summary = Redactor.redact(v.summary)
        let message = v.report.flatMap { ($0 as any NotificationClientMessage).clientMessage }.map(Redactor.redact) ?? summary
        let link = v.report?.findings.first { $0.link != nil }?.link
        let console = consoleURL.map { consoleLink(base: $0, connection: v.connection) }
        var fields: [(String, JSONValue)] = [
            ("schema", .string(schema)),
            ("event", .string("state-change")),
            ("connection", .string(v.connection)),
            ("provider", v.provider.map(JSONValue.string) ?? .null),
            ("client", client.map(JSONValue.string) ?? .null),
            ("oldStatus", previous.map { .string($0.status) } ?? .null),
            ("newStatus", .string(v.status.name)),
            ("oldFailure", previous.map { .string($0.failure) } ?? .null),
            ("failure", .string(v.failure)),
            ("summary", .string(summary)),
            ("clientMessage", .string(message)),
            ("checkedAt", .string(RFC3339.string(v.checkedAt))),
        ]
        if let link { fields.append(("link", .object([("url", .string(link.url)), ("expiresAt", .string(RFC3339.string(link.expiresAt)))]))) }
        if let console { fields.append(("consoleURL", .string(console))) }
        fields.append(("text", .string(slackText(v, previous: previous, client: client, summary: summary, link: link?.url, console: console))))
        return Array(JSONWriter.serialize(.object(fields)).utf8)
    }

    /// One line for Slack (and Teams, Mattermost, Discord's Slack-compatible endpoint).
    static func slackText(_ v: ConnectionVerdict, previous: CheckVerdict?, client: String?, summary: String, link: String?, console: String?) -> String {
        var who = v.connection
        let detail = [v.provider, client].compactMap { $0 }
        if !detail.isEmpty { who += " (" + detail.joined(separator: ", ") + ")" }
        let from = previous.map { $0.status.uppercased() } ?? "NEW"
        var text = "authdoctor: \(who) \(from) → \(v.status.name.uppercased())"
        text += v.status == .ok ? ": healthy again" : " [\(v.failure)]: \(summary)"
        if let link { text += " Re-authorization link: \(link)" }
        if let console { text += " <\(console)|Open in the console>" }
        return text
    }

    public static func consoleLink(base: String, connection: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        let name = connection.addingPercentEncoding(withAllowedCharacters: allowed) ?? connection
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return trimmed + "/console/connections/" + name
    }
}

/// Webhook URLs: checked when given, shown without their path (which is often the secret).
public enum NotifyURL {
    public static func validate(_ url: String, option: String = "--notify") throws(InputError) {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = parts.host, !host.isEmpty, !url.contains(where: { $0.isWhitespace }) else {
            throw InputError(.usage, "\(option) takes an http:// or https:// URL, not '\(display(url))'")
        }
        if parts.user != nil || parts.password != nil {
            throw InputError(.usage, "\(option): put no user or password in the URL (the body is signed with AUTHDOCTOR_NOTIFY_SECRET)")
        }
    }

    /// `https://hooks.example.com/…`: scheme, host and port; the rest elided.
    public static func display(_ url: String) -> String {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme, let host = parts.host, !host.isEmpty else {
            return "(an unparseable URL)"
        }
        var out = scheme + "://" + (host.contains(":") ? "[\(host)]" : host)
        if let port = parts.port { out += ":\(port)" }
        let rest = parts.percentEncodedPath + (parts.percentEncodedQuery.map { "?" + $0 } ?? "")
        if !rest.isEmpty && rest != "/" { out += "/…" }
        return out
    }
}

/// A check sink that announces state changes: reads the previous verdict when a verdict arrives,
/// claims the change in a shared store (one worker announces it), and POSTs in the background on
/// the run's libcurl engine. `settle()` waits for every delivery (retries included) and says how
/// each went; a failed delivery never changes a verdict or the run's exit status.
public final class CheckNotifier: CheckSink, @unchecked Sendable {
    public let configuration: NotifyConfiguration
    private let store: any AuthDoctorStore
    private let claims: (any NotificationClaims)?
    private let transport: any ProbeTransport
    private let lock = NSLock()
    private var deliveries: [Task<NotificationOutcome, Never>] = []
    private var problems: [NotificationOutcome] = []

    public init(configuration: NotifyConfiguration, store: any AuthDoctorStore, claims: (any NotificationClaims)?,
                transport: any ProbeTransport) {
        self.configuration = configuration
        self.store = store
        self.claims = claims
        self.transport = transport
    }

    public func begin(total: Int) {}

    public func receive(_ verdict: ConnectionVerdict) {
        let arrived = DispatchTime.now().uptimeNanoseconds
        let previous: CheckVerdict?
        do { previous = try store.verdicts(connection: verdict.connection, limit: 1).first } catch {
            note(verdict, previous: nil, problem: "the previous state could not be read from the store (\(Redactor.redact("\(error)")))")
            return
        }
        guard StateChange.isChange(previous: previous, current: verdict) else { return }
        if let claims {
            do {
                guard try claims.claimNotification(connection: verdict.connection, change: StateChange.key(previous: previous, current: verdict),
                                                   now: Date()) else { return }
            } catch {
                // The store refused the claim: announce anyway (a duplicate beats silence).
            }
        }
        let client = (try? store.connection(id: verdict.connection))?.client
        let body = NotificationPayload.body(current: verdict, previous: previous, client: client, consoleURL: configuration.consoleURL)
        let signature = WebhookSignature.sign(body: body, secret: configuration.secret)
        for url in configuration.urls {
            let task = Task { [configuration, transport] in
                let (delivered, attempts, status, problem) = await Self.deliver(body: body, signature: signature, to: url,
                                                                               configuration: configuration, transport: transport)
                return NotificationOutcome(connection: verdict.connection, oldStatus: previous?.status, newStatus: verdict.status.name,
                                           destination: NotifyURL.display(url), delivered: delivered, attempts: attempts,
                                           httpStatus: status, problem: problem,
                                           seconds: Double(DispatchTime.now().uptimeNanoseconds - arrived) / 1e9)
            }
            lock.withLock { deliveries.append(task) }
        }
    }

    public func finish(_ run: CheckRun) {}

    private func note(_ verdict: ConnectionVerdict, previous: CheckVerdict?, problem: String) {
        let outcome = NotificationOutcome(connection: verdict.connection, oldStatus: previous?.status, newStatus: verdict.status.name,
                                          destination: "(none)", delivered: false, attempts: 0, problem: problem, seconds: 0)
        lock.withLock { problems.append(outcome) }
    }

    /// Waits for every notification of the run; returns how each went, in the order they were started.
    /// With `within`, deliveries still going after that many seconds are given up (a monitoring
    /// plugin must answer before its own timeout): they end as not delivered, "given up".
    public func settle(within seconds: Double? = nil) async -> [NotificationOutcome] {
        let (tasks, early) = lock.withLock { (deliveries, problems) }
        let timer = seconds.map { limit in
            Task {
                try? await Task.sleep(nanoseconds: UInt64(max(0, min(limit, 1e6)) * 1e9))
                if !Task.isCancelled { for task in tasks { task.cancel() } }
            }
        }
        var out = early
        for task in tasks { out.append(await task.value) }
        timer?.cancel()
        return out
    }

    /// One POST, retried on a transport error, 408, 429 or 5xx with doubling backoff (Retry-After
    /// honoured up to `maxBackoff`); any other answer is final (2xx delivered, the rest failed).
    static func deliver(body: [UInt8], signature: String, to url: String, configuration c: NotifyConfiguration,
                        transport: any ProbeTransport) async -> (Bool, Int, Int?, String?) {
        let request = ProbeRequest(method: "POST", url: url,
                                   headers: [HTTPHeader("Content-Type", "application/json"),
                                             HTTPHeader("User-Agent", "authdoctor/\(Report.toolVersion)"),
                                             HTTPHeader("X-Authdoctor-Event", "state-change"),
                                             HTTPHeader(WebhookSignature.header, signature)],
                                   body: body, connectTimeout: min(c.timeout, 5), totalTimeout: c.timeout, maxBodyBytes: 4096)
        var attempt = 0
        while true {
            attempt += 1
            if Task.isCancelled { return (false, attempt - 1, nil, "given up: the run's time was over") }
            guard let result = await transport.performAll([request]).first else { return (false, attempt, nil, "no answer from libcurl") }
            let status = result.completed ? result.status : nil
            if let status, (200..<300).contains(status) { return (true, attempt, status, nil) }
            let problem: String
            let retryable: Bool
            if let status {
                problem = "HTTP \(status)"
                retryable = status == 408 || status == 429 || status >= 500
            } else {
                problem = "\(result.transportError ?? "transfer failed") (\(result.curlName))"
                retryable = result.curlCode != 42  // aborted: the run is being stopped
            }
            if Task.isCancelled { return (false, attempt, status, problem + "; given up: the run's time was over") }
            if !retryable || attempt > c.retries { return (false, attempt, status, problem) }
            var wait = min(c.maxBackoff, c.backoff * pow(2, Double(attempt - 1))) * Double.random(in: 0.75...1.0)
            if let after = result.header("Retry-After").flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), after >= 0 {
                wait = max(wait, min(after, c.maxBackoff))
            }
            try? await Task.sleep(nanoseconds: UInt64(max(0, wait) * 1e9))
        }
    }
}
