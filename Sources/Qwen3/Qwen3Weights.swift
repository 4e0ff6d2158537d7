import Foundation
import ModelFormats

/// A weight matrix converted to fp32 once at load time, `rows × columns`, row-major.
///
/// (The fast-CPU work replaces this with kernels that read bf16 weights in place.)
public final class WeightMatrix: @unchecked Sendable {
    /// Output features (rows of the PyTorch `nn.Linear` weight).
    public let rows: Int
    /// Input features.
    public let columns: Int
    /// The values; immutable after initialisation, which makes sharing across threads safe.
    public let values: UnsafeMutableBufferPointer<Float>

    /// Converts a checkpoint tensor of shape `[rows, columns]`.
    public init(_ tensor: Tensor) {
        rows = tensor.shape[0]
        columns = tensor.shape.count > 1 ? tensor.shape[1] : 1
        values = .allocate(capacity: rows * columns)
        tensor.copyElements(from: 0, count: rows * columns, into: values.baseAddress!)
    }

    deinit { values.deallocate() }
}

/// The weights of one decoder layer.
public struct Qwen3LayerWeights: Sendable {
    /// RMSNorm before attention.
    public let inputNorm: [Float]
    /// Query projection, `(heads·headDim) × hidden`.
    public let queryProjection: WeightMatrix
    /// Key projection, `(kvHeads·headDim) × hidden`.
    public let keyProjection: WeightMatrix
    /// Value projection, `(kvHeads·headDim) × hidden`.
    public let valueProjection: WeightMatrix
    /// Output projection, `hidden × (heads·headDim)`.
    public let outputProjection: WeightMatrix
    /// Per-head RMSNorm of queries (`headDim`).
    public let queryNorm: [Float]
    /// Per-head RMSNorm of keys (`headDim`).
    public let keyNorm: [Float]
    /// RMSNorm before the MLP.
    public let postAttentionNorm: [Float]
    /// SwiGLU gate projection, `intermediate × hidden`.
    public let gateProjection: WeightMatrix
    /// SwiGLU up projection, `intermediate × hidden`.
    public let upProjection: WeightMatrix
    /// MLP down projection, `hidden × intermediate`.
    public let downProjection: WeightMatrix
}

/// All weights of a Qwen3 model, bound by name from a safetensors checkpoint and checked against the
/// configuration's shapes.
public struct Qwen3Weights: Sendable {
    /// The token embedding table, `vocab × hidden`, left memory-mapped in its file dtype; rows are
    /// converted on demand.
    public let tokenEmbedding: Tensor
    /// Decoder layers in order.
    public let layers: [Qwen3LayerWeights]
    /// The final RMSNorm.
    public let finalNorm: [Float]
    /// The LM head (`vocab × hidden`): a separate `lm_head.weight`, or the embedding table when tied.
    /// Only individual rows are ever read from it.
    public let languageModelHead: Tensor?

    /// Binds the weights of `checkpoint` for `configuration`. Accepts names with and without the
    /// `model.` prefix (embedding checkpoints were saved from the bare model).
    public init(checkpoint: SafetensorsCheckpoint, configuration c: Qwen3Configuration) throws {
        let prefix = checkpoint.tensor(named: "model.embed_tokens.weight") != nil ? "model." : ""
        func require(_ name: String, _ shape: [Int]) throws -> Tensor {
            let fullName = prefix + name
            guard checkpoint.tensor(named: fullName) != nil else {
                throw Qwen3Error.missingTensor(name: fullName, directory: checkpoint.directory)
            }
            return try checkpoint.requireTensor(named: fullName, shape: shape)
        }
        let hidden = c.hiddenSize
        let queryWidth = c.attentionHeads * c.headDimension
        let keyValueWidth = c.keyValueHeads * c.headDimension
        tokenEmbedding = try require("embed_tokens.weight", [c.vocabularySize, hidden])
        var layers: [Qwen3LayerWeights] = []
        layers.reserveCapacity(c.layerCount)
        for index in 0..<c.layerCount {
            let layer = "layers.\(index)."
            layers.append(Qwen3LayerWeights(
                inputNorm: try require(layer + "input_layernorm.weight", [hidden]).floats(),
                queryProjection: WeightMatrix(try require(layer + "self_attn.q_proj.weight", [queryWidth, hidden])),
                keyProjection: WeightMatrix(try require(layer + "self_attn.k_proj.weight", [keyValueWidth, hidden])),
                valueProjection: WeightMatrix(try require(layer + "self_attn.v_proj.weight", [keyValueWidth, hidden])),
                outputProjection: WeightMatrix(try require(layer + "self_attn.o_proj.weight", [hidden, queryWidth])),
                queryNorm: try require(layer + "self_attn.q_norm.weight", [c.headDimension]).floats(),
                keyNorm: try require(layer + "self_attn.k_norm.weight", [c.headDimension]).floats(),
                postAttentionNorm: try require(layer + "post_attention_layernorm.weight", [hidden]).floats(),
                gateProjection: WeightMatrix(try require(layer + "mlp.gate_proj.weight", [c.intermediateSize, hidden])),
                upProjection: WeightMatrix(try require(layer + "mlp.up_proj.weight", [c.intermediateSize, hidden])),
                downProjection: WeightMatrix(try require(layer + "mlp.down_proj.weight", [hidden, c.intermediateSize]))
            ))
        }
        self.layers = layers
        finalNorm = try require("norm.weight", [hidden]).floats()
        if checkpoint.tensor(named: "lm_head.weight") != nil {
            languageModelHead = try checkpoint.requireTensor(named: "lm_head.weight", shape: [c.vocabularySize, hidden])
        } else if c.tieWordEmbeddings {
            languageModelHead = tokenEmbedding
        } else {
            languageModelHead = nil
        }
    }
}
