import XCTest
@testable import EvidenceModel

final class BatchRecordTests: XCTestCase {
    let place = "batch.jsonl:3"

    private func parseError(_ line: String, file: StaticString = #filePath, line lineNumber: UInt = #line) -> InputError? {
        do {
            let record = try BatchRecord.parse(line, place: place)
            XCTFail("expected an InputError, parsed \(record.evidence)", file: file, line: lineNumber)
            return nil
        } catch {
            XCTAssertEqual(error.kind, .data, file: file, line: lineNumber)
            XCTAssertEqual(error.place, place, file: file, line: lineNumber)
            XCTAssertTrue(error.description.hasPrefix(place + ": "), error.description, file: file, line: lineNumber)
            return error
        }
    }

    private func assertError(_ line: String, _ fragment: String, file: StaticString = #filePath, line lineNumber: UInt = #line) {
        guard let error = parseError(line, file: file, line: lineNumber) else { return }
        XCTAssertTrue(error.message.contains(fragment), "\"\(error.message)\" lacks \"\(fragment)\"", file: file, line: lineNumber)
    }

    func testHeadersAsObjectAndBodyAsJSON() throws {
        let record = try BatchRecord.parse(#"{"id": 7, "provider": "facebook", "status": 400, "headers": {"Content-Type": "application/json", "X-Count": 3}, "body": {"error": {"code": 190, "error_subcode": 463}}, "url": "https://graph.facebook.com/v19.0/me", "extra": "ignored"}"#, place: place)
        XCTAssertEqual(record.id, "7")
        let evidence = record.evidence
        XCTAssertEqual(evidence.kind, .record)
        XCTAssertEqual(evidence.provider, "facebook")
        XCTAssertEqual(evidence.url, "https://graph.facebook.com/v19.0/me")
        XCTAssertEqual(evidence.responses.count, 1)
        let response = try XCTUnwrap(evidence.finalResponse)
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(response.header("content-type"), "application/json")
        XCTAssertEqual(response.header("x-count"), "3")
        XCTAssertEqual(response.body, #"{"error":{"code":190,"error_subcode":463}}"#)
        XCTAssertEqual(response.url, "https://graph.facebook.com/v19.0/me")

        let facts = FactExtractor().facts(for: evidence)
        XCTAssertEqual(facts["body.error.code"], .int(190))
        XCTAssertEqual(facts["body.error.error_subcode"], .int(463))
        XCTAssertEqual(facts["input.kind"], .string("record"))
    }

    func testHeadersAsNameValueObjectsAndBodyAsString() throws {
        let record = try BatchRecord.parse(#"{"id": "r-1", "status": "401", "headers": [{"name": "WWW-Authenticate", "value": "Bearer error=\"invalid_token\""}, {"name": "X-Empty"}], "body": "{\"error\":\"invalid_token\"}"}"#, place: place)
        XCTAssertEqual(record.id, "r-1")
        XCTAssertEqual(record.evidence.finalResponse?.status, 401)
        XCTAssertEqual(record.evidence.finalResponse?.headers.map(\.name), ["WWW-Authenticate", "X-Empty"])
        XCTAssertEqual(record.evidence.finalResponse?.headers.map(\.value), [#"Bearer error="invalid_token""#, ""])
        XCTAssertEqual(record.evidence.finalResponse?.body, #"{"error":"invalid_token"}"#)
        XCTAssertNil(record.evidence.provider)
    }

    func testHeadersAsPairs() throws {
        let record = try BatchRecord.parse(#"{"status": 429, "headers": [["Retry-After", "30"], ["X-RateLimit-Remaining", "0"]]}"#, place: place)
        XCTAssertNil(record.id)
        XCTAssertEqual(record.evidence.finalResponse?.header("retry-after"), "30")
        XCTAssertEqual(record.evidence.finalResponse?.headers.count, 2)
        XCTAssertEqual(FactExtractor().facts(for: record.evidence)["retry_after"], .int(30))
    }

    func testTextCurlExitSqlstateAndRequestHeaders() throws {
        let text = try BatchRecord.parse(#"{"text": "FATAL: password authentication failed", "sqlstate": "28P01", "provider": "redshift"}"#, place: place)
        XCTAssertEqual(text.evidence.text, "FATAL: password authentication failed")
        XCTAssertEqual(text.evidence.sqlstate, "28P01")
        XCTAssertTrue(text.evidence.responses.isEmpty)

        let curl = try BatchRecord.parse(#"{"curl_exit": 28, "url": "https://api.hubapi.com/crm/v3/objects"}"#, place: place)
        XCTAssertEqual(curl.evidence.curlExit, 28)
        let facts = FactExtractor().facts(for: curl.evidence)
        XCTAssertEqual(facts["transport.error"], .string("timeout"))
        XCTAssertEqual(facts["provider"], .list([.string("hubspot")]))

        let request = try BatchRecord.parse(#"{"status": 401, "request_headers": {"Authorization": "Bearer EAAFAKE12345"}}"#, place: place)
        XCTAssertEqual(request.evidence.request?.header("authorization"), "Bearer EAAFAKE12345")
        XCTAssertEqual(FactExtractor().facts(for: request.evidence)["token.format"], .string("facebook"))
    }

    func testBodyWithoutStatusBecomesText() throws {
        let record = try BatchRecord.parse(#"{"text": "sync failed", "body": "ERROR: permission denied for table t"}"#, place: place)
        XCTAssertTrue(record.evidence.responses.isEmpty)
        XCTAssertEqual(record.evidence.text, "sync failed\nERROR: permission denied for table t")
        let nulls = try BatchRecord.parse(#"{"id": null, "status": null, "provider": null, "curl_exit": 7, "headers": null}"#, place: place)
        XCTAssertNil(nulls.id)
        XCTAssertEqual(nulls.evidence.curlExit, 7)
    }

    func testEvidenceLoaderKeepsRecordProviderOverFolder() throws {
        let evidences = try EvidenceLoader.load(#"{"provider": "linkedin", "status": 401}"#, format: .record, source: "x.json", provider: "hubspot")
        XCTAssertEqual(evidences.first?.provider, "linkedin")
        let fallback = try EvidenceLoader.load(#"{"status": 401}"#, format: .record, source: "x.json", provider: "hubspot")
        XCTAssertEqual(fallback.first?.provider, "hubspot")
        XCTAssertEqual(EvidenceLoader.format(forPath: "a/b.http"), .response)
        XCTAssertEqual(EvidenceLoader.format(forPath: "a/b.har"), .har)
        XCTAssertEqual(EvidenceLoader.format(forPath: "a/b.txt"), .text)
        XCTAssertEqual(EvidenceLoader.format(forPath: "a/b.json"), .record)
        XCTAssertNil(EvidenceLoader.format(forPath: "a/b.yaml"))
    }

    // MARK: - Errors

    func testNotAnObject() {
        assertError("[1, 2]", "a record must be a JSON object")
        assertError(#""text""#, "a record must be a JSON object")
    }

    func testInvalidJSON() {
        assertError(#"{"status": 401,"#, "invalid JSON")
        assertError(#"{"status": 401,"#, "at column 16")
    }

    func testBadStatus() {
        assertError(#"{"status": "abc"}"#, "\"status\" must be an HTTP status code")
        assertError(#"{"status": 1000}"#, "\"status\" must be an HTTP status code")
        assertError(#"{"status": true}"#, "\"status\" must be an HTTP status code")
    }

    func testBadCurlExit() {
        assertError(#"{"curl_exit": 500}"#, "\"curl_exit\" must be a curl exit code")
        assertError(#"{"curl_exit": "x"}"#, "\"curl_exit\" must be a curl exit code")
    }

    func testUnknownProvider() {
        assertError(#"{"provider": "myspace", "status": 401}"#, "unknown provider \"myspace\"")
        assertError(#"{"provider": "myspace", "status": 401}"#, "facebook")
    }

    func testEmptyRecord() {
        assertError("{}", "the record has none of status, body, text, curl_exit, sqlstate")
        assertError(#"{"id": "only-an-id", "provider": "google"}"#, "the record has none of")
    }

    func testBadMembers() {
        assertError(#"{"id": true, "status": 401}"#, "\"id\" must be a string or a number")
        assertError(#"{"text": ["a"]}"#, "\"text\" must be a string")
        assertError(#"{"status": 401, "headers": 5}"#, "\"headers\" must be an object of header names to values")
        assertError(#"{"status": 401, "headers": [1]}"#, "\"headers\" entries must be")
        assertError(#"{"status": 401, "request_headers": [["a"]]}"#, "\"request_headers\" entries must be")
    }
}
