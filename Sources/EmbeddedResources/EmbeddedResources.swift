import Foundation

/// The rule files and fixtures built into the binary (generated at build time by the
/// EmbedResources plugin as `EmbeddedFiles.encoded`), decoded once on first use.
public enum EmbeddedResources {
    public static let all: [(path: String, text: String)] = EmbeddedFiles.encoded.compactMap { entry in
        guard let data = Data(base64Encoded: entry.base64), let text = String(data: data, encoding: .utf8) else { return nil }
        return (entry.path, text)
    }
}
