import AsyncHTTPClient
import Foundation

/// A model snapshot in the local cache.
public struct Snapshot: Sendable, Equatable {
    /// `…/models--Org--Name/snapshots/<commit>`: a directory a model can be loaded from.
    public let directory: String
    /// The commit hash.
    public let commit: String
    /// The files selected for this model, relative to `directory`.
    public let files: [String]
}

/// Downloads models into the shared Hugging Face cache, or finds them there.
public struct HubClient: Sendable {
    /// Endpoint, cache, token and offline mode.
    public let configuration: HubConfiguration
    /// The cache layout.
    public var cache: HubCache { HubCache(root: configuration.cacheDirectory) }

    /// A client for `configuration` (by default the environment's, as `huggingface_hub` reads it).
    public init(configuration: HubConfiguration = .fromEnvironment()) {
        self.configuration = configuration
    }

    /// Makes the files a model needs (see `FileSelection`) present in the cache and returns the snapshot.
    ///
    /// Online, the revision is resolved to a commit with the Hub API and only missing files are fetched;
    /// `refs/<revision>` is then updated. Offline (`HF_HUB_OFFLINE`), or when the Hub cannot be reached
    /// and the revision is cached complete, the cached snapshot is used; otherwise the error says what
    /// is missing.
    public func snapshot(_ reference: ModelReference, include: [String] = [],
                         progress: DownloadProgressHandler? = nil) async throws -> Snapshot {
        if configuration.isOffline { return try cachedSnapshot(reference, include: include) }
        return try await HTTPClient.withHTTPClient(configuration: HubHTTP.clientConfiguration(configuration)) { client in
            let http = HubHTTP(client: client, configuration: configuration)
            let info: RepositoryInfo
            do {
                info = try await http.repositoryInfo(repository: reference.repository, revision: reference.revision)
            } catch HubError.network(let url, let reason) {
                // As huggingface_hub: without a connection, a complete cached copy is still good.
                if let snapshot = try? cachedSnapshot(reference, include: include) { return snapshot }
                throw HubError.network(url: url, reason: reason)
            }
            let files = try FileSelection.select(from: info.siblings.map(\.rfilename), include: include, repository: reference.repository)
            for file in files where !HubCache.isSafeRelativePath(file) {
                throw HubError.invalidResponse(url: configuration.endpoint, reason: "file name '\(file)' leaves the snapshot folder")
            }
            try await fetch(files, repository: reference.repository, commit: info.sha, http: http, progress: progress)
            try cache.writeRef(reference.repository, revision: reference.revision, commit: info.sha)
            return Snapshot(directory: cache.snapshotDirectory(reference.repository, commit: info.sha), commit: info.sha, files: files)
        }
    }

    /// The cached snapshot of `reference`, without any request; throws `notInCache` naming what is missing.
    public func cachedSnapshot(_ reference: ModelReference, include: [String] = []) throws(HubError) -> Snapshot {
        let cache = self.cache
        func missing(_ what: String) -> HubError {
            .notInCache(repository: reference.repository, revision: reference.revision, cacheDirectory: cache.root, missing: what)
        }
        guard let commit = cache.cachedCommit(reference.repository, revision: reference.revision) else {
            let refs = "models--…/refs/\(reference.revision)"
            throw missing(FileManager.default.fileExists(atPath: cache.repositoryDirectory(reference.repository))
                          ? "no \(refs) recording its commit" : "no \(HubCache.folderName(repository: reference.repository)) folder")
        }
        let directory = cache.snapshotDirectory(reference.repository, commit: commit)
        guard FileManager.default.fileExists(atPath: directory) else { throw missing("no snapshot folder for commit \(commit)") }
        let files = cache.files(inSnapshot: directory)
        if let absent = FileSelection.missingFiles(in: directory, files: files, include: include) {
            throw missing("snapshot \(commit) lacks \(absent)")
        }
        return Snapshot(directory: directory, commit: commit, files: files)
    }

    /// Links every file into the snapshot, downloading the blobs not yet in the cache.
    private func fetch(_ files: [String], repository: String, commit: String, http: HubHTTP,
                       progress: DownloadProgressHandler?) async throws {
        let cache = self.cache
        let snapshot = cache.snapshotDirectory(repository, commit: commit)
        // First pass: what is there and what must come, so that progress has a total.
        var pending: [(file: String, metadata: FileMetadata)] = []
        var present: Int64 = 0
        var pendingTotal: Int64? = 0  // nil once a size is unknown
        for file in files {
            let pointer = join(snapshot, file)
            if FileManager.default.fileExists(atPath: pointer) {  // follows the link: the blob is there
                present += fileSize(pointer)
                continue
            }
            let metadata = try await http.metadata(repository: repository, revision: commit, file: file)
            let blob = join(cache.blobsDirectory(repository), metadata.etag)
            if FileManager.default.fileExists(atPath: blob) {
                try cache.link(repository, commit: commit, file: file, etag: metadata.etag)
                present += fileSize(blob)
            } else {
                pending.append((file, metadata))
                pendingTotal = metadata.size.flatMap { size in pendingTotal.map { $0 + size } }
            }
        }
        let total = pendingTotal.map { $0 + present }
        progress?(DownloadProgress(completedBytes: present, totalBytes: total, currentFile: nil))
        let downloader = BlobDownloader(http: http)
        var done = present
        for (file, metadata) in pending {
            let base = done
            try await downloader.download(
                metadata, displayName: "\(repository)/\(file)",
                blobPath: join(cache.blobsDirectory(repository), metadata.etag),
                lockPath: cache.lockPath(repository, etag: metadata.etag)
            ) { bytes in
                progress?(DownloadProgress(completedBytes: base + bytes, totalBytes: total, currentFile: file))
            }
            try cache.link(repository, commit: commit, file: file, etag: metadata.etag)
            done += fileSize(join(cache.blobsDirectory(repository), metadata.etag))
        }
        progress?(DownloadProgress(completedBytes: done, totalBytes: total, currentFile: nil))
    }

    private func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }
}
