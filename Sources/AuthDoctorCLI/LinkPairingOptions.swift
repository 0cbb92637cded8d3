import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation
import Links
import RuleEngine

/// `--issue-link --client NAME` on diagnose and classify: every finding whose fix is "the client
/// re-authorizes" gets a fresh single-use link, scoped to the failing provider.
struct LinkPairingOptions: ParsableArguments {
    @Flag(name: .customLong("issue-link"), help: "Attach a fresh authorization link (single use) to each finding whose fix needs the client to re-authorize. Needs --client.")
    var issueLink = false

    @Option(name: .customLong("client"), help: ArgumentHelp("The client the link is for (shown in `links list`).", valueName: "NAME"))
    var client: String?

    @Option(name: .customLong("link-ttl"), help: ArgumentHelp("How long an issued link stays valid: 30m, 24h, 7d (default 24h).", valueName: "DURATION"))
    var linkTTL: String = "24h"

    @Option(name: .customLong("public-url"), help: ArgumentHelp("The base of link URLs, where `authdoctor serve` is reached (default: AUTHDOCTOR_PUBLIC_URL, else http://127.0.0.1:8080).", valueName: "URL"))
    var publicURL: String?

    @Option(name: .customLong("db"), help: ArgumentHelp("The link store (default: AUTHDOCTOR_DB, else ~/.local/share/authdoctor/authdoctor.sqlite).", valueName: "PATH"))
    var database: String?

    /// Checked before any probe runs, so a bad flag costs nothing.
    func checked() throws -> LinkPairingOptions? {
        guard issueLink else {
            if client != nil { throw InputError(.usage, "--client goes with --issue-link") }
            return nil
        }
        guard let client, !client.trimmedWhitespace().isEmpty else {
            throw InputError(.usage, "--issue-link needs --client NAME (who the link is for)")
        }
        _ = try ttl()
        _ = try baseURL()
        return self
    }

    func ttl() throws(InputError) -> TimeInterval {
        guard let seconds = LinkText.parseTTL(linkTTL.trimmedWhitespace()) else {
            throw InputError(.usage, "bad --link-ttl '\(linkTTL)': expected a whole number with s, m, h or d (30m, 24h, 7d), at most 365d")
        }
        return seconds
    }

    func baseURL() throws(InputError) -> String {
        try LinkText.publicURL(flag: publicURL)
    }

    /// Issues the links a report needs; returns how many.
    @discardableResult
    func attach(to report: inout Report, now: Date = Date()) throws -> Int {
        guard report.findings.contains(where: \.needsReauthorization) else { return 0 }
        let store = try StoreLocation.open(path: database)
        let base = try baseURL()
        let ttl = try ttl()
        let known = Set((try? ProviderLibrary.load().0.keys).map(Array.init) ?? [])
        try StoreCall.run(store) {
            try report.attachLinks { provider in
                let sources = provider.map { known.contains($0) ? [$0] : [] } ?? []
                let issued = try store.issueLink(client: client!.trimmedWhitespace(), sources: sources, maxSources: nil, ttl: ttl, now: now)
                return FindingLink(id: issued.link.id, url: LinkText.url(base: base, token: issued.token), expiresAt: issued.link.expiresAt)
            }
        }
        return report.linkCount
    }
}

extension DiagnoseCommand {
    /// `diagnose --link ID`: the link's state from the store, as findings.
    func explainLink(_ id: String) throws {
        if provider != nil { throw InputError(.usage, "--link explains a link; it does not go with --provider") }
        let store = try StoreLocation.open(path: links.database)
        guard let link = try StoreCall.run(store, { try store.link(id: id.trimmedWhitespace()) }) else {
            throw InputError(.noInput, "no link with this id in the store (see `authdoctor links list`)", place: id)
        }
        let connections = try StoreCall.run(store) { try store.connections(linkID: link.id) }
        let snapshot = LinkSnapshot(
            id: link.id, client: link.client, sources: link.sources, maxSources: link.maxSources, createdAt: link.createdAt,
            expiresAt: link.expiresAt, openedAt: link.openedAt, finishedAt: link.finishedAt, revokedAt: link.revokedAt,
            pendingProviders: connections.filter { $0.status == .pending }.map(\.provider),
            activeProviders: connections.filter { $0.status == .active }.map(\.provider))
        let report = LinkDiagnosis(engine: ClassifyEngine(ruleSet: try ruleOptions.load())).report(snapshot)
        Terminal.write(report, format: format.output)
        if report.diagnoseExitStatus != 0 { throw ExitCode(report.diagnoseExitStatus) }
    }
}
