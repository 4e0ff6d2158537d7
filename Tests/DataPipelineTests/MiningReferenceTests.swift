import Foundation
import Testing
import TestSupport
@testable import DataPipeline
import Evaluation
import Qwen3Embedding
import Training

/// The reference `Scripts/check_mining.py` wrote with numpy (float64 full sorts over the vectors of our
/// `embed` command): `Tests/Fixtures/mining/expected.json`.
struct MiningReference: Decodable {
    struct Mine: Decodable {
        struct Example: Decodable {
            let query: String
            let negatives: [String]
            let negative_indices: [Int]
            let positive_score: Double
            let ranking: [Int]
        }
        let negatives: Int
        let range: [Int]
        let margin: Float
        let examples: [Example]
    }
    struct Filter: Decodable {
        let threshold: Float
        let similarities: [Double]
        let kept: [Bool]
    }
    let mine: Mine
    let filter: Filter

    static func load() throws -> MiningReference {
        try GoldenFile.decode(MiningReference.self, at: "mining/expected.json")
    }
}

/// The miner and the filter with the tiny fixture model give numpy's negatives and kept pairs.
@Suite struct MiningReferenceTests {
    @Test func minerAndFilterMatchTheNumpyReference() async throws {
        let reference = try MiningReference.load()
        let directory = try MiningSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let embedder = try Embedder(modelAt: URL(fileURLWithPath: MiningSupport.embeddingModel))
        let encoder = try EmbedderEncoder(embedder: embedder, model: URL(fileURLWithPath: MiningSupport.embeddingModel))
        let dataset = try TrainingDataset(file: MiningSupport.fixtures.appendingPathComponent("pairs.jsonl"))
        let corpus = try CorpusFile(file: MiningSupport.fixtures.appendingPathComponent("corpus.jsonl"))
        let store = try CorpusVectorStore(directory: directory, header: .init(model: encoder.identifier, corpus: corpus.identity,
                                                                              dimensions: embedder.dimensions))
        let selection = try NegativeSelection(ranks: reference.mine.range[0]...reference.mine.range[1],
                                              count: reference.mine.negatives, margin: reference.mine.margin)
        let output = directory.appendingPathComponent("mined.jsonl")
        let summary = try await HardNegativeMiner(encoder: encoder, selection: selection, chunkSize: 8, blockSize: 3)
            .mine(dataset: dataset, corpus: corpus, store: store, output: output)
        let mined = try TrainingDataset(file: output)
        #expect(mined.examples.map(\.negatives) == reference.mine.examples.map(\.negatives))
        #expect(summary.negatives == reference.mine.examples.map(\.negatives.count).reduce(0, +))
        // The exact ranking itself (top B, ties by index) equals numpy's full sort.
        let queries = try await dataset.examples.asyncMap {
            try await encoder.encode([$0.query], instruction: $0.instruction(configured: nil)).vectors[0]
        }
        let rankings = try store.withRows(count: corpus.count) {
            SimilaritySearch.topK(queries: queries, corpus: $0, dimensions: embedder.dimensions, k: reference.mine.range[1])
        }
        #expect(rankings.map { $0.map(\.index) } == reference.mine.examples.map(\.ranking))
        // Non-trivial: some examples got all K, some none (the margin rule), and a positive was in range.
        #expect(reference.mine.examples.contains { $0.negatives.count == reference.mine.negatives })
        #expect(reference.mine.examples.contains { $0.negatives.isEmpty })

        let filter = try PairFilter(service: EmbeddingService(encoder: encoder), threshold: reference.filter.threshold)
        let result = try await filter.evaluate(dataset)
        #expect(result.kept == reference.filter.kept)
        for (got, want) in zip(result.similarities, reference.filter.similarities) { #expect(abs(Double(got) - want) < 1e-5) }
        // The filter's similarity is the miner's positive similarity: one number per pair, as numpy has it.
        for (got, want) in zip(result.similarities, reference.mine.examples.map(\.positive_score)) { #expect(abs(Double(got) - want) < 1e-5) }
    }
}

extension Array {
    /// `map` with an async transform, in order.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
