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
        let seconds = try CredentialInput.duration(linkTTL, flag: "--link-ttl")
        guard seconds >= 1 else { throw InputError(.usage, "bad --link-ttl '\(linkTTL)': a link must live at least one second") }
        return seconds
    }

    func baseURL() throws(InputError) -> String {
        try PublicURL.resolve(publicURL)
    }

    /// Issues the links a report needs; returns how many.
    @discardableResult
    func attach(to report: inout Report, now: Date = Date()) throws -> Int {
        guard report.findings.contains(where: \.needsReauthorization) else { return 0 }
        let store = try StoreLocation.open(path: database)
        let base = try baseURL()
        let ttl = try ttl()
        let known = Set((try? ProviderLibrary.load().0.keys).map(Array.init) ?? [])
        try report.attachLinks { provider in
            let sources = provider.map { known.contains($0) ? [$0] : [] } ?? []
            let issued = try store.issueLink(client: client!.trimmedWhitespace(), sources: sources, maxSources: nil, ttl: ttl, now: now)
            return FindingLink(id: issued.link.id, url: base + "/l/" + issued.token, expiresAt: issued.link.expiresAt)
        }
        return report.linkCount
    }
}

/// Where clients reach `authdoctor serve`: the base of every link URL.
enum PublicURL {
    static let environmentVariable = "AUTHDOCTOR_PUBLIC_URL"
    static let fallback = "http://127.0.0.1:8080"

    static func resolve(_ flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(InputError) -> String {
        let (value, place) = flag.map { ($0, "--public-url") } ?? environment[environmentVariable].map { ($0, environmentVariable) } ?? (fallback, "")
        var url = value.trimmedWhitespace()
        while url.hasSuffix("/") { url.removeLast() }
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = parsed.host, !host.isEmpty, parsed.query == nil, parsed.fragment == nil else {
            throw InputError(.usage, "bad \(place.isEmpty ? "public URL" : place) '\(value)': expected http(s)://HOST[:PORT][/PATH], e.g. https://links.example.com")
        }
        return url
    }
}

extension DiagnoseCommand {
    /// `diagnose --link ID`: the link's state from the store, as findings.
    func explainLink(_ id: String) throws {
        if provider != nil { throw InputError(.usage, "--link explains a link; it does not go with --provider") }
        let store = try StoreLocation.open(path: links.database)
        guard let link = try store.link(id: id.trimmedWhitespace()) else {
            throw InputError(.data, "no link with this id in the store (see `authdoctor links list`)", place: id)
        }
        let connections = try store.connections(linkID: link.id)
        let snapshot = LinkSnapshot(
            id: link.id, client: link.client, sources: link.sources, maxSources: link.maxSources, createdAt: link.createdAt,
            expiresAt: link.expiresAt, openedAt: link.openedAt, finishedAt: link.finishedAt, revokedAt: link.revokedAt,
            pendingProviders: connections.filter { $0.status == .pending }.map(\.provider),
            activeProviders: connections.filter { $0.status == .active }.map(\.provider))
        let report = LinkDiagnosis(engine: ClassifyEngine(ruleSet: try ruleOptions.load())).report(snapshot)
        Terminal.write(report, format: format)
        if report.diagnoseExitStatus != 0 { throw ExitCode(report.diagnoseExitStatus) }
    }
}
