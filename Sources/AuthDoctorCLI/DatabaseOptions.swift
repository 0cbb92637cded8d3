import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation

/// The flags of `diagnose --provider postgres|redshift`: where the database is and what the loader
/// writes to. `--user`, `--password-env`, `--password-file` and `--url` are DiagnoseCommand's own
/// (shared with the other destinations) and passed in. The password comes from `--password-env`,
/// `--password-file` or stdin (`--password-file -`), never from argv or the URL.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("host"), help: ArgumentHelp("PostgreSQL/Redshift: the server's host name or IP.", valueName: "HOST"))
    var host: String?

    @Option(name: .customLong("port"), help: ArgumentHelp("PostgreSQL/Redshift: the port (default 5432; 5439 for redshift).", valueName: "PORT"))
    var port: Int?

    @Option(name: .customLong("database"), help: ArgumentHelp("PostgreSQL/Redshift: the database name.", valueName: "DB"))
    var database: String?

    @Option(name: .customLong("schema"), help: ArgumentHelp("PostgreSQL/Redshift: the schema the loader writes to (default: the user's current schema).", valueName: "SCHEMA"))
    var schema: String?

    @Option(name: .customLong("table"), help: ArgumentHelp("PostgreSQL/Redshift: the table the loader inserts into (SCHEMA.TABLE or TABLE).", valueName: "TABLE"))
    var table: String?

    @Option(name: .customLong("tls"), help: ArgumentHelp("PostgreSQL/Redshift: disable, prefer (default), require, verify-ca or verify-full (libpq's sslmode). verify-ca and verify-full need --tls-ca-file.", valueName: "MODE"))
    var tls: String?

    @Option(name: .customLong("tls-ca-file"), help: ArgumentHelp("PostgreSQL/Redshift: the CA bundle (PEM) that signed the server's certificate, for --tls verify-ca, verify-full (or require).", valueName: "FILE"))
    var tlsCAFile: String?

    init() {}

    /// Whether any database flag was given (they are refused for HTTP providers).
    var anyGiven: Bool {
        host != nil || port != nil || database != nil || schema != nil || table != nil || tls != nil || tlsCAFile != nil
    }

    /// The destination, checked: one-line usage errors name the flag, never the password.
    func target(provider: String, timeout: Double, user: String?, passwordEnv: String?, passwordFile: String?, url: String?,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabaseTarget {
        if passwordEnv != nil && passwordFile != nil { throw InputError(.usage, "give only one of --password-env, --password-file") }
        var parts = DatabaseTarget.URLParts()
        if let url {
            if host != nil || port != nil || user != nil || database != nil {
                throw InputError(.usage, "give either --url or --host/--port/--user/--database, not both")
            }
            parts = try DatabaseTarget.parseURL(url)
        }
        var mode = parts.tls ?? .prefer
        if let tls {
            guard let given = DatabaseTarget.TLSMode(rawValue: tls) else {
                throw InputError(.usage, "bad --tls '\(tls)': use one of \(DatabaseTarget.TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            mode = given
        }
        var password: String?
        if let passwordEnv { password = try CredentialInput.fromEnvironment(passwordEnv, flag: "--password-env", environment: environment) }
        if let passwordFile {
            do {
                password = try CredentialInput.fromFile(passwordFile, flag: "--password-file")
            } catch {
                // The token-file wording, said for a password.
                throw InputError(error.kind, error.message.replacingOccurrences(of: "token file", with: "password file"), place: error.place)
            }
        }
        let target = DatabaseTarget(provider: provider, host: host ?? parts.host ?? "", port: port ?? parts.port,
                                    user: user ?? parts.user ?? "", database: database ?? parts.database ?? "",
                                    schema: schema, table: table, password: password, tls: mode, tlsCAFile: tlsCAFile, timeout: timeout)
        try target.validate()
        return target
    }
}

extension DiagnoseCommand {
    /// `diagnose --provider postgres|redshift`: the database diagnosis instead of HTTP probe steps.
    func runDatabase(_ provider: String) throws {
        if sandbox { throw InputError(.usage, "--sandbox has no database: point --host/--port at a test server instead") }
        guard timeout > 0, timeout <= 600, timeout.isFinite else {
            throw InputError(.usage, "--timeout must be more than 0 and at most 600 seconds, not \(timeout)")
        }
        let target = try database.target(provider: provider, timeout: timeout, user: user, passwordEnv: passwordEnv,
                                         passwordFile: passwordFile, url: url)
        let runner = try DatabaseDiagnosisRunner(target: target, engine: ClassifyEngine(ruleSet: try ruleOptions.load()),
                                                 keepFacts: showFacts)
        let diagnosis = runner.run()
        let report = diagnosis.report
        Terminal.write(report, format: format)
        if diagnosis.exitStatus != 0 { throw ExitCode(diagnosis.exitStatus) }
    }
}
