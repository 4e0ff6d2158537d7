import Dispatch
import Foundation
import Hummingbird
import Synchronization

/// A count of requests doing work, bounded by `limit`: a slot is taken without waiting or refused.
///
/// Refusing instead of queueing is deliberate: a request that cannot start at once would hold its
/// connection and body in memory while it waits, which is what the limit exists to bound. The client
/// gets 429 with `Retry-After`, as it does when a model's queue is full.
final class ConcurrencyLimiter: Sendable {
    /// Most requests doing work at once.
    let limit: Int
    private let inUse = Mutex(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a slot if one is free.
    func tryAcquire() -> Bool {
        inUse.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    /// Gives back a slot taken by `tryAcquire`.
    func release() {
        inUse.withLock { $0 -= 1 }
    }

    /// Slots taken now.
    var current: Int { inUse.withLock { $0 } }
}

/// Puts every route that does work under one `ConcurrencyLimiter`: every `POST` (tokenize, decode,
/// embed, rerank, similarity and any route added later; the `GET` routes only report state). Over the
/// limit it answers 429 with `Retry-After: 1` in the route's API shape.
///
/// The body is read (up to `payloadLimit`, 413 beyond) before a slot is taken: a slot stands for work,
/// and a client uploading slowly (or stalling, until the body timeout) must not hold one, or a few
/// hundred slow uploads would lock every other client out. The route's own `collectBody` then returns
/// the collected body at once.
struct ConcurrencyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limiter: ConcurrencyLimiter
    let payloadLimit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post else { return try await next(request, context) }
        let family = APIFamily(path: request.uri.path)
        var request = request
        do {
            _ = try await request.collectBody(upTo: payloadLimit)
        } catch {
            return APIError(.contentTooLarge, "the request body is larger than the limit of \(payloadLimit) bytes").response(family)
        }
        guard limiter.tryAcquire() else {
            var error = APIError(
                .tooManyRequests, "the server is busy: \(limiter.limit) requests are already in progress; retry shortly")
            error.retryAfter = 1
            return error.response(family)
        }
        defer { limiter.release() }
        return try await next(request, context)
    }
}

/// A few dedicated threads for CPU-heavy synchronous work of the routes, chiefly tokenization.
///
/// Swift's cooperative thread pool has one thread per core (two on a small machine); a route that
/// tokenizes a megabyte of text inline would occupy one of them for as long as that takes, and two
/// such requests would stall every other request, `/health` included. Work sent here runs on serial
/// dispatch queues instead, each backed by a thread of its own outside that pool; a job goes to the
/// queue with the fewest jobs, so one slow job holds up only the jobs queued behind it on its queue.
final class CPUWorkPool: Sendable {
    /// The pool the routes use: one queue per core, at least two.
    static let shared = CPUWorkPool(width: max(2, ProcessInfo.processInfo.activeProcessorCount))

    private let queues: [DispatchQueue]
    private let loads: Mutex<[Int]>

    init(width: Int) {
        queues = (0..<max(1, width)).map { DispatchQueue(label: "qwen3-embed.cpu-work.\($0)", qos: .userInitiated) }
        loads = Mutex(Array(repeating: 0, count: max(1, width)))
    }

    /// Runs `work` on the pool and returns its result. If the calling task is cancelled before the
    /// work starts (its client went away), the work is skipped and `CancellationError` thrown.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let index = loads.withLock { loads in
            let index = loads.indices.min { loads[$0] < loads[$1] }!
            loads[index] += 1
            return index
        }
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queues[index].async {
                    defer { self.loads.withLock { $0[index] -= 1 } }
                    if cancelled.isSet {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume(with: Result { try work() })
                    }
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

private final class CancellationFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// Runs CPU-heavy synchronous route work, such as tokenizing request texts, off Swift's cooperative
/// thread pool (see `CPUWorkPool`), so that it cannot stall other requests or `/health`:
///
/// ```swift
/// let sequences = try await offloaded { try service.tokenize(texts: texts, instruction: nil, truncate: true) }
/// ```
/// Wrap every tokenization and any other work that grows with the size of the request in it. The
/// request's `RequestStatistics` (a task local, which the pool's threads would not see) go along.
func offloaded<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    let statistics = RequestStatistics.current
    return try await CPUWorkPool.shared.run {
        try RequestStatistics.$current.withValue(statistics) { try work() }
    }
}

// The routes' tokenization, on the CPU work pool. Each is the async twin of the synchronous method of
// the same name (Swift picks the async one in async code, so a route's `try await service.tokenize(…)`
// runs here, while the synchronous versions stay usable inside other synchronous work).
extension InferenceService {
    /// `tokenize(texts:instruction:truncate:keepEnd:maxLength:)`, off the cooperative pool.
    func tokenize(texts: [String], instruction: String?, truncate: Bool, keepEnd: Bool = false, maxLength: Int? = nil) async throws -> [[Int]] {
        try await offloaded {
            try self.tokenize(texts: texts, instruction: instruction, truncate: truncate, keepEnd: keepEnd, maxLength: maxLength)
        }
    }

    /// `rerankSequences(query:documents:instruction:truncate:)`, off the cooperative pool.
    func rerankSequences(query: String, documents: [String], instruction: String?, truncate: Bool) async throws -> [[Int]] {
        try await offloaded {
            try self.rerankSequences(query: query, documents: documents, instruction: instruction, truncate: truncate)
        }
    }

    /// `teiSequences(_:options:param:)`, off the cooperative pool.
    func teiSequences(_ inputs: [TEIInput], options: TEIOptions, param: String) async throws -> [[Int]] {
        try await offloaded { try self.teiSequences(inputs, options: options, param: param) }
    }
}
