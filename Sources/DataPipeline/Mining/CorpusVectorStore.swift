import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A corpus's embeddings on disk, one float32 row per document in corpus order, memory-mapped for search.
///
/// Why not `EmbeddingCache`: that cache keeps every vector in a dictionary in memory (4 GB for a million
/// 1024-wide vectors, twice over while the search copies them into one matrix); mining needs bounded
/// memory and rows in corpus order. This store appends rows after every embedded chunk (a killed run
/// resumes from its last complete row; a torn final row is cut off) and maps the file for the search, so
/// the page cache, not the heap, holds the vectors. `<name>.vectors` holds the rows; `<name>.json` names
/// what they are (the encoder's `identifier`, the same key `EmbeddingCache` uses, the corpus file's
/// identity and the width); rows for another model, corpus or width are discarded and recomputed.
public final class CorpusVectorStore: @unchecked Sendable {  // used from one task at a time
    /// What the rows are of.
    public struct Header: Codable, Equatable, Sendable {
        /// `TextEncoder.identifier`: model, adapter, precision, length and width.
        public var model: String
        /// The corpus file's path and identity (`CorpusFile.identity`).
        public var corpus: String
        /// Floats per row.
        public var dimensions: Int

        /// A header from its parts.
        public init(model: String, corpus: String, dimensions: Int) {
            self.model = model
            self.corpus = corpus
            self.dimensions = dimensions
        }
    }

    /// The rows file.
    public let file: URL
    /// What the rows are.
    public let header: Header
    private var handle: FileHandle
    /// Complete rows on disk.
    public private(set) var rows: Int

    /// Opens the store for `header` in `directory` (created if needed), keeping the complete rows of an
    /// earlier run with the same header and discarding anything else.
    public init(directory: URL, header: Header) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let headerURL = directory.appendingPathComponent("corpus-vectors.json")
        file = directory.appendingPathComponent("corpus-vectors.f32")
        self.header = header
        let earlier = (try? Data(contentsOf: headerURL)).flatMap { try? JSONDecoder().decode(Header.self, from: $0) }
        if earlier != header || !FileManager.default.fileExists(atPath: file.path) {
            // Header first, then an empty rows file: a crash in between leaves an empty, valid store.
            try JSONEncoder().encode(header).write(to: headerURL, options: .atomic)
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw MiningError(path: file.path, reason: "cannot create the corpus vector cache")
            }
        }
        guard let handle = FileHandle(forUpdatingAtPath: file.path) else {
            throw MiningError(path: file.path, reason: "cannot open the corpus vector cache")
        }
        let size = try handle.seekToEnd()
        let rowBytes = UInt64(header.dimensions * MemoryLayout<Float>.size)
        rows = Int(size / rowBytes)
        if size % rowBytes != 0 {
            try handle.truncate(atOffset: UInt64(rows) * rowBytes)  // a torn last row from a killed run
            try handle.seekToEnd()
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Appends rows (each `header.dimensions` wide) and flushes them to the file.
    public func append(_ vectors: [[Float]]) throws {
        var bytes = [UInt8]()
        bytes.reserveCapacity(vectors.count * header.dimensions * 4)
        for vector in vectors {
            guard vector.count == header.dimensions else {
                throw MiningError(path: file.path, reason: "a vector of \(vector.count) values in a store of width \(header.dimensions)")
            }
            for value in vector { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        try handle.write(contentsOf: bytes)
        rows += vectors.count
    }

    /// Calls `body` with the first `count` rows as one row-major buffer, memory-mapped read-only.
    public func withRows<Result>(count: Int, _ body: (UnsafeBufferPointer<Float>) throws -> Result) throws -> Result {
        precondition(count <= rows, "only \(rows) rows are stored")
        try handle.synchronize()
        let length = count * header.dimensions * MemoryLayout<Float>.size
        guard length > 0 else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        let descriptor = open(file.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw MiningError(path: file.path, reason: "cannot open the corpus vector cache") }
        defer { close(descriptor) }
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else {
            throw MiningError(path: file.path, reason: "cannot map the corpus vector cache: \(String(cString: strerror(errno)))")
        }
        defer { munmap(mapping, length) }
        return try body(UnsafeBufferPointer(start: mapping.assumingMemoryBound(to: Float.self), count: count * header.dimensions))
    }
}
