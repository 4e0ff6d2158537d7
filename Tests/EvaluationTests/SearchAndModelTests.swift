import Foundation
import Testing
@testable import Evaluation

@Suite struct SearchAndModelTests {
    /// The heap-based top-k equals a full sort (score descending, tie rank ascending), ties included.
    @Test func topKEqualsFullSort() {
        var generator = SeededGenerator(seed: 7)
        let dimensions = 19  // not a multiple of the SIMD width
        func vector() -> [Float] { (0..<dimensions).map { _ in Float(Int.random(in: -2...2, using: &generator)) / 2 } }
        let corpus = (0..<300).map { _ in vector() }  // coarse values: many tied scores
        let queries = (0..<70).map { _ in vector() }
        let tieRank = Array((0..<300).reversed())
        let hits = SimilaritySearch.topK(queries: queries, corpus: corpus, k: 25, tieRank: tieRank)
        for (query, found) in zip(queries, hits) {
            let expected = corpus.indices.map { index in
                (index, zip(query, corpus[index]).reduce(Float(0)) { $0 + $1.0 * $1.1 })
            }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : tieRank[$0.0] < tieRank[$1.0] }.prefix(25)
            #expect(found.map(\.index) == expected.map(\.0))
            for (hit, want) in zip(found, expected) { #expect(abs(hit.score - want.1) < 1e-5) }
        }
    }

    @Test func topKOfMoreThanTheCorpusReturnsEveryRow() {
        let hits = SimilaritySearch.topK(queries: [[1, 0]], corpus: [[0, 1], [1, 0]], k: 10)
        #expect(hits[0].map(\.index) == [1, 0])
    }

    @Test func kMeansSeparatesWellSeparatedClusters() {
        var generator = SeededGenerator(seed: 3)
        var rows: [[Float]] = [], labels: [Int] = []
        for label in 0..<3 {
            for _ in 0..<40 {
                rows.append([Float(label * 10) + Float.random(in: -1...1, using: &generator), Float.random(in: -1...1, using: &generator)])
                labels.append(label)
            }
        }
        let assignment = MiniBatchKMeans(clusters: 3, batchSize: 16).fitPredict(rows, generator: &generator)
        #expect(ClusteringMetrics(truth: labels, clusters: assignment).vMeasure > 0.99)
    }

    @Test func nearestNeighboursVoteAndBreakTiesBySortedLabel() {
        var knn = NearestNeighborClassifier(neighbors: 2)
        knn.fit(features: [[1, 0], [0.9, 0.1], [0, 1]], labels: ["b", "a", "c"])
        // Each query's two neighbours carry different labels: the tie goes to the label sorting first.
        #expect(knn.predict([[1, 0.05], [0, 1]]) == ["a", "a"])
        var single = NearestNeighborClassifier(neighbors: 1)
        single.fit(features: [[1, 0], [0, 1]], labels: ["x", "y"])
        #expect(single.predict([[0.1, 1], [1, 0.1]]) == ["y", "x"])
    }

    @Test func embeddingCacheRoundTripsAndSurvivesATornRecord() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key1 = EmbeddingCache.key(text: "hello", instruction: nil)
        let key2 = EmbeddingCache.key(text: "hello", instruction: "Find")
        #expect(key1 != key2)
        do {
            let cache = try EmbeddingCache(directory: directory, modelIdentifier: "model/a")
            try await cache.store([(key1, [1, 2, 3]), (key2, [4, 5, 6])])
        }
        let file = directory.appendingPathComponent("model_a.embeddings")
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(repeating: 7, count: 40))  // an interrupted append
        try handle.close()
        let reopened = try EmbeddingCache(directory: directory, modelIdentifier: "model/a")
        #expect(await reopened.count == 2)
        #expect(await reopened.vector(for: key1) == [1, 2, 3])
        #expect(await reopened.vector(for: key2) == [4, 5, 6])
        let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as! Int
        #expect(size == 2 * (36 + 12))  // the torn tail was cut off
    }
}
