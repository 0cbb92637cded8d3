/// The environment variables authdoctor reads: one table, printed in `authdoctor --help` and kept in
/// the README (a test compares them).
enum EnvironmentVariables {
    struct Variable {
        let name: String
        let meaning: String
    }

    static let all: [Variable] = [
        Variable(name: "AUTHDOCTOR_DB", meaning: "the store's path when --db is not given"),
        Variable(name: "AUTHDOCTOR_KEY", meaning: "the key stored tokens are encrypted with (32 bytes)"),
        Variable(name: "AUTHDOCTOR_RULES", meaning: "more rule folders, ':'-separated (as --rules)"),
        Variable(name: "AUTHDOCTOR_PUBLIC_URL", meaning: "the base of link URLs (as --public-url)"),
        Variable(name: "AUTHDOCTOR_OAUTH_<PROVIDER>_SECRET", meaning: "an OAuth app's client secret (serve, check)"),
        Variable(name: "AUTHDOCTOR_METRICS_TOKEN", meaning: "the bearer token serve's /metrics requires"),
        Variable(name: "AUTHDOCTOR_CACHE_DIR", meaning: "where the compiled built-in rules are cached"),
        Variable(name: "AUTHDOCTOR_NO_CACHE", meaning: "1: never use the rules cache"),
        Variable(name: "AUTHDOCTOR_REGEX_RUNS", meaning: "1: classify --batch lists its most-run rule patterns"),
        Variable(name: "AUTHDOCTOR_LIBCURL", meaning: "the libcurl file to load (default libcurl.so.4)"),
        Variable(name: "AUTHDOCTOR_LIBPQ", meaning: "the libpq file to load (default libpq.so.5)"),
        Variable(name: "XDG_DATA_HOME", meaning: "the default store: $XDG_DATA_HOME/authdoctor/"),
        Variable(name: "XDG_CACHE_HOME", meaning: "the rules cache, without AUTHDOCTOR_CACHE_DIR"),
        Variable(name: "NO_COLOR", meaning: "set: no colour (as --color never)"),
        Variable(name: "TERM", meaning: "dumb: no colour"),
    ]

    /// For the root help: one line a variable (a long name on a line of its own), within 80 columns.
    static var helpText: String {
        let column = 24
        return all.map { variable in
            let name = "  " + variable.name
            if name.count + 2 > column { return name + "\n" + String(repeating: " ", count: column) + variable.meaning }
            // Padded by hand: Foundation's padding(toLength:) goes through NSString, which costs
            // this table a millisecond of every start-up (the root configuration holds it).
            return name + String(repeating: " ", count: column - name.count) + variable.meaning
        }.joined(separator: "\n")
    }
}
