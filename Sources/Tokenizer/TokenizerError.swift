import Foundation

/// Errors from loading a tokenizer; messages name the file and the component or field involved.
public enum TokenizerError: Error, LocalizedError, Equatable {
    /// A required file is missing or unreadable.
    case missingFile(String)
    /// A file is not valid JSON / text of the expected shape.
    case malformedFile(path: String, reason: String)
    /// A component (normalizer, pre-tokenizer, model, post-processor, decoder) of a kind this
    /// tokenizer does not implement, or with options it does not implement.
    case unsupportedComponent(path: String, component: String, detail: String)

    /// A one-line description.
    public var errorDescription: String? {
        switch self {
        case .missingFile(let path):
            return "tokenizer file not found: \(path)"
        case .malformedFile(let path, let reason):
            return "malformed tokenizer file \(path): \(reason)"
        case .unsupportedComponent(let path, let component, let detail):
            return "unsupported tokenizer \(component) in \(path): \(detail)"
        }
    }
}
