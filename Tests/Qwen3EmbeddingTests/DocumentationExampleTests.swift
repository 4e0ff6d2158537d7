import Foundation
import Qwen3Embedding
import Testing
import TestSupport

/// The code of the DocC catalog (Sources/Qwen3Embedding/Qwen3Embedding.docc) and of the doc comments in
/// Sources/Qwen3Embedding, compiled and run.
///
/// DocC does not compile the code blocks of articles, so each ```swift block of the catalog is copied
/// here between `// docc: <Article>.md#<n>` (`<File>.swift#<n>` for a doc comment's block) and
/// `// docc: end` (the Hummingbird examples in
/// Tests/ServerTests/DocumentationExampleTests.swift) and run on the committed tiny models, and
/// `everySwiftBlockOfTheCatalogIsMirrored` fails when a block and its copy differ, so an article
/// cannot keep an example that no longer compiles. The only lines allowed to differ are the ones that
/// say where the model is (`let …URL = …`: a path under /models in the article, a fixture here) and
/// the imports (at the top of this file instead).
@Suite struct DocumentationExampleTests {
    /// An embedding fixture 256 wide, so that the articles' `dimensions: 256` is a valid size (the
    /// tiny safetensors model is 40 wide).
    static let wideEmbeddingModel = TestPaths.fixture("gguf-llama/embedding-F16.gguf")

    /// Whether `vector` has unit length, as every normalised embedding must.
    static func isUnit(_ vector: [Float]) -> Bool {
        abs(vector.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4
    }

    @Test func landingPage() async throws {
        let embeddingModelURL = TestPaths.tinyEmbeddingModel
        // docc: Qwen3Embedding.md#1
        let embedder = try Embedder(modelAt: embeddingModelURL)
        let vectors = try await embedder.embed(["The capital of China is Beijing."])
        print(vectors[0].count)  // the model's hidden size: 1024 for the 0.6B model
        // docc: end
        #expect(vectors[0].count == embedder.dimensions)
        #expect(Self.isUnit(vectors[0]))
    }

    @Test func gettingStarted() async throws {
        let embeddingModelURL = TestPaths.tinyEmbeddingModel
        let rerankerModelURL = TestPaths.tinyRerankerModel
        // docc: GettingStarted.md#2
        let embedder = try Embedder(modelAt: embeddingModelURL)

        let queries = try await embedder.embed(
            ["What is the capital of China?"], instruction: Prompts.defaultInstruction)
        let documents = try await embedder.embed(
            ["The capital of China is Beijing.", "Gravity is a force that attracts two bodies."])

        let similarities = documents.map { document in
            zip(queries[0], document).reduce(0) { $0 + $1.0 * $1.1 }
        }
        // docc: end
        #expect(similarities.count == 2)
        // Unit vectors: the dot products are cosines, and equal the ones computed by hand here.
        let cosine = zip(queries[0], documents[1]).map { $0 * $1 }.reduce(0, +)
        #expect(abs(similarities[1] - cosine) < 1e-6)
        #expect(similarities.allSatisfy { abs($0) <= 1 + 1e-5 })

        // docc: GettingStarted.md#3
        let reranker = try Reranker(modelAt: rerankerModelURL)
        let scores = try await reranker.score(
            query: "What is the capital of China?",
            documents: ["The capital of China is Beijing.", "Gravity is a force that attracts two bodies."])
        // docc: end
        #expect(scores.count == 2)
        #expect(scores.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test func embedding() async throws {
        let embeddingModelURL = Self.wideEmbeddingModel
        // docc: Embedding.md#1
        let embedder = try Embedder(modelAt: embeddingModelURL)
        let instruction = "Given a question, retrieve passages that answer it"

        let query = try await embedder.embed(["How do plants make food?"], instruction: instruction)
        let passages = try await embedder.embed([
            "Photosynthesis turns light, water and carbon dioxide into sugar.",
            "The Eiffel Tower is in Paris.",
        ])
        // docc: end
        #expect(query.count == 1 && passages.count == 2)
        // An instruction makes the text a query in the official format, and nothing else.
        #expect(embedder.tokenize(["How do plants make food?"], instruction: instruction)
            == embedder.tokenize([Prompts.embeddingQuery("How do plants make food?", instruction: instruction)]))

        // docc: Embedding.md#2
        let short = try await embedder.embed(["How do plants make food?"], instruction: instruction, dimensions: 256)
        let shortPassages = try await embedder.embed(["Photosynthesis turns light into sugar."], dimensions: 256)
        let similarity = zip(short[0], shortPassages[0]).reduce(0) { $0 + $1.0 * $1.1 }
        // docc: end
        #expect(short[0].count == 256 && shortPassages[0].count == 256)
        #expect(Self.isUnit(short[0]) && abs(similarity) <= 1 + 1e-5)

        // docc: Embedding.md#3
        let compact = try Embedder(modelAt: embeddingModelURL, maxLength: 512, maxBatchTokens: 4096)
        let tokenIDs = compact.tokenize(["How do plants make food?"], instruction: instruction)
        let vectors = try await compact.embed(tokenIDs: tokenIDs)
        // docc: end
        // The same text through the token-id entry point gives the same vector, bit for bit.
        #expect(vectors == query)
    }

    @Test func reranking() async throws {
        let rerankerModelURL = TestPaths.tinyRerankerModel
        // docc: Reranking.md#1
        let reranker = try Reranker(modelAt: rerankerModelURL)
        let documents = [
            "The capital of China is Beijing.",
            "Gravity is a force that attracts two bodies towards each other.",
            "Beijing hosted the 2008 Summer Olympics.",
        ]
        let scores = try await reranker.score(query: "What is the capital of China?", documents: documents)
        let ranked = zip(documents, scores).sorted { $0.1 > $1.1 }
        // docc: end
        #expect(ranked.count == 3 && ranked.map { $0.1 } == scores.sorted(by: >))

        // docc: Reranking.md#2
        let pairScores = try await reranker.score(
            pairs: [
                (query: "capital of China", document: "Beijing is the capital of China."),
                (query: "boiling point of water", document: "Water boils at 100 °C at sea level."),
            ],
            instruction: "Given a question, judge whether the passage answers it")
        // docc: end
        #expect(pairScores.count == 2 && pairScores.allSatisfy { $0 > 0 && $0 < 1 })

        // docc: Reranking.md#3
        let prompt = reranker.tokenize(query: "What is the capital of China?", document: documents[0])
        let logitDifferences = try await reranker.score(tokenIDs: [prompt], raw: true)
        // docc: end
        // The raw difference is the logit of the score: sigmoid(raw) is the probability.
        let probability = 1 / (1 + exp(-Double(logitDifferences[0])))
        #expect(abs(probability - Double(scores[0])) < 1e-6)
    }

    @Test func precision() async throws {
        let embeddingModelURL = TestPaths.tinyEmbeddingModel
        // docc: PrecisionAndThreads.md#1
        let precision = Precision(argument: ProcessInfo.processInfo.environment["EMBEDDING_PRECISION"] ?? "auto") ?? .float32
        let embedder = try Embedder(modelAt: embeddingModelURL, precision: precision)
        print(embedder.model.precision, embedder.model.kernel)
        // docc: end
        #expect(embedder.model.precision == precision)
        #expect(Precision(argument: "auto") == Precision.automatic)
    }

    @Test func docCommentsOfEmbedderAndReranker() async throws {
        let embeddingModelURL = TestPaths.tinyEmbeddingModel
        // docc: Embedder.swift#1
        let embedder = try Embedder(modelAt: embeddingModelURL)
        let query = try await embedder.embed(["What is the capital of China?"],
                                             instruction: Prompts.defaultInstruction)
        let documents = try await embedder.embed(["The capital of China is Beijing."])
        // docc: end
        #expect(Self.isUnit(query[0]) && Self.isUnit(documents[0]))

        let rerankerModelURL = TestPaths.tinyRerankerModel
        // docc: Reranker.swift#1
        let reranker = try Reranker(modelAt: rerankerModelURL)
        let scores = try await reranker.score(query: "capital of China?",
                                              documents: ["Beijing is the capital.", "Gravity…"])
        // docc: end
        #expect(scores.count == 2 && scores.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test func gguf() async throws {
        let ggufURL = TestPaths.fixture("gguf-llama/embedding-Q8_0.gguf")
        // docc: GGUFModels.md#1
        let quantized = try Embedder(modelAt: ggufURL)
        let vectors = try await quantized.embed(["The capital of China is Beijing."], dimensions: 256)
        // docc: end
        #expect(vectors[0].count == 256 && Self.isUnit(vectors[0]))
        #expect(quantized.kind == .embedding)
    }

    // MARK: - The catalog and its copies agree

    static let sources = TestPaths.repositoryRoot.appendingPathComponent("Sources/Qwen3Embedding")
    static let catalog = sources.appendingPathComponent("Qwen3Embedding.docc")
    static let mirrorFiles = [
        "Tests/Qwen3EmbeddingTests/DocumentationExampleTests.swift",
        "Tests/ServerTests/DocumentationExampleTests.swift",
    ]
    /// The consumer package that CI builds against a tagged clone: the manifest lines an article shows
    /// must be the ones that package uses.
    static let consumerManifest = "Tests/consumer/Package.swift"

    /// The lines of each ```swift block of a Markdown document, in order; with `docComments`, of the
    /// `///` comments of a Swift source (the comment marker and one space removed).
    static func swiftBlocks(in text: String, docComments: Bool = false) -> [[String]] {
        var blocks: [[String]] = []
        var current: [String]?
        for rawLine in text.components(separatedBy: "\n") {
            var line = rawLine
            if docComments {
                let trimmed = rawLine.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix("///") else { continue }
                line = String(trimmed.dropFirst(trimmed.hasPrefix("/// ") ? 4 : 3))
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current == nil, trimmed == "```swift" {
                current = []
            } else if current != nil, trimmed == "```" {
                blocks.append(current!)
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// The regions between `// docc: <name>` and `// docc: end` of a Swift source, by name.
    static func regions(in source: String) throws -> [String: [String]] {
        var regions: [String: [String]] = [:]
        var open: (name: String, lines: [String])?
        for line in source.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("// docc: ") {
                let name = String(trimmed.dropFirst("// docc: ".count))
                if name == "end" {
                    let region = try #require(open, "a `// docc: end` without a start")
                    #expect(regions[region.name] == nil, "two copies of \(region.name)")
                    regions[region.name] = region.lines
                    open = nil
                } else {
                    #expect(open == nil, "\(name) starts inside \(open?.name ?? "")")
                    open = (name, [])
                }
            } else {
                open?.lines.append(line)
            }
        }
        #expect(open == nil, "\(open?.name ?? "") has no `// docc: end`")
        return regions
    }

    /// The lines that must agree: no blank lines, imports or model locations, indentation relative to
    /// the least indented line.
    static func comparable(_ lines: [String]) -> [String] {
        let kept = lines.filter { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("import ") { return false }
            return !(trimmed.hasPrefix("let ") && trimmed.contains("URL = "))
        }
        let indent = kept.map { $0.prefix(while: { $0 == " " }).count }.min() ?? 0
        return kept.map { String($0.dropFirst(indent)) }
    }

    @Test func everySwiftBlockOfTheCatalogIsMirrored() throws {
        var mirrored: [String: [String]] = [:]
        for file in Self.mirrorFiles {
            let source = try String(contentsOf: TestPaths.repositoryRoot.appendingPathComponent(file), encoding: .utf8)
            mirrored.merge(try Self.regions(in: source)) { first, _ in first }
        }
        let articles = try FileManager.default.contentsOfDirectory(atPath: Self.catalog.path)
            .filter { $0.hasSuffix(".md") }.sorted()
        #expect(articles.count >= 7, "the landing page and six articles")
        let sourceFiles = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path)
            .filter { $0.hasSuffix(".swift") }.sorted()
        let documents = try articles.map { ($0, try String(contentsOf: Self.catalog.appendingPathComponent($0), encoding: .utf8), false) }
            + sourceFiles.map { ($0, try String(contentsOf: Self.sources.appendingPathComponent($0), encoding: .utf8), true) }
        var blockNames: Set<String> = []
        for (file, text, isSource) in documents {
            for (index, block) in Self.swiftBlocks(in: text, docComments: isSource).enumerated() {
                let name = "\(file)#\(index + 1)"
                if block.contains(where: { $0.contains(".package(url:") }) {
                    try Self.checkManifestFragment(block, name: name)
                    continue
                }
                blockNames.insert(name)
                let copy = try #require(mirrored[name], "\(name) has no copy between `// docc: \(name)` and `// docc: end` in a test")
                #expect(Self.comparable(block) == Self.comparable(copy), "\(name) differs from its copy in the tests")
            }
        }
        #expect(Set(mirrored.keys) == blockNames, "copies in the tests without a block in the catalog, or the reverse")
    }

    /// A `Package.swift` fragment: its version and product must be the consumer package's (the URL and
    /// the package name are placeholders in the article, a local clone in the consumer package).
    static func checkManifestFragment(_ block: [String], name: String) throws {
        let manifest = try String(
            contentsOf: TestPaths.repositoryRoot.appendingPathComponent(consumerManifest), encoding: .utf8)
        let text = block.joined(separator: "\n")
        let patterns = [#"from: "[^"]+""#, #"\.product\(name: "[^"]+""#]
        for pattern in patterns {
            let expression = try NSRegularExpression(pattern: pattern)
            let matches = expression.matches(in: text, range: NSRange(text.startIndex..., in: text))
            #expect(!matches.isEmpty, "\(name) has no \(pattern)")
            for match in matches {
                let fragment = String(text[Range(match.range, in: text)!])
                #expect(manifest.contains(fragment), "\(name): \(fragment) is not what \(consumerManifest) uses")
            }
        }
    }
}
