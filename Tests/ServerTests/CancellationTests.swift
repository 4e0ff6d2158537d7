import Dispatch
import Foundation
import Qwen3Embedding
import Synchronization
import Testing

/// Holds the process-wide inference queue (every model's forward passes run there one at a time) busy
/// until `release()`: while it is held no forward pass can run, so a test can disconnect clients while
/// their work is certainly still queued, without depending on timing.
final class InferenceGate: Sendable {
    private let semaphore: DispatchSemaphore
    private let opened = Mutex(false)
    /// The gate's own request, whose forward pass is the one that blocks.
    private let blocker: Task<[[Float]], any Error>

    private init(semaphore: DispatchSemaphore, blocker: Task<[[Float]], any Error>) {
        self.semaphore = semaphore
        self.blocker = blocker
    }

    /// Returns once the gate's forward pass is running (and so holding the queue).
    static func occupy() async -> InferenceGate {
        let semaphore = DispatchSemaphore(value: 0)
        let (started, signal) = AsyncStream<Void>.makeStream()
        let queue = BatchQueue(maxBatchTokens: 1, maxPendingRequests: 1) { _ in
            signal.yield()
            semaphore.wait()
            return [[0]]
        }
        let blocker = Task { try await queue.submit([[0]]) }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        return InferenceGate(semaphore: semaphore, blocker: blocker)
    }

    /// Lets the blocked forward pass finish; later calls do nothing.
    func open() {
        let first = opened.withLock { opened in
            defer { opened = true }
            return !opened
        }
        if first { semaphore.signal() }
    }
}

/// Polls `condition` (every 10 ms, for at most `limit`): for states reached asynchronously, such as a
/// server noticing a closed socket. The limit only keeps a broken build from hanging.
func waitUntil(_ what: String, limit: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        if ContinuousClock.now > deadline { throw RawHTTPConnection.Failure(description: "gave up waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// The value of one Prometheus sample, e.g. `metric(text, "queue_depth", #"model="m""#)`.
func metric(_ exposition: String, _ name: String, _ labels: String) -> Double? {
    let prefix = "\(name){\(labels)} "
    return exposition.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
}

@Suite("Client disconnects", .serialized)
struct CancellationTests {
    @Test("BatchQueue: cancelling a caller drops its sequences that no forward pass has taken")
    func queueDropsCancelledSequences() async throws {
        let computed = Mutex<[[Int]]>([])
        let dropped = Mutex(0)
        let (batches, batchFormed) = AsyncStream<Int>.makeStream()
        let queue = BatchQueue(
            maxBatchTokens: 2, maxPendingRequests: 10,
            observer: { sequences, _ in batchFormed.yield(sequences) },
            cancellationObserver: { count in dropped.withLock { $0 += count } }
        ) { sequences in
            computed.withLock { $0.append(contentsOf: sequences) }
            return sequences.map { [Float($0[0])] }
        }
        let gate = await InferenceGate.occupy()
        defer { gate.open() }

        // Six one-token sequences: the first forward pass takes two, then waits behind the gate.
        let leaving = Task { try await queue.submit((0..<6).map { [$0] }) }
        var formed = batches.makeAsyncIterator()
        #expect(await formed.next() == 2)
        #expect(await queue.depth == 1)
        leaving.cancel()
        await #expect(throws: BatchQueueError.cancelled) { try await leaving.value }
        #expect(dropped.withLock { $0 } == 4)
        #expect(await queue.depth == 0)

        // A later caller is served normally once the queue runs again.
        let staying = Task { try await queue.submit([[10], [11], [12]]) }
        try await waitUntil("the second request to be queued") { await queue.depth == 1 }
        gate.open()
        #expect(try await staying.value == [[10], [11], [12]])
        // The cancelled request's first pass had already been formed and ran; its other four never did.
        #expect(computed.withLock { $0 } == [[0], [1], [10], [11], [12]])
        #expect(await queue.depth == 0)
    }

    @Test("Server: a disconnected client's queued inputs are dropped; keep-alive clients keep being served")
    func disconnectedClientsWorkIsDropped() async throws {
        // Long texts are truncated to the fixture's 64 tokens: four per 256-token forward pass.
        let texts = (0..<64).map { "text \($0): " + String(repeating: "many words in here ", count: 20) }
        let documents = (0..<40).map { "document \($0): " + String(repeating: "some more words ", count: 30) }
        let small = ["hello world", "a second input"]
        let query = "what is the capital of China?"
        let smallDocuments = ["Beijing is the capital of China.", "Gravity attracts bodies."]
        let expectedSmall = try await Fixtures.embedder.embed(small)
        let expectedScores = try await Fixtures.rerankerModel.score(query: query, documents: smallDocuments)
        let embedding = #"model="tiny-embedding""#, reranking = #"model="tiny-reranker""#

        try await TestServer.with { server, _ in
            let exposition = { String(decoding: try await server.get("/metrics").body, as: UTF8.self) }
            // A keep-alive client makes a first request before the queue is blocked.
            let keepAlive = try await RawHTTPConnection(port: server.port)
            let warmUp = try await keepAlive.post("/embed", ["inputs": small])
            #expect(warmUp.status == 200)
            #expect((warmUp.json as? [Any] ?? []).map { floats($0) } == expectedSmall)

            let gate = await InferenceGate.occupy()
            do {
                // Two clients send large requests, then give up while their work waits.
                let leavingEmbed = try await RawHTTPConnection(port: server.port)
                try await leavingEmbed.send(path: "/embed", json: ["inputs": texts, "truncate": true])
                let leavingRerank = try await RawHTTPConnection(port: server.port)
                try await leavingRerank.send(path: "/v1/rerank", json: ["query": query, "documents": documents])
                try await waitUntil("both requests to be queued") {
                    let text = try await exposition()
                    return metric(text, "queue_depth", embedding) == 1 && metric(text, "queue_depth", reranking) == 1
                }
                try await leavingEmbed.disconnect()
                try await leavingRerank.disconnect()
                try await waitUntil("both requests to be dropped and answered 499") {
                    let text = try await exposition()
                    return metric(text, "queue_depth", embedding) == 0 && metric(text, "queue_depth", reranking) == 0
                        && metric(text, "http_requests_total", #"route="/embed",status="499""#) == 1
                        && metric(text, "http_requests_total", #"route="/v1/rerank",status="499""#) == 1
                }
                // Nothing has run since the gate closed: every input of the two requests is either in a
                // forward pass formed before the disconnect or dropped.
                let text = try await exposition()
                let droppedEmbed = metric(text, "cancelled_inputs_total", embedding) ?? 0
                let droppedRerank = metric(text, "cancelled_inputs_total", reranking) ?? 0
                let formedEmbed = (metric(text, "batch_sequences_sum", embedding) ?? 0) - Double(small.count)
                let formedRerank = metric(text, "batch_sequences_sum", reranking) ?? 0
                #expect(droppedEmbed + formedEmbed == Double(texts.count))
                #expect(droppedRerank + formedRerank == Double(documents.count))
                #expect(droppedEmbed >= 60)  // at most one 4-sequence pass was formed
                #expect(droppedRerank > 0)

                // The keep-alive client's next request waits behind the gate, then is answered on the
                // same connection, and so is the one after it.
                try await keepAlive.send(path: "/embed", json: ["inputs": small])
                gate.open()
                let second = try await keepAlive.receive()
                #expect(second.status == 200)
                #expect(second.headers["connection"] != "close")
                #expect((second.json as? [Any] ?? []).map { floats($0) } == expectedSmall)
                let third = try await keepAlive.post("/rerank", ["query": query, "texts": smallDocuments])
                #expect(third.status == 200)
                let scores = (third.json as? [[String: Any]] ?? []).sorted { ($0["index"] as? Int ?? 0) < ($1["index"] as? Int ?? 0) }
                    .map { Float(($0["score"] as? NSNumber)?.doubleValue ?? -1) }
                #expect(scores == expectedScores)

                // Only the passes formed before the disconnect and the keep-alive client's ran.
                let after = try await exposition()
                #expect(metric(after, "batch_sequences_sum", embedding) == Double(small.count) + formedEmbed + Double(small.count))
                #expect(metric(after, "batch_sequences_sum", reranking) == formedRerank + Double(smallDocuments.count))
                #expect(metric(after, "cancelled_inputs_total", embedding) == droppedEmbed)
                #expect(metric(after, "queue_depth", embedding) == 0)
            } catch {
                gate.open()
                throw error
            }
        }
    }
}
