import Foundation
import Kernels
import Qwen3
import Tokenizer

// The one owner of what turns a forward pass into an API result, as TEI's core/src/infer.rs is: the
// `Embedder`, the `Reranker`, the batching queue wrappers (and through them the server) all run the
// forward pass and the post-processing defined here, so one model gives one answer whichever way it is
// called, bit for bit. Nothing else may truncate, normalise or read a score head.

/// Embedding post-processing: Matryoshka truncation of the last-token state, then optional L2
/// normalisation, with the checks that guard both.
struct EmbeddingPostProcessing: Sendable {
    /// The smallest Matryoshka size Qwen3-Embedding was trained for (its MRL sizes start at 32).
    static let smallestTruncation = 32

    /// The model's hidden size: the full embedding length.
    let hiddenSize: Int

    /// The `dimensions` a caller may ask for: `32...hidden`. A model narrower than 32 (only tiny test
    /// models are) offers exactly its full width: truncating below the smallest trained size would give
    /// vectors nobody trained, and the range must never be built backwards (`32...8` traps).
    var dimensionRange: ClosedRange<Int> { min(Self.smallestTruncation, hiddenSize)...hiddenSize }

    /// Throws `invalidDimensions` unless `dimensions` is `nil` (the full vector) or in `dimensionRange`.
    func validate(dimensions: Int?) throws {
        if let dimensions, !dimensionRange.contains(dimensions) {
            throw EmbeddingError.invalidDimensions(requested: dimensions, maximum: hiddenSize)
        }
    }

    /// The forward pass whose outputs `embedding(from:…)` takes: final-norm hidden states at each
    /// sequence's last token (the appended `<|endoftext|>`).
    static func forward(_ model: Qwen3Model) -> @Sendable ([[Int]]) throws -> [[Float]] {
        { sequences in try model.lastHiddenStates(for: sequences) }
    }

    /// The embedding of one last-token state: the first `dimensions` values (all when `nil`),
    /// L2-normalised when `normalize`.
    ///
    /// - Parameter input: the input's index in the caller's request, named in the error when the
    ///   model produced NaN or infinity (corrupt weights), which is never returned as a vector.
    func embedding(from state: [Float], input: Int, dimensions: Int?, normalize: Bool) throws -> [Float] {
        guard state.allSatisfy(\.isFinite) else { throw EmbeddingError.nonFiniteOutput(input: input) }
        var vector = dimensions.map { Array(state.prefix($0)) } ?? state
        // Finite values stay finite here: the norm sums squares in Double, which cannot overflow.
        if normalize { VectorMath.l2Normalize(&vector) }
        return vector
    }
}

/// The reranker's score head: where the "yes" and "no" logits come from, and how they become a score.
///
/// Hugging Face checkpoints score with two rows of the LM head (the tokens "yes" and "no"); llama.cpp's
/// reranker GGUFs carry a classification head `cls.output` labelled `["yes", "no"]` instead, which
/// holds exactly those two rows, and no LM head at all. The score is `sigmoid(yes − no)` (what the
/// official code's `log_softmax([no, yes])[1].exp()` equals), or the raw difference, in double
/// precision.
struct RerankScoreHead: Sendable {
    /// Where the two logits are read.
    enum Source: Sendable, Equatable {
        /// Rows `no` and `yes` of the LM head (token ids).
        case languageModelRows(no: Int, yes: Int)
        /// The classification head; `yes` and `no` index its labels.
        case classifier(yes: Int, no: Int)
    }

    /// The head this model scores with.
    let source: Source
    private let model: Qwen3Model

    /// The head of `model`: its classifier when it has one (the LM-head rows are then never used,
    /// whether or not the file also has an LM head), else the LM-head rows of the tokens "yes" and "no".
    init(model: Qwen3Model, tokenizer: Tokenizer) throws {
        self.model = model
        if let classifier = model.weights.classifier {
            guard let yes = classifier.labels.firstIndex(of: "yes"), let no = classifier.labels.firstIndex(of: "no") else {
                throw EmbeddingError.missingToken("yes/no (classifier labels are \(classifier.labels))")
            }
            source = .classifier(yes: yes, no: no)
        } else {
            guard let yes = tokenizer.id(forToken: "yes") else { throw EmbeddingError.missingToken("yes") }
            guard let no = tokenizer.id(forToken: "no") else { throw EmbeddingError.missingToken("no") }
            guard model.weights.languageModelHead != nil else {
                throw EmbeddingError.noScoreHead(
                    "the model has no LM head (no lm_head.weight, embeddings not tied) and no classification head")
            }
            source = .languageModelRows(no: no, yes: yes)
        }
    }

    /// The forward pass for a batch of prompts: each sequence's `[no, yes]` logits.
    func logits(_ sequences: [[Int]]) throws -> [[Float]] {
        switch source {
        case .languageModelRows(let no, let yes):
            return try model.lastTokenLogits(for: sequences, vocabularyRows: [no, yes])
        case .classifier(let yes, let no):
            return try model.lastTokenClassifierLogits(for: sequences).map { [$0[no], $0[yes]] }
        }
    }

    /// The score of one prompt from its `[no, yes]` logits: `sigmoid(yes − no)`, or `yes − no` when `raw`.
    ///
    /// - Parameter input: the input's index in the caller's request, named in the error when the
    ///   model produced NaN or infinity, which is never returned as a score.
    func score(fromLogits logits: [Float], input: Int, raw: Bool) throws -> Float {
        precondition(logits.count == 2, "a score needs the [no, yes] logits")
        guard logits.allSatisfy(\.isFinite) else { throw EmbeddingError.nonFiniteOutput(input: input) }
        let difference = Double(logits[1]) - Double(logits[0])
        let score = raw ? Float(difference) : Float(1 / (1 + exp(-difference)))
        // Two finite logits near ±Float.greatestFiniteMagnitude differ by more than a Float holds.
        guard score.isFinite else { throw EmbeddingError.nonFiniteOutput(input: input) }
        return score
    }
}
