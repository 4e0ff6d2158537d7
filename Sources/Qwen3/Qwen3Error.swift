import Foundation

/// Errors from loading or running a Qwen3 model; each message names the file, tensor or value involved.
///
/// A weight missing from a checkpoint or GGUF file is a `ModelFormatError.missingTensor`, whichever
/// loader finds it: one error for one fact, however the file was read.
public enum Qwen3Error: Error, LocalizedError, Equatable {
    /// A required file is not in the model directory.
    case missingFile(String)
    /// `config.json` could not be read.
    case invalidConfiguration(path: String, reason: String)
    /// The configuration asks for something this engine does not implement.
    case unsupportedConfiguration(String)
    /// A token id has no row in the embedding table.
    case tokenOutOfRange(id: Int, vocabularySize: Int)
    /// A sequence is empty or longer than the model supports.
    case invalidSequence(String)

    /// A one-line description naming what went wrong.
    public var errorDescription: String? {
        switch self {
        case .missingFile(let path):
            return "missing file \(path)"
        case .invalidConfiguration(let path, let reason):
            return "invalid model configuration \(path): \(reason)"
        case .unsupportedConfiguration(let detail):
            return "unsupported model configuration: \(detail)"
        case .tokenOutOfRange(let id, let vocabularySize):
            return "token id \(id) is outside the embedding table (vocabulary size \(vocabularySize))"
        case .invalidSequence(let detail):
            return "invalid input sequence: \(detail)"
        }
    }
}
