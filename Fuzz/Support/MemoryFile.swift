// Shared by the fuzz targets whose code under test reads a path (MappedFile, readJSONLines): the input
// is written to an unlinked file in /dev/shm (memory-backed) and handed over as /proc/self/fd/N, so
// each run costs a few system calls, never touches the disk and leaves nothing behind. (memfd_create
// would do the same but is not visible through Swift's Glibc module.)
#if canImport(Glibc)
import Glibc
#endif

/// One anonymous in-memory file, reused for every input of the process.
enum MemoryFile {
    /// The descriptor, created on first use; `fatalError` here is a harness failure, not a finding.
    static let descriptor: Int32 = {
        let name = "/dev/shm/fuzz-input-\(getpid())"
        let descriptor = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor < 0 { fatalError("cannot create \(name): errno \(errno)") }
        unlink(name)  // the descriptor keeps the file alive; /proc/self/fd/N still opens it
        return descriptor
    }()

    /// The path under which the current contents can be opened.
    static var path: String { "/proc/self/fd/\(descriptor)" }

    /// Replaces the file's contents with `bytes`.
    static func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard ftruncate(descriptor, 0) == 0 else { fatalError("ftruncate failed: errno \(errno)") }
        var offset = 0
        while offset < bytes.count {
            let written = pwrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset, off_t(offset))
            if written < 0 {
                if errno == EINTR { continue }
                fatalError("pwrite failed: errno \(errno)")
            }
            offset += written
        }
    }
}
