import Foundation

/// The two ways a model is stored on disk.
public enum ModelLocation: Sendable, Equatable {
    /// A Hugging Face directory: config.json, safetensors, tokenizer files.
    case directory(String)
    /// A single GGUF file (weights, hyper-parameters and tokenizer together).
    case gguf(String)

    /// Classifies `path`: a directory, or a regular file that starts with the GGUF magic. Anything
    /// else (missing path, another file type) is an error that says what was expected.
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFormatError.unreadableFile(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            self = .directory(path)
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
}
