import Foundation
import ModelFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One output line of `synthesize`: a training example in the `Training` module's format (`query`,
/// `positive`, `negatives`, read by `TrainingDataset`) plus where it came from.
public struct SynthesizedExample: Codable, Sendable, Equatable {
    /// The synthesized query.
    public var query: String
    /// The document the query was written for.
    public var positive: String
    /// Empty: hard negatives are added later by `qwen3-embed mine`.
    public var negatives: [String]
    /// The source document's id.
    public var documentID: String
    /// Which of the document's `--queries-per-document` queries this is (from 0).
    public var queryIndex: Int
    /// The sampled and chosen configuration.
    public var configuration: QueryConfiguration
    /// The LLM that wrote the query (`--llm`).
    public var model: String

    /// An example from its parts.
    public init(query: String, positive: String, negatives: [String] = [], documentID: String, queryIndex: Int,
                configuration: QueryConfiguration, model: String) {
        self.query = query
        self.positive = positive
        self.negatives = negatives
        self.documentID = documentID
        self.queryIndex = queryIndex
        self.configuration = configuration
        self.model = model
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case query, positive, negatives
        case documentID = "document_id"
        case queryIndex = "query_index"
        case configuration, model
    }

    /// The JSON line, keys in a fixed order (the training fields first) so files diff and read well;
    /// Foundation's encoder would order them by hash.
    public func jsonLine() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func field(_ key: CodingKeys, _ value: some Encodable) throws -> Data {
            try encoder.encode(key.rawValue) + Data(":".utf8) + encoder.encode(value)
        }
        let fields = [
            try field(.query, query), try field(.positive, positive), try field(.negatives, negatives),
            try field(.documentID, documentID), try field(.queryIndex, queryIndex),
            try field(.configuration, configuration), try field(.model, model),
        ]
        return Data("{".utf8) + fields.joined(separator: Data(",".utf8)) + Data("}".utf8)
    }
}

/// One query that could not be synthesized (a line of the failures file).
public struct SynthesisFailure: Codable, Sendable, Equatable {
    /// The source document's id.
    public var documentID: String
    /// The query index.
    public var queryIndex: Int
    /// `configuration` or `query`: the step whose answer never fit its schema, or `request` for a
    /// request the server refused.
    public var step: String
    /// Why, from the last attempt.
    public var reason: String
    /// How many answers were asked for.
    public var attempts: Int

    enum CodingKeys: String, CodingKey {
        case step, reason, attempts
        case documentID = "document_id"
        case queryIndex = "query_index"
    }
}

/// The unit of resume: one query of one document.
public struct QueryKey: Hashable, Sendable {
    /// The document id.
    public var documentID: String
    /// The query index.
    public var queryIndex: Int

    /// The key of query `queryIndex` of document `documentID`.
    public init(documentID: String, queryIndex: Int) {
        self.documentID = documentID
        self.queryIndex = queryIndex
    }
}

/// An append-only JSON Lines file: each line goes out in one `write` of the whole line, newline
/// included, on a descriptor opened with `O_APPEND`, so a killed process leaves at most one torn last
/// line (which `finishedQueries` cuts off) and never interleaves two lines.
public actor JSONLinesAppender {
    private let descriptor: Int32
    /// The file.
    public let path: String

    /// Opens (creating) `file` for appending.
    ///
    /// - Parameter file: the JSON Lines file.
    public init(file: URL) throws {
        let path = file.pathAsGiven  // as the caller spelled it, for messages
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw SynthesisError.invalidOption("\(path): cannot be opened for appending (\(String(cString: strerror(errno))))")
        }
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Appends `value` as one JSON line (keys sorted).
    public func append<Value: Encodable>(_ value: Value) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try append(line: encoder.encode(value))
    }

    /// Appends `line` (one JSON value without its newline) and a newline.
    public func append(line json: Data) throws {
        var line = json
        line.append(UInt8(ascii: "\n"))
        try line.withUnsafeBytes { raw in
            var offset = 0
            // One write normally takes the whole line; the loop only finishes a short write.
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SynthesisError.invalidOption("\(path): write failed (\(String(cString: strerror(errno))))")
                }
                offset += written
            }
        }
    }
}

/// Reading back what an earlier run wrote.
public enum SynthesisResume {
    /// The queries already in `path` (empty when it does not exist). A last line without its newline
    /// (a run killed mid-write) is cut off the file, so the rerun rewrites that query; any other line
    /// that is not one of ours is an error, since appending to someone else's file would mix data.
    ///
    /// - Parameter file: the output file of an earlier run.
    public static func finishedQueries(in file: URL) throws -> Set<QueryKey> {
        let path = file.pathAsGiven  // as the caller spelled it, for messages
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SynthesisError.invalidOption("\(path): the output file exists but cannot be read")
        }
        var complete = data
        if let last = data.last, last != UInt8(ascii: "\n") {
            let cut = (data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? data.startIndex
            guard truncate(path, off_t(cut - data.startIndex)) == 0 else {
                throw SynthesisError.invalidOption("\(path): cannot cut off the torn last line (\(String(cString: strerror(errno))))")
            }
            complete = data[data.startIndex..<cut]
        }
        var keys = Set<QueryKey>()
        var number = 0
        for line in complete.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
            number += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                  let id = object["document_id"] as? String, let index = object["query_index"] as? Int,
                  object["query"] is String else {
                throw SynthesisError.corruptOutput("\(path):\(number): not a line synthesize wrote (expected \"query\", \"document_id\", \"query_index\"); use another --output or remove the file")
            }
            keys.insert(QueryKey(documentID: id, queryIndex: index))
        }
        return keys
    }
}
