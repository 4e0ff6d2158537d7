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
        /// Frozen: the packed matrix the forward runs on, and the same weights as rows in the file
        /// dtype (memory-mapped) for the input gradient.
        case frozen(PackedMatrix, rows: [WeightRows])
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
        case .frozen(let matrix, _): return matrix.byteCount
        case .trainable(let parameters): return parameters.reduce(0) { $0 + 4 * $1.count }
        }
    }

    func kernel(for precision: Precision, features: CPUFeatures) -> KernelPath {
        switch base {
        case .frozen(let matrix, _): return matrix.kernel(for: precision, features: features)
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
        case .frozen(let matrix, _):
            matrix.multiply(input, rows: m, into: output, precision: precision, features: features, pool: pool)
        case .trainable(let parameters):
            for (part, parameter) in parameters.enumerated() {
                parameter.values.withUnsafeBufferPointer { weight in
                    GradientProducts.multiplyTransposed(
                        input, rows: m, inner: columns, strideA: columns, by: weight.baseAddress!,
                        columns: partRows[part], strideB: columns, into: output + offsets[part], strideC: rows,
                        accumulate: false, pool: pool)
                }
            }
        }
        for (part, adapter) in adapters.enumerated() {
            guard let adapter else { continue }
            let rank = adapter.rank
            let low = UnsafeMutablePointer<Float>.allocate(capacity: m * rank)
            defer { low.deallocate() }
            adapter.a.values.withUnsafeBufferPointer { a in
                GradientProducts.multiplyTransposed(
                    input, rows: m, inner: columns, strideA: columns, by: a.baseAddress!, columns: rank,
                    strideB: columns, into: low, strideC: rank, accumulate: false, pool: pool)
            }
            adapter.b.values.withUnsafeBufferPointer { b in
                GradientProducts.multiplyTransposed(
                    low, rows: m, inner: rank, strideA: rank, by: b.baseAddress!, columns: partRows[part],
                    strideB: rank, into: output + offsets[part], strideC: rows, accumulate: true,
                    scale: adapter.scale, pool: pool)
            }
        }
    }

    /// Backward for `y = layer(x)` over `m` rows: adds `dY·W` (base and LoRA) to `inputGradient`
    /// (`m × columns`), and accumulates the gradients of the trainable base parts and LoRA factors.
    func backward(
        input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows m: Int,
        inputGradient: UnsafeMutablePointer<Float>, pool: ComputePool
    ) {
        guard m > 0 else { return }
        let offsets = partOffsets
        switch base {
        case .frozen(_, let weightRows):
            // dX += dY·W, the weights converted from the file dtype 64 rows at a time.
            let chunk = 64
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: chunk * columns)
            defer { buffer.deallocate() }
            for (part, table) in weightRows.enumerated() {
                var start = 0
                while start < table.rowCount {
                    let count = min(chunk, table.rowCount - start)
                    for row in 0..<count { table.copyRow(start + row, into: buffer + row * columns) }
                    GradientProducts.multiply(
                        outputGradient + offsets[part] + start, rows: m, inner: count, strideA: rows,
                        by: buffer, columns: columns, strideB: columns, into: inputGradient, strideC: columns,
                        accumulate: true, pool: pool)
                    start += count
                }
            }
        case .trainable(let parameters):
            for (part, parameter) in parameters.enumerated() {
                parameter.values.withUnsafeBufferPointer { weight in
                    GradientProducts.multiply(
                        outputGradient + offsets[part], rows: m, inner: partRows[part], strideA: rows,
                        by: weight.baseAddress!, columns: columns, strideB: columns, into: inputGradient,
                        strideC: columns, accumulate: true, pool: pool)
                }
                parameter.gradients.withUnsafeMutableBufferPointer { gradient in
                    GradientProducts.accumulateTransposedProduct(
                        outputGradient + offsets[part], strideA: rows, input, strideB: columns, rows: m,
                        aColumns: partRows[part], bColumns: columns, into: gradient.baseAddress!,
                        strideC: columns, pool: pool)
                }
            }
        }
        for (part, adapter) in adapters.enumerated() {
            guard let adapter else { continue }
            let rank = adapter.rank
            let low = UnsafeMutablePointer<Float>.allocate(capacity: m * rank)
            let lowGradient = UnsafeMutablePointer<Float>.allocate(capacity: m * rank)
            defer { low.deallocate(); lowGradient.deallocate() }
            let dY = outputGradient + offsets[part]
            // t = x·Aᵀ (recomputed: m × rank is cheap), dB += scale·dYᵀ·t, dt = scale·dY·B,
            // dA += dtᵀ·x, dX += dt·A.
            adapter.a.values.withUnsafeBufferPointer { a in
                GradientProducts.multiplyTransposed(
                    input, rows: m, inner: columns, strideA: columns, by: a.baseAddress!, columns: rank,
                    strideB: columns, into: low, strideC: rank, accumulate: false, pool: pool)
            }
            adapter.b.gradients.withUnsafeMutableBufferPointer { gradient in
                GradientProducts.accumulateTransposedProduct(
                    dY, strideA: rows, low, strideB: rank, rows: m, aColumns: partRows[part], bColumns: rank,
                    into: gradient.baseAddress!, strideC: rank, scale: adapter.scale, pool: pool)
            }
            adapter.b.values.withUnsafeBufferPointer { b in
                GradientProducts.multiply(
                    dY, rows: m, inner: partRows[part], strideA: rows, by: b.baseAddress!, columns: rank,
                    strideB: rank, into: lowGradient, strideC: rank, accumulate: false, scale: adapter.scale, pool: pool)
            }
            adapter.a.gradients.withUnsafeMutableBufferPointer { gradient in
                GradientProducts.accumulateTransposedProduct(
                    lowGradient, strideA: rank, input, strideB: columns, rows: m, aColumns: rank, bColumns: columns,
                    into: gradient.baseAddress!, strideC: columns, pool: pool)
            }
            adapter.a.values.withUnsafeBufferPointer { a in
                GradientProducts.multiply(
                    lowGradient, rows: m, inner: rank, strideA: rank, by: a.baseAddress!, columns: columns,
                    strideB: columns, into: inputGradient, strideC: columns, accumulate: true, pool: pool)
            }
        }
    }
}
