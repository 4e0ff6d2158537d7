import ArgumentParser
import DataPipeline
import Evaluation
import Foundation
import Training

/// `qwen3-embed mine`: hard negatives for training pairs, mined from a corpus with an embedding model.
struct MineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mine",
        abstract: "Mine hard negatives for training pairs from a corpus (the paper's false-negative rule).",
        discussion: """
            Embeds the corpus (cached in --cache, resumable), ranks the whole corpus exactly for each query \
            (1-based ranks, highest similarity first, ties in corpus order) and takes --negatives K documents \
            from ranks A..B of --range in rank order, skipping the positive and copies of it, duplicates, and \
            documents more similar to the query than the positive is plus --margin. Writes the pairs in the \
            training format with the mined negatives (replacing any the input had). An example with fewer \
            than K qualifying candidates gets what there is, and a warning counts them (train with \
            --allow-fewer-negatives, or widen --range).
            Example:
              qwen3-embed mine --model Qwen/Qwen3-Embedding-0.6B --data pairs.jsonl \\
                  --corpus corpus.jsonl --output mined.jsonl --negatives 7 --range 10-100
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: "Training pairs (JSON Lines, the formats `train` reads).")
    var data: String

    @Option(help: "Corpus: JSON Lines of {\"id\"?, \"text\"}, or a BEIR corpus.jsonl ({\"_id\", \"title\", \"text\"}).")
    var corpus: String

    @Option(help: "Output file: the pairs with their mined negatives (JSON Lines).")
    var output: String

    @Option(help: "Hard negatives per example (K).")
    var negatives: Int

    @Option(help: "Ranks A-B (1-based, inclusive) of the exact ranking to take negatives from, e.g. 10-100.")
    var range: String

    @Option(help: "Skip candidates whose similarity exceeds the positive's by more than this (likely false negatives).")
    var margin: Float = 0.1

    @Option(help: "Query instruction for examples without one (default: the official web-search instruction, as `train`).")
    var instruction: String?

    @Option(help: "Matryoshka size (32…hidden) for every embedding.")
    var dimensions: Int?

    @Option(help: "Corpus vector cache directory (default <output>.cache); a rerun resumes from it.")
    var cache: String?

    @Flag(help: "Do not keep the corpus vectors (they go to a temporary directory removed at the end).")
    var noCache = false

    @Option(help: "Texts per model call.")
    var batchSize: Int = 64

    func validate() throws {
        guard negatives >= 1 else { throw ValidationError("--negatives must be 1 or more") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be 1 or more") }
        guard margin.isFinite else { throw ValidationError("--margin must be a finite number") }
        let ranks: ClosedRange<Int>
        do { ranks = try NegativeSelection.parseRanks(range) } catch { throw ValidationError(error.localizedDescription) }
        guard ranks.count >= negatives else {
            throw ValidationError("--range \(range) holds \(ranks.count) rank\(ranks.count == 1 ? "" : "s"), fewer than the \(negatives) negatives asked for")
        }
        if cache != nil && noCache { throw ValidationError("--cache and --no-cache contradict each other") }
    }

    func run() async throws {
        let selection = try NegativeSelection(ranks: try NegativeSelection.parseRanks(range), count: negatives, margin: margin)
        let outputURL = URL(fileURLWithPath: output)
        for input in [data, corpus] where URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath() == outputURL.standardizedFileURL.resolvingSymlinksInPath() {
            throw CommandLineError("--output \(output) is an input (\(input)); write the mined pairs to another file")
        }
        let status = Progress(label: "mine", total: 0)
        let dataset = try TrainingDataset(file: URL(fileURLWithPath: data))
        status.note("read \(dataset.count) pair\(dataset.count == 1 ? "" : "s") from \(data)")
        let corpusFile = try CorpusFile(file: URL(fileURLWithPath: corpus))
        status.note("indexed \(corpusFile.count) document\(corpusFile.count == 1 ? "" : "s") in \(corpus)")
        guard selection.ranks.lowerBound <= corpusFile.count else {
            throw CommandLineError("--range \(range) starts past the corpus's last rank (\(corpusFile.count) documents)")
        }
        status.note("loading \(options.model)")
        let embedder = try await options.loadEmbedder(for: "mine")
        if let dimensions { try embedder.validate(dimensions: dimensions) }
        let encoder = try EmbedderEncoder(embedder: embedder, model: try await options.modelDirectory(), dimensions: dimensions,
                                          precision: options.resolvedPrecision, adapter: options.adapterDirectory)
        let cacheURL = noCache
            ? FileManager.default.temporaryDirectory.appendingPathComponent("qwen3-embed-mine-\(UUID().uuidString)")
            : URL(fileURLWithPath: cache ?? output + ".cache")
        defer { if noCache { try? FileManager.default.removeItem(at: cacheURL) } }
        let store = try CorpusVectorStore(directory: cacheURL, header: .init(
            model: encoder.identifier, corpus: "\(URL(fileURLWithPath: corpus).standardizedFileURL.path) \(corpusFile.identity)",
            dimensions: dimensions ?? embedder.dimensions))
        if store.rows > 0 { status.note("corpus vectors: \(min(store.rows, corpusFile.count)) of \(corpusFile.count) cached in \(cacheURL.path)") }
        let miner = HardNegativeMiner(
            encoder: encoder, selection: selection, instruction: instruction, chunkSize: batchSize,
            progress: { label, done, total in Progress(label: label, total: total).update(done) })
        let summary = try await miner.mine(dataset: dataset, corpus: corpusFile, store: store, output: outputURL)
        if summary.examplesShort > 0 {
            status.note("warning: \(summary.examplesShort) of \(summary.examples) examples got fewer than \(negatives) negatives (too few candidates in ranks \(range) passed the rules); train them with --allow-fewer-negatives or widen --range")
        }
        try printOutput("mined \(summary.negatives) negatives for \(summary.examples) examples (\(summary.examplesShort) with fewer than \(negatives)); wrote \(output)")
    }
}
