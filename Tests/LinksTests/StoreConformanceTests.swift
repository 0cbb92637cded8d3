import EvidenceModel
import Foundation
import GRDB
@testable import Links
import XCTest

/// One suite for every `AuthDoctorStore`: this class runs it on SQLite (in memory; a file where
/// several connections must share one database), `PostgresStoreConformanceTests` runs the same
/// methods on the real PostgreSQL that `make test` starts (scripts/pg-test-server.sh).
class StoreConformanceTests: XCTestCase {
    /// A fresh, empty store.
    func makeStore(box: SecretBox = .ephemeral()) throws -> any AuthDoctorStore {
        try SQLiteStore.inMemory(secretBox: box)
    }

    /// `count` stores on one database, each with its own connections (as separate processes would be).
    func makeSharedStores(_ count: Int, box: SecretBox = .ephemeral()) throws -> [any AuthDoctorStore] {
        let (first, directory) = try fileStore(self, box: box)
        let path = directory.appendingPathComponent("authdoctor.sqlite").path
        return [first] + (try (1..<max(1, count)).map { _ in try SQLiteStore(path: path, secretBox: box) })
    }

    let tokens = ProviderTokens(accessToken: "EAAB-access-token-value", refreshToken: "refresh-token-value",
                                expiresAt: at(3600), scopes: ["ads_read", "business_management"])

    // MARK: links

    func testIssuedLinkHasAStrongTokenAndAPublicID() throws {
        let store = try makeStore()
        let issued = try store.issueLink(client: "Acme", sources: ["facebook", "google-ads"], maxSources: 3, ttl: 86_400, now: t0)
        XCTAssertTrue(issued.link.id.hasPrefix("lnk_"))
        XCTAssertEqual(issued.link.id.count, 16)
        // 32 random bytes, base64url without padding.
        XCTAssertEqual(issued.token.count, 43)
        XCTAssertTrue(issued.token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, issued.token)
        XCTAssertEqual(issued.link.expiresAt, at(86_400))
        XCTAssertEqual(try store.link(id: issued.link.id), issued.link)
        XCTAssertEqual(try store.link(token: issued.token), issued.link)
        XCTAssertNil(try store.link(token: issued.token + "x"))
        XCTAssertNil(try store.link(id: "lnk_nothere"))

        let tokens = Set((0..<200).map { _ in LinkSecrets.newSecret() })
        XCTAssertEqual(tokens.count, 200, "no repeats")
        XCTAssertNotEqual(try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 60, now: t0).link.id, issued.link.id)
    }

    func testNonPositiveTTLIsAUsageError() throws {
        let store = try makeStore()
        _ = assertInputError(.usage, try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 0, now: t0))
        _ = assertInputError(.usage, try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: -5, now: t0))
    }

    func testAllLinksNewestFirst() throws {
        let store = try makeStore()
        let a = try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 60, now: at(0))
        let b = try store.issueLink(client: "B", sources: [], maxSources: nil, ttl: 60, now: at(10))
        let c = try store.issueLink(client: "C", sources: [], maxSources: nil, ttl: 60, now: at(5))
        XCTAssertEqual(try store.allLinks().map(\.id), [b.link.id, c.link.id, a.link.id])
    }

    func testStateFollowsTheLifecycle() throws {
        let store = try makeStore()
        let issued = try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 100, now: t0)
        XCTAssertEqual(try store.link(id: issued.link.id)?.state(at: at(1)), .issued)
        XCTAssertEqual(try store.link(id: issued.link.id)?.state(at: at(100)), .expired, "expiry is inclusive of the instant")
        let opened = try store.openLink(token: issued.token, now: at(10))
        XCTAssertEqual(opened.link.openedAt, at(10))
        XCTAssertEqual(try store.link(id: issued.link.id)?.state(at: at(11)), .opened)
        XCTAssertEqual(try store.link(id: issued.link.id)?.state(at: at(200)), .expired, "opened but never finished")
        _ = try store.finishSession(id: opened.session.id, now: at(20))
        XCTAssertEqual(try store.link(id: issued.link.id)?.state(at: at(21)), .finished)
        XCTAssertEqual(try store.link(id: issued.link.id)?.state(at: at(500)), .finished, "a finished link stays finished")
        _ = try store.revokeLink(id: issued.link.id, now: at(30))
        XCTAssertEqual(try store.link(id: issued.link.id)?.state(at: at(31)), .revoked)
    }

    func testOpenIsSingleUse() throws {
        let store = try makeStore()
        let issued = try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 100, now: t0)
        let opened = try store.openLink(token: issued.token, now: at(1))
        XCTAssertTrue(opened.session.id.hasPrefix("ses_"))
        XCTAssertEqual(opened.session.linkID, issued.link.id)
        XCTAssertEqual(opened.session.expiresAt, issued.link.expiresAt, "a session cannot outlive its link")
        XCTAssertEqual(opened.cookieSecret.count, 43)
        var used = issued.link
        used.openedAt = at(1)
        assertRefusal(.alreadyUsed(used), try store.openLink(token: issued.token, now: at(2)))
        assertRefusal(.unknownLink, try store.openLink(token: "not-a-token", now: at(2)))
        let tampered = String(issued.token.dropLast()) + (issued.token.hasSuffix("A") ? "B" : "A")
        assertRefusal(.unknownLink, try store.openLink(token: tampered, now: at(2)))
    }

    func testOpenRefusesExpiredRevokedAndFinishedLinks() throws {
        let store = try makeStore()
        let expiring = try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 100, now: t0)
        assertRefusal(.expired(expiring.link), try store.openLink(token: expiring.token, now: at(100)))
        XCTAssertNil(try store.link(id: expiring.link.id)?.openedAt, "a refused open changes nothing")

        let revoked = try store.issueLink(client: "B", sources: [], maxSources: nil, ttl: 100, now: t0)
        let revokedLink = try store.revokeLink(id: revoked.link.id, now: at(5))
        XCTAssertEqual(revokedLink.revokedAt, at(5))
        assertRefusal(.revoked(revokedLink), try store.openLink(token: revoked.token, now: at(6)))

        let finished = try store.issueLink(client: "C", sources: [], maxSources: nil, ttl: 100, now: t0)
        let session = try store.openLink(token: finished.token, now: at(1)).session
        _ = try store.finishSession(id: session.id, now: at(2))
        let finishedLink = try XCTUnwrap(try store.link(id: finished.link.id))
        assertRefusal(.alreadyFinished(finishedLink), try store.openLink(token: finished.token, now: at(3)))
    }

    func testRevokeIsIdempotentAndUnknownIDIsRefused() throws {
        let store = try makeStore()
        let issued = try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 100, now: t0)
        let first = try store.revokeLink(id: issued.link.id, now: at(1))
        let second = try store.revokeLink(id: issued.link.id, now: at(2))
        XCTAssertEqual(second.revokedAt, at(1), "the first revocation's time stays")
        XCTAssertEqual(first, second)
        assertRefusal(.unknownLink, try store.revokeLink(id: "lnk_unknown", now: at(1)))
    }

    func testSessionNeedsTheRightCookieAndALiveLink() throws {
        let store = try makeStore()
        let issued = try store.issueLink(client: "A", sources: [], maxSources: nil, ttl: 100, now: t0)
        assertRefusal(.noSession, try store.session(token: issued.token, cookieSecret: "anything", now: at(1)))
        let opened = try store.openLink(token: issued.token, now: at(1))
        let (session, link) = try store.session(token: issued.token, cookieSecret: opened.cookieSecret, now: at(2))
        XCTAssertEqual(session, opened.session)
        XCTAssertEqual(link.id, issued.link.id)
        assertRefusal(.noSession, try store.session(token: issued.token, cookieSecret: opened.cookieSecret + "x", now: at(2)))
        assertRefusal(.noSession, try store.session(token: issued.token, cookieSecret: LinkSecrets.newSecret(), now: at(2)))
        assertRefusal(.unknownLink, try store.session(token: "forged", cookieSecret: opened.cookieSecret, now: at(2)))
        let opening = try XCTUnwrap(try store.link(id: issued.link.id))
        assertRefusal(.expired(opening), try store.session(token: issued.token, cookieSecret: opened.cookieSecret, now: at(100)))
        let revoked = try store.revokeLink(id: issued.link.id, now: at(3))
        assertRefusal(.revoked(revoked), try store.session(token: issued.token, cookieSecret: opened.cookieSecret, now: at(4)))
    }

    func testConstantTimeEquality() {
        let a = LinkSecrets.digest("one"), b = LinkSecrets.digest("one"), c = LinkSecrets.digest("two")
        XCTAssertTrue(LinkSecrets.constantTimeEquals(a, b))
        XCTAssertFalse(LinkSecrets.constantTimeEquals(a, c))
        XCTAssertFalse(LinkSecrets.constantTimeEquals(a, a.prefix(31)))
        XCTAssertTrue(LinkSecrets.constantTimeEquals(a.dropFirst(4), b.dropFirst(4)), "slices compare by content")
    }

    // MARK: OAuth flow

    func opened(_ store: any AuthDoctorStore, sources: [String] = [], maxSources: Int? = nil, ttl: TimeInterval = 1000) throws -> OpenedSession {
        let issued = try store.issueLink(client: "Acme", sources: sources, maxSources: maxSources, ttl: ttl, now: t0)
        return try store.openLink(token: issued.token, now: at(1))
    }

    func pending(_ session: OpenedSession, _ provider: String, at time: TimeInterval = 2) -> PendingAuthorization {
        PendingAuthorization(sessionID: session.session.id, linkID: session.link.id, provider: provider,
                             codeVerifier: String(repeating: "v", count: 43) + provider, redirectURI: "http://127.0.0.1:8080/oauth/callback",
                             createdAt: at(time))
    }

    func testAuthorizationStateIsConsumedOnce() throws {
        let store = try makeStore()
        let session = try opened(store, sources: ["facebook"])
        let attempt = pending(session, "facebook")
        let state = try store.beginAuthorization(attempt)
        XCTAssertEqual(state.count, 43)
        XCTAssertEqual(try store.consumeAuthorization(state: state, now: at(3)), attempt)
        assertRefusal(.badState, try store.consumeAuthorization(state: state, now: at(4)))
        assertRefusal(.badState, try store.consumeAuthorization(state: "unknown", now: at(4)))
    }

    func testStaleStateIsSpentAndRefused() throws {
        let store = try makeStore()
        let session = try opened(store, ttl: 100_000)
        let state = try store.beginAuthorization(pending(session, "google"))
        assertRefusal(.badState, try store.consumeAuthorization(state: state, now: at(2 + SQLiteStore.authorizationLifetime + 1)))
        // Spent, even when the clock goes back.
        assertRefusal(.badState, try store.consumeAuthorization(state: state, now: at(3)))
    }

    func testBeginAuthorizationChecksTheSessionProviderAndLimit() throws {
        let store = try makeStore()
        let session = try opened(store, sources: ["facebook"], maxSources: 1)
        assertRefusal(.providerNotAllowed("hubspot"), try store.beginAuthorization(pending(session, "hubspot")))
        var foreign = pending(session, "facebook")
        foreign.sessionID = "ses_unknown"
        assertRefusal(.noSession, try store.beginAuthorization(foreign))
        foreign = pending(session, "facebook")
        foreign.linkID = "lnk_other"
        assertRefusal(.noSession, try store.beginAuthorization(foreign))
        _ = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(3))
        assertRefusal(.planLimit(1), try store.beginAuthorization(pending(session, "facebook", at: 4)))
        assertRefusal(.expired(session.link), try store.beginAuthorization(pending(session, "facebook", at: 1000)))
    }

    // MARK: connections in a session

    func testAddConnectionIsPendingUntilFinish() throws {
        let store = try makeStore()
        let session = try opened(store, sources: ["facebook", "google-ads"])
        let connection = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: "ads@acme.example",
                                                 tokens: tokens, now: at(5))
        XCTAssertTrue(connection.id.hasPrefix("con_"))
        XCTAssertEqual(connection.status, .pending)
        XCTAssertEqual(connection.client, "Acme")
        XCTAssertEqual(connection.linkID, session.link.id)
        XCTAssertEqual(connection.scopes, tokens.scopes)
        XCTAssertEqual(connection.accessTokenExpiresAt, tokens.expiresAt)
        XCTAssertEqual(try store.connection(id: connection.id), connection)
        XCTAssertEqual(try store.connections(sessionID: session.session.id), [connection])
        XCTAssertEqual(try store.connectionCredentials(id: connection.id), tokens)

        assertRefusal(.providerNotAllowed("linkedin"),
                      try store.addConnection(sessionID: session.session.id, provider: "linkedin", account: nil, tokens: tokens, now: at(6)))
        assertRefusal(.noSession, try store.addConnection(sessionID: "ses_nothere", provider: "facebook", account: nil, tokens: tokens, now: at(6)))
        assertRefusal(.expired(session.link),
                      try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(1000)))
    }

    func testEmptySourcesAllowAnyProvider() throws {
        let store = try makeStore()
        let session = try opened(store)
        XCTAssertEqual(try store.addConnection(sessionID: session.session.id, provider: "hubspot", account: nil, tokens: tokens, now: at(2)).provider,
                       "hubspot")
    }

    func testPlanLimitCountsTheSessionsLiveConnections() throws {
        let store = try makeStore()
        let session = try opened(store, maxSources: 2)
        let first = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(2))
        _ = try store.addConnection(sessionID: session.session.id, provider: "google-ads", account: nil, tokens: tokens, now: at(3))
        assertRefusal(.planLimit(2), try store.addConnection(sessionID: session.session.id, provider: "linkedin", account: nil, tokens: tokens, now: at(4)))
        XCTAssertEqual(try store.connections(sessionID: session.session.id).count, 2, "a refused connection is not stored")
        _ = try store.removeConnection(id: first.id, now: at(5))
        XCTAssertNoThrow(try store.addConnection(sessionID: session.session.id, provider: "linkedin", account: nil, tokens: tokens, now: at(6)),
                         "a removed connection frees its place")
    }

    func testFinishActivatesOnlyThatSessionsPendingConnections() throws {
        let store = try makeStore()
        let mine = try opened(store)
        let other = try opened(store)
        let a = try store.addConnection(sessionID: mine.session.id, provider: "facebook", account: "a", tokens: tokens, now: at(2))
        let b = try store.addConnection(sessionID: mine.session.id, provider: "google-ads", account: "b", tokens: tokens, now: at(3))
        let c = try store.addConnection(sessionID: other.session.id, provider: "hubspot", account: "c", tokens: tokens, now: at(3))

        let activated = try store.finishSession(id: mine.session.id, now: at(10))
        XCTAssertEqual(activated.map(\.id), [a.id, b.id])
        XCTAssertTrue(activated.allSatisfy { $0.status == .active && $0.activatedAt == at(10) })
        XCTAssertEqual(try store.connection(id: c.id)?.status, .pending, "another session's connection stays pending")
        XCTAssertEqual(try store.link(id: mine.link.id)?.finishedAt, at(10))
        XCTAssertEqual(try store.link(id: other.link.id)?.finishedAt, nil)

        let finishedLink = try XCTUnwrap(try store.link(id: mine.link.id))
        assertRefusal(.alreadyFinished(finishedLink), try store.finishSession(id: mine.session.id, now: at(11)))
        assertRefusal(.alreadyFinished(finishedLink),
                      try store.addConnection(sessionID: mine.session.id, provider: "linkedin", account: nil, tokens: tokens, now: at(11)))
        assertRefusal(.noSession, try store.finishSession(id: "ses_nothere", now: at(11)))
    }

    func testSessionFinishedAfterExpiryActivatesNothing() throws {
        let store = try makeStore()
        let session = try opened(store, ttl: 100)
        let connection = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(50))
        assertRefusal(.expired(session.link), try store.finishSession(id: session.session.id, now: at(100)))
        XCTAssertEqual(try store.connection(id: connection.id)?.status, .pending)
        XCTAssertNil(try store.connection(id: connection.id)?.activatedAt)
        XCTAssertEqual(try store.link(id: session.link.id)?.state(at: at(101)), .expired)
    }

    func testUnfinishedSessionActivatesNothing() throws {
        let store = try makeStore()
        let session = try opened(store, ttl: 100)
        _ = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(50))
        XCTAssertEqual(try store.allConnections().map(\.status), [.pending])
    }

    func testRevokedLinkCannotFinish() throws {
        let store = try makeStore()
        let session = try opened(store)
        let connection = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(2))
        let revoked = try store.revokeLink(id: session.link.id, now: at(3))
        assertRefusal(.revoked(revoked), try store.finishSession(id: session.session.id, now: at(4)))
        XCTAssertEqual(try store.connection(id: connection.id)?.status, .pending)
    }

    // MARK: stored connections

    func testRemoveConnectionKeepsTheRecordAndErasesTheTokens() throws {
        let store = try makeStore()
        let session = try opened(store)
        let connection = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: "a", tokens: tokens, now: at(2))
        _ = try store.finishSession(id: session.session.id, now: at(3))
        let removed = try store.removeConnection(id: connection.id, now: at(4))
        XCTAssertEqual(removed.status, .removed)
        XCTAssertEqual(removed.account, "a")
        XCTAssertEqual(try store.allConnections().map(\.id), [connection.id], "kept as a record")
        XCTAssertThrowsError(try store.connectionCredentials(id: connection.id)) {
            XCTAssertEqual($0 as? StoreError, .connectionRemoved(connection.id))
        }
        XCTAssertEqual(try store.removeConnection(id: connection.id, now: at(5)), removed, "removing twice changes nothing")
        XCTAssertThrowsError(try store.removeConnection(id: "con_nothere", now: at(5))) {
            XCTAssertEqual($0 as? StoreError, .unknownConnection("con_nothere"))
        }
        XCTAssertThrowsError(try store.connectionCredentials(id: "con_nothere")) {
            XCTAssertEqual($0 as? StoreError, .unknownConnection("con_nothere"))
        }
        XCTAssertNil(try store.connection(id: "con_nothere"))
    }

    func testAllConnectionsNewestFirst() throws {
        let store = try makeStore()
        let session = try opened(store)
        let a = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(2))
        let b = try store.addConnection(sessionID: session.session.id, provider: "google", account: nil, tokens: tokens, now: at(3))
        XCTAssertEqual(try store.allConnections().map(\.id), [b.id, a.id])
        XCTAssertEqual(try store.connections(linkID: session.link.id).map(\.id), [a.id, b.id])
        XCTAssertEqual(try store.session(linkID: session.link.id), session.session)
    }

    func testRenewedTokensOfAStoredConnection() throws {
        let store = try makeStore()
        let session = try opened(store)
        let connection = try store.addConnection(sessionID: session.session.id, provider: "google", account: nil, tokens: tokens, now: at(2))
        try store.storeRenewedTokens(connectionID: connection.id, tokens: ProviderTokens(accessToken: "new-access", expiresAt: at(7200)), now: at(100))
        XCTAssertEqual(try store.connectionCredentials(id: connection.id),
                       ProviderTokens(accessToken: "new-access", refreshToken: "refresh-token-value", expiresAt: at(7200), scopes: tokens.scopes),
                       "a renewal without a new refresh token keeps the old one")
        let renewed = try XCTUnwrap(try store.connection(id: connection.id))
        XCTAssertEqual(renewed.renewedAt, at(100))
        XCTAssertEqual(renewed.accessTokenExpiresAt, at(7200))
        try store.storeRenewedTokens(connectionID: connection.id, tokens: ProviderTokens(accessToken: "newer", refreshToken: "rotated", scopes: ["s"]), now: at(200))
        XCTAssertEqual(try store.connectionCredentials(id: connection.id), ProviderTokens(accessToken: "newer", refreshToken: "rotated", scopes: ["s"]))
        XCTAssertThrowsError(try store.storeRenewedTokens(connectionID: "con_x", tokens: tokens, now: at(1)))
        _ = try store.removeConnection(id: connection.id, now: at(300))
        XCTAssertThrowsError(try store.storeRenewedTokens(connectionID: connection.id, tokens: tokens, now: at(301))) {
            XCTAssertEqual($0 as? StoreError, .connectionRemoved(connection.id))
        }
    }

    // MARK: check history

    func testVerdictsNewestFirstWithLimit() throws {
        let store = try makeStore()
        try store.recordVerdicts([
            CheckVerdict(connection: "fb-main", checkedAt: at(1), status: "ok", failure: "none", summary: "healthy"),
            CheckVerdict(connection: "fb-main", checkedAt: at(3), status: "critical", failure: "expiry", summary: "expired"),
            CheckVerdict(connection: "other", checkedAt: at(2), status: "warning", failure: "rate-limit", summary: "slow down"),
            CheckVerdict(connection: "fb-main", checkedAt: at(2), status: "warning", failure: "rate-limit", summary: "throttled"),
        ])
        try store.recordVerdicts([])
        XCTAssertEqual(try store.verdicts(connection: "fb-main", limit: 10).map(\.summary), ["expired", "throttled", "healthy"])
        XCTAssertEqual(try store.verdicts(connection: "fb-main", limit: 1),
                       [CheckVerdict(connection: "fb-main", checkedAt: at(3), status: "critical", failure: "expiry", summary: "expired")])
        XCTAssertEqual(try store.verdicts(connection: "nobody", limit: 5), [])
    }

    /// The console keeps what it derived from the history until this changes: every recorded verdict changes it.
    func testCheckHistoryVersionChangesWithEveryRecordedVerdict() throws {
        let store = try makeStore()
        let empty = try XCTUnwrap(store.checkHistoryVersion())
        XCTAssertEqual(try store.checkHistoryVersion(), empty)
        try store.recordVerdicts([CheckVerdict(connection: "a", checkedAt: at(1), status: "ok", failure: "none", summary: "healthy")])
        let one = try XCTUnwrap(store.checkHistoryVersion())
        XCTAssertNotEqual(one, empty)
        _ = try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 60, now: at(1))
        try store.recordVerdicts([])
        XCTAssertEqual(try store.checkHistoryVersion(), one, "only verdicts change it")
        try store.recordVerdicts([CheckVerdict(connection: "a", checkedAt: at(2), status: "critical", failure: "expiry", summary: "expired")])
        XCTAssertNotEqual(try store.checkHistoryVersion(), one)
    }

    /// The console keeps its sorted overview until the history or the connections change.
    func testConnectionsVersionChangesWhenAConnectionIsAddedActivatedOrRemoved() throws {
        let store = try makeStore()
        var seen = [try XCTUnwrap(store.connectionsVersion())]
        let issued = try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 600, now: at(1))
        XCTAssertEqual(try store.connectionsVersion(), seen.last, "a link is not a connection")
        let opened = try store.openLink(token: issued.token, now: at(2))
        let made = try store.addConnection(sessionID: opened.session.id, provider: "google", account: nil,
                                           tokens: ProviderTokens(accessToken: "a"), now: at(3))
        seen.append(try XCTUnwrap(store.connectionsVersion()))
        _ = try store.finishSession(id: opened.session.id, now: at(4))
        seen.append(try XCTUnwrap(store.connectionsVersion()))
        _ = try store.removeConnection(id: made.id, now: at(5))
        seen.append(try XCTUnwrap(store.connectionsVersion()))
        XCTAssertEqual(Set(seen).count, 4, "\(seen)")
    }

    /// Schema v3: provider, duration and token expiry come back as recorded; older verdicts have none.
    func testVerdictsKeepProviderDurationAndExpiry() throws {
        let store = try SQLiteStore.inMemory()
        try store.recordVerdicts([
            CheckVerdict(connection: "fb", checkedAt: at(1), status: "ok", failure: "none", summary: "healthy",
                         provider: "facebook", seconds: 0.25, tokenExpiresAt: 1_900_000_000),
            CheckVerdict(connection: "old", checkedAt: at(1), status: "ok", failure: "none", summary: "healthy"),
        ])
        let fb = try XCTUnwrap(store.verdicts(connection: "fb", limit: 1).first)
        XCTAssertEqual(fb.provider, "facebook")
        XCTAssertEqual(fb.seconds, 0.25)
        XCTAssertEqual(fb.tokenExpiresAt, 1_900_000_000)
        let old = try XCTUnwrap(store.recentVerdicts(perConnection: 1)["old"]?.first)
        XCTAssertNil(old.provider)
        XCTAssertNil(old.seconds)
        XCTAssertNil(old.tokenExpiresAt)
    }

    func testRenewedTokensByConnectionName() throws {
        let store = try makeStore()
        XCTAssertNil(try store.renewedTokens(connectionName: "fb-main"))
        XCTAssertEqual(try store.renewedConnectionNames(), [])
        try store.storeRenewedTokens(connectionName: "fb-main", tokens: tokens, now: at(1))
        XCTAssertEqual(try store.renewedConnectionNames(), ["fb-main"], "check asks only these for their tokens")
        XCTAssertEqual(try store.renewedTokens(connectionName: "fb-main"), tokens)
        try store.storeRenewedTokens(connectionName: "fb-main", tokens: ProviderTokens(accessToken: "second"), now: at(2))
        XCTAssertEqual(try store.renewedTokens(connectionName: "fb-main"),
                       ProviderTokens(accessToken: "second", refreshToken: tokens.refreshToken, scopes: tokens.scopes))
        XCTAssertNil(try store.renewedTokens(connectionName: "other"))
    }

    // MARK: concurrency

    /// Fifty browsers open one link at the same moment, through five stores on one database, each
    /// with its own connections (so the database arbitrates, as between processes): exactly one session.
    func testFiftyConcurrentOpensMakeExactlyOneSession() throws {
        let stores = try makeSharedStores(5)
        let first = stores[0]
        for round in 0..<3 {
            let issued = try first.issueLink(client: "Acme \(round)", sources: [], maxSources: nil, ttl: 1000, now: t0)
            let results = Locked<[Result<OpenedSession, Error>]>([])
            let start = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for index in 0..<50 {
                group.enter()
                Thread.detachNewThread {
                    start.wait()
                    let result = Result { try stores[index % stores.count].openLink(token: issued.token, now: at(1)) }
                    results.withLock { $0.append(result) }
                    group.leave()
                }
            }
            for _ in 0..<50 { start.signal() }
            XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
            let all = results.withLock { $0 }
            XCTAssertEqual(all.count, 50)
            let winners = all.compactMap { try? $0.get() }
            XCTAssertEqual(winners.count, 1, "round \(round): exactly one open wins")
            let refusals = all.compactMap { result -> LinkRefusal? in
                if case let .failure(error) = result { return error as? LinkRefusal }
                return nil
            }
            XCTAssertEqual(refusals.count, 49)
            XCTAssertTrue(refusals.allSatisfy { if case .alreadyUsed = $0 { return true } else { return false } }, "\(refusals)")
            XCTAssertEqual(try first.session(linkID: issued.link.id)?.id, winners.first?.session.id, "the one session is the winner's")
        }
    }

    func testConcurrentConnectionsRespectThePlanLimit() throws {
        let stores = try makeSharedStores(2)
        let session = try opened(stores[0], maxSources: 3)
        let added = Locked(0)
        let tokens = self.tokens
        DispatchQueue.concurrentPerform(iterations: 20) { index in
            if (try? stores[index % 2].addConnection(sessionID: session.session.id, provider: "p\(index)", account: nil, tokens: tokens, now: at(2))) != nil {
                added.withLock { $0 += 1 }
            }
        }
        XCTAssertEqual(added.withLock { $0 }, 3)
        XCTAssertEqual(try stores[0].connections(sessionID: session.session.id).count, 3)
    }

    /// Concurrent Finish presses of one session (two instances): one activates, the other is refused.
    func testConcurrentFinishesActivateOnce() throws {
        let stores = try makeSharedStores(2)
        let session = try opened(stores[0])
        _ = try stores[0].addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(2))
        let outcomes = Locked<[Bool]>([])
        DispatchQueue.concurrentPerform(iterations: 10) { index in
            let won = (try? stores[index % 2].finishSession(id: session.session.id, now: at(3))) != nil
            outcomes.withLock { $0.append(won) }
        }
        XCTAssertEqual(outcomes.withLock { $0.filter { $0 }.count }, 1)
        XCTAssertEqual(try stores[1].connections(sessionID: session.session.id).map(\.status), [.active])
    }

    // MARK: upkeep, listings, schema (the rest of the protocol)

    func testPruneRemovesSpentAttemptsAndDeadSessions() throws {
        let store = try makeStore()
        let live = try opened(store, ttl: 10_000)
        let spent = try store.beginAuthorization(pending(live, "facebook"))
        _ = try store.beginAuthorization(pending(live, "google", at: 4))
        _ = try store.consumeAuthorization(state: spent, now: at(5))
        let dying = try opened(store, ttl: 100)
        let orphan = try store.addConnection(sessionID: dying.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(5))
        let emptyDying = try opened(store, ttl: 100)
        let report = try store.prune(now: at(200))
        XCTAssertEqual(report, PruneReport(authorizations: 1, sessions: 1, pendingConnectionsErased: 1))
        XCTAssertEqual(try store.pendingAuthorizations(sessionID: live.session.id), 1, "the live attempt stays")
        XCTAssertNil(try store.session(linkID: emptyDying.link.id), "an expired session without records goes")
        XCTAssertNotNil(try store.session(linkID: dying.link.id), "a session a connection record points at stays")
        XCTAssertThrowsError(try store.connectionCredentials(id: orphan.id)) {
            XCTAssertEqual($0 as? StoreError, .connectionRemoved(orphan.id))
        }
        XCTAssertTrue(try store.prune(now: at(200)).isEmpty, "a second prune finds nothing")
    }

    func testRotateKeyReencryptsEverySealedValue() throws {
        let store = try makeStore()
        let session = try opened(store)
        let connection = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(2))
        try store.storeRenewedTokens(connectionName: "file-conn", tokens: tokens, now: at(2))
        _ = try store.beginAuthorization(pending(session, "google", at: 3))
        let newBox = SecretBox.ephemeral()
        XCTAssertEqual(try store.rotateKey(to: newBox), 3)
        XCTAssertThrowsError(try store.connectionCredentials(id: connection.id), "the old key no longer opens them") {
            XCTAssertEqual($0 as? StoreError, .cannotDecrypt)
        }
    }

    func testConnectableProvidersAndRecentVerdicts() throws {
        let store = try makeStore()
        XCTAssertNil(try store.connectableProviders())
        try store.recordConnectableProviders(["hubspot", "facebook"], now: t0)
        try store.recordConnectableProviders(["google", "facebook"], now: at(1))
        XCTAssertEqual(try store.connectableProviders(), ["facebook", "google"])
        try store.recordVerdicts((0..<5).map { CheckVerdict(connection: "a", checkedAt: at(Double($0)), status: "ok", failure: "none", summary: "s\($0)") }
                                 + [CheckVerdict(connection: "b", checkedAt: at(1), status: "critical", failure: "expiry", summary: "x")])
        let recent = try store.recentVerdicts(perConnection: 2)
        XCTAssertEqual(recent["a"]?.map(\.summary), ["s4", "s3"])
        XCTAssertEqual(recent["b"]?.map(\.status), ["critical"])
        XCTAssertEqual(recent.count, 2)
    }

    /// v1 is frozen; issue 12 added v2 (the attempts-by-session index, the settings table), issue 15
    /// v3 (each verdict's provider, duration and token expiry), issue 16 v4 (operators, the audit log).
    func testMigrationsAreAppliedOnceAndListed() throws {
        let store = try makeStore()
        let status = try store.schemaStatus()
        XCTAssertEqual(status.applied, ["v1", "v2", "v3", "v4", "v5"])
        XCTAssertEqual(status.known, ["v1", "v2", "v3", "v4", "v5"])
        XCTAssertEqual(status.pending, [])
        XCTAssertEqual(status.rows.map(\.0).sorted(),
                       ["audit", "authorizations", "connections", "key_check", "links", "operators", "renewed_tokens", "sessions", "settings",
                        "verdicts"])
        XCTAssertEqual(try store.migrate(), [], "nothing left to apply")
    }

    /// Every row out and back in: a copy opens with the same key and holds the same links,
    /// connections (tokens still sealed, still opening), history and renewed tokens.
    func testExportedRowsImportIntoAnEmptyStore() throws {
        let box = SecretBox.ephemeral()
        let source = try makeStore(box: box)
        let session = try opened(source, maxSources: 5)
        let connection = try source.addConnection(sessionID: session.session.id, provider: "facebook", account: "a", tokens: tokens, now: at(2))
        _ = try source.finishSession(id: session.session.id, now: at(3))
        try source.recordVerdicts([CheckVerdict(connection: connection.id, checkedAt: at(4), status: "ok", failure: "none", summary: "fine")])
        try source.storeRenewedTokens(connectionName: "file-conn", tokens: tokens, now: at(5))
        try source.recordConnectableProviders(["facebook"], now: at(5))
        let alice = try source.addOperator(name: "alice", now: at(6))
        try source.recordAudit(AuditEntry(at: at(7), actor: "alice", method: "GET", route: "/api/links", status: 200))
        let destination = try SQLiteStore(path: try temporaryDirectory(self).appendingPathComponent("copy.sqlite").path,
                                          secretBox: .ephemeral(), checkingKey: false)
        try destination.importRows(try StoreTables.all.map { ($0, try source.exportRows($0)) })
        let reopened = try SQLiteStore(path: destination.path, secretBox: box)
        XCTAssertEqual(try reopened.allLinks(), try source.allLinks())
        XCTAssertEqual(try reopened.allConnections(), try source.allConnections())
        XCTAssertEqual(try reopened.connectionCredentials(id: connection.id), tokens)
        XCTAssertEqual(try reopened.renewedTokens(connectionName: "file-conn"), tokens)
        XCTAssertEqual(try reopened.verdicts(connection: connection.id, limit: 5), try source.verdicts(connection: connection.id, limit: 5))
        XCTAssertEqual(try reopened.connectableProviders(), ["facebook"])
        XCTAssertEqual(try reopened.operatorAccounts(), [alice.account])
        XCTAssertEqual(try reopened.authenticateOperator(token: alice.token, now: at(8))?.name, "alice", "the token hash moved as it was")
        XCTAssertEqual(try reopened.auditEntries(since: nil, actor: nil), try source.auditEntries(since: nil, actor: nil))
        XCTAssertThrowsError(try SQLiteStore(path: destination.path, secretBox: .ephemeral()), "another key is refused at open")
    }

    // MARK: operators and the audit log (issue 16, item 5)

    func testOperatorTokenIsShownOnceAndKeptAsItsDigest() throws {
        let store = try makeStore()
        let added = try store.addOperator(name: "alice", now: at(1))
        XCTAssertTrue(added.token.hasPrefix("ado_"), added.token)
        XCTAssertEqual(added.token.count, 47, "ado_ + 32 random bytes, base64url")
        XCTAssertTrue(OperatorTokens.isTokenShaped(added.token))
        XCTAssertEqual(added.account, OperatorAccount(name: "alice", createdAt: at(1)))
        XCTAssertEqual(try store.operatorAccounts(), [OperatorAccount(name: "alice", createdAt: at(1), lastUsedAt: nil)])
        XCTAssertNotEqual(try store.addOperator(name: "bob", now: at(2)).token, added.token)
        XCTAssertEqual(try store.operatorAccounts().map(\.name), ["alice", "bob"], "by name")

        // The store holds the token's SHA-256 and never the token.
        let rows = try store.exportRows(try XCTUnwrap(StoreTables.all.first { $0.name == "operators" }))
        let values = rows.flatMap { $0 }
        XCTAssertTrue(values.contains(.blob(LinkSecrets.digest(added.token))))
        for value in values {
            if case let .text(text) = value { XCTAssertFalse(text.contains(added.token.dropFirst(4)), "no token in clear") }
            if case let .blob(bytes) = value { XCTAssertFalse(contains(bytes, String(added.token.dropFirst(4))), "no token in clear") }
        }
    }

    func testOperatorTokensAuthenticateAndRecordTheirLastUse() throws {
        let store = try makeStore()
        let added = try store.addOperator(name: "alice", now: at(1))
        XCTAssertEqual(try store.authenticateOperator(token: added.token, now: at(5)), OperatorAccount(name: "alice", createdAt: at(1), lastUsedAt: at(5)))
        XCTAssertEqual(try store.operatorAccounts().first?.lastUsedAt, at(5))
        var flipped = Array(added.token)
        flipped[10] = flipped[10] == "A" ? "B" : "A"
        for wrong in [String(flipped), added.token + "x", String(added.token.dropLast()), "ado_", "", added.token.uppercased(),
                      String(added.token.dropFirst(4)), "Bearer " + added.token, OperatorTokens.newToken()] {
            XCTAssertNil(try store.authenticateOperator(token: wrong, now: at(6)), wrong)
        }
        XCTAssertEqual(try store.operatorAccounts().first?.lastUsedAt, at(5), "a refused token changes nothing")
    }

    func testOperatorNamesAreCheckedAndNeverReused() throws {
        let store = try makeStore()
        let first = try store.addOperator(name: "alice@example.com", now: at(1))
        _ = assertInputError(.data, mentions: ["alice@example.com", "exists"], try store.addOperator(name: "alice@example.com", now: at(2)))
        XCTAssertEqual(try store.authenticateOperator(token: first.token, now: at(3))?.name, "alice@example.com", "the first token still works")
        for bad in ["", "anonymous", "Anonymous", "has space", "tab\there", "x\u{1B}[2J", String(repeating: "a", count: 65), "ünï"] {
            _ = assertInputError(.usage, try store.addOperator(name: bad, now: at(4)))
        }
        XCTAssertEqual(try store.operatorAccounts().map(\.name), ["alice@example.com"])
    }

    func testRemovedOperatorsTokenStopsWorkingAndItsAuditStays() throws {
        let store = try makeStore()
        let added = try store.addOperator(name: "alice", now: at(1))
        try store.recordAudit(AuditEntry(at: at(2), actor: "alice", method: "GET", route: "/api/links", status: 200))
        XCTAssertEqual(try store.removeOperator(name: "alice", now: at(3)).name, "alice")
        XCTAssertNil(try store.authenticateOperator(token: added.token, now: at(4)))
        XCTAssertEqual(try store.operatorAccounts(), [])
        _ = assertInputError(.noInput, mentions: ["alice"], try store.removeOperator(name: "alice", now: at(5)))
        XCTAssertEqual(try store.auditEntries(since: nil, actor: "alice").count, 1)
        let again = try store.addOperator(name: "alice", now: at(6))
        XCTAssertNotEqual(again.token, added.token)
        XCTAssertNil(try store.authenticateOperator(token: added.token, now: at(7)), "the old token stays dead")
    }

    func testAuditEntriesOldestFirstFilteredByTimeAndOperator() throws {
        let store = try makeStore()
        XCTAssertEqual(try store.auditEntries(since: nil, actor: nil), [])
        let entries = [
            AuditEntry(at: at(30), actor: "alice", method: "POST", route: "/api/links/{id}/revoke", target: "lnk_aaaaaaaaaaaa", status: 200),
            AuditEntry(at: at(10), actor: "anonymous", method: "GET", route: "/api/links", status: 401),
            AuditEntry(at: at(20), actor: "alice", method: "POST", route: "/api/links", target: "lnk_bbbbbbbbbbbb", status: 201),
            AuditEntry(at: at(40), actor: "bob", method: "GET", route: "/api/connections/{id}/history", target: "con_cccccccccccc", status: 404),
        ]
        for entry in entries { try store.recordAudit(entry) }
        XCTAssertEqual(try store.auditEntries(since: nil, actor: nil), [entries[1], entries[2], entries[0], entries[3]])
        XCTAssertEqual(try store.auditEntries(since: at(20), actor: nil), [entries[2], entries[0], entries[3]], "since is inclusive")
        XCTAssertEqual(try store.auditEntries(since: nil, actor: "alice"), [entries[2], entries[0]])
        XCTAssertEqual(try store.auditEntries(since: at(25), actor: "alice"), [entries[0]])
        XCTAssertEqual(try store.auditEntries(since: nil, actor: "anonymous"), [entries[1]])
        XCTAssertEqual(try store.auditEntries(since: at(41), actor: nil), [])
    }

    // MARK: history read after an id

    /// What the console reads after a check run: the verdicts after an id, in id order, ids growing,
    /// and the version's newest id is the last one read.
    func testVerdictsAfterAnIDComeInIDOrder() throws {
        let store = try makeStore()
        try store.recordVerdicts((0..<5).map { CheckVerdict(connection: "con_\($0)", checkedAt: at(Double(100 - $0)), status: "ok", failure: "none", summary: "s\($0)") })
        let all = try XCTUnwrap(try store.verdicts(afterID: 0, limit: 100))
        XCTAssertEqual(all.map(\.verdict.summary), ["s0", "s1", "s2", "s3", "s4"])
        XCTAssertEqual(all.map(\.id), all.map(\.id).sorted())
        XCTAssertEqual(Set(all.map(\.id)).count, 5)
        let version = try XCTUnwrap(try store.checkHistoryVersion())
        XCTAssertEqual(version, "\(all.last!.id):5")
        XCTAssertEqual(try store.verdicts(afterID: all[2].id, limit: 100)?.map(\.verdict.summary), ["s3", "s4"])
        XCTAssertEqual(try store.verdicts(afterID: all[0].id, limit: 2)?.map(\.verdict.summary), ["s1", "s2"])
        XCTAssertEqual(try store.verdicts(afterID: all[4].id, limit: 100)?.count, 0)
    }

    // MARK: notifications

    /// Webhook URLs are kept sealed, in the order added, once each; both backends.
    func testNotifyURLsRoundTripInOrder() throws {
        let store = try XCTUnwrap(try makeStore() as? any NotificationStore)
        let slack = "https://hooks.slack.example/services/T000/B000/SlackPathSecret123"
        XCTAssertEqual(try store.notifyURLs(), [])
        try store.addNotifyURL(slack, now: t0)
        try store.addNotifyURL("http://127.0.0.1:9/hook", now: t0)
        try store.addNotifyURL(slack, now: t0)
        XCTAssertEqual(try store.notifyURLs(), [slack, "http://127.0.0.1:9/hook"])
        XCTAssertEqual(try store.removeNotifyURL(slack, now: t0), ["http://127.0.0.1:9/hook"])
        XCTAssertEqual(try store.removeNotifyURL("http://127.0.0.1:9/nothing", now: t0), ["http://127.0.0.1:9/hook"])
    }

    /// Engineers adding URLs at the same moment through several handles: none is lost.
    func testConcurrentAddsOfNotifyURLsAllLand() throws {
        let stores = try makeSharedStores(3).map { try XCTUnwrap($0 as? any NotificationStore) }
        DispatchQueue.concurrentPerform(iterations: 12) { index in
            _ = try? stores[index % stores.count].addNotifyURL("http://127.0.0.1:9/hook\(index)", now: t0)
        }
        XCTAssertEqual(Set(try stores[0].notifyURLs()), Set((0..<12).map { "http://127.0.0.1:9/hook\($0)" }))
    }

    /// One change seen by many workers at once is claimed by exactly one; the same change again by
    /// none; the next change by exactly one.
    func testANotificationIsClaimedExactlyOncePerChange() throws {
        let stores = try makeSharedStores(4).map { try XCTUnwrap($0 as? any NotificationStore) }
        for (round, change) in ["ok>critical:revoked", "critical:revoked>ok", "ok>warning:rate-limit"].enumerated() {
            let winners = Locked(0)
            DispatchQueue.concurrentPerform(iterations: 16) { index in
                if (try? stores[index % stores.count].claimNotification(connection: "con_1", change: change, now: at(Double(round)))) == true {
                    winners.withLock { $0 += 1 }
                }
            }
            XCTAssertEqual(winners.withLock { $0 }, 1, "change \(change): one announcement")
            XCTAssertFalse(try stores[1].claimNotification(connection: "con_1", change: change, now: at(10)), "announced already")
        }
        XCTAssertTrue(try stores[2].claimNotification(connection: "con_2", change: "ok>critical:revoked", now: at(11)),
                      "another connection's change is its own")
    }
}

/// The SQLite-only parts: the file, GRDB's migration table.
final class SQLiteStoreTests: XCTestCase {
    let tokens = ProviderTokens(accessToken: "EAAB-access-token-value", refreshToken: "refresh-token-value",
                                expiresAt: at(3600), scopes: ["ads_read", "business_management"])

    // MARK: schema

    /// v1 is frozen; issue 12 added v2 (the attempts-by-session index, the settings table); issue 15
    /// v3 (a verdict's provider, duration and token expiry, for serve's /metrics); issue 16 v4 (operators, audit).
    func testFrozenMigrationsHoldEveryTable() throws {
        let store = try SQLiteStore.inMemory()
        let (applied, tables) = try store.writer.read { db in
            (try SQLiteStore.migrator.appliedMigrations(db),
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name"))
        }
        XCTAssertEqual(applied, ["v1", "v2", "v3", "v4", "v5"])
        XCTAssertEqual(tables, ["audit", "authorizations", "check_claims", "check_rounds", "connections", "key_check", "links", "operators",
                                "renewed_tokens", "sessions", "settings", "verdicts"])
    }

    func testReopeningAFileKeepsEverything() throws {
        let box = SecretBox.ephemeral()
        let (store, directory) = try fileStore(self, box: box)
        let issued = try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 1000, now: t0)
        let session = try store.openLink(token: issued.token, now: at(1))
        let connection = try store.addConnection(sessionID: session.session.id, provider: "facebook", account: nil, tokens: tokens, now: at(2))
        let reopened = try SQLiteStore(path: directory.appendingPathComponent("authdoctor.sqlite").path, secretBox: box)
        XCTAssertEqual(try reopened.link(id: session.link.id)?.openedAt, at(1))
        XCTAssertEqual(try reopened.connectionCredentials(id: connection.id), tokens)
    }
}

/// A value guarded by a lock, for results gathered from threads.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

final class LinkSecretsTests: XCTestCase {
    func testBase64URLMatchesFoundationWithoutPadding() {
        for length in 0..<40 {
            let bytes = LinkSecrets.randomBytes(length)
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            XCTAssertEqual(LinkSecrets.base64URL(bytes), expected, "length \(length)")
        }
        XCTAssertEqual(LinkSecrets.base64URL([0xFB, 0xFF]), "-_8")
    }

    func testIDsAreBase32AndDistinct() {
        let ids = (0..<1000).map { _ in LinkSecrets.newID(prefix: "con_") }
        XCTAssertEqual(Set(ids).count, 1000)
        XCTAssertTrue(ids.allSatisfy { $0.count == 16 && $0.dropFirst(4).allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) } })
        let firstCharacters = Set(ids.map { $0.dropFirst(4).first! })
        XCTAssertGreaterThan(firstCharacters.count, 20, "every character position varies")
    }

    func testRandomBytesVary() {
        let a = LinkSecrets.randomBytes(32), b = LinkSecrets.randomBytes(32)
        XCTAssertEqual(a.count, 32)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(LinkSecrets.randomBytes(5).count, 5)
    }
}
