import Foundation
import Kernels
import ModelFormats
import Qwen3
import Tokenizer

/// What a loaded model is used for; decides tokenizer details a GGUF file may get wrong.
enum ModelRole {
    /// Embeddings: the tokenizer must append `<|endoftext|>` (the pooled token), whatever the file says.
    case embedding
    /// Reranking: the prompt body gets the special tokens the file asks for (`add_bos_token`, `add_eos_token`).
    case reranker
}

/// Loads a model and its tokenizer from a Hugging Face directory or a GGUF file (or a directory holding
/// just one; see `ModelLocation`), shared by `Embedder` and `Reranker`, and decides what kind of model it
/// is (see `ModelClassification`) after the weights loaded, so a broken model reports its own error
/// first. A missing path is reported as a missing model directory, as before GGUF support.
///
/// `adapter` names a PEFT LoRA adapter directory merged into the weights at load (directories only: a
/// GGUF model with an adapter is refused).
func loadModel(_ url: URL, precision: Precision, role: ModelRole, adapter: URL? = nil) throws -> (Qwen3Model, Tokenizer, ModelClassification) {
    let path = url.pathAsGiven
    let loraAdapter = try adapter.map { try LoRAAdapter(directory: $0.pathAsGiven) }
    if FileManager.default.fileExists(atPath: path), case .gguf(let path) = try ModelLocation(path: path) {
        if let adapter { throw LoRAAdapter.ggufRefusal(adapter: adapter.pathAsGiven, model: path) }
        let file = try GGUFFile(path: path)
        let model = try Qwen3Model(gguf: file, precision: precision)
        // llama.cpp #14252: some Qwen3-Embedding GGUFs say add_eos_token false, yet the model was trained
        // to be pooled at the appended <|endoftext|>.
        let tokenizer = try Tokenizer(gguf: file, forceEOS: role == .embedding)
        return (model, tokenizer, ModelClassification(gguf: file))
    }
    let model = try Qwen3Model(directory: path, precision: precision, adapter: loraAdapter)
    let tokenizer = try Tokenizer.load(directory: url)
    return (model, tokenizer, try ModelClassification(modelAt: url))
}

/// Throws `wrongModelKind` when `classification` contradicts `role`, unless `allowAnyModel`.
///
/// An embedder needs a model identified as an embedding model: a reranker's or a chat model's
/// last-token state is not an embedding. A reranker refuses only an identified embedding model: a
/// Qwen3-Reranker is a causal language model asked a yes/no question, and nothing in its files but
/// its name tells it from any other Qwen3 causal LM, so an unnamed one (a fine-tune, a renamed copy)
/// must still load.
func checkKind(_ classification: ModelClassification, of url: URL, for role: ModelRole, allowAnyModel: Bool) throws {
    guard !allowAnyModel else { return }
    let path = url.pathAsGiven
    switch role {
    case .embedding where classification.kind != .embedding:
        throw EmbeddingError.wrongModelKind(path: path, found: classification, expected: .embedding)
    case .reranker where classification.kind == .embedding:
        throw EmbeddingError.wrongModelKind(path: path, found: classification, expected: .reranker)
    default:
        break
    }
}

extension Tokenizer {
    /// The tokenizer of a model stored as a Hugging Face directory or a GGUF file (or a directory
    /// holding just one). A GGUF embedding model's tokenizer appends `<|endoftext|>` whatever the file
    /// says, as `Embedder` does; a file classified as a reranker (pooling type rank, a `cls.output` head, an official name)
    /// keeps the file's own flags, as `Reranker` does.
    ///
    /// - Parameter modelURL: the model directory, the `.gguf` file, or a directory holding just one
    ///   `.gguf` (a file URL); only the tokenizer files (or metadata) are read.
    public static func load(modelAt modelURL: URL) throws -> Tokenizer {
        let path = modelURL.pathAsGiven
        if FileManager.default.fileExists(atPath: path), case .gguf(let path) = try ModelLocation(path: path) {
            let file = try GGUFFile(path: path)
            return try Tokenizer(gguf: file, forceEOS: ModelClassification(gguf: file).kind != .reranker)
        }
        return try Tokenizer.load(directory: modelURL)
    }

    /// The byte-level BPE tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata (as llama.cpp's
    /// converter writes it for Qwen3: model "gpt2", pre-tokenizer "qwen2").
    ///
    /// - Parameter forceEOS: append `<|endoftext|>` to every encoding whatever the file's
    ///   `add_eos_token` says (embedding models; llama.cpp #14252). Older conversions also recorded
    ///   `<|im_end|>` as EOS (from tokenizer_config.json), while the embedding model pools at
    ///   `<|endoftext|>`, which its tokenizer.json post-processor appends; so that token is used.
    convenience init(gguf file: GGUFFile, forceEOS: Bool) throws {
        let metadata = try file.tokenizerMetadata()
        var eos = metadata.eosTokenID
        if forceEOS, let endOfText = metadata.tokens.firstIndex(of: "<|endoftext|>") {
            eos = endOfText
        }
        try self.init(
            ggufTokens: metadata.tokens, tokenTypes: metadata.tokenTypes, merges: metadata.merges, eosTokenID: eos,
            paddingTokenID: metadata.paddingTokenID, bosTokenID: metadata.bosTokenID, addBOS: metadata.addBOS,
            addEOS: forceEOS || metadata.addEOS, preTokenizer: metadata.preTokenizer, model: metadata.model,
            path: file.path)
    }
}
