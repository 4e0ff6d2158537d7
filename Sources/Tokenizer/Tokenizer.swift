import Foundation

/// A byte-level BPE tokenizer that gives the same ids as Hugging Face `tokenizers` for the Qwen2/Qwen3
/// tokenizer files.
///
/// The pipeline, as in `tokenizers`: added tokens are matched in the raw text first (never split) →
/// the remaining text is NFC-normalised → split by the Qwen pre-tokenizer pattern → each piece's UTF-8
/// bytes are BPE-merged → the post-processor (TemplateProcessing) appends its special tokens.
/// Components the Qwen files do not use are refused when loading rather than approximated.
public final class Tokenizer: Sendable {
    private let vocabulary: [String: Int]
    private let tokensByID: [Int: String]
    private let addedTokens: AddedVocabulary
    private let normalizesNFC: Bool
    private let preTokenizer = QwenPreTokenizer()
    private let encoder: BytePairEncoding
    /// Ids the post-processor puts before / after a single sequence.
    private let templatePrefix: [Int]
    private let templateSuffix: [Int]

    /// Highest id + 1, counting added tokens.
    public let vocabularySize: Int

    /// Number of ids the post-processor adds to a single sequence.
    public var numberOfAddedSpecialTokens: Int { templatePrefix.count + templateSuffix.count }

    /// Loads `tokenizer.json` from `directory`, or falls back to `vocab.json` + `merges.txt` (+ the added
    /// tokens of `tokenizer_config.json`), which behaves like transformers' `Qwen2Tokenizer`: NFC, the
    /// Qwen split pattern, and nothing appended.
    public static func load(directory: URL) throws -> Tokenizer {
        let json = directory.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json.path) {
            guard let data = FileManager.default.contents(atPath: json.path) else { throw TokenizerError.missingFile(json.path) }
            return try Tokenizer(tokenizerJSON: data, path: json.path)
        }
        return try Tokenizer(vocabularyAndMergesIn: directory)
    }

    /// Parses a `tokenizer.json`.
    public convenience init(tokenizerJSON data: Data) throws {
        try self.init(tokenizerJSON: data, path: "tokenizer.json")
    }

    private convenience init(tokenizerJSON data: Data, path: String) throws {
        func malformed(_ reason: String) -> TokenizerError { .malformedFile(path: path, reason: reason) }
        func unsupported(_ component: String, _ detail: String) -> TokenizerError {
            .unsupportedComponent(path: path, component: component, detail: detail)
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw malformed("not a JSON object")
        }
        guard let model = root["model"] as? [String: Any] else { throw malformed("missing \"model\"") }
        guard (model["type"] as? String) == "BPE" else {
            throw unsupported("model", "type \(model["type"].map { "\($0)" } ?? "missing") (only BPE is implemented)")
        }
        if let dropout = model["dropout"], !(dropout is NSNull) { throw unsupported("model", "BPE dropout") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key] as? String, !value.isEmpty { throw unsupported("model", "\(key) \"\(value)\"") }
        }
        if (model["byte_fallback"] as? Bool) == true { throw unsupported("model", "byte_fallback") }
        if (model["ignore_merges"] as? Bool) == true { throw unsupported("model", "ignore_merges") }
        guard let vocabulary = model["vocab"] as? [String: Int] else { throw malformed("missing object \"model.vocab\"") }
        guard let rawMerges = model["merges"] as? [Any] else { throw malformed("missing array \"model.merges\"") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(rawMerges.count)
        for entry in rawMerges {
            if let pair = entry as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else if let line = entry as? String, let space = line.firstIndex(of: " ") {
                merges.append((String(line[..<space]), String(line[line.index(after: space)...])))
            } else {
                throw malformed("merge entry \(entry) is neither [\"a\", \"b\"] nor \"a b\"")
            }
        }

        // Normalizer: nothing, NFC, or a sequence of NFC.
        var normalizesNFC = false
        if let normalizer = root["normalizer"], !(normalizer is NSNull) {
            let steps: [[String: Any]]
            guard let object = normalizer as? [String: Any] else { throw malformed("\"normalizer\" is not an object") }
            if (object["type"] as? String) == "Sequence" {
                steps = object["normalizers"] as? [[String: Any]] ?? []
            } else {
                steps = [object]
            }
            for step in steps {
                guard (step["type"] as? String) == "NFC" else {
                    throw unsupported("normalizer", "type \(step["type"].map { "\($0)" } ?? "missing") (only NFC is implemented)")
                }
                normalizesNFC = true
            }
        }

        // Pre-tokenizer: the Qwen split (isolated) followed by byte-level mapping without its own regex.
        guard let preTokenizer = root["pre_tokenizer"] as? [String: Any] else { throw malformed("missing \"pre_tokenizer\"") }
        try Self.checkPreTokenizer(preTokenizer, unsupported: unsupported)

        // Added tokens.
        var added: [AddedVocabulary.Token] = []
        for entry in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = entry["id"] as? Int, let content = entry["content"] as? String else {
                throw malformed("added token entry without integer \"id\" and string \"content\"")
            }
            for flag in ["lstrip", "rstrip", "single_word"] where (entry[flag] as? Bool) == true {
                throw unsupported("added token", "\"\(content)\" sets \(flag), which is not implemented")
            }
            added.append(.init(content: content, id: id, special: entry["special"] as? Bool ?? false,
                               normalized: entry["normalized"] as? Bool ?? false))
        }

        // Post-processor.
        var prefix: [Int] = [], suffix: [Int] = []
        if let processor = root["post_processor"], !(processor is NSNull) {
            guard let object = processor as? [String: Any] else { throw malformed("\"post_processor\" is not an object") }
            (prefix, suffix) = try Self.template(from: object, path: path, unsupported: unsupported)
        }

        // Decoder: ByteLevel (or none).
        if let decoder = root["decoder"] as? [String: Any], let type = decoder["type"] as? String, type != "ByteLevel" {
            throw unsupported("decoder", "type \(type) (only ByteLevel is implemented)")
        }
        try self.init(vocabulary: vocabulary, merges: merges, added: added, normalizesNFC: normalizesNFC,
                      templatePrefix: prefix, templateSuffix: suffix, path: path)
    }

    /// The fallback: vocab.json + merges.txt (+ tokenizer_config.json's added_tokens_decoder).
    private convenience init(vocabularyAndMergesIn directory: URL) throws {
        let vocabularyPath = directory.appendingPathComponent("vocab.json").path
        let mergesPath = directory.appendingPathComponent("merges.txt").path
        guard let vocabularyData = FileManager.default.contents(atPath: vocabularyPath) else {
            throw TokenizerError.missingFile("\(directory.path)/tokenizer.json (or vocab.json + merges.txt)")
        }
        guard let mergesData = FileManager.default.contents(atPath: mergesPath) else { throw TokenizerError.missingFile(mergesPath) }
        guard let vocabulary = (try? JSONSerialization.jsonObject(with: vocabularyData)) as? [String: Int] else {
            throw TokenizerError.malformedFile(path: vocabularyPath, reason: "not a JSON object of token → id")
        }
        var merges: [(String, String)] = []
        for (number, line) in String(decoding: mergesData, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.hasSuffix("\r") ? line.dropLast() : line
            if text.isEmpty || (number == 0 && text.hasPrefix("#version")) { continue }
            let parts = text.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.malformedFile(path: mergesPath, reason: "line \(number + 1) is not \"a b\"")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        var added: [AddedVocabulary.Token] = []
        let configPath = directory.appendingPathComponent("tokenizer_config.json").path
        if let configData = FileManager.default.contents(atPath: configPath) {
            guard let config = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] else {
                throw TokenizerError.malformedFile(path: configPath, reason: "not a JSON object")
            }
            for (key, value) in config["added_tokens_decoder"] as? [String: Any] ?? [:] {
                guard let id = Int(key), let entry = value as? [String: Any], let content = entry["content"] as? String else {
                    throw TokenizerError.malformedFile(path: configPath, reason: "added_tokens_decoder entry \"\(key)\" is invalid")
                }
                added.append(.init(content: content, id: id, special: entry["special"] as? Bool ?? false,
                                   normalized: entry["normalized"] as? Bool ?? false))
            }
        }
        try self.init(vocabulary: vocabulary, merges: merges, added: added.sorted { $0.id < $1.id }, normalizesNFC: true,
                      templatePrefix: [], templateSuffix: [], path: vocabularyPath)
    }

    private init(
        vocabulary: [String: Int], merges: [(String, String)], added: [AddedVocabulary.Token], normalizesNFC: Bool,
        templatePrefix: [Int], templateSuffix: [Int], path: String
    ) throws {
        var byteIDs = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            guard let id = vocabulary[String(ByteLevel.characterForByte[byte])] else {
                throw TokenizerError.malformedFile(path: path, reason: "vocabulary lacks the byte-level token for byte \(byte)")
            }
            byteIDs[byte] = Int32(id)
        }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let leftID = vocabulary[left], let rightID = vocabulary[right], let mergedID = vocabulary[left + right] else {
                throw TokenizerError.malformedFile(path: path, reason: "merge \(rank) \"\(left) \(right)\" uses tokens missing from the vocabulary")
            }
            let key = BytePairEncoding.key(Int32(leftID), Int32(rightID))
            if table[key] == nil { table[key] = (Int32(rank), Int32(mergedID)) }
        }
        var tokensByID: [Int: String] = [:]
        tokensByID.reserveCapacity(vocabulary.count + added.count)
        for (token, id) in vocabulary { tokensByID[id] = token }
        var fullVocabulary = vocabulary
        for token in added {
            tokensByID[token.id] = token.content
            fullVocabulary[token.content] = token.id
        }
        self.vocabulary = fullVocabulary
        self.tokensByID = tokensByID
        self.addedTokens = AddedVocabulary(tokens: added)
        self.normalizesNFC = normalizesNFC
        self.encoder = BytePairEncoding(byteIDs: byteIDs, merges: table)
        self.templatePrefix = templatePrefix
        self.templateSuffix = templateSuffix
        self.vocabularySize = (tokensByID.keys.max() ?? -1) + 1
    }

    // MARK: - Encoding

    /// The ids of `text`.
    ///
    /// - Parameters:
    ///   - addSpecialTokens: apply the post-processor (for the Qwen3-Embedding tokenizer: append
    ///     `<|endoftext|>`). Added tokens written in the text are matched either way.
    ///   - maxLength: keep at most this many ids in total. The text's own ids are truncated from the
    ///     right to make room for the post-processor's, which are then added, so they always survive.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        for segment in addedTokens.split(text) {
            switch segment {
            case .added(let id):
                ids.append(id)
            case .text(let piece):
                encodeOrdinary(piece, into: &ids)
            }
        }
        if let maxLength {
            let budget = max(0, maxLength - (addSpecialTokens ? numberOfAddedSpecialTokens : 0))
            if ids.count > budget { ids.removeLast(ids.count - budget) }
        }
        return addSpecialTokens ? templatePrefix + ids + templateSuffix : ids
    }

    /// Text between added tokens: normalise, split, byte-level BPE.
    private func encodeOrdinary(_ text: Substring, into ids: inout [Int]) {
        let normalized: String
        if normalizesNFC && !text.utf8.allSatisfy({ $0 < 0x80 }) {
            normalized = String(text).precomposedStringWithCanonicalMapping
        } else {
            normalized = String(text)
        }
        let scalars = Array(normalized.unicodeScalars)
        var bytes: [UInt8] = []
        for range in preTokenizer.split(scalars) {
            bytes.removeAll(keepingCapacity: true)
            for scalar in scalars[range] { bytes.append(contentsOf: UTF8.encode(scalar)!) }
            encoder.encode(bytes, into: &ids)
        }
    }

    // MARK: - Decoding and lookup

    /// The text of `ids` (byte-level decoding; invalid UTF-8 becomes U+FFFD). Unknown ids are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if let token = addedTokens.token(forID: id) {
                if skipSpecialTokens && token.special { continue }
                bytes.append(contentsOf: token.content.utf8)
            } else if let spelling = tokensByID[id], let tokenBytes = ByteLevel.bytes(of: spelling) {
                bytes.append(contentsOf: tokenBytes)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The id of a token spelling (vocabulary or added token), e.g. "yes" → 9693.
    public func id(forToken token: String) -> Int? { vocabulary[token] }

    /// The spelling of an id.
    public func token(forID id: Int) -> String? { tokensByID[id] }

    // MARK: - Loading helpers

    private static func checkPreTokenizer(
        _ object: [String: Any], unsupported: (String, String) -> TokenizerError
    ) throws {
        guard (object["type"] as? String) == "Sequence", let steps = object["pretokenizers"] as? [[String: Any]],
              steps.count == 2 else {
            throw unsupported("pre_tokenizer", "expected Sequence[Split, ByteLevel] as in the Qwen tokenizers")
        }
        let split = steps[0], byteLevel = steps[1]
        guard (split["type"] as? String) == "Split",
              let pattern = (split["pattern"] as? [String: Any])?["Regex"] as? String,
              pattern == QwenPreTokenizer.pattern,
              (split["behavior"] as? String) == "Isolated", (split["invert"] as? Bool) != true else {
            throw unsupported("pre_tokenizer", "a Split other than the Qwen pattern with Isolated behaviour")
        }
        guard (byteLevel["type"] as? String) == "ByteLevel", (byteLevel["add_prefix_space"] as? Bool) != true,
              (byteLevel["use_regex"] as? Bool) != true else {
            throw unsupported("pre_tokenizer", "ByteLevel with add_prefix_space or use_regex")
        }
    }

    /// Prefix and suffix ids of a single sequence under the post-processor.
    private static func template(
        from object: [String: Any], path: String, unsupported: (String, String) -> TokenizerError
    ) throws -> ([Int], [Int]) {
        switch object["type"] as? String {
        case "ByteLevel":
            return ([], [])
        case "TemplateProcessing":
            guard let single = object["single"] as? [[String: Any]] else {
                throw TokenizerError.malformedFile(path: path, reason: "TemplateProcessing without \"single\"")
            }
            let specials = object["special_tokens"] as? [String: [String: Any]] ?? [:]
            var prefix: [Int] = [], suffix: [Int] = []
            var seenSequence = false
            for item in single {
                if item["Sequence"] != nil {
                    seenSequence = true
                } else if let special = item["SpecialToken"] as? [String: Any], let name = special["id"] as? String {
                    guard let ids = specials[name]?["ids"] as? [Int] else {
                        throw TokenizerError.malformedFile(path: path, reason: "special token \"\(name)\" has no ids")
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                } else {
                    throw TokenizerError.malformedFile(path: path, reason: "unknown TemplateProcessing item")
                }
            }
            return (prefix, suffix)
        default:
            throw unsupported("post_processor", "type \(object["type"].map { "\($0)" } ?? "missing")")
        }
    }
}
