import Foundation
import PackagePlugin

/// Embeds `rules/` and `fixtures/` (at the package root, where DESIGN.md puts them) into the target
/// as Swift source, so an installed `authdoctor` carries its rule set and examples with it.
@main
struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let folders = ["rules", "fixtures"].map { root.appendingPathComponent($0) }
        var inputs: [URL] = []
        let fm = FileManager.default
        for folder in folders {
            guard let walker = fm.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { continue }
            for case let url as URL in walker {
                if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                   !url.lastPathComponent.hasPrefix(".") {
                    inputs.append(url)
                }
            }
        }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding rules/ and fixtures/",
                executable: try context.tool(named: "EmbedResourcesTool").url,
                arguments: [root.path, output.path] + folders.map(\.lastPathComponent),
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
