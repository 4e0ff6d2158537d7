import Dispatch

/// Runs model computations one at a time on a dedicated queue, off Swift's cooperative thread pool.
///
/// A forward pass already uses every core through the kernel pool, so running two at once only makes
/// both slower; and doing it on a dispatch queue keeps long matrix work from starving the async tasks
/// (an HTTP server's, say) that share the cooperative pool.
final class InferenceExecutor: Sendable {
    /// The process-wide executor shared by every loaded model.
    static let shared = InferenceExecutor()

    private let queue = DispatchQueue(label: "qwen3-embedding.inference", qos: .userInitiated)

    /// Runs `work` on the inference queue and returns its result.
    func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Swift.Result { try work() })
            }
        }
    }
}

/// Groups sequences into forward passes of at most `maxTokens` tokens (a single longer sequence forms
/// a pass of its own), returning the indices of each pass.
///
/// Sequences are taken longest first, so a pass holds sequences of similar length: the attention work
/// of a pass is then balanced across tasks, and the budget is filled tightly. Packing means there is
/// no padding to save; callers put results back in input order.
func tokenBudgetBatches(_ sequences: [[Int]], maxTokens: Int) -> [[Int]] {
    let order = sequences.indices.sorted { sequences[$0].count != sequences[$1].count
        ? sequences[$0].count > sequences[$1].count : $0 < $1 }
    var batches: [[Int]] = []
    var current: [Int] = []
    var tokens = 0
    for index in order {
        let length = sequences[index].count
        if !current.isEmpty && tokens + length > maxTokens {
            batches.append(current)
            current = []
            tokens = 0
        }
        current.append(index)
        tokens += length
    }
    if !current.isEmpty { batches.append(current) }
    return batches
}
