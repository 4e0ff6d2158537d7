import CKernels

/// Activation rows quantized per 32 values to int8, with what the kernels need per sub-block
/// (layout of `q3e_q8_activations`: every array row-major, rows contiguous).
struct QuantizedActivations {
    /// Rows.
    let rows: Int
    /// Values per row.
    let columns: Int
    /// Values per sub-block of the weights' layout (16 or 32).
    let subBlockSize: Int
    /// `rows × columns` int8 values.
    let values: UnsafeMutablePointer<Int8>
    /// `rows × columns/32` scales: x ≈ scale · value.
    let scales: UnsafeMutablePointer<Float>
    /// `rows × columns/subBlockSize`: −zeroPoint · Σ values over the sub-block (the int32 accumulator's start).
    let corrections: UnsafeMutablePointer<Int32>
    /// `rows × columns/subBlockSize`: scale · Σ values over the sub-block (multiplies the weights' offsets).
    let sums: UnsafeMutablePointer<Float>?

    /// Quantizes `rows × columns` values (in parallel, with the AVX-512 or AVX2 kernel where available;
    /// all three give identical bits) for weights of `layout`.
    init(_ input: UnsafePointer<Float>, rows: Int, columns: Int, layout: QuantizedMatrix.Layout,
         features: CPUFeatures, pool: ComputePool) {
        self.rows = rows
        self.columns = columns
        subBlockSize = layout.subBlockSize
        let subBlocks = columns / subBlockSize
        // One allocation for all four arrays (4-byte ones first, so each stays aligned).
        let floats = rows * (columns / 32) + rows * subBlocks * (layout.hasOffset ? 2 : 1)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: floats * 4 + rows * columns, alignment: 64)
        scales = buffer.bindMemory(to: Float.self, capacity: rows * (columns / 32))
        corrections = (buffer + rows * (columns / 32) * 4).bindMemory(to: Int32.self, capacity: rows * subBlocks)
        sums = layout.hasOffset
            ? (buffer + (rows * (columns / 32) + rows * subBlocks) * 4).bindMemory(to: Float.self, capacity: rows * subBlocks)
            : nil
        values = (buffer + floats * 4).bindMemory(to: Int8.self, capacity: rows * columns)
        // Chunks of rows of about 16K values each: enough work per task to pay for its dispatch.
        let rowsPerTask = max(1, (1 << 14) / columns)
        let tasks = (rows + rowsPerTask - 1) / rowsPerTask
        let zeroPoint = layout.zeroPoint
        let (values, scales, corrections, sums) = (values, scales, corrections, sums)
        pool.run(tasks: tasks) { task in
            let first = task * rowsPerTask
            let count = min(rows, first + rowsPerTask) - first
            let x = input + first * columns
            let v = values + first * columns, s = scales + first * (columns / 32)
            let c = corrections + first * subBlocks, o = sums.map { $0 + first * subBlocks }
            if features.hasAVX512 {
                q3e_quantize_q8_avx512(x, Int64(count), Int64(columns), Int32(subBlockSize), zeroPoint, v, s, c, o)
            } else if features.contains([.avx2, .fma, .f16c]) {
                q3e_quantize_q8_avx2(x, Int64(count), Int64(columns), Int32(subBlockSize), zeroPoint, v, s, c, o)
            } else {
                ReferenceQuantizedGEMM.quantize(x, rows: count, columns: columns, subBlockSize: subBlockSize,
                                                zeroPoint: zeroPoint, values: v, scales: s, corrections: c, sums: o)
            }
        }
    }

    /// The C view of rows `first...`.
    func cView(fromRow first: Int) -> q3e_q8_activations {
        let subBlocks = columns / subBlockSize
        return q3e_q8_activations(
            values: UnsafePointer(values + first * columns), scales: UnsafePointer(scales + first * (columns / 32)),
            corrections: UnsafePointer(corrections + first * subBlocks),
            sums: sums.map { UnsafePointer($0 + first * subBlocks) })
    }

    /// Frees the buffer (all four arrays live in the allocation that starts at `scales`).
    func deallocate() {
        UnsafeMutableRawPointer(scales).deallocate()
    }
}
