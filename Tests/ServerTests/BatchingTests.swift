import Foundation
import Qwen3Embedding
import Testing

@Suite("Batching and shutdown", .serialized)
struct BatchingTests {
    @Test("Concurrent requests are batched together and each gets the library's result")
    func concurrentBatching() async throws {
        let texts = (0..<24).map { "sentence \($0): " + String(repeating: "lorem ipsum ", count: $0 % 7) }
        let expected = try await Fixtures.embedder.embed(texts)
        let embedding = #"model="tiny-embedding""#
        try await TestServer.with { server, _ in
            // The engine is held until all 24 requests are queued, so they are packed together however
            // slowly they arrive (no request can be computed alone before the others come).
            let gate = await InferenceGate.occupy()
            defer { gate.open() }
            let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
                for (index, text) in texts.enumerated() {
                    group.addTask {
                        let reply = try await server.post("/v1/embeddings", ["input": text])
                        return (index, floats((reply.object["data"] as? [[String: Any]])?.first?["embedding"]))
                    }
                }
                do {
                    try await waitUntil("all 24 requests to be queued", limit: .seconds(600)) {
                        let text = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
                        return metric(text, "queue_depth", embedding) == 24
                    }
                } catch {
                    gate.open()  // else the group would wait forever for its requests behind the gate
                    throw error
                }
                gate.open()
                return try await group.reduce(into: [Int: [Float]]()) { $0[$1.0] = $1.1 }
            }
            for index in texts.indices { #expect(results[index] == expected[index], "text \(index)") }
            // More than one sequence per forward pass means requests were packed together.
            let metrics = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
            let batchCount = metric(metrics, "batch_sequences_count", embedding) ?? 0
            let sequenceCount = metric(metrics, "batch_sequences_sum", embedding) ?? 0
            #expect(sequenceCount == 24)
            #expect(batchCount < 24)
        }
    }

    @Test("BatchQueue packs across callers and matches Embedder.embed exactly")
    func queueDirect() async throws {
        let batched = BatchedEmbedder(Fixtures.embedder, maxPendingRequests: 100)
        let inputs = (0..<10).map { ["first \($0)", String(repeating: "x y ", count: $0 * 5)] }
        let results = try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { group in
            for (index, texts) in inputs.enumerated() {
                group.addTask { (index, try await batched.embed(tokenIDs: Fixtures.embedder.tokenize(texts), dimensions: 32)) }
            }
            return try await group.reduce(into: [Int: [[Float]]]()) { $0[$1.0] = $1.1 }
        }
        for (index, texts) in inputs.enumerated() {
            #expect(results[index] == (try await Fixtures.embedder.embed(texts, dimensions: 32)))
        }
    }

    @Test("Graceful shutdown finishes in-flight requests")
    func gracefulShutdown() async throws {
        let texts = (0..<64).map { "text \($0) " + String(repeating: "many words here ", count: 3) }
        let expected = try await Fixtures.embedder.embed(texts)
        let embedding = #"model="tiny-embedding""#
        try await TestServer.with { server, group in
            let gate = await InferenceGate.occupy()
            defer { gate.open() }
            let replies = try await withThrowingTaskGroup(of: TestServer.Reply.self) { tasks in
                for _ in 0..<4 { tasks.addTask { try await server.post("/embed", ["inputs": texts]) } }
                // Shutdown begins while all four are certainly accepted and waiting for the engine.
                do {
                    try await waitUntil("all four requests to be queued", limit: .seconds(600)) {
                        let text = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
                        return metric(text, "queue_depth", embedding) == 4
                    }
                } catch {
                    gate.open()  // else the group would wait forever for its requests behind the gate
                    throw error
                }
                await group.triggerGracefulShutdown()
                gate.open()
                return try await tasks.reduce(into: []) { $0.append($1) }
            }
            for reply in replies {
                #expect(reply.status == 200)
                #expect((reply.json as? [Any] ?? []).map { floats($0) } == expected)
            }
        }
    }
}
