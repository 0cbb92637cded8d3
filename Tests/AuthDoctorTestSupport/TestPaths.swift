import Foundation

/// Where things are when tests run from a checkout (`swift test` in the package root).
public enum TestPaths {
    /// The package root, found from this file's place in the tree.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var rulesDirectory: String { packageRoot.appendingPathComponent("rules").path }
    public static var fixturesDirectory: String { packageRoot.appendingPathComponent("fixtures").path }
    public static var schemaDirectory: String { packageRoot.appendingPathComponent("schema").path }

    /// `../shared/docs` beside the checkout (present in CI and on developer machines).
    public static var sharedDocs: URL { packageRoot.deletingLastPathComponent().appendingPathComponent("shared/docs") }

    /// The directory holding the built products (`.build/debug` or `.build/release`).
    public static var productsDirectory: URL {
        let bundle = Bundle.main.bundleURL
        return bundle.pathExtension == "xctest" ? bundle.deletingLastPathComponent() : bundle
    }

    /// The built `authdoctor` executable (CLITests depend on it, so `swift test` builds it).
    public static var authdoctorBinary: URL { productsDirectory.appendingPathComponent("authdoctor") }

    public static func fixture(_ relative: String) throws -> String {
        try String(contentsOfFile: fixturesDirectory + "/" + relative, encoding: .utf8)
    }
}
