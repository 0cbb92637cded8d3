// Reads `scenarios.yaml` into scenarios, collecting every problem with its line (like RuleLoader).

import EvidenceModel
import YAMLSupport
import Yams

struct ScenarioFileReader {
    let file: String
    let fixture: (String) -> String?
    private(set) var issues: [CatalogIssue] = []

    static let topKeys: Set<String> = ["scenarios"]
    static let scenarioKeys: Set<String> = ["id", "provider", "description", "expect", "options", "credentials", "routes", "fault"]

    init(file: String, fixture: @escaping (String) -> String?) {
        self.file = file
        self.fixture = fixture
    }

    mutating func read(_ yaml: String) -> [SandboxScenario] {
        let root: Node?
        do {
            // The basic resolver keeps every scalar a string ("5550001112223" stays text).
            root = try Yams.compose(yaml: yaml, .basic)
        } catch {
            issues.append(CatalogIssue(file: file, line: YAMLProblems.line(of: error), message: "invalid YAML: \(YAMLProblems.oneLine(error))"))
            return []
        }
        guard let root, let top = root.mapping else {
            issue(root, "expected a mapping with a `scenarios:` list")
            return []
        }
        checkKeys(top, allowed: Self.topKeys, in: "the scenarios file")
        guard let list = top["scenarios"] else {
            issue(root, "missing `scenarios:` (a list of scenarios)")
            return []
        }
        guard let items = list.sequence else {
            issue(list, "`scenarios` must be a list")
            return []
        }

        var scenarios: [SandboxScenario] = []
        var idLines: [String: Int] = [:]
        // Token value → (scenario id, line), to report a token that would pick two scenarios.
        var tokenOwners: [String: (scenario: String, line: Int)] = [:]
        for item in items {
            let before = issues.count
            guard let scenario = readScenario(item) else { continue }
            if let first = idLines[scenario.id] {
                issue(item.mapping?["id"] ?? item, "duplicate scenario id '\(scenario.id)' (first at line \(first))")
            } else {
                idLines[scenario.id] = line(item)
            }
            let credentials = item.mapping?["credentials"]?.mapping
            for name in SandboxScenario.tokenCredentialNames.sorted() {
                guard let value = scenario.credentials[name] else { continue }
                let valueNode = credentials?[name]
                if let owner = tokenOwners[value], owner.scenario != scenario.id {
                    issue(valueNode, "\(name) '\(Self.shown(value))' already picks scenario '\(owner.scenario)' (line \(owner.line)); every token must name one scenario")
                } else if tokenOwners[value] == nil {
                    tokenOwners[value] = (scenario.id, line(valueNode))
                }
            }
            if issues.count == before { scenarios.append(scenario) }
        }
        return scenarios
    }

    // MARK: one scenario

    private mutating func readScenario(_ node: Node) -> SandboxScenario? {
        guard let map = node.mapping else {
            issue(node, "a scenario must be a mapping (id, provider, expect, credentials, routes or fault)")
            return nil
        }
        let before = issues.count
        checkKeys(map, allowed: Self.scenarioKeys, in: "a scenario")

        let id = requiredString(map, "id", of: node) ?? "?"
        if id != "?" && !id.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." || $0 == "_" }) {
            issue(map["id"], "scenario id '\(id)' must be lower-case letters, digits, '-', '.' or '_'")
        }
        let provider = requiredString(map, "provider", of: node) ?? ""
        let expect = requiredString(map, "expect", of: node) ?? ""
        var description = ""
        if let d = map["description"] {
            if let s = d.scalar?.string { description = s } else { issue(d, "'description' must be text") }
        }

        var credentials: [String: String] = [:]
        if let c = map["credentials"] {
            credentials = readCredentials(c)
        }

        var options: [String: String] = [:]
        if let o = map["options"] {
            options = readOptions(o)
        }

        var routes: [SandboxRoute] = []
        if let r = map["routes"] {
            routes = readRoutes(r)
        }

        var fault: SandboxFault?
        if let f = map["fault"] {
            if let name = f.scalar?.string, let known = SandboxFault(rawValue: name) {
                fault = known
            } else {
                issue(f, "unknown fault '\(f.scalar?.string ?? "?")' (known: \(SandboxFault.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }

        switch (map["routes"] != nil, map["fault"] != nil) {
        case (true, true): issue(map["fault"], "a scenario has routes or a fault, not both")
        case (false, false):
            // An offline scenario: diagnose classifies the evidence its options name (`har`, `url`).
            if options["har"] == nil && options["url"] == nil {
                issue(node, "scenario '\(id)' needs `routes:` (METHOD /path: fixture), `fault:`, or an offline `options:` har/url")
            }
            if let har = options["har"], fixture(har) == nil {
                issue(map["options"], "fixture '\(har)' does not exist under fixtures/")
            }
        case (true, false):
            if map["routes"]?.mapping?.count == 0 { issue(map["routes"], "`routes` is empty") }
            if credentials.isEmpty {
                issue(map["credentials"] ?? node, "scenario '\(id)' has routes but no credentials, so no request can reach it")
            }
        case (false, true): break
        }

        guard issues.count == before else { return nil }
        return SandboxScenario(id: id, provider: provider, description: description, expect: expect, options: options,
                               credentials: credentials, routes: routes, fault: fault, place: "\(file):\(line(node))")
    }

    private mutating func readCredentials(_ node: Node) -> [String: String] {
        guard let map = node.mapping else {
            issue(node, "`credentials` must be a mapping (token: ..., client-id: ...)")
            return [:]
        }
        var credentials: [String: String] = [:]
        for (key, value) in map {
            guard let name = key.scalar?.string, !name.isEmpty,
                  name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
                issue(key, "credential names are lower-case words joined by '-' (token, client-id, refresh-token, ...)")
                continue
            }
            guard let text = value.scalar?.string, !text.isEmpty else {
                issue(value, "credential '\(name)' must be a non-empty scalar")
                continue
            }
            if credentials[name] != nil { issue(key, "duplicate credential '\(name)'"); continue }
            credentials[name] = text
        }
        return credentials
    }

    /// Diagnose flags for the scenario (`expect-account: x`, `expect-scopes: [a, b]`); a list is
    /// kept comma-separated, as the flag takes it. The Sandbox only carries them.
    private mutating func readOptions(_ node: Node) -> [String: String] {
        guard let map = node.mapping else {
            issue(node, "`options` must be a mapping of diagnose flags without '--' (expect-account: ...)")
            return [:]
        }
        var options: [String: String] = [:]
        for (key, value) in map {
            guard let name = key.scalar?.string, !name.isEmpty, !name.hasPrefix("-"),
                  name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
                issue(key, "option names are diagnose flags without '--', in lower case (expect-account, warn-expiry, ...)")
                continue
            }
            if options[name] != nil { issue(key, "duplicate option '\(name)'"); continue }
            if let text = value.scalar?.string {
                options[name] = text
            } else if let items = value.sequence, items.allSatisfy({ $0.scalar != nil }) {
                options[name] = items.compactMap { $0.scalar?.string }.joined(separator: ",")
            } else {
                issue(value, "option '\(name)' must be a scalar or a list of scalars")
            }
        }
        return options
    }

    private mutating func readRoutes(_ node: Node) -> [SandboxRoute] {
        guard let map = node.mapping else {
            issue(node, "`routes` must be a mapping: \"METHOD /path\": fixture")
            return []
        }
        var routes: [SandboxRoute] = []
        var seen: Set<String> = []
        for (key, value) in map {
            let text = key.scalar?.string ?? ""
            let parts = text.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }), parts[1].hasPrefix("/"),
                  !parts[1].contains("?"), !parts[1].contains("#") else {
                issue(key, "route '\(text)' must be METHOD /path (upper-case method, path without query), e.g. GET /v19.0/me")
                continue
            }
            let method = String(parts[0]), path = String(parts[1])
            if !seen.insert("\(method) \(path)").inserted {
                issue(key, "duplicate route '\(method) \(path)'")
                continue
            }
            guard let fixturePath = value.scalar?.string, !fixturePath.isEmpty else {
                issue(value, "route '\(text)' must name a fixture under fixtures/")
                continue
            }
            guard let raw = fixture(fixturePath) else {
                issue(value, "fixture '\(fixturePath)' does not exist under fixtures/")
                continue
            }
            let evidence: Evidence
            do {
                evidence = try ResponseParser.parse(raw, source: fixturePath)
            } catch {
                issue(value, "fixture '\(fixturePath)' does not parse: \(error.description)")
                continue
            }
            guard evidence.kind == .response, let final = evidence.finalResponse else {
                issue(value, "fixture '\(fixturePath)' holds no HTTP response to replay (give a `curl -i` output)")
                continue
            }
            routes.append(SandboxRoute(method: method, path: path, fixture: fixturePath, recorded: final))
        }
        return routes
    }

    // MARK: helpers

    private mutating func requiredString(_ map: Node.Mapping, _ key: String, of node: Node) -> String? {
        guard let value = map[key] else { issue(node, "scenario is missing '\(key)'"); return nil }
        guard let s = value.scalar?.string, !s.isEmpty else { issue(value, "'\(key)' must be a non-empty string"); return nil }
        return s
    }

    private mutating func checkKeys(_ map: Node.Mapping, allowed: Set<String>, in what: String) {
        var seen: Set<String> = []
        for (key, _) in map {
            let name = key.scalar?.string ?? "?"
            if !allowed.contains(name) {
                issue(key, "unknown key '\(name)' in \(what) (allowed: \(allowed.sorted().joined(separator: ", ")))")
            } else if !seen.insert(name).inserted {
                issue(key, "duplicate key '\(name)' in \(what)")
            }
        }
    }

    private mutating func issue(_ node: Node?, _ message: String) {
        issues.append(CatalogIssue(file: file, line: line(node), message: message))
    }

    private func line(_ node: Node?) -> Int { node?.mark?.line ?? 1 }

    /// A token as an issue may quote it: sandbox values in full, anything else only by its length.
    static func shown(_ value: String) -> String {
        value.hasPrefix("sbx-") ? value : "<\(value.count) characters>"
    }

}
