import Crypto
import Foundation

/// Checks a downloaded file against its ETag. The Hub's ETag is the sha256 of the content for LFS files
/// (64 hex digits) and the git blob id — sha1 of `"blob <size>\0" + content` — for files kept in git
/// (40 hex digits). Other ETag forms (a mirror's own) cannot be checked and are accepted.
enum ContentDigest {
    /// Throws `integrityCheckFailed` when the file at `path` does not match `etag`.
    static func verify(path: String, etag: String, displayName: String) throws(HubError) {
        let isHex = etag.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
        guard isHex else { return }
        switch etag.utf8.count {
        case 64:
            var hasher = SHA256()
            try stream(path) { hasher.update(bufferPointer: $0) }
            let actual = hex(hasher.finalize())
            if actual != etag { throw .integrityCheckFailed(file: displayName, algorithm: "sha256", expected: etag, actual: actual) }
        case 40:
            let size: Int64
            do {
                size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            } catch {
                throw .fileSystem(path: path, reason: error.localizedDescription)
            }
            var hasher = Insecure.SHA1()
            hasher.update(data: Data("blob \(size)\0".utf8))
            try stream(path) { hasher.update(bufferPointer: $0) }
            let actual = hex(hasher.finalize())
            if actual != etag { throw .integrityCheckFailed(file: displayName, algorithm: "git blob sha1", expected: etag, actual: actual) }
        default:
            return
        }
    }

    /// Feeds the file to `consume` in 4 MiB pieces.
    private static func stream(_ path: String, _ consume: (UnsafeRawBufferPointer) -> Void) throws(HubError) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .fileSystem(path: path, reason: "cannot open for reading") }
        defer { try? handle.close() }
        while true {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: 4 << 20)
            } catch {
                throw .fileSystem(path: path, reason: error.localizedDescription)
            }
            guard let chunk, !chunk.isEmpty else { return }
            chunk.withUnsafeBytes { consume($0) }
        }
    }

    /// The sha256 of `bytes` in lowercase hex (the ETag of an LFS file).
    static func sha256(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// The git blob id of `bytes` in lowercase hex (the ETag of a file kept in git).
    static func gitBlobSHA1(_ bytes: [UInt8]) -> String {
        var hasher = Insecure.SHA1()
        hasher.update(data: Data("blob \(bytes.count)\0".utf8))
        hasher.update(data: bytes)
        return hex(hasher.finalize())
    }

    private static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
