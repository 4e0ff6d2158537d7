import Foundation
import Qwen3

/// The trainable view of one decoder layer: its four linear layers (each a `TrainableLinear`, the same
/// objects the shared forward runs) and, in full fine-tuning, its four norm weights as parameters.
struct TrainableLayer {
    let queryKeyValue: TrainableLinear
    let output: TrainableLinear
    let gateUp: TrainableLinear
    let down: TrainableLinear
    /// `nil` when the norms are frozen (LoRA).
    let inputNorm: TrainableParameter?
    let queryNorm: TrainableParameter?
    let keyNorm: TrainableParameter?
    let postAttentionNorm: TrainableParameter?
}
