import XCTest
final class RuleEngineTestsPlaceholder: XCTestCase { func testBuilds() {} }
