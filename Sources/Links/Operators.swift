import EvidenceModel
import Foundation

// Operators of the API that `serve` answers under /api (issue 16, item 5): engineers who issue and
// revoke links and read connections without a shell on the server. Each has a bearer token, shown
// once by `authdoctor operators add` and stored only as its SHA-256; every API call, refused ones
// too, is written to the audit log (`authdoctor audit`).

/// An operator as the store keeps it: never its token.
public struct OperatorAccount: Sendable, Equatable, Codable {
    public var name: String
    public var createdAt: Date
    /// When a call last authenticated with its token (nil: never used).
    public var lastUsedAt: Date?

    public init(name: String, createdAt: Date, lastUsedAt: Date? = nil) {
        self.name = name
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
    }
}

/// `addOperator`'s answer: the only moment the operator's token exists in clear.
public struct NewOperator: Sendable {
    public var account: OperatorAccount
    /// `ado_` + 256 random bits, base64url: goes into `Authorization: Bearer`, never into the store.
    public var token: String

    public init(account: OperatorAccount, token: String) {
        self.account = account
        self.token = token
    }
}

/// One API call as the audit log keeps it: who, what, when, on which link or connection, and the answer.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var at: Date
    /// The operator's name, or `anonymous` when the call carried no valid token.
    public var actor: String
    public var method: String
    /// The route template (`/api/links/{id}/revoke`), never the path as sent.
    public var route: String
    /// The link or connection the call named or made (`lnk_...`, `con_...`), if any.
    public var target: String?
    /// The HTTP status of the answer.
    public var status: Int

    public init(at: Date, actor: String, method: String, route: String, target: String? = nil, status: Int) {
        self.at = at
        self.actor = actor
        self.method = method
        self.route = route
        self.target = target
        self.status = status
    }
}

/// How operator tokens and names are made and checked.
public enum OperatorTokens {
    /// Makes a token recognisable in a config file, a log or a secret scanner's rules.
    public static let prefix = "ado_"
    /// The actor of calls without a valid token.
    public static let anonymous = "anonymous"
    public static let maxNameLength = 64

    /// `ado_` + 32 bytes (256 bits) from the system CSPRNG, base64url without padding (47 characters).
    public static func newToken() -> String { prefix + LinkSecrets.newSecret() }

    /// Whether `text` could be a token at all (checked before any lookup).
    public static func isTokenShaped(_ text: String) -> Bool {
        text.hasPrefix(prefix) && text.utf8.count == prefix.utf8.count + 43
            && text.utf8.dropFirst(prefix.utf8.count).allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F
            }
    }

    /// Why `name` cannot name an operator, or nil: 1 to 64 letters, digits, `.`, `_`, `-` or `@`
    /// (an e-mail address fits), not `anonymous` (the audit log's word for calls without a token).
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "an operator needs a name (e.g. alice or alice@example.com)" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D || byte == 0x40
        }
        if !allowed || name.utf8.count > maxNameLength {
            return "an operator name is 1 to \(maxNameLength) letters, digits, '.', '_', '-' or '@', not '\(DisplayText.safe(String(name.prefix(80))))'"
        }
        if name.lowercased() == anonymous { return "'\(anonymous)' is what the audit log calls calls without a token; choose another operator name" }
        return nil
    }

    /// `nameProblem` as the error a command and the store throw (64).
    public static func requireValidName(_ name: String) throws(InputError) {
        if let problem = nameProblem(name) { throw InputError(.usage, problem) }
    }

    static func taken(_ name: String) -> InputError {
        InputError(.data, "an operator named '\(name)' exists (tokens are shown once; to replace it: authdoctor operators remove \(name), then add it again)")
    }

    static func unknown(_ name: String) -> InputError {
        InputError(.noInput, "no operator is named '\(DisplayText.safe(name))' (see: authdoctor operators list)")
    }
}
