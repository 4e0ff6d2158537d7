import Foundation
import Qwen3Embedding
import Testing

@Suite("Batching and shutdown", .serialized)
struct BatchingTests {
    @Test("Concurrent requests are batched together and each gets the library's result")
    func concurrentBatching() async throws {
        let texts = (0..<24).map { "sentence \($0): " + String(repeating: "lorem ipsum ", count: $0 % 7) }
        let expected = try await Fixtures.embedder.embed(texts)
        try await TestServer.with { server, _ in
            let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
                for (index, text) in texts.enumerated() {
                    group.addTask {
                        let reply = try await server.post("/v1/embeddings", ["input": text])
                        return (index, floats((reply.object["data"] as? [[String: Any]])?.first?["embedding"]))
                    }
                }
                return try await group.reduce(into: [Int: [Float]]()) { $0[$1.0] = $1.1 }
            }
            for index in texts.indices { #expect(results[index] == expected[index], "text \(index)") }
            // More than one sequence per forward pass means requests were packed together.
            let metrics = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
            let batches = metrics.split(separator: "\n").first { $0.hasPrefix("batch_sequences_count") }
            let sequences = metrics.split(separator: "\n").first { $0.hasPrefix("batch_sequences_sum") }
            let batchCount = batches.flatMap { Double($0.split(separator: " ").last!) } ?? 0
            let sequenceCount = sequences.flatMap { Double($0.split(separator: " ").last!) } ?? 0
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
        try await TestServer.with { server, group in
            let replies = try await withThrowingTaskGroup(of: TestServer.Reply.self) { tasks in
                for _ in 0..<4 { tasks.addTask { try await server.post("/embed", ["inputs": texts]) } }
                try await Task.sleep(for: .milliseconds(20))
                await group.triggerGracefulShutdown()
                return try await tasks.reduce(into: []) { $0.append($1) }
            }
            for reply in replies {
                #expect(reply.status == 200)
                #expect((reply.json as? [Any] ?? []).map { floats($0) } == expected)
            }
        }
    }
}
