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
/// let embedder = try Embedder(modelPath: "/models/Qwen3-Embedding-0.6B")
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

    /// The full embedding size (the model's hidden size).
    public var dimensions: Int { model.configuration.hiddenSize }

    /// Loads a Hugging Face model directory (config.json, safetensors, tokenizer files) or a `.gguf` file
    /// (weights of any supported type, hyper-parameters and tokenizer from its metadata).
    ///
    /// - Parameters:
    ///   - maxLength: tokens kept per text, 8192 by default as in the official examples; capped at the
    ///     model's `max_position_embeddings`.
    ///   - maxBatchTokens: tokens per forward pass.
    ///   - precision: `.float32` (exact, default) or `.bfloat16` (fast; `Precision.automatic` picks it
    ///     where the CPU has bf16 dot products).
    public convenience init(
        modelPath: String, maxLength: Int = 8192, maxBatchTokens: Int = 16384, precision: Precision = .float32
    ) throws {
        let (model, tokenizer) = try loadModel(modelPath, precision: precision, role: .embedding)
        try self.init(model: model, tokenizer: tokenizer, maxLength: maxLength, maxBatchTokens: maxBatchTokens)
    }

    /// An embedder over an already-loaded model and tokenizer.
    public init(model: Qwen3Model, tokenizer: Tokenizer, maxLength: Int = 8192, maxBatchTokens: Int = 16384) throws {
        let minimum = tokenizer.numberOfAddedSpecialTokens + 1
        guard maxLength >= minimum else { throw EmbeddingError.maxLengthTooSmall(maxLength: maxLength, minimum: minimum) }
        self.model = model
        self.tokenizer = tokenizer
        self.maxLength = min(maxLength, model.configuration.maxPositionEmbeddings)
        self.maxBatchTokens = max(1, maxBatchTokens)
    }

    /// The token ids the model sees for each text (instruction formatting, truncation and EOS applied).
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
    ///   - dimensions: MRL size in `32...dimensions`; `nil` keeps the full vector.
    ///   - normalize: L2-normalise the (truncated) vector; `false` returns the raw last-token state.
    public func embed(
        _ texts: [String], instruction: String? = nil, dimensions: Int? = nil, normalize: Bool = true
    ) async throws -> [[Float]] {
        try validate(inputCount: texts.count, dimensions: dimensions)  // fail before tokenizing
        let sequences = tokenize(texts, instruction: instruction)
        return try await embed(tokenIDs: sequences, dimensions: dimensions, normalize: normalize)
    }

    /// Embeds pre-tokenised inputs (ids are used as they are: no EOS is added, no truncation is done).
    public func embed(tokenIDs sequences: [[Int]], dimensions: Int? = nil, normalize: Bool = true) async throws -> [[Float]] {
        try validate(inputCount: sequences.count, dimensions: dimensions)
        let model = self.model
        var results = [[Float]](repeating: [], count: sequences.count)
        for batch in tokenBudgetBatches(sequences, maxTokens: maxBatchTokens) {
            let slice = batch.map { sequences[$0] }
            let states = try await InferenceExecutor.shared.run { try model.lastHiddenStates(for: slice) }
            for (index, state) in zip(batch, states) {
                var vector = dimensions.map { Array(state.prefix($0)) } ?? state
                if normalize { VectorMath.l2Normalize(&vector) }
                results[index] = vector
            }
        }
        return results
    }

    /// The request checks shared by both `embed` entry points.
    private func validate(inputCount: Int, dimensions: Int?) throws {
        guard inputCount > 0 else { throw EmbeddingError.emptyInput }
        if let dimensions, !(32...self.dimensions).contains(dimensions) {
            throw EmbeddingError.invalidDimensions(requested: dimensions, maximum: self.dimensions)
        }
    }
}

