import EvidenceModel
import Foundation
import GRDB
@testable import Links
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class SecretsAtRestTests: XCTestCase {
    static let key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

    /// Every secret of a full flow is looked for in the database, its WAL and shared-memory files:
    /// only hashes and AES-GCM boxes may be there. The client's name (not secret) must be found,
    /// which proves the search reads the bytes the store wrote.
    func testNoSecretIsStoredInClear() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("authdoctor.sqlite").path
        var secrets: [String] = []
        do {
            let store = try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: Self.key])
            let issued = try store.issueLink(client: "Client-Name-Visible", sources: ["facebook"], maxSources: nil, ttl: 1000, now: t0)
            let opened = try store.openLink(token: issued.token, now: at(1))
            let verifier = "pkce-verifier-" + LinkSecrets.newSecret()
            let state = try store.beginAuthorization(PendingAuthorization(sessionID: opened.session.id, linkID: issued.link.id, provider: "facebook",
                                                                         codeVerifier: verifier, redirectURI: "http://127.0.0.1/cb", createdAt: at(2)))
            let tokens = ProviderTokens(accessToken: "EAAB-ACCESS-" + LinkSecrets.newSecret(), refreshToken: "REFRESH-" + LinkSecrets.newSecret(),
                                        expiresAt: at(3600), scopes: ["ads_read"])
            let connection = try store.addConnection(sessionID: opened.session.id, provider: "facebook", account: "acct", tokens: tokens, now: at(3))
            let renewed = ProviderTokens(accessToken: "RENEWED-" + LinkSecrets.newSecret(), refreshToken: "ROTATED-" + LinkSecrets.newSecret())
            try store.storeRenewedTokens(connectionName: "fb-main", tokens: renewed, now: at(4))
            secrets = [issued.token, opened.cookieSecret, state, verifier, tokens.accessToken, tokens.refreshToken!,
                       renewed.accessToken, renewed.refreshToken!, Self.key]
            XCTAssertEqual(try store.connectionCredentials(id: connection.id), tokens)
            XCTAssertEqual(try store.consumeAuthorization(state: state, now: at(5)).codeVerifier, verifier)
        }
        let bytes = try allBytes(in: directory)
        XCTAssertTrue(contains(bytes, "Client-Name-Visible"), "the search sees the stored rows")
        for secret in secrets {
            XCTAssertFalse(contains(bytes, secret), "a secret is stored in clear")
            XCTAssertFalse(contains(bytes, LinkSecrets.base64URL(Data(secret.utf8))), "a secret is stored merely encoded")
        }
    }

    func testASealedValueOpensOnlyInItsPlaceAndWithItsKey() throws {
        let box = SecretBox.ephemeral()
        let sealed = try box.seal(Data("secret".utf8), context: "connection:con_a")
        XCTAssertEqual(try box.open(sealed, context: "connection:con_a"), Data("secret".utf8))
        XCTAssertThrowsError(try box.open(sealed, context: "connection:con_b"))
        XCTAssertThrowsError(try SecretBox.ephemeral().open(sealed, context: "connection:con_a"))
        var tampered = sealed
        tampered[tampered.count - 1] ^= 1
        XCTAssertThrowsError(try box.open(tampered, context: "connection:con_a"))
        XCTAssertNotEqual(try box.seal(Data("secret".utf8), context: "x"), try box.seal(Data("secret".utf8), context: "x"), "a fresh nonce each time")
    }

    // MARK: the key

    func testKeyFileIsMadeOnFirstUseWithOwnerOnlyPermissions() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("data/authdoctor.sqlite").path
        let store = try StoreLocation.open(path: path, environment: [:])
        let keyPath = directory.appendingPathComponent("data/authdoctor.key").path
        let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let dataDirectory = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("data").path)
        XCTAssertEqual((dataDirectory[.posixPermissions] as? NSNumber)?.intValue, 0o700, "the data directory is the user's alone")
        let database = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((database[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertNotNil(SecretBox.parseKey(try String(contentsOfFile: keyPath, encoding: .utf8)))

        let session = try store.openLink(token: try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 100, now: t0).token, now: at(1))
        let connection = try store.addConnection(sessionID: session.session.id, provider: "google", account: nil,
                                                 tokens: ProviderTokens(accessToken: "tok"), now: at(2))
        let before = try String(contentsOfFile: keyPath, encoding: .utf8)
        let reopened = try StoreLocation.open(path: path, environment: [:])
        XCTAssertEqual(try String(contentsOfFile: keyPath, encoding: .utf8), before, "the key file is made once")
        XCTAssertEqual(try reopened.connectionCredentials(id: connection.id).accessToken, "tok")
    }

    func testKeyFileReadableByOthersIsRefused() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("authdoctor.sqlite").path
        _ = try StoreLocation.open(path: path, environment: [:])
        let keyPath = StoreLocation.keyFilePath(forDatabase: path)
        XCTAssertEqual(chmod(keyPath, 0o640), 0)
        let error = assertInputError(.config, mentions: [keyPath, "chmod 600"], try StoreLocation.open(path: path, environment: [:]))
        XCTAssertEqual(error?.exitCode, 78)
        XCTAssertEqual(chmod(keyPath, 0o604), 0)
        _ = assertInputError(.config, mentions: [keyPath], try StoreLocation.open(path: path, environment: [:]))
        XCTAssertEqual(chmod(keyPath, 0o600), 0)
        XCTAssertNoThrow(try StoreLocation.open(path: path, environment: [:]))
    }

    func testKeyFileThatIsNotAKeyIsRefused() throws {
        let directory = try temporaryDirectory(self)
        let keyPath = directory.appendingPathComponent("authdoctor.key").path
        XCTAssertTrue(FileManager.default.createFile(atPath: keyPath, contents: Data("not a key\n".utf8), attributes: [.posixPermissions: 0o600]))
        _ = assertInputError(.config, mentions: [keyPath], try StoreLocation.open(path: directory.appendingPathComponent("authdoctor.sqlite").path, environment: [:]))
    }

    func testConcurrentFirstUsesAgreeOnOneKey() throws {
        let directory = try temporaryDirectory(self)
        let keyPath = directory.appendingPathComponent("authdoctor.key").path
        let keys = Locked<[Data]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            if let key = try? KeyFile.loadOrCreate(path: keyPath) {
                keys.withLock { $0.append(key.withUnsafeBytes { Data($0) }) }
            }
        }
        let all = keys.withLock { $0 }
        XCTAssertEqual(all.count, 8)
        XCTAssertEqual(Set(all).count, 1, "every first use reads the one key that was linked into place")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["authdoctor.key"], "no temporary files left")
    }

    func testKeyFromTheEnvironment() throws {
        XCTAssertNotNil(SecretBox.parseKey(Self.key), "hex")
        XCTAssertNotNil(SecretBox.parseKey(Self.key.uppercased()), "HEX")
        XCTAssertNotNil(SecretBox.parseKey(Data(repeating: 7, count: 32).base64EncodedString()), "base64")
        XCTAssertNotNil(SecretBox.parseKey(LinkSecrets.base64URL(Array(repeating: 0xFB, count: 32)) + "\n"), "base64url, unpadded, newline")
        XCTAssertNil(SecretBox.parseKey(""))
        XCTAssertNil(SecretBox.parseKey(String(Self.key.dropLast(2))), "31 bytes of hex")
        XCTAssertNil(SecretBox.parseKey(Data(repeating: 7, count: 16).base64EncodedString()), "16 bytes")
        XCTAssertNil(SecretBox.parseKey("correct horse battery staple"))

        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("authdoctor.sqlite").path
        let bad = "hunter2-not-a-key"
        let error = assertInputError(.config, mentions: ["AUTHDOCTOR_KEY"],
                                     try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: bad]))
        XCTAssertEqual(error?.exitCode, 78)
        XCTAssertFalse(error?.description.contains(bad) ?? true, "the error never repeats the value")

        _ = try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: Self.key])
        XCTAssertFalse(FileManager.default.fileExists(atPath: StoreLocation.keyFilePath(forDatabase: path)), "no key file when the key is given")
    }

    func testAnotherKeyOnAnExistingDatabaseIsRefused() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("authdoctor.sqlite").path
        _ = try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: Self.key])
        let other = String(Self.key.reversed())
        _ = assertInputError(.config, mentions: [path, "AUTHDOCTOR_KEY"],
                             try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: other]))
        XCTAssertNoThrow(try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: Self.key]))
    }

    // MARK: where the database lives

    func testDefaultPath() {
        XCTAssertEqual(StoreLocation.defaultPath(environment: ["AUTHDOCTOR_DB": "/srv/a.sqlite", "XDG_DATA_HOME": "/x", "HOME": "/h"]), "/srv/a.sqlite")
        XCTAssertEqual(StoreLocation.defaultPath(environment: ["XDG_DATA_HOME": "/x", "HOME": "/h"]), "/x/authdoctor/authdoctor.sqlite")
        XCTAssertEqual(StoreLocation.defaultPath(environment: ["XDG_DATA_HOME": "relative", "HOME": "/h"]), "/h/.local/share/authdoctor/authdoctor.sqlite",
                       "XDG says a relative XDG_DATA_HOME is ignored")
        XCTAssertEqual(StoreLocation.defaultPath(environment: ["HOME": "/h"]), "/h/.local/share/authdoctor/authdoctor.sqlite")
        XCTAssertEqual(StoreLocation.keyFilePath(forDatabase: "/x/authdoctor/authdoctor.sqlite"), "/x/authdoctor/authdoctor.key")
        XCTAssertEqual(StoreLocation.keyFilePath(forDatabase: "links.db"), "./authdoctor.key")
    }

    func testDatabaseThatIsNotSQLiteIsAClearError() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("notes.txt").path
        try Data(String(repeating: "these are notes, not a database\n", count: 200).utf8).write(to: URL(fileURLWithPath: path))
        let error = assertInputError(.data, mentions: [path, "not SQLite"],
                                     try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: Self.key]))
        XCTAssertEqual(error?.exitCode, 65)
    }

    func testDatabaseThatCannotBeCreatedNamesThePath() throws {
        let directory = try temporaryDirectory(self)
        let blocker = directory.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let path = blocker.appendingPathComponent("sub/authdoctor.sqlite").path
        let error = assertInputError(.io, mentions: [blocker.path], try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: Self.key]))
        XCTAssertEqual(error?.exitCode, 74)
        _ = assertInputError(.io, mentions: [directory.path], try StoreLocation.open(path: directory.path, environment: [SecretBox.environmentVariable: Self.key]))
        // Not even root may make a directory under /proc.
        _ = assertInputError(.io, mentions: ["/proc/authdoctor-test"],
                             try StoreLocation.open(path: "/proc/authdoctor-test/a.sqlite", environment: [SecretBox.environmentVariable: Self.key]))
        if geteuid() != 0 {
            let locked = directory.appendingPathComponent("locked")
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o500])
            _ = assertInputError(.io, mentions: [locked.path], try StoreLocation.open(path: locked.appendingPathComponent("a.sqlite").path, environment: [:]))
        }
    }

    func testDatabaseFromANewerAuthdoctorIsRefused() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("authdoctor.sqlite").path
        do {
            let store = try StoreLocation.openSQLite(path: path, environment: [SecretBox.environmentVariable: Self.key])
            try store.writer.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        }
        _ = assertInputError(.data, mentions: [path, "newer"], try StoreLocation.open(path: path, environment: [SecretBox.environmentVariable: Self.key]))
    }
}
