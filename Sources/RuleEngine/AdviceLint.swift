import EvidenceModel

/// Whether each rule's advice fits it (docs/RULES.md "Remediation variants", "Who acts"):
/// - every `{fact}` placeholder of a step the rule can show is a fact the rule guarantees (its
///   `when` needs it on every path), one the variant `requires`, or one always present;
/// - no step written for destinations (fix-authentication-errors 2.x) reaches a source or API-token
///   finding, and no source step reaches a destination finding;
/// - the rule's actor is one its failure class allows (Vocabulary.allowedActors), and a destination's
///   network policy is the client's to change.
/// Checked for every provider the rule can see (its `provider:` condition or the provider its id is
/// named after, else each known one and none).
public enum AdviceLint {
    /// Facts every finding has.
    static let alwaysPresent: Set<String> = ["input.kind"]

    public static func issues(_ set: RuleSet) -> [LintIssue] {
        var out: [LintIssue] = []
        var seen = Set<String>()
        func add(_ rule: Rule, _ message: String) {
            guard seen.insert(rule.id + "\u{1}" + message).inserted else { return }
            out.append(LintIssue(file: rule.file, line: rule.line, message: message))
        }
        for rule in set.rules {
            let guaranteed = rule.guaranteedFacts.union(alwaysPresent)
            for family in providerFamilies(for: rule) {
                let known = guaranteed.union(family.isEmpty ? [] : ["provider"])
                for id in rule.remediation {
                    for (remediation, sure) in set.reachableRemediations(id, for: rule, providerFamily: family) {
                        let whose = remediation.variant.map { "variant \($0) of '\(id)'" } ?? "'\(id)'"
                        if !remediation.suitableCategories.contains(rule.category) {
                            add(rule, "rule '\(rule.id)' (\(rule.category)) shows \(whose), written for \(remediation.suitableCategories.joined(separator: "/")) findings (\(remediation.doc)); add a variant for \(rule.category) in rules/remediation-variants/ or name another remediation")
                        }
                        for step in remediation.steps {
                            for fact in RuleLoader.placeholders(in: step) where !known.contains(fact) && !sure.contains(fact) {
                                add(rule, "\(whose) fills {\(fact)}, which rule '\(rule.id)' does not guarantee (require it in `when`, or give the variant `requires: [\(fact)]`)")
                            }
                        }
                    }
                }
            }
            let actor = rule.actor ?? Vocabulary.defaultActor(for: rule.failure)
            let allowed = Vocabulary.allowedActors(for: rule.failure)
            if !allowed.contains(actor) {
                add(rule, "rule '\(rule.id)' says actor \(actor), but for \(rule.failure) the next step is taken by \(allowed.joined(separator: " or "))")
            }
            // A destination's own firewall or network policy belongs to the client.
            if rule.failure == "network-policy" && rule.category == "destination" && actor != "client" {
                add(rule, "rule '\(rule.id)' blocks by the destination's network policy, which the client changes: actor client, not \(actor)")
            }
        }
        return out
    }

    /// The provider families a rule's finding can carry: its own providers', or every known one and none.
    public static func providerFamilies(for rule: Rule) -> [[String]] {
        if let providers = rule.impliedProviders { return providers.map(ProviderDetector.family(of:)) }
        return ProviderDetector.known.map(ProviderDetector.family(of:)) + [[]]
    }
}
