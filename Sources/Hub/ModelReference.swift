import Foundation

/// A Hub model id with an optional revision: `Qwen/Qwen3-Embedding-0.6B` or
/// `Qwen/Qwen3-Embedding-0.6B@<branch, tag or commit>`.
public struct ModelReference: Sendable, Hashable, CustomStringConvertible {
    /// `Org/Name`.
    public let repository: String
    /// Branch, tag or commit hash (default `main`).
    public let revision: String

    /// The revision used when none is given.
    public static let defaultRevision = "main"

    /// Creates a reference from already separated parts, validating both.
    public init(repository: String, revision: String = ModelReference.defaultRevision) throws(HubError) {
        if let problem = Self.problem(withRepository: repository) { throw .invalidReference(repository, reason: problem) }
        guard !revision.isEmpty, !revision.contains(".."), !revision.hasPrefix("/"), !revision.hasSuffix("/"),
              revision.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != "\\" }) else {
            throw .invalidReference("\(repository)@\(revision)", reason: "invalid revision '\(revision)'")
        }
        self.repository = repository
        self.revision = revision
    }

    /// Parses `Org/Name[@revision]`.
    public init(parsing text: String) throws(HubError) {
        if let at = text.firstIndex(of: "@") {
            try self.init(repository: String(text[..<at]), revision: String(text[text.index(after: at)...]))
        } else {
            try self.init(repository: text)
        }
    }

    /// `Org/Name@revision` (or `Org/Name` on the default revision).
    public var description: String {
        revision == Self.defaultRevision ? repository : "\(repository)@\(revision)"
    }

    /// Why `repository` is not a valid `Org/Name` id, or nil when it is (the rules of
    /// `huggingface_hub.utils.validate_repo_id`, plus a required namespace).
    static func problem(withRepository repository: String) -> String? {
        let parts = repository.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "a Hub id has the form Org/Name" }
        guard repository.count <= 96 else { return "a Hub id has at most 96 characters" }
        guard !repository.contains("--"), !repository.contains("..") else { return "'--' and '..' are not allowed in a Hub id" }
        for part in parts {
            guard let first = part.first, let last = part.last else { return "a Hub id has the form Org/Name" }
            guard part.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }) else {
                return "a Hub id contains only letters, digits, '-', '_' and '.'"
            }
            guard first != "-", first != ".", last != "-", last != "." else {
                return "a Hub id's parts cannot start or end with '-' or '.'"
            }
        }
        return nil
    }
}
