import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written as `<path>.partial` and renamed into place by `commit()` only when complete, so an
/// interrupted write never leaves a file a loader would accept. An instance dropped before `commit()`
/// removes its partial file. The safetensors and GGUF writers stream through it.
final class PartialFile {
    /// The final path.
    let path: String
    /// Where the bytes go until `commit()`.
    let partialPath: String
    private var descriptor: Int32

    /// Creates (or truncates) `<path>.partial`.
    init(path: String) throws {
        self.path = path
        partialPath = path + ".partial"
        descriptor = open(partialPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw ModelToolsError.writeFailed(path: partialPath, reason: String(cString: strerror(errno))) }
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(partialPath)  // abandoned: never leave a half-written file behind
        }
    }

    /// Writes all of `bytes`, retrying short and interrupted writes.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let count = write(descriptor, base, remaining)
            if count < 0 {
                if errno == EINTR { continue }
                throw ModelToolsError.writeFailed(path: partialPath, reason: String(cString: strerror(errno)))
            }
            base += count
            remaining -= count
        }
    }

    /// Syncs the data to disk and renames the file into place (removing it if the rename fails).
    func commit() throws {
        guard fsync(descriptor) == 0 else { throw ModelToolsError.writeFailed(path: partialPath, reason: String(cString: strerror(errno))) }
        close(descriptor)
        descriptor = -1
        guard rename(partialPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(partialPath)
            throw ModelToolsError.writeFailed(path: path, reason: reason)
        }
    }
}
