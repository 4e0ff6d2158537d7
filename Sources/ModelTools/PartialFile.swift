import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written as `<path>.partial` and renamed into place by `commit()` only when complete, so an
/// interrupted write never leaves a file a loader would accept. An instance dropped before `commit()`
/// removes its partial file. The safetensors and GGUF writers stream through it.
///
/// Only regular files are ever written: a destination that exists and is not a regular file (a device
/// such as `/dev/full`, a FIFO, a directory) is refused before anything is created, because the final
/// rename would otherwise replace the device node with a regular file. The partial file is created
/// exclusively (never through a link someone left under that name).
final class PartialFile {
    /// The final path.
    let path: String
    /// Where the bytes go until `commit()`.
    let partialPath: String
    private var descriptor: Int32

    /// Creates `<path>.partial` (replacing a regular file or link left there by an interrupted run).
    ///
    /// - Parameter inputs: files the output is computed from; writing over any of them (the same file
    ///   through another name, a symbolic or a hard link) is refused.
    init(path: String, inputs: [String] = []) throws {
        self.path = path
        partialPath = path + ".partial"
        try OutputPath.requireWritable(path, inputs: inputs)
        var status = stat()
        if lstat(partialPath, &status) == 0 {
            let type = status.st_mode & S_IFMT
            guard type == S_IFREG || type == S_IFLNK else {
                throw ModelToolsError.writeFailed(path: partialPath, reason: "exists and is not a regular file")
            }
            unlink(partialPath)
        }
        descriptor = open(partialPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
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
        do {
            // Checked again: the destination may have changed while the file was being written.
            try OutputPath.requireWritable(path)
        } catch {
            unlink(partialPath)
            throw error
        }
        guard rename(partialPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(partialPath)
            throw ModelToolsError.writeFailed(path: path, reason: reason)
        }
    }
}

/// Checks on where a model tool may write.
public enum OutputPath {
    /// Throws unless `output` is absent or a regular file (possibly through a symbolic link) that is
    /// none of `inputs`.
    ///
    /// Files are compared by device and inode, so the same file reached through another path, a
    /// symbolic link or a hard link counts as the same. A directory in `inputs` stands for every file
    /// in it (one level, following links: the layout of a model directory or Hugging Face snapshot).
    public static func requireWritable(_ output: String, inputs: [String] = []) throws {
        var status = stat()
        guard lstat(output, &status) == 0 else { return }  // absent (or unreachable: open reports that)
        if (status.st_mode & S_IFMT) == S_IFLNK, stat(output, &status) != 0 {
            return  // a dangling link: the rename replaces the link itself
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ModelToolsError.invalidArgument("the output \(output) is a directory; give a file name")
        default:
            throw ModelToolsError.invalidArgument(
                "the output \(output) exists and is not a regular file (\(describe(mode: status.st_mode))); it is left alone")
        }
        let target = FileIdentity(status)
        for input in inputs {
            for file in filesStandingFor(input) where FileIdentity(path: file) == target {
                throw ModelToolsError.invalidArgument(
                    "the output \(output) is the input file \(file); writing it would destroy the model being read")
            }
        }
    }

    /// `path` itself, or for a directory the entries in it.
    private static func filesStandingFor(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { (path as NSString).appendingPathComponent($0) }
    }

    /// Words for a file type, for messages.
    static func describe(mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a directory"
        default: return "not a regular file"
        }
    }
}

/// A file's identity: its device and inode, shared by every path (and link) that reaches it.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }

    /// The identity of what `path` reaches (following links), nil when it cannot be reached.
    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        self.init(status)
    }
}
