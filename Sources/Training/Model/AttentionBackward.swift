import Foundation
import Kernels

/// Backward of grouped-query causal attention over a packed batch (what `CausalAttention.compute` does).
///
/// Flash-style: nothing of size L×L is kept. For each query row the probabilities are recomputed from q
/// and k (one row of scores, O(L) memory per task), then
/// `dv_j += p_j·dO`, `dp_j = dO·v_j`, `ds_j = p_j·(dp_j − Σ_t p_t·dp_t)`, `dq += scale·Σ_j ds_j·k_j`,
/// `dk_j += scale·ds_j·q`. A task owns one key/value head of one sequence (all the query heads that
/// share it), so its key and value gradients are written by no other task.
enum AttentionBackward {
    /// Adds the gradients of q, k and v to `queryGradient`, `keyGradient`, `valueGradient` (same layouts
    /// and strides as the inputs; may be parts of one fused gradient row).
    static func compute(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        queryStride: Int, keyValueStride: Int,
        outputGradient: UnsafePointer<Float>, outputStride: Int,
        queryGradient: UnsafeMutablePointer<Float>, keyGradient: UnsafeMutablePointer<Float>,
        valueGradient: UnsafeMutablePointer<Float>,
        segments: [SequenceSegment], heads: Int, keyValueHeads: Int, headDimension d: Int, pool: ComputePool
    ) {
        let groups = heads / keyValueHeads
        let scale = 1 / Float(d).squareRoot()
        let longest = segments.map(\.length).max() ?? 0
        let pointers = Pointers(
            query: query, key: key, value: value, outputGradient: outputGradient,
            queryGradient: queryGradient, keyGradient: keyGradient, valueGradient: valueGradient)
        pool.run(tasks: segments.count * keyValueHeads) { task in
            let segment = segments[task / keyValueHeads]
            let keyValueHead = task % keyValueHeads
            let probabilities = UnsafeMutablePointer<Float>.allocate(capacity: max(longest, 1))
            let products = UnsafeMutablePointer<Float>.allocate(capacity: max(longest, 1))
            defer { probabilities.deallocate(); products.deallocate() }
            let keyOffset = keyValueHead * d
            for head in (keyValueHead * groups)..<((keyValueHead + 1) * groups) {
                let queryOffset = head * d
                for i in 0..<segment.length {
                    let row = segment.start + i
                    let q = pointers.query + row * queryStride + queryOffset
                    let dO = pointers.outputGradient + row * outputStride + queryOffset
                    // Probabilities of row i, as the forward computes them (max-subtracted softmax).
                    var maximum = -Float.infinity
                    for j in 0...i {
                        let score = RowMajorGEMM.dot(q, pointers.key + (segment.start + j) * keyValueStride + keyOffset, count: d) * scale
                        probabilities[j] = score
                        maximum = max(maximum, score)
                    }
                    var total: Float = 0
                    for j in 0...i {
                        let e = exp(probabilities[j] - maximum)
                        probabilities[j] = e
                        total += e
                    }
                    var weighted: Float = 0
                    for j in 0...i {
                        probabilities[j] /= total
                        let v = pointers.value + (segment.start + j) * keyValueStride + keyOffset
                        products[j] = RowMajorGEMM.dot(dO, v, count: d)
                        weighted += probabilities[j] * products[j]
                    }
                    let dq = pointers.queryGradient + row * queryStride + queryOffset
                    for j in 0...i {
                        let keyRow = (segment.start + j) * keyValueStride + keyOffset
                        let p = probabilities[j]
                        let ds = p * (products[j] - weighted) * scale
                        let k = pointers.key + keyRow
                        let dk = pointers.keyGradient + keyRow
                        let dv = pointers.valueGradient + keyRow
                        for t in 0..<d {
                            dq[t] += ds * k[t]
                            dk[t] += ds * q[t]
                            dv[t] += p * dO[t]
                        }
                    }
                }
            }
        }
    }

    /// The operands, shared read-only (inputs) or by disjoint rows (gradients) across tasks.
    private struct Pointers: @unchecked Sendable {
        let query: UnsafePointer<Float>
        let key: UnsafePointer<Float>
        let value: UnsafePointer<Float>
        let outputGradient: UnsafePointer<Float>
        let queryGradient: UnsafeMutablePointer<Float>
        let keyGradient: UnsafeMutablePointer<Float>
        let valueGradient: UnsafeMutablePointer<Float>
    }
}
