import EvidenceModel
import Foundation

/// A Snowflake account identifier as people paste it, read the way Snowflake's documented formats
/// (docs.snowflake.com, "Account identifiers") and its connectors read it:
///
/// - `ORGNAME-ACCOUNT_NAME` (preferred): the host is `orgname-account_name.snowflakecomputing.com`;
///   `ORGNAME.ACCOUNT_NAME` (the SQL form) means the same account and is written with a hyphen.
/// - `LOCATOR`, `LOCATOR.REGION` or `LOCATOR.REGION.CLOUD` (legacy): the host keeps region and cloud
///   (`xy12345.us-east-2.aws.snowflakecomputing.com`); `.privatelink` may follow either form.
/// - a whole URL (`https://xy12345.eu-central-1.snowflakecomputing.com/...`) or a Snowsight URL
///   (`https://app.snowflake.com/ORGNAME/ACCOUNT_NAME/...`).
///
/// The login request's `ACCOUNT_NAME` and a key-pair JWT's `iss`/`sub` name the account without
/// region, cloud or private-link parts (the connectors keep what comes before the first dot).
public struct SnowflakeAccount: Sendable, Equatable {
    /// What goes before `.snowflakecomputing.com`, lower-cased ("xy12345.eu-central-1", "myorg-account1").
    public let host: String
    /// The account as the login request and JWT claims name it, upper-cased ("XY12345", "MYORG-ACCOUNT1").
    public let name: String
    /// The region id of a locator identifier ("eu-central-1"), nil for an organization identifier
    /// or a locator in the default region (AWS US West, Oregon).
    public let region: String?
    /// "aws", "azure" or "gcp" when the identifier names it.
    public let cloud: String?

    public static let domain = "snowflakecomputing.com"
    static let clouds: Set<String> = ["aws", "azure", "gcp"]
    static let defaultRegion = "us-west-2"

    static let formats = "ORGNAME-ACCOUNT_NAME, or the account locator with its region and cloud (LOCATOR.REGION.CLOUD)"

    public static func parse(_ text: String, flag: String = "--account") throws(InputError) -> SnowflakeAccount {
        func bad(_ why: String) -> InputError {
            InputError(.usage, "\(flag) '\(text)' \(why): expected \(formats)")
        }
        var value = text.trimmingCharacters(in: .whitespaces).lowercased()
        var isURL = false
        for scheme in ["https://", "http://"] where value.hasPrefix(scheme) {
            value.removeFirst(scheme.count)
            isURL = true
        }

        // Snowsight: app.snowflake.com/ORGNAME/ACCOUNT_NAME/...
        if value.hasPrefix("app.snowflake.com/") {
            let parts = value.dropFirst("app.snowflake.com/".count).split(separator: "/").map(String.init)
            guard parts.count >= 2, !parts[0].contains("."), !parts[1].contains(".") else {
                throw bad("is a Snowsight URL without /ORGNAME/ACCOUNT_NAME/")
            }
            value = parts[0] + "-" + parts[1]
            isURL = false
        }
        // Only a URL has a path, a query or a port to drop; a bare identifier must be one as written.
        if isURL || value.contains("." + domain) {
            if let end = value.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { value = String(value[..<end]) }
            if let colon = value.firstIndex(of: ":") {
                guard value[value.index(after: colon)...].allSatisfy(\.isNumber) else { throw bad("is not a Snowflake URL") }
                value = String(value[..<colon])
            }
            while value.hasSuffix(".") { value.removeLast() }
            guard value.hasSuffix("." + domain) else { throw bad("is a URL outside \(domain)") }
            value.removeLast(domain.count + 1)
        }
        guard !value.isEmpty else { throw bad("is empty") }
        guard value.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }) else {
            throw bad("holds characters an account identifier cannot")
        }

        var segments = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !segments.contains(where: \.isEmpty) else { throw bad("has an empty part") }
        let privateLink = segments.last == "privatelink"
        if privateLink { segments.removeLast() }
        guard let first = segments.first, !first.isEmpty else { throw bad("is empty") }
        guard first.first.map({ $0.isLetter }) == true else { throw bad("does not start with a letter") }

        if segments.count >= 2 && segments[1] == "global" {
            // A global URL (replication): ACCOUNT-EXTERNALID.global; the account is before the last hyphen.
            guard segments.count == 2, let hyphen = first.lastIndex(of: "-") else { throw bad("is a malformed .global identifier") }
            return SnowflakeAccount(host: value, name: String(first[..<hyphen]).uppercased(), region: nil, cloud: nil)
        }
        switch segments.count {
        case 1:
            return SnowflakeAccount(host: value, name: first.uppercased(), region: nil, cloud: nil)
        case 2 where !segments[1].contains("-") && !clouds.contains(segments[1]):
            // Region ids all hold a hyphen ("us-east-2", "us-central1", "west-europe"); account names
            // cannot. So "myorg.account1" is the SQL form of the organization identifier.
            guard !first.contains("-") else { throw bad("mixes the organization and locator forms") }
            let hyphenated = first + "-" + segments[1]
            return SnowflakeAccount(host: hyphenated + (privateLink ? ".privatelink" : ""), name: hyphenated.uppercased(),
                                    region: nil, cloud: nil)
        case 2, 3:
            let region = segments[1]
            guard region.contains("-") else { throw bad("names no region id after the locator") }
            var cloud: String?
            if segments.count == 3 {
                guard clouds.contains(segments[2]) else { throw bad("names an unknown cloud '\(segments[2])' (aws, azure or gcp)") }
                cloud = segments[2]
            }
            guard !first.contains("-") else { throw bad("puts a region after an organization identifier") }
            // AWS US West (Oregon) is the locator's default region: its URL names no region (as the
            // connectors build it), so "xy12345.us-west-2" is "xy12345".
            if region == defaultRegion && (cloud == nil || cloud == "aws") {
                return SnowflakeAccount(host: first + (privateLink ? ".privatelink" : ""), name: first.uppercased(), region: nil, cloud: cloud)
            }
            return SnowflakeAccount(host: value, name: first.uppercased(), region: region, cloud: cloud)
        default:
            throw bad("has too many parts")
        }
    }
}
