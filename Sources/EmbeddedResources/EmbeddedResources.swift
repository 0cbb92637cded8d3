import Foundation

/// The rule files and fixtures built into the binary (generated at build time by the
/// EmbedResources plugin as `EmbeddedFiles.encoded`). Decoded on demand, by folder: start-up needs
/// the rules, not the fixtures.
public enum EmbeddedResources {
    public static var all: [(path: String, text: String)] { files(under: "") }

    /// Every embedded file whose path starts with `prefix` ("rules/", "fixtures/").
    public static func files(under prefix: String) -> [(path: String, text: String)] {
        EmbeddedFiles.encoded.compactMap { entry in
            guard entry.path.hasPrefix(prefix), let data = Data(base64Encoded: entry.base64),
                  let text = String(data: data, encoding: .utf8) else { return nil }
            return (entry.path, text)
        }
    }
}
