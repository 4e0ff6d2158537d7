/// Several weight matrices with the same input width applied as one layer whose output row is the
/// concatenation of theirs (q | k | v, gate | up).
///
/// Used when the parts cannot share one packed matrix, e.g. a GGUF Q4_K_M file that stores `attn_v`
/// as Q6_K next to Q4_K `attn_q`/`attn_k`: each part runs on its own kernel into a scratch buffer,
/// and the results are interleaved into the fused row layout the model expects.
public final class StackedLinearLayer: LinearLayer {
    /// The parts, in output order.
    public let parts: [any LinearLayer]
    /// Sum of the parts' rows.
    public let rows: Int
    /// Shared input width.
    public let columns: Int
    /// Sum of the parts' storage.
    public var byteCount: Int { parts.reduce(0) { $0 + $1.byteCount } }

    /// Stacks `parts`; they must all take `columns` inputs.
    public init(_ parts: [any LinearLayer]) {
        precondition(!parts.isEmpty, "nothing to stack")
        precondition(parts.allSatisfy { $0.columns == parts[0].columns }, "stacked parts must share the input width")
        self.parts = parts
        rows = parts.reduce(0) { $0 + $1.rows }
        columns = parts[0].columns
    }

    /// Runs each part, then copies its columns into place in `output` (`m × rows`).
    public func multiply(
        _ input: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>,
        precision: Precision, features: CPUFeatures, pool: ComputePool
    ) {
        guard m > 0 else { return }
        var start = 0
        for part in parts {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: m * part.rows)
            defer { scratch.deallocate() }
            part.multiply(input, rows: m, into: scratch, precision: precision, features: features, pool: pool)
            for row in 0..<m {
                (output + row * rows + start).update(from: scratch + row * part.rows, count: part.rows)
            }
            start += part.rows
        }
    }

    /// The first part's kernel (the parts may differ; reports name the dominant one).
    public func kernel(for precision: Precision, features: CPUFeatures) -> KernelPath {
        parts[0].kernel(for: precision, features: features)
    }
}
