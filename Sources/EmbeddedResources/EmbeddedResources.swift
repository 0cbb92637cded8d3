// The embedded files are generated at build time by the EmbedResources plugin (EmbeddedFiles.swift).
