import EvidenceModel
import XCTest

final class CurlCodesTests: XCTestCase {
    func testNamesMatchCurlH() {
        XCTAssertEqual(CurlCodes.name(0), "CURLE_OK")
        XCTAssertEqual(CurlCodes.name(6), "CURLE_COULDNT_RESOLVE_HOST")
        XCTAssertEqual(CurlCodes.name(7), "CURLE_COULDNT_CONNECT")
        XCTAssertEqual(CurlCodes.name(28), "CURLE_OPERATION_TIMEDOUT")
        XCTAssertEqual(CurlCodes.name(47), "CURLE_TOO_MANY_REDIRECTS")
        XCTAssertEqual(CurlCodes.name(52), "CURLE_GOT_NOTHING")
        XCTAssertEqual(CurlCodes.name(60), "CURLE_PEER_FAILED_VERIFICATION")
        XCTAssertEqual(CurlCodes.name(97), "CURLE_PROXY")
        XCTAssertEqual(CurlCodes.name(99), "CURLE_UNRECOVERABLE_POLL")
        XCTAssertEqual(CurlCodes.name(100), "CURLE_UNKNOWN_100")
        XCTAssertEqual(CurlCodes.name(-1), "CURLE_UNKNOWN_-1")
        XCTAssertEqual(CurlCodes.code(named: "CURLE_SSL_CACERT_BADFILE"), 77)
        XCTAssertNil(CurlCodes.code(named: "CURLE_NOPE"))
    }

    func testEveryCodeHasADistinctNameAndSummary() {
        let names = (0...99).map(CurlCodes.name)
        XCTAssertEqual(Set(names).count, 100)
        XCTAssertTrue(names.enumerated().allSatisfy { $1.hasPrefix("CURLE_") && $1 != "CURLE_UNKNOWN_\($0)" })
        XCTAssertEqual(CurlCodes.name(48), "CURLE_UNKNOWN_OPTION")
        XCTAssertTrue((0...99).allSatisfy { !CurlCodes.summary($0).isEmpty })
    }

    func testSummaries() {
        XCTAssertEqual(CurlCodes.summary(0), "No error")
        XCTAssertEqual(CurlCodes.summary(6), "Couldn't resolve host name")
        XCTAssertEqual(CurlCodes.summary(28), "Timeout was reached")
        XCTAssertEqual(CurlCodes.summary(60), "SSL peer certificate or SSH remote key was not OK")
        XCTAssertEqual(CurlCodes.summary(1234), "Unknown error (code 1234)")
    }

    func testTransportClasses() {
        XCTAssertNil(CurlCodes.transportError(0))
        XCTAssertEqual(CurlCodes.transportError(6), "dns")
        XCTAssertEqual(CurlCodes.transportError(5), "proxy")
        XCTAssertEqual(CurlCodes.transportError(97), "proxy")
        XCTAssertEqual(CurlCodes.transportError(7), "refused")
        XCTAssertEqual(CurlCodes.transportError(28), "timeout")
        for tls in [35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98] {
            XCTAssertEqual(CurlCodes.transportError(tls), "tls", "code \(tls)")
        }
        for reset in [18, 52, 55, 56] {
            XCTAssertEqual(CurlCodes.transportError(reset), "reset", "code \(reset)")
        }
        XCTAssertEqual(CurlCodes.transportError(47), "too-many-redirects")
        XCTAssertEqual(CurlCodes.transportError(22), "other")
        XCTAssertEqual(CurlCodes.transportError(3), "other")
        XCTAssertEqual(CurlCodes.transportError(500), "other")
    }
}
