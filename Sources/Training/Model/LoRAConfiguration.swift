import Foundation
import Qwen3

/// A projection LoRA can adapt: the Qwen3 module's `LoRAModule` (PEFT's `target_modules` names), the one
/// list of adaptable projections that loading an adapter and training one share.
public typealias LoRATarget = LoRAModule

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
