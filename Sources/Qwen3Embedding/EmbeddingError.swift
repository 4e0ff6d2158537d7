import Foundation

/// Errors of the embedding and reranking API.
public enum EmbeddingError: Error, LocalizedError, Equatable {
    /// `embed` or `score` was called with nothing to process.
    case emptyInput
    /// The requested MRL size is outside `32...hidden`.
    case invalidDimensions(requested: Int, maximum: Int)
    /// The maximum length cannot hold even the fixed parts of the prompt.
    case maxLengthTooSmall(maxLength: Int, minimum: Int)
    /// A token the model needs is not in the vocabulary.
    case missingToken(String)

    /// A one-line description naming the value involved.
    public var errorDescription: String? {
        switch self {
        case .emptyInput:
            return "no input texts were given"
        case .invalidDimensions(let requested, let maximum):
            return "dimensions \(requested) is out of range: choose 32...\(maximum)"
        case .maxLengthTooSmall(let maxLength, let minimum):
            return "max length \(maxLength) is too small: at least \(minimum) tokens are needed"
        case .missingToken(let token):
            return "the tokenizer has no token \"\(token)\""
        }
    }
}
