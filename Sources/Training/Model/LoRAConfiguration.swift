import Foundation

/// A projection LoRA can adapt (PEFT's `target_modules` names).
public enum LoRATarget: String, Sendable, CaseIterable, Codable {
    /// The attention query projection.
    case queryProjection = "q_proj"
    /// The attention key projection.
    case keyProjection = "k_proj"
    /// The attention value projection.
    case valueProjection = "v_proj"
    /// The attention output projection.
    case outputProjection = "o_proj"
    /// The MLP gate projection.
    case gateProjection = "gate_proj"
    /// The MLP up projection.
    case upProjection = "up_proj"
    /// The MLP down projection.
    case downProjection = "down_proj"

    /// The module path inside a layer (`self_attn.q_proj`, `mlp.gate_proj`, …).
    public var modulePath: String {
        switch self {
        case .queryProjection, .keyProjection, .valueProjection, .outputProjection: return "self_attn." + rawValue
        case .gateProjection, .upProjection, .downProjection: return "mlp." + rawValue
        }
    }
}

/// LoRA hyper-parameters: `y = W x + (alpha / rank) · B (A x)` on every targeted projection.
public struct LoRAConfiguration: Sendable, Equatable {
    /// The rank r of A `[r, in]` and B `[out, r]`.
    public var rank: Int
    /// The scaling numerator: updates are scaled by `alpha / rank`.
    public var alpha: Float
    /// The adapted projections (default: all seven).
    public var targets: [LoRATarget]

    /// A configuration; the defaults are the (rank 16, alpha 32, all seven projections).
    public init(rank: Int = 16, alpha: Float = 32, targets: [LoRATarget] = LoRATarget.allCases) {
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
    }

    /// `alpha / rank`.
    public var scale: Float { alpha / Float(rank) }
}

/// What a training run updates.
public enum TrainingMethod: Sendable, Equatable {
    /// Low-rank adapters on the chosen projections; the base weights stay frozen in their file dtype.
    case lora(LoRAConfiguration)
    /// Every weight, embeddings and norms included (fp32 master copies).
    case full
}

/// Errors from building or saving a trainable model; each names the file or value involved.
public enum TrainableModelError: Error, LocalizedError, Equatable {
    /// Training needs the safetensors weights (a GGUF file is quantized or laid out for inference).
    case ggufInput(String)
    /// The LoRA configuration is unusable.
    case invalidLoRAConfiguration(String)
    /// Initial LoRA values do not match the model (missing, unexpected or wrongly shaped tensors).
    case invalidInitialValues(String)
    /// The model has no LM head, so reranker logits cannot be computed.
    case missingLanguageModelHead
    /// A sequence cannot be run (empty, too long, or with an unknown token id).
    case invalidSequence(String)

    /// A one-line description.
    public var errorDescription: String? {
        switch self {
        case .ggufInput(let path):
            return "\(path) is a GGUF model; training needs the Hugging Face safetensors directory (train from safetensors, quantize afterwards)"
        case .invalidLoRAConfiguration(let detail): return "invalid LoRA configuration: \(detail)"
        case .invalidInitialValues(let detail): return "invalid initial LoRA values: \(detail)"
        case .missingLanguageModelHead:
            return "the model has no LM head (lm_head.weight, or tied embeddings): a reranker cannot be trained on it"
        case .invalidSequence(let detail): return "invalid training sequence: \(detail)"
        }
    }
}
