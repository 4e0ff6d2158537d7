import Foundation

/// A byte-level BPE tokenizer that gives the same ids as Hugging Face `tokenizers` for the Qwen2/Qwen3
/// tokenizer files.
///
/// The pipeline, as in `tokenizers`: added tokens are matched in the raw text first (never split) →
/// the text between them is NFC-normalised → split by the Qwen pre-tokenizer pattern → each piece's
/// UTF-8 bytes are BPE-merged → the post-processor (e.g. `TemplateProcessing`) adds its special tokens.
/// Components the Qwen files do not use are refused when loading rather than approximated, so a
/// tokenizer that loads gives Hugging Face's ids.
///
/// Instances are immutable apart from an internal, lock-protected cache: share one across threads.
public final class Tokenizer: Sendable {
    /// Vocabulary spelling → id.
    private let vocabulary: SpellingTable
    /// Added token content → id; looked up before the vocabulary, as in `tokenizers`.
    private let addedTokenIDs: SpellingTable
    /// Id → spelling (nil for ids no token has).
    private let tokensByID: [String?]
    /// Ids of added tokens marked `special`, skipped by `decode(_:skipSpecialTokens: true)`.
    private let specialIDs: Set<Int>
    // Internal rather than private: `encodeWithOffsets` (Tokenizer+Offsets.swift) walks the same pipeline.
    let addedVocabulary: AddedVocabulary
    let normalizer: Normalizer
    let preTokenizer = QwenPreTokenizer()
    /// The BPE model (internal so tests can compare its two merge strategies).
    let model: BytePairEncoding
    let postProcessor: PostProcessor
    private let decoder: Decoder

    /// The number of ids: the highest id (vocabulary or added token) + 1. 151 669 for Qwen3.
    public var vocabularySize: Int { tokensByID.count }

    /// The number of ids the post-processor adds to a single sequence when `addSpecialTokens` is true
    /// (1 for Qwen3-Embedding's trailing `<|endoftext|>`, 0 for Qwen3-Reranker).
    public var numberOfAddedSpecialTokens: Int { postProcessor.prefix.count + postProcessor.suffix.count }

    // MARK: - Loading

    /// Loads the tokenizer in a model directory.
    ///
    /// Reads `tokenizer.json` if present. Otherwise falls back to `vocab.json` + `merges.txt`, with the
    /// added tokens of `tokenizer_config.json` (`added_tokens_decoder`) if that file exists; this
    /// fallback behaves like transformers' `Qwen2Tokenizer`: NFC, the Qwen split pattern, byte-level
    /// BPE, and no post-processor (nothing is appended).
    ///
    /// - Throws: `TokenizerError` naming the missing or malformed file and the field involved.
    public static func load(directory: URL) throws -> Tokenizer {
        let jsonURL = directory.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: jsonURL.path) {
            return try Tokenizer(tokenizerJSON: readFile(jsonURL), path: jsonURL.path)
        }
        return try Tokenizer(vocabularyAndMergesIn: directory)
    }

    /// Parses the contents of a `tokenizer.json` file.
    ///
    /// - Throws: `TokenizerError.malformedFile` for invalid JSON or missing fields,
    ///   `TokenizerError.unsupportedComponent` for a model, normaliser, pre-tokenizer, post-processor or
    ///   decoder this implementation does not reproduce exactly.
    public convenience init(tokenizerJSON data: Data) throws {
        try self.init(tokenizerJSON: data, path: "tokenizer.json")
    }

    private convenience init(tokenizerJSON data: Data, path: String) throws {
        let file = try TokenizerFile(tokenizerJSON: data, path: path)
        try self.init(file)
    }

    private convenience init(vocabularyAndMergesIn directory: URL) throws {
        let file = try TokenizerFile(vocabularyAndMergesIn: directory)
        try self.init(file)
    }

    /// Builds the tables from parsed files (internal: the GGUF initialiser in Tokenizer+GGUF.swift uses it too).
    init(_ file: TokenizerFile) throws {
        // Merges refer to tokens by spelling: resolve them against the model's own vocabulary.
        let vocabulary = SpellingTable(file.vocabulary)
        var byteIDs = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            let spelling = ByteLevel.spelling(of: UInt8(byte))
            guard let id = vocabulary.id(spelling) else {
                throw file.malformed("the vocabulary lacks the byte-level token \"\(spelling)\" for byte \(byte)")
            }
            byteIDs[byte] = Int32(id)
        }
        var merges: [(left: Int32, right: Int32, merged: Int32)] = []
        merges.reserveCapacity(file.merges.count)
        for (rank, (left, right)) in file.merges.enumerated() {
            guard let leftID = vocabulary.id(left), let rightID = vocabulary.id(right),
                  let mergedID = vocabulary.id(concatenating: left, right) else {
                throw file.malformed("merge \(rank) \"\(left) \(right)\" uses a token missing from the vocabulary")
            }
            merges.append((Int32(leftID), Int32(rightID), Int32(mergedID)))
        }

        let highestID = max(file.vocabulary.lazy.map(\.id).max() ?? -1, file.addedTokens.lazy.map(\.id).max() ?? -1)
        var tokensByID = [String?](repeating: nil, count: highestID + 1)
        for (token, id) in file.vocabulary { tokensByID[id] = token }
        for token in file.addedTokens { tokensByID[token.id] = token.content }

        self.vocabulary = vocabulary
        addedTokenIDs = SpellingTable(file.addedTokens.map { ($0.content, $0.id) })
        self.tokensByID = tokensByID
        specialIDs = Set(file.addedTokens.filter(\.special).map(\.id))
        normalizer = file.normalizer
        addedVocabulary = AddedVocabulary(tokens: file.addedTokens, normalize: file.normalizer.apply)
        model = BytePairEncoding(byteIDs: byteIDs, merges: MergeTable(merges))
        postProcessor = file.postProcessor
        decoder = file.decoder
    }

    private static func readFile(_ url: URL) throws -> Data {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TokenizerError.missingFile(url.path) }
        return data
    }

    // MARK: - Encoding

    /// The token ids of `text`.
    ///
    /// Added tokens written in the text (`<|im_start|>`, `<think>`, …) are always matched as single
    /// tokens, whatever `addSpecialTokens` says, as in `tokenizers`.
    ///
    /// - Parameters:
    ///   - addSpecialTokens: apply the post-processor (for the Qwen3-Embedding tokenizer: append
    ///     `<|endoftext|>`; for Qwen3-Reranker: nothing).
    ///   - maxLength: keep at most this many ids in total. The text's own ids are truncated from the
    ///     right to `maxLength - numberOfAddedSpecialTokens` first, then the post-processor's ids are
    ///     added, so they always survive (Hugging Face's truncation semantics). Unlike `tokenizers`,
    ///     whose unsigned subtraction wraps around and then truncates nothing, a `maxLength` smaller
    ///     than `numberOfAddedSpecialTokens` yields just the special tokens.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        var text = text
        text.withUTF8 { utf8 in
            addedVocabulary.raw.split(utf8) { segment in
                switch segment {
                case .token(let id):
                    ids.append(id)
                case .text(let range):
                    encodeText(UnsafeBufferPointer(rebasing: utf8[range]), into: &ids)
                }
            }
        }
        let added = addSpecialTokens ? postProcessor : PostProcessor.empty
        if let maxLength {
            let budget = max(0, maxLength - added.prefix.count - added.suffix.count)
            if ids.count > budget { ids.removeLast(ids.count - budget) }
        }
        if added.prefix.isEmpty && added.suffix.isEmpty { return ids }
        return added.prefix + ids + added.suffix
    }

    /// Text between raw-matched added tokens: normalise, match normalised added tokens, pre-tokenize,
    /// BPE.
    private func encodeText(_ utf8: UnsafeBufferPointer<UInt8>, into ids: inout [Int]) {
        if normalizer == .none || Normalizer.isASCII(utf8) {
            // NFC leaves ASCII unchanged: the common case skips building a String.
            encodeNormalized(utf8, into: &ids)
            return
        }
        var normalized = normalizer.apply(String(decoding: utf8, as: UTF8.self))
        normalized.withUTF8 { encodeNormalized($0, into: &ids) }
    }

    private func encodeNormalized(_ utf8: UnsafeBufferPointer<UInt8>, into ids: inout [Int]) {
        guard let matcher = addedVocabulary.normalized else {
            preTokenizer.split(utf8) { model.encode(UnsafeBufferPointer(rebasing: utf8[$0]), into: &ids) }
            return
        }
        matcher.split(utf8) { segment in
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let range):
                let run = UnsafeBufferPointer(rebasing: utf8[range])
                preTokenizer.split(run) { model.encode(UnsafeBufferPointer(rebasing: run[$0]), into: &ids) }
            }
        }
    }

    // MARK: - Decoding and lookup

    /// The text of `ids`.
    ///
    /// With the `ByteLevel` decoder, token spellings are mapped back to bytes and the bytes decoded as
    /// UTF-8, invalid sequences becoming U+FFFD (one per maximal invalid subpart, like Rust's
    /// `from_utf8_lossy`). Ids that no token has (negative, too large, or gaps) are skipped, as
    /// `tokenizers` does; decoding never fails.
    ///
    /// - Parameter skipSpecialTokens: leave out added tokens marked `special` (`<|endoftext|>`,
    ///   `<|im_start|>`…); non-special added tokens such as `<think>` are kept.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard id >= 0, id < tokensByID.count, let token = tokensByID[id] else { continue }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            tokens.append(token)
        }
        switch decoder {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens { ByteLevel.appendBytes(of: token, to: &bytes) }
            return String(decoding: bytes, as: UTF8.self)
        case .none:
            // `tokenizers` without a decoder joins the token spellings with spaces.
            return tokens.joined(separator: " ")
        }
    }

    /// The id of a token spelling — a vocabulary entry (byte-level spelling, e.g. `"Ġthe"`) or an added
    /// token — e.g. `"yes"` → 9693, `"<|endoftext|>"` → 151643. Nil if there is no such token.
    public func id(forToken token: String) -> Int? { addedTokenIDs.id(token) ?? vocabulary.id(token) }

    /// The spelling of an id (byte-level for vocabulary entries), or nil if no token has this id.
    public func token(forID id: Int) -> String? {
        guard id >= 0, id < tokensByID.count else { return nil }
        return tokensByID[id]
    }
}
