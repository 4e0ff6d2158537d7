// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Qwen3Embedding",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Qwen3Embedding", targets: ["Qwen3Embedding"]),
        .executable(name: "qwen3-embed", targets: ["qwen3-embed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
        // `swift package generate-documentation` for the DocC catalog of the library.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // Thin C target: only instructions Swift cannot select at run time (AVX-512 / BF16 kernels).
        // No unsafeFlags anywhere in this manifest: SwiftPM refuses a versioned dependency (`from:`) that has
        // them. Release builds compile C at -O2; debug builds at -O0, where clang marks every function
        // `optnone` and no attribute or pragma can opt one back in, so `swift test -Xcc -O2` (the last -O wins)
        // is how to get optimised C kernels in a debug test run (README, below the CI paragraph).
        .target(name: "CKernels"),
        // Numeric kernels: packed matrix multiplication, normalisation, attention, CPU dispatch.
        .target(name: "Kernels", dependencies: ["CKernels"]),
        // Memory-mapped model files (safetensors, sharded checkpoints) with full validation.
        .target(name: "ModelFormats", dependencies: ["Kernels"]),
        // Byte-level BPE tokenizer, bit-exact with Hugging Face `tokenizers` for Qwen3.
        .target(name: "Tokenizer", dependencies: ["ModelFormats"]),
        // The Qwen3 decoder: configuration, weight binding and the forward pass.
        .target(name: "Qwen3", dependencies: ["Kernels", "ModelFormats"]),
        // Public API: Embedder and Reranker.
        .target(name: "Qwen3Embedding", dependencies: ["Qwen3", "Tokenizer", "ModelFormats", "Kernels"]),
        // OpenAI- and TEI-compatible HTTP server.
        .target(
            name: "Server",
            dependencies: [
                "Qwen3Embedding", "ModelFormats",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // MTEB-style evaluation harness.
        .target(name: "Evaluation", dependencies: ["Qwen3Embedding", "Kernels", "ModelFormats", .product(name: "Crypto", package: "swift-crypto")]),
        // Hugging Face Hub resolution, cache layout and downloads.
        .target(
            name: "Hub",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Model tools: checkpoint merging (SLERP / linear) and safetensors writing.
        .target(name: "ModelTools", dependencies: ["ModelFormats", "Qwen3", "Tokenizer"]),
        // Fine-tuning: backward pass, LoRA / full training, the paper's losses, optimisers, PEFT adapters.
        .target(
            name: "Training",
            dependencies: ["Qwen3", "Qwen3Embedding", "Kernels", "ModelFormats", "ModelTools", "Tokenizer", "Evaluation"]
        ),
        // Training data pipeline: query synthesis with an LLM, hard-negative mining, similarity filtering.
        .target(
            name: "DataPipeline",
            dependencies: [
                "Training", "Qwen3Embedding", "Evaluation", "Kernels",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The synthesis prompt templates, editable files loaded with Bundle.module (--prompt-dir overrides).
            resources: [.copy("Synthesis/Prompts")]
        ),
        // Command-line interface.
        .executableTarget(
            name: "qwen3-embed",
            dependencies: [
                "Qwen3Embedding", "Server", "Evaluation", "Hub", "ModelTools", "Training", "DataPipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Shared by the test targets: fixture locations, golden files, the seeded generator.
        .target(name: "TestSupport", dependencies: ["Kernels", "ModelFormats"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["TestSupport", "Kernels"]),
        .testTarget(name: "ModelFormatsTests", dependencies: ["TestSupport", "ModelFormats"]),
        .testTarget(name: "TokenizerTests", dependencies: ["TestSupport", "Tokenizer", "ModelFormats"]),
        .testTarget(name: "Qwen3EmbeddingTests", dependencies: ["TestSupport", "Qwen3Embedding", "Qwen3", "ModelFormats", "ModelTools", "Tokenizer"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "TestSupport", "Server", "Qwen3Embedding", "ModelFormats",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(name: "EvaluationTests", dependencies: ["TestSupport", "Evaluation", "Qwen3Embedding"]),
        .testTarget(name: "HubTests", dependencies: ["TestSupport", "Hub", .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(
            name: "ModelToolsTests",
            dependencies: ["TestSupport", "ModelTools", "ModelFormats", "Qwen3Embedding", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Qwen3Embedding", "Kernels"]),
        .testTarget(
            name: "DataPipelineTests",
            dependencies: [
                "TestSupport", "DataPipeline", "Training", "Qwen3Embedding", "Evaluation",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["TestSupport", "Training", "Qwen3", "Qwen3Embedding", "Kernels", "ModelFormats", "ModelTools", "Tokenizer", "Evaluation"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
