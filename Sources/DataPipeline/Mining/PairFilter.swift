import Evaluation
import Foundation
import Training

/// `qwen3-embed filter`: the paper's supervised fine-tuning filter, keeping the pairs whose query and
/// positive are close under an embedding model.
///
/// Each example's query is embedded as inference embeds it (`TrainingExample.formattedQuery`: its own
/// instruction, else `--instruction`, else the official default) and its positive as a document, through
/// the evaluation module's `EmbeddingService` (deduplicated, chunked, and cached on disk when a cache is
/// given). A pair is kept when its cosine similarity is strictly above the threshold. Kept lines are
/// copied verbatim, in input order, so any extra fields (a synthesizer's provenance) survive.
public struct PairFilter: Sendable {
    /// The outcome: every pair's similarity, in input order, and what was kept.
    public struct Result: Sendable {
        /// Similarity of each example of the dataset, in order.
        public var similarities: [Float]
        /// Whether each example was kept.
        public var kept: [Bool]
        /// The threshold used.
        public var threshold: Float
        /// Number kept.
        public var keptCount: Int { kept.filter { $0 }.count }
    }

    /// The embedding service (its cache, if any, makes a rerun free).
    public let service: EmbeddingService
    /// Pairs at or below this similarity are dropped.
    public let threshold: Float
    /// `--instruction`: for examples without their own.
    public let instruction: String?

    /// A filter; `threshold` must be finite.
    public init(service: EmbeddingService, threshold: Float, instruction: String? = nil) throws {
        guard threshold.isFinite else { throw MiningError.setting("--min-similarity must be a finite number") }
        self.service = service
        self.threshold = threshold
        self.instruction = instruction
    }

    /// The similarity of every example and the keep decision.
    public func evaluate(_ dataset: TrainingDataset) async throws -> Result {
        let examples = dataset.examples
        var queryVectors = [[Float]](repeating: [], count: examples.count)
        // One service call per distinct instruction (the service takes one instruction per call).
        var byInstruction: [String: [Int]] = [:]
        var order: [String] = []
        for (index, example) in examples.enumerated() {
            let effective = example.instruction(configured: instruction)
            if byInstruction[effective] == nil { order.append(effective) }
            byInstruction[effective, default: []].append(index)
        }
        for effective in order {
            let indices = byInstruction[effective]!
            let vectors = try await service.embed(indices.map { examples[$0].query }, instruction: effective, label: "embedding queries")
            for (index, vector) in zip(indices, vectors) { queryVectors[index] = vector }
        }
        let positiveVectors = try await service.embed(examples.map(\.positive), instruction: nil, label: "embedding positives")
        let similarities = zip(queryVectors, positiveVectors).map { HardNegativeMiner.dot($0, $1) }
        return Result(similarities: similarities, kept: similarities.map { $0 > threshold }, threshold: threshold)
    }

    /// Copies the lines of `dataset`'s file whose examples `result` kept to `output`, verbatim and in order.
    public static func writeKept(_ result: Result, of dataset: TrainingDataset, to output: URL) throws {
        let keptLines = Set(zip(dataset.examples, result.kept).filter { $0.1 }.map { $0.0.line })
        let (temporary, writer) = try temporaryOutput(for: output)
        var renamed = false
        defer {
            try? writer.close()
            if !renamed { try? FileManager.default.removeItem(at: temporary) }
        }
        var buffer = Data()
        try LineReader.forEachLine(of: dataset.path) { line in
            guard keptLines.contains(line.number) else { return }
            buffer.append(contentsOf: line.bytes)
            buffer.append(UInt8(ascii: "\n"))
            if buffer.count > 1 << 20 {
                try writer.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try writer.write(contentsOf: buffer)
        try writer.synchronize()
        try writer.close()
        try moveIntoPlace(temporary, output)
        renamed = true
    }
}

/// The similarity histogram `filter --report` writes (JSON): 40 bins of width 0.05 over [-1, 1].
public struct SimilarityReport: Codable, Sendable, Equatable {
    /// One bin: similarities in [lower, upper) (the last bin also holds 1.0).
    public struct Bin: Codable, Sendable, Equatable {
        public var lower: Double
        public var upper: Double
        public var count: Int
    }
    public var threshold: Double
    public var total: Int
    public var kept: Int
    public var mean: Double
    public var minimum: Double
    public var maximum: Double
    public var bins: [Bin]

    /// The report of `result`.
    public init(_ result: PairFilter.Result) {
        let values = result.similarities.map(Double.init)
        threshold = Double(result.threshold)
        total = values.count
        kept = result.keptCount
        mean = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
        minimum = values.min() ?? 0
        maximum = values.max() ?? 0
        // Bin edges are k/20 - 1 computed from integers, so they print exactly (no accumulated steps).
        var counts = [Int](repeating: 0, count: 40)
        for value in values {
            let index = Int(((value + 1) * 20).rounded(.down))
            counts[min(39, max(0, index))] += 1
        }
        bins = counts.enumerated().map { Bin(lower: Double($0.offset) / 20 - 1, upper: Double($0.offset + 1) / 20 - 1, count: $0.element) }
    }

    /// The report as pretty-printed JSON.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
