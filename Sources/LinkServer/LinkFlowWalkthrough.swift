import EvidenceModel
import Foundation
import Hummingbird
import Links
import Logging
import Probe

/// One step of the walkthrough as `authdoctor demo` prints it.
public struct LinkFlowStep: Sendable {
    public var title: String
    public var outcome: String
    public var asExpected: Bool
}

/// What the client side of a link does, scripted: `authdoctor demo` runs it against a live link
/// server on loopback whose providers are the Sandbox's test OAuth servers. Every request is real
/// HTTP through libcurl; the "browser" keeps the cookies the server sets and nothing else.
public enum LinkFlowWalkthrough {
    public struct Outcome: Sendable {
        public var steps: [LinkFlowStep]
        public var connections: [StoredConnection]
        public var allAsExpected: Bool { steps.allSatisfy(\.asExpected) }
    }

    /// issue → open → Connect each provider (authorize at the Sandbox, callback) → Finish → a second
    /// open of the spent link, which must be refused.
    public static func run(store: any AuthDoctorStore, clients: [String: OAuthClientSetup], providers: [String],
                           client: String, timeout: Double = 5) async throws -> Outcome {
        let (urls, continuation) = AsyncStream<String>.makeStream()
        let application = buildApplication(
            configuration: LinkServerConfiguration(host: "127.0.0.1", port: 0, clients: clients, exchangeTimeout: timeout),
            store: store, logger: Logger(label: "authdoctor.demo", factory: { _ in SwiftLogNoOpLogHandler() }),
            onServerRunning: { url in continuation.yield(url) })
        let server = Task { try await application.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        var iterator = urls.makeAsyncIterator()
        guard let base = await iterator.next() else { throw LinkFlowError("the link server did not start") }

        var steps: [LinkFlowStep] = []
        func step(_ title: String, _ outcome: String, _ ok: Bool) { steps.append(LinkFlowStep(title: title, outcome: outcome, asExpected: ok)) }

        let issued = try store.issueLink(client: client, sources: providers, maxSources: nil, ttl: 3600, now: Date())
        step("links issue --client \"\(client)\" --sources \(providers.joined(separator: ","))",
             "\(issued.link.id), expires \(RFC3339.string(issued.link.expiresAt))", true)

        let browser = ScriptedBrowser(base: base, timeout: timeout)
        // The GET shows the start page (a link preview fetching the URL uses nothing up); Start posts.
        let startPage = await browser.get("/l/\(issued.token)")
        let started = startPage.status == 200 ? await browser.post("/l/\(issued.token)/open", form: [("start", "1")]) : startPage
        let page = started.status == 303 ? await browser.get("/l/\(issued.token)") : started
        step("the client opens the link and presses Start", "HTTP \(page.status); a session starts in this browser",
             startPage.status == 200 && started.status == 303 && page.status == 200)
        var csrf = page.formToken

        for provider in providers {
            let started = await browser.post("/l/\(issued.token)/connect/\(provider)", form: [("csrf", csrf ?? "")])
            guard started.status == 303, let authorize = started.location else {
                step("Connect \(provider)", "refused: HTTP \(started.status)", false)
                continue
            }
            // The provider's consent screen: the Sandbox approves and sends the browser back.
            let consent = await browser.getAbsolute(authorize)
            guard consent.status == 302, let callback = consent.location, let target = browser.target(of: callback) else {
                step("Connect \(provider)", "the authorization server answered HTTP \(consent.status)", false)
                continue
            }
            let back = await browser.get(target)
            let landed = back.status == 303 ? await browser.get(browser.target(of: back.location ?? "") ?? "/l/\(issued.token)") : back
            csrf = landed.formToken ?? csrf
            let granted = back.status == 303 && landed.status == 200
            step("Connect \(provider): OAuth code flow with PKCE (S256) at the Sandbox, code exchanged through libcurl",
                 granted ? "granted; pending until Finish" : "callback answered HTTP \(back.status)", granted)
        }

        let pendingBefore = try store.allConnections().filter { $0.linkID == issued.link.id && $0.status == .pending }.count
        let finished = await browser.post("/l/\(issued.token)/finish", form: [("csrf", csrf ?? "")])
        let connections = try store.allConnections().filter { $0.linkID == issued.link.id }
        let active = connections.filter { $0.status == .active }
        step("the client presses Finish", "HTTP \(finished.status); \(active.count) of \(pendingBefore) connection\(pendingBefore == 1 ? "" : "s") active",
             finished.status == 200 && active.count == providers.count)

        let again = await ScriptedBrowser(base: base, timeout: timeout).get("/l/\(issued.token)")
        step("another browser opens the same link", "HTTP \(again.status) (single use)", again.status == 410)
        return Outcome(steps: steps, connections: active)
    }
}

struct LinkFlowError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A browser reduced to what the link pages need: GET and form POST through libcurl, cookies kept
/// by name and path, the Origin header a real browser sends on a form post.
final class ScriptedBrowser: @unchecked Sendable {
    struct Page {
        var status: Int
        var location: String?
        var body: String

        /// The anti-forgery token of the page's forms.
        var formToken: String? {
            guard let range = body.range(of: #"name="csrf" value=""#) else { return nil }
            return String(body[range.upperBound...].prefix(while: { $0 != "\"" }))
        }
    }

    let base: String
    let timeout: Double
    private var cookies: [String: (name: String, value: String, path: String)] = [:]
    private let prober = Prober()

    init(base: String, timeout: Double) {
        self.base = base
        self.timeout = timeout
    }

    func target(of url: String) -> String? {
        url.hasPrefix(base + "/") ? String(url.dropFirst(base.count)) : nil
    }

    func get(_ target: String) async -> Page {
        await send(ProbeRequest(method: "GET", url: base + target, headers: cookieHeaders(for: target), totalTimeout: timeout))
    }

    /// A page of another origin (the authorization server): no cookies of ours go there.
    func getAbsolute(_ url: String) async -> Page {
        await send(ProbeRequest(method: "GET", url: url, totalTimeout: timeout))
    }

    func post(_ target: String, form: [(String, String)]) async -> Page {
        let headers = cookieHeaders(for: target) + [HTTPHeader("Content-Type", "application/x-www-form-urlencoded"), HTTPHeader("Origin", base)]
        return await send(ProbeRequest(method: "POST", url: base + target, headers: headers,
                                       body: Array(FormEncoding.encode(form).utf8), totalTimeout: timeout))
    }

    private func cookieHeaders(for target: String) -> [HTTPHeader] {
        let path = String(target.prefix(while: { $0 != "?" }))
        let matching = cookies.values.filter { path.hasPrefix($0.path) }.map { "\($0.name)=\($0.value)" }.sorted()
        return matching.isEmpty ? [] : [HTTPHeader("Cookie", matching.joined(separator: "; "))]
    }

    private func send(_ request: ProbeRequest) async -> Page {
        let result = await prober.perform(request)
        for line in result.headerValues("Set-Cookie") {
            let parts = line.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let pair = parts.first, let equals = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<equals]), value = String(pair[pair.index(after: equals)...])
            let path = parts.first { $0.lowercased().hasPrefix("path=") }.map { String($0.dropFirst(5)) } ?? "/"
            cookies[name + " " + path] = (name, value, path)
        }
        return Page(status: result.status ?? 0, location: result.header("Location"), body: result.bodyText)
    }
}
