import ArgumentParser
import EvidenceModel
import Foundation
import Links
#if canImport(Glibc)
import Glibc
#endif

/// `authdoctor store migrate|status|copy|prune|rotate-key`: upkeep of the link store.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Upkeep of the link store: migrate its schema, show its status, copy it between SQLite and PostgreSQL, prune, rotate the key.",
        discussion: """
        Examples:
          authdoctor store migrate --db 'postgres://ad@db:5432/ad?sslmode=verify-full'
          authdoctor store status --db authdoctor.sqlite
          authdoctor store copy --from authdoctor.sqlite --to postgres://ad@db/ad
          authdoctor store prune --db authdoctor.sqlite
          authdoctor store rotate-key --db authdoctor.sqlite
          AUTHDOCTOR_KEY=$OLD NEW_KEY=$(openssl rand -base64 32) \\
              authdoctor store rotate-key --new-key-env NEW_KEY

        Exit status: 0 done; 64 bad usage; 65 not a store database, a schema from a newer authdoctor, \
        or a copy into a store that holds data; 66 no store at the path; 74 the store cannot be \
        opened or written (PostgreSQL unreachable); 78 a bad AUTHDOCTOR_KEY or key file, or stored \
        tokens that do not open with the current key.
        """,
        subcommands: [Migrate.self, Status.self, Copy.self, Prune.self, RotateKey.self]
    )

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "migrate",
            abstract: "Apply the schema migrations this authdoctor knows and the store lacks (making the store when it is new).",
            discussion: """
            Migrations are numbered (v1, v2, ...) and never change once released; each runs once, in \
            order, in one transaction (PostgreSQL: under an advisory lock, so instances starting \
            together apply it once). Every command that writes the store also migrates it on open; \
            this one does it on its own, e.g. before the first `serve` of a team. Needs no key.
            """)

        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let opened = try StoreLocation.openWithoutKey(store.databasePath, passwordVariable: store.passwordVariable,
                                                          mustExist: false, migrating: false)
            let applied = try StoreCall.run(opened) { try opened.migrate() }
            let status = try StoreCall.run(opened) { try opened.schemaStatus() }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.object([
                    ("store", .string(opened.location)), ("backend", .string(status.backend)),
                    ("applied", .array(applied.map { .string($0) })), ("migrations", .array(status.applied.map { .string($0) })),
                ])))
            case .text:
                let what = applied.isEmpty ? "already up to date" : "applied " + applied.joined(separator: ", ")
                Terminal.write("\(LinkText.safe(opened.location)) (\(status.backend)): \(what); schema at \(status.applied.last ?? "-").\n")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status",
            abstract: "Show the store's backend, applied and pending migrations, and rows per table (reads only; needs no key).")

        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let opened = try StoreLocation.openWithoutKey(store.databasePath, passwordVariable: store.passwordVariable,
                                                          mustExist: true, migrating: false)
            let status = try StoreCall.run(opened) { try opened.schemaStatus() }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.object([
                    ("store", .string(opened.location)), ("backend", .string(status.backend)),
                    ("applied", .array(status.applied.map { .string($0) })), ("pending", .array(status.pending.map { .string($0) })),
                    ("unknown", .array(status.unknown.map { .string($0) })),
                    ("rows", .object(status.rows.map { ($0.0, .int($0.1)) })),
                ])))
            case .text:
                var out = "store:      \(LinkText.safe(opened.location)) (\(status.backend))\n"
                out += "applied:    \(status.applied.isEmpty ? "none" : status.applied.joined(separator: ", "))\n"
                out += "pending:    \(status.pending.isEmpty ? "none" : status.pending.joined(separator: ", ") + " (run: authdoctor store migrate)")\n"
                if !status.unknown.isEmpty { out += "unknown:    \(status.unknown.joined(separator: ", ")) (written by a newer authdoctor)\n" }
                out += "rows:       " + (status.rows.isEmpty ? "no tables" : status.rows.map { "\($0.0) \($0.1)" }.joined(separator: ", ")) + "\n"
                Terminal.write(out)
            }
            if !status.unknown.isEmpty { throw ExitCode(65) }
        }
    }

    struct Copy: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "copy",
            abstract: "Copy every row of one store into another, empty one (SQLite or PostgreSQL, either way), in one transaction.",
            discussion: """
            Sealed values (provider tokens, PKCE verifiers, the key check) are copied as they are: \
            nothing is decrypted, and the copy opens with the same key as the source (give it as \
            AUTHDOCTOR_KEY for a PostgreSQL store; the key file of a SQLite source is \
            authdoctor.key beside it). The destination is made and migrated when missing and must \
            hold no rows; the source's schema must be current (authdoctor store migrate). Stop \
            writers to the source first.
            """)

        @Option(help: ArgumentHelp("The store to read: a SQLite file or a postgres:// URL.", valueName: "PATH|URL")) var from: String
        @Option(help: ArgumentHelp("The store to write: a SQLite file or a postgres:// URL (empty or new).", valueName: "PATH|URL")) var to: String
        @Option(name: .customLong("from-password-env"), help: ArgumentHelp("PostgreSQL source: the variable holding its password.", valueName: "NAME"))
        var fromPasswordVariable: String?
        @Option(name: .customLong("to-password-env"), help: ArgumentHelp("PostgreSQL destination: the variable holding its password.", valueName: "NAME"))
        var toPasswordVariable: String?
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let started = DispatchTime.now().uptimeNanoseconds
            let source = try StoreLocation.openWithoutKey(from, passwordVariable: fromPasswordVariable, mustExist: true, migrating: false)
            let destination = try StoreLocation.openWithoutKey(to, passwordVariable: toPasswordVariable, mustExist: false, migrating: true)
            if source.location == destination.location { throw InputError(.usage, "--from and --to name the same store") }
            let sourceStatus = try StoreCall.run(source) { try source.schemaStatus() }
            if !sourceStatus.unknown.isEmpty {
                throw InputError(.data, "the source was written by a newer authdoctor (migrations \(sourceStatus.unknown.joined(separator: ", ")))", place: source.location)
            }
            if !sourceStatus.pending.isEmpty {
                throw InputError(.data, "the source's schema is behind (pending \(sourceStatus.pending.joined(separator: ", "))): run authdoctor store migrate on it first", place: source.location)
            }
            let destinationStatus = try StoreCall.run(destination) { try destination.schemaStatus() }
            if let full = destinationStatus.rows.first(where: { $0.1 > 0 }) {
                throw InputError(.data, "the destination already holds data (\(full.1) rows in \(full.0)); copy into an empty store", place: destination.location)
            }
            var tables: [(StoreTable, [[StoreValue]])] = []
            for table in StoreTables.all {
                tables.append((table, try StoreCall.run(source) { try source.exportRows(table) }))
            }
            try StoreCall.run(destination) { try destination.importRows(tables) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let counts = tables.map { ($0.0.name, $0.1.count) }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.object([
                    ("from", .string(source.location)), ("to", .string(destination.location)),
                    ("rows", .object(counts.map { ($0.0, .int($0.1)) })), ("seconds", .double(seconds)),
                ])))
            case .text:
                Terminal.write("Copied \(LinkText.safe(source.location)) to \(LinkText.safe(destination.location)) in one transaction "
                               + "(\(String(format: "%.1f", seconds)) s): " + counts.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
                               + ". Sealed tokens were copied as they are: open the copy with the source's key.\n")
            }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prune",
            abstract: "Delete spent and stale OAuth attempts and expired unfinished sessions; erase the tokens of connections that can never be activated.",
            discussion: """
            An OAuth attempt (a Connect press) lives 30 minutes or until its callback; a session not \
            finished before its link expired (or was revoked) activates nothing, so its pending \
            connections' tokens are erased (the record of who connected what stays) and the session \
            goes when no record points at it. `authdoctor serve` does the same when it starts.
            """)

        @OptionGroup var store: StoreOptions
        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let opened = try existingStore(store)
            let report = try StoreCall.run(opened) { try opened.prune(now: Date()) }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.object([
                    ("authorizations", .int(report.authorizations)), ("sessions", .int(report.sessions)),
                    ("pendingConnectionsErased", .int(report.pendingConnectionsErased)),
                ])))
            case .text:
                Terminal.write("Pruned \(report.authorizations) OAuth attempt\(report.authorizations == 1 ? "" : "s"), "
                               + "\(report.sessions) expired session\(report.sessions == 1 ? "" : "s"); "
                               + "erased the tokens of \(report.pendingConnectionsErased) connection\(report.pendingConnectionsErased == 1 ? "" : "s") never activated.\n")
            }
        }
    }

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Re-encrypt every stored token under a new key, in one transaction.",
            discussion: """
            With the key file (authdoctor.key beside the database): a new key is written to \
            authdoctor.key.new, every sealed value (connection tokens, renewed tokens, pending PKCE \
            verifiers) is re-encrypted under it in one transaction, and the new file then replaces the \
            old one. Nothing is changed when any value fails to open with the current key.

            With AUTHDOCTOR_KEY: give the new key in another variable (--new-key-env NAME), then set \
            AUTHDOCTOR_KEY to it for every later command.

            Stop `authdoctor serve` and scheduled `check --renew` runs first: a process started \
            before the rotation still holds the old key.
            """)

        @OptionGroup var store: StoreOptions

        @Option(name: .customLong("new-key-env"), help: ArgumentHelp("The variable holding the new key (32 bytes, base64 or hex); needed when AUTHDOCTOR_KEY holds the current one.", valueName: "NAME"))
        var newKeyVariable: String?

        @Option(help: "text (default) or json.") var format: StoreOutputFormat = .text

        func run() throws {
            let environment = ProcessInfo.processInfo.environment
            let usesVariable = environment[SecretBox.environmentVariable] != nil
            if usesVariable && newKeyVariable == nil {
                throw InputError(.usage, "the key comes from \(SecretBox.environmentVariable): put a new one in another variable and name it with --new-key-env NAME (make one with: openssl rand -base64 32)")
            }
            let opened = try existingStore(store)
            if opened.location == ":memory:" { throw InputError(.usage, "an in-memory store has no key to rotate") }
            let keyFile = StoreLocation.keyFilePath(forDatabase: opened.location)
            let rotated: Int
            var where_ = ""
            if let name = newKeyVariable {
                guard let text = environment[name], !text.isEmpty else { throw InputError(.usage, "--new-key-env \(name): the variable is not set") }
                guard let key = SecretBox.parseKey(text) else {
                    throw InputError(.config, "\(name) must hold 32 bytes in base64 or hex (make one with: openssl rand -base64 32)")
                }
                rotated = try StoreCall.run(opened) { try opened.rotateKey(to: SecretBox(key: key)) }
                where_ = usesVariable ? "set \(SecretBox.environmentVariable) to the value of \(name) from now on"
                    : "the new key is in \(name) only: set \(SecretBox.environmentVariable) to it from now on (\(keyFile) still holds the old key; delete it)"
            } else {
                let staged = keyFile + ".new"
                unlink(staged)
                let newBox = try SecretBox.load(environment: [:], keyFile: staged)
                do {
                    rotated = try StoreCall.run(opened) { try opened.rotateKey(to: newBox) }
                } catch {
                    unlink(staged)
                    throw error
                }
                guard rename(staged, keyFile) == 0 else {
                    throw InputError(.io, "the tokens are re-encrypted, but the new key could not replace the old one: \(String(cString: strerror(errno))); move \(staged) to \(keyFile) by hand", place: keyFile)
                }
                where_ = "\(keyFile) now holds the new key"
            }
            switch format {
            case .json:
                Terminal.write(LinkText.json(.object([("reencrypted", .int(rotated)), ("database", .string(opened.location))])))
            case .text:
                Terminal.write("Re-encrypted \(rotated) stored value\(rotated == 1 ? "" : "s") under a new key in one transaction; \(where_).\n")
            }
        }
    }

    /// The store must exist: upkeep never makes one.
    static func existing(_ options: StoreOptions) throws(InputError) -> any AuthDoctorStore {
        let path = options.databasePath ?? StoreLocation.defaultPath()
        if case .sqlite = try StoreTarget.parse(path, passwordVariable: options.passwordVariable),
           path != ":memory:" && !FileManager.default.fileExists(atPath: path) {
            throw InputError(.noInput, "no authdoctor store here", place: path)
        }
        return try options.open()
    }
}

private func existingStore(_ options: StoreOptions) throws(InputError) -> any AuthDoctorStore {
    try StoreCommand.existing(options)
}
