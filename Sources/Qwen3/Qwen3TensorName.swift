import ModelFormats

/// One weight of a Qwen3 decoder, with the names Hugging Face checkpoints and llama.cpp's GGUF files
/// give it and the shape the configuration implies.
///
/// This is the one table of Hugging Face ↔ GGUF tensor names (llama.cpp keeps the same facts in
/// `src/llama-arch.cpp` and `gguf-py/gguf/tensor_mapping.py`): the safetensors loader, the GGUF loader
/// and the GGUF converter all bind weights through it, so a name can never be spelled differently by
/// the code that writes a file and the code that reads it.
public enum Qwen3TensorName: Sendable, Hashable, CustomStringConvertible {
    /// The token embedding table, `vocab × hidden`.
    case tokenEmbedding
    /// A weight of decoder layer `index`.
    case layer(_ index: Int, LayerWeight)
    /// The RMSNorm after the last layer, `hidden`.
    case finalNorm
    /// The LM head, `vocab × hidden` (absent when tied to the embedding).
    case languageModelHead
    /// llama.cpp's classification head of a converted reranker: the LM head's rows of its labels
    /// (`labels × hidden`). A Hugging Face checkpoint has no such tensor; the converter builds it from
    /// `languageModelHead`'s rows.
    case classifier

    /// The weights of one decoder layer, in the order llama.cpp's converter writes them.
    public enum LayerWeight: String, Sendable, Hashable, CaseIterable {
        /// RMSNorm before attention, `hidden`.
        case inputNorm
        /// Query projection, `heads·headDim × hidden`.
        case query
        /// Key projection, `kvHeads·headDim × hidden`.
        case key
        /// Value projection, `kvHeads·headDim × hidden`.
        case value
        /// Attention output projection, `hidden × heads·headDim`.
        case output
        /// Per-head RMSNorm of queries, `headDim`.
        case queryNorm
        /// Per-head RMSNorm of keys, `headDim`.
        case keyNorm
        /// RMSNorm before the MLP, `hidden`.
        case postAttentionNorm
        /// SwiGLU gate projection, `intermediate × hidden`.
        case gate
        /// SwiGLU up projection, `intermediate × hidden`.
        case up
        /// MLP down projection, `hidden × intermediate`.
        case down

        /// The name inside `model.layers.N.` of a Hugging Face checkpoint.
        var huggingFaceName: String {
            switch self {
            case .inputNorm: return "input_layernorm"
            case .query: return "self_attn.q_proj"
            case .key: return "self_attn.k_proj"
            case .value: return "self_attn.v_proj"
            case .output: return "self_attn.o_proj"
            case .queryNorm: return "self_attn.q_norm"
            case .keyNorm: return "self_attn.k_norm"
            case .postAttentionNorm: return "post_attention_layernorm"
            case .gate: return "mlp.gate_proj"
            case .up: return "mlp.up_proj"
            case .down: return "mlp.down_proj"
            }
        }

        /// The name inside `blk.N.` of a GGUF file.
        var ggufName: String {
            switch self {
            case .inputNorm: return "attn_norm"
            case .query: return "attn_q"
            case .key: return "attn_k"
            case .value: return "attn_v"
            case .output: return "attn_output"
            case .queryNorm: return "attn_q_norm"
            case .keyNorm: return "attn_k_norm"
            case .postAttentionNorm: return "ffn_norm"
            case .gate: return "ffn_gate"
            case .up: return "ffn_up"
            case .down: return "ffn_down"
            }
        }
    }

    /// The decoder's weights in the order llama.cpp's converter writes them: the embedding, every
    /// layer's weights, the final norm (the LM head or classifier, which depend on the model, follow).
    public static func decoder(layerCount: Int) -> [Qwen3TensorName] {
        [.tokenEmbedding]
            + (0..<layerCount).flatMap { index in LayerWeight.allCases.map { Qwen3TensorName.layer(index, $0) } }
            + [.finalNorm]
    }

    /// The Hugging Face name. `prefix` is `"model."` for `Qwen3ForCausalLM` checkpoints and empty for
    /// bare `Qwen3Model` ones (see `huggingFacePrefix(of:)`); the LM head never carries it. The
    /// classifier has no Hugging Face tensor of its own and is named after the LM head it is cut from.
    public func huggingFaceName(prefix: String) -> String {
        switch self {
        case .tokenEmbedding: return prefix + "embed_tokens.weight"
        case .layer(let index, let weight): return "\(prefix)layers.\(index).\(weight.huggingFaceName).weight"
        case .finalNorm: return prefix + "norm.weight"
        case .languageModelHead, .classifier: return "lm_head.weight"
        }
    }

    /// The llama.cpp GGUF name (`token_embd.weight`, `blk.N.attn_q.weight`, …).
    public var ggufName: String {
        switch self {
        case .tokenEmbedding: return "token_embd.weight"
        case .layer(let index, let weight): return "blk.\(index).\(weight.ggufName).weight"
        case .finalNorm: return "output_norm.weight"
        case .languageModelHead: return "output.weight"
        case .classifier: return "cls.output.weight"
        }
    }

    /// The shape `configuration` implies, in PyTorch order (rows first; GGUF lists the dimensions
    /// reversed). The classifier's row count is its number of labels, which the configuration does not
    /// know: its shape is given as the LM head's, whose rows it selects.
    public func shape(for configuration: Qwen3Configuration) -> [Int] {
        let c = configuration
        let hidden = c.hiddenSize
        switch self {
        case .tokenEmbedding, .languageModelHead, .classifier:
            return [c.vocabularySize, hidden]
        case .finalNorm:
            return [hidden]
        case .layer(_, let weight):
            switch weight {
            case .inputNorm, .postAttentionNorm: return [hidden]
            case .queryNorm, .keyNorm: return [c.headDimension]
            case .query: return [c.attentionHeads * c.headDimension, hidden]
            case .key, .value: return [c.keyValueHeads * c.headDimension, hidden]
            case .output: return [hidden, c.attentionHeads * c.headDimension]
            case .gate, .up: return [c.intermediateSize, hidden]
            case .down: return [hidden, c.intermediateSize]
            }
        }
    }

    /// `"model."` when the checkpoint was saved from `Qwen3ForCausalLM` (its names carry the prefix),
    /// empty for a bare `Qwen3Model` (embedding checkpoints are saved that way).
    public static func huggingFacePrefix(of checkpoint: SafetensorsCheckpoint) -> String {
        checkpoint.tensor(named: Qwen3TensorName.tokenEmbedding.huggingFaceName(prefix: "model.")) != nil ? "model." : ""
    }

    /// The GGUF name, which is unique across the table.
    public var description: String { ggufName }
}
