/// The fp32 GEMM over plain row-major operands, `C = A · Bᵀ`, in Swift: for matrices that are not packed
/// model weights.
///
/// The model's linear layers do not run here: their GEMM is `PackedMatrix.multiply` (or
/// `QuantizedMatrix.multiply`), over weights repacked once at load time into the panels the C kernels
/// stream. Repacking pays only for a matrix that is multiplied many times as it is, so this type serves
/// the rest: similarity scores of queries against a corpus (`SimilaritySearch`), trainable fp32 weights and
/// LoRA factors that change at every optimiser step (Training), and the few LM-head rows a reranker reads
/// (`dot`). The backward products (`A · B`, `Aᵀ · B`) are `TransposedProducts`.
///
/// The layout is the one PyTorch stores `nn.Linear` weights in: `output[m][n] = Σ_k input[m][k] ·
/// weight[n][k]`, both operands row-major and contiguous along `k`. That makes every output element a
/// dot product of two contiguous rows, computed with 16-lane SIMD accumulators, cache- and
/// register-blocked (4 × 4 rows at a time).
///
/// Determinism matters more than the last percent of speed here: every output element is produced by the
/// same sequence of floating-point operations whichever block, thread or edge case computes it, so the
/// result for one row never depends on the other rows in the batch (batch invariance is bitwise).
public enum RowMajorGEMM {
    /// Rows of the weight matrix processed by one task; 64 rows of a 1024-wide fp32 matrix (256 KiB)
    /// stay in the 2 MiB L2 cache while every input row streams past them.
    static let weightRowsPerTask = 64

    /// Computes `output[m×n] = input[m×k] · weight[n×k]ᵀ`, splitting the work across the cores.
    ///
    /// - Parameters:
    ///   - input: `rows × inner` values, row-major.
    ///   - weight: `outputs × inner` values, row-major (a PyTorch `nn.Linear` weight).
    ///   - output: `rows × outputs` values, row-major; overwritten.
    public static func multiply(
        _ input: UnsafePointer<Float>, rows: Int,
        by weight: UnsafePointer<Float>, outputs: Int, inner: Int,
        into output: UnsafeMutablePointer<Float>,
        pool: ComputePool = .shared
    ) {
        guard rows > 0, outputs > 0 else { return }
        let columnBlocks = (outputs + weightRowsPerTask - 1) / weightRowsPerTask
        // Few output columns but many rows (the attention output of a small model, say): split rows too,
        // so both cores have work.
        let rowBlockSize = columnBlocks >= pool.width * 2 ? rows : max(4, (rows + pool.width * 2 - 1) / (pool.width * 2) / 4 * 4)
        let rowBlocks = (rows + rowBlockSize - 1) / rowBlockSize
        pool.run(tasks: columnBlocks * rowBlocks) { task in
            let columnStart = (task % columnBlocks) * weightRowsPerTask
            let columnEnd = min(outputs, columnStart + weightRowsPerTask)
            let rowStart = (task / columnBlocks) * rowBlockSize
            let rowEnd = min(rows, rowStart + rowBlockSize)
            multiplyBlock(
                input, rowRange: rowStart..<rowEnd, weight, columnRange: columnStart..<columnEnd,
                inner: inner, output: output, outputStride: outputs)
        }
    }

    /// One cache block: a range of input rows against a range of weight rows, 4×4 at a time.
    static func multiplyBlock(
        _ input: UnsafePointer<Float>, rowRange: Range<Int>,
        _ weight: UnsafePointer<Float>, columnRange: Range<Int>,
        inner: Int, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        var row = rowRange.lowerBound
        while row < rowRange.upperBound {
            let rowCount = min(4, rowRange.upperBound - row)
            var column = columnRange.lowerBound
            while column < columnRange.upperBound {
                let columnCount = min(4, columnRange.upperBound - column)
                if rowCount == 4 && columnCount == 4 {
                    dot4x4(input + row * inner, weight + column * inner, inner: inner,
                           output: output + row * outputStride + column, outputStride: outputStride)
                } else {
                    for r in 0..<rowCount {
                        for c in 0..<columnCount {
                            output[(row + r) * outputStride + column + c] =
                                dot(input + (row + r) * inner, weight + (column + c) * inner, count: inner)
                        }
                    }
                }
                column += 4
            }
            row += 4
        }
    }

    /// Sixteen dot products at once: 4 input rows × 4 weight rows, 16 independent SIMD accumulators.
    /// Each accumulator follows exactly the operation order of `dot(_:_:count:)`.
    @inline(__always)
    static func dot4x4(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, inner: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c02 = SIMD16<Float>(), c03 = SIMD16<Float>()
        var c10 = SIMD16<Float>(), c11 = SIMD16<Float>(), c12 = SIMD16<Float>(), c13 = SIMD16<Float>()
        var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c22 = SIMD16<Float>(), c23 = SIMD16<Float>()
        var c30 = SIMD16<Float>(), c31 = SIMD16<Float>(), c32 = SIMD16<Float>(), c33 = SIMD16<Float>()
        let a0 = UnsafeRawPointer(a), a1 = UnsafeRawPointer(a + inner)
        let a2 = UnsafeRawPointer(a + 2 * inner), a3 = UnsafeRawPointer(a + 3 * inner)
        let b0 = UnsafeRawPointer(b), b1 = UnsafeRawPointer(b + inner)
        let b2 = UnsafeRawPointer(b + 2 * inner), b3 = UnsafeRawPointer(b + 3 * inner)
        let vectorEnd = inner & ~15
        var k = 0
        while k < vectorEnd {
            let offset = k * MemoryLayout<Float>.stride
            let x0 = a0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let x1 = a1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let x2 = a2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let x3 = a3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let y0 = b0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let y1 = b1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let y2 = b2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let y3 = b3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3
            c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3
            c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3
            c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3
            k += 16
        }
        let rowA0 = a, rowA1 = a + inner, rowA2 = a + 2 * inner, rowA3 = a + 3 * inner
        let rowB0 = b, rowB1 = b + inner, rowB2 = b + 2 * inner, rowB3 = b + 3 * inner
        @inline(__always) func store(_ r: Int, _ c: Int, _ acc: SIMD16<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) {
            output[r * outputStride + c] = finishDot(acc.sum(), x, y, from: vectorEnd, to: inner)
        }
        store(0, 0, c00, rowA0, rowB0); store(0, 1, c01, rowA0, rowB1); store(0, 2, c02, rowA0, rowB2); store(0, 3, c03, rowA0, rowB3)
        store(1, 0, c10, rowA1, rowB0); store(1, 1, c11, rowA1, rowB1); store(1, 2, c12, rowA1, rowB2); store(1, 3, c13, rowA1, rowB3)
        store(2, 0, c20, rowA2, rowB0); store(2, 1, c21, rowA2, rowB1); store(2, 2, c22, rowA2, rowB2); store(2, 3, c23, rowA2, rowB3)
        store(3, 0, c30, rowA3, rowB0); store(3, 1, c31, rowA3, rowB1); store(3, 2, c32, rowA3, rowB2); store(3, 3, c33, rowA3, rowB3)
    }

    /// Adds the scalar tail (`inner` not a multiple of 16) in a fixed order.
    @inline(__always)
    static func finishDot(
        _ partial: Float, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, from start: Int, to end: Int
    ) -> Float {
        var total = partial
        var k = start
        while k < end {
            total += a[k] * b[k]
            k += 1
        }
        return total
    }

    /// The reference dot product whose operation order every kernel reproduces.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var accumulator = SIMD16<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        let vectorEnd = count & ~15
        var k = 0
        while k < vectorEnd {
            let offset = k * MemoryLayout<Float>.stride
            accumulator += ra.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            k += 16
        }
        return finishDot(accumulator.sum(), a, b, from: vectorEnd, to: count)
    }
}
