import Diagnose
import EvidenceModel
import Foundation
import Links
import RuleEngine

/// `check --db`: the store's active connections (made through authorization links) as check
/// entries. Each entry's name, and its key in the history and for renewal, is the connection's id
/// (`con_...`, what `authdoctor connections list` shows beside client, provider and account): ids are
/// unique and stable, where a client's name or an account's e-mail may repeat or change.
///
/// Tokens are decrypted here (`connectionCredentials`) and go straight into a prepared plan; they
/// are never part of `settings`, a problem text or a verdict.
public struct StoredConnections: ConnectionSource {
    public var store: any AuthDoctorStore
    public var definitions: [String: ProviderDefinition]
    public var engine: ClassifyEngine
    /// The command's `--timeout` and `--warn-expiry`.
    public var defaults: ConnectionSettings
    /// The OAuth app per provider (`--oauth-client PROVIDER=ID`, secret from the environment): a
    /// refresh-token exchange needs it. Without one only the access token is checked.
    public var oauthClients: [String: OAuthClient]
    /// With `--sandbox`: the base URL serving the scenario a token picks.
    public var sandboxURL: (@Sendable (String) -> String)?
    /// Entries are numbered from here (after a connections file's).
    public var firstIndex: Int
    public var now: Date

    public struct OAuthClient: Sendable, Equatable {
        public var clientID: String
        public var clientSecret: String?
        public init(clientID: String, clientSecret: String?) {
            self.clientID = clientID
            self.clientSecret = clientSecret
        }
    }

    public init(store: any AuthDoctorStore, definitions: [String: ProviderDefinition], engine: ClassifyEngine,
                defaults: ConnectionSettings = ConnectionSettings(), oauthClients: [String: OAuthClient] = [:],
                sandboxURL: (@Sendable (String) -> String)? = nil, firstIndex: Int = 0, now: Date = Date()) {
        self.store = store
        self.definitions = definitions
        self.engine = engine
        self.defaults = defaults
        self.oauthClients = oauthClients
        self.sandboxURL = sandboxURL
        self.firstIndex = firstIndex
        self.now = now
    }

    /// Active connections, oldest first (a stable order for tables). A connection that cannot be
    /// planned (no provider definition, tokens that do not decrypt) is a bad entry, reported UNKNOWN.
    public func connections() throws(InputError) -> [ConnectionEntry] {
        let all: [StoredConnection]
        do { all = try store.allConnections() } catch { throw InputError(.io, "cannot read the store's connections: \(Redactor.redact("\(error)"))") }
        let active = all.filter { $0.status == .active }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        return active.enumerated().map { offset, connection in entry(connection, index: firstIndex + offset) }
    }

    func entry(_ connection: StoredConnection, index: Int) -> ConnectionEntry {
        var settings = ConnectionSettings()
        settings.provider = connection.provider
        settings.timeout = defaults.timeout
        settings.warnExpiry = defaults.warnExpiry
        func bad(_ problem: String) -> ConnectionEntry {
            ConnectionEntry(index: index, name: connection.id, settings: settings,
                            problem: "stored connection '\(connection.id)' (\(connection.client), \(connection.provider)): " + problem)
        }
        guard let definition = definitions[connection.provider] else { return bad("no provider definition '\(connection.provider)'") }
        let tokens: ProviderTokens
        do { tokens = try store.connectionCredentials(id: connection.id) } catch {
            return bad("cannot read its tokens from the store")
        }
        var credentials = DiagnosisCredentials()
        StoredTokens.apply(tokens, to: &credentials, now: now)
        if let client = oauthClients[connection.provider] {
            credentials[CredentialName.clientID] = client.clientID
            credentials[CredentialName.clientSecret] = client.clientSecret
        }
        var options = DiagnosisOptions()
        options.timeout = defaults.timeout
        do { options.warnExpiry = try CredentialInput.duration(defaults.warnExpiry) } catch { return bad(error.message) }
        if let sandboxURL {
            let token = credentials[CredentialName.token] ?? credentials[CredentialName.refreshToken] ?? ""
            options.baseURLOverrides = [(connection.provider, sandboxURL(token))]
        }
        do {
            let runner = try DiagnosisRunner(definition: definition, credentials: credentials, options: options, engine: engine)
            var entry = ConnectionEntry(index: index, name: connection.id, settings: settings, prepared: .http(runner))
            entry.storedConnectionID = connection.id
            return entry
        } catch {
            return bad(CheckRunner.fieldWording(error))
        }
    }
}

/// Tokens from the store (a stored connection's, or a file connection's renewed ones) as credentials.
enum StoredTokens {
    /// An access token within a minute of its expiry is left out when a refresh token is at hand:
    /// the refresh step then provides a fresh one for the later steps, instead of the later steps
    /// failing on a token that is merely old. Without a refresh token it stays, and its expiry is
    /// what the diagnosis reports.
    static func apply(_ tokens: ProviderTokens, to credentials: inout DiagnosisCredentials, now: Date) {
        let stale = tokens.expiresAt.map { $0.timeIntervalSince(now) < 60 } ?? false
        if let refresh = tokens.refreshToken, !refresh.isEmpty {
            credentials[CredentialName.refreshToken] = refresh
            credentials[CredentialName.token] = stale ? nil : tokens.accessToken
        } else {
            credentials[CredentialName.token] = tokens.accessToken
        }
    }
}
