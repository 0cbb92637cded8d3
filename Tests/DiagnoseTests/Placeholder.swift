import XCTest
final class DiagnoseTestsPlaceholder: XCTestCase { func testBuilds() {} }
