import Foundation

/// One trainable tensor: fp32 master values, the gradient accumulated for the current step, and its name.
///
/// Names are the checkpoint's own, without the `model.` prefix a causal-LM checkpoint adds
/// (`layers.0.self_attn.q_proj.weight`, `embed_tokens.weight`, `norm.weight`, `lm_head.weight`); LoRA
/// factors are named after the module they adapt (`layers.0.self_attn.q_proj.lora_A.weight`, `…lora_B.weight`),
/// which is PEFT's key without its `base_model.model.` prefix. Optimisers, checkpoints and the gradient
/// tests all key parameters by this name.
///
/// A parameter is a reference type because the model reads `values` where it is bound while the
/// optimiser updates it in place; only one training step touches it at a time.
public final class TrainableParameter: @unchecked Sendable {
    /// The canonical name (see the type's documentation).
    public let name: String
    /// PyTorch shape, row-major (`[out, in]` for a linear weight, `[rank, in]` for LoRA A, `[out, rank]` for B).
    public let shape: [Int]
    /// fp32 master values, `shape.reduce(1, *)` of them.
    public var values: [Float]
    /// The gradient of the loss with respect to `values`, accumulated by backward passes until zeroed.
    public var gradients: [Float]

    /// A parameter with the given values and a zero gradient.
    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): \(values.count) values for shape \(shape)")
        self.name = name
        self.shape = shape
        self.values = values
        self.gradients = [Float](repeating: 0, count: values.count)
    }

    /// Number of scalar values.
    public var count: Int { values.count }

    /// Sets the gradient to zero (before a step's backward passes).
    public func zeroGradients() {
        for index in gradients.indices { gradients[index] = 0 }
    }
}
