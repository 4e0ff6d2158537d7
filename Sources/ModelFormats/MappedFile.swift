import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file, unmapped when the last reference goes away.
///
/// Model files are mapped rather than read so that multi-gigabyte checkpoints cost no copy and only the
/// pages actually used become resident.
public final class MappedFile: @unchecked Sendable {
    /// The file's path, for error messages.
    public let path: String
    private let base: UnsafeMutableRawPointer?
    private let length: Int

    /// Maps `path` read-only.
    public init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw ModelFormatError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ModelFormatError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw ModelFormatError.unreadableFile(path: path, reason: "not a regular file")
        }
        length = Int(status.st_size)
        if length == 0 {
            base = nil
            return
        }
        let mapping = mmap(nil, length, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let mapping, mapping != MAP_FAILED else {
            throw ModelFormatError.unreadableFile(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = mapping
    }

    deinit {
        if let base { munmap(base, length) }
    }

    /// The whole file (empty for an empty file).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: length)
    }
}
