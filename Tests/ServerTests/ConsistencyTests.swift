import AsyncHTTPClient
import Foundation
import Logging
import Qwen3Embedding
import Server
import ServiceLifecycle
import Testing
import TestSupport

/// One model gives one answer whichever way it is asked: the library (`Embedder`, `Reranker`), the
/// batching queue wrappers the server uses, and the server's routes return bit-identical results, for
/// every model fixture (safetensors and GGUF, embedding and reranker).
@Suite("Library, queue and server agree bit for bit on every model fixture")
struct ConsistencyTests {
    static let llama = Fixtures.root.appendingPathComponent("gguf-llama")
    static let quant = Fixtures.root.appendingPathComponent("tiny-qwen3-quant").path

    /// Every model fixture used for embedding. The quant fixture is a plain causal LM (see
    /// ModelKindTests) that also serves as the source of the GGUF embedding files, so it is embedded
    /// with `allowAnyModel`.
    static let embeddingModels: [(path: String, allowAnyModel: Bool)] = [
        (Fixtures.embedding, false), (quant, true),
    ] + ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_0", "Q4_K_M", "Q4_1", "IQ4_NL", "IQ4_XS", "Q4_0", "Q3_K_M", "Q2_K"]
        .map { (llama.appendingPathComponent("embedding-\($0).gguf").path, false) }

    /// Every model fixture used for reranking (a causal LM is accepted as a reranker as it is).
    static let rerankerModels: [String] = [
        Fixtures.reranker, quant,
        llama.appendingPathComponent("reranker-F16.gguf").path, llama.appendingPathComponent("reranker-Q8_0.gguf").path,
    ]

    // Few and short: in a debug build on a CPU without AVX-512 every forward pass runs the portable
    // kernels unoptimised, and each fixture is asked ten ways.
    static let texts = ["The capital of China is Beijing.", "東京は日本の首都です。", "a"]
    static let query = "What is the capital of China?"

    @Test(arguments: embeddingModels.indices)
    func embeddings(index: Int) async throws {
        let (path, allowAnyModel) = Self.embeddingModels[index]
        let embedder = try Embedder(modelAt: URL(fileURLWithPath: path), maxBatchTokens: 64, allowAnyModel: allowAnyModel)
        let name = (path as NSString).lastPathComponent
        let dimensions = embedder.dimensionRange.lowerBound  // 32 where the model is wider
        let library = try await embedder.embed(Self.texts)
        let libraryTruncated = try await embedder.embed(Self.texts, dimensions: dimensions, normalize: false)
        let libraryQuery = try await embedder.embed([Self.query], instruction: Prompts.defaultInstruction)
        let prompts = embedder.tokenize(Self.texts)

        let batched = BatchedEmbedder(embedder, maxPendingRequests: 8)
        // (The server's routes below also run through a BatchedEmbedder; this checks the wrapper alone.)
        #expect(try await batched.embed(tokenIDs: prompts, dimensions: dimensions, normalize: false)
                == libraryTruncated, "\(name): queue, truncated")

        try await Self.withServer(ServerConfiguration(embedder: embedder, reranker: nil)) { server in
            let openAI = try await server.post("/v1/embeddings", ["input": Self.texts, "encoding_format": "base64"])
            #expect(openAI.status == 200, "\(name): \(String(decoding: openAI.body, as: UTF8.self))")
            let vectors = (openAI.object["data"] as? [[String: Any]] ?? []).map { decodeBase64Floats($0["embedding"] as? String ?? "") }
            #expect(vectors == library, "\(name): /v1/embeddings")

            let query = try await server.post("/v1/embeddings", [
                "input": Self.query, "encoding_format": "base64", "instruction": Prompts.defaultInstruction,
            ])
            let queryVector = (query.object["data"] as? [[String: Any]])?.first?["embedding"] as? String ?? ""
            #expect([decodeBase64Floats(queryVector)] == libraryQuery, "\(name): /v1/embeddings with an instruction")

            let tei = try await server.post("/embed", ["inputs": Self.texts])
            #expect(tei.status == 200, "\(name): \(String(decoding: tei.body, as: UTF8.self))")
            #expect(Self.exactFloatRows(tei.body) == library, "\(name): /embed")

            let truncated = try await server.post("/embed", ["inputs": Self.texts, "dimensions": dimensions, "normalize": false])
            #expect(truncated.status == 200, "\(name): \(String(decoding: truncated.body, as: UTF8.self))")
            #expect(Self.exactFloatRows(truncated.body) == libraryTruncated, "\(name): /embed, truncated and raw")
        }
    }

    @Test(arguments: rerankerModels.indices)
    func scores(index: Int) async throws {
        let path = Self.rerankerModels[index]
        let name = (path as NSString).lastPathComponent
        let reranker = try Reranker(modelAt: URL(fileURLWithPath: path))
        let library = try await reranker.score(query: Self.query, documents: Self.texts)
        let prompts = Self.texts.map { reranker.tokenize(query: Self.query, document: $0) }
        let libraryRaw = try await reranker.score(tokenIDs: prompts, raw: true)
        #expect(library.allSatisfy { $0 > 0 && $0 < 1 })

        // (The server's routes below also run through a BatchedReranker; this checks the wrapper alone.)
        let batched = try BatchedReranker(reranker, maxPendingRequests: 8)
        #expect(try await batched.score(tokenIDs: prompts, raw: true) == libraryRaw, "\(name): queue, raw")

        try await Self.withServer(ServerConfiguration(embedder: nil, reranker: reranker)) { server in
            let cohere = try await server.post("/v1/rerank", ["query": Self.query, "documents": Self.texts])
            #expect(cohere.status == 200, "\(name): \(String(decoding: cohere.body, as: UTF8.self))")
            #expect(Self.scoresInInputOrder(cohere.object["results"], key: "relevance_score") == library, "\(name): /v1/rerank")

            let tei = try await server.post("/rerank", ["query": Self.query, "texts": Self.texts])
            #expect(tei.status == 200, "\(name): \(String(decoding: tei.body, as: UTF8.self))")
            #expect(Self.scoresInInputOrder(tei.json, key: "score") == library, "\(name): /rerank")

            let raw = try await server.post("/rerank", ["query": Self.query, "texts": Self.texts, "raw_scores": true])
            #expect(Self.scoresInInputOrder(raw.json, key: "score") == libraryRaw, "\(name): /rerank raw_scores")
        }
    }

    /// The regression behind issue 12: llama.cpp's reranker-F16 file has `cls.output` and no
    /// `output.weight`; the server used to score it with token-embedding rows (0.5692 where the CLI and
    /// llama.cpp say 0.4921). Now the server's score is the CLI's, bit for bit, and llama.cpp's.
    @Test func serverScoresLlamaCppRerankerFileAsTheCLIAndLlamaCppDo() async throws {
        let path = Self.llama.appendingPathComponent("reranker-F16.gguf").path
        struct Golden: Decodable {
            struct Pair: Decodable { let query: String; let document: String }
            let rerank_pairs: [Pair]
        }
        struct LlamaOutputs: Decodable {
            struct File: Decodable { let rank_outputs: [[Float]]? }
            let files: [String: File]
        }
        let pairs = try GoldenFile.decode(Golden.self, at: "golden/quant.json").rerank_pairs
        let llamaScores = try #require(try GoldenFile.decode(LlamaOutputs.self, at: "gguf-llama/llama-outputs.json")
            .files["reranker-F16.gguf"]?.rank_outputs).map { $0[0] }  // softmax([yes, no])[0] = P(yes)

        // The CLI's scores, as printed (shortest round-trip floats, parsed exactly).
        let input = pairs.map { "{\"query\": \(Self.jsonString($0.query)), \"document\": \(Self.jsonString($0.document))}" }
            .joined(separator: "\n")
        let cli = try Self.runBinary(["rerank", "--model", path, "--input", "-"], stdin: input)
        #expect(cli.status == 0, "\(cli.stderr)")
        let cliScores = cli.stdout.split(separator: "\n").map { line -> Float in
            let value = line.split(separator: "\"score\": ").last.map { $0.dropLast() } ?? ""
            return Float(String(value)) ?? .nan
        }
        #expect(cliScores.count == pairs.count)

        let reranker = try Reranker(modelAt: URL(fileURLWithPath: path))
        try await Self.withServer(ServerConfiguration(embedder: nil, reranker: reranker)) { server in
            var serverScores: [Float] = []
            for query in pairs.map(\.query).reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
                let documents = pairs.filter { $0.query == query }.map(\.document)
                let reply = try await server.post("/rerank", ["query": query, "texts": documents])
                serverScores += Self.scoresInInputOrder(reply.json, key: "score")
            }
            #expect(serverScores == cliScores, "server \(serverScores) vs CLI \(cliScores)")
            for (ours, theirs) in zip(serverScores, llamaScores) {
                #expect(abs(ours - theirs) <= 1e-4, "server \(ours) vs llama.cpp \(theirs)")
            }
        }
    }
}

// MARK: - Helpers

extension ConsistencyTests {
    /// Runs `body` against a server for `configuration` on a free loopback port, then shuts it down.
    static func withServer(_ configuration: ServerConfiguration, _ body: (TestServer) async throws -> Void) async throws {
        var configuration = configuration
        configuration.port = 0
        // No timeout that a slow machine could reach: twenty fixtures share one inference queue.
        configuration.limits = .patient
        var logger = Logger(label: "consistency-tests")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = try EmbeddingServer(configuration: configuration, logger: logger) { continuation.yield($0) }
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], logger: logger)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .forTests)
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw CancellationError() }
                do {
                    try await body(TestServer(port: port, client: client))
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// The rows of a JSON array of number arrays, each number parsed from its text as a `Float` (exact
    /// for the shortest round-trip text the server writes; no detour through `Double`).
    static func exactFloatRows(_ body: Data) -> [[Float]] {
        let text = String(decoding: body, as: UTF8.self).filter { !$0.isWhitespace }
        guard text.hasPrefix("[["), text.hasSuffix("]]") else { return [] }
        return text.dropFirst(2).dropLast(2).components(separatedBy: "],[").map { row in
            row.isEmpty ? [] : row.split(separator: ",").map { Float(String($0)) ?? .nan }
        }
    }

    /// Scores of `[{index, <key>}]` put back in input order (the server writes each score as the `Double`
    /// of the `Float`, so the round trip through `Double` is exact).
    static func scoresInInputOrder(_ results: Any?, key: String) -> [Float] {
        let entries = (results as? [[String: Any]] ?? []).compactMap { entry -> (Int, Float)? in
            guard let index = entry["index"] as? Int, let score = (entry[key] as? NSNumber)?.doubleValue else { return nil }
            return (index, Float(score))
        }
        return entries.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// A JSON string literal.
    static func jsonString(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text])
        return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
    }

    /// Runs the `qwen3-embed` binary built beside the tests.
    static func runBinary(_ arguments: [String], stdin: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let packageRoot = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [packageRoot.appendingPathComponent(".build/debug/qwen3-embed")]
        if let executable = Bundle.main.executableURL {
            var directory = executable.deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.insert(directory.appendingPathComponent("qwen3-embed"), at: 0)
                directory.deleteLastPathComponent()
            }
        }
        let binary = candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdoutData, as: UTF8.self), String(decoding: stderrData, as: UTF8.self))
    }

}
