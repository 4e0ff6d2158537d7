import ArgumentParser
import Evaluation
import Foundation
import Qwen3Embedding

/// `qwen3-embed eval`: MTEB-style evaluation of a model on task files, or a side-by-side comparison
/// of earlier runs.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model on MTEB-style task files, or compare earlier runs.",
        discussion: """
            Writes <output>/<task>.json (every metric, main score, timings), run.json (load time, peak RSS, \
            texts/s, tokens/s) and summary.md (scores by task type; speed and memory). Embeddings are cached \
            in <output>/cache (or --cache DIR), so an interrupted run resumes where it stopped.
            Examples:
              qwen3-embed eval --model /models/Qwen3-Embedding-0.6B --tasks tasks/*.json --output runs/0.6b
              qwen3-embed eval --compare runs/0.6b runs/4b --output runs/comparison
            """)

    @Option(help: "Embedding model directory.")
    var model: String?

    @Option(help: "Reranker model directory: scores reranking candidates and rescores retrieval's top 100.")
    var reranker: String?

    @Option(help: "A PEFT LoRA adapter directory merged into the embedding model (--model) at load; cached embeddings are kept apart per adapter.")
    var adapter: String?

    @Option(help: "A PEFT LoRA adapter directory merged into the reranker (--reranker) at load.")
    var rerankerAdapter: String?

    @Option(parsing: .upToNextOption, help: "Task files (JSON), see tasks/.")
    var tasks: [String] = []

    @Option(help: "Output directory for results, run.json and summary.md.")
    var output: String?

    @Option(parsing: .upToNextOption, help: "Run directories to put side by side (prints the Markdown; also writes <output>/comparison.md).")
    var compare: [String] = []

    @Option(help: "Embedding cache directory (default <output>/cache).")
    var cache: String?

    @Flag(help: "Do not cache embeddings.")
    var noCache = false

    @Option(help: "Folder that task data paths resolve against, replacing each task file's data_root.")
    var dataRoot: String?

    @Option(help: "At most N items per task (pairs, queries, test texts per label): a quick run. Recorded in every output.")
    var limit: Int?

    @Option(help: "At most N corpus documents per retrieval task (judged documents of kept queries stay). Recorded in every output.")
    var corpusLimit: Int?

    @Option(help: "Matryoshka size (32…hidden) for every embedding.")
    var dimensions: Int?

    @Option(help: "Maximum tokens per input.")
    var maxLength: Int = 8192

    @Option(help: "Arithmetic: fp32 (exact), bf16, or auto (bf16 where the CPU has bf16 dot products).")
    var precision: PrecisionOption = .fp32

    func validate() throws {
        if compare.isEmpty {
            guard model != nil else { throw ValidationError("--model is required (or use --compare DIR...)") }
            guard !tasks.isEmpty else { throw ValidationError("--tasks needs at least one task file") }
            guard output != nil else { throw ValidationError("--output is required") }
            if rerankerAdapter != nil && reranker == nil { throw ValidationError("--reranker-adapter applies to --reranker, and no reranker is given") }
        } else if model != nil || !tasks.isEmpty {
            throw ValidationError("--compare reads earlier runs; it does not take --model or --tasks")
        }
        guard maxLength > 0 else { throw ValidationError("--max-length must be positive") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        if let corpusLimit, corpusLimit <= 0 { throw ValidationError("--corpus-limit must be positive") }
    }

    func run() async throws {
        if !compare.isEmpty { return try runComparison() }
        guard let model, let output else { return }
        let outputURL = URL(fileURLWithPath: output)
        let configuration = EvaluationConfiguration(
            model: URL(fileURLWithPath: model), reranker: reranker.map { URL(fileURLWithPath: $0) },
            taskFiles: tasks.map { URL(fileURLWithPath: $0) }, dataRoot: dataRoot.map { URL(fileURLWithPath: $0) },
            limit: limit, corpusLimit: corpusLimit,
            cacheDirectory: noCache ? nil : URL(fileURLWithPath: cache ?? outputURL.appendingPathComponent("cache").path),
            dimensions: dimensions, maxLength: maxLength, precision: precision.precision,
            precisionName: precision.rawValue, adapter: adapter.map { URL(fileURLWithPath: $0) },
            rerankerAdapter: rerankerAdapter.map { URL(fileURLWithPath: $0) })
        let status = Progress(label: "eval", total: 0)
        let report = try await EvaluationSession.run(
            configuration,
            progress: { label, done, total in Progress(label: label, total: total).update(done) },
            note: { status.note($0) },
            event: { event in
                // Start and end of every task on stderr (what a log of a long unattended run shows), and
                // each result on stdout the moment it is known rather than after the last task.
                status.note(event.line)
                if case .taskFinished(_, let result, _) = event {
                    print("\(result.task)\t\(result.type.rawValue)\t\(result.mainScoreName)\t\(String(format: "%.5f", result.mainScore))")
                    fflush(nil)  // every C stream: naming `stdout` is not concurrency-safe in Swift 6
                }
            })
        try report.write(to: outputURL)
        StandardStreams.writeDiagnostic("wrote \(outputURL.appendingPathComponent("summary.md").path)\n")
    }

    private func runComparison() throws {
        let runs = try compare.map { try RunReport.read(from: URL(fileURLWithPath: $0)) }
        // Columns are named by the directories given, which tell apart runs of one model (another
        // --dimensions, --limit or precision) where model names would not.
        let markdown = MarkdownReport.render(runs, labels: compare)
        if let output {
            let directory = URL(fileURLWithPath: output)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(markdown.utf8).write(to: directory.appendingPathComponent("comparison.md"))
        }
        print(markdown, terminator: "")
    }
}
