@testable import AuthDoctorCLI
import XCTest

/// The built-in rules are loaded on a second thread while the command line is parsed (issue 18,
/// one-shot start-up), only for the commands that load them and nothing else.
final class StartupPreloadTests: XCTestCase {
    func testOnlyCommandsThatLoadTheBuiltInRulesAlonePreloadThem() {
        func preloads(_ arguments: [String], _ environment: [String: String] = [:]) -> Bool {
            AuthDoctorCommand.loadsBuiltinRulesAlone(arguments, environment: environment)
        }
        XCTAssertTrue(preloads(["classify", "--text", "log.txt"]))
        XCTAssertTrue(preloads(["diagnose", "--provider", "facebook"]))
        XCTAssertTrue(preloads(["check", "--sandbox"]))
        XCTAssertTrue(preloads(["demo"]))
        XCTAssertFalse(preloads(["rules", "lint"]), "lint checks the YAML itself")
        XCTAssertFalse(preloads(["serve"]))
        XCTAssertFalse(preloads([]))
        XCTAssertFalse(preloads(["classify", "--rules", "local/", "--text", "log.txt"]), "local rules change the set")
        XCTAssertFalse(preloads(["classify", "--rules=local/", "--text", "log.txt"]))
        XCTAssertFalse(preloads(["classify", "--no-builtin-rules", "--rules", "local/"]))
        XCTAssertFalse(preloads(["classify", "--text", "log.txt"], ["AUTHDOCTOR_RULES": "/etc/authdoctor/rules"]))
        XCTAssertTrue(preloads(["classify", "--text", "log.txt"], ["AUTHDOCTOR_RULES": ""]))
        XCTAssertFalse(preloads(["classify", "--help"]), "help loads nothing")
    }
}
