import Foundation

/// Errors raised by a `BatchQueue`.
public enum BatchQueueError: Error, Equatable, Sendable {
    /// The queue already holds its maximum number of pending requests; retry later.
    case queueFull(limit: Int)
    /// The caller's task was cancelled (for a server: the client went away) before its work ran.
    case cancelled
}

/// A dynamic batching queue in front of one model: pending sequences from concurrent requests are
/// packed into forward passes of at most `maxBatchTokens` tokens.
///
/// Passes interleave requests: each pass takes one sequence from every pending request in turn
/// (round robin, in arrival order), round after round, until the token budget is full. So a request
/// of many long texts does not hold the engine until all of it is done: a short request that arrives
/// while it runs is in the next forward pass, and requests share the passes evenly.
///
/// Requests arrive already tokenised. Because the model's forward pass packs sequences without padding
/// and each sequence attends only to itself, a sequence's result does not depend on its batch-mates:
/// what a request gets back is bit-identical to `Embedder.embed` / `Reranker.score` for the same input.
/// A request whose task is cancelled while its sequences wait is removed from the queue: sequences not
/// yet handed to a forward pass are never computed (a pass already running finishes, and that request's
/// share of its results is discarded).
public actor BatchQueue {
    /// Runs one packed forward pass; returns one vector per sequence, in order.
    public typealias Forward = @Sendable ([[Int]]) throws -> [[Float]]

    private struct Pending {
        let id: UInt64
        let sequences: [[Int]]
        var next = 0            // index of the first sequence not yet handed to a batch
        var remaining: Int      // sequences whose results are still to come
        var results: [[Float]]
        let continuation: CheckedContinuation<[[Float]], any Error>
    }

    /// Token budget of one forward pass.
    public let maxBatchTokens: Int
    /// Largest number of requests waiting or running at once before `submit` fails with `queueFull`.
    public let maxPendingRequests: Int
    private let forward: Forward
    private let observer: (@Sendable (_ sequences: Int, _ tokens: Int) -> Void)?
    private let cancellationObserver: (@Sendable (_ droppedSequences: Int) -> Void)?
    private var pending: [Pending] = []
    private var nextID: UInt64 = 0
    private var running = false

    /// A queue over `forward`.
    ///
    /// - Parameters:
    ///   - maxBatchTokens: the token budget of one forward pass (at least 1; a single longer sequence
    ///     runs alone).
    ///   - maxPendingRequests: requests waiting or running at once before `submit` throws
    ///     ``BatchQueueError/queueFull(limit:)`` (at least 1), so a burst is refused instead of queued
    ///     without bound.
    ///   - observer: called once per forward pass with its sequence and token counts (metrics).
    ///   - cancellationObserver: called when a cancelled request leaves the queue, with the number of
    ///     its sequences that were dropped without being computed (metrics).
    ///   - forward: the packed forward pass, called for one batch at a time (never concurrently).
    public init(
        maxBatchTokens: Int, maxPendingRequests: Int,
        observer: (@Sendable (_ sequences: Int, _ tokens: Int) -> Void)? = nil,
        cancellationObserver: (@Sendable (_ droppedSequences: Int) -> Void)? = nil,
        forward: @escaping Forward
    ) {
        self.maxBatchTokens = max(1, maxBatchTokens)
        self.maxPendingRequests = max(1, maxPendingRequests)
        self.observer = observer
        self.cancellationObserver = cancellationObserver
        self.forward = forward
    }

    /// Number of requests waiting or running.
    public var depth: Int { pending.count }

    /// Computes `forward` for `sequences`, batched with other requests' sequences; results in input order.
    public func submit(_ sequences: [[Int]]) async throws -> [[Float]] {
        if sequences.isEmpty { return [] }
        guard pending.count < maxPendingRequests else { throw BatchQueueError.queueFull(limit: maxPendingRequests) }
        if Task.isCancelled {
            cancellationObserver?(sequences.count)
            throw BatchQueueError.cancelled
        }
        let id = nextID
        nextID += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                pending.append(Pending(
                    id: id, sequences: sequences, remaining: sequences.count,
                    results: Array(repeating: [], count: sequences.count), continuation: continuation))
                startIfIdle()
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    /// Drops a cancelled request's sequences that have not started; its caller gets `cancelled` now.
    /// (A request that already completed is no longer pending: nothing happens.)
    private func cancel(_ id: UInt64) {
        guard let index = pending.firstIndex(where: { $0.id == id }) else { return }
        let request = pending.remove(at: index)
        cancellationObserver?(request.sequences.count - request.next)
        request.continuation.resume(throwing: BatchQueueError.cancelled)
    }

    private func startIfIdle() {
        guard !running, !pending.isEmpty else { return }
        running = true
        Task { await self.drain() }
    }

    /// Runs batches until nothing is pending.
    private func drain() async {
        while let batch = takeBatch() {
            let sequences = batch.map(\.sequence)
            observer?(sequences.count, sequences.reduce(0) { $0 + $1.count })
            let forward = self.forward
            let outcome: Result<[[Float]], any Error>
            do {
                outcome = .success(try await InferenceExecutor.shared.run { try forward(sequences) })
            } catch {
                outcome = .failure(error)
            }
            deliver(outcome, to: batch)
        }
        running = false
    }

    /// The next forward pass: rounds over the pending requests in arrival order, each round taking
    /// the next sequence of every request that still has one, until the token budget is full. A
    /// request whose next sequence does not fit sits out the rest of this pass (its sequences keep
    /// their order), while the others may still fill the budget. A single sequence longer than the
    /// budget runs alone.
    private func takeBatch() -> [(request: UInt64, index: Int, sequence: [Int])]? {
        var batch: [(request: UInt64, index: Int, sequence: [Int])] = []
        var tokens = 0
        var open = pending.indices.filter { pending[$0].next < pending[$0].sequences.count }
        while !open.isEmpty {
            var stillOpen: [Int] = []
            for position in open {
                let index = pending[position].next
                let sequence = pending[position].sequences[index]
                if !batch.isEmpty && tokens + sequence.count > maxBatchTokens { continue }
                batch.append((pending[position].id, index, sequence))
                tokens += sequence.count
                pending[position].next += 1
                if pending[position].next < pending[position].sequences.count { stillOpen.append(position) }
            }
            open = stillOpen
        }
        return batch.isEmpty ? nil : batch
    }

    private func deliver(_ outcome: Result<[[Float]], any Error>, to batch: [(request: UInt64, index: Int, sequence: [Int])]) {
        for (offset, item) in batch.enumerated() {
            // The request may have been cancelled and removed meanwhile: its results are dropped.
            guard let position = pending.firstIndex(where: { $0.id == item.request }) else { continue }
            switch outcome {
            case .failure(let error):
                let request = pending.remove(at: position)
                request.continuation.resume(throwing: error)
            case .success(let vectors):
                pending[position].results[item.index] = vectors[offset]
                pending[position].remaining -= 1
                if pending[position].remaining == 0 {
                    let request = pending.remove(at: position)
                    request.continuation.resume(returning: request.results)
                }
            }
        }
    }
}

/// An `Embedder` behind a `BatchQueue`: same results as `Embedder.embed(tokenIDs:)`, bit for bit,
/// batched across callers (the forward pass and the post-processing are the embedder's own).
public struct BatchedEmbedder: Sendable {
    /// The embedder whose model and tokenizer are used.
    public let embedder: Embedder
    /// The queue in front of the model.
    public let queue: BatchQueue

    /// Wraps `embedder`; `observer` sees each forward pass (sequence count, token count) and
    /// `cancellationObserver` each cancelled request's dropped sequences (see `BatchQueue.init`).
    public init(
        _ embedder: Embedder, maxPendingRequests: Int,
        observer: (@Sendable (_ sequences: Int, _ tokens: Int) -> Void)? = nil,
        cancellationObserver: (@Sendable (_ droppedSequences: Int) -> Void)? = nil
    ) {
        self.embedder = embedder
        queue = BatchQueue(maxBatchTokens: embedder.maxBatchTokens, maxPendingRequests: maxPendingRequests,
                           observer: observer, cancellationObserver: cancellationObserver,
                           forward: EmbeddingPostProcessing.forward(embedder.model))
    }

    /// Embeds token sequences (as `Embedder.tokenize` makes them), in order.
    public func embed(tokenIDs sequences: [[Int]], dimensions: Int? = nil, normalize: Bool = true) async throws -> [[Float]] {
        try await embedder.embed(tokenIDs: sequences, through: queue, dimensions: dimensions, normalize: normalize)
    }
}

/// A `Reranker` behind a `BatchQueue`: same scores as `Reranker.score(tokenIDs:raw:)`, bit for bit,
/// batched across callers (the score head and its arithmetic are the reranker's own).
public struct BatchedReranker: Sendable {
    /// The reranker whose model and prompt format are used.
    public let reranker: Reranker
    /// The queue in front of the model.
    public let queue: BatchQueue

    /// Wraps `reranker`; `observer` sees each forward pass (sequence count, token count) and
    /// `cancellationObserver` each cancelled request's dropped sequences (see `BatchQueue.init`).
    /// (It no longer fails: the reranker checked its score head when it was made. It stays `throws`
    /// so existing `try` call sites compile unchanged.)
    public init(
        _ reranker: Reranker, maxPendingRequests: Int,
        observer: (@Sendable (_ sequences: Int, _ tokens: Int) -> Void)? = nil,
        cancellationObserver: (@Sendable (_ droppedSequences: Int) -> Void)? = nil
    ) throws {
        self.reranker = reranker
        let head = reranker.head
        queue = BatchQueue(maxBatchTokens: reranker.maxBatchTokens, maxPendingRequests: maxPendingRequests,
                           observer: observer, cancellationObserver: cancellationObserver) { try head.logits($0) }
    }

    /// Scores prompts made by `Reranker.tokenize(query:document:instruction:)`, in order.
    ///
    /// - Parameters:
    ///   - sequences: the prompts' token ids; an empty list is an error.
    ///   - raw: return the logit difference `yes − no` instead of its sigmoid.
    public func score(tokenIDs sequences: [[Int]], raw: Bool = false) async throws -> [Float] {
        try await reranker.score(tokenIDs: sequences, through: queue, raw: raw)
    }
}
