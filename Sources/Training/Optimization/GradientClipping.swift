import Foundation

/// Gradient-norm clipping with the semantics of `torch.nn.utils.clip_grad_norm_(parameters, max_norm)`.
public enum GradientClipping {
    /// The total 2-norm of all gradients, ‖(‖g₁‖, ‖g₂‖, …)‖₂, rounded to Float as PyTorch's fp32 result is.
    ///
    /// Like PyTorch, the norm of each parameter's gradient is taken first (rounded to fp32) and the total
    /// is the norm of those norms; the sums themselves run in Double, so the result is at least as
    /// accurate as PyTorch's fp32 reductions and differs from it by an ulp at most.
    public static func totalNorm(_ parameters: [TrainableParameter]) -> Float {
        var total = 0.0
        for parameter in parameters {
            var sum = 0.0
            parameter.gradients.withUnsafeBufferPointer { g in
                for value in g { sum += Double(value) * Double(value) }
            }
            let norm = Double(Float(sum.squareRoot()))
            total += norm * norm
        }
        return Float(total.squareRoot())
    }

    /// Scales all gradients in place so that their total 2-norm is at most `maxNorm`, and returns the
    /// total norm before clipping (what the training log reports as `grad_norm`).
    ///
    /// As in PyTorch: `coefficient = maxNorm / (norm + 1e-6)` in fp32 (PyTorch evaluates it as
    /// `reciprocal(norm + 1e-6) * maxNorm`, and so do we), clamped at 1, and every gradient is multiplied
    /// by it when it is below 1 (multiplying by 1 changes nothing). A non-finite norm yields a NaN or zero
    /// coefficient and is propagated into the gradients exactly as PyTorch does (`error_if_nonfinite=False`);
    /// the trainer's non-finite loss check stops the run. `maxNorm` 0 (or less) disables clipping and only
    /// measures the norm, as Hugging Face's Trainer does for `max_grad_norm=0`.
    @discardableResult
    public static func clip(_ parameters: [TrainableParameter], maxNorm: Float) -> Float {
        let norm = totalNorm(parameters)
        guard maxNorm > 0 else { return norm }
        let coefficient = (1 / (norm + Float(1e-6))) * maxNorm
        // `!(c >= 1)` rather than `c < 1`: a NaN coefficient must reach the gradients, as in PyTorch.
        if !(coefficient >= 1) {
            for parameter in parameters {
                parameter.gradients.withUnsafeMutableBufferPointer { g in
                    for i in 0..<g.count { g[i] *= coefficient }
                }
            }
        }
        return norm
    }
}
