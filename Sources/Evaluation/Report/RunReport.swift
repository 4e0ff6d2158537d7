import Foundation

/// One evaluation run: the model, speed and memory figures, and every task's result. Written as
/// `<output>/run.json` next to one `<task>.json` per task.
public struct RunSummary: Codable, Sendable, Equatable {
    /// Display name of the model (its folder name) and its path.
    public var model: String
    public var modelPath: String
    public var reranker: String?
    public var precision: String
    public var dimensions: Int?
    /// Seconds to load the embedding model (and the reranker).
    public var loadSeconds: Double
    public var rerankerLoadSeconds: Double?
    /// Peak resident memory of the process.
    public var peakResidentBytes: Int
    /// Encoder work, excluding cache hits.
    public var embedding: EmbeddingService.Throughput
    /// Wall-clock time of the whole run.
    public var totalSeconds: Double
    /// Task names in run order.
    public var tasks: [String]
    /// `--limit` and `--corpus-limit` of the run (`nil`: not given; task files may still subsample,
    /// which each task's result records).
    public var limit: Int?
    public var corpusLimit: Int?
    /// The LoRA adapter directories merged into the embedding model and the reranker (`--adapter`,
    /// `--reranker-adapter`), so a run's record says which weights produced its scores.
    public var adapter: String?
    public var rerankerAdapter: String?

    /// Texts per second of encoder time.
    public var textsPerSecond: Double { embedding.seconds > 0 ? Double(embedding.texts) / embedding.seconds : 0 }
    /// Tokens per second of encoder time.
    public var tokensPerSecond: Double { embedding.seconds > 0 ? Double(embedding.tokens) / embedding.seconds : 0 }

    public init(model: String, modelPath: String, reranker: String?, precision: String, dimensions: Int?,
                loadSeconds: Double, rerankerLoadSeconds: Double?, peakResidentBytes: Int,
                embedding: EmbeddingService.Throughput, totalSeconds: Double, tasks: [String],
                limit: Int? = nil, corpusLimit: Int? = nil, adapter: String? = nil, rerankerAdapter: String? = nil) {
        self.model = model; self.modelPath = modelPath; self.reranker = reranker; self.precision = precision
        self.dimensions = dimensions; self.loadSeconds = loadSeconds; self.rerankerLoadSeconds = rerankerLoadSeconds
        self.peakResidentBytes = peakResidentBytes; self.embedding = embedding; self.totalSeconds = totalSeconds; self.tasks = tasks
        self.limit = limit; self.corpusLimit = corpusLimit
        self.adapter = adapter; self.rerankerAdapter = rerankerAdapter
    }

    enum CodingKeys: String, CodingKey {
        case model, reranker, precision, dimensions, embedding, tasks, limit, adapter
        case rerankerAdapter = "reranker_adapter"
        case corpusLimit = "corpus_limit"
        case modelPath = "model_path", loadSeconds = "load_seconds", rerankerLoadSeconds = "reranker_load_seconds"
        case peakResidentBytes = "peak_rss_bytes", totalSeconds = "total_seconds"
        case textsPerSecond = "texts_per_second", tokensPerSecond = "tokens_per_second"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model); modelPath = try c.decode(String.self, forKey: .modelPath)
        reranker = try c.decodeIfPresent(String.self, forKey: .reranker); precision = try c.decode(String.self, forKey: .precision)
        dimensions = try c.decodeIfPresent(Int.self, forKey: .dimensions); loadSeconds = try c.decode(Double.self, forKey: .loadSeconds)
        rerankerLoadSeconds = try c.decodeIfPresent(Double.self, forKey: .rerankerLoadSeconds)
        peakResidentBytes = try c.decode(Int.self, forKey: .peakResidentBytes)
        embedding = try c.decode(EmbeddingService.Throughput.self, forKey: .embedding)
        totalSeconds = try c.decode(Double.self, forKey: .totalSeconds); tasks = try c.decode([String].self, forKey: .tasks)
        limit = try c.decodeIfPresent(Int.self, forKey: .limit); corpusLimit = try c.decodeIfPresent(Int.self, forKey: .corpusLimit)
        adapter = try c.decodeIfPresent(String.self, forKey: .adapter)
        rerankerAdapter = try c.decodeIfPresent(String.self, forKey: .rerankerAdapter)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model); try c.encode(modelPath, forKey: .modelPath)
        try c.encodeIfPresent(reranker, forKey: .reranker); try c.encode(precision, forKey: .precision)
        try c.encodeIfPresent(dimensions, forKey: .dimensions); try c.encode(loadSeconds, forKey: .loadSeconds)
        try c.encodeIfPresent(rerankerLoadSeconds, forKey: .rerankerLoadSeconds)
        try c.encode(peakResidentBytes, forKey: .peakResidentBytes); try c.encode(embedding, forKey: .embedding)
        try c.encode(totalSeconds, forKey: .totalSeconds); try c.encode(tasks, forKey: .tasks)
        try c.encode(limit, forKey: .limit); try c.encode(corpusLimit, forKey: .corpusLimit)  // null: not given
        try c.encodeIfPresent(adapter, forKey: .adapter); try c.encodeIfPresent(rerankerAdapter, forKey: .rerankerAdapter)
        try c.encode(textsPerSecond, forKey: .textsPerSecond); try c.encode(tokensPerSecond, forKey: .tokensPerSecond)
    }
}

/// A run as stored on disk: its summary and results.
public struct RunReport: Sendable {
    public var summary: RunSummary
    public var results: [TaskResult]

    public init(summary: RunSummary, results: [TaskResult]) {
        self.summary = summary
        self.results = results
    }

    /// File name of a task's result: its name with anything but letters, digits, '-', '_' and '.' replaced.
    public static func resultFileName(_ task: String) -> String {
        String(task.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" }) + ".json"
    }

    /// Writes run.json, one JSON file per task, and summary.md into `directory`.
    public func write(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        for result in results {
            try encoder.encode(result).write(to: directory.appendingPathComponent(Self.resultFileName(result.task)))
        }
        try encoder.encode(summary).write(to: directory.appendingPathComponent("run.json"))
        try Data(MarkdownReport.render([self], labels: [directory.standardizedFileURL.lastPathComponent]).utf8).write(to: directory.appendingPathComponent("summary.md"))
    }

    /// Reads a run written by `write(to:)`.
    public static func read(from directory: URL) throws -> RunReport {
        let runFile = directory.appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: runFile.path) else { throw EvaluationError.unreadableFile(path: runFile.path) }
        let decoder = JSONDecoder()
        let summary: RunSummary
        do { summary = try decoder.decode(RunSummary.self, from: data) } catch {
            throw EvaluationError.invalidValue(what: "run summary \(runFile.path)", value: "\(error)")
        }
        var results: [TaskResult] = []
        for task in summary.tasks {
            let file = directory.appendingPathComponent(resultFileName(task))
            guard let data = FileManager.default.contents(atPath: file.path) else { throw EvaluationError.unreadableFile(path: file.path) }
            do { results.append(try decoder.decode(TaskResult.self, from: data)) } catch {
                throw EvaluationError.invalidValue(what: "task result \(file.path)", value: "\(error)")
            }
        }
        return RunReport(summary: summary, results: results)
    }
}
