import CKernels
import Foundation
import Testing
@testable import Kernels

/// The AVX2 + FMA forward GEMMs (gemm_avx2.c): against their Swift reference `ReferenceGEMM.float32`
/// within rounding, against the AVX-512 kernels bit for bit (same fused multiply-adds in the same order),
/// and on column windows that start and end inside a 16-column panel.
@Suite(.enabled(if: CPUFeatures.detected.contains([.avx2, .fma]), "this CPU has no AVX2 + FMA"))
struct AVX2GEMMTests {
    static let avx2: CPUFeatures = [.avx2, .fma]

    /// Both panel formats of the same bf16-exact weights.
    func matrices(n: Int, k: Int, seed: UInt64) -> [PackedMatrix] {
        let weights = randomValues(n * k, seed: seed).map(BFloat16.rounding)
        let bf16Panels = weights.withUnsafeBytes { PackedMatrix(bfloat16Rows: $0.baseAddress!, rows: n, columns: k) }
        let f32Panels = PackedMatrix(rows: n, columns: k, format: .float32) { row, out in
            for c in 0..<k { out[c] = BFloat16.widening(weights[row * k + c]) }
        }
        return [bf16Panels, f32Panels]
    }

    func multiply(_ matrix: PackedMatrix, _ x: [Float], m: Int, features: CPUFeatures) -> [Float] {
        var out = [Float](repeating: .nan, count: m * matrix.rows)
        x.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { out in
                matrix.multiply(x.baseAddress!, rows: m, into: out.baseAddress!, precision: .float32,
                                features: features, pool: ComputePool(width: 2))
            }
        }
        return out
    }

    @Test(arguments: [(1, 1, 2), (3, 17, 8), (4, 32, 40), (5, 33, 96), (9, 100, 64), (7, 64, 1024), (13, 130, 24)])
    func matchesTheReference(m: Int, n: Int, k: Int) {
        let x = randomValues(m * k, seed: UInt64(700 + m * 31 + k))
        for matrix in matrices(n: n, k: k, seed: UInt64(800 + n)) {
            #expect(matrix.kernel(for: .float32, features: Self.avx2) == .avx2)
            let kernel = multiply(matrix, x, m: m, features: Self.avx2)
            var reference = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { input in
                reference.withUnsafeMutableBufferPointer { out in
                    ReferenceGEMM.float32(input.baseAddress!, rows: m, matrix: matrix, columns: 0..<n,
                                          output: out.baseAddress!, outputStride: n)
                }
            }
            // Two fp32 chains of k products each lie within k·ε·Σ|xw| of the exact sum.
            for i in 0..<m {
                for j in 0..<n {
                    var magnitude: Float = 0
                    for c in 0..<k { magnitude += abs(x[i * k + c]) * abs(weight(matrix, j, c)) }
                    let bound = 2 * Float(k) * Float.ulpOfOne * magnitude + Float.leastNormalMagnitude
                    #expect(abs(kernel[i * n + j] - reference[i * n + j]) <= bound,
                            "\(matrix.format) \(m)x\(n)x\(k) [\(i), \(j)]: \(kernel[i * n + j]) vs \(reference[i * n + j])")
                }
            }
        }
    }

    /// W[j][c] read back from either panel layout.
    func weight(_ matrix: PackedMatrix, _ j: Int, _ c: Int) -> Float {
        let k = matrix.columns
        switch matrix.format {
        case .float32:
            return matrix.storage.assumingMemoryBound(to: Float.self)[(j / 16) * k * 16 + c * 16 + j % 16]
        case .bfloat16Pairs:
            let bits = matrix.storage.assumingMemoryBound(to: UInt16.self)[(j / 16) * k * 16 + (c / 2) * 32 + (j % 16) * 2 + c % 2]
            return BFloat16.widening(bits)
        }
    }

    /// A row alone and inside a batch of every tile remainder gives the same bits.
    @Test func rowsAreBatchInvariant() {
        let (n, k) = (70, 48)
        let x = randomValues(11 * k, seed: 901)
        for matrix in matrices(n: n, k: k, seed: 902) {
            let batch = multiply(matrix, x, m: 11, features: Self.avx2)
            for row in [0, 3, 4, 10] {
                let alone = multiply(matrix, Array(x[row * k..<(row + 1) * k]), m: 1, features: Self.avx2)
                #expect(alone == Array(batch[row * n..<(row + 1) * n]), "\(matrix.format) row \(row)")
            }
        }
    }

    /// Columns [5, 37) of a 48-column matrix: lanes outside the window are left untouched, inside they
    /// equal the full product's.
    @Test func writesOnlyTheColumnWindow() {
        let (m, n, k) = (6, 48, 20)
        let x = randomValues(m * k, seed: 903)
        for matrix in matrices(n: n, k: k, seed: 904) {
            let full = multiply(matrix, x, m: m, features: Self.avx2)
            var window = [Float](repeating: -7, count: m * n)
            x.withUnsafeBufferPointer { x in
                window.withUnsafeMutableBufferPointer { out in
                    switch matrix.format {
                    case .float32:
                        q3e_gemm_f32_f32w_avx2(x.baseAddress!, Int64(m), Int64(k), matrix.storage.assumingMemoryBound(to: Float.self),
                                               5, 37, out.baseAddress!, Int64(n))
                    case .bfloat16Pairs:
                        q3e_gemm_f32_bf16w_avx2(x.baseAddress!, Int64(m), Int64(k), matrix.storage.assumingMemoryBound(to: UInt16.self),
                                                5, 37, out.baseAddress!, Int64(n))
                    }
                }
            }
            for i in 0..<m {
                for j in 0..<n {
                    let expected = (5..<37).contains(j) ? full[i * n + j] : -7
                    #expect(window[i * n + j] == expected, "\(matrix.format) [\(i), \(j)]")
                }
            }
        }
    }

    /// Where AVX-512 runs too, the two C paths agree bit for bit.
    @Test(.enabled(if: CPUFeatures.detected.hasAVX512, "this CPU has no AVX-512"))
    func equalsTheAVX512KernelsBitForBit() {
        let (m, n, k) = (29, 100, 96)
        let x = randomValues(m * k, seed: 905)
        for matrix in matrices(n: n, k: k, seed: 906) {
            #expect(matrix.kernel(for: .float32, features: .detected) == .avx512)
            #expect(multiply(matrix, x, m: m, features: Self.avx2) == multiply(matrix, x, m: m, features: .detected))
        }
    }
}
