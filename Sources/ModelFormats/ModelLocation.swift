import Foundation

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
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFormatError.unreadableFile(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            self = try Self.classify(directory: path)
            return
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelFormatError.unreadableFile(path: path, reason: "permission denied")
        }
        defer { try? handle.close() }
        let magic = (try? handle.read(upToCount: 4)) ?? Data()
        guard magic == Data("GGUF".utf8) else {
            throw ModelFormatError.unreadableFile(
                path: path, reason: "not a model: expected a Hugging Face model directory or a .gguf file")
        }
        self = .gguf(path)
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
