import XCTest
final class EvidenceModelTestsPlaceholder: XCTestCase { func testBuilds() {} }
