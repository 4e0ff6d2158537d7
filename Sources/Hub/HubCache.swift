import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `huggingface_hub` cache layout under one cache root:
///
/// ```
/// models--Org--Name/
///   blobs/<etag>                     file contents, named by ETag (sha256 for LFS files, git sha1 otherwise)
///   blobs/<etag>.incomplete          a download in progress (resumed with a Range request)
///   refs/<revision>                  the commit hash the branch or tag pointed to
///   snapshots/<commit>/<file>        relative symlink to ../../blobs/<etag>
/// .locks/models--Org--Name/<etag>.lock   flock(2) lock shared with huggingface_hub's filelock
/// ```
public struct HubCache: Sendable {
    /// The cache root (`HF_HUB_CACHE`).
    public let root: String

    /// A cache rooted at `root`.
    public init(root: String) {
        self.root = root
    }

    /// `models--Org--Name`, as `huggingface_hub.file_download.repo_folder_name` spells it.
    public static func folderName(repository: String) -> String {
        "models--" + repository.replacingOccurrences(of: "/", with: "--")
    }

    /// The repository's folder.
    public func repositoryDirectory(_ repository: String) -> String {
        join(root, Self.folderName(repository: repository))
    }

    /// The folder of content-addressed blobs.
    public func blobsDirectory(_ repository: String) -> String {
        join(repositoryDirectory(repository), "blobs")
    }

    /// The snapshot folder of one commit.
    public func snapshotDirectory(_ repository: String, commit: String) -> String {
        join(repositoryDirectory(repository), "snapshots", commit)
    }

    /// The file recording which commit `revision` points to.
    public func refPath(_ repository: String, revision: String) -> String {
        join(repositoryDirectory(repository), "refs", revision)
    }

    /// The lock file guarding the download of one blob.
    func lockPath(_ repository: String, etag: String) -> String {
        join(root, ".locks", Self.folderName(repository: repository), etag + ".lock")
    }

    /// The commit `revision` resolves to from the cache alone: the revision itself when it is a full commit
    /// hash, else the content of `refs/<revision>`.
    public func cachedCommit(_ repository: String, revision: String) -> String? {
        if Self.isCommitHash(revision) { return revision }
        guard let data = FileManager.default.contents(atPath: refPath(repository, revision: revision)) else { return nil }
        let commit = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Self.isSafeComponent(commit) ? commit : nil
    }

    /// Records that `revision` points to `commit`, atomically (nothing to do when the revision is the commit).
    func writeRef(_ repository: String, revision: String, commit: String) throws(HubError) {
        guard revision != commit else { return }
        let path = refPath(repository, revision: revision)
        if cachedCommit(repository, revision: revision) == commit { return }
        try createDirectory((path as NSString).deletingLastPathComponent)
        do {
            try Data(commit.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .fileSystem(path: path, reason: error.localizedDescription)
        }
    }

    /// Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink (so that the cache can
    /// be moved), replacing any previous link atomically.
    func link(_ repository: String, commit: String, file: String, etag: String) throws(HubError) {
        let pointer = join(snapshotDirectory(repository, commit: commit), file)
        try createDirectory((pointer as NSString).deletingLastPathComponent)
        let depth = file.split(separator: "/").count + 1  // snapshots/<commit>/<dirs…>/file → up to the repository folder
        let target = String(repeating: "../", count: depth) + "blobs/" + etag
        let temporary = pointer + ".tmp-\(UUID().uuidString)"
        guard symlink(target, temporary) == 0 else { throw .fileSystem(path: temporary, reason: lastError()) }
        guard rename(temporary, pointer) == 0 else {
            let reason = lastError()
            unlink(temporary)
            throw .fileSystem(path: pointer, reason: reason)
        }
    }

    /// Every regular file reachable in a snapshot (following its symlinks), relative to it, sorted; dangling
    /// links are left out.
    public func files(inSnapshot directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        for case let relative as String in enumerator {
            var isDirectory: ObjCBool = false
            let path = join(directory, relative)
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(relative)
            }
        }
        return files.sorted()
    }

    /// Whether `text` is a full 40-hex-digit git commit hash.
    public static func isCommitHash(_ text: String) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// Whether a server-supplied name (commit, ETag) is safe as a single path component.
    static func isSafeComponent(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 200 && text != "." && text != ".."
            && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    /// Whether a repository file name from the server stays inside the snapshot folder.
    static func isSafeRelativePath(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\\"), !path.contains("\0") else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }
}

/// Joins path components with `/`.
func join(_ first: String, _ rest: String...) -> String {
    rest.reduce(first) { ($0 as NSString).appendingPathComponent($1) }
}

/// Creates a directory and its parents.
func createDirectory(_ path: String) throws(HubError) {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw .fileSystem(path: path, reason: error.localizedDescription)
    }
}

/// The current `errno` as text.
func lastError() -> String {
    String(cString: strerror(errno))
}
