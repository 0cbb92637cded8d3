import Diagnose
import EvidenceModel
import Foundation
import RuleEngine
import Sandbox

/// The authorization-link part of `authdoctor demo`: a link issued into a throwaway store, the
/// client's side walked through a live link server whose providers are the Sandbox's test OAuth
/// servers, then each connection it made diagnosed with its stored (decrypted) token.
package enum LinkFlowDemo {
    package static let providers = ["facebook", "google-ads"]

    /// The walk itself, which needs the link server: set by `authdoctor-serve` (Sources/ServeCLI).
    /// Without it `demo` hands over to that executable.
    package nonisolated(unsafe) static var walk: ((SandboxServer, ClassifyEngine, Double) throws -> Result)?

    package struct Step {
        package var title: String
        package var outcome: String
        package var asExpected: Bool

        package init(title: String, outcome: String, asExpected: Bool) {
            self.title = title
            self.outcome = outcome
            self.asExpected = asExpected
        }
    }

    package struct Result {
        package var steps: [Step]
        /// provider → the failure class its diagnosis found ("none" when healthy).
        package var diagnoses: [(provider: String, found: String)]
        package var asExpected: Bool { steps.allSatisfy(\.asExpected) && diagnoses.count == LinkFlowDemo.providers.count && diagnoses.allSatisfy { $0.found == "none" } }
        package init(steps: [Step], diagnoses: [(provider: String, found: String)]) {
            self.steps = steps
            self.diagnoses = diagnoses
        }
    }

    static func text(_ result: Result, color: Bool) -> String {
        func mark(_ ok: Bool) -> String { ok ? (color ? "\u{1B}[32m✔\u{1B}[0m" : "✔") : (color ? "\u{1B}[31m✖\u{1B}[0m" : "✖") }
        var out = "\nAuthorization link, end to end on loopback (authdoctor serve + the Sandbox's OAuth servers):\n"
        for (index, step) in result.steps.enumerated() {
            out += "  \(mark(step.asExpected)) \(index + 1). \(step.title)\n       \(step.outcome)\n"
        }
        for (provider, found) in result.diagnoses {
            out += "  \(mark(found == "none")) diagnose \(provider) with the connection's stored token: \(found == "none" ? "healthy" : found)\n"
        }
        return out
    }
}

package struct LinkFlowDemoError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }

    package init(message: String) { self.message = message }
}
