import Foundation
import ModelFormats
import Qwen3Embedding

/// What `qwen3-embed eval` runs: a model (and optional reranker) over task files.
public struct EvaluationConfiguration: Sendable {
    /// The embedding model: a directory or a `.gguf` file.
    public var model: URL
    /// The reranker, if any: it scores reranking candidates and rescores retrieval's top results.
    public var reranker: URL?
    /// The task files (JSON), run in this order.
    public var taskFiles: [URL]
    /// Replaces every task file's `data_root`.
    public var dataRoot: URL?
    /// Caps every task's `limit` (quick runs and tests).
    public var limit: Int?
    /// Caps every retrieval task's `corpus_limit`.
    public var corpusLimit: Int?
    /// Where embeddings are cached; `nil` disables the cache.
    public var cacheDirectory: URL?
    /// Matryoshka size for every embedding, or `nil` for the full vector.
    public var dimensions: Int?
    /// Maximum tokens per input.
    public var maxLength: Int
    /// The arithmetic both models run in.
    public var precision: Precision
    /// The precision as the user named it, for reports.
    public var precisionName: String
    /// A PEFT LoRA adapter directory merged into the embedding model at load (its fingerprint joins the
    /// cache key, so adapted and plain vectors never mix).
    public var adapter: URL?
    /// A PEFT LoRA adapter directory merged into the reranker at load.
    public var rerankerAdapter: URL?

    /// A configuration; every parameter is the property of the same name.
    public init(model: URL, reranker: URL? = nil, taskFiles: [URL], dataRoot: URL? = nil,
                limit: Int? = nil, corpusLimit: Int? = nil, cacheDirectory: URL? = nil, dimensions: Int? = nil,
                maxLength: Int = 8192, precision: Precision = .float32, precisionName: String? = nil,
                adapter: URL? = nil, rerankerAdapter: URL? = nil) {
        self.model = model; self.reranker = reranker; self.taskFiles = taskFiles; self.dataRoot = dataRoot
        self.limit = limit; self.corpusLimit = corpusLimit; self.cacheDirectory = cacheDirectory; self.dimensions = dimensions; self.maxLength = maxLength
        self.precision = precision; self.precisionName = precisionName ?? precision.rawValue
        self.adapter = adapter; self.rerankerAdapter = rerankerAdapter
    }
}

/// Runs a whole evaluation: validates every task file first, loads the models, runs the tasks in order.
public enum EvaluationSession {
    /// Runs `configuration`; `progress` receives (label, done, total), `note` status lines and
    /// `event` each task's start and end (its result as soon as it is known).
    public static func run(
        _ configuration: EvaluationConfiguration,
        progress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in },
        note: @Sendable (String) -> Void = { _ in },
        event: @Sendable (EvaluationEvent) -> Void = { _ in }
    ) async throws -> RunReport {
        try await run(configuration, tasks: loadTasks(configuration), progress: progress, note: note, event: event)
    }

    /// Reads and validates every task file of `configuration`, applying its `limit` and `corpusLimit`.
    public static func loadTasks(_ configuration: EvaluationConfiguration) throws -> [LoadedTask] {
        try loadTasks(files: configuration.taskFiles, dataRoot: configuration.dataRoot, limit: configuration.limit,
                      corpusLimit: configuration.corpusLimit)
    }

    /// Reads and validates task files without a model (a training run's evaluation hook).
    ///
    /// - Parameters:
    ///   - files: the task files; an empty list is an error.
    ///   - dataRoot: replaces every task file's `data_root`.
    ///   - limit: caps every task's `limit`.
    ///   - corpusLimit: caps every retrieval task's `corpus_limit`.
    public static func loadTasks(files: [URL], dataRoot: URL? = nil, limit: Int? = nil, corpusLimit: Int? = nil) throws -> [LoadedTask] {
        guard !files.isEmpty else { throw EvaluationError.invalidValue(what: "task list", value: "empty") }
        return try files.map { file -> LoadedTask in
            var task = try LoadedTask(file: file, dataRootOverride: dataRoot)
            if let limit { task.description.limit = min(task.description.limit ?? limit, limit) }
            if let limit = corpusLimit, task.description.type == .retrieval {
                task.description.corpusLimit = min(task.description.corpusLimit ?? limit, limit)
            }
            return task
        }
    }

    /// Runs already-loaded (possibly adjusted) tasks with the models of `configuration`.
    public static func run(
        _ configuration: EvaluationConfiguration, tasks: [LoadedTask],
        progress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in },
        note: @Sendable (String) -> Void = { _ in },
        event: @Sendable (EvaluationEvent) -> Void = { _ in }
    ) async throws -> RunReport {
        let began = Date()
        note("loading \(configuration.model.pathAsGiven)")
        let loadStart = Date()
        let embedder = try Embedder(modelAt: configuration.model, maxLength: configuration.maxLength, precision: configuration.precision,
                                    adapter: configuration.adapter)
        try embedder.validate(dimensions: configuration.dimensions)  // never builds 32...hidden when hidden < 32
        let encoder = try EmbedderEncoder(embedder: embedder, model: configuration.model,
                                          dimensions: configuration.dimensions, precision: configuration.precision,
                                          adapter: configuration.adapter)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        var reranker: RerankerScorer?
        var rerankerLoadSeconds: Double?
        if let model = configuration.reranker {
            note("loading \(model.pathAsGiven)")
            let start = Date()
            reranker = RerankerScorer(reranker: try Reranker(modelAt: model, maxLength: configuration.maxLength, precision: configuration.precision,
                                                             adapter: configuration.rerankerAdapter))
            rerankerLoadSeconds = Date().timeIntervalSince(start)
        }
        let cache = try configuration.cacheDirectory.map { try EmbeddingCache(directory: $0, modelIdentifier: encoder.identifier) }
        let service = EmbeddingService(encoder: encoder, cache: cache, progress: progress)
        let runner = TaskRunner(embeddings: service, reranker: reranker, progress: progress)
        var results: [TaskResult] = []
        for (index, task) in tasks.enumerated() {
            let position = EvaluationEvent.Position(index: index + 1, count: tasks.count)
            event(.taskStarted(position, task: task.description.name, type: task.description.type))
            let before = await service.throughput()
            let result = try await runner.run(task)
            results.append(result)
            event(.taskFinished(position, result: result, embedding: (await service.throughput()).subtracting(before)))
        }
        let summary = RunSummary(
            model: configuration.model.standardizedFileURL.lastPathComponent,
            modelPath: configuration.model.pathAsGiven,
            reranker: configuration.reranker.map { $0.standardizedFileURL.lastPathComponent },
            precision: configuration.precisionName, dimensions: configuration.dimensions,
            loadSeconds: loadSeconds, rerankerLoadSeconds: rerankerLoadSeconds,
            peakResidentBytes: ResourceUsage.peakResidentBytes(), embedding: await service.throughput(),
            totalSeconds: Date().timeIntervalSince(began), tasks: results.map(\.task),
            limit: configuration.limit, corpusLimit: configuration.corpusLimit,
            adapter: configuration.adapter?.pathAsGiven, rerankerAdapter: configuration.rerankerAdapter?.pathAsGiven)
        return RunReport(summary: summary, results: results)
    }
}
