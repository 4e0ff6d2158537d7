import Foundation

/// Failures while resolving or downloading a model; every message names the repository, URL or file
/// involved and, where there is one, what to do about it.
public enum HubError: Error, LocalizedError, Equatable, Sendable {
    /// The reference is neither an existing local path nor a Hub id of the form `Org/Name[@revision]`.
    case invalidReference(String, reason: String)
    /// The Hub knows no such repository, or it is private and the request was not authorised.
    case repositoryNotFound(repository: String, url: String, status: Int, authenticated: Bool)
    /// The repository exists but access was refused (gated repository, insufficient token scope).
    case accessDenied(repository: String, url: String, status: Int, reason: String)
    /// The repository has no such branch, tag or commit.
    case revisionNotFound(repository: String, revision: String, url: String)
    /// The repository has no such file at that revision.
    case entryNotFound(repository: String, revision: String, file: String, url: String)
    /// Any other unsuccessful HTTP status.
    case httpStatus(url: String, status: Int, message: String)
    /// The server could not be reached or the connection failed (after retries for downloads).
    case network(url: String, reason: String)
    /// The server's answer lacks something the protocol requires (commit header, ETag, valid JSON…).
    case invalidResponse(url: String, reason: String)
    /// A downloaded file's size differs from the size the Hub announced.
    case sizeMismatch(file: String, expected: Int64, actual: Int64)
    /// A downloaded file's digest differs from its ETag (sha256 for LFS files, git blob sha1 otherwise).
    case integrityCheckFailed(file: String, algorithm: String, expected: String, actual: String)
    /// Offline mode (HF_HUB_OFFLINE) is on and the cache lacks what is needed.
    case notInCache(repository: String, revision: String, cacheDirectory: String, missing: String)
    /// The repository's file list offers no weights this engine can use, or several GGUF files to choose from.
    case noUsableWeights(repository: String, reason: String)
    /// A cache directory or file could not be created, written or moved.
    case fileSystem(path: String, reason: String)

    /// A one-line description.
    public var errorDescription: String? {
        switch self {
        case .invalidReference(let reference, let reason):
            return "'\(reference)' is not a model: \(reason)"
        case .repositoryNotFound(let repository, let url, let status, let authenticated):
            let hint = authenticated
                ? "check the id; the token in HF_TOKEN may also lack access to it"
                : "check the id; if it is private or gated, set HF_TOKEN to a token with access"
            return "repository \(repository) not found on the Hub (HTTP \(status) from \(url)): \(hint)"
        case .accessDenied(let repository, let url, let status, let reason):
            return "access to \(repository) denied (HTTP \(status) from \(url)): \(reason)"
        case .revisionNotFound(let repository, let revision, let url):
            return "revision '\(revision)' of \(repository) not found (\(url))"
        case .entryNotFound(let repository, let revision, let file, let url):
            return "file \(file) not found in \(repository) at revision '\(revision)' (\(url))"
        case .httpStatus(let url, let status, let message):
            return "HTTP \(status) from \(url)" + (message.isEmpty ? "" : ": \(message)")
        case .network(let url, let reason):
            return "cannot reach \(url): \(reason) (check the connection, HF_ENDPOINT, or use HF_HUB_OFFLINE=1 with a cached model)"
        case .invalidResponse(let url, let reason):
            return "unexpected answer from \(url): \(reason)"
        case .sizeMismatch(let file, let expected, let actual):
            return "download of \(file) is \(actual) bytes but the Hub announced \(expected); the partial file was removed, try again"
        case .integrityCheckFailed(let file, let algorithm, let expected, let actual):
            return "download of \(file) is corrupt: \(algorithm) is \(actual), expected \(expected); the file was discarded, try again"
        case .notInCache(let repository, let revision, let cacheDirectory, let missing):
            return "offline mode (HF_HUB_OFFLINE) is on and \(repository)@\(revision) is not fully cached in \(cacheDirectory): \(missing); download it while online (qwen3-embed download \(repository)) or unset HF_HUB_OFFLINE"
        case .noUsableWeights(let repository, let reason):
            return "\(repository): \(reason)"
        case .fileSystem(let path, let reason):
            return "cannot write \(path): \(reason)"
        }
    }
}
