/// The Swift reference of `QuantizedMatrix`'s C kernels (see `ReferenceGEMM` for the naming scheme):
/// plain Swift over the same code panels, run on CPUs without AVX512-VNNI or AVX-VNNI (the `.portable`
/// kernel path) and compared with the C kernels in the tests.
///
/// - `quantize`: the reference of `q3e_quantize_q8_avx512` and `q3e_quantize_q8_avx2`.
/// - `multiply`: the reference of `q3e_gemm_q8_avx512vnni`, `q3e_gemm_q8_avxvnni` and
///   `q3e_gemm_q8_avxvnni_evex`.
///
/// They perform exactly the C kernels' arithmetic — exact integer dot products per sub-block (carried
/// out in fp32, where they are exact too), then `t = Float(dot) * scaleX`, `acc = fma(t, scaleW, acc)`
/// and, with offsets, `acc = fma(offsetW, sumX, acc)`, sub-blocks ascending — so the results are
/// bitwise equal. (The fused multiply-adds are what the
/// hardware kernel does in one instruction; on baseline x86-64 Swift lowers them to `fmaf` calls,
/// which costs speed only on CPUs that lack the fast path anyway.)
enum ReferenceQuantizedGEMM {
    /// Quantizes `rows × columns` values per block of 32 like `q3e_quantize_q8_avx512`:
    /// scale = amax / 127, value = round-to-nearest-even(x · (1 / scale)), clamped to ±127.
    static func quantize(
        _ x: UnsafePointer<Float>, rows: Int, columns: Int, subBlockSize: Int, zeroPoint: Int32,
        values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
        corrections: UnsafeMutablePointer<Int32>, sums: UnsafeMutablePointer<Float>?
    ) {
        let groups = columns / 32, subBlocks = columns / subBlockSize
        for row in 0..<rows {
            for group in 0..<groups {
                let source = x + row * columns + group * 32
                var amax: Float = 0
                for t in 0..<32 { amax = Swift.max(amax, Swift.abs(source[t])) }
                let d = amax / 127
                let inverse = 1 / d
                // A zero (or subnormal-tiny) block quantizes to zeros instead of overflowing the inverse.
                let id: Float = d != 0 && inverse <= .greatestFiniteMagnitude ? inverse : 0
                var halfSums: (Int32, Int32) = (0, 0)
                for t in 0..<32 {
                    let r = (source[t] * id).rounded(.toNearestOrEven)
                    // `vcvtps2dq` turns NaN and out-of-range values into Int32.min, which clamps to −127.
                    let q: Int32 = r.isNaN || Swift.abs(r) >= 2_147_483_648 ? -127 : Swift.max(-127, Swift.min(127, Int32(r)))
                    values[row * columns + group * 32 + t] = Int8(truncatingIfNeeded: q)
                    if t < 16 { halfSums.0 += q } else { halfSums.1 += q }
                }
                scales[row * groups + group] = d
                if subBlockSize == 16 {
                    corrections[row * subBlocks + 2 * group] = -zeroPoint &* halfSums.0
                    corrections[row * subBlocks + 2 * group + 1] = -zeroPoint &* halfSums.1
                    sums?[row * subBlocks + 2 * group] = d * Float(halfSums.0)
                    sums?[row * subBlocks + 2 * group + 1] = d * Float(halfSums.1)
                } else {
                    corrections[row * subBlocks + group] = -zeroPoint &* (halfSums.0 + halfSums.1)
                    sums?[row * subBlocks + group] = d * Float(halfSums.0 + halfSums.1)
                }
            }
        }
    }

    /// Rows `firstRow..<firstRow + rows` of the quantized activations times the matrix's output
    /// columns `columns`; row `i`'s results go to `output + i * outputStride + column`.
    static func multiply(
        _ matrix: QuantizedMatrix, _ activations: QuantizedActivations, firstRow: Int, rows: Int,
        columns: Range<Int>, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        var panelStart = columns.lowerBound / 16 * 16
        while panelStart < columns.upperBound {
            let panel = UnsafeRawPointer(matrix.storage + (panelStart / 16) * matrix.panelBytes)
            let valid = min(16, columns.upperBound - panelStart)
            // Tiles of 4 rows share each decoded code vector; a short last tile repeats its last row.
            var tileStart = firstRow
            while tileStart < firstRow + rows {
                let last = min(tileStart + 4, firstRow + rows) - 1
                let tileRows = (tileStart, min(tileStart + 1, last), min(tileStart + 2, last), min(tileStart + 3, last))
                let results = tile(matrix, panel, activations, rows: tileRows)
                for (index, accumulator) in [results.0, results.1, results.2, results.3].enumerated() where tileStart + index <= last {
                    let out = output + (tileStart + index - firstRow) * outputStride + panelStart
                    for lane in 0..<valid where panelStart + lane >= columns.lowerBound { out[lane] = accumulator[lane] }
                }
                tileStart += 4
            }
            panelStart += 16
        }
    }

    /// Four activation rows times one 16-row panel.
    ///
    /// The integer dot products are computed in fp32, which is exact here: every product is an integer
    /// below 255 · 127 and every partial sum (starting from the zero-point correction) stays below
    /// 2^22 in magnitude, far inside fp32's 24-bit significand — so `dot` equals the C kernels' int32
    /// result, and fp32 SIMD is fast on every CPU, unlike 32-bit integer multiplies on baseline x86-64.
    @inline(__always)
    static func tile(
        _ matrix: QuantizedMatrix, _ panel: UnsafeRawPointer, _ activations: QuantizedActivations,
        rows: (Int, Int, Int, Int)
    ) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let k = matrix.columns, groups = k / 32
        let subBlockSize = matrix.layout.subBlockSize, subBlocks = k / subBlockSize
        let quadsPerSubBlock = subBlockSize / 4
        let x = (activations.values + rows.0 * k, activations.values + rows.1 * k,
                 activations.values + rows.2 * k, activations.values + rows.3 * k)
        var accumulators = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
        for block in 0..<subBlocks {
            let group = block * subBlockSize / 32
            let corrections = activations.corrections + block
            var dots = (SIMD16<Float>(repeating: Float(corrections[rows.0 * subBlocks])),
                        SIMD16<Float>(repeating: Float(corrections[rows.1 * subBlocks])),
                        SIMD16<Float>(repeating: Float(corrections[rows.2 * subBlocks])),
                        SIMD16<Float>(repeating: Float(corrections[rows.3 * subBlocks])))
            let firstQuad = (block * subBlockSize % 32) / 4  // 4-column quad inside the group, 0..<8
            for quad in firstQuad..<(firstQuad + quadsPerSubBlock) {
                let words = codeWords(matrix, panel, group: group, quad: quad)
                let column = group * 32 + quad * 4
                for i in 0..<4 {
                    // Byte i of every word as fp32: 2^23 + byte has exactly the byte as its low mantissa bits.
                    let codes = unsafeBitCast(((words &>> UInt32(8 * i)) & 0xFF) | 0x4B00_0000, to: SIMD16<Float>.self) - 8_388_608
                    dots.0 += codes * Float(x.0[column + i])
                    dots.1 += codes * Float(x.1[column + i])
                    dots.2 += codes * Float(x.2[column + i])
                    dots.3 += codes * Float(x.3[column + i])
                }
            }
            let scales = vector(matrix, panel, matrix.vectorOffset(block: block, offsets: false))
            let xScales = activations.scales + group
            accumulators.0 = accumulators.0.addingProduct(dots.0 * xScales[rows.0 * groups], scales)
            accumulators.1 = accumulators.1.addingProduct(dots.1 * xScales[rows.1 * groups], scales)
            accumulators.2 = accumulators.2.addingProduct(dots.2 * xScales[rows.2 * groups], scales)
            accumulators.3 = accumulators.3.addingProduct(dots.3 * xScales[rows.3 * groups], scales)
            if matrix.layout.hasOffset, let sums = activations.sums {
                let offsets = vector(matrix, panel, matrix.vectorOffset(block: block, offsets: true))
                accumulators.0 = accumulators.0.addingProduct(offsets, sums[rows.0 * subBlocks + block])
                accumulators.1 = accumulators.1.addingProduct(offsets, sums[rows.1 * subBlocks + block])
                accumulators.2 = accumulators.2.addingProduct(offsets, sums[rows.2 * subBlocks + block])
                accumulators.3 = accumulators.3.addingProduct(offsets, sums[rows.3 * subBlocks + block])
            }
        }
        return accumulators
    }

    /// The codes of columns 4·quad..4·quad+3 of `group` for the panel's 16 rows, one row per 32-bit word
    /// (byte i of a word is column 4·quad + i), unpacked from nibbles where the matrix stores them so.
    @inline(__always)
    static func codeWords(_ matrix: QuantizedMatrix, _ panel: UnsafeRawPointer, group: Int, quad: Int) -> SIMD16<UInt32> {
        let codes = matrix.codeOffset(group: group)
        if matrix.nibbles {
            let packed = panel.loadUnaligned(fromByteOffset: codes + (quad % 4) * 64, as: SIMD16<UInt32>.self)
            return quad < 4 ? packed & 0x0F0F_0F0F : (packed &>> 4) & 0x0F0F_0F0F
        }
        return panel.loadUnaligned(fromByteOffset: codes + quad * 64, as: SIMD16<UInt32>.self)
    }

    /// The scale or offset vector (16 rows) at byte offset `position` of a panel, as fp32.
    @inline(__always)
    static func vector(_ matrix: QuantizedMatrix, _ panel: UnsafeRawPointer, _ position: Int) -> SIMD16<Float> {
        if matrix.halfScales {
            let bits = panel.loadUnaligned(fromByteOffset: position, as: SIMD16<UInt16>.self)
            var result = SIMD16<Float>()
            for lane in 0..<16 { result[lane] = Half.float(fromBits: bits[lane], nan: .preserving) }
            return result
        }
        return panel.loadUnaligned(fromByteOffset: position, as: SIMD16<Float>.self)
    }
}
