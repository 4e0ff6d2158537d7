import Foundation
import ModelFormats

/// Why a training data file cannot be used; names the file and, for a bad line, its 1-based number.
public struct TrainingDataError: Error, LocalizedError, Equatable, Sendable {
    /// The data file.
    public let path: String
    /// The 1-based line at fault, or nil for a problem with the whole file (unreadable, empty).
    public let line: Int?
    /// What is wrong.
    public let reason: String

    /// An error about `path` (and `line`).
    public init(path: String, line: Int?, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// `path:line: reason`, the form compilers use, so editors can jump to the line.
    public var errorDescription: String? {
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}

/// A training data file in JSON Lines, read and validated in full before training starts.
///
/// Each line is one JSON object in any of these shapes (a line may mix in other keys, which are ignored):
///
/// - ours: `{"query": …, "positive": …, "negatives": [...], "instruction": …}` (`negatives` and
///   `instruction` optional);
/// - FlagEmbedding's: `{"query": …, "pos": [...], "neg": [...], "prompt": …}` (`neg` and `prompt`
///   optional). Only the first of several `pos` entries is used: the loss has one positive per example,
///   and FlagEmbedding itself samples one positive per step; give each positive its own line to train on
///   all of them;
/// - ms-swift's: `{"query": …, "response": …, "rejected_response": [...]}` (`rejected_response` optional).
///
/// A per-example instruction (`instruction`, or FlagEmbedding's `prompt`) overrides the configured one.
/// Queries, positives, negatives and instructions must be non-empty strings. Blank lines are skipped; a
/// UTF-8 byte order mark at the start is allowed. Any other problem (invalid UTF-8 or JSON, a value of the
/// wrong type, a missing query or positive, an unrecognised shape, too few negatives) is a
/// `TrainingDataError` naming the file and line, and a file with no example is an error too.
///
/// The file is read in chunks and parsed line by line, so memory holds the examples, never the whole file
/// as one string.
public struct TrainingDataset: Sendable {
    /// The file the examples came from.
    public let path: String
    /// The examples in file order.
    public let examples: [TrainingExample]

    /// Reads and validates `file`.
    ///
    /// - Parameters:
    ///   - file: the JSON Lines training data.
    ///   - negatives: `--negatives K`: every example must list at least K hard negatives (more are sampled
    ///     per step with `TrainingExample.selectingNegatives`); nil takes each example's own list.
    ///   - allowFewerNegatives: accept examples with fewer than `negatives` (they use what they have).
    public init(file: URL, negatives: Int? = nil, allowFewerNegatives: Bool = false) throws {
        let path = file.pathAsGiven  // as the caller spelled it, for messages
        if let negatives, negatives < 0 {
            throw TrainingDataError(path: path, line: nil, reason: "the number of negatives must be 0 or more, got \(negatives)")
        }
        self.path = path
        var examples: [TrainingExample] = []
        try Self.forEachLine(of: path) { number, bytes in
            guard let example = try Self.parse(line: bytes, number: number, path: path) else { return }
            if let negatives, example.negatives.count < negatives, !allowFewerNegatives {
                throw TrainingDataError(
                    path: path, line: number,
                    reason: "\(example.negatives.count) hard negative\(example.negatives.count == 1 ? "" : "s"), fewer than the \(negatives) asked for (--negatives); add more or pass --allow-fewer-negatives")
            }
            examples.append(example)
        }
        guard !examples.isEmpty else {
            throw TrainingDataError(path: path, line: nil, reason: "no training examples (the file is empty or has only blank lines)")
        }
        self.examples = examples
    }

    /// A dataset of examples built in code (tests, other readers); `path` only labels errors.
    public init(examples: [TrainingExample], path: String = "(examples)") throws {
        guard !examples.isEmpty else { throw TrainingDataError(path: path, line: nil, reason: "no training examples") }
        self.path = path
        self.examples = examples
    }

    /// Number of examples.
    public var count: Int { examples.count }

    // MARK: - Reading

    /// Calls `body` with each line's number (from 1) and bytes, without its `\n` or `\r\n`.
    private static func forEachLine(of path: String, _ body: (Int, ArraySlice<UInt8>) throws -> Void) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingDataError(path: path, line: nil, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw TrainingDataError(path: path, line: nil, reason: "is a directory, not a JSON Lines file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw TrainingDataError(path: path, line: nil, reason: "cannot be opened for reading")
        }
        defer { try? handle.close() }
        var pending: [UInt8] = []
        var number = 0
        func emit(_ line: ArraySlice<UInt8>) throws {
            number += 1
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if number == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
            try body(number, line)
        }
        while true {
            let chunk: Data
            do {
                guard let read = try handle.read(upToCount: 1 << 20), !read.isEmpty else { break }
                chunk = read
            } catch {
                throw TrainingDataError(path: path, line: nil, reason: "read failed: \(error.localizedDescription)")
            }
            pending.append(contentsOf: chunk)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                try emit(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try emit(pending[...]) }
    }

    /// The example on one line, or nil for a blank line.
    static func parse(line bytes: ArraySlice<UInt8>, number: Int, path: String) throws -> TrainingExample? {
        func fail(_ reason: String) -> TrainingDataError { TrainingDataError(path: path, line: number, reason: reason) }
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return nil }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw fail("not valid UTF-8") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            throw fail("not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw fail("not a JSON object (each line must be one example)") }

        /// A required or optional non-empty string; null counts as absent.
        func string(_ key: String, required: Bool) throws -> String? {
            guard let value = object[key], !(value is NSNull) else {
                if required { throw fail("missing \"\(key)\"") }
                return nil
            }
            guard let text = value as? String else { throw fail("\"\(key)\" must be a string") }
            guard !text.isEmpty else { throw fail("\"\(key)\" is empty") }
            return text
        }
        /// An optional list of non-empty strings; null or absent is an empty list.
        func strings(_ key: String) throws -> [String] {
            guard let value = object[key], !(value is NSNull) else { return [] }
            guard let list = value as? [Any] else { throw fail("\"\(key)\" must be a list of strings") }
            return try list.enumerated().map { index, element in
                guard let text = element as? String else { throw fail("\"\(key)\"[\(index)] must be a string") }
                guard !text.isEmpty else { throw fail("\"\(key)\"[\(index)] is empty") }
                return text
            }
        }

        let shapes = [("positive", "ours"), ("pos", "FlagEmbedding's"), ("response", "ms-swift's")]
            .filter { object[$0.0] != nil }
        guard shapes.count <= 1 else {
            throw fail("has both \(shapes.map { "\"\($0.0)\"" }.joined(separator: " and ")): one example shape per line (positive, pos or response)")
        }
        guard let shape = shapes.first?.0 else {
            guard object["query"] != nil else {
                throw fail("not a training example: expected {\"query\", \"positive\", \"negatives\"}, {\"query\", \"pos\", \"neg\"} or {\"query\", \"response\", \"rejected_response\"}")
            }
            throw fail("missing the positive: \"positive\" (or FlagEmbedding's \"pos\", ms-swift's \"response\")")
        }
        let query = try string("query", required: true)!
        switch shape {
        case "positive":
            return TrainingExample(query: query, positive: try string("positive", required: true)!,
                                   negatives: try strings("negatives"), instruction: try string("instruction", required: false),
                                   line: number)
        case "pos":
            let positives = try strings("pos")
            guard let positive = positives.first else { throw fail("\"pos\" is empty: an example needs a positive") }
            return TrainingExample(query: query, positive: positive, negatives: try strings("neg"),
                                   instruction: try string("prompt", required: false), line: number)
        default:
            return TrainingExample(query: query, positive: try string("response", required: true)!,
                                   negatives: try strings("rejected_response"), line: number)
        }
    }
}
