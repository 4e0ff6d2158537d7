import Foundation

/// Why `mine` or `filter` cannot go on; names the file and, for a bad line, its 1-based number, in the
/// `path:line: reason` form compilers use (as `TrainingDataError` does for the pairs file).
public struct MiningError: Error, LocalizedError, Equatable, Sendable {
    /// The file at fault, or an empty string for a bad setting.
    public let path: String
    /// The 1-based line at fault, or nil for a problem with the whole file or a setting.
    public let line: Int?
    /// What is wrong.
    public let reason: String

    /// An error about `path` (and `line`).
    public init(path: String, line: Int? = nil, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// A bad setting (no file involved).
    public static func setting(_ reason: String) -> MiningError { MiningError(path: "", reason: reason) }

    public var errorDescription: String? {
        if path.isEmpty { return reason }
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}
