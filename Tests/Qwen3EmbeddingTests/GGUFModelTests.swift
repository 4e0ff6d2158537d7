import Foundation
import Testing
import TestSupport
import Qwen3Embedding
import Tokenizer

/// GGUF files written by llama.cpp's converter and quantizer (Scripts/make_gguf_fixtures.py) run here
/// with the same results as the transformers fp32 reference, within each type's tolerance, and agree
/// with llama.cpp's own outputs on the very same files.
@Suite struct GGUFModelTests {
    static let directory = Fixtures.root.appendingPathComponent("gguf-llama")

    struct QuantGolden: Decodable {
        struct Pair: Decodable { let query: String; let document: String }
        let texts: [String]
        let ids: [[Int]]
        let embeddings: [[Float]]
        let rerank_pairs: [Pair]
        let rerank_ids: [[Int]]
        let scores: [Float]
    }

    struct LlamaOutputs: Decodable {
        struct File: Decodable {
            let embeddings: [[Float]]?
            let rank_outputs: [[Float]]?
            let min_cosine_vs_transformers: Double?
        }
        let files: [String: File]
    }

    /// Each file type with the lowest cosine to the fp32 reference it must reach (and, for every type,
    /// cosine ≥ 0.9995 to llama.cpp's own embedding of the same text from the same file; measured
    /// ≥ 0.99977): the bars
    /// for Q8_0 (0.999) and Q4_K_M (0.98); for the others, what llama.cpp itself reaches on the same
    /// file, less a small margin (our activations are quantized per 32 values, llama.cpp's K-quant
    /// path per 256, so neither is uniformly closer).
    static let embeddingFiles: [(type: String, minimumCosine: Float)] = [
        ("F16", 0.99999), ("Q8_0", 0.999), ("Q6_K", 0.998), ("Q5_K_M", 0.994), ("Q5_1", 0.993), ("Q5_0", 0.992),
        ("Q4_K_M", 0.98), ("Q4_1", 0.977), ("IQ4_NL", 0.975), ("IQ4_XS", 0.975), ("Q4_0", 0.97), ("Q3_K_M", 0.945),
        ("Q2_K", 0.83),
    ]

    static func golden() throws -> QuantGolden {
        try Fixtures.load("quant.json", as: QuantGolden.self)
    }

    static func llama() throws -> LlamaOutputs {
        try GoldenFile.decode(LlamaOutputs.self, at: "gguf-llama/llama-outputs.json")
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        let dot = zip(a, b).reduce(Double(0)) { $0 + Double($1.0) * Double($1.1) }
        let norms = (a.reduce(Double(0)) { $0 + Double($1) * Double($1) } * b.reduce(Double(0)) { $0 + Double($1) * Double($1) }).squareRoot()
        return Float(dot / norms)
    }

    @Test(arguments: embeddingFiles.indices)
    func embeddingsMatchTheReference(index: Int) async throws {
        let (type, minimumCosine) = Self.embeddingFiles[index]
        let name = "embedding-\(type).gguf"
        let golden = try Self.golden()
        let embedder = try Embedder(modelAt: Self.directory.appendingPathComponent(name))
        // The file's quantization mix, as llama-quantize names it (general.file_type).
        #expect(embedder.model.configuration.checkpointDataType == type)
        // The tokenizer rebuilt from the GGUF metadata gives the reference ids (EOS included).
        #expect(embedder.tokenize(golden.texts) == golden.ids, "\(name): token ids")
        let vectors = try await embedder.embed(golden.texts)
        let llama = try #require(try Self.llama().files[name]?.embeddings)
        for (row, vector) in vectors.enumerated() {
            let reference = Self.cosine(vector, golden.embeddings[row])
            #expect(reference >= minimumCosine, "\(name)[\(row)]: cosine to transformers \(reference)")
            let peer = Self.cosine(vector, llama[row])
            #expect(peer >= (type == "F16" ? 0.99999 : 0.9995), "\(name)[\(row)]: cosine to llama.cpp \(peer)")
        }
    }

    @Test func halfPrecisionFileIsWithinTheCoreTolerance() async throws {
        let golden = try Self.golden()
        let embedder = try Embedder(modelAt: Self.directory.appendingPathComponent("embedding-F16.gguf"))
        let vectors = try await embedder.embed(golden.texts)
        for (row, vector) in vectors.enumerated() {
            #expect(maxAbsoluteDifference(vector, golden.embeddings[row]) <= 1e-4, "row \(row)")
        }
    }

    @Test(arguments: [("F16", Float(1e-4)), ("Q8_0", Float(0.02))])
    func rerankerFilesScoreLikeTheReference(type: String, tolerance: Float) async throws {
        let golden = try Self.golden()
        let name = "reranker-\(type).gguf"
        let reranker = try Reranker(modelAt: Self.directory.appendingPathComponent(name))
        // llama.cpp's converter replaces the LM head with `cls.output` (the "yes" and "no" rows).
        #expect(reranker.model.weights.classifier?.labels == ["yes", "no"])
        let pairs = golden.rerank_pairs.map { (query: $0.query, document: $0.document) }
        #expect(pairs.map { reranker.tokenize(query: $0.query, document: $0.document) } == golden.rerank_ids)
        let scores = try await reranker.score(pairs: pairs)
        #expect(maxAbsoluteDifference(scores, golden.scores) <= tolerance, "\(name): \(scores) vs \(golden.scores)")
        // llama.cpp's RANK pooling returns softmax([yes, no]); its P(yes) is our score.
        let llama = try #require(try Self.llama().files[name]?.rank_outputs)
        #expect(maxAbsoluteDifference(scores, llama.map { $0[0] }) <= tolerance, "\(name) vs llama.cpp")
    }

    @Test func portableKernelsGiveTheSameQuantizedResults() async throws {
        let golden = try Self.golden()
        let path = Self.directory.appendingPathComponent("embedding-Q4_K_M.gguf").path
        let fast = try Embedder(modelAt: URL(fileURLWithPath: path))
        let portableModel = try Qwen3Model(path: path, features: CPUFeatures())
        let portable = try Embedder(model: portableModel, tokenizer: fast.tokenizer)
        let a = try await fast.embed(golden.texts)
        let b = try await portable.embed(golden.texts)
        // The integer dot products are exact on both paths, but the float work around them (norms,
        // attention, exp) rounds differently, and a last-bit change can move an activation across a
        // rounding boundary of its 8-bit quantization; so the paths agree closely, not bitwise.
        for row in a.indices {
            #expect(Self.cosine(a[row], b[row]) >= 0.9999, "row \(row)")
            #expect(maxAbsoluteDifference(a[row], b[row]) <= 2e-3, "row \(row)")
            #expect(Self.cosine(b[row], golden.embeddings[row]) >= 0.98, "portable row \(row) vs transformers")
        }
    }

    /// llama.cpp #14252: Qwen3-Embedding GGUFs that say add_eos_token = false (and name <|im_end|> as
    /// EOS) still get <|endoftext|> appended by the Embedder, so they embed like the reference.
    @Test func embeddingFilesWithoutTheEOSFlagStillPoolAtEndOfText() async throws {
        var bytes = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent("embedding-Q8_0.gguf")))
        let key = Array("tokenizer.ggml.add_eos_token".utf8)
        let keyStart = try #require((0..<(bytes.count - key.count)).first { bytes[$0..<($0 + key.count)].elementsEqual(key) })
        let valueAt = keyStart + key.count + 4  // after the BOOL type tag
        try #require(bytes[valueAt - 4] == 7 && bytes[valueAt] == 1)
        bytes[valueAt] = 0
        let patched = FileManager.default.temporaryDirectory.appendingPathComponent("no-eos-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: patched)
        defer { try? FileManager.default.removeItem(at: patched) }

        let golden = try Self.golden()
        let embedder = try Embedder(modelAt: patched)
        #expect(embedder.tokenize(golden.texts) == golden.ids)
        #expect(try Tokenizer.load(modelAt: patched).encode(golden.texts[0]) == golden.ids[0])
        let vectors = try await embedder.embed(golden.texts)
        for (row, vector) in vectors.enumerated() {
            #expect(Self.cosine(vector, golden.embeddings[row]) >= 0.999, "row \(row)")
        }
    }

    @Test func damagedFilesAreClearErrors() throws {
        let source = Self.directory.appendingPathComponent("embedding-Q8_0.gguf")
        let bytes = try Data(contentsOf: source)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("damaged-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for length in [4, 24, 1000, bytes.count / 2, bytes.count - 1] {
            try bytes.prefix(length).write(to: scratch)
            #expect(throws: (any Error).self, "truncated at \(length)") { try Embedder(modelAt: scratch) }
        }
    }
}
