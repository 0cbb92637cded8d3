import Foundation
import XCTest
@testable import EvidenceModel

/// The byte-level scans that replaced Character-based code on `check`'s hot path must give the
/// same answers: each is compared with the code it replaced (kept here as the reference) over
/// hand-picked edge cases and many generated inputs.
final class ByteScanTests: XCTestCase {
    // MARK: references (the Character-based implementations as they were)

    enum Reference {
        static func host(of url: String) -> String? {
            guard let schemeEnd = url.range(of: "://")?.upperBound else { return nil }
            var rest = url[schemeEnd...]
            if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
            if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                return String(rest[rest.index(after: rest.startIndex)..<close]).lowercased()
            }
            if let colon = rest.lastIndex(of: ":") { rest = rest[..<colon] }
            return rest.isEmpty ? nil : rest.lowercased()
        }

        static func path(of url: String) -> String? {
            guard let schemeEnd = url.range(of: "://")?.upperBound else {
                return url.hasPrefix("/") ? String(url.prefix { $0 != "?" && $0 != "#" }) : nil
            }
            let rest = url[schemeEnd...]
            guard let slash = rest.firstIndex(of: "/") else { return "/" }
            return String(rest[slash...].prefix { $0 != "?" && $0 != "#" })
        }

        static func queryItems(_ url: String) -> [(String, String)] {
            var items: [(String, String)] = []
            for part in url.split(whereSeparator: { $0 == "?" || $0 == "#" }).dropFirst() {
                for pair in part.split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    items.append((String(kv[0]), kv.count > 1 ? String(kv[1]) : ""))
                }
            }
            return items
        }

        static func queryValue(_ name: String, in url: String) -> String? {
            guard url.contains(name + "=") else { return nil }
            return queryItems(url).first(where: { $0.0 == name })?.1
        }

        static func mayNameSecret(_ key: String) -> Bool {
            let lowered = key.lowercased()
            return ["token", "secret", "pass", "key", "code", "state", "auth", "sig", "pwd", "pin", "assertion", "proof"]
                .contains { lowered.contains($0) }
        }

        static func namesRequiredScopes(_ name: String) -> Bool {
            name.hasSuffix("required_scopes") || name.hasSuffix("requiredScopes") || name.hasSuffix("requiredScopes[]")
                || name.hasSuffix("required_scopes[]") || name.hasSuffix("requiredGranularScopes[]")
        }

        static func mediaType(_ contentType: String) -> String {
            contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() } ?? ""
        }

        static func tokenFormat(_ token: String) -> String {
            if token.isEmpty { return "malformed" }
            if token.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" || $0 == "\n" || $0 == "<" || $0 == "{" }) { return "malformed" }
            if token.hasPrefix("ya29.") { return "google-access" }
            if token.hasPrefix("1//") { return "google-refresh" }
            if token.hasPrefix("EAA") { return "facebook" }
            if token.hasPrefix("pat-") { return "hubspot-private-app" }
            if token.hasPrefix("sbx-") { return "sandbox" }
            if TokenShape.jwtClaims(token) != nil { return "jwt" }
            if token.split(separator: ".").count == 3 && token.hasPrefix("eyJ") { return "malformed" }
            return "opaque"
        }
    }

    /// Strings made of the characters URL scanning cares about, plus some that it must not.
    func generated(_ count: Int, alphabet: [String], maxLength: Int = 24, seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            let length = Int(rng.next() % UInt64(maxLength + 1))
            return (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined()
        }
    }

    static let urlAlphabet = ["http", "https", "://", ":", "/", "?", "#", "&", "=", "@", "[", "]", ".", "a", "B", "1",
                              "access_token", "authuser", "code", "é", "%2F", "u", " ", "Ω"]

    let urlCases = [
        "", "/", "?", "#", "://", "http://", "https://Host.Example.COM:443/a/b?c=d#e", "http://user:pw@host:8080/p",
        "http://[::1]:8080/x", "http://[FE80::1]/y", "https://h?x=/a/b", "https://h#frag?x=1", "?a=1", "/path?x=1&y",
        "https://h/p?access_token=abc&access_token=def", "https://h/p?x&access_token", "https://h/p?access_token&z=access_token=1",
        "https://h/p??a=1&&b=2#c=3", "HTTPS://ÉXAMPLE.com/Ünïcode?ä=ö", "http://h:/p", "http://@/p", "mailto:x@y",
        "https://accounts.google.com/o/oauth2/auth?authuser=2&x=1#authuser=3", "https://lookerstudio.google.com/u/1/reporting",
    ]

    func testURLFactsAgreeWithTheCharacterBasedCode() {
        let inputs = urlCases + generated(4000, alphabet: Self.urlAlphabet, seed: 7)
        for url in inputs {
            XCTAssertEqual(URLFacts.host(of: url), Reference.host(of: url), "host of \(url)")
            XCTAssertEqual(URLFacts.path(of: url), Reference.path(of: url), "path of \(url)")
            let items = URLFacts.queryItems(url)
            let expected = Reference.queryItems(url)
            XCTAssertEqual(items.map(\.0), expected.map(\.0), "query names of \(url)")
            XCTAssertEqual(items.map(\.1), expected.map(\.1), "query values of \(url)")
            for name in ["access_token", "code", "a", "authuser"] {
                XCTAssertEqual(URLFacts.queryValue(name, in: url), Reference.queryValue(name, in: url), "\(name) in \(url)")
            }
            XCTAssertEqual(URLFacts.withoutQuery(url), String(url.prefix { $0 != "?" && $0 != "#" }), "without query: \(url)")
        }
    }

    func testFormItemsAgreeWithSplitting() {
        for body in ["", "a=1&b=2", "&&a=&=b&c", "error=invalid_grant&error_description=Bad+thing", "x=1=2&y"]
            + generated(2000, alphabet: ["a", "=", "&", "b", "%20", "é"], seed: 11) {
            let expected = body.split(separator: "&").map { pair -> (String, String) in
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
            }
            let items = URLFacts.formItems(body)
            XCTAssertEqual(items.map(\.0), expected.map(\.0), body)
            XCTAssertEqual(items.map(\.1), expected.map(\.1), body)
        }
    }

    func testFastLowercasedMatchesLowercased() {
        let inputs = ["", "content-type", "Content-Type", "X-FB-DEBUG", "WWW-Authenticate", "ÉTAT", "Straße", "İstanbul",
                      "@[`{", "AZaz09"] + generated(2000, alphabet: ["A", "z", "Q", "-", "@", "[", "É", "ß", "1", "`"], seed: 3)
        for text in inputs {
            XCTAssertEqual(text.fastLowercased(), text.lowercased(), text)
        }
    }

    func testWordsMatchSplitting() {
        for text in ["", " ", "a b", ",a,,b ,c", "ads_read ads_management", "  lead  trail  "]
            + generated(2000, alphabet: ["a", " ", ",", "é", "b"], seed: 5) {
            let expected = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
            XCTAssertEqual(UTF8Scan.words(text, separatedBy: { $0 == 0x20 || $0 == 0x2C }), expected, text)
        }
    }

    func testPrefixAndSuffixOnBytes() {
        XCTAssertTrue(UTF8Scan.hasPrefix("ya29.abc", "ya29."))
        XCTAssertTrue(UTF8Scan.hasPrefix("ya29.", "ya29."))
        XCTAssertFalse(UTF8Scan.hasPrefix("ya29", "ya29."))
        XCTAssertFalse(UTF8Scan.hasPrefix("", "e"))
        XCTAssertTrue(UTF8Scan.hasSuffix("token.expires_at", "expires_at"))
        XCTAssertFalse(UTF8Scan.hasSuffix("at", "expires_at"))
        XCTAssertTrue(UTF8Scan.hasSuffix("", ""))
    }

    func testSecretKeyWordsFoundInOnePass() {
        let inputs = ["error", "message", "access_token", "AccessToken", "clientSECRET", "passphrase", "apiKey", "codes",
                      "stateful", "authorization", "signature", "PIN", "assertion", "appsecret_proof", "id", "k", "to", ""]
            + generated(3000, alphabet: ["t", "o", "k", "e", "n", "S", "E", "C", "r", "P", "a", "s", "_", "i", "g", "d", "w", "f"], seed: 13)
        for key in inputs {
            XCTAssertEqual(Redactor.mayNameSecret(key), Reference.mayNameSecret(key), key)
        }
    }

    func testRequiredScopeNamesMatchTheSuffixes() {
        let inputs = ["body.error.required_scopes", "body.requiredScopes", "body.requiredScopes[]", "body.x.required_scopes[]",
                      "body.requiredGranularScopes[]", "body.requiredGranularScopes", "body.scopes[]", "s", "]", "[]", "http.status",
                      "body.required_scopes[", "requiredScopes]"]
            + generated(3000, alphabet: ["required", "_scopes", "Scopes", "Granular", "[]", "[", "]", "s", "body."], maxLength: 6, seed: 17)
        for name in inputs {
            XCTAssertEqual(FactExtractor.namesRequiredScopes(name), Reference.namesRequiredScopes(name), name)
        }
    }

    func testMediaTypeMatchesSplitting() {
        for value in ["application/json", "Application/JSON; charset=utf-8", ";charset=x", ";;", "", " text/html ;x", "a;b"] {
            XCTAssertEqual(FactExtractor.mediaType(value), Reference.mediaType(value), value)
        }
    }

    func testTokenFormatMatchesTheCharacterBasedCode() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDAsInNjb3BlIjoiYSBiIn0.c2ln"
        for token in ["", "ya29.a0Af", "1//0gabc", "EAAGm0PX4ZCps", "pat-na1-123", "sbx-healthy", "opaque-123", "a b", "x\"y",
                      "x<y", "{x}", "with\nnewline", jwt, "eyJ.eyJ.x", "eyJabc", "a.b.c", "eyJhbGciOiJub25lIn0..", "tok-ok"] {
            XCTAssertEqual(TokenShape.format(of: token), Reference.tokenFormat(token), token)
        }
    }

    func testUniquedKeepsTheFirstOfEachInOrder() {
        XCTAssertEqual(["b", "a", "b", "c", "a"].uniqued(), ["b", "a", "c"])
        XCTAssertEqual([String]().uniqued(), [])
        // Past 16 elements it hashes instead of comparing: the same answer.
        let long = (0..<40).map { "s\($0 % 13)" }
        XCTAssertEqual(long.uniqued(), (0..<13).map { "s\($0)" })
    }

    func testAppendGrowsAListInPlace() {
        var facts = Facts()
        facts.append("body.data[].id", .int(1))
        XCTAssertEqual(facts["body.data[].id"], .list([.int(1)]))
        for i in 2...200 { facts.append("body.data[].id", .int(i)) }
        XCTAssertEqual(facts["body.data[].id"], .list((1...200).map { .int($0) }))
        facts.set("single", "a")
        facts.append("single", .string("b"))
        XCTAssertEqual(facts["single"], .list([.string("a"), .string("b")]))
        XCTAssertEqual(facts.count, 2)
    }

    func testWholeNumbersNeverTrap() {
        XCTAssertEqual(Facts.wholeNumber(.int(42)), 42)
        XCTAssertEqual(Facts.wholeNumber(.double(1.9)), 1)
        XCTAssertEqual(Facts.wholeNumber(.string(" 17 ")), 17)
        XCTAssertNil(Facts.wholeNumber(.double(1e300)))
        XCTAssertNil(Facts.wholeNumber(.double(.nan)))
        XCTAssertNil(Facts.wholeNumber(.string("-inf")))
        var facts = Facts()
        facts.set("token.expires_at", .double(1e300))
        XCTAssertNil(facts.int("token.expires_at"))
    }

    func testRFC3339MatchesAFormatter() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
        var rng = SplitMix64(seed: 23)
        let epochs = [0, 1, 59, 86_399, 951_782_400, 4_102_444_800, 253_402_300_799, -1]
            + (0..<500).map { _ in Int(rng.next() % 253_402_300_799) }
        for epoch in epochs {
            XCTAssertEqual(RFC3339.string(epoch: epoch), formatter.string(from: Date(timeIntervalSince1970: TimeInterval(epoch))), "\(epoch)")
        }
        // RFC 3339 dates are proleptic Gregorian (a formatter switches to Julian before 1582).
        XCTAssertEqual(RFC3339.string(epoch: -62_135_596_800), "0001-01-01T00:00:00Z")
        // Past year 9999 the year is written as it is.
        XCTAssertTrue(RFC3339.string(epoch: 253_402_300_800).hasPrefix("10000-01-01T00:00:00"))
    }

    func testNeedleScanIgnoresCaseWithoutALoweredCopy() {
        let needles = ["invalid_grant", "token", "expired", "oauth"].map { Array($0.utf8) }
        let automaton = NeedleAutomaton(needles: needles)
        for text in ["The Token HAS EXPIRED", "INVALID_GRANT", "oAuTh tOkEn", "nothing here", "Ünïcode TOKEN é"]
            + generated(1000, alphabet: ["TOKEN", "token", "Expired", "x", " ", "É", "oAuth", "INVALID_", "grant"], seed: 29) {
            func ids(_ bytes: [UInt8]) -> [Int] {
                var found: [Int] = []
                bytes.withUnsafeBufferPointer { automaton.scan($0) { found.append($0) } }
                return found
            }
            XCTAssertEqual(ids(Array(text.utf8)), ids(ByteSearch.lowered(text)), text)
        }
    }
}

