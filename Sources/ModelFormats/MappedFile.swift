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
    ///
    /// - Throws: `ModelFormatError.unreadableFile` for a missing or unreadable path and for anything but
    ///   a regular file (a FIFO, socket, device or directory), which is refused without blocking.
    public init(path: String) throws {
        self.path = path
        let descriptor = try RegularFile.openForReading(path)
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ModelFormatError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
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

/// Opening model files only when they are regular files.
///
/// Opening a FIFO for reading blocks until a writer appears (forever, for a model path given by
/// mistake), and a device or socket is never a model. So a path is checked with stat(2) before it is
/// opened, opened with `O_NONBLOCK` (which makes even a FIFO swapped in after the check open at once),
/// and checked again with fstat(2) on the open descriptor, which is what is actually read.
public enum RegularFile {
    /// Throws unless `path`, following symbolic links (the Hugging Face cache links snapshots to blobs),
    /// is an existing regular file.
    public static func require(_ path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ModelFormatError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        if let problem = problem(mode: status.st_mode) {
            throw ModelFormatError.unreadableFile(path: path, reason: problem)
        }
    }

    /// Opens the regular file at `path` read-only (blocking reads, close-on-exec) and returns its
    /// descriptor, which the caller closes.
    public static func openForReading(_ path: String) throws -> Int32 {
        try require(path)
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ModelFormatError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw ModelFormatError.unreadableFile(path: path, reason: reason)
        }
        if let problem = problem(mode: status.st_mode) {
            close(descriptor)
            throw ModelFormatError.unreadableFile(path: path, reason: problem)
        }
        // Regular files never block; clearing the flag keeps read(2)'s ordinary semantics.
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return descriptor
    }

    /// The whole contents of the regular file at `path` (config.json, tokenizer files, indexes).
    public static func contents(atPath path: String) throws -> Data {
        let descriptor = try openForReading(path)
        defer { close(descriptor) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ModelFormatError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
        }
    }

    /// Why a file of this mode cannot be a model file, or nil for a regular file.
    static func problem(mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFIFO: return "not a regular file (a FIFO); model files must be regular files"
        case S_IFSOCK: return "not a regular file (a socket); model files must be regular files"
        case S_IFCHR: return "not a regular file (a character device); model files must be regular files"
        case S_IFBLK: return "not a regular file (a block device); model files must be regular files"
        case S_IFDIR: return "is a directory, not a file"
        default: return "not a regular file; model files must be regular files"
        }
    }
}
