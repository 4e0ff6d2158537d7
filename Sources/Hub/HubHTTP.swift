import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// What a `HEAD …/resolve/<revision>/<file>` tells about a file (`huggingface_hub.HfFileMetadata`).
struct FileMetadata: Sendable {
    /// `X-Repo-Commit`: the commit the revision resolved to.
    var commit: String
    /// `X-Linked-Etag` (LFS files) or `ETag`, without quotes or weak prefix.
    var etag: String
    /// Where to GET the bytes: the CDN URL of a redirect, else the resolve URL.
    var location: String
    /// `X-Linked-Size` or `Content-Length`.
    var size: Int64?
}

/// One repository's listing at a revision (`GET /api/models/<id>/revision/<revision>`).
struct RepositoryInfo: Sendable, Decodable {
    struct Sibling: Sendable, Decodable { var rfilename: String }
    /// The commit hash the revision points to.
    var sha: String
    /// The repository's files.
    var siblings: [Sibling]
}

/// The Hub's HTTP protocol as `huggingface_hub` speaks it: headers, error codes, relative redirects.
struct HubHTTP: Sendable {
    let client: HTTPClient
    let configuration: HubConfiguration

    /// Client settings: redirects are handled by hand (relative ones are followed, CDN ones are recorded),
    /// bodies are not decompressed so that sizes and digests are those of the file.
    static func clientConfiguration(_ configuration: HubConfiguration) -> HTTPClient.Configuration {
        let connect = configuration.connectTimeout.components
        return HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(connect.seconds * 1_000_000_000 + connect.attoseconds / 1_000_000_000), read: .seconds(60)),
            decompression: .disabled
        )
    }

    /// Requests that name a whole snapshot or one file may not take longer than this.
    static let requestDeadline = TimeAmount.seconds(60)

    /// `<endpoint>/<repo>/resolve/<revision>/<file>`, quoted as `hf_hub_url` does.
    func resolveURL(repository: String, revision: String, file: String) -> String {
        "\(configuration.endpoint)/\(repository)/resolve/\(percentEncode(revision, keepingSlashes: false))/\(percentEncode(file, keepingSlashes: true))"
    }

    /// Headers for requests to the Hub: user agent and, for Hub URLs only, the token.
    func headers(for url: String) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "User-Agent", value: "qwen3-embed/1.0; hf_hub/compatible")
        if let token = configuration.token, sameOrigin(url, configuration.endpoint) {
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        return headers
    }

    /// The commit and file list of `repository` at `revision`.
    func repositoryInfo(repository: String, revision: String) async throws(HubError) -> RepositoryInfo {
        let url = "\(configuration.endpoint)/api/models/\(repository)/revision/\(percentEncode(revision, keepingSlashes: false))"
        var request = HTTPClientRequest(url: url)
        request.headers = headers(for: url)
        let response = try await execute(request, url: url)
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw .network(url: url, reason: describe(error))
        }
        try check(response, url: url, repository: repository, revision: revision, file: nil)
        let info: RepositoryInfo
        do {
            info = try JSONDecoder().decode(RepositoryInfo.self, from: Data(body.readableBytesView))
        } catch {
            throw .invalidResponse(url: url, reason: "not a repository description (\(error))")
        }
        guard HubCache.isSafeComponent(info.sha) else { throw .invalidResponse(url: url, reason: "invalid commit hash '\(info.sha)'") }
        return info
    }

    /// `HEAD` on a file's resolve URL, following relative redirects only (a renamed repository) and keeping
    /// the absolute `Location` of a CDN redirect as the download location.
    func metadata(repository: String, revision: String, file: String) async throws(HubError) -> FileMetadata {
        var url = resolveURL(repository: repository, revision: revision, file: file)
        for _ in 0..<10 {
            var request = HTTPClientRequest(url: url)
            request.method = .HEAD
            request.headers = headers(for: url)
            request.headers.add(name: "Accept-Encoding", value: "identity")  // sizes of the file, not of a compressed form
            let response = try await execute(request, url: url)
            let status = Int(response.status.code)
            if (300...399).contains(status), let location = response.headers.first(name: "Location"), location.hasPrefix("/") {
                url = origin(of: url) + location
                continue
            }
            try check(response, url: url, repository: repository, revision: revision, file: file)
            guard let commit = response.headers.first(name: "X-Repo-Commit"), HubCache.isSafeComponent(commit) else {
                throw .invalidResponse(url: url, reason: "no valid X-Repo-Commit header (is HF_ENDPOINT a Hugging Face Hub?)")
            }
            let rawEtag = response.headers.first(name: "X-Linked-Etag") ?? response.headers.first(name: "ETag")
            guard let rawEtag, case let etag = normalizeETag(rawEtag), HubCache.isSafeComponent(etag) else {
                throw .invalidResponse(url: url, reason: "no valid ETag header; the file's version cannot be checked")
            }
            let sizeText = response.headers.first(name: "X-Linked-Size") ?? response.headers.first(name: "Content-Length")
            let location = (300...399).contains(status) ? response.headers.first(name: "Location") ?? url : url
            return FileMetadata(commit: commit, etag: etag, location: location, size: sizeText.flatMap { Int64($0) })
        }
        throw .invalidResponse(url: url, reason: "too many redirects")
    }

    /// Sends a request, turning transport failures into `HubError.network`.
    func execute(_ request: HTTPClientRequest, url: String, deadline: TimeAmount = HubHTTP.requestDeadline) async throws(HubError) -> HTTPClientResponse {
        do {
            return try await client.execute(request, timeout: deadline)
        } catch {
            throw .network(url: url, reason: describe(error))
        }
    }

    /// Maps an unsuccessful response to an error as `huggingface_hub.utils.hf_raise_for_status` does,
    /// using the `X-Error-Code` header the Hub sets.
    func check(_ response: HTTPClientResponse, url: String, repository: String, revision: String, file: String?) throws(HubError) {
        let status = Int(response.status.code)
        guard status >= 400 else { return }
        let code = response.headers.first(name: "X-Error-Code")
        let message = response.headers.first(name: "X-Error-Message") ?? response.status.reasonPhrase
        switch (code, status) {
        case ("GatedRepo", _):
            throw .accessDenied(repository: repository, url: url, status: status,
                                reason: "gated repository: accept its conditions on the Hub, then set HF_TOKEN to a token of that account")
        case ("RepoNotFound", _), (_, 401):
            throw .repositoryNotFound(repository: repository, url: url, status: status, authenticated: configuration.token != nil)
        case ("RevisionNotFound", _):
            throw .revisionNotFound(repository: repository, revision: revision, url: url)
        case ("EntryNotFound", _):
            throw .entryNotFound(repository: repository, revision: revision, file: file ?? "?", url: url)
        case (_, 404) where file == nil:
            throw .repositoryNotFound(repository: repository, url: url, status: status, authenticated: configuration.token != nil)
        case (_, 404):
            throw .entryNotFound(repository: repository, revision: revision, file: file ?? "?", url: url)
        case (_, 403):
            throw .accessDenied(repository: repository, url: url, status: status,
                                reason: "\(message); make sure the token in HF_TOKEN has read access")
        default:
            throw .httpStatus(url: url, status: status, message: message)
        }
    }
}

/// Removes the weak prefix and quotes of an ETag (`W/"abc"` → `abc`), as `_normalize_etag`.
func normalizeETag(_ etag: String) -> String {
    var value = Substring(etag.trimmingCharacters(in: .whitespaces))
    if value.hasPrefix("W/") { value = value.dropFirst(2) }
    return String(value).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
}

/// Python's `urllib.parse.quote`: everything but unreserved characters (and `/` when kept) is escaped.
func percentEncode(_ text: String, keepingSlashes: Bool) -> String {
    var result = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            result.unicodeScalars.append(Unicode.Scalar(byte))
        case UInt8(ascii: "/") where keepingSlashes:
            result.append("/")
        default:
            result += String(format: "%%%02X", byte)
        }
    }
    return result
}

/// `scheme://host[:port]` of a URL.
func origin(of url: String) -> String {
    guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return url }
    return components.port.map { "\(scheme)://\(host):\($0)" } ?? "\(scheme)://\(host)"
}

/// Whether two URLs share scheme, host and port (credentials never go to another host, such as a CDN).
func sameOrigin(_ first: String, _ second: String) -> Bool {
    origin(of: first).lowercased() == origin(of: second).lowercased()
}

/// A short description of a transport error.
func describe(_ error: any Error) -> String {
    if let error = error as? IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
    if let error = error as? HTTPClientError { return "\(error)" }
    return String(describing: error)
}
