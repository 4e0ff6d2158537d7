// swift-tools-version: 6.1
import PackageDescription

/// Release builds of the numeric code are compiled for speed; the portable path stays
/// the default so the package runs on any x86_64 or arm64 CPU.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Qwen3Embedding",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Qwen3Embedding", targets: ["Qwen3Embedding"]),
        .executable(name: "qwen3-embed", targets: ["qwen3-embed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Numeric kernels: matrix multiplication, normalisation, attention helpers.
        .target(name: "Kernels", swiftSettings: kernelSettings),
        // Memory-mapped model files (safetensors, sharded checkpoints) with full validation.
        .target(name: "ModelFormats"),
        // Byte-level BPE tokenizer, bit-exact with Hugging Face `tokenizers` for Qwen3.
        .target(name: "Tokenizer"),
        // The Qwen3 decoder: configuration, weight binding and the forward pass.
        .target(name: "Qwen3", dependencies: ["Kernels", "ModelFormats"], swiftSettings: kernelSettings),
        // Public API: Embedder and Reranker.
        .target(name: "Qwen3Embedding", dependencies: ["Qwen3", "Tokenizer", "ModelFormats"]),
        // Command-line interface.
        .executableTarget(
            name: "qwen3-embed",
            dependencies: [
                "Qwen3Embedding",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "ModelFormatsTests", dependencies: ["ModelFormats"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "Qwen3EmbeddingTests", dependencies: ["Qwen3Embedding", "Qwen3", "ModelFormats", "Tokenizer"]),
        .testTarget(name: "CLITests", dependencies: ["Qwen3Embedding"]),
    ],
    swiftLanguageModes: [.v6]
)
