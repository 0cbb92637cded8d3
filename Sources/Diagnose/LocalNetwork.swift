import EvidenceModel
import Foundation

/// Issue 14: a local network outage is ours. When every probe that ran failed the same way before
/// reaching anything (no name resolved, no connection made), across at least two different hosts,
/// the machine running authdoctor is the one cut off, not the connection or the client.
public enum LocalNetwork {
    /// The libcurl results that mean "this machine reached nothing", and how to say it.
    static let failures: [Int: String] = [
        5: "could not resolve the proxy (CURLE_COULDNT_RESOLVE_PROXY)",
        6: "could not resolve any host name (CURLE_COULDNT_RESOLVE_HOST)",
        7: "could not connect to any host (CURLE_COULDNT_CONNECT)",
    ]

    /// The libcurl code every probe that ran failed with, when they all failed the same local way
    /// (no probe ran, or one got an answer: nil).
    public static func commonFailure(_ records: [ProbeRecord]) -> Int? {
        let ran = records.filter { $0.outcome != .skipped }
        guard let code = ran.first?.curlCode, failures[code] != nil,
              ran.allSatisfy({ $0.outcome == .transportError && $0.curlCode == code }) else { return nil }
        return code
    }

    /// The distinct hosts the probes that ran were aimed at.
    public static func hosts(_ records: [ProbeRecord]) -> [String] {
        records.filter { $0.outcome != .skipped }.compactMap { URLComponents(string: $0.url)?.host }.uniqued()
    }

    /// "could not resolve any host name (CURLE_…) for a.example, b.example".
    public static func describe(code: Int, hosts: [String]) -> String {
        (failures[code] ?? "failed (curl \(code))") + (hosts.isEmpty ? "" : " for " + hosts.prefix(5).joined(separator: ", "))
    }

    /// The diagnosis facts: `network.local_outage` and `network.local_failure` when every probe of
    /// this diagnosis failed the same local way on two or more hosts.
    static func facts(_ records: [ProbeRecord], into facts: inout Facts) {
        guard let code = commonFailure(records) else { return }
        let hosts = hosts(records)
        guard hosts.count >= 2 else { return }
        facts.set("network.local_outage", true)
        facts.set("network.local_failure", describe(code: code, hosts: hosts))
    }

    /// What a report says, once, when the machine cannot reach the network.
    public static func message(_ failure: String) -> String {
        "This machine cannot reach the network (\(failure)): the connections and the clients are not the cause. Check this machine's DNS, network and proxy, then run again."
    }
}
