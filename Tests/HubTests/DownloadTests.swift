import Foundation
import Synchronization
import Testing
@testable import Hub

/// Downloads against a local Hub look-alike (127.0.0.1, ephemeral port); nothing touches the internet.
@Suite struct DownloadTests {
    let repositoryID = "Org/Tiny"

    @Test func downloadBuildsTheHuggingFaceCacheLayout() async throws {
        let cache = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let hub = MockHub()
        let repository = try tinyRepository()
        hub.add(repositoryID, repository)
        let reports = ProgressLog()
        let snapshot = try await hub.serve { endpoint in
            try await HubClient(configuration: configuration(endpoint: endpoint, cache: cache, token: "hf_secret"))
                .snapshot(ModelReference(parsing: repositoryID)) { reports.append($0) }
        }
        let root = (cache as NSString).appendingPathComponent("models--Org--Tiny")
        #expect(snapshot.directory == "\(root)/snapshots/\(repository.commit)")
        #expect(snapshot.files == tinyModelFiles)
        #expect(try String(contentsOfFile: "\(root)/refs/main", encoding: .utf8) == repository.commit)

        for name in tinyModelFiles {
            let file = try #require(repository.files[name])
            let pointer = (snapshot.directory as NSString).appendingPathComponent(name)
            let depth = String(repeating: "../", count: name.split(separator: "/").count + 1)
            // A relative symlink into blobs/, the blob named by the ETag (sha256 for LFS, git sha1 otherwise).
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: pointer) == "\(depth)blobs/\(file.etag)")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: pointer))) == file.content, "\(name)")
        }
        let blobs = try FileManager.default.contentsOfDirectory(atPath: "\(root)/blobs").sorted()
        #expect(blobs == tinyModelFiles.compactMap { repository.files[$0]?.etag }.sorted())
        #expect(!FileManager.default.fileExists(atPath: "\(snapshot.directory)/README.md"))
        #expect(!FileManager.default.fileExists(atPath: "\(snapshot.directory)/onnx"))

        // The token goes to the Hub but never to the CDN; LFS bytes come from the CDN.
        let log = hub.log
        #expect(log.filter { $0.path.hasPrefix("/cdn/") }.allSatisfy { $0.authorization == nil })
        #expect(log.filter { !$0.path.hasPrefix("/cdn/") }.allSatisfy { $0.authorization == "Bearer hf_secret" })
        #expect(log.filter { $0.path.hasPrefix("/cdn/") && $0.method == "GET" }.count == 3)

        // Progress reached the exact total of the selected files.
        let total = tinyModelFiles.compactMap { repository.files[$0]?.content.count }.reduce(0, +)
        #expect(reports.last == DownloadProgress(completedBytes: Int64(total), totalBytes: Int64(total), currentFile: nil))
        #expect(reports.values.map(\.completedBytes) == reports.values.map(\.completedBytes).sorted())
    }

    @Test func secondDownloadReusesTheCache() async throws {
        let cache = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let hub = MockHub()
        hub.add(repositoryID, try tinyRepository())
        let (first, second) = try await hub.serve { endpoint in
            let client = HubClient(configuration: configuration(endpoint: endpoint, cache: cache))
            let first = try await client.snapshot(ModelReference(parsing: repositoryID))
            let requestsAfterFirst = hub.log.count
            let second = try await client.snapshot(ModelReference(parsing: repositoryID))
            #expect(hub.log.count == requestsAfterFirst + 1, "only the revision lookup: \(hub.log.dropFirst(requestsAfterFirst).map(\.path))")
            return (first, second)
        }
        #expect(first == second)
    }

    @Test func interruptedTransferIsResumedWithARangeRequest() async throws {
        let cache = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let hub = MockHub()
        let repository = try tinyRepository()
        hub.add(repositoryID, repository)
        let shard = try #require(repository.files["model-00001-of-00002.safetensors"])
        hub.interruptNextTransfer(of: shard, after: 3_000_000)
        let snapshot = try await hub.serve { endpoint in
            try await HubClient(configuration: configuration(endpoint: endpoint, cache: cache)).snapshot(ModelReference(parsing: repositoryID))
        }
        let transfers = hub.log.filter { $0.path == "/cdn/\(shard.sha256)" }
        #expect(transfers.count == 2)
        #expect(transfers.first?.range == nil)
        let resumedAt = try #require(transfers.last?.range.flatMap { Int($0.dropFirst(6).dropLast()) })
        #expect(resumedAt > 0 && resumedAt <= 3_000_000, "resumed from byte \(resumedAt)")
        #expect(transfers.last?.status == 206)
        let path = (snapshot.directory as NSString).appendingPathComponent("model-00001-of-00002.safetensors")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == shard.content)
    }

    @Test func partialFileFromAnEarlierRunIsResumed() async throws {
        let cache = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let hub = MockHub()
        let repository = try tinyRepository()
        hub.add(repositoryID, repository)
        let tokenizer = try #require(repository.files["tokenizer.json"])
        let blobs = "\(cache)/models--Org--Tiny/blobs"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        try Data(tokenizer.content.prefix(1_234_567)).write(to: URL(fileURLWithPath: "\(blobs)/\(tokenizer.sha256).incomplete"))
        let snapshot = try await hub.serve { endpoint in
            try await HubClient(configuration: configuration(endpoint: endpoint, cache: cache)).snapshot(ModelReference(parsing: repositoryID))
        }
        let transfers = hub.log.filter { $0.path == "/cdn/\(tokenizer.sha256)" }
        #expect(transfers.map(\.range) == ["bytes=1234567-"])
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: "\(snapshot.directory)/tokenizer.json"))) == tokenizer.content)
        #expect(!FileManager.default.fileExists(atPath: "\(blobs)/\(tokenizer.sha256).incomplete"))
    }

    @Test func corruptedDownloadsAreDetectedAndDiscarded() async throws {
        for name in ["model-00002-of-00002.safetensors", "config.json"] {
            let cache = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: cache) }
            let hub = MockHub()
            let repository = try tinyRepository()
            hub.add(repositoryID, repository)
            let file = try #require(repository.files[name])
            hub.corrupt(file)
            let error = await hubError {
                _ = try await hub.serve { endpoint in
                    try await HubClient(configuration: configuration(endpoint: endpoint, cache: cache)).snapshot(ModelReference(parsing: repositoryID))
                }
            }
            guard case .integrityCheckFailed(let failed, let algorithm, let expected, _)? = error else {
                Issue.record("expected an integrity error for \(name), got \(String(describing: error))")
                continue
            }
            #expect(failed == "Org/Tiny/\(name)")
            #expect(algorithm == (file.isLFS ? "sha256" : "git blob sha1"))
            #expect(expected == file.etag)
            let blobs = "\(cache)/models--Org--Tiny/blobs"
            #expect(!FileManager.default.fileExists(atPath: "\(blobs)/\(file.etag)"))
            #expect(!FileManager.default.fileExists(atPath: "\(blobs)/\(file.etag).incomplete"))
            #expect(!FileManager.default.fileExists(atPath: "\(cache)/models--Org--Tiny/snapshots/\(repository.commit)/\(name)"))
            #expect(!FileManager.default.fileExists(atPath: "\(cache)/models--Org--Tiny/refs/main"))
        }
    }

    @Test func hubErrorsAreReportedClearly() async throws {
        let cache = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let hub = MockHub()
        var privateRepository = try tinyRepository()
        privateRepository.requiredToken = "hf_right"
        hub.add("Org/Private", privateRepository)
        var gated = try tinyRepository()
        gated.isGated = true
        hub.add("Org/Gated", gated)
        var ghost = try tinyRepository()
        ghost.ghostFiles = ["model-00003-of-00002.safetensors"]
        hub.add("Org/Ghost", ghost)
        let ghostCommit = ghost.commit
        hub.add(repositoryID, try tinyRepository())

        try await hub.serve { endpoint in
            func attempt(_ reference: String, token: String? = nil) async -> HubError? {
                await hubError {
                    _ = try await HubClient(configuration: configuration(endpoint: endpoint, cache: cache, token: token))
                        .snapshot(ModelReference(parsing: reference))
                }
            }
            #expect(await attempt("Org/Missing") == .repositoryNotFound(
                repository: "Org/Missing", url: "\(endpoint)/api/models/Org/Missing/revision/main", status: 401, authenticated: false))
            let unauthorised = await attempt("Org/Private")
            #expect(unauthorised == .repositoryNotFound(
                repository: "Org/Private", url: "\(endpoint)/api/models/Org/Private/revision/main", status: 401, authenticated: false))
            #expect(unauthorised?.errorDescription?.contains("HF_TOKEN") == true)
            if case .repositoryNotFound(_, _, 401, true)? = await attempt("Org/Private", token: "hf_wrong") {} else {
                Issue.record("a wrong token should be reported as such")
            }
            #expect(await attempt("Org/Private", token: "hf_right") == nil)
            if case .accessDenied(_, _, 403, let reason)? = await attempt("Org/Gated") {
                #expect(reason.contains("gated"))
            } else {
                Issue.record("gated repositories should be reported as such")
            }
            #expect(await attempt("Org/Tiny@v9") == .revisionNotFound(
                repository: "Org/Tiny", revision: "v9", url: "\(endpoint)/api/models/Org/Tiny/revision/v9"))
            let commit = ghostCommit
            #expect(await attempt("Org/Ghost") == .entryNotFound(
                repository: "Org/Ghost", revision: commit, file: "model-00003-of-00002.safetensors",
                url: "\(endpoint)/Org/Ghost/resolve/\(commit)/model-00003-of-00002.safetensors"))
        }
        // No server at all: a network error naming the URL.
        let closed = try await hub.serve { endpoint in endpoint }  // the port is free again once the server stopped
        let error = await hubError {
            _ = try await HubClient(configuration: configuration(endpoint: closed, cache: cache)).snapshot(ModelReference(parsing: "Org/Nowhere"))
        }
        guard case .network(let url, _)? = error else {
            Issue.record("expected a network error, got \(String(describing: error))")
            return
        }
        #expect(url == "\(closed)/api/models/Org/Nowhere/revision/main")
    }

    @Test func offlineModeUsesOnlyTheCache() async throws {
        let cache = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let hub = MockHub()
        hub.add(repositoryID, try tinyRepository())
        let unreachable = "http://127.0.0.1:9"  // discard port: any request would fail

        let missing = await hubError {
            _ = try await HubClient(configuration: configuration(endpoint: unreachable, cache: cache, offline: true))
                .snapshot(ModelReference(parsing: repositoryID))
        }
        guard case .notInCache(_, _, _, let what)? = missing else {
            Issue.record("expected notInCache, got \(String(describing: missing))")
            return
        }
        #expect(what.contains("models--Org--Tiny"))
        #expect(missing?.errorDescription?.contains("HF_HUB_OFFLINE") == true)

        let online = try await hub.serve { endpoint in
            try await HubClient(configuration: configuration(endpoint: endpoint, cache: cache)).snapshot(ModelReference(parsing: repositoryID))
        }
        let offline = try await HubClient(configuration: configuration(endpoint: unreachable, cache: cache, offline: true))
            .snapshot(ModelReference(parsing: repositoryID))
        #expect(offline.directory == online.directory)
        #expect(offline.commit == online.commit)
        // By commit hash too, and through resolveModel.
        let pinned = try await resolveModel("\(repositoryID)@\(online.commit)", configuration: configuration(endpoint: unreachable, cache: cache, offline: true))
        #expect(pinned == online.directory)
        // Offline without the Hub reachable is the same for a dropped connection when the cache is complete.
        let fallback = try await HubClient(configuration: configuration(endpoint: unreachable, cache: cache))
            .snapshot(ModelReference(parsing: repositoryID))
        #expect(fallback.directory == online.directory)

        // A missing shard is named.
        try FileManager.default.removeItem(atPath: "\(online.directory)/model-00002-of-00002.safetensors")
        let incomplete = await hubError {
            _ = try await HubClient(configuration: configuration(endpoint: unreachable, cache: cache, offline: true))
                .snapshot(ModelReference(parsing: repositoryID))
        }
        guard case .notInCache(_, _, _, let lacking)? = incomplete else {
            Issue.record("expected notInCache, got \(String(describing: incomplete))")
            return
        }
        #expect(lacking.contains("model-00002-of-00002.safetensors"))
        #expect(await hubError {
            _ = try await HubClient(configuration: configuration(endpoint: unreachable, cache: cache, offline: true))
                .snapshot(ModelReference(parsing: "\(repositoryID)@v2"))
        } != nil)
    }

    @Test func resolveModelKeepsLocalPathsUntouched() async throws {
        let cache = try temporaryDirectory()
        try FileManager.default.removeItem(atPath: cache)
        // A local path comes back as is, without reading the environment or creating the cache.
        let local = try await resolveModel(fixtureDirectory, configuration: configuration(endpoint: "http://127.0.0.1:9", cache: cache))
        #expect(local == fixtureDirectory)
        #expect(!FileManager.default.fileExists(atPath: cache))
        for reference in ["./no-such-model", "/no/such/model", "not/a/hub/id", "justaname"] {
            let error = await hubError { _ = try await resolveModel(reference, configuration: configuration(endpoint: "http://127.0.0.1:9", cache: cache)) }
            guard case .invalidReference(let named, _)? = error else {
                Issue.record("\(reference): expected invalidReference, got \(String(describing: error))")
                continue
            }
            #expect(named == reference)
        }
        #expect(!FileManager.default.fileExists(atPath: cache))
    }

    @Test func resolveModelDownloadsHubIDs() async throws {
        let cache = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let hub = MockHub()
        var repository = try tinyRepository()
        repository.branches = ["main", "v1.0"]
        hub.add(repositoryID, repository)
        let directory = try await hub.serve { endpoint in
            try await resolveModel("\(repositoryID)@v1.0", configuration: configuration(endpoint: endpoint, cache: cache))
        }
        #expect(directory == "\(cache)/models--Org--Tiny/snapshots/\(repository.commit)")
        #expect(try String(contentsOfFile: "\(cache)/models--Org--Tiny/refs/v1.0", encoding: .utf8) == repository.commit)
        #expect(!FileManager.default.fileExists(atPath: "\(cache)/models--Org--Tiny/refs/main"))
    }
}

/// Collects progress reports from the downloading task.
final class ProgressLog: Sendable {
    private let storage = Mutex<[DownloadProgress]>([])
    func append(_ report: DownloadProgress) { storage.withLock { $0.append(report) } }
    var values: [DownloadProgress] { storage.withLock { $0 } }
    var last: DownloadProgress? { values.last }
}
