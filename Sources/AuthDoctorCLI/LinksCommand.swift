import ArgumentParser
import EvidenceModel
import Foundation
import Links
import RuleEngine

/// `authdoctor links issue|list|show|revoke`: single-use, time-limited authorization links.
struct LinksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "links",
        abstract: "Issue, list, show and revoke authorization links for clients.",
        discussion: """
        An authorization link lets a client connect their own accounts (Facebook Ads, Google Ads, ...) \
        over OAuth without sharing a password: they open it once, sign in at each provider, grant \
        access, and press Finish; only then do the connections become active. A link is single use and \
        expires (24 hours by default). `authdoctor serve` answers the link URLs.

        Examples:
          authdoctor links issue --client Acme --sources facebook,google-ads
          authdoctor links issue --client Acme --public-url https://links.example.com
          authdoctor links list
          authdoctor links show lnk_7f3k9q2m4xab
          authdoctor links revoke lnk_7f3k9q2m4xab

        States: issued (not opened yet), opened (a session is connecting sources), finished (the \
        client pressed Finish; connections active), expired (not finished in time; connections made \
        stay inactive), revoked.

        Exit status: 0 done; 64 bad usage; 65 not a store database; 66 no link with that id; \
        74 the store cannot be opened or written; 78 a bad AUTHDOCTOR_KEY or key file.
        """,
        subcommands: [Issue.self, List.self, Show.self, Revoke.self]
    )

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "issue",
            abstract: "Make a new link and print its URL (the only time the URL is shown).",
            discussion: """
            The URL is <public-url>/l/<token>: the token is 256 random bits and the store keeps only its \
            SHA-256, so the URL cannot be shown again; issue a new link if it is lost.

            Examples:
              authdoctor links issue --client "Acme Ltd"
              authdoctor links issue --client Acme --sources facebook,google-ads --ttl 7d
              authdoctor links issue --client Acme --max-sources 2 --format json
              authdoctor links issue --client Acme --public-url https://links.example.com
            """)

        @Option(help: ArgumentHelp("Who the link is for (shown in lists and kept with each connection).", valueName: "NAME"))
        var client: String

        @Option(help: ArgumentHelp("Provider ids the client is asked to connect, comma-separated (default: any).", valueName: "IDS"))
        var sources: String?

        @Option(help: ArgumentHelp("How long the link stays usable: a number and s, m, h or d (e.g. 90m, 48h, 7d; at most 365d).", valueName: "DURATION"))
        var ttl: String = "24h"

        @Option(name: .customLong("max-sources"), help: ArgumentHelp("Most connections the client may make through this link (plan limit).", valueName: "N"))
        var maxSources: Int?

        @Option(name: .customLong("public-url"), help: ArgumentHelp("The base of the link URL, where `authdoctor serve` is reached (default: $AUTHDOCTOR_PUBLIC_URL, else \(LinkText.defaultPublicURL)).", valueName: "URL"))
        var publicURL: String?

        @OptionGroup var store: StoreOptions

        @Option(help: "text (default) or json (id, url, expiresAt, ...).")
        var format: StoreOutputFormat = .text

        func validate() throws {
            for problem in [LinkIssuing.clientProblem(client, label: "--client"), LinkIssuing.ttlProblem(ttl, label: "--ttl"),
                            LinkIssuing.maxSourcesProblem(maxSources, label: "--max-sources")] {
                if let problem { throw ValidationError(problem) }
            }
        }

        /// The provider ids of --sources (split at commas), refused when empty.
        func requestedSources() throws(InputError) -> [String] {
            guard let sources else { return [] }
            let ids = sources.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if ids.isEmpty { throw InputError(.usage, "--sources needs at least one provider id (e.g. facebook,google-ads)") }
            return ids
        }

        func run() throws {
            let base = try LinkText.publicURL(flag: publicURL)
            let request = LinkRequest(client: client, sources: try requestedSources(), ttl: LinkText.parseTTL(ttl)!, maxSources: maxSources)
            let catalog = try LinkText.sourceCatalog()
            let labels = (client: "--client", sources: "--sources", maxSources: "--max-sources")
            // What no server can connect is refused before the store is touched; then what this
            // store's `serve` said it can connect.
            _ = try LinkIssuing.resolveSources(request.sources, catalog: catalog, connectable: nil, label: labels.sources)
            let store = try store.open()
            let issued = try StoreCall.run(store) {
                try LinkIssuing.issue(request, store: store, catalog: catalog, connectable: try store.connectableProviders(), labels: labels, now: Date())
            }
            let url = LinkText.url(base: base, token: issued.token)
            let link = issued.link
            switch format {
            case .json:
                Terminal.write(LinkText.json(LinkJSON.issued(link, url: url)))
            case .text:
                var details = "\(link.id) for \(LinkText.safe(link.client)), single use, expires \(LinkText.iso(link.expiresAt)) (in \(LinkText.describeTTL(request.ttl)))"
                details += "; sources: " + (link.sources.isEmpty ? "any" : link.sources.joined(separator: ", "))
                if let limit = link.maxSources { details += "; at most \(limit)" }
                Terminal.write(url + "\n" + details + "\n")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list",
            abstract: "Every link, newest first: id, client, state, created, expires, connected sources.",
            discussion: "Connected sources marked (pending) were granted in a session that was not finished, so they are not active.")

        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json (an array).") var format: StoreOutputFormat = .text

        func run() throws {
            let store = try store.openReadOnly()
            let now = Date()
            let (links, connections) = try StoreCall.run(store) { (try store.allLinks(), try store.allConnections()) }
            let byLink = Dictionary(grouping: connections.reversed(), by: \.linkID)
            switch format {
            case .json:
                Terminal.write(LinkText.json(.array(links.map { LinkText.linkJSON($0, now: now, connections: byLink[$0.id] ?? []) })))
            case .text:
                if links.isEmpty {
                    Terminal.write("No links yet. Issue one with: authdoctor links issue --client NAME\n")
                    return
                }
                let rows = links.map { link in
                    [link.id, link.client, link.state(at: now).rawValue, LinkText.short(link.createdAt), LinkText.short(link.expiresAt),
                     LinkText.connectedSources(byLink[link.id] ?? [])]
                }
                Terminal.write(LinkText.table(["ID", "CLIENT", "STATE", "CREATED", "EXPIRES", "CONNECTED"], rows))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show",
            abstract: "One link: its state, times, session and the connections made through it.",
            discussion: "Example:\n  authdoctor links show lnk_7f3k9q2m4xab --format json")

        @Argument(help: ArgumentHelp("The link's id (from `links list`).", valueName: "ID")) var id: String
        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let store = try store.openReadOnly()
            let now = Date()
            let (found, session, connections) = try StoreCall.run(store) {
                (try store.link(id: id), try store.session(linkID: id), try store.connections(linkID: id))
            }
            guard let link = found else { throw LinksCommand.unknownLink(id) }
            switch format {
            case .json:
                var value = LinkText.linkJSON(link, now: now, connections: connections)
                if case var .object(members) = value {
                    members.append(("session", session.map { s in
                        .object([("id", .string(s.id)), ("createdAt", .string(LinkText.iso(s.createdAt))),
                                 ("expiresAt", .string(LinkText.iso(s.expiresAt))), ("finishedAt", LinkText.iso(s.finishedAt))])
                    } ?? .null))
                    value = .object(members)
                }
                Terminal.write(LinkText.json(value))
            case .text:
                var out = "Link \(link.id) for \(LinkText.safe(link.client)): \(link.state(at: now).rawValue)\n"
                out += "  sources      \(link.sources.isEmpty ? "any" : link.sources.joined(separator: ", "))\n"
                out += "  max sources  \(link.maxSources.map(String.init) ?? "no limit")\n"
                out += "  created      \(LinkText.iso(link.createdAt))\n"
                out += "  expires      \(LinkText.iso(link.expiresAt))\n"
                out += "  opened       \(link.openedAt.map(LinkText.iso) ?? "-")\n"
                out += "  finished     \(link.finishedAt.map(LinkText.iso) ?? "-")\n"
                if let revoked = link.revokedAt { out += "  revoked      \(LinkText.iso(revoked))\n" }
                if let session { out += "  session      \(session.id)\n" }
                if connections.isEmpty {
                    out += "No connections through this link.\n"
                } else {
                    out += "Connections:\n"
                    out += LinkText.table(["  ID", "PROVIDER", "ACCOUNT", "STATUS", "CREATED"], connections.map {
                        ["  " + $0.id, $0.provider, $0.account ?? "-", $0.status.rawValue, LinkText.short($0.createdAt)]
                    })
                }
                Terminal.write(out)
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke",
            abstract: "Revoke a link: it can no longer be opened, and an open session can no longer connect or finish.",
            discussion: "Connections already active stay; remove them with `authdoctor connections remove ID`. Revoking twice changes nothing.\n\nExample:\n  authdoctor links revoke lnk_7f3k9q2m4xab")

        @Argument(help: ArgumentHelp("The link's id (from `links list`).", valueName: "ID")) var id: String
        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let store = try store.open()
            let link = try StoreCall.run(store) { try LinkIssuing.revoke(id: id, store: store, now: Date()) }
            switch format {
            case .json: Terminal.write(LinkText.json(LinkText.linkJSON(link, now: Date(), connections: nil)))
            case .text: Terminal.write("Revoked \(link.id) for \(LinkText.safe(link.client)) (at \(LinkText.iso(link.revokedAt ?? Date()))).\n")
            }
        }
    }

    static func unknownLink(_ id: String) -> InputError { LinkIssuing.unknownLink(id) }
}

/// `authdoctor connections list|remove`: the accounts clients connected through links.
struct ConnectionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "List and remove the accounts clients connected through authorization links.",
        discussion: """
        Every connection keeps who connected it (the link's client), the provider, the account and \
        when; its tokens are stored encrypted and are never printed. A removed connection stays in \
        the list as a record, with its tokens erased.

        Examples:
          authdoctor connections list
          authdoctor connections list --format json
          authdoctor connections remove con_4k2m9x7q3abc

        Exit status: 0 done; 64 bad usage; 66 no connection with that id; 74 the store cannot be \
        opened or written; 78 a bad AUTHDOCTOR_KEY or key file.
        """,
        subcommands: [List.self, Remove.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every connection, newest first: id, client, provider, account, status, created, link.")

        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json (an array).") var format: StoreOutputFormat = .text

        func run() throws {
            let store = try store.openReadOnly()
            let connections = try StoreCall.run(store) { try store.allConnections() }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.array(connections.map(LinkText.connectionJSON))))
            case .text:
                if connections.isEmpty {
                    Terminal.write("No connections yet. They appear when a client finishes an authorization link (authdoctor links issue).\n")
                    return
                }
                Terminal.write(LinkText.table(["ID", "CLIENT", "PROVIDER", "ACCOUNT", "STATUS", "CREATED", "LINK"], connections.map {
                    [$0.id, $0.client, $0.provider, $0.account ?? "-", $0.status.rawValue, LinkText.short($0.createdAt), $0.linkID]
                }))
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove",
            abstract: "Remove a connection: its tokens are erased, the record of who connected it stays.",
            discussion: "The client can also revoke the platform's access on the provider's side (its permissions page).\n\nExample:\n  authdoctor connections remove con_4k2m9x7q3abc")

        @Argument(help: ArgumentHelp("The connection's id (from `connections list`).", valueName: "ID")) var id: String
        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let store = try store.open()
            let removed = try StoreCall.run(store) { try store.removeConnection(id: id, now: Date()) }
            switch format {
            case .json: Terminal.write(LinkText.json(LinkText.connectionJSON(removed)))
            case .text: Terminal.write("Removed \(removed.id) (\(removed.provider) for \(LinkText.safe(removed.client))); its tokens are erased.\n")
            }
        }
    }
}
