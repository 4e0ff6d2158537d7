import Foundation
import Kernels
import Qwen3
import Tokenizer

/// Text embeddings with a Qwen3-Embedding model, computed as the official examples compute them.
///
/// Queries are formatted `Instruct: {instruction}\nQuery:{text}`; documents are embedded as they are.
/// The tokenizer appends `<|endoftext|>`, and the embedding is the final-norm hidden state of that last
/// token, L2-normalised. With `dimensions` (Matryoshka / MRL) the vector is truncated first, then
/// normalised again.
///
/// ```swift
/// let embeddingModelURL = URL(fileURLWithPath: "/models/Qwen3-Embedding-0.6B")
/// let embedder = try Embedder(modelAt: embeddingModelURL)
/// let query = try await embedder.embed(["What is the capital of China?"],
///                                      instruction: Prompts.defaultInstruction)
/// let documents = try await embedder.embed(["The capital of China is Beijing."])
/// ```
///
/// An `Embedder` is immutable and `Sendable`: share one across tasks; calls are queued and run one at a
/// time, each using all cores.
public final class Embedder: Sendable {
    /// The underlying decoder.
    public let model: Qwen3Model
    /// The model's tokenizer.
    public let tokenizer: Tokenizer
    /// Longest token sequence fed to the model; longer texts are truncated, keeping the appended EOS.
    public let maxLength: Int
    /// Largest number of tokens in one forward pass (a bound on activation memory).
    public let maxBatchTokens: Int

    /// What the model is, and the evidence for it (decided at load; see `ModelClassification`).
    public let classification: ModelClassification
    /// What the model is: `.embedding` unless it was loaded with `allowAnyModel: true`.
    public var kind: ModelKind { classification.kind }
    private let postProcessing: EmbeddingPostProcessing

    /// The full embedding size (the model's hidden size).
    public var dimensions: Int { model.configuration.hiddenSize }

    /// The Matryoshka sizes `embed(…, dimensions:)` accepts: `32...dimensions`, or exactly `dimensions`
    /// for a model narrower than 32 (Qwen3-Embedding's smallest trained size is 32).
    public var dimensionRange: ClosedRange<Int> { postProcessing.dimensionRange }

    /// Loads a Hugging Face model directory (config.json, safetensors, tokenizer files) or a `.gguf` file
    /// (weights of any supported type, hyper-parameters and tokenizer from its metadata).
    ///
    /// - Parameters:
    ///   - modelURL: the model directory, the `.gguf` file, or a directory holding just one `.gguf`
    ///     (a file URL).
    ///   - maxLength: tokens kept per text, 8192 by default as in the official examples; capped at the
    ///     model's `max_position_embeddings`.
    ///   - maxBatchTokens: tokens per forward pass.
    ///   - precision: `.float32` (exact, default) or `.bfloat16` (fast; `Precision.automatic` picks it
    ///     where the CPU has bf16 dot products).
    ///   - allowAnyModel: load a model that is not identified as an embedding model (a reranker, a chat
    ///     model) and embed with its last-token states anyway; by default that is refused with
    ///     `EmbeddingError.wrongModelKind`, which says what the model is.
    ///   - adapter: a PEFT LoRA adapter directory (`adapter_config.json`, `adapter_model.safetensors`)
    ///     merged into the weights at load, so a fine-tuned adapter is served without a merged copy on
    ///     disk; refused for a GGUF model.
    public convenience init(
        modelAt modelURL: URL, maxLength: Int = 8192, maxBatchTokens: Int = 16384, precision: Precision = .float32,
        allowAnyModel: Bool = false, adapter: URL? = nil
    ) throws {
        let (model, tokenizer, classification) = try loadModel(modelURL, precision: precision, role: .embedding, adapter: adapter)
        try checkKind(classification, of: modelURL, for: .embedding, allowAnyModel: allowAnyModel)
        try self.init(model: model, tokenizer: tokenizer, maxLength: maxLength, maxBatchTokens: maxBatchTokens,
                      classification: classification)
    }

    /// An embedder over an already-loaded model and tokenizer.
    ///
    /// - Parameters:
    ///   - model: the decoder whose final-norm last-token states are the embeddings.
    ///   - tokenizer: the model's tokenizer; it must append the token the model pools at
    ///     (`<|endoftext|>` for Qwen3-Embedding).
    ///   - maxLength: tokens kept per text, capped at the model's `max_position_embeddings`.
    ///   - maxBatchTokens: tokens per forward pass (a bound on activation memory).
    ///   - classification: what the model is, if the caller knows; `nil` records an embedding
    ///     model taken on the caller's word (nothing is checked here).
    public init(
        model: Qwen3Model, tokenizer: Tokenizer, maxLength: Int = 8192, maxBatchTokens: Int = 16384,
        classification: ModelClassification? = nil
    ) throws {
        let minimum = tokenizer.numberOfAddedSpecialTokens + 1
        guard maxLength >= minimum else { throw EmbeddingError.maxLengthTooSmall(maxLength: maxLength, minimum: minimum) }
        self.model = model
        self.tokenizer = tokenizer
        self.maxLength = min(maxLength, model.configuration.maxPositionEmbeddings)
        self.maxBatchTokens = max(1, maxBatchTokens)
        self.classification = classification
            ?? ModelClassification(kind: .embedding, evidence: "an already-loaded model given to Embedder (not checked)")
        postProcessing = EmbeddingPostProcessing(hiddenSize: model.configuration.hiddenSize)
    }

    /// The token ids the model sees for each text (instruction formatting, truncation and EOS applied).
    ///
    /// - Parameters:
    ///   - texts: the texts, as `embed(_:instruction:dimensions:normalize:)` would take them.
    ///   - instruction: when given, each text is formatted as a query with this task instruction.
    public func tokenize(_ texts: [String], instruction: String? = nil) -> [[Int]] {
        texts.map { text in
            let input = instruction.map { Prompts.embeddingQuery(text, instruction: $0) } ?? text
            return tokenizer.encode(input, addSpecialTokens: true, maxLength: maxLength)
        }
    }

    /// Embeds texts, in input order.
    ///
    /// - Parameters:
    ///   - texts: the texts; an empty list is an error, an empty string is a valid (EOS-only) input.
    ///   - instruction: when given, every text is formatted as a query with this task instruction;
    ///     `nil` embeds the texts as documents.
    ///   - dimensions: MRL size in `dimensionRange`; `nil` keeps the full vector.
    ///   - normalize: L2-normalise the (truncated) vector; `false` returns the raw last-token state.
    /// - Throws: `EmbeddingError` for bad arguments, and `nonFiniteOutput` when the model produces
    ///   NaN or infinity (broken weights) rather than returning such a vector.
    public func embed(
        _ texts: [String], instruction: String? = nil, dimensions: Int? = nil, normalize: Bool = true
    ) async throws -> [[Float]] {
        try validate(inputCount: texts.count, dimensions: dimensions)  // fail before tokenizing
        let sequences = tokenize(texts, instruction: instruction)
        return try await embed(tokenIDs: sequences, dimensions: dimensions, normalize: normalize)
    }

    /// Embeds pre-tokenised inputs (ids are used as they are: no EOS is added, no truncation is done).
    ///
    /// - Parameters:
    ///   - sequences: token ids, each ending with the token to pool at (as `tokenize(_:instruction:)`
    ///     makes them).
    ///   - dimensions: MRL size in `dimensionRange`; `nil` keeps the full vector.
    ///   - normalize: L2-normalise the (truncated) vector.
    public func embed(tokenIDs sequences: [[Int]], dimensions: Int? = nil, normalize: Bool = true) async throws -> [[Float]] {
        try validate(inputCount: sequences.count, dimensions: dimensions)
        let forward = EmbeddingPostProcessing.forward(model)
        var results = [[Float]](repeating: [], count: sequences.count)
        for batch in tokenBudgetBatches(sequences, maxTokens: maxBatchTokens) {
            let slice = batch.map { sequences[$0] }
            let states = try await InferenceExecutor.shared.run { try forward(slice) }
            for (index, state) in zip(batch, states) {
                results[index] = try postProcessing.embedding(from: state, input: index, dimensions: dimensions, normalize: normalize)
            }
        }
        return results
    }

    /// Throws `invalidDimensions` unless `dimensions` is `nil` or in `dimensionRange` (for callers, such
    /// as a server, that check a request before queueing it).
    ///
    /// - Parameter dimensions: the MRL size a request asks for, or `nil` for the full vector.
    public func validate(dimensions: Int?) throws {
        try postProcessing.validate(dimensions: dimensions)
    }

    /// Embeds pre-tokenised inputs through `queue` (whose forward pass must be this embedder's, as
    /// `BatchedEmbedder` makes it), post-processed exactly as `embed(tokenIDs:)` does.
    func embed(tokenIDs sequences: [[Int]], through queue: BatchQueue, dimensions: Int?, normalize: Bool) async throws -> [[Float]] {
        try validate(inputCount: sequences.count, dimensions: dimensions)
        let states = try await queue.submit(sequences)
        return try states.enumerated().map { index, state in
            try postProcessing.embedding(from: state, input: index, dimensions: dimensions, normalize: normalize)
        }
    }

    /// The request checks shared by every `embed` entry point.
    private func validate(inputCount: Int, dimensions: Int?) throws {
        guard inputCount > 0 else { throw EmbeddingError.emptyInput }
        try postProcessing.validate(dimensions: dimensions)
    }
}
