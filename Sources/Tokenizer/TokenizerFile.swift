import Foundation
import ModelFormats

/// What the post-processor adds around a single sequence.
struct PostProcessor: Sendable {
    var prefix: [Int]
    var suffix: [Int]

    /// Adds nothing (`null`, `ByteLevel`, or special tokens not requested).
    static let empty = PostProcessor(prefix: [], suffix: [])
}

/// How ids are turned back into text.
enum Decoder: Sendable {
    /// GPT-2 byte-level: spellings → bytes → UTF-8.
    case byteLevel
    /// No decoder: `tokenizers` joins the spellings with spaces.
    case none
}

/// The parsed, validated contents of a tokenizer's files, before tables are built (package access:
/// the GGUF converter reads the tokenizer through it, see TokenizerFile+Conversion.swift).
package struct TokenizerFile {
    /// The file errors are reported against.
    package let path: String
    /// Vocabulary entries in file order.
    package var vocabulary: [(spelling: String, id: Int)] = []
    /// BPE merges in rank order.
    package var merges: [(String, String)] = []
    var addedTokens: [AddedVocabulary.Token] = []
    var normalizer = Normalizer.none
    var postProcessor = PostProcessor.empty
    var decoder = Decoder.byteLevel
    /// The post-processor's steps as spelled in `tokenizer.json` (empty for vocab.json + merges.txt).
    package var postProcessorSteps: [PostProcessorStep] = []

    /// Ids at or above this are refused: they would make the id → token table absurdly large (real
    /// vocabularies have a few hundred thousand entries).
    static let idLimit = 1 << 24

    func malformed(_ reason: String) -> TokenizerError { .malformedFile(path: path, reason: reason) }

    func unsupported(_ component: String, _ detail: String) -> TokenizerError {
        .unsupportedComponent(path: path, component: component, detail: detail)
    }

    // MARK: tokenizer.json

    /// Reads a `tokenizer.json`, refusing every component this implementation does not reproduce.
    init(tokenizerJSON data: Data, path: String) throws {
        self.path = path
        let root = try Self.parse(data, file: self)
        guard root.object != nil else { throw malformed("the top level is not a JSON object") }
        guard let model = root["model"], model.object != nil else { throw malformed("missing object \"model\"") }
        try readModel(model)
        normalizer = try Self.normalizer(root["normalizer"] ?? .null, file: self)
        guard let preTokenizer = root["pre_tokenizer"], !preTokenizer.isNull else {
            throw unsupported("pre_tokenizer", "null (only the Qwen Sequence[Split, ByteLevel] is implemented)")
        }
        try checkPreTokenizer(preTokenizer)

        guard let added = (root["added_tokens"] ?? .array([])).array else {
            throw malformed("\"added_tokens\" is not an array")
        }
        for (index, entry) in added.enumerated() {
            guard let id = entry["id"]?.tokenID, (0..<Self.idLimit).contains(id), let content = entry["content"]?.string else {
                throw malformed("added_tokens[\(index)] lacks an integer \"id\" in 0..<2^24 or a string \"content\"")
            }
            addedTokens.append(try addedToken(entry, id: id, content: content, field: "added_tokens[\(index)]"))
        }

        postProcessor = try Self.postProcessor(root["post_processor"] ?? .null, file: self)
        postProcessorSteps = Self.postProcessorSteps(root["post_processor"] ?? .null)
        switch root["decoder"] ?? .null {
        case .null:
            decoder = .none
        case let object where object["type"]?.string == "ByteLevel":
            decoder = .byteLevel
        case let object:
            throw unsupported("decoder", "type \(object["type"]?.string ?? object.kind) (only ByteLevel is implemented)")
        }
    }

    private mutating func readModel(_ model: JSONValue) throws {
        guard let type = model["type"]?.string ?? (model["merges"] != nil ? "BPE" : nil) else {
            throw unsupported("model", "missing \"model.type\"")
        }
        guard type == "BPE" else { throw unsupported("model", "type \(type) (only BPE is implemented)") }
        if let dropout = model["dropout"], !dropout.isNull { throw unsupported("model", "BPE with dropout") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key]?.string, !value.isEmpty { throw unsupported("model", "\"\(key)\": \"\(value)\"") }
        }
        if model["byte_fallback"]?.bool == true { throw unsupported("model", "\"byte_fallback\": true") }
        if model["ignore_merges"]?.bool == true { throw unsupported("model", "\"ignore_merges\": true") }

        guard let vocab = model["vocab"]?.object else { throw malformed("missing object \"model.vocab\"") }
        vocabulary.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            guard let id = value.tokenID, (0..<Self.idLimit).contains(id) else { throw malformed("model.vocab[\"\(token)\"] is not an integer id in 0..<2^24") }
            vocabulary.append((token, id))
        }
        guard let rawMerges = model["merges"]?.array else { throw malformed("missing array \"model.merges\"") }
        merges.reserveCapacity(rawMerges.count)
        for (index, entry) in rawMerges.enumerated() {
            // Newer files store ["a", "b"], older ones "a b".
            if let pair = entry.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string {
                merges.append((left, right))
            } else if let line = entry.string, let pair = Self.mergePair(line) {
                merges.append(pair)
            } else {
                throw malformed("model.merges[\(index)] is neither [\"a\", \"b\"] nor \"a b\"")
            }
        }
    }

    /// Splits a merges line `"a b"`.
    static func mergePair(_ line: Substring) -> (String, String)? {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    static func mergePair(_ line: String) -> (String, String)? { mergePair(line[...]) }

    private func addedToken(_ entry: JSONValue, id: Int, content: String, field: String) throws -> AddedVocabulary.Token {
        // lstrip / rstrip / single_word change which text a token absorbs or where it may match; no Qwen
        // file sets them, so rather than approximate them they are refused.
        for flag in ["lstrip", "rstrip", "single_word"] where entry[flag]?.bool == true {
            throw unsupported("added token", "\(field) \"\(content)\" sets \"\(flag)\", which is not implemented")
        }
        return AddedVocabulary.Token(
            content: content, id: id, special: entry["special"]?.bool ?? false,
            normalized: entry["normalized"]?.bool ?? !(entry["special"]?.bool ?? false))
    }

    private static func normalizer(_ value: JSONValue, file: TokenizerFile) throws -> Normalizer {
        switch value {
        case .null:
            return .none
        case .object:
            switch value["type"]?.string {
            case "NFC":
                return .nfc
            case "Sequence":
                guard let steps = value["normalizers"]?.array else {
                    throw file.malformed("normalizer Sequence without a \"normalizers\" array")
                }
                // Only NFC is implemented, and NFC is idempotent: any sequence of NFCs is NFC.
                var result = Normalizer.none
                for step in steps where try normalizer(step, file: file) == .nfc { result = .nfc }
                return result
            case let type:
                throw file.unsupported("normalizer", "type \(type ?? "missing") (only NFC, Sequence and null are implemented)")
            }
        default:
            throw file.malformed("\"normalizer\" is \(value.kind), not an object or null")
        }
    }

    /// Accepts exactly the Qwen pre-tokenizer: Sequence[Split(pattern, Isolated), ByteLevel(no prefix
    /// space, no regex)].
    private func checkPreTokenizer(_ value: JSONValue) throws {
        guard value["type"]?.string == "Sequence", let steps = value["pretokenizers"]?.array, steps.count == 2 else {
            throw unsupported("pre_tokenizer", "type \(value["type"]?.string ?? value.kind): only Sequence[Split, ByteLevel] as in the Qwen files is implemented")
        }
        let split = steps[0], byteLevel = steps[1]
        guard split["type"]?.string == "Split" else {
            throw unsupported("pre_tokenizer", "pretokenizers[0] is \(split["type"]?.string ?? "untyped"), not Split")
        }
        guard let pattern = split["pattern"]?["Regex"]?.string, pattern == QwenPreTokenizer.pattern else {
            throw unsupported("pre_tokenizer", "Split pattern is not the Qwen regex \(QwenPreTokenizer.pattern)")
        }
        guard split["behavior"]?.string == "Isolated", split["invert"]?.bool != true else {
            throw unsupported("pre_tokenizer", "Split behavior \(split["behavior"]?.string ?? "missing") / invert (only Isolated, not inverted)")
        }
        guard byteLevel["type"]?.string == "ByteLevel" else {
            throw unsupported("pre_tokenizer", "pretokenizers[1] is \(byteLevel["type"]?.string ?? "untyped"), not ByteLevel")
        }
        guard byteLevel["add_prefix_space"]?.bool != true, byteLevel["use_regex"]?.bool == false else {
            throw unsupported("pre_tokenizer", "ByteLevel with add_prefix_space or use_regex (only both false)")
        }
    }

    private static func postProcessor(_ value: JSONValue, file: TokenizerFile) throws -> PostProcessor {
        if value.isNull { return .empty }
        switch value["type"]?.string {
        case "ByteLevel":
            return .empty  // only adjusts offsets
        case "Sequence":
            guard let steps = value["processors"]?.array else {
                throw file.malformed("post_processor Sequence without a \"processors\" array")
            }
            // Each processor wraps the output of the previous one.
            var result = PostProcessor.empty
            for step in steps {
                let next = try postProcessor(step, file: file)
                result = PostProcessor(prefix: next.prefix + result.prefix, suffix: result.suffix + next.suffix)
            }
            return result
        case "TemplateProcessing":
            guard let single = value["single"]?.array else {
                throw file.malformed("post_processor TemplateProcessing without a \"single\" array")
            }
            var result = PostProcessor.empty
            var seenSequence = false
            for (index, item) in single.enumerated() {
                if item["Sequence"] != nil {
                    guard !seenSequence else {
                        throw file.unsupported("post_processor", "TemplateProcessing single template with two sequences")
                    }
                    seenSequence = true
                } else if let name = item["SpecialToken"]?["id"]?.string {
                    guard let ids = value["special_tokens"]?[name]?["ids"]?.array?.compactMap(\.tokenID), !ids.isEmpty else {
                        throw file.malformed("post_processor.special_tokens[\"\(name)\"] has no integer \"ids\"")
                    }
                    if seenSequence { result.suffix += ids } else { result.prefix += ids }
                } else {
                    throw file.malformed("post_processor.single[\(index)] is neither Sequence nor SpecialToken")
                }
            }
            return result
        case let type:
            throw file.unsupported("post_processor", "type \(type ?? value.kind) (only TemplateProcessing, ByteLevel, Sequence and null are implemented)")
        }
    }

    // MARK: vocab.json + merges.txt

    /// Reads the slow-tokenizer files, as transformers' `Qwen2Tokenizer` does.
    init(vocabularyAndMergesIn directory: URL) throws {
        let vocabularyURL = directory.appendingPathComponent("vocab.json")
        let mergesURL = directory.appendingPathComponent("merges.txt")
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        path = vocabularyURL.path
        guard let vocabularyData = FileManager.default.contents(atPath: vocabularyURL.path) else {
            throw TokenizerError.missingFile(
                "\(directory.appendingPathComponent("tokenizer.json").path) (or vocab.json + merges.txt in that directory)")
        }
        guard let mergesData = FileManager.default.contents(atPath: mergesURL.path) else {
            throw TokenizerError.missingFile(mergesURL.path)
        }
        guard let vocabularyObject = try Self.parse(vocabularyData, file: self).object else {
            throw malformed("not a JSON object of token → id")
        }
        vocabulary.reserveCapacity(vocabularyObject.count)
        for (token, value) in vocabularyObject {
            guard let id = value.tokenID, (0..<Self.idLimit).contains(id) else { throw malformed("entry \"\(token)\" is not an integer id in 0..<2^24") }
            vocabulary.append((token, id))
        }

        let text = String(decoding: mergesData, as: UTF8.self)
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || (number == 0 && line.hasPrefix("#version")) { continue }
            guard let pair = Self.mergePair(line) else {
                throw TokenizerError.malformedFile(path: mergesURL.path, reason: "line \(number + 1) is not \"a b\"")
            }
            merges.append(pair)
        }

        if let configData = FileManager.default.contents(atPath: configURL.path) {
            let configFile = TokenizerFile(path: configURL.path)
            let config = try Self.parse(configData, file: configFile)
            guard config.object != nil else { throw configFile.malformed("not a JSON object") }
            let decoderEntries = config["added_tokens_decoder"]?.object ?? [:]
            for (key, entry) in decoderEntries {
                let field = "added_tokens_decoder[\"\(key)\"]"
                guard let id = Int(key), (0..<Self.idLimit).contains(id), let content = entry["content"]?.string else {
                    throw configFile.malformed("\(field) needs an integer key in 0..<2^24 and a string \"content\"")
                }
                addedTokens.append(try configFile.addedToken(entry, id: id, content: content, field: field))
            }
            addedTokens.sort { $0.id < $1.id }
        }
        normalizer = .nfc
        postProcessor = .empty
        decoder = .byteLevel
    }

    private init(path: String) { self.path = path }

    private static func parse(_ data: Data, file: TokenizerFile) throws -> JSONValue {
        do {
            // Lenient about duplicate keys (the last wins), as the `tokenizers` library reads these files.
            return try JSONValue.parse(data, options: .lenient)
        } catch {
            throw file.malformed("invalid JSON at byte \(error.offset): \(error.reason)")
        }
    }
}

private extension JSONValue {
    /// An id as this reader has always taken it: any integral number below 9e15 (`3`, and also `3.0` or
    /// `3e0`), so a file that spells ids as floats still loads (the range checks come after).
    var tokenID: Int? {
        switch self {
        case .integer(let value): value
        case .number(let value) where value.rounded() == value && abs(value) < 9e15: Int(value)
        default: nil
        }
    }
}
