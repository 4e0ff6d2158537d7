import ArgumentParser
import DataPipeline
import Evaluation
import Foundation
import Training

/// `qwen3-embed filter`: keeps the training pairs whose query and positive an embedding model finds close.
struct FilterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Keep the training pairs whose query-positive cosine similarity is above a threshold (the paper's SFT filter).",
        discussion: """
            Embeds each query as inference does (its instruction, else --instruction, else the official one) and \
            its positive as a document, keeps the pairs whose cosine similarity is strictly above \
            --min-similarity, and copies their lines verbatim, in input order, to --output. Prints how many \
            were kept; --report writes the similarity histogram (JSON, 40 bins of width 0.05 over [-1, 1]).
            Example:
              qwen3-embed filter --model Qwen/Qwen3-Embedding-0.6B --data pairs.jsonl \\
                  --min-similarity 0.7 --output kept.jsonl --report similarity.json
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: "Training pairs (JSON Lines, the formats `train` reads).")
    var data: String

    @Option(help: "Keep pairs whose similarity is strictly above this.")
    var minSimilarity: Float = 0.7

    @Option(help: "Query instruction for examples without one (default: the official web-search instruction, as `train`).")
    var instruction: String?

    @Option(help: "Output file: the kept lines, verbatim.")
    var output: String

    @Option(help: "Write the similarity histogram and counts here (JSON).")
    var report: String?

    @Option(help: "Embedding cache directory (the evaluation cache): a rerun embeds nothing twice.")
    var cache: String?

    @Option(help: "Matryoshka size (32…hidden) for every embedding.")
    var dimensions: Int?

    @Option(help: "Texts per model call.")
    var batchSize: Int = 64

    func validate() throws {
        guard minSimilarity.isFinite else { throw ValidationError("--min-similarity must be a finite number") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be 1 or more") }
    }

    func run() async throws {
        let outputURL = URL(fileURLWithPath: output)
        for target in [output] + (report.map { [$0] } ?? [])
        where URL(fileURLWithPath: target).standardizedFileURL.resolvingSymlinksInPath() == URL(fileURLWithPath: data).standardizedFileURL.resolvingSymlinksInPath() {
            throw CommandLineError("\(target) is the input (--data); write to another file")
        }
        let status = Progress(label: "filter", total: 0)
        let dataset = try TrainingDataset(file: URL(fileURLWithPath: data))
        status.note("read \(dataset.count) pair\(dataset.count == 1 ? "" : "s") from \(data)")
        status.note("loading \(options.model)")
        let embedder = try await options.loadEmbedder(for: "filter")
        if let dimensions { try embedder.validate(dimensions: dimensions) }
        let encoder = try EmbedderEncoder(embedder: embedder, model: try await options.modelDirectory(), dimensions: dimensions,
                                          precision: options.resolvedPrecision, adapter: options.adapterDirectory)
        let embeddingCache = try cache.map { try EmbeddingCache(directory: URL(fileURLWithPath: $0), modelIdentifier: encoder.identifier) }
        let service = EmbeddingService(encoder: encoder, cache: embeddingCache, chunkSize: batchSize,
                                       progress: { label, done, total in Progress(label: label, total: total).update(done) })
        let filter = try PairFilter(service: service, threshold: minSimilarity, instruction: instruction)
        let result = try await filter.evaluate(dataset)
        try PairFilter.writeKept(result, of: dataset, to: outputURL)
        if let report {
            do {
                try SimilarityReport(result).json().write(to: URL(fileURLWithPath: report), options: .atomic)
            } catch {
                throw CommandLineError("cannot write --report \(report): \(error.localizedDescription)")
            }
        }
        try printOutput("kept \(result.keptCount) of \(dataset.count) pairs (similarity > \(minSimilarity)); wrote \(output)")
    }
}
