import Foundation
import Synchronization

/// What one request cost, filled in by `InferenceService` while it works and read once the response
/// is ready: by `RequestObservationMiddleware` for TEI's `x-compute-*`/`x-*-time` headers, the access
/// log line and the `te_*` metrics. Carried in a task local, so route code needs no extra parameter
/// (the unstructured task of `untilClientDisconnects` inherits it).
final class RequestStatistics: Sendable {
    /// The statistics of the request the current task is serving, if any.
    @TaskLocal static var current: RequestStatistics?

    struct Values: Sendable {
        /// Inputs (texts, token-id lists or rerank documents) in the request.
        var inputs = 0
        /// Tokens sent through the model.
        var tokens = 0
        /// Characters (Unicode extended grapheme clusters, as TEI counts `chars`) of the text inputs.
        var characters = 0
        /// Time spent turning texts into token ids.
        var tokenization = Duration.zero
        /// Time from handing the work to a model's queue until the engine started a forward pass for
        /// it (waiting for other requests' passes).
        var queue = Duration.zero
        /// Time from then until the last result came back.
        var inference = Duration.zero
        /// Whether the request reached a model (an inference route that got as far as the queue).
        var usedModel = false
    }

    private let state = Mutex(Values())

    /// A snapshot of what has been recorded.
    var values: Values { state.withLock { $0 } }

    /// Applies `change` to the recorded values.
    func update(_ change: (inout Values) -> Void) {
        state.withLock { change(&$0) }
    }

    /// Adds to the current request's statistics, if there is one.
    static func record(_ change: (inout Values) -> Void) {
        current?.update(change)
    }
}

/// When a model's engine started each of its recent forward passes, so a request can tell how long it
/// waited for the engine: the first pass that started after the request was queued is where its own
/// work began (the queue is first come, first served).
final class EngineTimeline: Sendable {
    private let starts = Mutex([ContinuousClock.Instant]())
    /// Passes remembered; far more than can start while one request waits (each pass takes at least
    /// one forward of the model, and at most `maxConcurrentRequests` requests are queued).
    private let capacity = 4096

    /// Records that a forward pass is starting now.
    func passStarted() {
        let now = ContinuousClock.now
        starts.withLock { starts in
            starts.append(now)
            if starts.count > capacity { starts.removeFirst(starts.count - capacity / 2) }
        }
    }

    /// The start of the first pass at or after `instant`, if one is recorded.
    func firstStart(notBefore instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        starts.withLock { starts in
            // Starts are appended in time order: binary search for the first one not before `instant`.
            var low = 0, high = starts.count
            while low < high {
                let middle = (low + high) / 2
                if starts[middle] < instant { low = middle + 1 } else { high = middle }
            }
            return low < starts.count ? starts[low] : nil
        }
    }

    /// Times `work` (one request's queued computation) and records its queue and inference time.
    func measure<T>(_ work: () async throws -> T) async rethrows -> T {
        let submitted = ContinuousClock.now
        let result = try await work()
        let finished = ContinuousClock.now
        let started = min(firstStart(notBefore: submitted) ?? submitted, finished)
        RequestStatistics.record {
            $0.usedModel = true
            $0.queue += started - submitted
            $0.inference += finished - started
        }
        return result
    }
}
