import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The two ways a model is stored on disk.
public enum ModelLocation: Sendable, Equatable {
    /// A Hugging Face directory: config.json, safetensors, tokenizer files.
    case directory(String)
    /// A single GGUF file (weights, hyper-parameters and tokenizer together).
    case gguf(String)

    /// Classifies `path`: a directory, or a regular file that starts with the GGUF magic. A directory
    /// without `config.json` that holds exactly one `.gguf` file (a Hub GGUF repository downloaded
    /// with `--include "*Q8_0.gguf"`) is that file. Anything else (missing path, another file type,
    /// several GGUF files and no config) is an error that says what was expected.
    ///
    /// Nothing that is not a regular file is ever opened: `path` itself, and in a directory every
    /// file a loader may read (`*.json`, `*.txt`, `*.safetensors`, `*.gguf`), must be a regular file
    /// (through symbolic links), else this throws naming it. Opening a FIFO for reading would block
    /// forever, and a device or socket is never a model file.
    public init(path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            let reason = errno == ENOENT ? "no such file or directory" : String(cString: strerror(errno))
            throw ModelFormatError.unreadableFile(path: path, reason: reason)
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            try Self.requireRegularModelFiles(in: path)
            self = try Self.classify(directory: path)
            return
        }
        let descriptor = try RegularFile.openForReading(path)
        defer { close(descriptor) }
        var magic = [UInt8](repeating: 0, count: 4)
        let count = magic.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 4) }
        guard count == 4, magic == Array("GGUF".utf8) else {
            throw ModelFormatError.unreadableFile(
                path: path, reason: "not a model: expected a Hugging Face model directory or a .gguf file")
        }
        self = .gguf(path)
    }

    /// Throws for the first file in `directory` that a loader would read and that is not a regular
    /// file (a FIFO named `config.json`, a socket named `model.safetensors`, …). Dangling links are left
    /// to the loaders, which report a missing file by its role.
    private static func requireRegularModelFiles(in directory: String) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let suffixes = [".json", ".txt", ".safetensors", ".gguf"]
        for name in names.sorted() where suffixes.contains(where: { name.lowercased().hasSuffix($0) }) {
            let path = (directory as NSString).appendingPathComponent(name)
            var status = stat()
            guard stat(path, &status) == 0 else { continue }
            if let problem = RegularFile.problem(mode: status.st_mode) {
                throw ModelFormatError.unreadableFile(path: path, reason: problem)
            }
        }
    }

    private static func classify(directory: String) throws -> ModelLocation {
        let fileManager = FileManager.default
        let url = URL(fileURLWithPath: directory)
        if fileManager.fileExists(atPath: url.appendingPathComponent("config.json").path) {
            return .directory(directory)
        }
        let ggufFiles = ((try? fileManager.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.lowercased().hasSuffix(".gguf") }
            .sorted()
        switch ggufFiles.count {
        case 0:
            return .directory(directory)
        case 1:
            return try ModelLocation(path: url.appendingPathComponent(ggufFiles[0]).path)
        default:
            throw ModelFormatError.unreadableFile(
                path: directory,
                reason: "holds \(ggufFiles.count) GGUF files (\(ggufFiles.joined(separator: ", "))) and no config.json; pass one of them")
        }
    }
}
