import Foundation
import ModelFormats

/// One document to synthesize queries for.
public struct SourceDocument: Sendable, Equatable {
    /// The document's identifier: its `id` (or BEIR's `_id`), else `line-N` for its 1-based line, so
    /// a rerun on the same file names it the same way and resume can find it.
    public var id: String
    /// The text the queries are written for and the positive of every example made from it.
    public var text: String

    /// A document from its parts.
    public init(id: String, text: String) {
        self.id = id
        self.text = text
    }

    /// True when the text is empty or only whitespace: such a document is skipped and counted.
    public var isEmpty: Bool { text.allSatisfy(\.isWhitespace) }
}

/// Why a documents file cannot be used; names the file and, for a bad line, its 1-based number.
public struct SourceDocumentError: Error, LocalizedError, Equatable, Sendable {
    /// The documents file.
    public let path: String
    /// The line at fault, or nil for the whole file.
    public let line: Int?
    /// What is wrong.
    public let reason: String

    /// An error about `path` (and `line`).
    public init(path: String, line: Int?, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// `path:line: reason`.
    public var errorDescription: String? {
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}

/// Reads the `--documents` file of `synthesize`.
///
/// JSON Lines in either shape: ours, `{"id"?, "text"}`, or a BEIR `corpus.jsonl`, `{"_id", "title",
/// "text"}`, whose title is prefixed to the text with a space (as the evaluation harness reads BEIR
/// corpora, so a synthesized pair's positive is the very text retrieval sees). Ids may be strings or
/// integers; they must be unique, because resume identifies finished work by document id. Blank lines
/// are skipped; any other bad line is an error naming the file and line.
public enum SourceDocuments {
    /// The documents of `file` (JSON Lines) in file order.
    ///
    /// - Parameter file: the documents file.
    public static func read(file: URL) throws -> [SourceDocument] {
        let path = file.pathAsGiven  // as the caller spelled it, for messages
        // The chunked reader of the mining commands (line numbers, `\r\n`, a leading byte order mark);
        // checked here first so a missing file is reported in this command's own words.
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: path) else {
            throw SourceDocumentError(path: path, line: nil, reason: "cannot be read (no such file, or a directory)")
        }
        var documents: [SourceDocument] = []
        var seen: [String: Int] = [:]
        try LineReader.forEachLine(of: path) { number, _, line in
            if LineReader.isBlank(line) { return }
            func fail(_ reason: String) -> SourceDocumentError { SourceDocumentError(path: path, line: number, reason: reason) }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                throw fail("not a JSON object (expected {\"id\", \"text\"} or a BEIR {\"_id\", \"title\", \"text\"})")
            }
            guard let text = object["text"] as? String else { throw fail("missing \"text\" (a string)") }
            let id: String
            switch object["id"] ?? object["_id"] {
            case nil, is NSNull: id = "line-\(number)"
            case let value as String where !value.isEmpty: id = value
            case let value as NSNumber where !(value is Bool) && value.doubleValue == value.doubleValue.rounded():
                id = String(value.int64Value)
            default: throw fail("\"id\" must be a non-empty string or an integer")
            }
            if let first = seen[id] { throw fail("duplicate document id \"\(id)\" (first on line \(first)); ids must be unique for resume") }
            seen[id] = number
            var full = text
            if let title = object["title"] as? String, !title.isEmpty {
                full = (title + " " + text).trimmingCharacters(in: .whitespaces)
            }
            documents.append(SourceDocument(id: id, text: full))
        }
        guard !documents.isEmpty else { throw SourceDocumentError(path: path, line: nil, reason: "no documents (the file is empty)") }
        return documents
    }
}
