import Foundation

/// Failures of the model tools; each names the checkpoint, tensor or file involved.
public enum ModelToolsError: Error, LocalizedError, Equatable, Sendable {
    /// The request itself is unusable (too few models, bad weights, t out of range…).
    case invalidArgument(String)
    /// Two checkpoints have different architectures (a configuration key differs).
    case architectureMismatch(key: String, first: String, firstValue: String, other: String, otherValue: String)
    /// A tensor is present in one checkpoint and missing from another.
    case tensorMissing(tensor: String, presentIn: String, missingFrom: String)
    /// A tensor has different shapes in two checkpoints.
    case shapeMismatch(tensor: String, first: String, firstShape: [Int], other: String, otherShape: [Int])
    /// A checkpoint directory lacks a readable `config.json`.
    case unreadableConfiguration(path: String, reason: String)
    /// Writing the output failed.
    case writeFailed(path: String, reason: String)

    /// A one-line description.
    public var errorDescription: String? {
        switch self {
        case .invalidArgument(let message):
            return message
        case .architectureMismatch(let key, let first, let firstValue, let other, let otherValue):
            return "cannot merge different architectures: config.json \"\(key)\" is \(firstValue) in \(first) but \(otherValue) in \(other)"
        case .tensorMissing(let tensor, let presentIn, let missingFrom):
            return "cannot merge: tensor \"\(tensor)\" is in \(presentIn) but missing from \(missingFrom)"
        case .shapeMismatch(let tensor, let first, let firstShape, let other, let otherShape):
            return "cannot merge: tensor \"\(tensor)\" has shape \(firstShape) in \(first) but \(otherShape) in \(other)"
        case .unreadableConfiguration(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        }
    }
}
