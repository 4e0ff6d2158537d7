import Foundation

/// Errors of the embedding and reranking API.
public enum EmbeddingError: Error, LocalizedError, Equatable {
    /// `embed` or `score` was called with nothing to process.
    case emptyInput
    /// The requested MRL size is outside `32...hidden` (exactly `hidden` for a model narrower than 32).
    case invalidDimensions(requested: Int, maximum: Int)
    /// The maximum length cannot hold even the fixed parts of the prompt.
    case maxLengthTooSmall(maxLength: Int, minimum: Int)
    /// A token the model needs is not in the vocabulary.
    case missingToken(String)
    /// The model at `path` is not the kind the API needs (an `Embedder` given a reranker, a `Reranker`
    /// given an embedding model); `allowAnyModel: true` loads it anyway.
    case wrongModelKind(path: String, found: ModelClassification, expected: ModelKind)
    /// The model has nothing to score with (reason given).
    case noScoreHead(String)
    /// The model produced NaN or infinity for the input at this index of the request: its weights (or
    /// its configuration) are broken. Never returned as a vector or score.
    case nonFiniteOutput(input: Int)

    /// A one-line description naming the value involved.
    public var errorDescription: String? {
        switch self {
        case .emptyInput:
            return "no input texts were given"
        case .invalidDimensions(let requested, let maximum):
            if maximum < 32 {
                return "dimensions \(requested) is out of range: this model's embeddings have \(maximum) dimensions, "
                    + "and a model narrower than 32 cannot be truncated (choose \(maximum))"
            }
            return "dimensions \(requested) is out of range: choose 32...\(maximum)"
        case .maxLengthTooSmall(let maxLength, let minimum):
            return "max length \(maxLength) is too small: at least \(minimum) tokens are needed"
        case .missingToken(let token):
            return "the tokenizer has no token \"\(token)\""
        case .wrongModelKind(let path, let found, let expected):
            let use = expected == .embedding ? "embedding" : "reranking"
            return "\(path) is \(found); \(use) needs \(expected) (pass allowAnyModel: true to use it anyway)"
        case .noScoreHead(let reason):
            return "cannot rerank with this model: \(reason)"
        case .nonFiniteOutput(let input):
            return "the model produced NaN/inf for input \(input) (its weights may be corrupt)"
        }
    }
}
