/// Names the provider from the evidence's shape when the caller did not, and adds the provider's
/// family so rules written for `google` also hold for `google-ads`, `bigquery`, ...
public enum ProviderDetector {
    public static let known: [String] = [
        "google", "google-ads", "google-analytics", "google-sheets", "bigquery", "looker-studio", "facebook",
        "linkedin", "hubspot", "snowflake", "redshift", "postgres", "platform-api", "oauth2",
    ]

    public static func family(of provider: String) -> [String] {
        switch provider {
        case "google-ads", "google-analytics", "google-sheets", "bigquery", "looker-studio": return [provider, "google"]
        case "redshift": return [provider, "postgres"]
        default: return [provider]
        }
    }

    public static func apply(given: String?, to facts: inout Facts) {
        let provider: String?
        if let given {
            provider = given
        } else {
            provider = detect(facts)
            if provider != nil { facts.set("provider.detected", true) }
        }
        if let provider {
            facts.set("provider", .list(family(of: provider).map { .string($0) }))
        }
    }

    /// The provider the facts point at, or nil when they could come from anywhere.
    public static func detect(_ facts: Facts) -> String? {
        let host = facts.string("url.host") ?? ""
        if let byHost = providerForHost(host) { return byHost }

        let errorType = facts.string("body.error.type") ?? ""
        if ["OAuthException", "GraphMethodException", "FacebookApiException", "GraphInvalidArgumentException"].contains(errorType)
            || facts["body.error.fbtrace_id"] != nil || facts["http.header.x-fb-trace-id"] != nil
            || facts["http.header.x-fb-request-id"] != nil || facts.string("www-authenticate.realm") == "Facebook Platform"
            || (facts["body.data.app_id"] != nil && facts["body.data.is_valid"] != nil) {
            return "facebook"
        }
        if facts["body.serviceErrorCode"] != nil || facts["http.header.x-li-uuid"] != nil || facts["http.header.x-li-fabric"] != nil {
            return "linkedin"
        }
        if facts["http.header.x-hubspot-correlation-id"] != nil
            || (facts["body.category"] != nil && facts["body.correlationId"] != nil) {
            return "hubspot"
        }
        if facts["body.success"] != nil, let code = facts.string("body.code"), code.count == 6, Int(code) != nil {
            return "snowflake"
        }
        let types = facts["body.error.details[].@type"]?.elements.compactMap(\.stringValue) ?? []
        if types.contains(where: { $0.contains("google.ads.googleads") }) { return "google-ads" }
        let message = (facts.string("body.error.message") ?? "").lowercased()
        if message.contains("bigquery") || facts.string("body.error.errors[].domain")?.contains("bigquery") == true { return "bigquery" }
        // Pasted text: what it names (its words, exception classes), then any provider host it mentions.
        let named = facts.string("text.provider")
        if let named, named != "google" { return named }
        if let hosts = facts["text.hosts"]?.elements.compactMap(\.stringValue) {
            // A bare link to Google's home page is in every kind of HTML page (parking pages, login
            // walls, error pages): it names no API.
            let byHosts = hosts.filter { $0 != "www.google.com" && $0 != "google.com" }.compactMap(providerForHost)
            if let specific = byHosts.first(where: { $0 != "google" }) { return specific }
            if !byHosts.isEmpty { return "google" }
        }
        if named == "google" { return "google" }
        if let exceptions = facts["exception"]?.elements.compactMap(\.stringValue), let byClass = providerForException(exceptions) {
            return byClass
        }
        // YouTube Data API errors carry `youtube.*` domains (youtube.header, youtube.quota, ...).
        let domains = (facts["body.error.errors[].domain"]?.elements ?? []) + (facts["body.domain"]?.elements ?? [])
        if types.contains(where: { $0.hasPrefix("type.googleapis.com/") })
            || domains.contains(where: { $0.stringValue?.hasPrefix("youtube.") == true })
            || facts.string("www-authenticate.realm")?.contains("accounts.google.com") == true
            || (facts["body.error.status"] != nil && facts["body.error.code"] != nil && facts["body.error.message"] != nil)
            || facts.string("http.header.server") == "ESF" {
            return "google"
        }
        // ASCII-lowered bytes and a byte search: a pasted log can be megabytes.
        let text = String(decoding: ByteSearch.lowered(facts.string("text") ?? ""), as: UTF8.self)
        if ByteSearch.contains(text, "lookerstudio.google.com") || ByteSearch.contains(text, "datastudio.google.com") || ByteSearch.contains(text, "looker studio") {
            return "looker-studio"
        }
        // A Snowflake error number (`002043 (02000):`, libsnowflakeclient's `240009`) outweighs a SQLSTATE,
        // which every SQL database speaks.
        if facts["snowflake.code"] != nil { return "snowflake" }
        if facts["sqlstate"] != nil {
            return ByteSearch.contains(text, "redshift") || ByteSearch.contains(text, ":5439") || ByteSearch.contains(text, "port 5439") ? "redshift" : "postgres"
        }
        if facts["www-authenticate.error"] != nil || facts["body.error"].map({ if case .string = $0 { return true }; return false }) == true {
            return "oauth2"
        }
        return nil
    }

    /// SDK exception classes that belong to one provider's client library.
    static func providerForException(_ names: [String]) -> String? {
        for name in names {
            let lower = name.lowercased()
            if lower.hasPrefix("google.ads") || lower.contains("googleads") { return "google-ads" }
            if lower.hasPrefix("google.auth") || lower.hasPrefix("google.apis.") || lower.hasPrefix("googleapiclient") || lower.hasPrefix("google.api_core")
                || lower.contains("gaxios") || lower.hasPrefix("com.google.api") || lower.contains("googlejsonresponse")
                // oauth2client (Python), PHP's `Google_Auth_Exception` / `Google\Auth\…`, .NET's Google.Apis.Auth.
                || lower.hasPrefix("oauth2client.") || lower.hasPrefix("google_") || lower.hasPrefix("google\\") { return "google" }
            if lower.contains("facebook") { return "facebook" }
            if lower.hasPrefix("snowflake") || lower.contains("snowflakesql") { return "snowflake" }
            if lower.hasPrefix("psycopg") || lower.hasPrefix("asyncpg") || lower.contains("psqlexception") { return "postgres" }
        }
        return nil
    }

    static func providerForHost(_ host: String) -> String? {
        guard !host.isEmpty else { return nil }
        // The domain itself or a subdomain of it: "graph.facebook.com" is Facebook, "notfacebook.com" is not.
        func under(_ domain: String) -> Bool { host == domain || host.hasSuffix("." + domain) }
        if under("graph.facebook.com") || under("facebook.com") { return "facebook" }
        if under("linkedin.com") { return "linkedin" }
        if under("hubapi.com") || under("hubspot.com") { return "hubspot" }
        if under("snowflakecomputing.com") { return "snowflake" }
        if under("redshift.amazonaws.com") || under("redshift-serverless.amazonaws.com") { return "redshift" }
        if host == "googleads.googleapis.com" { return "google-ads" }
        if host.hasPrefix("analytics") && under("googleapis.com") { return "google-analytics" }
        if host == "sheets.googleapis.com" { return "google-sheets" }
        if host == "bigquery.googleapis.com" { return "bigquery" }
        if host == "lookerstudio.google.com" || host == "datastudio.google.com" { return "looker-studio" }
        if under("googleapis.com") || host == "accounts.google.com" || under("google.com") { return "google" }
        if under("windsor.ai") { return "platform-api" }
        return nil
    }
}
