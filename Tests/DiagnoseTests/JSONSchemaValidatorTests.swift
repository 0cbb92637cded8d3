import AuthDoctorTestSupport
import EvidenceModel
import XCTest

/// The validator must reject what it should, with the right JSON-pointer path, or every schema test
/// that relies on it would pass vacuously.
final class JSONSchemaValidatorTests: XCTestCase {
    /// A hand-written report with every required member, one finding and one remediation.
    static let validReport = #"""
    {"schema":"authdoctor.report/v2","generatedAt":"2026-12-03T23:59:00Z","tool":{"name":"authdoctor","version":"0.1.0","rulesVersion":"rules-0123456789abcdef"},
     "input":{"kind":"response","source":"error.http"},"provider":"facebook","providerDetected":false,
     "verdict":"failure",
     "findings":[{"category":"api-token","failure":"expiry","rule":"facebook.token.session-expired","severity":"error",
       "confidence":0.95,"summary":"The token expired.","actor":"client","transient":false,
       "evidence":{"body.error.code":190,"scopes.missing":["a","b"],"retry_after":null},
       "remediation":[{"id":"reauthorize","title":"Re-authorize","steps":["Send a link."],"doc":"fix-authentication-errors 1.1","issuesLink":true}]}]}
    """#

    static let validErrorRecord = #"""
    {"schema":"authdoctor.report/v2","id":"r7","verdict":"error","error":{"kind":"invalid-input","message":"line 7: invalid JSON"},"findings":[]}
    """#

    func validator() throws -> JSONSchemaValidator { try JSONSchemaValidator.reportSchema() }

    func issues(_ document: JSONValue) throws -> [JSONSchemaValidator.Issue] { try validator().validate(document) }

    func report() throws -> JSONValue { try JSON.parse(Self.validReport) }

    // MARK: - The report schema accepts what the writer documents

    func testValidReportAndErrorRecordPass() throws {
        XCTAssertEqual(try issues(report()), [])
        XCTAssertEqual(try issues(JSON.parse(Self.validErrorRecord)), [])
    }

    func testOptionalMembersAreAllowed() throws {
        var doc = try report()
        doc = doc.setting(["id"], .string("conn-1"))
        doc = doc.setting(["provider"], .null)
        doc = doc.setting(["facts"], try JSON.parse(#"{"http.status":401,"url.authuser":[0,1],"token.expired":true,"x":1.5,"y":null}"#))
        doc = doc.setting(["probes"], try JSON.parse(#"[{"url":"https://example.com","status":401}]"#))
        doc = doc.setting(["findings", 0, "link"], try JSON.parse(#"{"id":"lnk_abc","url":"https://auth.example.com/l/abc","expiresAt":"2025-10-20T13:05:01Z"}"#))
        XCTAssertEqual(try issues(doc), [])
    }

    // MARK: - Each kind of violation is reported at the right path

    func testMissingRequiredMember() throws {
        let found = try issues(report().setting(["findings", 0, "rule"], nil))
        XCTAssertTrue(found.contains { $0.path == "/findings/0/rule" && $0.keyword == "required" }, "\(found)")
        let top = try issues(report().setting(["verdict"], nil))
        XCTAssertTrue(top.contains { $0.path == "/verdict" && $0.keyword == "required" }, "\(top)")
    }

    func testWrongEnumValue() throws {
        let found = try issues(report().setting(["findings", 0, "failure"], .string("sadness")))
        XCTAssertTrue(found.contains { $0.path == "/findings/0/failure" && $0.keyword == "enum" }, "\(found)")
        let kind = try issues(report().setting(["input", "kind"], .string("email")))
        XCTAssertTrue(kind.contains { $0.path == "/input/kind" && $0.keyword == "enum" }, "\(kind)")
        let verdict = try issues(report().setting(["verdict"], .string("error")))
        XCTAssertTrue(verdict.contains { $0.path == "/verdict" && $0.keyword == "enum" }, "a report may not claim the error verdict: \(verdict)")
    }

    func testExtraProperty() throws {
        let found = try issues(report().setting(["colour"], .string("red")))
        XCTAssertTrue(found.contains { $0.path == "/colour" && $0.keyword == "additionalProperties" }, "\(found)")
        let nested = try issues(report().setting(["findings", 0, "remediation", 0, "url"], .string("x")))
        XCTAssertTrue(nested.contains { $0.path == "/findings/0/remediation/0/url" && $0.keyword == "additionalProperties" }, "\(nested)")
    }

    func testWrongType() throws {
        let found = try issues(report().setting(["providerDetected"], .string("yes")))
        XCTAssertTrue(found.contains { $0.path == "/providerDetected" && $0.keyword == "type" }, "\(found)")
        let provider = try issues(report().setting(["provider"], .int(5)))
        XCTAssertTrue(provider.contains { $0.path == "/provider" && $0.keyword == "type" }, "\(provider)")
        let evidence = try issues(report().setting(["findings", 0, "evidence", "body"], try JSON.parse(#"{"nested":1}"#)))
        XCTAssertTrue(evidence.contains { $0.path == "/findings/0/evidence/body" }, "an object is not a fact value: \(evidence)")
    }

    func testNumericAndSizeLimits() throws {
        let confidence = try issues(report().setting(["findings", 0, "confidence"], .double(1.5)))
        XCTAssertTrue(confidence.contains { $0.path == "/findings/0/confidence" && $0.keyword == "maximum" }, "\(confidence)")
        let negative = try issues(report().setting(["findings", 0, "confidence"], .int(-1)))
        XCTAssertTrue(negative.contains { $0.path == "/findings/0/confidence" && $0.keyword == "minimum" }, "\(negative)")
        // v2: a healthy report has no findings, and says so in `note`.
        let noFindings = try issues(report().setting(["findings"], .array([])).setting(["verdict"], .string("ok"))
            .setting(["note"], .string("Every probe answered.")))
        XCTAssertEqual(noFindings, [])
        let noTime = try issues(report().setting(["generatedAt"], nil))
        XCTAssertTrue(noTime.contains { $0.path == "/generatedAt" && $0.keyword == "required" }, "\(noTime)")
        let localTime = try issues(report().setting(["generatedAt"], .string("2026-12-03T23:59:00+01:00")))
        XCTAssertTrue(localTime.contains { $0.path == "/generatedAt" && $0.keyword == "pattern" }, "\(localTime)")
        let noSteps = try issues(report().setting(["findings", 0, "remediation", 0, "steps"], .array([])))
        XCTAssertTrue(noSteps.contains { $0.path == "/findings/0/remediation/0/steps" && $0.keyword == "minItems" }, "\(noSteps)")
        let errorWithFindings = try issues(JSON.parse(Self.validErrorRecord).setting(["findings"], try JSON.parse(#"[{}]"#)))
        XCTAssertTrue(errorWithFindings.contains { $0.path == "/findings" && $0.keyword == "maxItems" }, "\(errorWithFindings)")
    }

    func testConstAndPattern() throws {
        let schema = try issues(report().setting(["schema"], .string("authdoctor.report/v1")))
        XCTAssertTrue(schema.contains { $0.path == "/schema" && $0.keyword == "const" }, "\(schema)")
        let version = try issues(report().setting(["tool", "version"], .string("latest")))
        XCTAssertTrue(version.contains { $0.path == "/tool/version" && $0.keyword == "pattern" }, "\(version)")
        let link = try issues(report().setting(["findings", 0, "link"], try JSON.parse(#"{"url":"https://x.example"}"#)))
        XCTAssertTrue(link.contains { $0.path == "/findings/0/link/expiresAt" && $0.keyword == "required" }, "\(link)")
    }

    func testDocumentMatchingNeitherAlternativeFailsAtTheRoot() throws {
        let found = try issues(JSON.parse(#"{"schema":"authdoctor.report/v1","verdict":"error"}"#))
        XCTAssertTrue(found.contains { $0.path == "" && $0.keyword == "oneOf" }, "\(found)")
        // The closest alternative (the error record) explains what is missing.
        XCTAssertTrue(found.contains { $0.path == "/error" && $0.keyword == "required" }, "\(found)")
        XCTAssertFalse(try issues(.array([])).isEmpty)
        XCTAssertFalse(try issues(.string("authdoctor.report/v1")).isEmpty)
    }

    // MARK: - The validator's keywords on small schemas

    func testKeywordsOnInlineSchemas() throws {
        let schema = try JSONSchemaValidator(schemaText: #"""
        {"$defs":{"id":{"type":"string","pattern":"^[a-z]+$","minLength":2,"maxLength":5}},
         "type":"object","required":["a/b"],
         "properties":{"a/b":{"type":["integer","null"]},"ids":{"type":"array","items":{"$ref":"#/$defs/id"},"maxItems":2},
                       "any":{"anyOf":[{"type":"boolean"},{"const":3}]},"one":{"oneOf":[{"type":"number"},{"type":"integer"}]},
                       "never":false,"not5":{"not":{"const":5}},"n":{"exclusiveMinimum":0,"exclusiveMaximum":10}},
         "additionalProperties":{"type":"string"}}
        """#)
        XCTAssertEqual(schema.validate(try JSON.parse(#"{"a/b":null,"ids":["ab","xyz"],"any":3.0,"extra":"s","not5":4,"n":9.5}"#)), [])
        XCTAssertEqual(schema.validate(try JSON.parse(#"{"a/b":2.0}"#)), [], "2.0 is an integer in JSON Schema")

        func paths(_ json: String) throws -> [String] { schema.validate(try JSON.parse(json)).map { "\($0.path) \($0.keyword)" } }
        XCTAssertEqual(try paths(#"{}"#), ["/a~1b required"], "pointer tokens escape '/' as ~1")
        XCTAssertEqual(try paths(#"{"a/b":"x"}"#), ["/a~1b type"])
        XCTAssertEqual(try paths(#"{"a/b":1,"ids":["A1"]}"#), ["/ids/0 pattern"])
        XCTAssertEqual(try paths(#"{"a/b":1,"ids":["a"]}"#), ["/ids/0 minLength"])
        XCTAssertEqual(try paths(#"{"a/b":1,"ids":["abcdef"]}"#), ["/ids/0 maxLength"])
        XCTAssertEqual(try paths(#"{"a/b":1,"ids":["ab","ab","ab"]}"#), ["/ids maxItems"])
        XCTAssertEqual(try paths(#"{"a/b":1,"any":"no"}"#), ["/any anyOf", "/any type"])
        XCTAssertEqual(try paths(#"{"a/b":1,"one":4}"#), ["/one oneOf"], "4 is both a number and an integer")
        XCTAssertEqual(try paths(#"{"a/b":1,"one":4.5}"#), [])
        XCTAssertEqual(try paths(#"{"a/b":1,"never":1}"#), ["/never false"])
        XCTAssertEqual(try paths(#"{"a/b":1,"not5":5}"#), ["/not5 not"])
        XCTAssertEqual(try paths(#"{"a/b":1,"n":0}"#), ["/n exclusiveMinimum"])
        XCTAssertEqual(try paths(#"{"a/b":1,"n":10}"#), ["/n exclusiveMaximum"])
        XCTAssertEqual(try paths(#"{"a/b":1,"extra":7}"#), ["/extra type"])
        XCTAssertEqual(try paths(#"[]"#), [" type"])
    }

    func testConstAndEnumCompareJSONValues() throws {
        let schema = try JSONSchemaValidator(schemaText: #"{"properties":{"c":{"const":{"x":[1,"a"],"y":null}},"e":{"enum":[1,"1",true]}}}"#)
        XCTAssertEqual(schema.validate(try JSON.parse(#"{"c":{"y":null,"x":[1.0,"a"]},"e":"1"}"#)), [])
        XCTAssertEqual(schema.validate(try JSON.parse(#"{"c":{"x":[1,"a"]}}"#)).map(\.keyword), ["const"])
        XCTAssertEqual(schema.validate(try JSON.parse(#"{"e":false}"#)).map(\.path), ["/e"])
        XCTAssertEqual(schema.validate(try JSON.parse(#"{"e":"true"}"#)).map(\.keyword), ["enum"])
    }

    func testUnsupportedKeywordsAndBadReferencesAreRefused() {
        XCTAssertThrowsError(try JSONSchemaValidator(schemaText: #"{"properties":{"a":{"uniqueItems":true}}}"#)) { error in
            XCTAssertTrue("\(error)".contains("uniqueItems"), "\(error)")
        }
        XCTAssertThrowsError(try JSONSchemaValidator(schemaText: ##"{"$ref":"#/$defs/missing"}"##))
        XCTAssertThrowsError(try JSONSchemaValidator(schemaText: #"{"type":"text"}"#))
        XCTAssertThrowsError(try JSONSchemaValidator(schemaText: #"{"pattern":"(unclosed"}"#))
        XCTAssertThrowsError(try JSONSchemaValidator(schemaText: #"{"type":"#))
    }
}

extension JSONValue {
    /// A copy with the member or element at `path` replaced (nil removes it; a missing member is added).
    func setting(_ path: [Any], _ newValue: JSONValue?) -> JSONValue {
        guard let first = path.first else { return newValue ?? .null }
        let rest = Array(path.dropFirst())
        switch (self, first) {
        case let (.object(members), key as String):
            var copy = members
            if let i = copy.firstIndex(where: { $0.0 == key }) {
                if rest.isEmpty && newValue == nil { copy.remove(at: i) } else { copy[i].1 = copy[i].1.setting(rest, newValue) }
            } else if let newValue {
                copy.append((key, JSONValue.object([]).setting(rest, newValue)))
            }
            return .object(copy)
        case let (.array(items), index as Int) where items.indices.contains(index):
            var copy = items
            if rest.isEmpty && newValue == nil { copy.remove(at: index) } else { copy[index] = copy[index].setting(rest, newValue) }
            return .array(copy)
        default:
            return self
        }
    }
}
