import Foundation
import ModelFormats

/// The tokenizer of a Hugging Face Qwen3 directory as llama.cpp's converter writes it into GGUF
/// (`tokenizer.ggml.*`): the byte-level BPE vocabulary, token types, merges, special token ids and the
/// flags telling llama.cpp which special tokens to add.
///
/// Reads `tokenizer.json`, or `vocab.json` + `merges.txt` with the added tokens of
/// `tokenizer_config.json` (what transformers' slow `Qwen2Tokenizer` loads), and reproduces the converter
/// (`TextModel.get_vocab_base` and gguf-py's `SpecialVocab`):
/// - tokens are listed by id up to the configuration's `vocab_size`; ids without a token become
///   `[PAD<id>]` of type UNUSED (5), regular tokens are NORMAL (1), added tokens CONTROL (3) when marked
///   special or spelled `<|…|>`, else USER_DEFINED (4);
/// - merges are `"left right"` strings (a space inside a part written as U+0120, as gguf-py does);
/// - special ids come from the post-processor template, then `tokenizer_config.json`'s `*_token`
///   entries (matched against `tokenizer.json`'s added tokens), then `config.json`'s `*_token_id`,
///   the first source to name a role winning; a template that appends a token other than the
///   configured EOS makes that token the EOS and moves the configured one to EOT.
struct GGUFVocabulary {
    /// Token spellings by id.
    var tokens: [String]
    /// `tokenizer.ggml.token_type` values by id.
    var types: [Int32]
    /// BPE merges in rank order.
    var merges: [String]
    /// Special token ids by role (`bos`, `eos`, `eot`, `pad`…), in the order they were resolved.
    var specialIDs: [(role: String, id: Int)]
    /// `add_bos` / `add_eos` / `add_sep` flags, in the order they were resolved.
    var addFlags: [(role: String, value: Bool)]
    /// `tokenizer_config.json`'s chat template (a string, or named templates).
    var chatTemplate: ChatTemplate?
    /// Spelling → id over the whole vocabulary (regular and added tokens).
    var ids: [String: Int]

    /// A chat template as `tokenizer_config.json` gives it.
    enum ChatTemplate {
        case single(String)
        case named([(name: String, template: String)])
    }

    /// GGUF token types.
    enum TokenType: Int32 { case normal = 1, control = 3, userDefined = 4, unused = 5 }

    /// The special-token roles gguf-py looks up, in its order.
    static let roles = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]

    /// The metadata key of each role's id (the spelling `seperator` is llama.cpp's).
    static let idKeys = [
        "bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id", "unk": "tokenizer.ggml.unknown_token_id",
        "sep": "tokenizer.ggml.seperator_token_id", "pad": "tokenizer.ggml.padding_token_id", "mask": "tokenizer.ggml.mask_token_id",
        "eot": "tokenizer.ggml.eot_token_id", "eom": "tokenizer.ggml.eom_token_id",
    ]

    /// The metadata key of each add flag gguf-py writes (others it skips).
    static let addKeys = [
        "bos": "tokenizer.ggml.add_bos_token", "eos": "tokenizer.ggml.add_eos_token", "sep": "tokenizer.ggml.add_sep_token",
    ]

    /// The regular expression of Qwen2/Qwen3's pre-tokenizer, which llama.cpp names `qwen2`.
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Reads the tokenizer of `directory`; `vocabularySize` is `config.json`'s `vocab_size`, `config` its
    /// parsed contents.
    init(directory: String, vocabularySize: Int, config: [String: Any]) throws {
        let tokenizerPath = (directory as NSString).appendingPathComponent("tokenizer.json")
        let configPath = (directory as NSString).appendingPathComponent("tokenizer_config.json")
        var tokenizerConfig = try Self.optionalJSONObject(configPath)

        var vocabulary: [String: Int] = [:]
        var added: [(content: String, id: Int, special: Bool)] = []
        var merges: [String] = []
        var postProcessor: [String: Any]?
        var addedTokenList: [(content: String, id: Int)] = []  // tokenizer.json's, for *_token lookups
        let hasTokenizerJSON = FileManager.default.fileExists(atPath: tokenizerPath)
        if hasTokenizerJSON {
            guard let root = try Self.optionalJSONObject(tokenizerPath) else { throw Self.unreadable(tokenizerPath, "missing") }
            guard let model = root["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Any] else {
                throw Self.unreadable(tokenizerPath, "no model.vocab object")
            }
            guard (model["type"] as? String ?? "BPE") == "BPE" else {
                throw Self.unreadable(tokenizerPath, "model type \(model["type"] ?? "?") is not BPE (only Qwen's byte-level BPE is converted)")
            }
            try Self.requireQwenPreTokenizer(root["pre_tokenizer"], path: tokenizerPath)
            vocabulary = try Self.idMap(vocab, path: tokenizerPath)
            merges = try Self.merges(fromJSON: model["merges"], path: tokenizerPath)
            for (index, entry) in ((root["added_tokens"] as? [[String: Any]]) ?? []).enumerated() {
                guard let content = entry["content"] as? String, let id = Self.integer(entry["id"]) else {
                    throw Self.unreadable(tokenizerPath, "added_tokens[\(index)] lacks a content or id")
                }
                added.append((content, id, Self.boolean(entry["special"]) ?? false))
                addedTokenList.append((content, id))
            }
            postProcessor = root["post_processor"] as? [String: Any]
        } else {
            let vocabPath = (directory as NSString).appendingPathComponent("vocab.json")
            let mergesPath = (directory as NSString).appendingPathComponent("merges.txt")
            guard let vocab = try Self.optionalJSONObject(vocabPath) else {
                throw ModelToolsError.invalidArgument("no tokenizer in \(directory): it needs tokenizer.json, or vocab.json and merges.txt")
            }
            vocabulary = try Self.idMap(vocab, path: vocabPath)
            guard FileManager.default.fileExists(atPath: mergesPath) else { throw Self.unreadable(mergesPath, "missing") }
            let data = try RegularFile.contents(atPath: mergesPath)  // a FIFO is refused, not waited on
            merges = Self.merges(fromText: String(decoding: data, as: UTF8.self))
            let tokenizerClass = tokenizerConfig?["tokenizer_class"] as? String ?? "Qwen2Tokenizer"
            guard tokenizerClass.hasPrefix("Qwen2Tokenizer") else {
                throw Self.unreadable(configPath, "tokenizer_class \(tokenizerClass) is not Qwen2Tokenizer (only Qwen's byte-level BPE is converted)")
            }
            for (key, entry) in (tokenizerConfig?["added_tokens_decoder"] as? [String: Any]) ?? [:] {
                guard let id = Int(key), let fields = entry as? [String: Any], let content = fields["content"] as? String else {
                    throw Self.unreadable(configPath, "added_tokens_decoder[\"\(key)\"] lacks an integer key or a content")
                }
                added.append((content, id, Self.boolean(fields["special"]) ?? false))
            }
            added.sort { $0.id < $1.id }
        }

        // Tokens by id, as transformers' `get_vocab()` (added tokens included) and the converter see them.
        var byID: [Int: String] = [:]
        for (token, id) in vocabulary { byID[id] = token }
        var addedByID: [Int: Bool] = [:]
        for token in added {
            byID[token.id] = token.content
            addedByID[token.id] = token.special
            vocabulary[token.content] = token.id
        }
        if let largest = byID.keys.max(), largest >= vocabularySize {
            throw ModelToolsError.invalidArgument("token id \(largest) (\(byID[largest]!)) is not below config.json's vocab_size \(vocabularySize)")
        }
        var tokens: [String] = []
        var types: [Int32] = []
        tokens.reserveCapacity(vocabularySize)
        types.reserveCapacity(vocabularySize)
        for id in 0..<vocabularySize {
            guard let token = byID[id] else {
                tokens.append("[PAD\(id)]")
                types.append(TokenType.unused.rawValue)
                continue
            }
            tokens.append(token)
            if let special = addedByID[id] {
                let looksSpecial = token.hasPrefix("<|") && token.hasSuffix("|>")
                types.append((special || looksSpecial ? TokenType.control : TokenType.userDefined).rawValue)
            } else {
                types.append(TokenType.normal.rawValue)
            }
        }

        // Special ids and add flags, in gguf-py SpecialVocab's order of sources.
        var roles = Self.roles
        var specialIDs: [(role: String, id: Int)] = []
        var addFlags: [(role: String, value: Bool)] = []
        func setID(_ role: String, _ id: Int?) {
            guard let id, id >= 0, !specialIDs.contains(where: { $0.role == role }) else { return }
            specialIDs.append((role, id))
        }
        func setFlag(_ role: String, _ value: Bool, overwrite: Bool) {
            if let index = addFlags.firstIndex(where: { $0.role == role }) {
                if overwrite { addFlags[index].value = value }
            } else {
                addFlags.append((role, value))
            }
        }
        if hasTokenizerJSON {
            var bos = Self.content(tokenizerConfig?["bos_token"]), eos = Self.content(tokenizerConfig?["eos_token"])
            var cls = Self.content(tokenizerConfig?["cls_token"]), sep = Self.content(tokenizerConfig?["sep_token"])
            if bos == nil, let cls, tokenizerConfig != nil { tokenizerConfig?["bos_token"] = cls; bos = cls }
            if eos == nil, let sep, tokenizerConfig != nil { tokenizerConfig?["eos_token"] = sep; eos = sep }
            if let postProcessor {
                let processors = (postProcessor["processors"] as? [[String: Any]]) ?? [postProcessor]
                for processor in processors {
                    switch processor["type"] as? String {
                    case "ByteLevel":
                        setFlag("bos", false, overwrite: false)
                        setFlag("eos", false, overwrite: false)
                    case "RobertaProcessing":
                        for role in ["bos", "eos", "sep"] { setFlag(role, true, overwrite: true) }
                        if cls == nil, tokenizerConfig != nil {
                            cls = ((processor["cls"] as? [Any])?.first as? String) ?? bos
                            tokenizerConfig?["cls_token"] = cls
                        }
                        if sep == nil, tokenizerConfig != nil {
                            sep = ((processor["sep"] as? [Any])?.first as? String) ?? eos
                            tokenizerConfig?["sep_token"] = sep
                        }
                    case "TemplateProcessing":
                        let single = (processor["single"] as? [[String: Any]]) ?? []
                        let pair = (processor["pair"] as? [[String: Any]]) ?? []
                        var first: String?, last: String?
                        if single.count > 1 {
                            first = Self.specialTokenName(single[0])
                            if let first {
                                if tokenizerConfig == nil {
                                    bos = first
                                } else if first != bos && first != cls {
                                    if bos == nil { tokenizerConfig?["bos_token"] = first; bos = first }
                                    if cls == nil { tokenizerConfig?["cls_token"] = first; cls = first }
                                }
                                setFlag("bos", first == bos || first == cls, overwrite: true)
                            }
                            last = Self.specialTokenName(single[single.count - 1])
                            if let last {
                                if tokenizerConfig == nil {
                                    eos = last
                                } else if last != eos {
                                    // The template appends another token than the configured EOS (Qwen3-Embedding
                                    // appends <|endoftext|>, its config names <|im_end|>): that token is what ends
                                    // a sequence, and the configured one is kept as EOT (gguf-py, llama.cpp #14314).
                                    if !roles.contains("eot") {
                                        roles.append("eot")
                                        tokenizerConfig?["eot_token"] = eos
                                    } else if !roles.contains("eom") {
                                        roles.append("eom")
                                        tokenizerConfig?["eom_token"] = eos
                                    }
                                    tokenizerConfig?["eos_token"] = last
                                    eos = last
                                }
                                setFlag("eos", last == eos, overwrite: true)
                            }
                        }
                        if !pair.isEmpty, let addSeparator = Self.pairAddsSeparator(pair, first: first, last: last, sep: sep, eos: eos) {
                            setFlag("sep", addSeparator, overwrite: true)
                            if addSeparator, sep == nil, tokenizerConfig != nil { tokenizerConfig?["sep_token"] = eos }
                        }
                    default:
                        break
                    }
                }
            }
        }
        if let tokenizerConfig {
            for role in roles {
                if let flag = Self.boolean(tokenizerConfig["add_\(role)_token"]) { setFlag(role, flag, overwrite: false) }
                guard let content = Self.content(tokenizerConfig["\(role)_token"]) else { continue }
                // gguf-py matches against tokenizer.json's added tokens only (none without that file).
                setID(role, addedTokenList.first { $0.content == content }?.id)
            }
        }
        for role in roles { setID(role, Self.integer(config["\(role)_token_id"])) }

        var chatTemplate: ChatTemplate?
        if let template = tokenizerConfig?["chat_template"] as? String {
            chatTemplate = .single(template)
        } else if let list = tokenizerConfig?["chat_template"] as? [[String: Any]] {
            chatTemplate = .named(list.compactMap { entry in
                guard let name = entry["name"] as? String, let template = entry["template"] as? String else { return nil }
                return (name, template)
            })
        }

        self.tokens = tokens
        self.types = types
        self.merges = merges
        self.specialIDs = specialIDs
        self.addFlags = addFlags
        self.chatTemplate = chatTemplate
        self.ids = vocabulary
    }

    /// Whether the pair template puts a separator between the sequences (gguf-py's crude parse of
    /// `A [sep] [eos] B`); nil when the template says nothing about it.
    private static func pairAddsSeparator(_ pair: [[String: Any]], first: String?, last: String?, sep: String?, eos: String?) -> Bool? {
        var pair = pair
        if let first, let head = pair.first, specialTokenName(head) == first { pair.removeFirst() }
        if let last, let tail = pair.last, specialTokenName(tail) == last { pair.removeLast() }
        guard pair.count > 2, sequenceName(pair[0]) == "A", sequenceName(pair[pair.count - 1]) == "B" else { return nil }
        let middle = Array(pair[1..<(pair.count - 1)])
        var add = false
        if let entry = specialTokenName(middle[0]), entry == sep || entry == eos, last == nil { add = true }
        if middle.count == 2, let entry = specialTokenName(middle[1]), entry == sep || entry == eos { add = true }
        return add
    }

    private static func specialTokenName(_ item: [String: Any]) -> String? {
        (item["SpecialToken"] as? [String: Any])?["id"] as? String
    }

    private static func sequenceName(_ item: [String: Any]) -> String? {
        (item["Sequence"] as? [String: Any])?["id"] as? String
    }

    /// Refuses tokenizers llama.cpp would not call `qwen2` (its converter recognises the pre-tokenizer by
    /// hashing an encoded probe text; here the pre-tokenizer itself is compared).
    private static func requireQwenPreTokenizer(_ value: Any?, path: String) throws {
        guard let root = value as? [String: Any] else { throw unreadable(path, "no pre_tokenizer (only Qwen's pre-tokenizer is converted)") }
        let steps = (root["type"] as? String) == "Sequence" ? (root["pretokenizers"] as? [[String: Any]]) ?? [] : [root]
        let patterns = steps.compactMap { step -> String? in
            guard step["type"] as? String == "Split" else { return nil }
            return (step["pattern"] as? [String: Any])?["Regex"] as? String
        }
        guard patterns == [qwen2Pattern], steps.contains(where: { $0["type"] as? String == "ByteLevel" }) else {
            throw unreadable(path, "the pre_tokenizer is not Qwen2/Qwen3's Split + ByteLevel (llama.cpp's \"qwen2\"), which is the only one converted")
        }
    }

    private static func merges(fromJSON value: Any?, path: String) throws -> [String] {
        guard let list = value as? [Any] else { throw unreadable(path, "model.merges is not an array") }
        return try list.enumerated().map { index, entry in
            if let text = entry as? String { return text }
            // transformers ≥ 4.45 writes pairs; a space inside a part is encoded as U+0120 like gguf-py does.
            guard let parts = entry as? [String], parts.count == 2 else { throw unreadable(path, "merge \(index) is neither \"a b\" nor a pair") }
            return parts.map { $0.replacingOccurrences(of: " ", with: "\u{120}") }.joined(separator: " ")
        }
    }

    /// `merges.txt` as gguf-py reads it: a first line starting with `#` is a header, blank lines are
    /// skipped, lines are stripped and must split on whitespace into exactly two parts (others skipped).
    private static func merges(fromText text: String) -> [String] {
        var result: [String] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let stripped = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if stripped.isEmpty || (number == 0 && stripped.hasPrefix("#")) { continue }
            let parts = stripped.split(whereSeparator: \.isWhitespace)
            if parts.count == 2 { result.append("\(parts[0]) \(parts[1])") }
        }
        return result
    }

    private static func idMap(_ object: [String: Any], path: String) throws -> [String: Int] {
        var result: [String: Int] = [:]
        result.reserveCapacity(object.count)
        for (token, value) in object {
            guard let id = integer(value), id >= 0 else { throw unreadable(path, "token \"\(token)\" has no non-negative integer id") }
            result[token] = id
        }
        return result
    }

    /// A token entry of `tokenizer_config.json`: a string, or an AddedToken object with `content`.
    private static func content(_ value: Any?) -> String? {
        if let text = value as? String { return text }
        return (value as? [String: Any])?["content"] as? String
    }

    /// An integer JSON value (booleans and fractions refused).
    static func integer(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        let double = number.doubleValue
        guard double == double.rounded(), abs(double) < 9e15 else { return nil }
        return number.intValue
    }

    /// A boolean JSON value (numbers refused).
    static func boolean(_ value: Any?) -> Bool? {
        if let flag = value as? Bool, let number = value as? NSNumber, isBoolean(number) { return flag }
        return nil
    }

    private static func isBoolean(_ number: NSNumber) -> Bool {
        // Foundation parses JSON true/false into boolean NSNumbers, whose Objective-C type is "c" (char);
        // JSON integers and fractions come out as "i", "q" or "d".
        String(cString: number.objCType) == "c"
    }

    private static func optionalJSONObject(_ path: String) throws -> [String: Any]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try RegularFile.contents(atPath: path)  // a FIFO is refused, not waited on
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw unreadable(path, "not a JSON object")
        }
        return object
    }

    private static func unreadable(_ path: String, _ reason: String) -> ModelToolsError {
        .unreadableConfiguration(path: path, reason: reason)
    }
}
