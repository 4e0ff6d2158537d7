import Foundation

/// The Swift reference of `CausalAttention`'s C kernels `q3e_transpose_keys_f32` + `q3e_attention_f32_avx512`
/// (see `ReferenceGEMM` for the naming scheme): the same rows of one sequence and head, one query row at
/// a time with the keys read in place, run where the AVX-512 kernel cannot (no AVX-512, or a head
/// dimension off its fast path) and compared with it in the tests.
///
/// The exponentials are Foundation's `exp` where the C kernel uses a polynomial (`q3e_exp_avx512`), so the
/// two agree within rounding; each row's result depends only on that row, as in the C kernel.
enum ReferenceAttention {
    /// Causal attention for query rows `firstQuery..<endQuery` of one sequence and head: row `i` attends to
    /// rows `0...i` (the C kernel's arguments, with keys not transposed).
    ///
    /// - Parameters:
    ///   - query: the head's query at the sequence's first token; rows `queryStride` apart.
    ///   - keys: the key-value head's key at the sequence's first token; rows `keyValueStride` apart.
    ///   - values: likewise for values.
    ///   - output: the head's output at the sequence's first token; rows `outputStride` apart.
    ///   - scale: multiplies every score (`1/√headDimension`).
    static func rows(
        query: UnsafePointer<Float>, queryStride: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        keyValueStride: Int, output: UnsafeMutablePointer<Float>, outputStride: Int,
        firstQuery: Int, endQuery: Int, headDimension: Int, scale: Float
    ) {
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: endQuery)
        let accumulator = UnsafeMutableRawPointer.allocate(byteCount: headDimension * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: headDimension)
        defer { scores.deallocate(); accumulator.deallocate() }
        for i in firstQuery..<endQuery {
            let q = query + i * queryStride
            var maximum = -Float.infinity
            for j in 0...i {
                let score = RowMajorGEMM.dot(q, keys + j * keyValueStride, count: headDimension) * scale
                scores[j] = score
                maximum = max(maximum, score)
            }
            var total: Float = 0
            for j in 0...i {
                let weight = exp(scores[j] - maximum)
                scores[j] = weight
                total += weight
            }
            accumulator.initialize(repeating: 0, count: headDimension)
            let vectorEnd = headDimension & ~15
            let rawAccumulator = UnsafeMutableRawPointer(accumulator)
            for j in 0...i {
                let weight = scores[j]
                let v = values + j * keyValueStride
                let rawValue = UnsafeRawPointer(v)
                var d = 0
                while d < vectorEnd {
                    let sum = rawAccumulator.load(fromByteOffset: d * 4, as: SIMD16<Float>.self)
                        + SIMD16(repeating: weight) * rawValue.loadUnaligned(fromByteOffset: d * 4, as: SIMD16<Float>.self)
                    rawAccumulator.storeBytes(of: sum, toByteOffset: d * 4, as: SIMD16<Float>.self)
                    d += 16
                }
                while d < headDimension {
                    accumulator[d] += weight * v[d]
                    d += 1
                }
            }
            let out = output + i * outputStride
            let inverse = 1 / total
            for d in 0..<headDimension { out[d] = accumulator[d] * inverse }
        }
    }
}
