import Foundation
import Kernels
import Qwen3

/// A linear layer of the trainable model: a base weight (frozen in its file dtype, or trainable fp32)
/// made of one or more stacked parts (q | k | v, gate | up, or a single matrix), each part optionally
/// adapted by LoRA: `y_part = x·W_partᵀ + scale · (x·Aᵀ)·Bᵀ` (PEFT's `lora_B(lora_A(x)) * scaling`).
///
/// It conforms to `LinearLayer`, so the shared forward in `Qwen3Model.forwardLayer` runs it exactly as
/// it runs an inference layer; `backward` is its gradient.
final class TrainableLinear: LinearLayer, @unchecked Sendable {
    /// Where the base weight lives.
    enum Base {
        /// Frozen: the packed matrix (file dtype) the forward and the input gradient both read.
        case frozen(PackedMatrix)
        /// Trainable: one fp32 row-major parameter per part.
        case trainable([TrainableParameter])
    }

    /// One part's LoRA factors.
    struct Adapter {
        /// `[rank, columns]`.
        let a: TrainableParameter
        /// `[partRows, rank]`.
        let b: TrainableParameter
        /// `alpha / rank`.
        let scale: Float
        var rank: Int { a.shape[0] }
    }

    let base: Base
    /// Output rows of each part, in stacking order.
    let partRows: [Int]
    /// LoRA factors of each part (`nil`: the part is not adapted).
    let adapters: [Adapter?]
    let rows: Int
    let columns: Int

    init(base: Base, partRows: [Int], columns: Int, adapters: [Adapter?]) {
        precondition(partRows.count == adapters.count)
        self.base = base
        self.partRows = partRows
        self.adapters = adapters
        self.rows = partRows.reduce(0, +)
        self.columns = columns
    }

    var byteCount: Int {
        switch base {
        case .frozen(let matrix): return matrix.byteCount
        case .trainable(let parameters): return parameters.reduce(0) { $0 + 4 * $1.count }
        }
    }

    func kernel(for precision: Precision, features: CPUFeatures) -> KernelPath {
        switch base {
        case .frozen(let matrix): return matrix.kernel(for: precision, features: features)
        case .trainable: return .portable
        }
    }

    private var partOffsets: [Int] {
        var offsets: [Int] = []
        var start = 0
        for count in partRows { offsets.append(start); start += count }
        return offsets
    }

    func multiply(
        _ input: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>,
        precision: Precision, features: CPUFeatures, pool: ComputePool
    ) {
        guard m > 0 else { return }
        let offsets = partOffsets
        switch base {
        case .frozen(let matrix):
            matrix.multiply(input, rows: m, into: output, precision: precision, features: features, pool: pool)
        case .trainable(let parameters):
            let single = parameters.count == 1
            let scratch = single ? nil : ActivationBuffer(m * (partRows.max() ?? 0))
            for (part, parameter) in parameters.enumerated() {
                let destination = scratch?.pointer ?? output
                parameter.values.withUnsafeBufferPointer { weight in
                    RowMajorGEMM.multiply(input, rows: m, by: weight.baseAddress!, outputs: partRows[part], inner: columns,
                                          into: destination, pool: pool)
                }
                if let scratch { Self.scatter(scratch.pointer, rows: m, width: partRows[part], into: output + offsets[part], stride: rows, scale: 1, adding: false) }
            }
        }
        for (part, adapter) in adapters.enumerated() {
            guard let adapter else { continue }
            // y_part += scale · (x·Aᵀ)·Bᵀ, in PEFT's order: B(A x), then the scaling.
            let low = ActivationBuffer(m * adapter.rank)
            let update = ActivationBuffer(m * partRows[part])
            adapter.a.values.withUnsafeBufferPointer { a in
                RowMajorGEMM.multiply(input, rows: m, by: a.baseAddress!, outputs: adapter.rank, inner: columns,
                                      into: low.pointer, pool: pool)
            }
            adapter.b.values.withUnsafeBufferPointer { b in
                RowMajorGEMM.multiply(low.pointer, rows: m, by: b.baseAddress!, outputs: partRows[part], inner: adapter.rank,
                                      into: update.pointer, pool: pool)
            }
            Self.scatter(update.pointer, rows: m, width: partRows[part], into: output + offsets[part], stride: rows,
                         scale: adapter.scale, adding: true)
        }
    }

    /// Backward for `y = layer(x)` over `m` rows: adds `dY·W` (base and LoRA) to `inputGradient`
    /// (`m × columns`), and accumulates the gradients of the trainable base parts and LoRA factors.
    func backward(
        input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows m: Int,
        inputGradient: UnsafeMutablePointer<Float>, precision: Precision, features: CPUFeatures, pool: ComputePool
    ) {
        guard m > 0 else { return }
        let offsets = partOffsets
        // The columns of one part of dY (times `scale`), contiguous, as the product kernels take them.
        let partGradient = ActivationBuffer(m * (partRows.max() ?? 0))
        switch base {
        case .frozen(let matrix):
            // dX += dY·W straight from the packed panels the forward used (file dtype, never widened in memory).
            matrix.multiplyTransposed(outputGradient, rows: m, into: inputGradient, accumulate: true,
                                      precision: precision, features: features, pool: pool)
        case .trainable(let parameters):
            for (part, parameter) in parameters.enumerated() {
                Self.gather(outputGradient + offsets[part], stride: rows, rows: m, width: partRows[part], scale: 1, into: partGradient.pointer)
                parameter.values.withUnsafeBufferPointer { weight in
                    TransposedProducts.multiply(partGradient.pointer, rows: m, inner: partRows[part], by: weight.baseAddress!,
                                                columns: columns, into: inputGradient, accumulate: true, features: features, pool: pool)
                }
                parameter.gradients.withUnsafeMutableBufferPointer { gradient in
                    TransposedProducts.accumulateTransposedProduct(partGradient.pointer, input, rows: m, aColumns: partRows[part],
                                                                   bColumns: columns, into: gradient.baseAddress!, features: features, pool: pool)
                }
            }
        }
        for (part, adapter) in adapters.enumerated() {
            guard let adapter else { continue }
            let rank = adapter.rank
            let low = ActivationBuffer(m * rank)
            let lowGradient = ActivationBuffer(m * rank)
            // g = scale·dY_part; t = x·Aᵀ (recomputed: m × rank is cheap); dB += gᵀ·t; dt = g·B;
            // dA += dtᵀ·x; dX += dt·A.
            Self.gather(outputGradient + offsets[part], stride: rows, rows: m, width: partRows[part], scale: adapter.scale,
                        into: partGradient.pointer)
            adapter.a.values.withUnsafeBufferPointer { a in
                RowMajorGEMM.multiply(input, rows: m, by: a.baseAddress!, outputs: rank, inner: columns, into: low.pointer, pool: pool)
            }
            adapter.b.gradients.withUnsafeMutableBufferPointer { gradient in
                TransposedProducts.accumulateTransposedProduct(partGradient.pointer, low.pointer, rows: m, aColumns: partRows[part],
                                                               bColumns: rank, into: gradient.baseAddress!, features: features, pool: pool)
            }
            adapter.b.values.withUnsafeBufferPointer { b in
                TransposedProducts.multiply(partGradient.pointer, rows: m, inner: partRows[part], by: b.baseAddress!, columns: rank,
                                            into: lowGradient.pointer, accumulate: false, features: features, pool: pool)
            }
            adapter.a.gradients.withUnsafeMutableBufferPointer { gradient in
                TransposedProducts.accumulateTransposedProduct(lowGradient.pointer, input, rows: m, aColumns: rank,
                                                               bColumns: columns, into: gradient.baseAddress!, features: features, pool: pool)
            }
            adapter.a.values.withUnsafeBufferPointer { a in
                TransposedProducts.multiply(lowGradient.pointer, rows: m, inner: rank, by: a.baseAddress!, columns: columns,
                                            into: inputGradient, accumulate: true, features: features, pool: pool)
            }
        }
    }

    /// Copies `rows × width` values from rows `stride` apart into a contiguous block, times `scale`.
    private static func gather(
        _ source: UnsafePointer<Float>, stride: Int, rows: Int, width: Int, scale: Float, into destination: UnsafeMutablePointer<Float>
    ) {
        for row in 0..<rows {
            for column in 0..<width { destination[row * width + column] = scale * source[row * stride + column] }
        }
    }

    /// Writes (or adds) a contiguous `rows × width` block, times `scale`, into rows `stride` apart.
    private static func scatter(
        _ source: UnsafePointer<Float>, rows: Int, width: Int, into destination: UnsafeMutablePointer<Float>, stride: Int,
        scale: Float, adding: Bool
    ) {
        for row in 0..<rows {
            let out = destination + row * stride, values = source + row * width
            if adding {
                for column in 0..<width { out[column] += scale * values[column] }
            } else {
                for column in 0..<width { out[column] = scale * values[column] }
            }
        }
    }
}
