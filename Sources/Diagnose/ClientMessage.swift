import EvidenceModel
import Foundation
import RuleEngine

/// The message a support engineer forwards to the client when the client must act: what happened
/// and what to do, in plain words, with the authorization link when one was issued. No internal
/// words (rule, fact, confidence, document sections), no secrets.
public enum ClientMessage {
    static let providerNames: [String: String] = [
        "google": "Google", "google-ads": "Google Ads", "google-analytics": "Google Analytics", "google-sheets": "Google Sheets",
        "bigquery": "BigQuery", "looker-studio": "Looker Studio", "facebook": "Facebook (Meta)", "linkedin": "LinkedIn",
        "hubspot": "HubSpot", "snowflake": "Snowflake", "redshift": "Amazon Redshift", "postgres": "PostgreSQL",
        "platform-api": "our API", "oauth2": "the connected service",
    ]

    /// What happened and what to do, per failure class, in the client's words.
    static func words(_ finding: Finding, evidence: [String: String]) -> (happened: String, todo: String) {
        switch finding.failure {
        case "expiry":
            return ("the access you gave us has expired", "Please sign in again and approve access")
        case "revoked":
            return ("the access you gave us was removed on your side", "If you want the data to keep flowing, please sign in again and approve access")
        case "scopes":
            return ("the access you approved does not cover everything the connection needs",
                    "Please sign in again and leave every requested permission selected")
        case "permissions":
            return ("the account you connected does not have enough rights to the data",
                    "Please ask an administrator of that account to give it access, or connect with an administrator's account")
        case "multi-account":
            return ("access was approved with a different account than the one that holds the data",
                    "Please sign in with only the right account open (a private browser window helps) and approve access again")
        case "looker-400":
            return ("installing the connector failed because several Google accounts were signed in at once",
                    "Please sign out of every Google account except the one that owns the report, or use a private window, and install the connector again")
        case "credentials":
            return ("the login details we have are no longer accepted",
                    "Please check the user name, password or key and send us the current ones, or sign in again")
        case "network-policy":
            let ip = evidence["network.refused_ip"].map { " (it refused the address \($0))" } ?? ""
            return ("your firewall or network policy blocks our servers\(ip)",
                    "Please ask your administrator to allow our IP addresses in that firewall or network policy")
        case "session-unfinished":
            return ("the connection was not completed", "Please open the link again, connect your accounts and press Finish at the end")
        case "subscription", "plan-limit":
            return ("the account has reached its plan's limit or is no longer active", "Please check the plan and its limits")
        case "configuration":
            return ("the connection settings no longer match your account", "Please check the account, host or database named in the settings")
        default:
            return ("the connection needs a change on your side", "Please review the account's access for us")
        }
    }

    public static func compose(_ report: Report) -> String? {
        // A machine that reached nothing has nothing to tell the client.
        guard report.localNetwork == nil else { return nil }
        let clientFindings = report.findings.filter { $0.actor == "client" && $0.explainedBy == nil }
        guard !clientFindings.isEmpty else { return nil }
        // Only the refused address is quoted from the evidence (the facts' value wins).
        var refusedIP: String?
        for finding in clientFindings {
            for item in finding.evidence where item.name == "network.refused_ip" { refusedIP = item.value.stringValue }
        }
        if let ip = report.facts?.string("network.refused_ip") { refusedIP = ip }
        let link = clientFindings.compactMap(\.link).first ?? report.findings.compactMap(\.link).first
        guard link == nil else { return message(report.provider, clientFindings, refusedIP: refusedIP, link: link) }
        // Without a link the message is one of few (provider × failure classes): a batch of
        // thousands of records composes each once.
        var key = report.provider ?? ""
        for finding in clientFindings { key += "\u{1}" + finding.failure + (finding.needsReauthorization ? "+" : "") }
        if let refusedIP { key += "\u{2}" + refusedIP }
        return composed.value(for: key) { message(report.provider, clientFindings, refusedIP: refusedIP, link: nil) }
    }

    static let composed = MessageCache()

    static func message(_ provider: String?, _ clientFindings: [Finding], refusedIP: String?, link: FindingLink?) -> String {
        let first = clientFindings[0]
        let name = provider.flatMap { providerNames[$0] } ?? "your account"
        var evidence: [String: String] = [:]
        if let refusedIP { evidence["network.refused_ip"] = refusedIP }
        var lines = ["Hello,", ""]
        let (happened, todo) = words(first, evidence: evidence)
        lines.append("Our connection to \(name) stopped working: \(happened). \(todo).")
        for other in clientFindings.dropFirst() where other.failure != first.failure {
            let (h, t) = words(other, evidence: evidence)
            lines.append("Also, \(h). \(t).")
        }
        if let link {
            lines.append("")
            lines.append("You can do it with this link (it works once, until \(humanDate(link.expiresAt))):")
            lines.append(link.url)
        } else if clientFindings.contains(where: \.needsReauthorization) {
            lines.append("")
            lines.append("We will send you a link to sign in again.")
        }
        lines.append("")
        lines.append("Thank you.")
        // The link's URL carries its single-use token on purpose; everything else is redacted.
        return lines.map { $0 == link?.url ? $0 : Redactor.redact($0) }.joined(separator: "\n") + "\n"
    }

    /// Composed messages by what they depend on, shared by the threads of a batch.
    final class MessageCache: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [String: String] = [:]

        func value(for key: String, make: () -> String) -> String {
            lock.lock()
            if let cached = messages[key] { lock.unlock(); return cached }
            lock.unlock()
            let made = make()
            lock.lock()
            if messages.count < 4096 { messages[key] = made }
            lock.unlock()
            return made
        }
    }

    static func humanDate(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "d MMMM yyyy, HH:mm 'UTC'"
        return f.string(from: date)
    }
}
