import Foundation
import Qwen3Embedding

/// Runs task files: loads the data, embeds through the shared `EmbeddingService`, computes the metrics.
public struct TaskRunner: Sendable {
    /// Embeddings (with cache, progress and counters).
    public let embeddings: EmbeddingService
    /// Optional reranker for reranking tasks and for rescoring retrieval's top candidates.
    public let reranker: (any PairScorer)?
    /// Called with (label, done, total) while a reranker scores.
    public let progress: @Sendable (String, Int, Int) -> Void

    /// A runner over `embeddings`, and `reranker` when given.
    public init(embeddings: EmbeddingService, reranker: (any PairScorer)? = nil,
                progress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in }) {
        self.embeddings = embeddings
        self.reranker = reranker
        self.progress = progress
    }

    /// Evaluates one task.
    public func run(_ task: LoadedTask) async throws -> TaskResult {
        let began = Date()
        let description = task.description
        var scores: [String: Double]
        var counts: [String: Int]
        switch description.type {
        case .sts: (scores, counts) = try await runSTS(task)
        case .pairClassification: (scores, counts) = try await runPairClassification(task)
        case .classification: (scores, counts) = try await runClassification(task)
        case .clustering: (scores, counts) = try await runClustering(task)
        case .bitextMining: (scores, counts) = try await runBitextMining(task)
        case .retrieval: (scores, counts) = try await runRetrieval(task)
        case .reranking: (scores, counts) = try await runReranking(task)
        }
        let mainName = description.resolvedMainScore
        guard let main = scores[mainName] else {
            throw EvaluationError.invalidTaskFile(
                path: task.file.path, reason: "main_score \"\(mainName)\" is not among the scores (\(scores.keys.sorted().prefix(12).joined(separator: ", ")), …)")
        }
        let usesReranker = reranker != nil && (description.type == .reranking || description.type == .retrieval)
        return TaskResult(
            task: description.name, type: description.type, language: description.language, split: description.split,
            instruction: description.resolvedInstruction, mainScoreName: mainName, mainScore: main, scores: scores,
            counts: counts, seconds: Date().timeIntervalSince(began), reranked: usesReranker,
            limit: description.limit, corpusLimit: description.type == .retrieval ? description.corpusLimit : nil)
    }

    /// Embeds with the task's instruction on every text (symmetric tasks).
    func embedSymmetric(_ texts: [String], _ task: LoadedTask, label: String) async throws -> [[Float]] {
        try await embeddings.embed(texts, instruction: task.description.resolvedInstruction, label: "\(task.description.name) \(label)")
    }

    /// Scores pairs with the reranker in chunks, reporting progress.
    func rerank(_ pairs: [(query: String, document: String)], reranker: any PairScorer, task: LoadedTask) async throws -> [Float] {
        var scores: [Float] = []
        let chunk = 32
        for start in stride(from: 0, to: pairs.count, by: chunk) {
            scores += try await reranker.score(pairs: Array(pairs[start..<min(pairs.count, start + chunk)]),
                                               instruction: task.description.resolvedInstruction)
            progress("\(task.description.name) reranking", scores.count, pairs.count)
        }
        return scores
    }
}

/// The Qwen3 reranker as a `PairScorer`.
public struct RerankerScorer: PairScorer {
    public let reranker: Reranker

    /// Wraps `reranker`.
    public init(reranker: Reranker) { self.reranker = reranker }

    public func score(pairs: [(query: String, document: String)], instruction: String?) async throws -> [Float] {
        try await reranker.score(pairs: pairs, instruction: instruction)
    }
}

/// Vector helpers shared by the runners.
enum VectorMath64 {
    static func dot(_ a: [Float], _ b: [Float]) -> Double {
        var sum = 0.0
        for i in a.indices { sum += Double(a[i]) * Double(b[i]) }
        return sum
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let denominator = (dot(a, a) * dot(b, b)).squareRoot()
        return denominator > 0 ? dot(a, b) / denominator : 0
    }

    static func euclidean(_ a: [Float], _ b: [Float]) -> Double {
        var sum = 0.0
        for i in a.indices { let d = Double(a[i]) - Double(b[i]); sum += d * d }
        return sum.squareRoot()
    }

    static func manhattan(_ a: [Float], _ b: [Float]) -> Double {
        var sum = 0.0
        for i in a.indices { sum += abs(Double(a[i]) - Double(b[i])) }
        return sum
    }
}
