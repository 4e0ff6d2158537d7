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
    /// The subsampling in force (the task file's `limit`, capped by `--limit`); `nil`: the whole split.
    /// Written even when `nil`, so a score from a quick run is never mistaken for a full one.
    public var limit: Int?
    /// The corpus subsampling in force for retrieval (`corpus_limit`, capped by `--corpus-limit`).
    public var corpusLimit: Int?

    enum CodingKeys: String, CodingKey {
        case task, type, language, split, instruction, scores, counts, seconds, reranked, limit
        case mainScoreName = "main_score_name", mainScore = "main_score", corpusLimit = "corpus_limit"
    }

    /// A result; `limit` and `corpusLimit` are the subsampling the task ran with.
    public init(task: String, type: TaskType, language: String?, split: String?, instruction: String?,
                mainScoreName: String, mainScore: Double, scores: [String: Double], counts: [String: Int],
                seconds: Double, reranked: Bool, limit: Int? = nil, corpusLimit: Int? = nil) {
        self.task = task; self.type = type; self.language = language; self.split = split; self.instruction = instruction
        self.mainScoreName = mainScoreName; self.mainScore = mainScore; self.scores = scores; self.counts = counts
        self.seconds = seconds; self.reranked = reranked; self.limit = limit; self.corpusLimit = corpusLimit
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.decode(String.self, forKey: .task); type = try c.decode(TaskType.self, forKey: .type)
        language = try c.decodeIfPresent(String.self, forKey: .language); split = try c.decodeIfPresent(String.self, forKey: .split)
        instruction = try c.decodeIfPresent(String.self, forKey: .instruction)
        mainScoreName = try c.decode(String.self, forKey: .mainScoreName); mainScore = try c.decode(Double.self, forKey: .mainScore)
        scores = try c.decode([String: Double].self, forKey: .scores); counts = try c.decode([String: Int].self, forKey: .counts)
        seconds = try c.decode(Double.self, forKey: .seconds); reranked = try c.decode(Bool.self, forKey: .reranked)
        // Results written before these fields existed read as unlimited, which is what those runs did
        // unless their task files said otherwise.
        limit = try c.decodeIfPresent(Int.self, forKey: .limit)
        corpusLimit = try c.decodeIfPresent(Int.self, forKey: .corpusLimit)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(task, forKey: .task); try c.encode(type, forKey: .type)
        try c.encodeIfPresent(language, forKey: .language); try c.encodeIfPresent(split, forKey: .split)
        try c.encodeIfPresent(instruction, forKey: .instruction)
        try c.encode(mainScoreName, forKey: .mainScoreName); try c.encode(mainScore, forKey: .mainScore)
        try c.encode(scores, forKey: .scores); try c.encode(counts, forKey: .counts)
        try c.encode(seconds, forKey: .seconds); try c.encode(reranked, forKey: .reranked)
        try c.encode(limit, forKey: .limit); try c.encode(corpusLimit, forKey: .corpusLimit)  // null: no limit
    }
}

/// Scores (query, document) pairs, e.g. a Qwen3 reranker.
public protocol PairScorer: Sendable {
    /// One relevance score per pair, higher is more relevant.
    func score(pairs: [(query: String, document: String)], instruction: String?) async throws -> [Float]
}
