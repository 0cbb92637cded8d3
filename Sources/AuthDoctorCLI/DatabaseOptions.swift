import ArgumentParser
import Diagnose
import EvidenceModel
import Foundation

/// The flags of `diagnose --provider postgres|redshift`: where the database is and what the loader
/// writes to (checked by `ConnectionSettings.databaseTarget`). `--user`, `--password-env`,
/// `--password-file` and `--url` are DiagnoseCommand's own (shared with the other destinations). The password comes from `--password-env`,
/// `--password-file` or stdin (`--password-file -`), never from argv or the URL.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("host"), help: ArgumentHelp("PostgreSQL/Redshift: the server's host name or IP.", valueName: "HOST"))
    var host: String?

    @Option(name: .customLong("port"), parsing: .unconditional, help: ArgumentHelp("PostgreSQL/Redshift: the port (default 5432; 5439 for redshift).", valueName: "PORT"))
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
}
