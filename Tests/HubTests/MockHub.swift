import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization
@testable import Hub

/// A local stand-in for huggingface.co with the behaviour `huggingface_hub` relies on:
///
/// - `GET /api/models/<org>/<name>/revision/<rev>` → `{"sha", "siblings": [{"rfilename"}]}`;
/// - `HEAD|GET /<org>/<name>/resolve/<rev>/<file>`: small files answered directly with `ETag` = git blob
///   sha1; LFS files answered with a 302 to `/cdn/<sha256>` plus `X-Linked-Etag`, `X-Linked-Size`; every
///   answer carries `X-Repo-Commit`; errors carry `X-Error-Code` as the Hub sets it (401 RepoNotFound for
///   unknown or private repositories, 403 GatedRepo, 404 RevisionNotFound / EntryNotFound);
/// - `GET /cdn/<sha256>` honouring `Range: bytes=<n>-` with 206 and `Content-Range`;
///
/// plus fault injection: cut a CDN transfer after some bytes, or serve corrupted bytes.
final class MockHub: Sendable {
    struct File: Sendable {
        let content: [UInt8]
        let isLFS: Bool
        let sha256: String
        let gitSHA1: String
        var etag: String { isLFS ? sha256 : gitSHA1 }

        init(_ content: [UInt8], isLFS: Bool) {
            self.content = content
            self.isLFS = isLFS
            sha256 = ContentDigest.sha256(content)
            gitSHA1 = ContentDigest.gitBlobSHA1(content)
        }
    }

    struct Repository: Sendable {
        var commit: String
        var files: [String: File]
        /// Files listed by the API but absent from storage (the resolve endpoint answers 404).
        var ghostFiles: [String] = []
        var branches: [String] = ["main"]
        /// Token required to see the repository (a private repository), if any.
        var requiredToken: String?
        var isGated = false
    }

    /// One request as received.
    struct LoggedRequest: Sendable {
        let method: String
        let path: String
        let range: String?
        let authorization: String?
        let status: Int
    }

    private struct State {
        var repositories: [String: Repository] = [:]
        var log: [LoggedRequest] = []
        /// sha256 → bytes to send before cutting the next transfer of that blob.
        var interruptions: [String: Int] = [:]
        /// sha256 of blobs served with one byte flipped.
        var corrupted: Set<String> = []
        /// git sha1 of small files served with one byte flipped.
        var corruptedSmall: Set<String> = []
    }

    private let state = Mutex(State())

    /// Adds or replaces a repository.
    func add(_ id: String, _ repository: Repository) {
        state.withLock { $0.repositories[id] = repository }
    }

    /// Cuts the next CDN transfer of `file` after `bytes` bytes.
    func interruptNextTransfer(of file: File, after bytes: Int) {
        state.withLock { $0.interruptions[file.sha256] = bytes }
    }

    /// Serves `file` with one byte changed from now on.
    func corrupt(_ file: File) {
        state.withLock {
            if file.isLFS { _ = $0.corrupted.insert(file.sha256) } else { _ = $0.corruptedSmall.insert(file.gitSHA1) }
        }
    }

    /// Every request so far.
    var log: [LoggedRequest] { state.withLock { $0.log } }

    /// Runs `body` with the Hub listening on 127.0.0.1 at an ephemeral port and its "CDN" on another
    /// (another origin, as on huggingface.co); `body` gets the Hub's base URL.
    func serve<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let hubPort = PortBox()
        let cdnPort = PortBox()
        func makeApplication(_ port: PortBox) -> some ApplicationProtocol {
            var logger = Logger(label: "mock-hub")
            logger.logLevel = .critical
            return Application(
                responder: CallbackResponder<BasicRequestContext> { request, _ in
                    self.respond(to: request, cdnPort: cdnPort.value ?? 0)
                },
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in port.value = channel.localAddress?.port },
                logger: logger
            )
        }
        let hub = makeApplication(hubPort)
        let cdn = makeApplication(cdnPort)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await hub.run(); return nil }
            group.addTask { try await cdn.run(); return nil }
            var bound: Int?
            for _ in 0..<500 {
                bound = hubPort.value
                if bound != nil, cdnPort.value != nil { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            guard let bound else { throw MockHubError.didNotStart }
            let result = try await body("http://127.0.0.1:\(bound)")
            group.cancelAll()
            return result
        }
    }

    enum MockHubError: Error { case didNotStart }

    /// The port a server bound, once known.
    final class PortBox: Sendable {
        private let storage = Mutex<Int?>(nil)
        var value: Int? {
            get { storage.withLock { $0 } }
            set { storage.withLock { $0 = newValue } }
        }
    }

    // MARK: Routing

    private func respond(to request: Request, cdnPort port: Int) -> Response {
        let path = request.uri.path
        let authorization = request.headers[.authorization]
        let range = request.headers[.range]
        let response = route(method: request.method, path: path, authorization: authorization, range: range, port: port)
        state.withLock {
            $0.log.append(LoggedRequest(method: request.method.rawValue, path: path, range: range,
                                        authorization: authorization, status: Int(response.status.code)))
        }
        return response
    }

    private func route(method: HTTPRequest.Method, path: String, authorization: String?, range: String?, port: Int) -> Response {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if parts.count == 6, parts[0] == "api", parts[1] == "models", parts[4] == "revision", method == .get {
            return apiInfo(repository: "\(parts[2])/\(parts[3])", revision: parts[5].removingPercentEncoding ?? parts[5], authorization: authorization)
        }
        if parts.count >= 5, parts[2] == "resolve", method == .get || method == .head {
            let file = parts[4...].joined(separator: "/").removingPercentEncoding ?? ""
            return resolve(repository: "\(parts[0])/\(parts[1])", revision: parts[3].removingPercentEncoding ?? parts[3], file: file,
                           isHead: method == .head, authorization: authorization, port: port)
        }
        if parts.count == 2, parts[0] == "cdn", method == .get {
            return cdn(sha256: parts[1], range: range)
        }
        return error(404, code: nil)
    }

    private enum Lookup {
        case found(Repository, String)
        case refused(Response)
    }

    /// Checks access as the Hub does and returns the repository and the commit of `revision`.
    private func lookUp(_ id: String, revision: String, authorization: String?) -> Lookup {
        guard let repository = state.withLock({ $0.repositories[id] }) else { return .refused(error(401, code: "RepoNotFound")) }
        if let token = repository.requiredToken, authorization != "Bearer \(token)" { return .refused(error(401, code: "RepoNotFound")) }
        if repository.isGated, authorization == nil { return .refused(error(403, code: "GatedRepo")) }
        guard revision == repository.commit || repository.branches.contains(revision) else {
            return .refused(error(404, code: "RevisionNotFound"))
        }
        return .found(repository, repository.commit)
    }

    private func apiInfo(repository id: String, revision: String, authorization: String?) -> Response {
        switch lookUp(id, revision: revision, authorization: authorization) {
        case .refused(let response):
            return response
        case .found(let repository, let commit):
            let names = (Array(repository.files.keys) + repository.ghostFiles).sorted()
            let object: [String: Any] = ["id": id, "sha": commit, "siblings": names.map { ["rfilename": $0] }]
            let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    private func resolve(repository id: String, revision: String, file name: String, isHead: Bool, authorization: String?, port: Int) -> Response {
        switch lookUp(id, revision: revision, authorization: authorization) {
        case .refused(let response):
            return response
        case .found(let repository, let commit):
            guard let file = repository.files[name] else { return error(404, code: "EntryNotFound", commit: commit) }
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Repo-Commit")!] = commit
            if file.isLFS {
                // As the Hub: the ETag is the pointer file's, the linked headers describe the real content.
                headers[.eTag] = "\"\(ContentDigest.gitBlobSHA1(Array("version https://git-lfs.github.com/spec/v1\noid sha256:\(file.sha256)\n".utf8)))\""
                headers[HTTPField.Name("X-Linked-Etag")!] = "\"\(file.sha256)\""
                headers[HTTPField.Name("X-Linked-Size")!] = String(file.content.count)
                headers[.location] = "http://127.0.0.1:\(port)/cdn/\(file.sha256)"
                headers[.contentLength] = "0"
                return Response(status: .found, headers: headers, body: .init())
            }
            headers[.eTag] = "\"\(file.gitSHA1)\""
            headers[.contentLength] = String(file.content.count)
            if isHead { return Response(status: .ok, headers: headers, body: .init()) }
            var content = file.content
            if state.withLock({ $0.corruptedSmall.contains(file.gitSHA1) }), !content.isEmpty { content[content.count / 2] ^= 0x5A }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: content)))
        }
    }

    private func cdn(sha256: String, range: String?) -> Response {
        let found = state.withLock { state in
            state.repositories.values.lazy.flatMap(\.files.values).first { $0.isLFS && $0.sha256 == sha256 }
        }
        guard let file = found else { return error(404, code: nil) }
        var content = file.content
        if state.withLock({ $0.corrupted.contains(sha256) }) { content[content.count / 2] ^= 0x5A }
        var start = 0
        var status = HTTPResponse.Status.ok
        var headers = HTTPFields()
        if let range, range.hasPrefix("bytes="), range.hasSuffix("-"), let first = Int(range.dropFirst(6).dropLast()) {
            guard first < content.count else {
                headers[.contentRange] = "bytes */\(content.count)"
                return Response(status: .rangeNotSatisfiable, headers: headers, body: .init())
            }
            start = first
            status = .partialContent
            headers[.contentRange] = "bytes \(first)-\(content.count - 1)/\(content.count)"
        }
        let slice = Array(content[start...])
        headers[.contentLength] = String(slice.count)
        headers[.eTag] = "\"\(sha256)\""
        let cut = state.withLock { $0.interruptions.removeValue(forKey: sha256) }
        if let cut {
            // Announce the whole body, send part of it, then fail: the connection drops mid-transfer.
            let sent = Array(slice.prefix(cut))
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: slice.count) { writer in
                try await writer.write(ByteBuffer(bytes: sent))
                throw MockHubError.didNotStart
            })
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: slice)))
    }

    private func error(_ status: Int, code: String?, commit: String? = nil) -> Response {
        var headers = HTTPFields()
        if let code { headers[HTTPField.Name("X-Error-Code")!] = code }
        if let commit { headers[HTTPField.Name("X-Repo-Commit")!] = commit }
        headers[HTTPField.Name("X-Error-Message")!] = code ?? "Not found"
        return Response(status: .init(code: status), headers: headers, body: .init())
    }
}
