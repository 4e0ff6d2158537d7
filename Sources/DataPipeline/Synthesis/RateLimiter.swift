/// A token bucket of capacity one shared by every worker: requests start at least `1/rate` seconds
/// apart, whatever the concurrency (retries included, since they load the server too).
public actor RateLimiter {
    private let interval: Duration
    private var nextSlot: ContinuousClock.Instant

    /// A limiter for `requestsPerSecond` (> 0).
    public init(requestsPerSecond: Double) {
        precondition(requestsPerSecond > 0, "a rate must be positive")
        interval = .nanoseconds(Int64((1e9 / requestsPerSecond).rounded()))
        nextSlot = .now
    }

    /// Waits for this caller's slot. Slots are handed out in call order before sleeping, so callers
    /// never compete for the same one.
    public func acquire() async throws {
        let now = ContinuousClock.now
        let slot = max(now, nextSlot)
        nextSlot = slot + interval
        if slot > now { try await Task.sleep(until: slot, clock: .continuous) }
    }
}
