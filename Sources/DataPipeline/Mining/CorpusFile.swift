import Foundation
import ModelFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A document collection in JSON Lines, indexed without holding its texts: `{"id"?, "text"}` per line,
/// or a BEIR `corpus.jsonl` (`{"_id", "title"?, "text"}`).
///
/// A document's text is its `text`, preceded by its `title` and a space when it has a non-empty one (as
/// the evaluation harness reads BEIR corpora, so a mined negative is the text retrieval would see). Blank
/// lines are skipped. Opening the file validates every line (a line that is not a JSON object with a
/// non-empty string `text` is an error naming the file and line) and records where each document's line
/// starts, so texts are read back one at a time (`text(at:)`) and memory holds 8 bytes per document.
public final class CorpusFile: @unchecked Sendable {  // immutable after init; reads use pread(2)
    /// The file.
    public let path: String
    /// Byte offset and length of each document's line, in file order.
    private let spans: [(offset: Int64, length: Int32, line: Int32)]
    /// The file's size and modification time when indexed: identifies its content for the vector cache.
    public let identity: String
    private let descriptor: Int32

    /// Indexes and validates `file`.
    ///
    /// - Parameter file: the corpus (JSON Lines).
    public init(file: URL) throws {
        let path = file.pathAsGiven  // as the caller spelled it, for messages
        self.path = path
        var spans: [(offset: Int64, length: Int32, line: Int32)] = []
        try LineReader.forEachLine(of: path) { line in
            if LineReader.isBlank(line.bytes) { return }
            _ = try Self.document(from: line.bytes, path: path, line: line.number)
            guard line.bytes.count < Int(Int32.max), line.number < Int(Int32.max) else {
                throw MiningError(path: path, line: line.number, reason: "line too long")
            }
            spans.append((line.offset, Int32(line.bytes.count), Int32(line.number)))
        }
        guard !spans.isEmpty else { throw MiningError(path: path, reason: "no documents (the file is empty or has only blank lines)") }
        self.spans = spans
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        identity = "size=\(size) mtime=\(String(format: "%.6f", modified))"
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw MiningError(path: path, reason: "cannot be opened for reading") }
    }

    deinit { close(descriptor) }

    /// Number of documents.
    public var count: Int { spans.count }

    /// The 1-based file line of document `index`.
    public func line(of index: Int) -> Int { Int(spans[index].line) }

    /// The text of document `index` (0-based, in file order), read from the file.
    public func text(at index: Int) throws -> String {
        let span = spans[index]
        var bytes = [UInt8](repeating: 0, count: Int(span.length))
        var done = 0
        while done < bytes.count {
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(span.offset) + off_t(done)) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { throw MiningError(path: path, line: Int(span.line), reason: "the file changed while mining (read failed)") }
            done += got
        }
        return try Self.document(from: bytes[...], path: path, line: Int(span.line))
    }

    /// The texts of documents `range`, in order.
    public func texts(_ range: Range<Int>) throws -> [String] { try range.map { try text(at: $0) } }

    /// The document text of one line.
    static func document(from bytes: ArraySlice<UInt8>, path: String, line: Int) throws -> String {
        func fail(_ reason: String) -> MiningError { MiningError(path: path, line: line, reason: reason) }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw fail("not valid UTF-8") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw fail("not a JSON object (expected {\"id\"?, \"text\"} or BEIR's {\"_id\", \"title\", \"text\"})")
        }
        guard let value = object["text"], !(value is NSNull) else { throw fail("missing \"text\"") }
        guard let text = value as? String else { throw fail("\"text\" must be a string") }
        var document = text
        if let title = object["title"] as? String, !title.isEmpty {
            document = (title + " " + text).trimmingCharacters(in: .whitespaces)
        }
        guard !document.isEmpty else { throw fail("\"text\" is empty") }
        return document
    }
}
