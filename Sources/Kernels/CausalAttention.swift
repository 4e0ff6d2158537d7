import CKernels
import Foundation

/// Grouped-query causal self-attention over a packed batch of sequences.
///
/// Sequences are packed back to back without padding; each one attends only to its own earlier tokens.
/// A task holds the scores of at most `queriesPerTask` query rows, so memory stays O(length) per task and
/// the full L×L matrix is never built. The plain-Swift path (`ReferenceAttention`) works one query row
/// at a time; the AVX-512 kernel four rows at a time against keys transposed once per segment and head.
public enum CausalAttention {
    /// Query rows handled by one task.
    static let queriesPerTask = 32

    /// Attention for every sequence and head.
    ///
    /// - Parameters:
    ///   - query: one row per token holding `heads·headDimension` values (normalised, rotated), rows
    ///     `queryStride` apart (so q, k and v may share the rows of one fused projection).
    ///   - key: one row per token holding `keyValueHeads·headDimension` values, rows `keyValueStride` apart.
    ///   - value: like `key`.
    ///   - output: `tokens × (heads·headDimension)`, contiguous; overwritten.
    public static func compute(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, segments: [SequenceSegment],
        heads: Int, keyValueHeads: Int, headDimension: Int,
        queryStride: Int? = nil, keyValueStride: Int? = nil, features: CPUFeatures = .usable,
        pool: ComputePool = .shared
    ) {
        struct Task { let segment: SequenceSegment; let segmentIndex: Int; let head: Int; let firstQuery: Int; let queryCount: Int }
        var tasks: [Task] = []
        for (segmentIndex, segment) in segments.enumerated() {
            for head in 0..<heads {
                var first = 0
                while first < segment.length {
                    let count = min(queriesPerTask, segment.length - first)
                    tasks.append(Task(segment: segment, segmentIndex: segmentIndex, head: head, firstQuery: first, queryCount: count))
                    first += count
                }
            }
        }
        let outputStride = heads * headDimension
        let queryStride = queryStride ?? outputStride
        let keyValueStride = keyValueStride ?? keyValueHeads * headDimension
        let headsPerKeyValue = heads / keyValueHeads
        let scale = 1 / Float(headDimension).squareRoot()
        let vectorized = features.hasAVX512 && headDimension % 16 == 0 && headDimension <= 256
        // The AVX-512 kernel reads keys transposed: one (dimension × padded length) block per segment
        // and key-value head, made once here and shared by that head's tasks.
        var transposedOffsets: [Int] = []
        var transposedCount = 0
        if vectorized {
            for segment in segments {
                transposedOffsets.append(transposedCount)
                transposedCount += keyValueHeads * headDimension * paddedLength(segment.length)
            }
        }
        let transposed = UnsafeMutablePointer<Float>.allocate(capacity: max(transposedCount, 1))
        defer { transposed.deallocate() }
        if vectorized {
            segments.withUnsafeBufferPointer { segments in
                pool.run(tasks: segments.count * keyValueHeads) { index in
                    let segmentIndex = index / keyValueHeads, keyValueHead = index % keyValueHeads
                    let segment = segments[segmentIndex]
                    let padded = paddedLength(segment.length)
                    q3e_transpose_keys_f32(
                        key + segment.start * keyValueStride + keyValueHead * headDimension, Int64(keyValueStride),
                        Int64(segment.length), Int64(headDimension),
                        transposed + transposedOffsets[segmentIndex] + keyValueHead * headDimension * padded, Int64(padded))
                }
            }
        }
        tasks.withUnsafeBufferPointer { tasks in
            pool.run(tasks: tasks.count) { index in
                let task = tasks[index]
                let keyValueHead = task.head / headsPerKeyValue
                let lastQuery = task.firstQuery + task.queryCount
                let keys = key + task.segment.start * keyValueStride + keyValueHead * headDimension
                let values = value + task.segment.start * keyValueStride + keyValueHead * headDimension
                let queries = query + task.segment.start * queryStride + task.head * headDimension
                let outputs = output + task.segment.start * outputStride + task.head * headDimension
                if vectorized {
                    let padded = paddedLength(task.segment.length)
                    let scores = UnsafeMutablePointer<Float>.allocate(capacity: task.queryCount * paddedLength(lastQuery))
                    defer { scores.deallocate() }
                    q3e_attention_f32_avx512(
                        queries, Int64(queryStride),
                        transposed + transposedOffsets[task.segmentIndex] + keyValueHead * headDimension * padded,
                        Int64(padded), values, Int64(keyValueStride), outputs, Int64(outputStride),
                        Int64(task.firstQuery), Int64(lastQuery), Int64(headDimension), scale, scores)
                    return
                }
                ReferenceAttention.rows(
                    query: queries, queryStride: queryStride, keys: keys, values: values, keyValueStride: keyValueStride,
                    output: outputs, outputStride: outputStride, firstQuery: task.firstQuery, endQuery: lastQuery, headDimension: headDimension, scale: scale)
            }
        }
    }

    /// Length rounded up to the AVX-512 kernel's key tile (32).
    static func paddedLength(_ length: Int) -> Int { (length + 31) & ~31 }
}
