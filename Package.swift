// swift-tools-version:6.0
import PackageDescription

// Dependency direction (DESIGN.md): authdoctor → AuthDoctorCLI → {Links, HealthCheck, Diagnose}; Diagnose → {Probe, RuleEngine} → EvidenceModel.
// authdoctor-serve → ServeCLI → {AuthDoctorCLI, LinkServer → {Links, Probe, RuleEngine}}: `authdoctor serve` execs it.
// Probe wraps libcurl through CCurl; Diagnose wraps libpq through CLibPQ (DatabaseDiagnosisLibPQ.swift only).
let package = Package(
    name: "authdoctor",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "authdoctor", targets: ["authdoctor"]),
        .executable(name: "authdoctor-serve", targets: ["authdoctor-serve"]),
        .executable(name: "authdoctor-bench", targets: ["authdoctor-bench"]),
        .library(name: "Diagnose", targets: ["Diagnose"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Hummingbird's own logging and HTTP field types (already in its dependency graph), used by the link server.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // ICU's data trimmed to what authdoctor uses, for the static binaries (see icu-data.S).
        .target(name: "CICUData", exclude: ["data"], cSettings: [.headerSearchPath("data")]),
        // libcurl's headers (apt libcurl4-openssl-dev) at build time; the library itself is loaded with
        // dlopen when the first probe needs it (Sources/CCurl/CCurl.c).
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("crypto"), .linkedLibrary("dl")]),
        // libpq's headers (apt libpq-dev) at build time; the library is loaded with dlopen on first use (Sources/CLibPQ/CLibPQ.c).
        .target(name: "CLibPQ", linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "EvidenceModel"),
        .target(name: "YAMLSupport", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "Probe", dependencies: ["CCurl", "EvidenceModel"]),
        .plugin(name: "EmbedResources", capability: .buildTool()),
        // rules/ and fixtures/ live at the package root (DESIGN.md); this target embeds them so the
        // built binary is self-contained and works from any directory.
        .target(name: "EmbeddedResources", plugins: ["EmbedResources"]),
        .target(
            name: "RuleEngine",
            dependencies: ["EvidenceModel", "EmbeddedResources", "YAMLSupport", .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "Diagnose", dependencies: ["RuleEngine", "EvidenceModel", "Probe", "CLibPQ", .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto")]),
        // Local replay of providers from fixtures/ (tests, `--sandbox`, `authdoctor demo`); never uses Rules.
        .target(
            name: "Sandbox",
            dependencies: ["EvidenceModel", "EmbeddedResources", "COpenSSL", "YAMLSupport", .product(name: "Yams", package: "Yams")]
        ),
        // The authorization-link issuer: links, sessions, connections, check history (SQLite via GRDB, PostgreSQL via libpq).
        .target(name: "Links", dependencies: ["EvidenceModel", "Probe", "CLibPQ", .product(name: "GRDB", package: "GRDB.swift"),
                                              .product(name: "Crypto", package: "swift-crypto")]),
        // `serve`'s limits and listen addresses, validated by the CLI without linking the server.
        .target(name: "LinkServerSettings"),
        // `authdoctor serve`: the link pages and the OAuth 2.0 authorization-code flow (Hummingbird).
        .target(name: "LinkServer", dependencies: ["LinkServerSettings", "Links", "RuleEngine", "EvidenceModel", "Probe", "Diagnose", "HealthCheck",
                                                   .product(name: "Hummingbird", package: "hummingbird"),
                                                   .product(name: "Logging", package: "swift-log"),
                                                   .product(name: "HTTPTypes", package: "swift-http-types"),
                                                   .product(name: "Crypto", package: "swift-crypto")]),
        // `authdoctor check`: many connections (a connections file, the store), verdicts, outputs, renewal, history.
        .target(name: "HealthCheck", dependencies: ["Diagnose", "RuleEngine", "Probe", "EvidenceModel", "YAMLSupport", "Links",
                                                    .product(name: "Yams", package: "Yams")]),
        .target(
            name: "AuthDoctorCLI",
            dependencies: ["Diagnose", "RuleEngine", "EvidenceModel", "Probe", "Sandbox", "Links", "HealthCheck", "LinkServerSettings",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The link server behind `serve` and the demo's link flow (Hummingbird, NIO): only `authdoctor-serve` links it.
        .target(
            name: "ServeCLI",
            dependencies: ["AuthDoctorCLI", "LinkServer", "Diagnose", "RuleEngine", "EvidenceModel", "Probe", "Sandbox", "Links", "HealthCheck",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Hummingbird", package: "hummingbird")]
        ),
        .executableTarget(name: "authdoctor", dependencies: ["AuthDoctorCLI", "CICUData"]),
        .executableTarget(name: "authdoctor-serve", dependencies: ["AuthDoctorCLI", "ServeCLI", "CICUData"]),
        .executableTarget(name: "authdoctor-bench", dependencies: ["Diagnose", "RuleEngine", "EvidenceModel", "Probe", "Sandbox", "Links", "LinkServer"]),
        .target(name: "AuthDoctorTestSupport", dependencies: ["EvidenceModel"], path: "Tests/AuthDoctorTestSupport"),
        .testTarget(name: "ProbeTests", dependencies: ["Probe", "AuthDoctorTestSupport"]),
        .testTarget(name: "EvidenceModelTests", dependencies: ["EvidenceModel", "AuthDoctorTestSupport"]),
        .testTarget(name: "RuleEngineTests", dependencies: ["RuleEngine", "Diagnose", "AuthDoctorTestSupport", "EmbeddedResources"]),
        .testTarget(name: "DiagnoseTests", dependencies: ["Diagnose", "Sandbox", "AuthDoctorTestSupport"]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "Probe", "AuthDoctorTestSupport"]),
        .testTarget(name: "LinksTests", dependencies: ["Links", "AuthDoctorTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "LinkServerTests", dependencies: ["LinkServer", "Links", "Sandbox", "Probe", "RuleEngine", "EvidenceModel", "Diagnose",
                                                           "AuthDoctorTestSupport",
                                                           .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                           .product(name: "Yams", package: "Yams"),
                                                           .product(name: "GRDB", package: "GRDB.swift"),
                                                           .product(name: "Logging", package: "swift-log"),
                                                           .product(name: "HTTPTypes", package: "swift-http-types")]),
        .testTarget(name: "HealthCheckTests", dependencies: ["HealthCheck", "Diagnose", "Probe", "Sandbox", "Links", "AuthDoctorTestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["AuthDoctorCLI", "HealthCheck", "AuthDoctorTestSupport", "authdoctor", "authdoctor-serve", "Links"]),
    ],
    swiftLanguageModes: [.v6]
)
