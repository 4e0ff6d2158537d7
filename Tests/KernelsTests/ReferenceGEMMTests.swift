import Foundation
import Testing
@testable import Kernels

/// `PackedMatrix`'s C GEMMs against their Swift reference, `ReferenceGEMM`, on the same packed operands
/// (PackedMatrixTests compares both with a double-precision product; this compares the two directly).
///
/// The C kernels fuse each multiply-add where the reference rounds twice, and AMX sums in its own order,
/// so they agree within rounding, not bitwise: two fp32 sums of k products each lie within k·ε·Σ|xᵢwᵢ| of
/// the exact value, hence within 2k·ε·Σ|xᵢwᵢ| of each other. The suite is skipped on CPUs without
/// AVX-512, where the reference is the only kernel.
@Suite(.enabled(if: CPUFeatures.detected.hasAVX512, "this CPU has no AVX-512"))
struct ReferenceGEMMTests {
    /// Every (panel format, precision) pair on the kernel this CPU dispatches, against the reference.
    @Test(arguments: [(1, 32, 2), (7, 64, 96), (13, 100, 1024), (40, 33, 64)])
    func cKernelsMatchTheReference(m: Int, n: Int, k: Int) {
        let x = randomValues(m * k, seed: UInt64(500 + m))
        let weights = randomValues(n * k, seed: UInt64(600 + n)).map(BFloat16.rounding)
        let bf16Panels = weights.withUnsafeBytes { PackedMatrix(bfloat16Rows: $0.baseAddress!, rows: n, columns: k) }
        let f32Panels = PackedMatrix(rows: n, columns: k, format: .float32) { row, out in
            for c in 0..<k { out[c] = BFloat16.widening(weights[row * k + c]) }
        }
        let cases: [(PackedMatrix, Precision)] = [(f32Panels, .float32), (bf16Panels, .float32), (bf16Panels, .bfloat16)]
        for (matrix, precision) in cases {
            let path = matrix.kernel(for: precision, features: .detected)
            // bf16 precision has a C kernel only with AVX512-BF16 or AMX (not on every AVX-512 CPU).
            if path == .portable {
                #expect(precision == .bfloat16, "fp32 \(matrix.format) has a C kernel on every AVX-512 CPU")
                continue
            }
            // bf16 precision multiplies bf16-rounded activations: the reference gets the same rounded values.
            let activations = precision == .bfloat16 ? x.map { BFloat16.widening(BFloat16.rounding($0)) } : x
            var kernel = [Float](repeating: .nan, count: m * n)
            var reference = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { x in
                kernel.withUnsafeMutableBufferPointer { out in
                    matrix.multiply(x.baseAddress!, rows: m, into: out.baseAddress!, precision: precision,
                                    features: .detected, pool: ComputePool(width: 2))
                }
            }
            reference.withUnsafeMutableBufferPointer { out in
                if precision == .bfloat16 {
                    let rounded = x.map(BFloat16.rounding)
                    rounded.withUnsafeBufferPointer { input in
                        ReferenceGEMM.bfloat16(input.baseAddress!, rows: m, matrix: matrix, columns: 0..<n,
                                               output: out.baseAddress!, outputStride: n)
                    }
                } else {
                    x.withUnsafeBufferPointer { input in
                        ReferenceGEMM.float32(input.baseAddress!, rows: m, matrix: matrix, columns: 0..<n,
                                              output: out.baseAddress!, outputStride: n)
                    }
                }
            }
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var magnitude = 0.0
                    for c in 0..<k {
                        magnitude += abs(Double(activations[i * k + c]) * Double(BFloat16.widening(weights[j * k + c])))
                    }
                    let bound = 2 * Double(k) * Double(Float.ulpOfOne) * magnitude
                    let difference = abs(Double(kernel[i * n + j]) - Double(reference[i * n + j]))
                    worst = max(worst, bound > 0 ? difference / bound : difference)
                }
            }
            #expect(worst <= 1, "\(path) \(matrix.format) \(precision) \(m)x\(n)x\(k): difference / bound \(worst)")
        }
    }
}
