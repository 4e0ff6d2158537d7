import Foundation

/// What an evaluation reports while it runs: each task's start and end. The CLI prints `line` for
/// each on stderr (one line per event, so logs of non-interactive runs show progress) and each
/// finished task's result on stdout at once, not only when the whole run ends.
public enum EvaluationEvent: Sendable, Equatable {
    /// Where a task is in the run: the `index`-th (from 1) of `count`.
    public struct Position: Sendable, Equatable {
        public var index: Int
        public var count: Int

        /// The `index`-th task (from 1) of `count`.
        public init(index: Int, count: Int) {
            self.index = index
            self.count = count
        }
    }

    /// A task is about to load its data and run.
    case taskStarted(Position, task: String, type: TaskType)
    /// A task finished with `result`; `embedding` is the encoder work done during it.
    case taskFinished(Position, result: TaskResult, embedding: EmbeddingService.Throughput)

    /// One line for a log: position, task, and for a finished task its time, sizes, embedding rate
    /// and main score.
    public var line: String {
        switch self {
        case let .taskStarted(position, task, type):
            return "task \(position.index)/\(position.count) \(task) (\(type.rawValue)): started"
        case let .taskFinished(position, result, embedding):
            var parts = ["done in \(String(format: "%.1f", result.seconds)) s"]
            let counts = result.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            if !counts.isEmpty { parts.append(counts.joined(separator: ", ")) }
            parts.append(Self.embeddingSummary(embedding))
            var subset: [String] = []
            if let limit = result.limit { subset.append("limit \(limit)") }
            if let corpusLimit = result.corpusLimit { subset.append("corpus limit \(corpusLimit)") }
            if !subset.isEmpty { parts.append(subset.joined(separator: ", ")) }
            parts.append("\(result.mainScoreName) \(String(format: "%.5f", result.mainScore))")
            return "task \(position.index)/\(position.count) \(result.task) (\(result.type.rawValue)): " + parts.joined(separator: "; ")
        }
    }

    /// "embedded N texts (M from cache) at R texts/s", or where nothing needed the encoder, says so.
    static func embeddingSummary(_ work: EmbeddingService.Throughput) -> String {
        guard work.texts > 0 else {
            return work.cachedTexts > 0 ? "all \(work.cachedTexts) texts from the cache" : "no texts embedded"
        }
        let rate = work.seconds > 0 ? String(format: "%.1f", Double(work.texts) / work.seconds) : "–"
        let cached = work.cachedTexts > 0 ? " (+\(work.cachedTexts) from the cache)" : ""
        return "embedded \(work.texts) texts\(cached) at \(rate) texts/s"
    }
}

extension EmbeddingService.Throughput {
    /// The work done since `earlier` was taken (counters only grow).
    public func subtracting(_ earlier: Self) -> Self {
        Self(texts: texts - earlier.texts, tokens: tokens - earlier.tokens, seconds: seconds - earlier.seconds,
             cachedTexts: cachedTexts - earlier.cachedTexts)
    }
}
