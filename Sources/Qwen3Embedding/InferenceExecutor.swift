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

/// Splits sequences into consecutive batches of at most `maxTokens` tokens (a single longer sequence
/// forms a batch of its own), so memory for activations stays bounded.
func tokenBudgetBatches(_ sequences: [[Int]], maxTokens: Int) -> [Range<Int>] {
    var batches: [Range<Int>] = []
    var start = 0
    var tokens = 0
    for (index, sequence) in sequences.enumerated() {
        if index > start && tokens + sequence.count > maxTokens {
            batches.append(start..<index)
            start = index
            tokens = 0
        }
        tokens += sequence.count
    }
    if start < sequences.count { batches.append(start..<sequences.count) }
    return batches
}
