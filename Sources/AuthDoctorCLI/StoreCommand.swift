import ArgumentParser
import EvidenceModel
import Foundation
import Links
#if canImport(Glibc)
import Glibc
#endif

/// `authdoctor store prune|rotate-key`: upkeep of the link store.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Upkeep of the link store: prune what can never be used again, rotate the encryption key.",
        discussion: """
        Examples:
          authdoctor store prune --db authdoctor.sqlite
          authdoctor store rotate-key --db authdoctor.sqlite
          AUTHDOCTOR_KEY=$OLD NEW_KEY=$(openssl rand -base64 32) \\
              authdoctor store rotate-key --new-key-env NEW_KEY

        Exit status: 0 done; 64 bad usage; 65 not a store database; 66 no store at the path; \
        74 the store cannot be opened or written; 78 a bad AUTHDOCTOR_KEY or key file, or stored \
        tokens that do not open with the current key.
        """,
        subcommands: [Prune.self, RotateKey.self]
    )

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
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
            if opened.path == ":memory:" { throw InputError(.usage, "an in-memory store has no key to rotate") }
            let keyFile = StoreLocation.keyFilePath(forDatabase: opened.path)
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
                Terminal.write(LinkText.json(.object([("reencrypted", .int(rotated)), ("database", .string(opened.path))])))
            case .text:
                Terminal.write("Re-encrypted \(rotated) stored value\(rotated == 1 ? "" : "s") under a new key in one transaction; \(where_).\n")
            }
        }
    }

    /// The store must exist: upkeep never makes one.
    static func existing(_ options: StoreOptions) throws(InputError) -> SQLiteStore {
        let path = options.databasePath ?? StoreLocation.defaultPath()
        if path != ":memory:" && !FileManager.default.fileExists(atPath: path) {
            throw InputError(.noInput, "no authdoctor store here", place: path)
        }
        return try options.open()
    }
}

private func existingStore(_ options: StoreOptions) throws(InputError) -> SQLiteStore {
    try StoreCommand.existing(options)
}
