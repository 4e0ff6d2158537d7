import Foundation
import Kernels
import Qwen3
import Tokenizer

/// Relevance scores with a Qwen3-Reranker model, computed as the official example computes them.
///
/// Each (query, document) pair becomes the chat prompt `prefix + body + suffix` (see `Prompts`); only
/// the body is truncated, so the instructions around it always survive. The score is the probability
/// of "yes" against "no" at the last position, `sigmoid(logit_yes − logit_no)`, computed from just
/// those two rows of the LM head, never the full vocabulary projection.
///
/// ```swift
/// let reranker = try Reranker(modelPath: "/models/Qwen3-Reranker-0.6B")
/// let scores = try await reranker.score(query: "capital of China?",
///                                       documents: ["Beijing is the capital.", "Gravity…"])
/// ```
public final class Reranker: Sendable {
    /// The underlying decoder (with its LM head).
    public let model: Qwen3Model
    /// The model's tokenizer.
    public let tokenizer: Tokenizer
    /// Longest prompt fed to the model, prefix and suffix included (8192 as in the official example).
    public let maxLength: Int
    /// Largest number of tokens in one forward pass.
    public let maxBatchTokens: Int
    private let prefixIDs: [Int]
    private let suffixIDs: [Int]
    private let head: ScoreHead

    /// Loads a Hugging Face model directory or a `.gguf` file (including llama.cpp's reranker
    /// conversions with a `cls.output` head); `precision` as for `Embedder`.
    public convenience init(
        modelPath: String, maxLength: Int = 8192, maxBatchTokens: Int = 16384, precision: Precision = .float32
    ) throws {
        let (model, tokenizer) = try loadModel(modelPath, precision: precision, role: .reranker)
        try self.init(model: model, tokenizer: tokenizer, maxLength: maxLength, maxBatchTokens: maxBatchTokens)
    }

    /// A reranker over an already-loaded model and tokenizer.
    public init(model: Qwen3Model, tokenizer: Tokenizer, maxLength: Int = 8192, maxBatchTokens: Int = 16384) throws {
        head = try ScoreHead(model: model, tokenizer: tokenizer)
        prefixIDs = tokenizer.encode(Prompts.rerankerPrefix, addSpecialTokens: false)
        suffixIDs = tokenizer.encode(Prompts.rerankerSuffix, addSpecialTokens: false)
        let limit = min(maxLength, model.configuration.maxPositionEmbeddings)
        let minimum = prefixIDs.count + suffixIDs.count + tokenizer.numberOfAddedSpecialTokens + 1
        guard limit >= minimum else { throw EmbeddingError.maxLengthTooSmall(maxLength: limit, minimum: minimum) }
        self.model = model
        self.tokenizer = tokenizer
        self.maxLength = limit
        self.maxBatchTokens = max(1, maxBatchTokens)
    }

    /// The token ids of the prompt for one pair: prefix, the body truncated to fit, suffix.
    public func tokenize(query: String, document: String, instruction: String? = nil) -> [Int] {
        let body = Prompts.rerankerBody(
            query: query, document: document, instruction: instruction ?? Prompts.defaultInstruction)
        // As the official code: `tokenizer(pairs, truncation=..., max_length=...)` with the tokenizer's own
        // special tokens (none for the released reranker tokenizer; an appended EOS where a tokenizer or a
        // GGUF's `add_eos_token` says so), truncated so that they survive.
        let bodyIDs = tokenizer.encode(
            body, addSpecialTokens: true, maxLength: maxLength - prefixIDs.count - suffixIDs.count)
        return prefixIDs + bodyIDs + suffixIDs
    }

    /// Scores each document against the query, in input order; higher is more relevant, in (0, 1).
    ///
    /// - Parameter instruction: the task; `nil` uses the official default web-search instruction.
    public func score(query: String, documents: [String], instruction: String? = nil) async throws -> [Float] {
        guard !documents.isEmpty else { throw EmbeddingError.emptyInput }
        return try await score(pairs: documents.map { (query, $0) }, instruction: instruction)
    }

    /// Scores (query, document) pairs, in input order.
    public func score(pairs: [(query: String, document: String)], instruction: String? = nil) async throws -> [Float] {
        guard !pairs.isEmpty else { throw EmbeddingError.emptyInput }
        let sequences = pairs.map { tokenize(query: $0.query, document: $0.document, instruction: instruction) }
        let model = self.model
        let head = self.head
        var scores = [Float](repeating: 0, count: sequences.count)
        for batch in tokenBudgetBatches(sequences, maxTokens: maxBatchTokens) {
            let slice = batch.map { sequences[$0] }
            let logits = try await InferenceExecutor.shared.run { try head.logits(model, slice) }
            for (index, values) in zip(batch, logits) {
                // exp(log_softmax([no, yes])[1]) == sigmoid(yes − no)
                let difference = Double(values[head.yes]) - Double(values[head.no])
                scores[index] = Float(1 / (1 + exp(-difference)))
            }
        }
        return scores
    }
}

/// Where the "yes" and "no" logits come from: two rows of the LM head (Hugging Face checkpoints), or the
/// classification head llama.cpp's converter writes for Qwen3 rerankers (`cls.output`, labelled
/// `["yes", "no"]`), which holds exactly those two rows.
private struct ScoreHead: Sendable {
    /// Index of the "yes" logit in what `logits` returns.
    let yes: Int
    /// Index of the "no" logit.
    let no: Int
    private let vocabularyRows: [Int]?

    init(model: Qwen3Model, tokenizer: Tokenizer) throws {
        if let classifier = model.weights.classifier {
            guard let yes = classifier.labels.firstIndex(of: "yes"), let no = classifier.labels.firstIndex(of: "no") else {
                throw EmbeddingError.missingToken("yes/no (classifier labels are \(classifier.labels))")
            }
            (self.yes, self.no, vocabularyRows) = (yes, no, nil)
        } else {
            guard let yes = tokenizer.id(forToken: "yes") else { throw EmbeddingError.missingToken("yes") }
            guard let no = tokenizer.id(forToken: "no") else { throw EmbeddingError.missingToken("no") }
            (self.yes, self.no, vocabularyRows) = (1, 0, [no, yes])
        }
    }

    func logits(_ model: Qwen3Model, _ sequences: [[Int]]) throws -> [[Float]] {
        if let vocabularyRows {
            return try model.lastTokenLogits(for: sequences, vocabularyRows: vocabularyRows)
        }
        return try model.lastTokenClassifierLogits(for: sequences)
    }
}
