/// The Swift reference of `PackedMatrix`'s C GEMMs: plain Swift SIMD over the same panels, run on CPUs
/// without AVX-512 (the `.portable` kernel path) and compared with the C kernels in the tests.
///
/// - `float32`: fp32 activations, the reference of `q3e_gemm_f32_f32w_avx512` (fp32 panels) and
///   `q3e_gemm_f32_bf16w_avx512` (bf16 pair panels).
/// - `bfloat16`: bf16 activations and weights, the reference of `q3e_gemm_bf16_avx512bf16` and
///   `q3e_gemm_bf16_amx`.
///
/// Every `Reference…` type of this module plays this part for one family of C kernels (as ggml's
/// `quants.c` beside `arch/x86`): `ReferenceGEMM`, `ReferenceQuantizedGEMM`, `ReferenceProducts`,
/// `ReferenceAttention`.
///
/// Agreement is within rounding, not bitwise: the C kernels use fused multiply-adds, these a multiply then
/// an add, which keeps them fast on baseline x86-64 (a fused `addingProduct` would become a library call
/// there). Each output element is still one chain in a fixed order, so results are batch invariant.
enum ReferenceGEMM {
    /// fp32 activations against either panel format, fp32 accumulation.
    static func float32(
        _ input: UnsafePointer<Float>, rows: Int, matrix: PackedMatrix, columns: Range<Int>,
        output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let k = matrix.columns
        var panelStart = columns.lowerBound / 16 * 16
        while panelStart < columns.upperBound {
            let valid = min(16, columns.upperBound - panelStart)
            for row in 0..<rows {
                let x = input + row * k
                var accumulator = SIMD16<Float>()
                switch matrix.format {
                case .float32:
                    let panel = UnsafeRawPointer(matrix.storage.assumingMemoryBound(to: Float.self) + (panelStart / 16) * k * 16)
                    for c in 0..<k {
                        accumulator += SIMD16(repeating: x[c]) * panel.load(fromByteOffset: c * 64, as: SIMD16<Float>.self)
                    }
                case .bfloat16Pairs:
                    let panel = UnsafeRawPointer(matrix.storage.assumingMemoryBound(to: UInt16.self) + (panelStart / 16) * k * 16)
                    for pair in 0..<(k / 2) {
                        let (even, odd) = widenedPair(panel, pair)
                        accumulator += SIMD16(repeating: x[2 * pair]) * even
                        accumulator += SIMD16(repeating: x[2 * pair + 1]) * odd
                    }
                }
                let out = output + row * outputStride + panelStart
                for lane in 0..<valid where panelStart + lane >= columns.lowerBound { out[lane] = accumulator[lane] }
            }
            panelStart += 16
        }
    }

    /// bf16 activations × bf16 pair panels, fp32 accumulation (the arithmetic of `vdpbf16ps`).
    static func bfloat16(
        _ input: UnsafePointer<UInt16>, rows: Int, matrix: PackedMatrix, columns: Range<Int>,
        output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let k = matrix.columns
        var panelStart = columns.lowerBound / 16 * 16
        while panelStart < columns.upperBound {
            let valid = min(16, columns.upperBound - panelStart)
            let panel = UnsafeRawPointer(matrix.storage.assumingMemoryBound(to: UInt16.self) + (panelStart / 16) * k * 16)
            for row in 0..<rows {
                let x = input + row * k
                var accumulator = SIMD16<Float>()
                for pair in 0..<(k / 2) {
                    let (even, odd) = widenedPair(panel, pair)
                    accumulator += SIMD16(repeating: BFloat16.widening(x[2 * pair + 1])) * odd
                    accumulator += SIMD16(repeating: BFloat16.widening(x[2 * pair])) * even
                }
                let out = output + row * outputStride + panelStart
                for lane in 0..<valid where panelStart + lane >= columns.lowerBound { out[lane] = accumulator[lane] }
            }
            panelStart += 16
        }
    }

    /// The 16 rows' two weights of one column pair of a bf16 pair panel, widened exactly to fp32
    /// (the low half of each 32-bit word is the even column).
    @inline(__always)
    static func widenedPair(_ panel: UnsafeRawPointer, _ pair: Int) -> (even: SIMD16<Float>, odd: SIMD16<Float>) {
        let words = panel.load(fromByteOffset: pair * 64, as: SIMD16<UInt32>.self)
        return (unsafeBitCast(words &<< 16, to: SIMD16<Float>.self), unsafeBitCast(words & 0xFFFF_0000, to: SIMD16<Float>.self))
    }
}
