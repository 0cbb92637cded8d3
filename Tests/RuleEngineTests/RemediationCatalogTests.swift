import XCTest
import EvidenceModel
import AuthDoctorTestSupport
@testable import RuleEngine

/// rules/remediations.yaml against the two source documents (../shared/docs).
final class RemediationCatalogTests: XCTestCase {
    struct DocStep: Hashable, CustomStringConvertible {
        var section: String
        var name: String
        var covers: String { "fix-authentication-errors \(section): \(name)" }
        var description: String { covers }
    }

    static let fixDoc = "fix-authentication-errors.txt"
    static let linkDoc = "authorize-via-link.txt"

    private func document(_ name: String) throws -> String {
        let url = TestPaths.sharedDocs.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("missing \(url.path): the shared documents (../shared/docs beside the checkout) are needed for this test")
            throw XCTSkip("no shared docs")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Each bullet under "Troubleshooting steps:" of each numbered section, up to the next non-bullet line.
    static func troubleshootingSteps(in text: String) -> [DocStep] {
        var steps: [DocStep] = []
        var section: String?
        var inSteps = false
        for raw in text.components(separatedBy: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if let match = line.range(of: #"^[0-9]+\.[0-9]+\. "#, options: .regularExpression) {
                section = String(line[match].dropLast(2))
                inSteps = false
                continue
            }
            if line == "Troubleshooting steps:" { inSteps = section != nil; continue }
            guard inSteps, let section else { continue }
            guard line.hasPrefix("- ") else { inSteps = false; continue }
            let bullet = String(line.dropFirst(2))
            let name: String
            if let dash = bullet.range(of: " – ") {
                name = String(bullet[..<dash.lowerBound])
            } else {
                name = String(bullet.prefix { $0 != "." })
            }
            steps.append(DocStep(section: section, name: name.trimmingCharacters(in: .whitespaces)))
        }
        return steps
    }

    private func catalog() throws -> [Remediation] {
        let (set, _) = try RuleLibrary.load(includeBuiltin: false, directories: [TestPaths.rulesDirectory])
        return set.remediationOrder.compactMap { set.remediations[$0] }
    }

    func testDocumentParserFindsEverySection() throws {
        let steps = Self.troubleshootingSteps(in: try document(Self.fixDoc))
        let sections = Set(steps.map(\.section))
        XCTAssertEqual(sections, ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2", "3.3"])
        XCTAssertGreaterThanOrEqual(steps.count, 30)
        XCTAssertTrue(steps.contains(DocStep(section: "1.1", name: "Verify credentials")), "\(steps)")
        XCTAssertTrue(steps.contains(DocStep(section: "2.4", name: "Log in to only one Google Account")), "\(steps)")
        XCTAssertTrue(steps.contains(DocStep(section: "3.3", name: "Review API documentation")), "\(steps)")
        // Bullets after a section's steps (other lists) are not steps.
        XCTAssertFalse(steps.contains { $0.name.hasPrefix("Incorrect credentials") }, "\(steps)")
    }

    func testEveryDocumentStepIsCovered() throws {
        let steps = Self.troubleshootingSteps(in: try document(Self.fixDoc))
        let covered = Set(try catalog().flatMap(\.covers))
        let uncovered = steps.filter { !covered.contains($0.covers) }.map(\.covers)
        XCTAssertEqual(uncovered, [], "document steps no remediation covers")
    }

    func testCoversNameRealSteps() throws {
        let steps = Set(Self.troubleshootingSteps(in: try document(Self.fixDoc)).map(\.covers))
        var unknown: [String] = []
        for remediation in try catalog() {
            for cover in remediation.covers where cover.hasPrefix("fix-authentication-errors") && !steps.contains(cover) {
                unknown.append("\(remediation.id): \(cover)")
            }
        }
        XCTAssertEqual(unknown, [], "covers entries that name no step of the document")
    }

    func testEveryRemediationHasStepsAndADoc() throws {
        let remediations = try catalog()
        XCTAssertGreaterThan(remediations.count, 20)
        let docPattern = try NSRegularExpression(pattern: #"^(fix-authentication-errors [1-3]\.[1-4]|authorize-via-link( .+)?|none)$"#)
        for r in remediations {
            XCTAssertGreaterThanOrEqual(r.steps.count, 2, "\(r.id) has fewer than two steps")
            XCTAssertFalse(r.title.isEmpty, r.id)
            let range = NSRange(r.doc.startIndex..., in: r.doc)
            XCTAssertNotNil(docPattern.firstMatch(in: r.doc, range: range), "\(r.id): doc '\(r.doc)'")
        }
        let ids = Set(remediations.map(\.id))
        for id in ["verify-credentials", "check-outage", "reauthorize", "single-google-account", "clear-browser-cache",
                   "use-admin-account", "grant-permissions", "check-role-api-access", "reauthorize-full-scopes",
                   "enable-scopes", "check-connection-details", "test-connection-manually", "use-service-account",
                   "allowlist-ip", "check-api-url-and-key", "check-subscription", "check-token-format",
                   "enable-auto-renewal", "store-tokens-securely", "check-api-key-restrictions", "issue-new-link", "click-finish"] {
            XCTAssertTrue(ids.contains(id), "DESIGN.md names remediation '\(id)'")
        }
    }

    /// Lower-cased words (letters, digits, apostrophes) of a text.
    static func words(_ text: String) -> [String] {
        text.lowercased().replacingOccurrences(of: "’", with: "'")
            .split { !($0.isLetter || $0.isNumber || $0 == "'") }.map(String.init)
    }

    static func runs(_ words: [String], length: Int) -> [String] {
        guard words.count >= length else { return [] }
        return (0...(words.count - length)).map { words[$0..<($0 + length)].joined(separator: " ") }
    }

    func testNoStepCopiesTheDocuments() throws {
        var documentRuns = Set<String>()
        for name in [Self.fixDoc, Self.linkDoc] {
            for line in try document(name).components(separatedBy: "\n") {
                documentRuns.formUnion(Self.runs(Self.words(line), length: 8))
            }
        }
        XCTAssertGreaterThan(documentRuns.count, 500)
        var copied: [String] = []
        for r in try catalog() {
            for step in r.steps {
                if let run = Self.runs(Self.words(step), length: 8).first(where: documentRuns.contains) {
                    copied.append("\(r.id): \"\(run)\"")
                }
            }
        }
        // The variants (rules/remediation-variants/) are steps too: the same rule holds.
        let (set, _) = try RuleLibrary.load(includeBuiltin: false, directories: [TestPaths.rulesDirectory])
        let variants = set.variants.values.flatMap { $0 }
        XCTAssertGreaterThan(variants.count, 40)
        for v in variants {
            for step in v.steps {
                if let run = Self.runs(Self.words(step), length: 8).first(where: documentRuns.contains) {
                    copied.append("\(v.id): \"\(run)\"")
                }
            }
            if let doc = v.doc {
                XCTAssertNotNil(doc.range(of: #"^(fix-authentication-errors [1-3]\.[1-4]|authorize-via-link .+)$"#, options: .regularExpression),
                                "\(v.id) cites a section: \(doc)")
            }
        }
        XCTAssertEqual(copied, [], "steps that copy eight or more words of the documents")
    }

    func testCopyDetectorCatchesACopiedSentence() {
        let doc = Set(Self.runs(Self.words("- Verify credentials – Ensure you are using the correct login details. To avoid typos, copy"), length: 8))
        let copied = Self.runs(Self.words("Please ensure you are using the correct login details today."), length: 8)
        XCTAssertTrue(copied.contains(where: doc.contains))
        let own = Self.runs(Self.words("Confirm the login against what the provider accepts right now."), length: 8)
        XCTAssertFalse(own.contains(where: doc.contains))
    }
}
