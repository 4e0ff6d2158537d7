import Foundation
import Qwen3Embedding
import Testing
@testable import Evaluation

/// The harness on every real data set with the tiny random fixture model: the numbers mean nothing,
/// but every loader, runner and report path runs on real multilingual text. Data sets are subsampled
/// to keep a debug build fast.
@Suite(.serialized) struct EndToEndTests {
    static let embedder = Result { try Embedder(modelAt: URL(fileURLWithPath: Paths.embeddingModel), maxLength: 128) }
    static let reranker = Result { try Reranker(modelAt: URL(fileURLWithPath: Paths.rerankerModel), maxLength: 128) }

    func runner(reranked: Bool = false) throws -> TaskRunner {
        let encoder = try EmbedderEncoder(embedder: Self.embedder.get(), model: URL(fileURLWithPath: Paths.embeddingModel))
        return TaskRunner(embeddings: EmbeddingService(encoder: encoder),
                          reranker: reranked ? RerankerScorer(reranker: try Self.reranker.get()) : nil)
    }

    func task(_ file: String, limit: Int, adjust: (inout TaskDescription) -> Void = { _ in }) throws -> LoadedTask {
        var task = try LoadedTask(file: URL(fileURLWithPath: Paths.task(file)))
        task.description.limit = limit
        adjust(&task.description)
        return task
    }

    /// A score in its possible range (correlations in [−1, 1], everything else in [0, 1]).
    func expectValid(_ result: TaskResult, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.scores[result.mainScoreName] == result.mainScore, sourceLocation: sourceLocation)
        for (name, value) in result.scores {
            #expect(value.isFinite, "\(result.task) \(name) = \(value)", sourceLocation: sourceLocation)
            if name.hasSuffix("threshold") || name.hasSuffix("_std") { continue }
            let lower = name.contains("spearman") || name.contains("pearson") ? -1.0 : 0.0
            #expect(value >= lower - 1e-9 && value <= 1 + 1e-9, "\(result.task) \(name) = \(value)", sourceLocation: sourceLocation)
        }
    }

    @Test func stsTasksOnJapaneseAndEnglish() async throws {
        let runner = try runner()
        for file in ["jsts.json", "jsick-sts.json", "stsbenchmark.json"] {
            let result = try await runner.run(try task(file, limit: 12))
            #expect(result.counts["pairs"] == 12)
            #expect(result.mainScoreName == "cosine_spearman")
            #expect(result.instruction == "Retrieve semantically similar text")
            expectValid(result)
        }
    }

    @Test func pairClassificationAndBitextOnJSICK() async throws {
        let runner = try runner()
        let pairs = try await runner.run(try task("jsick-pair-classification.json", limit: 16))
        #expect(pairs.mainScore == ["cosine_ap", "dot_ap", "euclidean_ap", "manhattan_ap"].map { pairs.scores[$0]! }.max())
        expectValid(pairs)
        let bitext = try await runner.run(try task("jsick-bitext.json", limit: 10))
        #expect(bitext.counts["pairs"] == 10)
        #expect(bitext.scores["recall"]! == bitext.scores["accuracy"]!)
        expectValid(bitext)
    }

    @Test func classificationAndClusteringOnSTSBenchmarkGenres() async throws {
        let runner = try runner()
        let classification = try await runner.run(try task("stsbenchmark-genre-classification.json", limit: 4) {
            $0.experiments = 3; $0.samplesPerLabel = 3
        })
        #expect(classification.counts["labels"] == 3 && classification.counts["test"] == 12)
        expectValid(classification)
        let knn = try await runner.run(try task("stsbenchmark-genre-classification.json", limit: 4) {
            $0.method = "knn"; $0.neighbors = 3; $0.experiments = 2
        })
        expectValid(knn)
        let clustering = try await runner.run(try task("stsbenchmark-genre-clustering.json", limit: 6) {
            $0.bootstrapRuns = 3; $0.documentsPerRun = 30
        })
        #expect(clustering.counts["documents"] == 18)
        expectValid(clustering)
    }

    @Test func retrievalOnArabicAndMSMARCOWithReranking() async throws {
        let arcd = try await runner().run(try task("arcd-retrieval.json", limit: 3) { $0.corpusLimit = 20 })
        #expect(arcd.counts["queries"] == 3)
        #expect(arcd.scores["recall_at_1000"] == 1)  // the whole (subsampled) corpus is retrieved
        expectValid(arcd)
        let marco = try await runner(reranked: true).run(try task("msmarco-retrieval.json", limit: 2) {
            $0.corpusLimit = 10; $0.rerankTopK = 4
        })
        #expect(marco.reranked && marco.scores["reranked_ndcg_at_10"] != nil)
        expectValid(marco)
    }

    @Test func rerankingWithEmbeddingsAndWithTheReranker() async throws {
        let byEmbedding = try await runner().run(try task("msmarco-reranking.json", limit: 1))
        #expect(byEmbedding.mainScoreName == "map" && !byEmbedding.reranked)
        expectValid(byEmbedding)
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // An MTEB-style reranking file built from real MS MARCO text, small enough for the reranker.
        let samples = try DatasetLoader.reranking(try task("msmarco-reranking.json", limit: 2))
        let lines = samples.map { sample -> String in
            let object: [String: Any] = ["query": sample.query, "positive": Array(sample.positives.prefix(2)), "negative": Array(sample.negatives.prefix(3))]
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        try Paths.write(lines.joined(separator: "\n"), to: "rerank.jsonl", in: directory)
        let taskFile = try Paths.write(#"{"name": "Mini", "type": "reranking", "data": {"path": "rerank.jsonl"}}"#, to: "task.json", in: directory)
        let reranked = try await runner(reranked: true).run(try LoadedTask(file: taskFile))
        #expect(reranked.reranked && reranked.counts["candidates"] == 10)
        expectValid(reranked)
    }

    @Test func sessionWritesReportsResumesFromCacheAndCompares() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = EvaluationConfiguration(
            model: URL(fileURLWithPath: Paths.embeddingModel), taskFiles: [URL(fileURLWithPath: Paths.task("jsts.json")), URL(fileURLWithPath: Paths.task("arcd-retrieval.json"))],
            limit: 4, cacheDirectory: directory.appendingPathComponent("cache"), maxLength: 128)
        var tasks = try EvaluationSession.loadTasks(configuration)
        tasks[1].description.corpusLimit = 12
        let first = try await EvaluationSession.run(configuration, tasks: tasks)
        #expect(first.summary.embedding.texts > 0 && first.summary.embedding.cachedTexts == 0)
        #expect(first.summary.tokensPerSecond > 0 && first.summary.peakResidentBytes > 0)
        try first.write(to: directory.appendingPathComponent("run1"))
        let second = try await EvaluationSession.run(configuration, tasks: tasks)
        #expect(second.summary.embedding.texts == 0)  // everything came from the cache
        #expect(second.summary.embedding.cachedTexts == first.summary.embedding.texts)
        #expect(second.results.map(\.scores) == first.results.map(\.scores))
        try second.write(to: directory.appendingPathComponent("run2"))

        let read = try RunReport.read(from: directory.appendingPathComponent("run1"))
        #expect(read.results == first.results && read.summary == first.summary)
        let markdown = MarkdownReport.render([read, try RunReport.read(from: directory.appendingPathComponent("run2"))])
        #expect(markdown.contains("| Run | Model | Subset | Avg | Retrieval | STS |"))
        #expect(markdown.contains("| JSTS | ja | validation | cosine_spearman |"))
        #expect(markdown.contains("## Speed and memory"))
        let summary = try String(contentsOf: directory.appendingPathComponent("run1/summary.md"), encoding: .utf8)
        #expect(summary.contains("ARCDRetrieval"))
    }

    /// A GGUF model evaluates like a directory: its own cache identity (name, size, header and tail of
    /// the file), a cache hit on the second run, and a different identity from another quantization.
    @Test func ggufModelsEvaluateAndCache() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gguf = Paths.tests.appendingPathComponent("Fixtures/gguf-llama/embedding-Q8_0.gguf").path
        let other = Paths.tests.appendingPathComponent("Fixtures/gguf-llama/embedding-Q4_0.gguf").path
        #expect(try ModelFingerprint.compute(directory: URL(fileURLWithPath: gguf)) != ModelFingerprint.compute(directory: URL(fileURLWithPath: other)))
        #expect(try ModelFingerprint.compute(directory: URL(fileURLWithPath: gguf)) == ModelFingerprint.compute(directory: URL(fileURLWithPath: gguf)))
        let configuration = EvaluationConfiguration(
            model: URL(fileURLWithPath: gguf), taskFiles: [URL(fileURLWithPath: Paths.task("jsts.json"))], limit: 4,
            cacheDirectory: directory.appendingPathComponent("cache"), maxLength: 128)
        let tasks = try EvaluationSession.loadTasks(configuration)
        let first = try await EvaluationSession.run(configuration, tasks: tasks)
        #expect(first.summary.embedding.texts > 0 && first.summary.embedding.cachedTexts == 0)
        let second = try await EvaluationSession.run(configuration, tasks: tasks)
        #expect(second.summary.embedding.texts == 0 && second.summary.embedding.cachedTexts == first.summary.embedding.texts)
        #expect(second.results.map(\.scores) == first.results.map(\.scores))
    }
}
