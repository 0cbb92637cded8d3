import ArgumentParser
import EvidenceModel
import Foundation
import Links

/// `authdoctor operators add|list|remove`: who may call the operator API of `serve` (/api/...).
struct OperatorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operators",
        abstract: "Add, list and remove the operators who may call the API of `authdoctor serve` (/api/links, /api/connections).",
        discussion: """
        An operator is an engineer (or a script) that issues and revokes links and reads connections \
        and their check history over HTTP, without a shell on the server. Each has a token, printed \
        once by `operators add`; the store keeps only its SHA-256, so a lost token cannot be shown \
        again: remove the operator and add it anew. Calls send it as `Authorization: Bearer <token>`. \
        Every call, refused ones too, is written to the audit log (`authdoctor audit`).

        Examples:
          authdoctor operators add alice
          authdoctor operators add ci-bot --format json
          authdoctor operators list
          authdoctor operators remove alice
          curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/links

        Exit status: 0 done; 64 bad usage (a bad name); 65 the name is in use, or not a store \
        database; 66 no operator with that name, or no store; 74 the store cannot be opened or \
        written; 78 a bad AUTHDOCTOR_KEY or key file.
        """,
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add",
            abstract: "Add an operator and print its token (the only time it is shown).",
            discussion: """
            The token is `ado_` and 256 random bits (base64url). Keep it in a password manager or a \
            secret store; anyone holding it can issue and revoke links.

            Examples:
              authdoctor operators add alice
              authdoctor operators add alice@example.com --db postgres://ad@db/ad --format json
            """)

        @Argument(help: ArgumentHelp("The operator's name: 1 to 64 letters, digits, '.', '_', '-' or '@' (shown in the audit log).", valueName: "NAME"))
        var name: String

        @OptionGroup var store: StoreOptions

        @Option(help: "text (default) or json (name, token, createdAt).")
        var format: StoreOutputFormat = .text

        func validate() throws {
            if let problem = OperatorTokens.nameProblem(name) { throw ValidationError(problem) }
        }

        func run() throws {
            let store = try store.open()
            let added = try StoreCall.run(store) { try store.addOperator(name: name, now: Date()) }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.object([
                    ("name", .string(added.account.name)), ("token", .string(added.token)),
                    ("createdAt", .string(LinkText.iso(added.account.createdAt))),
                ])))
            case .text:
                Terminal.write(added.token + "\n"
                    + "Operator \(added.account.name) added. This token is shown once (the store keeps only its SHA-256); "
                    + "send it as: Authorization: Bearer <token>\n")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list",
            abstract: "Every operator, by name: when it was added and when its token was last used (never the token).",
            discussion: "Example:\n  authdoctor operators list --format json")

        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json (an array).") var format: StoreOutputFormat = .text

        func run() throws {
            let store = try store.openReadOnly()
            let accounts = try StoreCall.run(store) { try store.operatorAccounts() }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.array(accounts.map(LinkJSON.operatorAccount))))
            case .text:
                if accounts.isEmpty {
                    Terminal.write("No operators yet. Add one with: authdoctor operators add NAME\n")
                    return
                }
                Terminal.write(LinkText.table(["NAME", "CREATED", "LAST USED"], accounts.map {
                    [$0.name, LinkText.seconds($0.createdAt), $0.lastUsedAt.map(LinkText.seconds) ?? "never"]
                }))
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove",
            abstract: "Remove an operator: its token stops working at once; its entries in the audit log stay.",
            discussion: "Example:\n  authdoctor operators remove alice")

        @Argument(help: ArgumentHelp("The operator's name (from `operators list`).", valueName: "NAME")) var name: String
        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let store = try store.open()
            let removed = try StoreCall.run(store) { try store.removeOperator(name: name, now: Date()) }
            switch format {
            case .json: Terminal.write(LinkText.json(LinkJSON.operatorAccount(removed)))
            case .text: Terminal.write("Removed operator \(removed.name); its token no longer works.\n")
            }
        }
    }
}

/// `authdoctor audit`: the calls made to the operator API, oldest first.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show the audit log of the operator API: who called what, when, on which link or connection, and the answer.",
        discussion: """
        `authdoctor serve` writes one entry for every call under /api, refused ones too: the \
        operator (or `anonymous` when the call had no valid token), the method and route (e.g. \
        POST /api/links/{id}/revoke), the time, the link or connection id, and the HTTP status. \
        Tokens are never written to it.

        Examples:
          authdoctor audit
          authdoctor audit --since 24h --operator alice
          authdoctor audit --since 7d --format json

        Exit status: 0 done; 64 bad usage; 65 not a store database; 66 no store; 74 the store cannot be read.
        """)

    @Option(help: ArgumentHelp("Only entries from this long ago on: a number and s, m, h or d (e.g. 90m, 24h, 7d).", valueName: "DURATION"))
    var since: String?

    @Option(name: .customLong("operator"), help: ArgumentHelp("Only this operator's calls (`anonymous`: calls without a valid token).", valueName: "NAME"))
    var operatorName: String?

    @OptionGroup var store: StoreOptions

    @Option(help: "text (default) or json (an array).") var format: StoreOutputFormat = .text

    func validate() throws {
        if let since, let problem = LinkIssuing.ttlProblem(since, label: "--since") { throw ValidationError(problem) }
        if let operatorName, operatorName != OperatorTokens.anonymous, let problem = OperatorTokens.nameProblem(operatorName) {
            throw ValidationError("--operator: " + problem)
        }
    }

    func run() throws {
        let start = since.flatMap(LinkText.parseTTL).map { Date().addingTimeInterval(-$0) }
        let store = try store.openReadOnly()
        let entries = try StoreCall.run(store) { try store.auditEntries(since: start, actor: operatorName) }
        switch format {
        case .json:
            Terminal.write(LinkText.json(.array(entries.map(LinkJSON.audit))))
        case .text:
            if entries.isEmpty {
                Terminal.write("No API calls recorded\(since.map { " in the last " + $0 } ?? "")\(operatorName.map { " by " + $0 } ?? "").\n")
                return
            }
            Terminal.write(LinkText.table(["WHEN", "OPERATOR", "CALL", "TARGET", "STATUS"], entries.map {
                [LinkText.seconds($0.at), $0.actor, $0.method + " " + $0.route, $0.target ?? "-", String($0.status)]
            }))
        }
    }
}
