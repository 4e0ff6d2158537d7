import Foundation
import Kernels

/// Backward of the element-wise parts of a layer: RoPE and SwiGLU.
enum ActivationBackward {
    /// RoPE is a rotation per pair `(i, i + d/2)` by the position's angle, so its backward rotates the
    /// gradient by the opposite angle, in place.
    static func rotaryBackward(_ gradient: UnsafeMutablePointer<Float>, position: Int, table: RotaryTable) {
        let half = table.half
        let base = position * half
        for i in 0..<half {
            let c = table.cosines[base + i], s = table.sines[base + i]
            let g1 = gradient[i], g2 = gradient[i + half]
            gradient[i] = g1 * c + g2 * s
            gradient[i + half] = g2 * c - g1 * s
        }
    }

    /// For rows `[gate | up]` (width `2·n`) and the gradient of `silu(gate)·up` (width `n`), writes the
    /// gradient of `[gate | up]`: `d gate = dA·up·σ(g)(1 + g(1 − σ(g)))`, `d up = dA·silu(g)`.
    static func swiGLU(
        gateUp: UnsafePointer<Float>, activatedGradient: UnsafePointer<Float>, width n: Int,
        into gateUpGradient: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n {
            let g = gateUp[i], up = gateUp[n + i], dA = activatedGradient[i]
            let sigmoid = 1 / (1 + exp(-g))
            let silu = g * sigmoid
            gateUpGradient[i] = dA * up * sigmoid * (1 + g * (1 - sigmoid))
            gateUpGradient[n + i] = dA * silu
        }
    }
}
