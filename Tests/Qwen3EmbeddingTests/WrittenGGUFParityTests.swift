import Foundation
import ModelTools
import Testing
import Qwen3Embedding

/// The core fixture models written as GGUF by `qwen3-embed quantize` (F32, F16, BF16) and run from the
/// file (weights, hyper-parameters and tokenizer all from the GGUF) give what transformers gives for
/// the safetensors checkpoints, within the core tolerances.
@Suite struct WrittenGGUFParityTests {
    /// Writes `directory` as a GGUF of `fileType` in a scratch file; the caller removes it.
    static func written(_ directory: String, _ fileType: GGUFFileType) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("written-\(fileType.rawValue)-\(UUID().uuidString).gguf").path
        _ = try GGUFConverter().convert(modelDirectory: directory, fileType: fileType, output: path)
        return path
    }

    /// The embedding fixture is a bf16 checkpoint: F32 and BF16 files hold its values exactly, and so
    /// does F16 (every bf16 value of these weights is an f16 value).
    @Test(arguments: [GGUFFileType.f32, .f16, .bf16])
    func embeddingsMatchTransformers(fileType: GGUFFileType) async throws {
        let path = try Self.written(Fixtures.embeddingModel, fileType)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let embedder = try Embedder(modelAt: URL(fileURLWithPath: path))
        let golden = try Fixtures.load("embedding.json", as: Fixtures.EmbeddingGolden.self)
        var worst: Float = 0
        for testCase in golden.cases {
            let limited = try Embedder(model: embedder.model, tokenizer: embedder.tokenizer, maxLength: testCase.max_length)
            #expect(limited.tokenize(testCase.texts, instruction: testCase.instruction) == testCase.ids,
                    "\(fileType): ids of \(testCase.name)")
            let vectors = try await limited.embed(testCase.texts, instruction: testCase.instruction, dimensions: testCase.dimensions)
            for index in testCase.texts.indices {
                let difference = maxAbsoluteDifference(vectors[index], testCase.embeddings[index])
                #expect(difference <= 1e-4, "\(fileType) \(testCase.name)[\(index)]: max |diff| \(difference)")
                worst = max(worst, difference)
            }
        }
        print("written GGUF \(fileType.name): embedding max |diff| \(worst)")
    }

    /// The reranker fixture is fp32: its F32 file is exact; F16 rounds every weight to 11 significant
    /// bits, which moves these scores by up to 6.3e-4, so its bar is 2e-3 (the bf16 fast mode's is 5e-3).
    @Test(arguments: [(GGUFFileType.f32, Float(1e-4)), (.f16, Float(2e-3))])
    func rerankerScoresMatchTransformers(fileType: GGUFFileType, tolerance: Float) async throws {
        let path = try Self.written(Fixtures.rerankerModel, fileType)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reranker = try Reranker(modelAt: URL(fileURLWithPath: path))
        #expect(reranker.model.weights.classifier?.labels == ["yes", "no"])
        let golden = try Fixtures.load("reranker.json", as: Fixtures.RerankerGolden.self)
        var worst: Float = 0
        for testCase in golden.cases {
            let limited = try Reranker(model: reranker.model, tokenizer: reranker.tokenizer, maxLength: testCase.max_length)
            let ids = testCase.documents.map {
                limited.tokenize(query: testCase.query, document: $0, instruction: testCase.instruction)
            }
            #expect(ids == testCase.ids, "\(fileType): ids of \(testCase.name)")
            let scores = try await limited.score(
                query: testCase.query, documents: testCase.documents, instruction: testCase.instruction)
            let difference = maxAbsoluteDifference(scores, testCase.scores)
            #expect(difference <= tolerance, "\(fileType) \(testCase.name): \(scores) vs \(testCase.scores)")
            worst = max(worst, difference)
        }
        print("written GGUF \(fileType.name): reranker max |diff| \(worst)")
    }
}
