import Foundation
import Testing
import Qwen3Embedding
import Tokenizer

/// Both precisions, on both the accelerated kernels this CPU has and the portable Swift kernels.
@Suite struct PrecisionTests {
    static let kernelSets: [(String, CPUFeatures)] = [("detected", CPUFeatures.detected), ("portable", CPUFeatures())]

    func embedder(precision: Precision, features: CPUFeatures) throws -> Embedder {
        let model = try Qwen3Model(directory: Fixtures.embeddingModel, precision: precision, features: features)
        let tokenizer = try Tokenizer.load(directory: URL(fileURLWithPath: Fixtures.embeddingModel))
        return try Embedder(model: model, tokenizer: tokenizer)
    }

    func reranker(precision: Precision, features: CPUFeatures) throws -> Reranker {
        let model = try Qwen3Model(directory: Fixtures.rerankerModel, precision: precision, features: features)
        let tokenizer = try Tokenizer.load(directory: URL(fileURLWithPath: Fixtures.rerankerModel))
        return try Reranker(model: model, tokenizer: tokenizer)
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Float {
        let dot = zip(a, b).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        let norms = (a.reduce(Float(0)) { $0 + $1 * $1 } * b.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot()
        return dot / norms
    }

    @Test(arguments: [0, 1])
    func exactModeMatchesTransformersOnEveryKernel(kernelSet: Int) async throws {
        let (name, features) = Self.kernelSets[kernelSet]
        let embedder = try embedder(precision: .float32, features: features)
        let golden = try Fixtures.load("embedding.json", as: Fixtures.EmbeddingGolden.self)
        for testCase in golden.cases where testCase.max_length == 8192 {
            let vectors = try await embedder.embed(testCase.texts, instruction: testCase.instruction, dimensions: testCase.dimensions)
            for index in vectors.indices {
                let difference = maxAbsoluteDifference(vectors[index], testCase.embeddings[index])
                #expect(difference <= 1e-4, "\(name) \(testCase.name)[\(index)]: \(difference)")
            }
        }
        let reranker = try reranker(precision: .float32, features: features)
        let rerankGolden = try Fixtures.load("reranker.json", as: Fixtures.RerankerGolden.self)
        for testCase in rerankGolden.cases where testCase.max_length == 8192 {
            let scores = try await reranker.score(query: testCase.query, documents: testCase.documents, instruction: testCase.instruction)
            #expect(maxAbsoluteDifference(scores, testCase.scores) <= 1e-4, "\(name) \(testCase.name)")
        }
    }

    @Test(arguments: [0, 1])
    func fastModeStaysCloseToExact(kernelSet: Int) async throws {
        let (name, features) = Self.kernelSets[kernelSet]
        let exact = try embedder(precision: .float32, features: features)
        let fast = try embedder(precision: .bfloat16, features: features)
        let golden = try Fixtures.load("embedding.json", as: Fixtures.EmbeddingGolden.self)
        var worst: Float = 1
        for testCase in golden.cases where testCase.dimensions == nil {
            let reference = try await exact.embed(testCase.texts, instruction: testCase.instruction)
            let vectors = try await fast.embed(testCase.texts, instruction: testCase.instruction)
            for index in vectors.indices {
                let similarity = cosine(vectors[index], reference[index])
                #expect(similarity >= 0.999, "\(name) \(testCase.name)[\(index)]: cosine \(similarity)")
                worst = min(worst, similarity)
            }
        }
        let exactReranker = try reranker(precision: .float32, features: features)
        let fastReranker = try reranker(precision: .bfloat16, features: features)
        let rerankGolden = try Fixtures.load("reranker.json", as: Fixtures.RerankerGolden.self)
        var worstScore: Float = 0
        for testCase in rerankGolden.cases {
            let reference = try await exactReranker.score(query: testCase.query, documents: testCase.documents, instruction: testCase.instruction)
            let scores = try await fastReranker.score(query: testCase.query, documents: testCase.documents, instruction: testCase.instruction)
            let difference = maxAbsoluteDifference(scores, reference)
            #expect(difference <= 5e-3, "\(name) \(testCase.name): \(difference)")
            worstScore = max(worstScore, difference)
        }
        print("bf16 \(name) (\(fast.model.kernel.rawValue)): min cosine \(worst), max |Δscore| \(worstScore)")
    }
}
