import Foundation

/// A failure of the evaluation harness, with a message naming the file, field or value involved.
public enum EvaluationError: LocalizedError, Equatable {
    /// A file could not be read.
    case unreadableFile(path: String)
    /// A task file is not valid JSON or lacks a required field.
    case invalidTaskFile(path: String, reason: String)
    /// A data line could not be parsed.
    case malformedRecord(path: String, line: Int, reason: String)
    /// A data set has no usable items (no pairs, no queries with relevant documents, …).
    case emptyData(path: String, what: String)
    /// Inputs that must have the same length do not.
    case lengthMismatch(what: String, expected: Int, actual: Int)
    /// A value outside its allowed range.
    case invalidValue(what: String, value: String)
    /// The on-disk embedding cache is damaged.
    case corruptCache(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .unreadableFile(let path):
            return "cannot read \(path)"
        case .invalidTaskFile(let path, let reason):
            return "invalid task file \(path): \(reason)"
        case .malformedRecord(let path, let line, let reason):
            return "\(path):\(line): \(reason)"
        case .emptyData(let path, let what):
            return "\(path): \(what)"
        case .lengthMismatch(let what, let expected, let actual):
            return "\(what): expected \(expected) values, got \(actual)"
        case .invalidValue(let what, let value):
            return "invalid \(what): \(value)"
        case .corruptCache(let path, let reason):
            return "embedding cache \(path) is damaged (\(reason)); delete it to rebuild"
        }
    }
}
