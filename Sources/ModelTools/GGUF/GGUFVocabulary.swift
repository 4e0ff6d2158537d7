import Foundation
import ModelFormats
import Tokenizer

/// The tokenizer of a Hugging Face Qwen3 directory as llama.cpp's converter writes it into GGUF
/// (`tokenizer.ggml.*`): the byte-level BPE vocabulary, token types, merges, special token ids and the
/// flags telling llama.cpp which special tokens to add.
///
/// The tokenizer files are read by the Tokenizer module (`TokenizerFile`: `tokenizer.json`, or
/// `vocab.json` + `merges.txt` with the added tokens of `tokenizer_config.json`, what transformers' slow
/// `Qwen2Tokenizer` loads), so only tokenizers this engine runs are converted, and they are read once,
/// by one reader. From that parsed model and `tokenizer_config.json` this reproduces the converter
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

    /// Reads the tokenizer of `directory`; `vocabularySize` is `config.json`'s `vocab_size`,
    /// `specialTokenIDs` its `<role>_token_id` values (the last source of special ids).
    ///
    /// The tokenizer must be one the Tokenizer module reads (Qwen's byte-level BPE with its `qwen2`
    /// pre-tokenizer, which is what llama.cpp's converter recognises by its hash): anything else is
    /// refused with the Tokenizer module's error naming the file and component.
    init(directory: String, vocabularySize: Int, specialTokenIDs: [String: Int]) throws {
        let tokenizerPath = (directory as NSString).appendingPathComponent("tokenizer.json")
        let configPath = (directory as NSString).appendingPathComponent("tokenizer_config.json")
        let tokenizerConfig = try TokenizerConfiguration(path: configPath)
        // The `<role>_token` spellings; the post-processor may rewrite them, as gguf-py rewrites its copy.
        var tokenNames = tokenizerConfig?.tokenNames

        let hasTokenizerJSON = FileManager.default.fileExists(atPath: tokenizerPath)
        if !hasTokenizerJSON {
            let vocabPath = (directory as NSString).appendingPathComponent("vocab.json")
            guard FileManager.default.fileExists(atPath: vocabPath) else {
                throw ModelToolsError.invalidArgument("no tokenizer in \(directory): it needs tokenizer.json, or vocab.json and merges.txt")
            }
            let tokenizerClass = tokenizerConfig?.tokenizerClass ?? "Qwen2Tokenizer"
            guard tokenizerClass.hasPrefix("Qwen2Tokenizer") else {
                throw Self.unreadable(configPath, "tokenizer_class \(tokenizerClass) is not Qwen2Tokenizer (only Qwen's byte-level BPE is converted)")
            }
        }
        let file = try TokenizerFile.read(directory: URL(fileURLWithPath: directory))
        let added = file.addedTokenEntries
        // gguf-py matches `*_token` spellings against tokenizer.json's added tokens only (none without that file).
        let addedTokenList = hasTokenizerJSON ? added.map { (content: $0.content, id: $0.id) } : []

        // Tokens by id, as transformers' `get_vocab()` (added tokens included) and the converter see them.
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(file.vocabulary.count + added.count)
        var byID: [Int: String] = [:]
        byID.reserveCapacity(file.vocabulary.count + added.count)
        for (token, id) in file.vocabulary {
            vocabulary[token] = id
            byID[id] = token
        }
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
        // "left right"; a space inside a part (only possible in the pair form) is written as U+0120, as gguf-py does.
        let merges = file.merges.map { left, right in
            [left, right].map { $0.contains(" ") ? $0.replacingOccurrences(of: " ", with: "\u{120}") : $0 }.joined(separator: " ")
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
            let hasConfig = tokenNames != nil
            var bos = tokenNames?["bos"], eos = tokenNames?["eos"]
            let cls = tokenNames?["cls"], sep = tokenNames?["sep"]
            var firstCls = cls
            if bos == nil, let cls, hasConfig { tokenNames?["bos"] = cls; bos = cls }
            if eos == nil, let sep, hasConfig { tokenNames?["eos"] = sep; eos = sep }
            // RobertaProcessing, which gguf-py also reads, never gets here: the Tokenizer module refuses it.
            for step in file.postProcessorSteps {
                switch step {
                case .byteLevel:
                    setFlag("bos", false, overwrite: false)
                    setFlag("eos", false, overwrite: false)
                case .template(let single, let pair):
                    var first: String?, last: String?
                    if single.count > 1 {
                        first = single[0].specialToken
                        if let first {
                            if !hasConfig {
                                bos = first
                            } else if first != bos && first != firstCls {
                                if bos == nil { tokenNames?["bos"] = first; bos = first }
                                if firstCls == nil { tokenNames?["cls"] = first; firstCls = first }
                            }
                            setFlag("bos", first == bos || first == firstCls, overwrite: true)
                        }
                        last = single[single.count - 1].specialToken
                        if let last {
                            if !hasConfig {
                                eos = last
                            } else if last != eos {
                                // The template appends another token than the configured EOS (Qwen3-Embedding
                                // appends <|endoftext|>, its config names <|im_end|>): that token is what ends
                                // a sequence, and the configured one is kept as EOT (gguf-py, llama.cpp #14314).
                                if !roles.contains("eot") {
                                    roles.append("eot")
                                    tokenNames?["eot"] = eos
                                } else if !roles.contains("eom") {
                                    roles.append("eom")
                                    tokenNames?["eom"] = eos
                                }
                                tokenNames?["eos"] = last
                                eos = last
                            }
                            setFlag("eos", last == eos, overwrite: true)
                        }
                    }
                    if !pair.isEmpty, let addSeparator = Self.pairAddsSeparator(pair, first: first, last: last, sep: sep, eos: eos) {
                        setFlag("sep", addSeparator, overwrite: true)
                        if addSeparator, sep == nil, hasConfig { tokenNames?["sep"] = eos }
                    }
                }
            }
        }
        if let tokenizerConfig, let tokenNames {
            for role in roles {
                if let flag = tokenizerConfig.addFlags[role] { setFlag(role, flag, overwrite: false) }
                guard let content = tokenNames[role] else { continue }
                setID(role, addedTokenList.first { $0.content == content }?.id)
            }
        }
        for role in roles { setID(role, specialTokenIDs[role]) }

        self.tokens = tokens
        self.types = types
        self.merges = merges
        self.specialIDs = specialIDs
        self.addFlags = addFlags
        self.chatTemplate = tokenizerConfig?.chatTemplate
        self.ids = vocabulary
    }

    /// Whether the pair template puts a separator between the sequences (gguf-py's crude parse of
    /// `A [sep] [eos] B`); nil when the template says nothing about it.
    private static func pairAddsSeparator(_ pair: [TokenizerFile.TemplatePiece], first: String?, last: String?,
                                          sep: String?, eos: String?) -> Bool? {
        var pair = pair
        if let first, let head = pair.first, head.specialToken == first { pair.removeFirst() }
        if let last, let tail = pair.last, tail.specialToken == last { pair.removeLast() }
        guard pair.count > 2, pair[0].sequence == "A", pair[pair.count - 1].sequence == "B" else { return nil }
        let middle = Array(pair[1..<(pair.count - 1)])
        var add = false
        if let entry = middle[0].specialToken, entry == sep || entry == eos, last == nil { add = true }
        if middle.count == 2, let entry = middle[1].specialToken, entry == sep || entry == eos { add = true }
        return add
    }

    private static func unreadable(_ path: String, _ reason: String) -> ModelToolsError {
        .unreadableConfiguration(path: path, reason: reason)
    }
}

/// What the converter reads from `tokenizer_config.json`: the special-token spellings, add flags,
/// tokenizer class and chat template (its added tokens are read by the Tokenizer module).
private struct TokenizerConfiguration {
    /// `<role>_token` spellings by role (a string, or an AddedToken object's `content`).
    var tokenNames: [String: String] = [:]
    /// `add_<role>_token` flags by role (JSON booleans only).
    var addFlags: [String: Bool] = [:]
    /// `tokenizer_class`.
    var tokenizerClass: String?
    /// `chat_template`: a string, or a list of named templates.
    var chatTemplate: GGUFVocabulary.ChatTemplate?

    /// The roles whose entries are read (gguf-py's, with the EOT/EOM roles a template may add).
    static let roles = GGUFVocabulary.roles + ["eot", "eom"]

    /// Reads `path`; nil when there is no such file. A FIFO is refused, not waited on.
    init?(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try RegularFile.contents(atPath: path)
        // Lenient about repeated keys (the last wins), as Python's json module reads this file.
        guard let root = try? JSONValue.parse(data, options: .lenient), root.object != nil else {
            throw ModelToolsError.unreadableConfiguration(path: path, reason: "not a JSON object")
        }
        for role in Self.roles {
            if let flag = root["add_\(role)_token"]?.bool { addFlags[role] = flag }
            let entry = root["\(role)_token"]
            if let name = entry?.string ?? entry?["content"]?.string { tokenNames[role] = name }
        }
        tokenizerClass = root["tokenizer_class"]?.string
        if let template = root["chat_template"]?.string {
            chatTemplate = .single(template)
        } else if let list = root["chat_template"]?.array, list.allSatisfy({ $0.object != nil }) {
            chatTemplate = .named(list.compactMap { entry in
                guard let name = entry["name"]?.string, let template = entry["template"]?.string else { return nil }
                return (name, template)
            })
        }
    }
}
