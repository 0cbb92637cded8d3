import ArgumentParser
import EvidenceModel
import Foundation
import HealthCheck
import Links
import Probe

/// `check --notify URL --console-url URL`: the notification options of `check` (issue 17).
struct NotifyOptions: ParsableArguments {
    @Option(name: .customLong("notify"), help: ArgumentHelp(
        "POST a signed JSON notification to URL when a connection's state changes (needs --db: the previous state is its history). Repeatable; added to the URLs stored with `authdoctor notify add`. Secret: AUTHDOCTOR_NOTIFY_SECRET.",
        valueName: "URL"))
    var urls: [String] = []

    @Option(name: .customLong("console-url"), help: ArgumentHelp("The console's base URL: notifications link to BASE/console/connections/CONNECTION.", valueName: "BASE"))
    var consoleURL: String?

    @Option(name: .customLong("notify-retries"), parsing: .unconditional, help: ArgumentHelp("Extra attempts for a notification that failed (transport error, 408, 429, 5xx), with doubling backoff from 0.5 s.", valueName: "N"))
    var retries: Int = 3

    static let secretVariable = "AUTHDOCTOR_NOTIFY_SECRET"

    /// `check`'s checks that need the other options (`--db`, `--no-history`).
    func validate(database: String?, noHistory: Bool) throws {
        for url in urls { do { try NotifyURL.validate(url) } catch { throw ValidationError(error.message) } }
        if let consoleURL { do { try NotifyURL.validate(consoleURL, option: "--console-url") } catch { throw ValidationError(error.message) } }
        do { try NumberInput.check(retries, what: "--notify-retries", range: 0...10) } catch { throw ValidationError(error.message) }
        if !urls.isEmpty && database == nil {
            throw ValidationError("--notify needs --db PATH: a state change is found against the history kept there")
        }
        if !urls.isEmpty && noHistory {
            throw ValidationError("--notify needs the history: without --no-history (an unrecorded run would announce its changes again)")
        }
    }

    /// The run's notification settings: the flags' URLs and the store's; nil when there are none
    /// (or under --no-history, which would make every change news again next run).
    func configuration(store: (any NotificationStore)?, noHistory: Bool,
                       environment: [String: String] = ProcessInfo.processInfo.environment) throws -> NotifyConfiguration? {
        guard let store, !noHistory else { return nil }
        var all = urls
        for url in try StoreCall.run(store, { try store.notifyURLs() }) where !all.contains(url) { all.append(url) }
        guard !all.isEmpty else { return nil }
        guard let secret = environment[Self.secretVariable], !secret.isEmpty else {
            throw InputError(.config, "notifications are signed: set \(Self.secretVariable) to the secret the receivers verify "
                             + "(\(all.count) URL\(all.count == 1 ? "" : "s") from --notify / authdoctor notify list)")
        }
        return NotifyConfiguration(urls: all, secret: secret, consoleURL: consoleURL, retries: retries)
    }

    /// After the run: waits for every notification and says on stderr which were not delivered.
    /// With a deadline (--deadline, or --format nagios's), deliveries get what is left of it, at least 1 s.
    static func settle(_ notifier: CheckNotifier?, deadline: Double? = nil, elapsed: Double = 0) {
        guard let notifier else { return }
        let within = deadline.map { max(1, $0 - elapsed) }
        let outcomes = Blocking.await { await notifier.settle(within: within) }
        for outcome in outcomes where !outcome.delivered {
            SystemIO.writeStandardError(Redactor.redact(outcome.warning) + "\n")
        }
    }
}

/// `authdoctor notify add|list|remove`: the webhook URLs every `check --db` notifies.
struct NotifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Keep the webhook URLs that `check --db` notifies when a connection's state changes.",
        discussion: """
        A URL added here is notified by every `authdoctor check --db PATH-OR-URL` on that store (SQLite \
        or a team's PostgreSQL store, where each change is announced once whichever worker saw it), besides \
        any `--notify URL` of the command line. URLs are kept encrypted in the store (a Slack or \
        Teams webhook URL is a credential) and listed without their path.

        What is sent: on a state change only (ok to warning/critical/unknown, back to ok, another \
        failure class; a connection's first verdict when it is not ok), one POST per change and URL \
        of a JSON document (schema authdoctor.notification/v1: connection, provider, client, \
        oldStatus, newStatus, oldFailure, failure, summary, clientMessage, checkedAt, link, \
        consoleURL and a Slack-compatible `text`), signed with the header \
        X-Authdoctor-Signature: sha256=<hex HMAC-SHA256 of the body> under AUTHDOCTOR_NOTIFY_SECRET.

        Examples:
          authdoctor notify add https://hooks.slack.com/services/T0/B0/XXXX --db authdoctor.sqlite
          authdoctor notify list --db authdoctor.sqlite
          authdoctor notify remove 1 --db authdoctor.sqlite
        """,
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a webhook URL.")
        @Argument(help: ArgumentHelp("An http:// or https:// URL.", valueName: "URL")) var url: String
        @OptionGroup var store: StoreOptions

        func validate() throws { do { try NotifyURL.validate(url, option: "notify add") } catch { throw ValidationError(error.message) } }

        func run() throws {
            let store = try store.openNotificationStore()
            let urls = try StoreCall.run(store) { try store.addNotifyURL(url, now: Date()) }
            Terminal.write("notifying \(urls.count) URL\(urls.count == 1 ? "" : "s") on a state change (added \(NotifyURL.display(url)))\n")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the webhook URLs (numbered, without their path).")
        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let store = try store.openNotificationStore()
            let urls = try StoreCall.run(store) { try store.notifyURLs() }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.array(urls.enumerated().map { index, url in
                    .object([("number", .int(index + 1)), ("url", .string(NotifyURL.display(url)))])
                })))
            case .text:
                if urls.isEmpty { Terminal.write("no webhook URLs (authdoctor notify add URL)\n"); return }
                Terminal.write(urls.enumerated().map { "\($0.offset + 1)  \(NotifyURL.display($0.element))\n" }.joined())
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a webhook URL, by its number in `notify list` or in full.")
        @Argument(help: ArgumentHelp("The number `notify list` shows, or the URL.", valueName: "N|URL")) var which: String
        @OptionGroup var store: StoreOptions

        func run() throws {
            let store = try store.openNotificationStore()
            let urls = try StoreCall.run(store) { try store.notifyURLs() }
            let target: String
            if let number = Int(which) {
                guard number >= 1, number <= urls.count else {
                    throw InputError(.usage, "no webhook URL number \(number) (authdoctor notify list shows \(urls.count))")
                }
                target = urls[number - 1]
            } else {
                guard urls.contains(which) else { throw InputError(.usage, "that URL (\(NotifyURL.display(which))) is not among the webhook URLs") }
                target = which
            }
            let left = try StoreCall.run(store) { try store.removeNotifyURL(target, now: Date()) }
            Terminal.write("removed \(NotifyURL.display(target)); \(left.count) URL\(left.count == 1 ? "" : "s") left\n")
        }
    }
}
