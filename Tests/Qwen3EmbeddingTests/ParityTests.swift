import Foundation
import Testing
import Qwen3Embedding

/// The engine against Hugging Face transformers on the committed tiny models.
@Suite struct EmbeddingParityTests {
    static let embedder = Result { try Embedder(modelAt: URL(fileURLWithPath: Fixtures.embeddingModel)) }

    @Test func embeddingsMatchTransformers() async throws {
        let embedder = try Self.embedder.get()
        let golden = try Fixtures.load("embedding.json", as: Fixtures.EmbeddingGolden.self)
        #expect(golden.cases.count >= 7)
        var worst: Float = 0
        for testCase in golden.cases {
            let limited = try Embedder(model: embedder.model, tokenizer: embedder.tokenizer, maxLength: testCase.max_length)
            #expect(limited.tokenize(testCase.texts, instruction: testCase.instruction) == testCase.ids, "ids of \(testCase.name)")
            let normalized = try await limited.embed(testCase.texts, instruction: testCase.instruction, dimensions: testCase.dimensions)
            let raw = try await limited.embed(
                testCase.texts, instruction: testCase.instruction, dimensions: testCase.dimensions, normalize: false)
            for index in testCase.texts.indices {
                let difference = max(
                    maxAbsoluteDifference(normalized[index], testCase.embeddings[index]),
                    maxAbsoluteDifference(raw[index], testCase.unnormalized[index]))
                #expect(difference <= 1e-4, "\(testCase.name)[\(index)]: max |diff| \(difference)")
                worst = max(worst, difference)
            }
        }
        print("embedding parity: max |diff| \(worst) over \(golden.cases.map(\.texts.count).reduce(0, +)) vectors")
    }

    @Test func resultsDoNotDependOnTheBatch() async throws {
        let embedder = try Self.embedder.get()
        let texts = ["a", "The capital of China is Beijing.", String(repeating: "long text ", count: 40), "", "東京は日本の首都です。"]
        let together = try await embedder.embed(texts, instruction: nil)
        let reversed = try await embedder.embed(texts.reversed(), instruction: nil)
        for (index, text) in texts.enumerated() {
            let alone = try await embedder.embed([text])[0]
            #expect(maxAbsoluteDifference(alone, together[index]) <= 1e-6, "text \(index) alone vs batch")
            #expect(maxAbsoluteDifference(alone, reversed[texts.count - 1 - index]) <= 1e-6, "text \(index) in reversed batch")
        }
    }

    @Test func smallBatchBudgetGivesTheSameVectors() async throws {
        let embedder = try Self.embedder.get()
        let split = try Embedder(model: embedder.model, tokenizer: embedder.tokenizer, maxBatchTokens: 8)
        let texts = ["one", "two words", "a somewhat longer sentence than the others", "x"]
        let whole = try await embedder.embed(texts)
        let pieces = try await split.embed(texts)
        for index in texts.indices { #expect(maxAbsoluteDifference(whole[index], pieces[index]) <= 1e-6) }
    }

    @Test func matryoshkaTruncatesThenRenormalises() async throws {
        let embedder = try Self.embedder.get()
        let full = try await embedder.embed(["matryoshka"], normalize: false)[0]
        for size in [32, 33, embedder.dimensions] {
            let vector = try await embedder.embed(["matryoshka"], dimensions: size)[0]
            #expect(vector.count == size)
            let prefix = Array(full.prefix(size))
            let norm = prefix.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            #expect(maxAbsoluteDifference(vector, prefix.map { $0 / norm }) <= 1e-6)
            #expect(abs(vector.reduce(Float(0)) { $0 + $1 * $1 } - 1) <= 1e-5)
        }
    }

    @Test func concurrentCallsAgree() async throws {
        let embedder = try Self.embedder.get()
        let texts = ["concurrency", "is", "safe"]
        let expected = try await embedder.embed(texts)
        try await withThrowingTaskGroup(of: [[Float]].self) { group in
            for _ in 0..<8 { group.addTask { try await embedder.embed(texts) } }
            for try await result in group { #expect(result == expected) }
        }
    }

    @Test func invalidRequestsAreErrors() async throws {
        let embedder = try Self.embedder.get()
        await #expect(throws: EmbeddingError.emptyInput) { try await embedder.embed([]) }
        await #expect(throws: EmbeddingError.invalidDimensions(requested: 31, maximum: 40)) {
            try await embedder.embed(["x"], dimensions: 31)
        }
        await #expect(throws: EmbeddingError.invalidDimensions(requested: 41, maximum: 40)) {
            try await embedder.embed(["x"], dimensions: 41)
        }
        await #expect(throws: (any Error).self) { try await embedder.embed(tokenIDs: [[151669]]) }
        await #expect(throws: (any Error).self) { try await embedder.embed(tokenIDs: [[-1]]) }
        await #expect(throws: (any Error).self) { try await embedder.embed(tokenIDs: [[]]) }
        #expect(throws: EmbeddingError.self) { try Embedder(model: embedder.model, tokenizer: embedder.tokenizer, maxLength: 1) }
        // The engine still works after the errors.
        #expect(try await embedder.embed(["still fine"]).count == 1)
    }

    @Test func truncationKeepsTheEndOfText() throws {
        let embedder = try Self.embedder.get()
        let limited = try Embedder(model: embedder.model, tokenizer: embedder.tokenizer, maxLength: 5)
        let ids = limited.tokenize([String(repeating: "word ", count: 100)])[0]
        #expect(ids.count == 5)
        #expect(ids.last == 151643)
    }
}

@Suite struct RerankerParityTests {
    static let reranker = Result { try Reranker(modelAt: URL(fileURLWithPath: Fixtures.rerankerModel)) }

    @Test func scoresMatchTheOfficialCodePath() async throws {
        let reranker = try Self.reranker.get()
        let golden = try Fixtures.load("reranker.json", as: Fixtures.RerankerGolden.self)
        #expect(reranker.tokenizer.id(forToken: "yes") == golden.yes_id)
        #expect(reranker.tokenizer.id(forToken: "no") == golden.no_id)
        var worst: Float = 0
        for testCase in golden.cases {
            let limited = try Reranker(model: reranker.model, tokenizer: reranker.tokenizer, maxLength: testCase.max_length)
            for (index, document) in testCase.documents.enumerated() {
                let ids = limited.tokenize(query: testCase.query, document: document, instruction: testCase.instruction)
                #expect(ids == testCase.ids[index], "ids of \(testCase.name)[\(index)]")
                #expect(Array(ids.prefix(golden.prefix_ids.count)) == golden.prefix_ids)
                #expect(Array(ids.suffix(golden.suffix_ids.count)) == golden.suffix_ids)
            }
            let scores = try await limited.score(query: testCase.query, documents: testCase.documents, instruction: testCase.instruction)
            let difference = maxAbsoluteDifference(scores, testCase.scores)
            #expect(difference <= 1e-4, "\(testCase.name): max |diff| \(difference)")
            worst = max(worst, difference)
        }
        print("reranker parity: max |diff| \(worst)")
    }

    @Test func scoresDoNotDependOnTheBatch() async throws {
        let reranker = try Self.reranker.get()
        let documents = ["Beijing", "", String(repeating: "gravity ", count: 50), "東京"]
        let together = try await reranker.score(query: "capital?", documents: documents)
        for (index, document) in documents.enumerated() {
            let alone = try await reranker.score(query: "capital?", documents: [document])[0]
            #expect(abs(alone - together[index]) <= 1e-6)
        }
    }

    @Test func invalidRequestsAreErrors() async throws {
        let reranker = try Self.reranker.get()
        await #expect(throws: EmbeddingError.emptyInput) { try await reranker.score(query: "q", documents: []) }
        #expect(throws: EmbeddingError.self) { try Reranker(model: reranker.model, tokenizer: reranker.tokenizer, maxLength: 10) }
    }
}
