import Foundation

/// Backward of transformers' `Qwen3RMSNorm`, `y = w ⊙ x · r` with `r = 1/√(mean(x²) + ε)`.
///
/// With `g = w ⊙ dy`: `dx = r·g − x · r³/n · Σ(g ⊙ x)` and `dw += dy ⊙ x · r`. Sums run in Double: they
/// are short, and it keeps the gradient's error well below the fp32 forward's.
enum NormBackward {
    /// One row: adds the input gradient to `inputGradient` and, when given, the weight gradient to
    /// `weightGradient` (both `count` values).
    static func rmsNorm(
        input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        count n: Int, epsilon: Float, inputGradient dx: UnsafeMutablePointer<Float>,
        weightGradient dw: UnsafeMutablePointer<Float>?
    ) {
        var sumOfSquares: Double = 0
        var dot: Double = 0
        for i in 0..<n {
            let xi = Double(x[i])
            sumOfSquares += xi * xi
            dot += Double(w[i]) * Double(dy[i]) * xi
        }
        let r = 1 / (sumOfSquares / Double(n) + Double(epsilon)).squareRoot()
        let correction = dot * r * r * r / Double(n)
        for i in 0..<n {
            dx[i] += Float(r * Double(w[i]) * Double(dy[i]) - Double(x[i]) * correction)
        }
        if let dw {
            for i in 0..<n { dw[i] += Float(Double(dy[i]) * Double(x[i]) * r) }
        }
    }
}
