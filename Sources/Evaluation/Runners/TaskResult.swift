import Foundation

/// The outcome of one task: every metric, the main score, sizes and timings. Written as
/// `<output>/<task>.json` by the CLI.
public struct TaskResult: Codable, Sendable, Equatable {
    public var task: String
    public var type: TaskType
    public var language: String?
    public var split: String?
    /// The instruction used (nil: none).
    public var instruction: String?
    /// Name and value of the main score.
    public var mainScoreName: String
    public var mainScore: Double
    /// Every metric, MTEB's names (`ndcg_at_10`, `cosine_spearman`, `max_ap`, …).
    public var scores: [String: Double]
    /// Sizes of what was evaluated (`queries`, `documents`, `pairs`, …).
    public var counts: [String: Int]
    /// Wall-clock time of the task, seconds.
    public var seconds: Double
    /// Whether a reranker scored the candidates.
    public var reranked: Bool

    enum CodingKeys: String, CodingKey {
        case task, type, language, split, instruction, scores, counts, seconds, reranked
        case mainScoreName = "main_score_name", mainScore = "main_score"
    }
}

/// Scores (query, document) pairs, e.g. a Qwen3 reranker.
public protocol PairScorer: Sendable {
    /// One relevance score per pair, higher is more relevant.
    func score(pairs: [(query: String, document: String)], instruction: String?) async throws -> [Float]
}
