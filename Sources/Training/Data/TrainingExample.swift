import Evaluation
import Qwen3Embedding

/// One training example: a query, its positive document and its hard negatives.
///
/// Every input shape of the data file (ours, FlagEmbedding's, ms-swift's; see `TrainingDataset`) becomes
/// this one type, so the trainer never sees where an example came from.
public struct TrainingExample: Sendable, Equatable {
    /// The query text, unformatted (the instruction is added by `formattedQuery`).
    public var query: String
    /// The relevant document.
    public var positive: String
    /// Hard negatives in the order the file lists them.
    public var negatives: [String]
    /// This example's own instruction (`instruction`, or FlagEmbedding's `prompt`), which overrides the
    /// configured one.
    public var instruction: String?
    /// The 1-based line of the data file the example was read from (0 for an example built in code), so a
    /// later error can still name it.
    public var line: Int

    /// An example from its parts.
    public init(query: String, positive: String, negatives: [String] = [], instruction: String? = nil, line: Int = 0) {
        self.query = query
        self.positive = positive
        self.negatives = negatives
        self.instruction = instruction
        self.line = line
    }

    /// The instruction this example's query is formatted with: its own, else `configured` (the
    /// `--instruction` flag), else `Prompts.defaultInstruction`, the official web-search one.
    public func instruction(configured: String?) -> String {
        instruction ?? configured ?? Prompts.defaultInstruction
    }

    /// The query as an embedding model sees it at inference: `Instruct: {instruction}\nQuery:{query}`
    /// (`Prompts.embeddingQuery`), so training and serving format texts identically.
    public func formattedQuery(configuredInstruction: String?) -> String {
        Prompts.embeddingQuery(query, instruction: instruction(configured: configuredInstruction))
    }

    /// The documents in loss order: the positive first, then the negatives. Documents are embedded as
    /// they are, with no instruction.
    public var documents: [String] { [positive] + negatives }

    /// This example with at most `count` negatives: when it lists more, `count` of them drawn uniformly
    /// without replacement with `generator` (a partial Fisher–Yates shuffle, in drawing order), or the
    /// first `count` in listed order when `shuffle` is false (a run is then fully determined by its inputs).
    /// An example with `count` or fewer negatives is returned unchanged and draws nothing, so the
    /// generator's sequence depends only on the examples that are actually sampled.
    public func selectingNegatives(_ count: Int, shuffle: Bool, using generator: inout SeededGenerator) -> TrainingExample {
        precondition(count >= 0, "a negative count cannot be negative")
        guard negatives.count > count else { return self }
        var copy = self
        if shuffle {
            var indices = Array(negatives.indices)
            for place in 0..<count {
                let pick = place + Int(generator.next() % UInt64(indices.count - place))
                indices.swapAt(place, pick)
            }
            copy.negatives = indices.prefix(count).map { negatives[$0] }
        } else {
            copy.negatives = Array(negatives.prefix(count))
        }
        return copy
    }
}
