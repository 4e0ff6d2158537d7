import Evaluation
import Foundation
import Training
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `qwen3-embed mine`: hard negatives for training pairs from an exact search of a corpus.
///
/// The corpus is embedded as documents (no instruction) into a `CorpusVectorStore` a chunk at a time
/// (resumable; only the chunk's texts are in memory), then the examples are processed in blocks: each
/// query is embedded as inference embeds it (`Prompts.embeddingQuery` with the example's instruction,
/// else the configured one, else the official default, exactly as `TrainingExample.formattedQuery`), its
/// positive as a document, the exact top-B comes from `SimilaritySearch.topK` over the memory-mapped rows,
/// and `NegativeSelection` picks the negatives. Output lines are training examples (`query`, `positive`,
/// `negatives` = the mined ones, replacing any the input had, and `instruction` when the example or the
/// configuration gave one), in input order.
public struct HardNegativeMiner: Sendable {
    /// What a run did.
    public struct Summary: Sendable, Equatable {
        /// Examples written (every input example).
        public var examples = 0
        /// Negatives written in all.
        public var negatives = 0
        /// Examples that got fewer negatives than asked (too few candidates in the range passed the rule).
        public var examplesShort = 0
        /// Corpus documents, and how many of them were embedded by this run (the rest came from the store).
        public var corpusDocuments = 0
        public var embeddedDocuments = 0
    }

    /// The model (vectors must be L2-normalised: similarities are dot products).
    public let encoder: any TextEncoder
    /// The rule.
    public let selection: NegativeSelection
    /// `--instruction`: for examples without their own.
    public let instruction: String?
    /// Corpus texts per encoder call (and per append to the store).
    public let chunkSize: Int
    /// Examples per search block: bounds the query vectors and heaps held at once.
    public let blockSize: Int
    /// Called with (label, done, total) after each chunk or block.
    public let progress: @Sendable (String, Int, Int) -> Void

    /// A miner; see the properties.
    public init(encoder: any TextEncoder, selection: NegativeSelection, instruction: String? = nil, chunkSize: Int = 64,
                blockSize: Int = 256, progress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in }) {
        self.encoder = encoder
        self.selection = selection
        self.instruction = instruction
        self.chunkSize = max(1, chunkSize)
        self.blockSize = max(1, blockSize)
        self.progress = progress
    }

    /// Embeds what `store` lacks of `corpus`; returns how many documents it embedded.
    @discardableResult
    public func embedCorpus(_ corpus: CorpusFile, into store: CorpusVectorStore) async throws -> Int {
        let already = min(store.rows, corpus.count)
        progress("embedding corpus", already, corpus.count)
        for start in stride(from: already, to: corpus.count, by: chunkSize) {
            let end = min(corpus.count, start + chunkSize)
            let (vectors, _) = try await encoder.encode(try corpus.texts(start..<end), instruction: nil)
            try store.append(vectors)
            progress("embedding corpus", end, corpus.count)
        }
        return corpus.count - already
    }

    /// Mines negatives for every example of `dataset` and writes them to `output` (through a temporary
    /// file renamed at the end, so a failed run never leaves a partial output).
    public func mine(dataset: TrainingDataset, corpus: CorpusFile, store: CorpusVectorStore, output: URL) async throws -> Summary {
        var summary = Summary()
        summary.corpusDocuments = corpus.count
        summary.embeddedDocuments = try await embedCorpus(corpus, into: store)
        let (temporary, writer) = try temporaryOutput(for: output)
        var renamed = false
        defer {
            try? writer.close()
            if !renamed { try? FileManager.default.removeItem(at: temporary) }
        }
        let encoderJSON = JSONEncoder()
        encoderJSON.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let examples = dataset.examples
        progress("mining", 0, examples.count)
        for blockStart in stride(from: 0, to: examples.count, by: blockSize) {
            let block = Array(examples[blockStart..<min(examples.count, blockStart + blockSize)])
            let queries = try await queryVectors(block)
            let positives = try await encoder.encode(block.map(\.positive), instruction: nil).vectors
            let rankings = try store.withRows(count: corpus.count) { rows in
                SimilaritySearch.topK(queries: queries, corpus: rows, dimensions: store.header.dimensions, k: selection.ranks.upperBound)
            }
            var lines = Data()
            for (offset, example) in block.enumerated() {
                let positiveScore = Self.dot(queries[offset], positives[offset])
                let chosen = try selection.select(hits: rankings[offset], positive: example.positive, positiveScore: positiveScore) {
                    try corpus.text(at: $0)
                }
                summary.negatives += chosen.count
                if chosen.count < selection.count { summary.examplesShort += 1 }
                let record = MinedExample(query: example.query, positive: example.positive, negatives: chosen.map(\.text),
                                          instruction: example.instruction ?? instruction)
                lines.append(try encoderJSON.encode(record))
                lines.append(UInt8(ascii: "\n"))
            }
            try writer.write(contentsOf: lines)
            summary.examples += block.count
            progress("mining", summary.examples, examples.count)
        }
        try writer.synchronize()
        try writer.close()
        try moveIntoPlace(temporary, output)
        renamed = true
        return summary
    }

    /// Query vectors of `block` in order, one encoder call per distinct instruction.
    private func queryVectors(_ block: [TrainingExample]) async throws -> [[Float]] {
        var vectors = [[Float]](repeating: [], count: block.count)
        var byInstruction: [String: [Int]] = [:]
        var order: [String] = []
        for (index, example) in block.enumerated() {
            let effective = example.instruction(configured: instruction)
            if byInstruction[effective] == nil { order.append(effective) }
            byInstruction[effective, default: []].append(index)
        }
        for effective in order {
            let indices = byInstruction[effective]!
            let encoded = try await encoder.encode(indices.map { block[$0].query }, instruction: effective).vectors
            for (index, vector) in zip(indices, encoded) { vectors[index] = vector }
        }
        return vectors
    }

    /// The dot product in index order (the similarity of two normalised vectors).
    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        var sum: Float = 0
        for index in 0..<min(a.count, b.count) { sum += a[index] * b[index] }
        return sum
    }
}

/// One output line of `mine`: the training data format (`TrainingDataset` reads it back).
struct MinedExample: Encodable {
    var query: String
    var positive: String
    var negatives: [String]
    var instruction: String?
}

/// Renames `temporary` over `destination` (one directory, so atomic: readers see the old file or the new).
func moveIntoPlace(_ temporary: URL, _ destination: URL) throws {
    guard rename(temporary.path, destination.path) == 0 else {
        throw MiningError(path: destination.path, reason: "cannot be written: \(String(cString: strerror(errno)))")
    }
}

/// An empty temporary file beside `output` and a handle writing it.
func temporaryOutput(for output: URL) throws -> (URL, FileHandle) {
    let temporary = output.deletingLastPathComponent()
        .appendingPathComponent(".\(output.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).partial")
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
          let writer = FileHandle(forWritingAtPath: temporary.path) else {
        throw MiningError(path: output.path, reason: "cannot be written (does its directory exist?)")
    }
    return (temporary, writer)
}
