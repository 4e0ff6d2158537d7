import Crypto
import Foundation
import Kernels
import ModelFormats
import Qwen3Embedding

/// Something that turns texts into L2-normalised vectors: the Qwen3 `Embedder`, or a stand-in in tests.
public protocol TextEncoder: Sendable {
    /// Identifies the model and settings, for the embedding cache: equal identifiers must mean equal vectors.
    var identifier: String { get }
    /// Embeds `texts` (as queries with `instruction` when given); returns vectors and the tokens processed.
    func encode(_ texts: [String], instruction: String?) async throws -> (vectors: [[Float]], tokens: Int)
}

/// A Qwen3 embedding model as a `TextEncoder`.
public struct EmbedderEncoder: TextEncoder {
    /// The model the texts are embedded with.
    public let embedder: Embedder
    /// Matryoshka size, or `nil` for the full vector.
    public let dimensions: Int?
    /// The model's fingerprint, precision, length limit and size: the embedding cache's key.
    public let identifier: String

    /// Wraps `embedder`, loaded from `model` (with `adapter`, the LoRA adapter merged into it, if any):
    /// both are fingerprinted for the cache key.
    ///
    /// - Parameters:
    ///   - embedder: the loaded model.
    ///   - model: the directory or `.gguf` file `embedder` was loaded from.
    ///   - dimensions: Matryoshka size, or `nil` for the full vector.
    ///   - precision: the precision `embedder` runs in (bf16 vectors differ from fp32 ones, so it is
    ///     part of the key; `Precision.automatic` is keyed as what it resolved to).
    ///   - adapter: the PEFT adapter directory merged into `embedder`, if any.
    public init(embedder: Embedder, model: URL, dimensions: Int? = nil, precision: Precision = .float32,
                adapter: URL? = nil) throws {
        self.embedder = embedder
        self.dimensions = dimensions
        var fingerprint = try ModelFingerprint.compute(directory: model)
        if let adapter { fingerprint += "-lora" + (try ModelFingerprint.compute(adapterDirectory: adapter)) }
        identifier = "\(fingerprint)-\(precision.rawValue)-len\(embedder.maxLength)-dim\(dimensions ?? embedder.dimensions)"
    }

    public func encode(_ texts: [String], instruction: String?) async throws -> (vectors: [[Float]], tokens: Int) {
        let ids = embedder.tokenize(texts, instruction: instruction)
        let vectors = try await embedder.embed(tokenIDs: ids, dimensions: dimensions)
        return (vectors, ids.reduce(0) { $0 + $1.count })
    }
}

/// A short hash naming a model's weights and configuration.
public enum ModelFingerprint {
    /// SHA-256 over config.json and, per weight file, its name, size and first and last 64 KiB
    /// (headers and data differ between checkpoints; hashing gigabytes would cost minutes). A GGUF
    /// model (a `.gguf` file, or a directory holding just one) is hashed the same way: the file's
    /// name, size, first and last 64 KiB, where its header and metadata begin and its tensors end.
    ///
    /// - Parameter directory: the model directory, the `.gguf` file, or a directory holding just one.
    public static func compute(directory: URL) throws -> String {
        if case .gguf(let file)? = try? ModelLocation(path: directory.pathAsGiven) {
            var hasher = SHA256()
            try hashWeightFile(at: file, into: &hasher)
            return hexPrefix(hasher)
        }
        let folder = directory
        var hasher = SHA256()
        guard let config = FileManager.default.contents(atPath: folder.appendingPathComponent("config.json").path) else {
            throw EvaluationError.unreadableFile(path: folder.appendingPathComponent("config.json").path)
        }
        hasher.update(data: config)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in files.filter({ $0.hasSuffix(".safetensors") }).sorted() {
            try hashWeightFile(at: folder.appendingPathComponent(name).path, into: &hasher)
        }
        return hexPrefix(hasher)
    }

    /// SHA-256 over a PEFT adapter's `adapter_config.json` and the whole of `adapter_model.safetensors`
    /// (adapters are small; every factor value changes the vectors, so all of it is hashed).
    ///
    /// - Parameter directory: the adapter directory.
    public static func compute(adapterDirectory directory: URL) throws -> String {
        var hasher = SHA256()
        for name in ["adapter_config.json", "adapter_model.safetensors"] {
            let path = directory.appendingPathComponent(name).pathAsGiven
            guard let handle = FileHandle(forReadingAtPath: path) else { throw EvaluationError.unreadableFile(path: path) }
            defer { try? handle.close() }
            hasher.update(data: Data("\(name)\0".utf8))
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        }
        return hexPrefix(hasher)
    }

    private static func hashWeightFile(at path: String, into hasher: inout SHA256) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw EvaluationError.unreadableFile(path: path) }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        let name = URL(fileURLWithPath: path).lastPathComponent
        hasher.update(data: Data("\(name)\0\(size)\0".utf8))
        try handle.seek(toOffset: 0)
        hasher.update(data: try handle.read(upToCount: 1 << 16) ?? Data())
        try handle.seek(toOffset: size > 1 << 16 ? size - (1 << 16) : 0)
        hasher.update(data: try handle.read(upToCount: 1 << 16) ?? Data())
    }

    private static func hexPrefix(_ hasher: SHA256) -> String {
        hasher.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
