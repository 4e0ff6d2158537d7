import Foundation
import Qwen3Embedding

/// What `qwen3-embed eval` runs: a model (and optional reranker) over task files.
public struct EvaluationConfiguration: Sendable {
    public var modelPath: String
    public var rerankerPath: String?
    public var taskFiles: [String]
    /// Replaces every task file's `data_root`.
    public var dataRoot: String?
    /// Caps every task's `limit` (quick runs and tests).
    public var limit: Int?
    /// Caps every retrieval task's `corpus_limit`.
    public var corpusLimit: Int?
    /// Where embeddings are cached; `nil` disables the cache.
    public var cacheDirectory: URL?
    public var dimensions: Int?
    public var maxLength: Int
    public var precision: Precision
    /// The precision as the user named it, for reports.
    public var precisionName: String
    /// A PEFT LoRA adapter directory merged into the embedding model at load (its fingerprint joins the
    /// cache key, so adapted and plain vectors never mix).
    public var adapterPath: String?
    /// A PEFT LoRA adapter directory merged into the reranker at load.
    public var rerankerAdapterPath: String?

    public init(modelPath: String, rerankerPath: String? = nil, taskFiles: [String], dataRoot: String? = nil,
                limit: Int? = nil, corpusLimit: Int? = nil, cacheDirectory: URL? = nil, dimensions: Int? = nil,
                maxLength: Int = 8192, precision: Precision = .float32, precisionName: String = "fp32",
                adapterPath: String? = nil, rerankerAdapterPath: String? = nil) {
        self.modelPath = modelPath; self.rerankerPath = rerankerPath; self.taskFiles = taskFiles; self.dataRoot = dataRoot
        self.limit = limit; self.corpusLimit = corpusLimit; self.cacheDirectory = cacheDirectory; self.dimensions = dimensions; self.maxLength = maxLength
        self.precision = precision; self.precisionName = precisionName
        self.adapterPath = adapterPath; self.rerankerAdapterPath = rerankerAdapterPath
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
        guard !configuration.taskFiles.isEmpty else { throw EvaluationError.invalidValue(what: "task list", value: "empty") }
        return try configuration.taskFiles.map { path -> LoadedTask in
            var task = try LoadedTask(path: path, dataRootOverride: configuration.dataRoot)
            if let limit = configuration.limit { task.description.limit = min(task.description.limit ?? limit, limit) }
            if let limit = configuration.corpusLimit, task.description.type == .retrieval {
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
        note("loading \(configuration.modelPath)")
        let loadStart = Date()
        let embedder = try Embedder(modelPath: configuration.modelPath, maxLength: configuration.maxLength, precision: configuration.precision,
                                    adapter: configuration.adapterPath)
        try embedder.validate(dimensions: configuration.dimensions)  // never builds 32...hidden when hidden < 32
        let encoder = try EmbedderEncoder(embedder: embedder, modelPath: configuration.modelPath,
                                          dimensions: configuration.dimensions, precision: configuration.precisionName,
                                          adapterPath: configuration.adapterPath)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        var reranker: RerankerScorer?
        var rerankerLoadSeconds: Double?
        if let path = configuration.rerankerPath {
            note("loading \(path)")
            let start = Date()
            reranker = RerankerScorer(reranker: try Reranker(modelPath: path, maxLength: configuration.maxLength, precision: configuration.precision,
                                                             adapter: configuration.rerankerAdapterPath))
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
            model: URL(fileURLWithPath: configuration.modelPath).standardizedFileURL.lastPathComponent,
            modelPath: configuration.modelPath,
            reranker: configuration.rerankerPath.map { URL(fileURLWithPath: $0).standardizedFileURL.lastPathComponent },
            precision: configuration.precisionName, dimensions: configuration.dimensions,
            loadSeconds: loadSeconds, rerankerLoadSeconds: rerankerLoadSeconds,
            peakResidentBytes: ResourceUsage.peakResidentBytes(), embedding: await service.throughput(),
            totalSeconds: Date().timeIntervalSince(began), tasks: results.map(\.task),
            limit: configuration.limit, corpusLimit: configuration.corpusLimit,
            adapter: configuration.adapterPath, rerankerAdapter: configuration.rerankerAdapterPath)
        return RunReport(summary: summary, results: results)
    }
}
