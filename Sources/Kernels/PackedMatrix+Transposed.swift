import Foundation

extension PackedMatrix {
    /// The path `multiplyTransposed` runs on with `features`.
    public func transposedKernel(features: CPUFeatures = .usable) -> TransposedProducts.Path {
        TransposedProducts.path(features: features)
    }

    /// `output[m×columns] = gradient[m×rows] · W` (or `+=` with `accumulate`): the input gradient of a
    /// frozen linear layer, read straight from the panels the forward pass uses (no transposed copy of
    /// the weight is kept).
    ///
    /// Weights are widened exactly to fp32. At `.bfloat16` precision with bf16 pair panels the gradient
    /// is first rounded to bf16 (round-to-nearest-even, as the forward's fast mode rounds activations),
    /// so each product is exact and only the fp32 accumulation rounds; fp32 panels are always multiplied
    /// in fp32. Each output element is one chain over the weight's rows, ascending (see
    /// `TransposedProducts`): the result is bitwise that of `TransposedProducts.multiply` with the
    /// row-major weight (and the rounded gradient), whatever the thread split or batch.
    ///
    /// - Parameters:
    ///   - gradient: `m × rows` values, row-major (the output gradient dY).
    ///   - output: `m × columns` values, row-major; must not overlap `gradient`.
    public func multiplyTransposed(
        _ gradient: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>,
        accumulate: Bool, precision: Precision, features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) {
        precondition(m >= 0, "negative row count")
        let right: ProductOperands.Right = switch format {
        case .float32: .float32Panels(UnsafePointer(storage.assumingMemoryBound(to: Float.self)), columns: columns)
        case .bfloat16Pairs: .bfloat16Panels(UnsafePointer(storage.assumingMemoryBound(to: UInt16.self)), columns: columns)
        }
        let operands = ProductOperands(
            left: gradient, leftRowStride: rows, leftInnerStride: 1,
            roundsLeft: format == .bfloat16Pairs && precision == .bfloat16,
            right: right, output: output, outputStride: columns, inner: rows, accumulate: accumulate)
        TransposedProducts.run(operands, rows: m, columns: columns, features: features, pool: pool)
    }
}
