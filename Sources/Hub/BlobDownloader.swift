import AsyncHTTPClient
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte counts reported while downloading.
public struct DownloadProgress: Sendable, Equatable {
    /// Bytes present so far across the files being fetched (cached and resumed bytes included).
    public var completedBytes: Int64
    /// Total size of those files, when the Hub announced every size.
    public var totalBytes: Int64?
    /// The file being transferred, if any.
    public var currentFile: String?

    /// Creates a progress report.
    public init(completedBytes: Int64, totalBytes: Int64?, currentFile: String?) {
        self.completedBytes = completedBytes
        self.totalBytes = totalBytes
        self.currentFile = currentFile
    }
}

/// Receives progress reports; called from the downloading task, at most about once per MiB.
public typealias DownloadProgressHandler = @Sendable (DownloadProgress) -> Void

/// Downloads one blob into `blobs/<etag>` as `huggingface_hub` does: into `<etag>.incomplete`, resumed
/// with `Range: bytes=<size>-` after an interruption (including one in an earlier run), checked against
/// the announced size and the ETag digest, then renamed into place. A `flock` on
/// `.locks/…/<etag>.lock` keeps concurrent downloaders (ours or Python's) from writing the same blob.
struct BlobDownloader: Sendable {
    let http: HubHTTP
    /// Attempts after a dropped connection before giving up.
    var maximumRetries = 5
    /// First pause between attempts; doubles each time up to 2 s.
    var retryDelay: Duration = .milliseconds(200)

    /// Fetches `metadata.location` into `blobPath`; `onBytes` receives the file's byte count as it grows.
    func download(_ metadata: FileMetadata, displayName: String, blobPath: String, lockPath: String,
                  onBytes: @Sendable (Int64) -> Void) async throws {
        try createDirectory((lockPath as NSString).deletingLastPathComponent)
        try createDirectory((blobPath as NSString).deletingLastPathComponent)
        let lock = try await FileLock.acquire(lockPath)
        defer { lock.release() }
        if FileManager.default.fileExists(atPath: blobPath) { return }  // finished by another process meanwhile

        let incomplete = blobPath + ".incomplete"
        let descriptor = open(incomplete, O_WRONLY | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw HubError.fileSystem(path: incomplete, reason: lastError()) }
        var closed = false
        defer { if !closed { close(descriptor) } }

        var attempt = 0
        while true {
            var size = Int64(lseek(descriptor, 0, SEEK_END))
            if let expected = metadata.size, size > expected {
                size = try truncate(descriptor, incomplete)  // stale leftovers of another version: start over
            }
            if let expected = metadata.size, size == expected, expected > 0 { break }  // complete but not yet moved
            do {
                try await transfer(metadata, from: size, into: descriptor, path: incomplete, displayName: displayName, onBytes: onBytes)
                break
            } catch let error as HubError {
                guard case .network = error, attempt < maximumRetries else { throw error }
            } catch is CancellationError {
                throw CancellationError()
            }
            attempt += 1
            try await Task.sleep(for: min(retryDelay * (1 << min(attempt - 1, 4)), .seconds(2)))
        }
        let finalSize = Int64(lseek(descriptor, 0, SEEK_END))
        guard fsync(descriptor) == 0 else { throw HubError.fileSystem(path: incomplete, reason: lastError()) }
        close(descriptor)
        closed = true

        if let expected = metadata.size, expected != finalSize {
            unlink(incomplete)
            throw HubError.sizeMismatch(file: displayName, expected: expected, actual: finalSize)
        }
        do {
            try ContentDigest.verify(path: incomplete, etag: metadata.etag, displayName: displayName)
        } catch {
            unlink(incomplete)  // a corrupt prefix would poison every later resume
            throw error
        }
        guard rename(incomplete, blobPath) == 0 else { throw HubError.fileSystem(path: blobPath, reason: lastError()) }
    }

    /// One GET from byte `start`, appending to the file. Network failures surface as `HubError.network`
    /// with the bytes received so far kept for the next attempt.
    private func transfer(_ metadata: FileMetadata, from start: Int64, into descriptor: Int32, path: String,
                          displayName: String, onBytes: @Sendable (Int64) -> Void) async throws {
        let url = metadata.location
        var request = HTTPClientRequest(url: url)
        request.headers = http.headers(for: url)
        if start > 0 { request.headers.add(name: "Range", value: "bytes=\(start)-") }
        // The deadline covers the whole body, so it is generous; stalls are caught by the read timeout.
        let response = try await http.execute(request, url: url, deadline: .hours(24))
        var written = start
        switch response.status.code {
        case 206:
            guard let range = response.headers.first(name: "Content-Range"), contentRangeStart(range) == start else {
                throw HubError.invalidResponse(url: url, reason: "206 response without a Content-Range starting at byte \(start)")
            }
        case 200:
            if start > 0 { written = try truncate(descriptor, path) }  // the server ignored the Range header
        case 416 where start > 0:
            // Nothing past our end: the partial file is either complete or stale; the size check decides.
            _ = try? await response.body.collect(upTo: 1 << 16)
            return
        case let code where code >= 500:
            _ = try? await response.body.collect(upTo: 1 << 16)
            throw HubError.network(url: url, reason: "server error HTTP \(code)")  // transient: retried
        default:
            _ = try? await response.body.collect(upTo: 1 << 16)
            let message = response.headers.first(name: "X-Error-Message") ?? "download of \(displayName) refused"
            throw HubError.httpStatus(url: url, status: Int(response.status.code), message: message)
        }
        onBytes(written)
        var reported = written
        do {
            for try await buffer in response.body {
                try buffer.withUnsafeReadableBytes { bytes throws(HubError) in try writeAll(descriptor, bytes, path: path) }
                written += Int64(buffer.readableBytes)
                if written - reported >= 1 << 20 {
                    onBytes(written)
                    reported = written
                }
            }
        } catch let error as HubError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw HubError.network(url: url, reason: "transfer interrupted after \(written) bytes: \(describe(error))")
        }
        onBytes(written)
    }

    /// Empties the partial file, returning its new size (0).
    private func truncate(_ descriptor: Int32, _ path: String) throws(HubError) -> Int64 {
        guard ftruncate(descriptor, 0) == 0, lseek(descriptor, 0, SEEK_SET) == 0 else { throw .fileSystem(path: path, reason: lastError()) }
        return 0
    }
}

/// The first byte of `bytes <first>-<last>/<total>`.
func contentRangeStart(_ header: String) -> Int64? {
    let parts = header.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bytes", let dash = parts[1].firstIndex(of: "-") else { return nil }
    return Int64(parts[1][..<dash])
}

/// Writes every byte, retrying short writes.
private func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(HubError) {
    guard var base = bytes.baseAddress else { return }
    var remaining = bytes.count
    while remaining > 0 {
        let count = write(descriptor, base, remaining)
        if count < 0 {
            if errno == EINTR { continue }
            throw .fileSystem(path: path, reason: lastError())
        }
        base += count
        remaining -= count
    }
}

/// An exclusive `flock(2)` on a lock file, polled so that waiting never blocks a cooperative thread.
final class FileLock {
    private var descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Waits for the lock on `path`, creating the file if needed.
    static func acquire(_ path: String) async throws -> FileLock {
        let descriptor = open(path, O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw HubError.fileSystem(path: path, reason: lastError()) }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let reason = lastError()
                close(descriptor)
                throw HubError.fileSystem(path: path, reason: reason)
            }
            do {
                try await Task.sleep(for: .milliseconds(100))
            } catch {
                close(descriptor)
                throw error
            }
        }
        return FileLock(descriptor: descriptor)
    }

    /// Releases the lock (once; later calls do nothing).
    func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
