// swift-tools-version: 6.1
// A package that uses Qwen3Embedding the way a Swift user does: by version, through the library product
// only. Tests/consumer/run.sh builds it against a tagged local clone of the repository (CI runs that);
// SwiftPM refuses a versioned dependency whose manifest has `unsafeFlags`, so this is the proof that the
// package can be depended on with `from:`.
import PackageDescription

let package = Package(
    name: "Consumer",
    platforms: [.macOS(.v15)],
    dependencies: [
        // run.sh puts a tagged clone of the repository beside this package; a user writes the repository's
        // git URL here instead.
        .package(url: "../qwen3-embedding", from: "0.1.0"),
    ],
    targets: [
        .executableTarget(
            name: "consumer",
            dependencies: [.product(name: "Qwen3Embedding", package: "qwen3-embedding")],
            path: ".",
            sources: ["main.swift"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
