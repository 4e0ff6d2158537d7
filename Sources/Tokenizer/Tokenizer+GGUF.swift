/// The tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.*`).
///
/// GGUF keeps no tokenizer.json: llama.cpp's converter flattens it into a token list, one type per
/// token and the merges. For Qwen ("gpt2" model, "qwen2" pre-tokenizer) that is everything the
/// tokenizer.json pipeline needs, mapped as follows:
///
/// - NORMAL (1), UNKNOWN (2) and BYTE (6) tokens form the BPE vocabulary (tokenizer.json's
///   `model.vocab`);
/// - CONTROL (3) tokens are added tokens marked special (`<|endoftext|>`, `<|im_start|>`…) and
///   USER_DEFINED (4) tokens added tokens that are not (`<think>`, `<tool_call>`…): matched in the raw
///   text before BPE and never split, like tokenizer.json's `added_tokens` (the converter writes them
///   already normalised, so they match un-normalised, as Qwen's `normalized: false` entries do);
/// - UNUSED (5) tokens are the converter's `[PAD<id>]` fillers for ids the Hugging Face tokenizer does
///   not have: left out, so those ids decode to nothing, as in `tokenizers`;
/// - the normaliser is NFC, the pre-tokenizer the Qwen split pattern, the decoder byte-level, and the
///   post-processor adds BOS / EOS as the caller asks — for the Qwen3-Embedding file this gives exactly
///   tokenizer.json's `TemplateProcessing` (`$A <|endoftext|>`).
extension Tokenizer {
    /// Builds the byte-level BPE tokenizer from GGUF tokenizer metadata (`tokenizer.ggml.model`
    /// "gpt2", `.pre` "qwen2", `.tokens`, `.token_type`, `.merges`, the eos / padding / bos ids and
    /// `add_bos_token` / `add_eos_token`).
    ///
    /// - Parameters:
    ///   - tokens: spelling of each id (`tokenizer.ggml.tokens`).
    ///   - tokenTypes: one type per token (`tokenizer.ggml.token_type`); empty means all NORMAL, as in
    ///     llama.cpp when the key is absent.
    ///   - merges: "left right" lines, highest priority first (`tokenizer.ggml.merges`).
    ///   - eosTokenID, paddingTokenID, bosTokenID: checked to be valid ids when given.
    ///   - addBOS, addEOS: whether `encode(_:addSpecialTokens: true)` prepends BOS / appends EOS. The
    ///     caller decides: embedding models need EOS appended even when the file's `add_eos_token` is
    ///     false (llama.cpp issue #14252).
    ///   - preTokenizer: `tokenizer.ggml.pre`; only "qwen2" (the Qwen2 / Qwen3 split regex) is
    ///     implemented.
    ///   - model: `tokenizer.ggml.model`; only "gpt2" (byte-level BPE) is implemented.
    ///   - path: the file the metadata came from, for error messages.
    /// - Throws: `TokenizerError.unsupportedComponent` for another model or pre-tokenizer,
    ///   `TokenizerError.malformedFile` for inconsistent metadata (type count, unknown type, a merge
    ///   that is not "a b" or uses a missing token, an out-of-range special id, EOS/BOS requested but
    ///   absent).
    public convenience init(
        ggufTokens tokens: [String], tokenTypes: [Int], merges: [String],
        eosTokenID: Int?, paddingTokenID: Int?, bosTokenID: Int?,
        addBOS: Bool, addEOS: Bool, preTokenizer: String,
        model: String = "gpt2", path: String = "GGUF tokenizer metadata"
    ) throws {
        try self.init(TokenizerFile(
            ggufTokens: tokens, tokenTypes: tokenTypes, merges: merges, eosTokenID: eosTokenID,
            paddingTokenID: paddingTokenID, bosTokenID: bosTokenID, addBOS: addBOS, addEOS: addEOS,
            preTokenizer: preTokenizer, model: model, path: path))
    }
}

/// llama.cpp's token types (`llama_token_type`), the values of `tokenizer.ggml.token_type`.
enum GGUFTokenType: Int {
    case normal = 1, unknown, control, userDefined, unused, byte
}

extension TokenizerFile {
    /// Reads GGUF tokenizer metadata into the same structure tokenizer.json produces.
    init(
        ggufTokens tokens: [String], tokenTypes: [Int], merges mergeLines: [String],
        eosTokenID: Int?, paddingTokenID: Int?, bosTokenID: Int?,
        addBOS: Bool, addEOS: Bool, preTokenizer: String, model: String, path: String
    ) throws {
        self.path = path
        guard model == "gpt2" else {
            throw unsupported("model", "tokenizer.ggml.model \"\(model)\" (only \"gpt2\", byte-level BPE, is implemented)")
        }
        guard preTokenizer == "qwen2" else {
            throw unsupported("pre_tokenizer", "tokenizer.ggml.pre \"\(preTokenizer)\" (only \"qwen2\", the Qwen2/Qwen3 split pattern, is implemented)")
        }
        guard !tokens.isEmpty, tokens.count <= Self.idLimit else {
            throw malformed("tokenizer.ggml.tokens has \(tokens.count) entries (expected 1 ..< 2^24)")
        }
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw malformed("tokenizer.ggml.token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            let rawType = tokenTypes.isEmpty ? GGUFTokenType.normal.rawValue : tokenTypes[id]
            guard let type = GGUFTokenType(rawValue: rawType) else {
                throw malformed("tokenizer.ggml.token_type[\(id)] is \(rawType), not a llama.cpp token type (1–6)")
            }
            switch type {
            case .normal, .unknown, .byte:
                vocabulary.append((token, id))
            case .control, .userDefined:
                addedTokens.append(AddedVocabulary.Token(content: token, id: id, special: type == .control, normalized: false))
            case .unused:
                continue
            }
        }
        merges.reserveCapacity(mergeLines.count)
        for (index, line) in mergeLines.enumerated() {
            guard let pair = Self.mergePair(line) else { throw malformed("tokenizer.ggml.merges[\(index)] is not \"a b\"") }
            merges.append(pair)
        }
        for (key, id) in [("eos", eosTokenID), ("padding", paddingTokenID), ("bos", bosTokenID)] {
            if let id, !(0..<tokens.count).contains(id) {
                throw malformed("tokenizer.ggml.\(key)_token_id \(id) is not an id of the \(tokens.count) tokens")
            }
        }
        var prefix: [Int] = [], suffix: [Int] = []
        if addBOS {
            guard let bosTokenID else { throw malformed("BOS is to be added but tokenizer.ggml.bos_token_id is missing") }
            prefix = [bosTokenID]
        }
        if addEOS {
            guard let eosTokenID else { throw malformed("EOS is to be added but tokenizer.ggml.eos_token_id is missing") }
            suffix = [eosTokenID]
        }
        postProcessor = PostProcessor(prefix: prefix, suffix: suffix)
        normalizer = .nfc
        decoder = .byteLevel
    }
}
