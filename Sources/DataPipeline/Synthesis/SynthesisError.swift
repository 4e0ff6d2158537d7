import Foundation

/// What stops a synthesis run, in one line a user can act on.
public enum SynthesisError: Error, LocalizedError, Equatable, Sendable {
    /// A bad option value (an empty persona list, an unreadable template, a bad URL).
    case invalidOption(String)
    /// The endpoint could not be reached or kept failing after every retry: the run stops, and what
    /// was written so far stays in the output.
    case endpointUnavailable(String)
    /// The endpoint refused the request in a way retrying cannot fix (bad key, unknown model or path).
    case requestRejected(String)
    /// The output file holds something that is not a line this command wrote.
    case corruptOutput(String)

    /// The message the CLI prints.
    public var errorDescription: String? {
        switch self {
        case .invalidOption(let message): return message
        case .endpointUnavailable(let message): return "the endpoint is unavailable: \(message)"
        case .requestRejected(let message): return "the endpoint rejected the request: \(message)"
        case .corruptOutput(let message): return message
        }
    }
}
