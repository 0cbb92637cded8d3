import EmbeddedResources
import EvidenceModel
import Foundation

/// A YAML or fixture file, by its path relative to the package root ("rules/facebook/token.yaml").
public struct SourceFile: Sendable {
    public var path: String
    public var text: String
    public init(path: String, text: String) { self.path = path; self.text = text }
}

/// Where rules and fixtures come from: the set built into the binary, and local folders
/// (`--rules DIR`, `AUTHDOCTOR_RULES`, `--fixtures DIR`).
public enum RuleLibrary {
    /// Provider definitions (issue 3) live beside the rules but are not rules.
    static func isRuleFile(_ path: String) -> Bool {
        (path.hasSuffix(".yaml") || path.hasSuffix(".yml")) && !path.contains("/providers/")
    }

    public static func builtinRuleFiles() -> [SourceFile] {
        EmbeddedResources.files(under: "rules/").filter { isRuleFile($0.path) }.map { SourceFile(path: $0.path, text: $0.text) }
    }

    public static func builtinFixtures() -> [String: String] {
        var out: [String: String] = [:]
        for file in EmbeddedResources.files(under: "fixtures/") {
            out[String(file.path.dropFirst("fixtures/".count))] = file.text
        }
        return out
    }

    /// Every YAML file under a folder, paths shown relative to the folder's parent ("rules/x.yaml").
    /// A single rule file given instead of a folder (`--rules my-rule.yaml`) is that file alone.
    public static func ruleFiles(in directory: String) throws(InputError) -> [SourceFile] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
            guard directory.hasSuffix(".yaml") || directory.hasSuffix(".yml") else {
                throw InputError(.noInput, "not a rules folder or a .yaml rule file", place: directory)
            }
            let data = try SystemIO.readFile(directory, noun: "rule file")
            guard let text = String(data: data, encoding: .utf8) else {
                throw InputError(.config, "the rule file is not UTF-8 text", place: directory)
            }
            return [SourceFile(path: directory, text: text)]
        }
        return try files(in: directory, where: isRuleFile)
    }

    public static func fixtures(in directory: String) throws(InputError) -> [String: String] {
        var out: [String: String] = [:]
        for file in try files(in: directory, where: { EvidenceLoader.format(forPath: $0) != nil }) {
            out[String(file.path.split(separator: "/", maxSplits: 1).last ?? "")] = file.text
        }
        return out
    }

    static func files(in directory: String, where include: (String) -> Bool) throws(InputError) -> [SourceFile] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(.noInput, fm.fileExists(atPath: directory) ? "not a directory" : "no such directory", place: directory)
        }
        let base = URL(fileURLWithPath: directory).standardizedFileURL
        let label = base.lastPathComponent
        var out: [SourceFile] = []
        guard let walker = fm.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let relative = label + "/" + url.standardizedFileURL.path.dropFirst(base.path.count + 1)
            guard include(relative), !url.lastPathComponent.hasPrefix(".") else { continue }
            guard let data = fm.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
                throw InputError(.noInput, "cannot read the file as UTF-8 text", place: url.path)
            }
            out.append(SourceFile(path: relative, text: text))
        }
        return out.sorted { $0.path < $1.path }
    }

    /// Loads the built-in set (unless excluded) and then each folder; a folder's rule or remediation
    /// with the id of an earlier one replaces it. Returns the set and every problem found.
    /// - Parameter checkBuiltin: compile the built-in set's regular expressions now (lint, tests);
    ///   otherwise they compile on first use. Local folders are always checked at once.
    public static func load(includeBuiltin: Bool = true, directories: [String] = [], checkBuiltin: Bool = false) throws(InputError) -> (RuleSet, [LintIssue]) {
        // The usual case, the built-in set alone: straight from its snapshot, index included, each
        // rule decoded when first needed (the layer path below decodes and indexes them all).
        if includeBuiltin, !checkBuiltin, directories.isEmpty, let set = builtinFromSnapshot() { return (set, []) }
        var layers: [Layer] = []
        if includeBuiltin { layers.append(checkBuiltin ? Layer(files: builtinRuleFiles(), check: true) : .builtin) }
        for directory in directories { layers.append(Layer(files: try ruleFiles(in: directory), check: true)) }
        var (set, issues) = assemble(layers)
        // Whether each rule's advice fits it (placeholders, categories, actors): `rules lint`/`test`
        // and local folders; the built-in set is proven clean by the tests.
        if checkBuiltin || !directories.isEmpty { issues += AdviceLint.issues(set) }
        lastLoaded.keep(set)
        return (set, issues)
    }

    /// The built-in set alone, which cannot fail (the tests prove it clean): from its snapshot,
    /// else parsed from the embedded files.
    public static func builtin() -> RuleSet {
        if let set = builtinFromSnapshot() { return set }
        let (set, _) = assemble([.builtin])
        lastLoaded.keep(set)
        return set
    }

    private static func builtinFromSnapshot() -> RuleSet? {
        guard let set = RuleSnapshot.loadSet(key: RuleSnapshot.builtinKey, version: RuleSnapshot.builtinVersion) else { return nil }
        lastLoaded.keep(set)
        return set
    }

    /// The last rule set loaded stays referenced: freeing a thousand rules object by object when a
    /// one-shot command returns cost 4% of its run.
    static let lastLoaded = KeptUntilReplaced<RuleSet>()

    public static func assemble(_ layers: [[SourceFile]]) -> (RuleSet, [LintIssue]) {
        assemble(layers.map { Layer(files: $0, check: true) })
    }

    typealias Loaded = (rules: [Rule], remediations: [Remediation], variants: [RemediationVariant], issues: [LintIssue])

    /// One layer of rules and how to get it.
    struct Layer {
        let load: () -> Loaded
        /// The layer's version in reports (a hash of its files).
        let version: String

        /// Parsed from these files (regular expressions compiled now when checked).
        init(files: [SourceFile], check: Bool) {
            load = { loadLayer(files, check: check) }
            version = RuleSnapshot.contentHash(files)
        }

        private init(version: String, load: @escaping () -> Loaded) {
            self.version = version
            self.load = load
        }

        /// The built-in set, unchecked: from the snapshot cache under the build's digest of the rule
        /// files (no decoding or hashing of the texts), else parsed once and cached.
        static var builtin: Layer { Layer(version: RuleSnapshot.builtinVersion) {
            if let cached = RuleSnapshot.load(key: RuleSnapshot.builtinKey) { return (cached.rules, cached.remediations, cached.variants, []) }
            let loader = RuleLoader.loadConcurrently(builtinRuleFiles(), compileRegexesNow: false)
            if loader.issues.isEmpty { RuleSnapshot.store(loader.rules, loader.remediations, loader.variants, key: RuleSnapshot.builtinKey) }
            return (loader.rules, loader.remediations, loader.variants, loader.issues)
        } }
    }

    /// A layer's rules: from the snapshot cache when the layer is not being checked, else parsed;
    /// a clean parse of an unchecked layer refreshes the cache.
    static func loadLayer(_ files: [SourceFile], check: Bool) -> Loaded {
        if !check, let cached = RuleSnapshot.load(for: files) {
            return (cached.rules, cached.remediations, cached.variants, [])
        }
        let loader = RuleLoader.loadConcurrently(files, compileRegexesNow: check)
        if !check && loader.issues.isEmpty {
            RuleSnapshot.store(loader.rules, loader.remediations, loader.variants, for: files)
        }
        return (loader.rules, loader.remediations, loader.variants, loader.issues)
    }

    static func assemble(_ layers: [Layer]) -> (RuleSet, [LintIssue]) {
        var rules: [Rule] = []
        var remediations: [Remediation] = []
        var variants: [RemediationVariant] = []
        var issues: [LintIssue] = []
        for layer in layers {
            let loaded = layer.load()
            let newVariants = Set(loaded.variants.map(\.id))
            variants.removeAll { newVariants.contains($0.id) }
            variants += loaded.variants
            issues += loaded.issues
            var ids: [String: Rule] = [:]
            for rule in loaded.rules {
                if let first = ids[rule.id] {
                    issues.append(LintIssue(file: rule.file, line: rule.line, message: "duplicate rule id '\(rule.id)' (first at \(first.place))"))
                    continue
                }
                ids[rule.id] = rule
            }
            rules.removeAll { ids[$0.id] != nil }
            // The first of each id (the duplicates were reported above): by identity, not by place (two strings a rule).
            rules += loaded.rules.filter { ids[$0.id] === $0 }
            let newRemediations = Set(loaded.remediations.map(\.id))
            remediations.removeAll { newRemediations.contains($0.id) }
            remediations += loaded.remediations
        }
        let known = Set(remediations.map(\.id))
        for rule in rules {
            for id in rule.remediation where !known.contains(id) {
                issues.append(LintIssue(file: rule.file, line: rule.line, message: "rule '\(rule.id)' names unknown remediation '\(id)'"))
            }
        }
        for variant in variants where !known.contains(variant.remediation) {
            issues.append(LintIssue(file: variant.file, line: variant.line, message: "variant names unknown remediation '\(variant.remediation)'"))
        }
        let ruleIDs = Set(rules.map(\.id))
        for variant in variants {
            for id in variant.rules where !ruleIDs.contains(id) {
                issues.append(LintIssue(file: variant.file, line: variant.line, message: "variant of '\(variant.remediation)' names unknown rule '\(id)'"))
            }
        }
        for rule in rules {
            for id in rule.explains where !ruleIDs.contains(id) && !Vocabulary.failures.contains(id) {
                issues.append(LintIssue(file: rule.file, line: rule.line, message: "rule '\(rule.id)' explains '\(id)', which is neither a rule id nor a failure class"))
            }
        }
        // One layer: its own version; several: a hash of theirs.
        let version = layers.count == 1 ? layers[0].version
            : RuleSnapshot.contentHash(layers.map { SourceFile(path: "layer", text: $0.version) })
        return (RuleSet(rules: rules, remediations: remediations, variants: variants, version: version), issues)
    }
}

/// Holds the last value given until the next one (or the process's exit): start-up structures a
/// command would otherwise free piece by piece just before it ends. One value at most, so a process
/// that reloads its rules keeps no more than one copy.
final class KeptUntilReplaced<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?

    func keep(_ value: Value) {
        lock.lock()
        self.value = value
        lock.unlock()
    }
}
