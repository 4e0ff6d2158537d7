import CKernels
import Foundation

/// Row-wise operations of a transformer layer, written to match PyTorch's fp32 results.
public enum VectorMath {
    /// Root-mean-square normalisation of one row, as transformers' `Qwen3RMSNorm` computes it:
    /// `weight * (x * rsqrt(mean(x²) + eps))`.
    @inline(__always)
    public static func rmsNorm(
        _ input: UnsafePointer<Float>, weight: UnsafePointer<Float>, count: Int, epsilon: Float,
        into output: UnsafeMutablePointer<Float>
    ) {
        var sumOfSquares: Float = 0
        var accumulator = SIMD16<Float>()
        let raw = UnsafeRawPointer(input)
        let vectorEnd = count & ~15
        var index = 0
        while index < vectorEnd {
            let x = raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
            accumulator += x * x
            index += 16
        }
        sumOfSquares = accumulator.sum()
        while index < count {
            sumOfSquares += input[index] * input[index]
            index += 1
        }
        let scale = 1 / (sumOfSquares / Float(count) + epsilon).squareRoot()
        for i in 0..<count {
            output[i] = weight[i] * (input[i] * scale)
        }
    }

    /// `gate ← silu(gate) * up`, the SwiGLU activation, in place.
    @inline(__always)
    public static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = gate[i]
            gate[i] = g / (1 + exp(-g)) * up[i]
        }
    }

    /// `gate ← silu(gate) * up` with the exponentials computed 16 at a time by the AVX-512 kernel
    /// (the scalar `exp` call per element was a visible share of a short query's time). Falls back to
    /// `swiGLU(gate:up:count:)` without AVX-512.
    public static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int, features: CPUFeatures) {
        guard features.hasAVX512 else { return swiGLU(gate: gate, up: up, count: count) }
        let chunk = 512
        withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { buffer in
            let exponentials = buffer.baseAddress!
            var start = 0
            while start < count {
                let length = min(chunk, count - start)
                for i in 0..<length { exponentials[i] = -gate[start + i] }
                q3e_exp_avx512(exponentials, exponentials, Int64(length))
                for i in 0..<length {
                    gate[start + i] = gate[start + i] / (1 + exponentials[i]) * up[start + i]
                }
                start += length
            }
        }
    }

    /// `target += source`, element-wise.
    @inline(__always)
    public static func add(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { target[i] += source[i] }
    }

    /// Scales a row to unit Euclidean length; a zero row stays zero (like `F.normalize`, eps 1e-12).
    public static func l2Normalize(_ values: inout [Float]) {
        var sumOfSquares: Double = 0
        for value in values { sumOfSquares += Double(value) * Double(value) }
        let norm = max(sumOfSquares.squareRoot(), 1e-12)
        for i in values.indices { values[i] = Float(Double(values[i]) / norm) }
    }
}
