import Foundation
import Kernels
import Qwen3
import Tokenizer

/// Relevance scores with a Qwen3-Reranker model, computed as the official example computes them.
///
/// Each (query, document) pair becomes the chat prompt `prefix + body + suffix` (see `Prompts`); only
/// the body is truncated, so the instructions around it always survive. The score is the probability
/// of "yes" against "no" at the last position, `sigmoid(logit_yes − logit_no)`, computed from just
/// those two rows of the LM head (never the full vocabulary projection), or from the `cls.output`
/// classification head of a llama.cpp reranker GGUF (see `RerankScoreHead` in PostProcessing.swift).
///
/// ```swift
/// let rerankerModelURL = URL(fileURLWithPath: "/models/Qwen3-Reranker-0.6B")
/// let reranker = try Reranker(modelAt: rerankerModelURL)
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
    /// What the model is, and the evidence for it (decided at load; see `ModelClassification`).
    public let classification: ModelClassification
    /// What the model is: `.reranker`, or `.languageModel` for a causal LM not named as a reranker
    /// (any kind with `allowAnyModel: true`).
    public var kind: ModelKind { classification.kind }
    private let prefixIDs: [Int]
    private let suffixIDs: [Int]
    let head: RerankScoreHead

    /// Loads a Hugging Face model directory or a `.gguf` file (including llama.cpp's reranker
    /// conversions with a `cls.output` head); `precision` as for `Embedder`.
    ///
    /// - Parameters:
    ///   - modelURL: the model directory, the `.gguf` file, or a directory holding just one `.gguf`
    ///     (a file URL).
    ///   - maxLength: the longest prompt, prefix and suffix included (8192 by default, as in the official
    ///     example); capped at the model's `max_position_embeddings`.
    ///   - maxBatchTokens: tokens per forward pass (a bound on activation memory).
    ///   - precision: `.float32` (exact, default) or `.bfloat16` (fast), as for `Embedder`.
    ///   - allowAnyModel: load a model identified as an embedding model and score with it
    ///     anyway; by default that is refused with `EmbeddingError.wrongModelKind`. (An unnamed causal
    ///     language model is accepted either way: a Qwen3-Reranker is one, see `ModelKind.languageModel`.)
    ///   - adapter: a PEFT LoRA adapter directory merged into the weights at load (see `Embedder`).
    public convenience init(
        modelAt modelURL: URL, maxLength: Int = 8192, maxBatchTokens: Int = 16384, precision: Precision = .float32,
        allowAnyModel: Bool = false, adapter: URL? = nil
    ) throws {
        let (model, tokenizer, classification) = try loadModel(modelURL, precision: precision, role: .reranker, adapter: adapter)
        try checkKind(classification, of: modelURL, for: .reranker, allowAnyModel: allowAnyModel)
        try self.init(model: model, tokenizer: tokenizer, maxLength: maxLength, maxBatchTokens: maxBatchTokens,
                      classification: classification)
    }

    /// A reranker over an already-loaded model and tokenizer.
    ///
    /// - Parameters:
    ///   - model: the decoder, with an LM head that has the tokens "yes" and "no" or a `cls.output`
    ///     classification head.
    ///   - tokenizer: the model's tokenizer.
    ///   - maxLength: the longest prompt, prefix and suffix included; capped at the model's
    ///     `max_position_embeddings`.
    ///   - maxBatchTokens: tokens per forward pass (a bound on activation memory).
    ///   - classification: what the model is, if the caller knows; `nil` records a reranker
    ///     taken on the caller's word (nothing is checked here).
    /// - Throws: `EmbeddingError.noScoreHead` or `missingToken` when the model has nothing to score
    ///   with, `maxLengthTooSmall` when `maxLength` cannot hold the prompt's fixed parts.
    public init(
        model: Qwen3Model, tokenizer: Tokenizer, maxLength: Int = 8192, maxBatchTokens: Int = 16384,
        classification: ModelClassification? = nil
    ) throws {
        head = try RerankScoreHead(model: model, tokenizer: tokenizer)
        prefixIDs = tokenizer.encode(Prompts.rerankerPrefix, addSpecialTokens: false)
        suffixIDs = tokenizer.encode(Prompts.rerankerSuffix, addSpecialTokens: false)
        let limit = min(maxLength, model.configuration.maxPositionEmbeddings)
        let minimum = prefixIDs.count + suffixIDs.count + tokenizer.numberOfAddedSpecialTokens + 1
        guard limit >= minimum else { throw EmbeddingError.maxLengthTooSmall(maxLength: limit, minimum: minimum) }
        self.model = model
        self.tokenizer = tokenizer
        self.maxLength = limit
        self.maxBatchTokens = max(1, maxBatchTokens)
        self.classification = classification
            ?? ModelClassification(kind: .reranker, evidence: "an already-loaded model given to Reranker (not checked)")
    }

    /// The token ids of the prompt for one pair: prefix, the body truncated to fit, suffix.
    ///
    /// - Parameters:
    ///   - query: the search query.
    ///   - document: the candidate document.
    ///   - instruction: the task; `nil` uses the official default web-search instruction.
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
    /// - Parameters:
    ///   - query: the search query, the same for every document.
    ///   - documents: the candidates; an empty list is an error.
    ///   - instruction: the task; `nil` uses the official default web-search instruction.
    public func score(query: String, documents: [String], instruction: String? = nil) async throws -> [Float] {
        guard !documents.isEmpty else { throw EmbeddingError.emptyInput }
        return try await score(pairs: documents.map { (query, $0) }, instruction: instruction)
    }

    /// Scores (query, document) pairs, in input order.
    ///
    /// - Parameters:
    ///   - pairs: the pairs; an empty list is an error.
    ///   - instruction: the task; `nil` uses the official default web-search instruction.
    public func score(pairs: [(query: String, document: String)], instruction: String? = nil) async throws -> [Float] {
        guard !pairs.isEmpty else { throw EmbeddingError.emptyInput }
        let sequences = pairs.map { tokenize(query: $0.query, document: $0.document, instruction: instruction) }
        return try await score(tokenIDs: sequences)
    }

    /// Scores prompts made by `tokenize(query:document:instruction:)`, in input order.
    ///
    /// - Parameters:
    ///   - sequences: the prompts' token ids; an empty list is an error.
    ///   - raw: return the logit difference `yes − no` instead of its sigmoid.
    /// - Throws: `nonFiniteOutput` when the model produces NaN or infinity (broken weights) rather than
    ///   returning such a score.
    public func score(tokenIDs sequences: [[Int]], raw: Bool = false) async throws -> [Float] {
        guard !sequences.isEmpty else { throw EmbeddingError.emptyInput }
        let head = self.head
        var scores = [Float](repeating: 0, count: sequences.count)
        for batch in tokenBudgetBatches(sequences, maxTokens: maxBatchTokens) {
            let slice = batch.map { sequences[$0] }
            let logits = try await InferenceExecutor.shared.run { try head.logits(slice) }
            for (index, pair) in zip(batch, logits) {
                scores[index] = try head.score(fromLogits: pair, input: index, raw: raw)
            }
        }
        return scores
    }

    /// Scores prompts through `queue` (whose forward pass must be this reranker's `head.logits`, as
    /// `BatchedReranker` makes it), exactly as `score(tokenIDs:raw:)` does.
    func score(tokenIDs sequences: [[Int]], through queue: BatchQueue, raw: Bool) async throws -> [Float] {
        guard !sequences.isEmpty else { throw EmbeddingError.emptyInput }
        let logits = try await queue.submit(sequences)
        return try logits.enumerated().map { index, pair in try head.score(fromLogits: pair, input: index, raw: raw) }
    }
}
