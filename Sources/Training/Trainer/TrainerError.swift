import Foundation

/// Why a training run could not start or had to stop. Every description is one line that names what
/// is wrong (the flag, the file, the step), for the CLI to print as it is.
public enum TrainerError: Error, LocalizedError, Equatable {
    /// A flag or combination of flags is invalid.
    case invalidConfiguration(String)
    /// The model cannot be trained as asked (a GGUF file, no LM head for a reranker, …).
    case unsuitableModel(String)
    /// The data cannot be used (empty, too few negatives, …).
    case unusableData(String)
    /// The loss became NaN or infinite; `checkpoint` is the last checkpoint written, if any.
    case nonFiniteLoss(step: Int, checkpoint: String?)
    /// A checkpoint is missing, damaged, or from another configuration.
    case badCheckpoint(String)

    /// The one-line message.
    public var errorDescription: String? {
        switch self {
        case .invalidConfiguration(let message), .unsuitableModel(let message), .unusableData(let message):
            return message
        case .nonFiniteLoss(let step, let checkpoint):
            return "the loss became NaN or infinite at step \(step) (lower --learning-rate or check the data); "
                + (checkpoint.map { "the last checkpoint, \($0), is intact" } ?? "no checkpoint was written (use --save-steps)")
        case .badCheckpoint(let message):
            return message
        }
    }
}
