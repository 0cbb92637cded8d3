import XCTest
final class ProbeTestsPlaceholder: XCTestCase { func testBuilds() {} }
