import Crypto
import Foundation

/// Embeddings on disk, keyed by model and text, so an interrupted or repeated evaluation only embeds
/// what it has not embedded before.
///
/// One append-only file per model identifier holds records `[32-byte SHA-256 key][UInt32 count]
/// [count × Float32]` (little-endian). Records are appended after every chunk, so a run that is
/// killed resumes from its last chunk; a torn final record is cut off when the file is next opened.
public actor EmbeddingCache {
    /// The cache file.
    public let file: URL
    private var vectors: [Data: [Float]] = [:]
    private var handle: FileHandle?

    /// Opens (or creates) the cache of `modelIdentifier` in `directory`.
    public init(directory: URL, modelIdentifier: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let safeName = modelIdentifier.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
        file = directory.appendingPathComponent(String(safeName) + ".embeddings")
        if !FileManager.default.fileExists(atPath: file.path) {
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else { throw EvaluationError.unreadableFile(path: file.path) }
        }
        guard let data = FileManager.default.contents(atPath: file.path) else { throw EvaluationError.unreadableFile(path: file.path) }
        let (loaded, validLength) = Self.parse(data)
        vectors = loaded
        guard let handle = FileHandle(forUpdatingAtPath: file.path) else { throw EvaluationError.unreadableFile(path: file.path) }
        if validLength < data.count { try handle.truncate(atOffset: UInt64(validLength)) }
        try handle.seekToEnd()
        self.handle = handle
    }

    /// Number of cached vectors.
    public var count: Int { vectors.count }

    /// The key of one text as the model sees it (instruction and text, separated so they cannot collide).
    public static func key(text: String, instruction: String?) -> Data {
        var hasher = SHA256()
        hasher.update(data: Data((instruction.map { "I\($0)" } ?? "D").utf8))
        hasher.update(data: Data([0]))
        hasher.update(data: Data(text.utf8))
        return Data(hasher.finalize())
    }

    /// The cached vector of `key`, if any.
    public func vector(for key: Data) -> [Float]? { vectors[key] }

    /// Stores vectors and appends them to the file.
    public func store(_ entries: [(key: Data, vector: [Float])]) throws {
        var record = Data()
        for (key, vector) in entries where vectors[key] == nil {
            vectors[key] = vector
            record.append(key)
            withUnsafeBytes(of: UInt32(vector.count).littleEndian) { record.append(contentsOf: $0) }
            for value in vector { withUnsafeBytes(of: value.bitPattern.littleEndian) { record.append(contentsOf: $0) } }
        }
        if !record.isEmpty { try handle?.write(contentsOf: record) }
    }

    /// Complete records of `data` and the length they span.
    static func parse(_ data: Data) -> ([Data: [Float]], Int) {
        var result: [Data: [Float]] = [:]
        var offset = 0
        let bytes = [UInt8](data)
        while offset + 36 <= bytes.count {
            let key = Data(bytes[offset..<(offset + 32)])
            let count = Int(UInt32(bytes[offset + 32]) | UInt32(bytes[offset + 33]) << 8 | UInt32(bytes[offset + 34]) << 16 | UInt32(bytes[offset + 35]) << 24)
            let end = offset + 36 + count * 4
            guard count > 0, count <= 1 << 16, end <= bytes.count else { break }
            var vector = [Float](repeating: 0, count: count)
            for i in 0..<count {
                let p = offset + 36 + i * 4
                vector[i] = Float(bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
            }
            result[key] = vector
            offset = end
        }
        return (result, offset)
    }
}
