import Dispatch
import Foundation
@testable import Server
import Synchronization
import Testing

@Suite("Concurrency limit and CPU work", .serialized)
struct ConcurrencyLimitTests {
    @Test("Every working route is under --max-concurrent-requests: 429 with Retry-After when full, GET routes unaffected")
    func workingRoutesShareOneLimit() async throws {
        let embedding = #"model="tiny-embedding""#
        try await TestServer.with(configure: { $0.maxConcurrentRequests = 2 }) { server, _ in
            let gate = await InferenceGate.occupy()
            defer { gate.open() }
            // Two requests take both slots and wait in the queue behind the gate.
            let first = Task { try await server.post("/embed", ["inputs": ["one"]]) }
            let second = Task { try await server.post("/v1/embeddings", ["input": "two"]) }
            try await waitUntil("both requests to be queued", limit: .seconds(600)) {
                let text = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
                return metric(text, "queue_depth", embedding) == 2
            }
            // Tokenization does no model work but is limited all the same, in each API's error shape.
            let tokenize = try await server.post("/tokenize", ["inputs": "hello"])
            #expect(tokenize.status == 429)
            #expect(tokenize.header("retry-after") == "1")
            #expect(tokenize.object["error_type"] as? String == "Overloaded")
            let openAI = try await server.post("/v1/embeddings", ["input": "three"])
            #expect(openAI.status == 429)
            #expect((openAI.object["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
            #expect(try await server.get("/health").status == 200)

            gate.open()
            #expect(try await first.value.status == 200)
            #expect(try await second.value.status == 200)
            // The slots are free again.
            #expect(try await server.post("/tokenize", ["inputs": "hello"]).status == 200)
        }
    }

    @Test("A slow upload does not hold a concurrency slot: the body is read before a slot is taken")
    func slowUploadHoldsNoSlot() async throws {
        try await TestServer.with(configure: { $0.maxConcurrentRequests = 1 }) { server, _ in
            let upload = try RawSocket(port: server.port)
            // In one write, so the stalled request's head has been read once /health is answered.
            try await upload.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + stalledRequest(path: "/tokenize"))
            #expect(try await upload.readResponse().status == 200)
            // Time for the stalled request to reach the limit's middleware (were it to take the only
            // slot while waiting for its body, the request below would get 429; a slow machine can
            // only make this check more lenient, never fail it).
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await server.post("/tokenize", ["inputs": "hello"]).status == 200)
        }
    }

    @Test("CPU work runs outside Swift's cooperative pool: blocked jobs on every queue do not stall async tasks")
    func cpuWorkIsOffThePool() async throws {
        let width = 2 * max(2, ProcessInfo.processInfo.activeProcessorCount)
        let pool = CPUWorkPool(width: width)
        let release = DispatchSemaphore(value: 0)
        let started = Counter()
        // More blocked jobs than the cooperative pool has threads: were they on it, not all of them
        // could start, and nothing else could run.
        let jobs = (0..<width).map { index in
            Task {
                try await pool.run {
                    started.increment()
                    release.wait()
                    return index
                }
            }
        }
        try await waitUntil("every job to be running", limit: .seconds(600)) { started.value == width }
        #expect(await Task.detached { 42 }.value == 42)
        for _ in 0..<width { release.signal() }
        for (index, job) in jobs.enumerated() { #expect(try await job.value == index) }
    }

    @Test("CPU work whose task is cancelled before it starts is skipped")
    func cancelledWorkIsSkipped() async throws {
        let pool = CPUWorkPool(width: 1)
        let release = DispatchSemaphore(value: 0)
        let (started, signal) = AsyncStream<Void>.makeStream()
        let ran = Counter()
        let blocker = Task { try await pool.run { signal.yield(); release.wait() } }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        // Queued behind the blocker on the pool's only queue, then cancelled.
        let skipped = Task { try await pool.run { ran.increment() } }
        skipped.cancel()
        release.signal()
        try await blocker.value
        await #expect(throws: CancellationError.self) { try await skipped.value }
        #expect(ran.value == 0)
    }
}

/// A count shared with work on other threads.
private final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
