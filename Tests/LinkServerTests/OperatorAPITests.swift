// The operator API of `serve` (issue 16, item 5) through the router, without a socket: bearer
// tokens of operators, JSON answers that validate against schema/openapi.yaml, the audit log of
// every call, and the OpenAPI file held to the router's routes both ways.

import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import LinkServer
@testable import Links
import RuleEngine
import XCTest
import Yams

/// schema/openapi.yaml, parsed, with a validator per component schema.
struct OpenAPIDocument {
    let document: JSONValue

    static func load() throws -> OpenAPIDocument {
        let text = try String(contentsOfFile: TestPaths.schemaDirectory + "/openapi.yaml", encoding: .utf8)
        return OpenAPIDocument(document: try jsonValue(XCTUnwrap(Yams.load(yaml: text))))
    }

    /// YAML's values as JSON (mappings become objects; their order is not kept).
    static func jsonValue(_ value: Any) throws -> JSONValue {
        switch value {
        case let v as Bool: return .bool(v)
        case let v as Int: return .int(v)
        case let v as Double: return .double(v)
        case let v as String: return .string(v)
        case is NSNull: return .null
        case let v as [Any]: return .array(try v.map(jsonValue))
        case let v as [String: Any]: return .object(try v.keys.sorted().map { ($0, try jsonValue(v[$0]!)) })
        case let v as [AnyHashable: Any]:
            return .object(try v.keys.map { "\($0)" }.sorted().map { key in (key, try jsonValue(v.first { "\($0.key)" == key }!.value)) })
        default: throw TestFailure("a YAML value that is not JSON: \(type(of: value))")
        }
    }

    /// Every operation as "METHOD /path/{param}".
    var operations: Set<String> {
        var out = Set<String>()
        for (path, item) in document["paths"]?.objectValue ?? [] {
            for (method, _) in item.objectValue ?? [] where ["get", "post", "put", "patch", "delete", "head", "options"].contains(method) {
                out.insert(method.uppercased() + " " + path)
            }
        }
        return out
    }

    var schemaNames: [String] { (document["components"]?["schemas"]?.objectValue ?? []).map(\.0) }

    /// A validator for one component schema. OpenAPI's `#/components/schemas/X` references become
    /// `#/$defs/X`; the component's own keywords sit at the root beside `$defs`, so the validator
    /// checks every keyword of it (an unsupported one is refused, never ignored).
    func validator(_ name: String) throws -> JSONSchemaValidator {
        let schemas = try XCTUnwrap(document["components"]?["schemas"]?.objectValue)
        let defs = schemas.map { ($0.0, Self.rewritingRefs($0.1)) }
        guard case let .object(own)? = defs.first(where: { $0.0 == name })?.1 else { throw TestFailure("no schema \(name)") }
        return try JSONSchemaValidator(schema: .object(own + [("$defs", .object(defs))]))
    }

    static func rewritingRefs(_ value: JSONValue) -> JSONValue {
        switch value {
        case let .object(members):
            return .object(members.map { key, member in
                if key == "$ref", case let .string(ref) = member {
                    return (key, .string(ref.replacingOccurrences(of: "#/components/schemas/", with: "#/$defs/")))
                }
                return (key, rewritingRefs(member))
            })
        case let .array(items): return .array(items.map(rewritingRefs))
        default: return value
        }
    }

    /// The schema name documented for a route's answer with this status (following `$ref`s to responses).
    func responseSchema(_ method: String, _ path: String, status: Int) -> String? {
        guard var response = document["paths"]?[path]?[method.lowercased()]?["responses"]?[String(status)] else { return nil }
        if let ref = response["$ref"]?.stringValue, let name = ref.split(separator: "/").last {
            guard let resolved = document["components"]?["responses"]?[String(name)] else { return nil }
            response = resolved
        }
        let ref = response["content"]?["application/json"]?["schema"]?["$ref"]?.stringValue
        return ref.map { String($0.split(separator: "/").last ?? "") }
    }
}

final class OperatorAPITests: XCTestCase {
    static let spec: OpenAPIDocument = {
        do { return try OpenAPIDocument.load() } catch { fatalError("schema/openapi.yaml: \(error)") }
    }()

    /// A server with the operator API on `store` (SQLite in memory unless given), its clock and log.
    struct APIHarness {
        var harness: Harness
        var store: any AuthDoctorStore

        init(store: (any AuthDoctorStore)? = nil) throws {
            harness = try Harness()
            self.store = store ?? harness.store
        }

        static func catalog() throws -> LinkSourceCatalog {
            let (definitions, _) = try ProviderLibrary.load()
            return LinkSourceCatalog(known: Set(definitions.keys), withOAuth: Set(definitions.values.filter { $0.oauth != nil }.map(\.id)))
        }

        func application() throws -> some ApplicationProtocol {
            buildApplication(configuration: harness.configuration, store: store, logger: harness.log.logger,
                             operatorAPI: OperatorAPI(catalog: try Self.catalog()))
        }

        /// Runs `test` with a function that sends one API call (method, target, bearer token, JSON body).
        func withAPI(_ test: @escaping @Sendable (_ call: @escaping @Sendable (String, String, String?, String?) async throws -> Reply) async throws -> Void) async throws {
            try await application().test(.router) { client in
                try await test { method, target, token, body in
                    var fields = HTTPFields()
                    if let token { fields[.authorization] = "Bearer " + token }
                    if body != nil { fields[.contentType] = "application/json" }
                    let response = try await client.execute(uri: target, method: HTTPRequest.Method(method)!, headers: fields,
                                                            body: body.map { ByteBuffer(string: $0) })
                    return Reply(status: response.status.code, headers: response.headers.map { ($0.name.rawName, $0.value) },
                                 body: String(buffer: response.body))
                }
            }
        }
    }

    /// The answer is JSON that validates against the schema the OpenAPI file documents for this route and status.
    @discardableResult
    static func assertDocumented(_ reply: Reply, _ method: String, _ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        XCTAssertEqual(reply.header("Content-Type"), "application/json; charset=utf-8", file: file, line: line)
        XCTAssertEqual(reply.header("Cache-Control"), "no-store", file: file, line: line)
        let name = try XCTUnwrap(Self.spec.responseSchema(method, path, status: reply.status),
                                 "\(method) \(path) answered \(reply.status), which schema/openapi.yaml does not document", file: file, line: line)
        let document = try JSON.parse(reply.body)
        let issues = try Self.spec.validator(name).validate(document)
        XCTAssertEqual(issues, [], "\(method) \(path) \(reply.status) against \(name): \(issues)\n\(reply.body)", file: file, line: line)
        return document
    }

    // MARK: the OpenAPI file and the router

    /// Every route of the listener (link pages, monitoring and the operator API) is in
    /// schema/openapi.yaml, and every operation there is a route.
    func testEveryRouteIsDocumentedAndEveryDocumentedRouteExists() throws {
        let harness = try Harness()
        let metrics = MetricsEndpoint(listen: nil, bearerToken: "metrics-token", exposition: { "" })
        var withProbe = metrics
        withProbe.probe = { _, _ in (200, "") }
        let router = makeRouter(configuration: harness.configuration, store: harness.store, origin: PublicOrigin(nil), metrics: withProbe,
                                operatorAPI: OperatorAPI(catalog: try APIHarness.catalog()))
        let routes = Set(router.routes.map { "\($0.method.rawValue) \($0.path)" })
        XCTAssertTrue(routes.contains("POST /api/links/{id}/revoke"), "route templates read as OpenAPI writes them: \(routes.sorted())")
        XCTAssertEqual(routes.subtracting(Self.spec.operations).sorted(), [], "routes the OpenAPI file does not document")
        XCTAssertEqual(Self.spec.operations.subtracting(routes).sorted(), [], "documented operations the server does not have")
        XCTAssertEqual(Set(OperatorAPI.Route.allCases.map(\.rawValue)), Set(routes.filter { $0.contains(" /api/") }))
        // Every component schema is one the validator applies faithfully (no unknown keyword).
        for name in Self.spec.schemaNames { XCTAssertNoThrow(try Self.spec.validator(name), name) }
        XCTAssertEqual(Self.spec.document["openapi"]?.stringValue, "3.1.0")
    }

    // MARK: authentication

    /// A missing, malformed, unknown or removed token: the same 401, with WWW-Authenticate, that
    /// never says which; each is in the audit log as `anonymous`, with the id the path named.
    func testCallsWithoutAValidTokenAreRefusedAlikeAndAudited() async throws {
        let api = try APIHarness()
        let store = api.store
        let removed = try store.addOperator(name: "gone", now: api.harness.clock.now)
        _ = try store.removeOperator(name: "gone", now: api.harness.clock.now)
        let live = try store.addOperator(name: "alice", now: api.harness.clock.now)
        try await api.withAPI { call in
            var bodies = Set<String>()
            let attempts: [(String, String, String?)] = [
                ("GET", "/api/links", nil), ("GET", "/api/links", "wrong"), ("GET", "/api/connections", removed.token),
                ("POST", "/api/links/lnk_aaaaaaaaaaaa/revoke", String(live.token.dropLast()) + "x"),
                ("GET", "/api/connections/con_bbbbbbbbbbbb/history", live.token.uppercased()),
                ("POST", "/api/links", OperatorTokens.newToken()),
            ]
            for (method, target, token) in attempts {
                let reply = try await call(method, target, token, method == "POST" ? #"{"client": "Acme"}"# : nil)
                XCTAssertEqual(reply.status, 401, "\(method) \(target)")
                XCTAssertEqual(reply.header("WWW-Authenticate"), #"Bearer realm="authdoctor operators""#)
                let template = OperatorAPI.Route.allCases.first { $0.method == method && Self.matches(target, $0.path) }!.path
                try OperatorAPITests.assertDocumented(reply, method, template)
                bodies.insert(reply.body)
            }
            XCTAssertEqual(bodies.count, 1, "one answer for every reason: \(bodies)")
        }
        XCTAssertEqual(try store.allLinks(), [], "nothing was issued")
        let audit = try store.auditEntries(since: nil, actor: nil)
        XCTAssertEqual(audit.map(\.actor), Array(repeating: "anonymous", count: 6))
        XCTAssertEqual(audit.map(\.status), Array(repeating: 401, count: 6))
        XCTAssertEqual(audit.map(\.route), ["/api/links", "/api/links", "/api/connections", "/api/links/{id}/revoke",
                                            "/api/connections/{id}/history", "/api/links"])
        XCTAssertEqual(audit.map(\.target), [nil, nil, nil, "lnk_aaaaaaaaaaaa", "con_bbbbbbbbbbbb", nil])
        XCTAssertNil(try store.operatorAccounts().first?.lastUsedAt, "a refused call is no use of alice's token")
    }

    /// Authorization headers that are not `Bearer <token>` are refused like a wrong token.
    func testOnlyABearerHeaderCarriesAToken() async throws {
        let api = try APIHarness()
        let live = try api.store.addOperator(name: "alice", now: api.harness.clock.now)
        try await api.application().test(.router) { client in
            for header in ["Basic YWxpY2U6eA==", live.token, "Bearer", "Token " + live.token, "Bearer " + live.token + " extra"] {
                let response = try await client.execute(uri: "/api/links", method: .get, headers: [.authorization: header])
                XCTAssertEqual(response.status.code, 401, header)
            }
            for header in ["Bearer " + live.token, "bearer " + live.token, "Bearer  " + live.token] {
                let response = try await client.execute(uri: "/api/links", method: .get, headers: [.authorization: header])
                XCTAssertEqual(response.status.code, 200, header)
            }
        }
    }

    static func matches(_ target: String, _ template: String) -> Bool {
        OperatorAPI.Route.matches(String(target.split(separator: "?")[0]), template)
    }

    /// Paths and methods the API does not have, and odd spellings of its paths: JSON errors too.
    func testUnknownRoutesMethodsAndOddPathsUnderAPIAreJSON() async throws {
        let api = try APIHarness()
        let alice = try api.store.addOperator(name: "alice", now: api.harness.clock.now)
        try await api.withAPI { call in
            let missing = try await call("GET", "/api/nothing", alice.token, nil)
            XCTAssertEqual(missing.status, 404)
            XCTAssertEqual(missing.header("Content-Type"), "application/json; charset=utf-8")
            XCTAssertEqual(try JSON.parse(missing.body)["error"]?["code"]?.stringValue, "not_found")
            for (method, target, allow) in [("DELETE", "/api/links", "POST, GET"), ("GET", "/api/links/lnk_aaaaaaaaaaaa/revoke", "POST"),
                                            ("POST", "/api/connections", "GET")] {
                let reply = try await call(method, target, alice.token, nil)
                XCTAssertEqual(reply.status, 405, "\(method) \(target)")
                XCTAssertEqual(reply.header("Allow"), allow)
                XCTAssertEqual(try JSON.parse(reply.body)["error"]?["code"]?.stringValue, "method_not_allowed")
            }
            for odd in ["/api/connections/%09%09/history", "/api/links/%C3%84/revoke", "/api//links", "/api/links/../links"] {
                let reply = try await call("GET", odd, alice.token, nil)
                XCTAssertEqual(reply.status, 400, odd)
                let error = try OperatorAPITests.assertDocumented(reply, "GET", "/api/connections/{id}/history")
                XCTAssertEqual(error["error"]?["code"]?.stringValue, "bad_request")
            }
            // The link pages keep their own answers.
            let page = try await call("GET", "/l//x", nil, nil)
            XCTAssertTrue(page.body.contains("<!doctype html>"))
        }
    }

    // MARK: links

    /// Issue (the URL once), list, revoke: the answers validate against the OpenAPI file, the link
    /// opens with the URL's token, and the audit log names alice, the route, the link and the status.
    func testIssueListAndRevokeALink() async throws {
        let api = try APIHarness()
        let store = api.store
        let alice = try store.addOperator(name: "alice", now: api.harness.clock.now)
        let issuedID = Locked<String>("")
        try await api.withAPI { call in
            let issued = try await call("POST", "/api/links", alice.token,
                                        #"{"client": "  Acme Ltd ", "sources": ["google", "facebook", "google"], "ttl": "48h", "maxSources": 2}"#)
            XCTAssertEqual(issued.status, 201, issued.body)
            let link = try OperatorAPITests.assertDocumented(issued, "POST", "/api/links")
            let id = try XCTUnwrap(link["id"]?.stringValue)
            issuedID.withLock { $0 = id }
            XCTAssertEqual(link["client"]?.stringValue, "Acme Ltd")
            XCTAssertEqual(link["sources"], .array([.string("google"), .string("facebook")]))
            XCTAssertEqual(link["maxSources"], .int(2))
            let url = try XCTUnwrap(link["url"]?.stringValue)
            XCTAssertTrue(url.hasPrefix(Harness.publicURL + "/l/"), url)
            let token = String(url.dropFirst(Harness.publicURL.count + 3))
            XCTAssertEqual(try store.link(token: token)?.id, id, "the URL's token opens the link")
            XCTAssertEqual(try XCTUnwrap(store.link(id: id)?.expiresAt).timeIntervalSince1970,
                           api.harness.clock.now.addingTimeInterval(48 * 3600).timeIntervalSince1970, accuracy: 0.001)

            let listed = try await call("GET", "/api/links", alice.token, nil)
            XCTAssertEqual(listed.status, 200)
            let links = try OperatorAPITests.assertDocumented(listed, "GET", "/api/links")
            XCTAssertEqual(links["links"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, [id])
            XCTAssertEqual(links["links"]?.arrayValue?.first?["state"]?.stringValue, "issued")
            XCTAssertFalse(listed.body.contains(token), "the URL is answered once")

            let revoked = try await call("POST", "/api/links/\(id)/revoke", alice.token, nil)
            XCTAssertEqual(revoked.status, 200)
            XCTAssertEqual(try OperatorAPITests.assertDocumented(revoked, "POST", "/api/links/{id}/revoke")["state"]?.stringValue, "revoked")
            let again = try await call("POST", "/api/links/\(id)/revoke", alice.token, nil)
            XCTAssertEqual(again.status, 200, "revoking twice changes nothing")
            let unknown = try await call("POST", "/api/links/lnk_nothere12345/revoke", alice.token, nil)
            XCTAssertEqual(unknown.status, 404)
            XCTAssertEqual(try OperatorAPITests.assertDocumented(unknown, "POST", "/api/links/{id}/revoke")["error"]?["code"]?.stringValue, "unknown_link")
        }
        let id = issuedID.withLock { $0 }
        XCTAssertEqual(try store.link(id: id)?.state(at: api.harness.clock.now), .revoked)
        let audit = try store.auditEntries(since: nil, actor: "alice")
        XCTAssertEqual(audit.map { "\($0.method) \($0.route) \($0.target ?? "-") \($0.status)" }, [
            "POST /api/links \(id) 201", "GET /api/links - 200", "POST /api/links/{id}/revoke \(id) 200",
            "POST /api/links/{id}/revoke \(id) 200", "POST /api/links/{id}/revoke lnk_nothere12345 404",
        ])
        XCTAssertEqual(try XCTUnwrap(store.operatorAccounts().first?.lastUsedAt).timeIntervalSince1970, api.harness.clock.now.timeIntervalSince1970, accuracy: 0.001)
        // No operator token and no link token in the server's log.
        XCTAssertFalse(api.harness.log.text.contains(alice.token))
        XCTAssertFalse(api.harness.log.text.contains(String(alice.token.dropFirst(4))))
    }

    /// A body `links issue` would refuse is refused with the same words (400), and nothing is issued.
    func testBadLinkRequestsAreRefusedAsLinksIssueRefusesThem() async throws {
        let api = try APIHarness()
        let store = api.store
        let alice = try store.addOperator(name: "alice", now: api.harness.clock.now)
        try await api.withAPI { call in
            let cases: [(String, String)] = [
                (#"{"client": "Acme", "sources": ["nosuchprovider"]}"#, "a link cannot connect nosuchprovider (unknown provider)"),
                (#"{"client": "Acme", "ttl": "3w"}"#, "ttl must be a positive whole number"),
                (#"{"client": "Acme", "ttl": "400d"}"#, "at most 365d"),
                (#"{"client": "   "}"#, "client needs a name"),
                (#"{"client": "Acme", "maxSources": 0}"#, "maxSources must be 1 or more"),
                (#"{"client": "Acme", "provider": "google"}"#, "unknown member 'provider'"),
                (#"{"sources": ["google"]}"#, "client is required"),
                (#"{"client": 7}"#, "client must be a string"),
                (#"{"client": "Acme", "sources": "google"}"#, "sources must be an array"),
                (#"{"client": "Acme", "client": "Other"}"#, "given twice"),
                ("not json", "must be a JSON object"),
                ("[]", "must be a JSON object"),
                ("", "must be a JSON object"),
            ]
            for (body, needle) in cases {
                let reply = try await call("POST", "/api/links", alice.token, body)
                XCTAssertEqual(reply.status, 400, body)
                let error = try OperatorAPITests.assertDocumented(reply, "POST", "/api/links")
                XCTAssertEqual(error["error"]?["code"]?.stringValue, "bad_request")
                let message = error["error"]?["message"]?.stringValue ?? ""
                XCTAssertTrue(message.contains(needle), "\(body): \(message)")
                XCTAssertFalse(message.contains("\n"))
            }
            // A provider without an OAuth sign-in, as `links issue --sources` words it.
            let definitions = try ProviderLibrary.load().0
            if let noOAuth = definitions.values.first(where: { $0.oauth == nil })?.id {
                let reply = try await call("POST", "/api/links", alice.token, #"{"client": "Acme", "sources": ["\#(noOAuth)"]}"#)
                XCTAssertEqual(reply.status, 400)
                XCTAssertTrue(reply.body.contains("not connected through an OAuth sign-in"), reply.body)
            }
        }
        try await api.application().test(.router) { client in
            let form = try await client.execute(uri: "/api/links", method: .post,
                                                headers: [.authorization: "Bearer " + alice.token, .contentType: "application/x-www-form-urlencoded"],
                                                body: ByteBuffer(string: "client=Acme"))
            XCTAssertEqual(form.status.code, 415)
            let big = try await client.execute(uri: "/api/links", method: .post,
                                               headers: [.authorization: "Bearer " + alice.token, .contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"client": ""# + String(repeating: "a", count: 20_000) + #""}"#))
            XCTAssertEqual(big.status.code, 413)
        }
        XCTAssertEqual(try store.allLinks(), [], "nothing was issued")
        XCTAssertEqual(try store.auditEntries(since: nil, actor: "alice").map(\.status).filter { $0 == 201 }, [])
        XCTAssertEqual(Set(try store.auditEntries(since: nil, actor: "alice").map(\.status)), [400, 413, 415])
    }

    /// A call whose audit entry cannot be written is not answered: 503 with Retry-After, and the
    /// link's URL is withheld.
    func testACallThatCannotBeAuditedIsWithheld() async throws {
        let api = try APIHarness()
        let alice = try api.store.addOperator(name: "alice", now: api.harness.clock.now)
        try await api.harness.store.writer.write { db in try db.execute(sql: "DROP TABLE audit") }
        try await api.withAPI { call in
            let reply = try await call("POST", "/api/links", alice.token, #"{"client": "Acme"}"#)
            XCTAssertEqual(reply.status, 503)
            XCTAssertEqual(reply.header("Retry-After"), "5")
            let error = try OperatorAPITests.assertDocumented(reply, "POST", "/api/links")
            XCTAssertEqual(error["error"]?["code"]?.stringValue, "unavailable")
            XCTAssertFalse(reply.body.contains("/l/"), "no link URL without its audit entry")
        }
        XCTAssertTrue(api.harness.log.text.contains("audit entry not written"), api.harness.log.text)
    }

    // MARK: connections

    func testConnectionsAndTheirHistory() async throws {
        let t0 = Date(timeIntervalSince1970: 1_790_000_000)
        let api = try APIHarness()
        let store = api.store
        let alice = try store.addOperator(name: "alice", now: t0)
        let issued = try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 3600, now: t0)
        let opened = try store.openLink(token: issued.token, now: t0)
        let tokens = ProviderTokens(accessToken: "ya29.secret-access-token", refreshToken: "1//secret-refresh", expiresAt: t0.addingTimeInterval(3600),
                                    scopes: ["email"])
        let connection = try store.addConnection(sessionID: opened.session.id, provider: "google", account: "ops@example.com", tokens: tokens, now: t0)
        _ = try store.finishSession(id: opened.session.id, now: t0)
        var verdicts: [CheckVerdict] = []
        for n in 0..<30 {
            let ok = n % 2 == 0
            verdicts.append(CheckVerdict(connection: connection.id, checkedAt: t0.addingTimeInterval(Double(n) * 60), status: ok ? "ok" : "critical",
                                         failure: ok ? "none" : "expiry", summary: "run \(n)"))
        }
        try store.recordVerdicts(verdicts)
        try store.recordVerdicts([CheckVerdict(connection: "shop-ads", checkedAt: t0, status: "warning", failure: "rate-limit", summary: "file connection")])
        try await api.withAPI { call in
            let listed = try await call("GET", "/api/connections", alice.token, nil)
            XCTAssertEqual(listed.status, 200)
            let connections = try OperatorAPITests.assertDocumented(listed, "GET", "/api/connections")
            XCTAssertEqual(connections["connections"]?.arrayValue?.first?["id"]?.stringValue, connection.id)
            XCTAssertEqual(connections["connections"]?.arrayValue?.first?["status"]?.stringValue, "active")
            for secret in [tokens.accessToken, tokens.refreshToken!] { XCTAssertFalse(listed.body.contains(secret), "no provider token in the answer") }

            let history = try await call("GET", "/api/connections/\(connection.id)/history", alice.token, nil)
            XCTAssertEqual(history.status, 200)
            let doc = try OperatorAPITests.assertDocumented(history, "GET", "/api/connections/{id}/history")
            XCTAssertEqual(doc["verdicts"]?.arrayValue?.count, OperatorAPI.defaultHistoryLimit)
            XCTAssertEqual(doc["verdicts"]?.arrayValue?.first?["summary"]?.stringValue, "run 29", "newest first")
            let five = try await call("GET", "/api/connections/\(connection.id)/history?limit=5", alice.token, nil)
            XCTAssertEqual(try OperatorAPITests.assertDocumented(five, "GET", "/api/connections/{id}/history")["verdicts"]?.arrayValue?.count, 5)
            let file = try await call("GET", "/api/connections/shop-ads/history", alice.token, nil)
            XCTAssertEqual(try OperatorAPITests.assertDocumented(file, "GET", "/api/connections/{id}/history")["verdicts"]?.arrayValue?.count, 1,
                           "a connections file's connection has a history under its name")
            for bad in ["0", "x", "10001", "-1"] {
                let reply = try await call("GET", "/api/connections/\(connection.id)/history?limit=\(bad)", alice.token, nil)
                XCTAssertEqual(reply.status, 400, bad)
                try OperatorAPITests.assertDocumented(reply, "GET", "/api/connections/{id}/history")
            }
            let unknown = try await call("GET", "/api/connections/con_nothere12345/history", alice.token, nil)
            XCTAssertEqual(unknown.status, 404)
            XCTAssertEqual(try OperatorAPITests.assertDocumented(unknown, "GET", "/api/connections/{id}/history")["error"]?["code"]?.stringValue, "unknown_connection")
        }
        let audit = try store.auditEntries(since: nil, actor: "alice")
        XCTAssertEqual(audit.first.map { "\($0.route) \($0.target ?? "-") \($0.status)" }, "/api/connections - 200")
        XCTAssertEqual(audit.dropFirst().first.map { "\($0.route) \($0.target ?? "-") \($0.status)" }, "/api/connections/{id}/history \(connection.id) 200")
        XCTAssertEqual(audit.last.map { "\($0.target ?? "-") \($0.status)" }, "con_nothere12345 404")
        XCTAssertEqual(audit.count, 9)
    }
}

/// The operator API on a PostgreSQL store (the server `make test` starts: scripts/pg-test-server.sh).
final class PostgresOperatorAPITests: XCTestCase {
    static let passwordVariable = "AUTHDOCTOR_PG_TEST_STORE_PASSWORD"

    /// A fresh database, dropped at the end of the test.
    func freshStore() throws -> PostgresStore {
        let environment = ProcessInfo.processInfo.environment
        guard let port = environment["AUTHDOCTOR_PG_TEST_PORT"], environment[Self.passwordVariable] != nil else {
            throw XCTSkip("no PostgreSQL test server: run `make test` (AUTHDOCTOR_PG_TEST_PORT, \(Self.passwordVariable))")
        }
        let base = "postgres://storeowner@127.0.0.1:\(port)/"
        let admin = try PostgresLocation(url: base + "authdoctor_store?sslmode=disable", passwordVariable: Self.passwordVariable)
        let name = "api_" + LinkSecrets.newID(prefix: "")
        try PGConnection.connect(admin.parameters).exec("CREATE DATABASE \(name)")
        addTeardownBlock {
            if let c = try? PGConnection.connect(admin.parameters) { _ = try? c.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        }
        let location = try PostgresLocation(url: base + name + "?sslmode=disable", passwordVariable: Self.passwordVariable)
        return try PostgresStore(location: location, secretBox: .ephemeral())
    }

    /// Issue, list, revoke and read connections through the API on PostgreSQL; a refused call and
    /// every accepted one are in the audit log, and a second store on the same database (another
    /// `serve` instance) sees the operator, the link and the entries.
    func testTheOperatorAPIOnAPostgreSQLStore() async throws {
        let store = try freshStore()
        let api = try OperatorAPITests.APIHarness(store: store)
        let alice = try store.addOperator(name: "alice", now: api.harness.clock.now)
        let linkID = Locked<String>("")
        try await api.withAPI { call in
            let refused = try await call("GET", "/api/links", "ado_" + String(repeating: "A", count: 43), nil)
            XCTAssertEqual(refused.status, 401)
            XCTAssertEqual(refused.header("WWW-Authenticate"), #"Bearer realm="authdoctor operators""#)
            let issued = try await call("POST", "/api/links", alice.token, #"{"client": "Acme", "sources": ["google"], "ttl": "2h"}"#)
            XCTAssertEqual(issued.status, 201, issued.body)
            let link = try OperatorAPITests.assertDocumented(issued, "POST", "/api/links")
            let id = try XCTUnwrap(link["id"]?.stringValue)
            linkID.withLock { $0 = id }
            let listed = try await call("GET", "/api/links", alice.token, nil)
            XCTAssertEqual(try OperatorAPITests.assertDocumented(listed, "GET", "/api/links")["links"]?.arrayValue?.count, 1)
            let revoked = try await call("POST", "/api/links/\(id)/revoke", alice.token, nil)
            XCTAssertEqual(try OperatorAPITests.assertDocumented(revoked, "POST", "/api/links/{id}/revoke")["state"]?.stringValue, "revoked")
            let connections = try await call("GET", "/api/connections", alice.token, nil)
            XCTAssertEqual(try OperatorAPITests.assertDocumented(connections, "GET", "/api/connections")["connections"]?.arrayValue?.count, 0)
            let history = try await call("GET", "/api/connections/con_nothere12345/history", alice.token, nil)
            XCTAssertEqual(history.status, 404)
        }
        let id = linkID.withLock { $0 }
        let other = try PostgresStore(location: store.target, secretBox: .ephemeral(), checkingKey: false)
        XCTAssertEqual(try XCTUnwrap(other.link(id: id)?.revokedAt).timeIntervalSince1970, api.harness.clock.now.timeIntervalSince1970, accuracy: 0.001)
        XCTAssertEqual(try XCTUnwrap(other.operatorAccounts().first?.lastUsedAt).timeIntervalSince1970, api.harness.clock.now.timeIntervalSince1970, accuracy: 0.001)
        let audit = try other.auditEntries(since: nil, actor: nil)
        XCTAssertEqual(audit.map { "\($0.actor) \($0.method) \($0.route) \($0.target ?? "-") \($0.status)" }, [
            "anonymous GET /api/links - 401", "alice POST /api/links \(id) 201", "alice GET /api/links - 200",
            "alice POST /api/links/{id}/revoke \(id) 200", "alice GET /api/connections - 200",
            "alice GET /api/connections/{id}/history con_nothere12345 404",
        ])
    }
}

/// A value guarded by a lock, for results gathered in a test's closures.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
