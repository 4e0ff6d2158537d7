import Foundation
import Testing
import Qwen3Embedding

/// The post-processing owner's guards: `dimensions` on a model narrower than 32, NaN/inf from broken
/// weights, and the batching queue's fairness between requests.
@Suite struct PostProcessingTests {
    // MARK: Hidden size < 32

    /// The reranker fixture has hidden size 8: as an embedder (allowAnyModel) it offers exactly its full
    /// width, and any other `dimensions` is an error, never a trap on a backwards range `32...8`.
    @Test func aModelNarrowerThan32OffersOnlyItsFullWidth() async throws {
        let embedder = try Embedder(modelAt: URL(fileURLWithPath: Fixtures.rerankerModel), allowAnyModel: true)
        #expect(embedder.dimensions == 8)
        #expect(embedder.dimensionRange == 8...8)
        let full = try await embedder.embed(["a short text"])
        #expect(try await embedder.embed(["a short text"], dimensions: 8) == full)
        #expect(full[0].count == 8)
        let batched = BatchedEmbedder(embedder, maxPendingRequests: 4)
        for requested in [32, 4, 9, 0, -1] {
            let expected = EmbeddingError.invalidDimensions(requested: requested, maximum: 8)
            await #expect(throws: expected) { try await embedder.embed(["x"], dimensions: requested) }
            await #expect(throws: expected) {
                try await batched.embed(tokenIDs: embedder.tokenize(["x"]), dimensions: requested)
            }
            #expect(throws: expected) { try embedder.validate(dimensions: requested) }
        }
        #expect(EmbeddingError.invalidDimensions(requested: 32, maximum: 8).localizedDescription.contains("choose 8"))
        #expect(try await batched.embed(tokenIDs: embedder.tokenize(["a short text"]), dimensions: 8) == full)
    }

    // MARK: NaN / inf

    /// Overwrites one row of a 2-D safetensors tensor with NaN in place.
    static func poisonRow(_ row: Int, of tensor: String, in file: String) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        let headerLength = try handle.read(upToCount: 8)!.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try JSONSerialization.jsonObject(with: handle.read(upToCount: headerLength)!) as! [String: Any]
        let entry = try #require(header[tensor] as? [String: Any])
        let shape = entry["shape"] as! [Int]
        let start = (entry["data_offsets"] as! [Int])[0]
        let nan: [UInt8]
        switch entry["dtype"] as! String {
        case "F32": nan = [0x00, 0x00, 0xC0, 0x7F]
        case "BF16": nan = [0xC0, 0x7F]
        default: throw CocoaError(.featureUnsupported)
        }
        let rowBytes = shape[1] * nan.count
        try handle.seek(toOffset: UInt64(8 + headerLength + start + row * rowBytes))
        try handle.write(contentsOf: Array((0..<shape[1]).flatMap { _ in nan }))
    }

    /// A token that occurs in exactly one of `sequences` (at `index`) and in no other.
    static func tokenOnlyIn(_ index: Int, of sequences: [[Int]]) throws -> Int {
        let others = Set(sequences.enumerated().filter { $0.offset != index }.flatMap(\.element))
        return try #require(sequences[index].first { !others.contains($0) })
    }

    /// The embedding fixture with a NaN token-embedding row for a word only input 3 has: input 3's
    /// states are NaN (attention stays within each sequence), and every API names input 3 in an
    /// error instead of returning a NaN vector.
    @Test func nanInTheModelIsAnErrorNamingTheInput() async throws {
        let texts = ["alpha", "beta gamma", "delta", "zebra crossing", "epsilon"]
        let original = try Embedder(modelAt: URL(fileURLWithPath: Fixtures.embeddingModel))
        let token = try Self.tokenOnlyIn(3, of: original.tokenize(texts))
        let directory = try Fixtures.copy(of: Fixtures.embeddingModel)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.poisonRow(token, of: "embed_tokens.weight", in: directory + "/model-00001-of-00002.safetensors")

        let embedder = try Embedder(modelAt: URL(fileURLWithPath: directory))
        let expected = EmbeddingError.nonFiniteOutput(input: 3)
        #expect(expected.localizedDescription == "the model produced NaN/inf for input 3 (its weights may be corrupt)")
        await #expect(throws: expected) { try await embedder.embed(texts) }
        await #expect(throws: expected) { try await embedder.embed(texts, dimensions: 32, normalize: false) }
        let batched = BatchedEmbedder(embedder, maxPendingRequests: 4)
        await #expect(throws: expected) { try await batched.embed(tokenIDs: embedder.tokenize(texts)) }
        // The other inputs are unaffected.
        let healthy = [texts[0], texts[1], texts[2], texts[4]]
        #expect(try await embedder.embed(healthy) == original.embed(healthy))
    }

    @Test func nanInARerankerIsAnErrorNamingTheDocument() async throws {
        let documents = ["apples", "bananas", "a zebra crossing", "cherries"]
        let original = try Reranker(modelAt: URL(fileURLWithPath: Fixtures.rerankerModel))
        let prompts = documents.map { original.tokenize(query: "fruit", document: $0) }
        let token = try Self.tokenOnlyIn(2, of: prompts)
        let directory = try Fixtures.copy(of: Fixtures.rerankerModel)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.poisonRow(token, of: "model.embed_tokens.weight", in: directory + "/model.safetensors")

        let reranker = try Reranker(modelAt: URL(fileURLWithPath: directory))
        let expected = EmbeddingError.nonFiniteOutput(input: 2)
        await #expect(throws: expected) { try await reranker.score(query: "fruit", documents: documents) }
        await #expect(throws: expected) { try await reranker.score(tokenIDs: prompts, raw: true) }
        let batched = try BatchedReranker(reranker, maxPendingRequests: 4)
        await #expect(throws: expected) { try await batched.score(tokenIDs: prompts) }
        #expect(try await reranker.score(query: "fruit", documents: ["apples"]) == original.score(query: "fruit", documents: ["apples"]))
    }

    // MARK: Fairness of the batching queue

    /// A gate a forward pass waits at until the test opens it.
    final class Gate: @unchecked Sendable {
        private let condition = NSCondition()
        private var isOpen = false
        func wait() {
            condition.lock()
            while !isOpen { condition.wait() }
            condition.unlock()
        }
        func open() {
            condition.lock()
            isOpen = true
            condition.broadcast()
            condition.unlock()
        }
    }

    /// A request submitted while a large one runs is in the very next forward pass (round robin with
    /// the large one), not queued behind all of it; every request still gets its own results in order.
    @Test func aLaterRequestJoinsTheNextForwardPass() async throws {
        let (passes, recorder) = AsyncStream<[[Int]]>.makeStream()
        let gate = Gate()
        // Each sequence is [request, item]; a pass of at most 8 tokens holds 4 of them.
        let queue = BatchQueue(maxBatchTokens: 8, maxPendingRequests: 8) { sequences in
            recorder.yield(sequences)
            gate.wait()
            return sequences.map { $0.map(Float.init) }
        }
        let large = (0..<16).map { [1, $0] }
        let small = [[2, 100], [2, 101], [2, 102]]
        var recorded = passes.makeAsyncIterator()

        let largeRequest = Task { try await queue.submit(large) }
        let first = await recorded.next()
        #expect(first == Array(large.prefix(4)))
        // The large request's first pass is running (held at the gate); the small one arrives now.
        let smallRequest = Task { try await queue.submit(small) }
        while await queue.depth < 2 { await Task.yield() }
        gate.open()

        let second = await recorded.next()
        // First come, first served would have been [1,4], [1,5], [1,6], [1,7].
        #expect(second == [[1, 4], [2, 100], [1, 5], [2, 101]])
        let third = await recorded.next()
        #expect(third == [[1, 6], [2, 102], [1, 7], [1, 8]])
        #expect(try await smallRequest.value == small.map { $0.map(Float.init) })
        #expect(try await largeRequest.value == large.map { $0.map(Float.init) })
        recorder.finish()
    }

    /// Within one pass, a request whose next sequence does not fit sits out while the others still
    /// fill the budget; a sequence longer than the budget runs alone.
    @Test func passesFillTheBudgetAcrossRequests() async throws {
        let (passes, recorder) = AsyncStream<[[Int]]>.makeStream()
        let gate = Gate()
        let queue = BatchQueue(maxBatchTokens: 6, maxPendingRequests: 8) { sequences in
            recorder.yield(sequences)
            gate.wait()
            return sequences.map { [Float($0.count)] }
        }
        var recorded = passes.makeAsyncIterator()
        let blocker = Task { try await queue.submit([[9]]) }
        #expect(await recorded.next() == [[9]])
        let long = Task { try await queue.submit([[1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]]) }
        while await queue.depth < 2 { await Task.yield() }
        let short = Task { try await queue.submit([[2], [2], [2]]) }
        while await queue.depth < 3 { await Task.yield() }
        gate.open()
        // Round 1: [1,1,1,1] (4 tokens), [2] (5); round 2: the long request's 8 tokens do not fit, [2] (6).
        #expect(await recorded.next() == [[1, 1, 1, 1], [2], [2]])
        #expect(await recorded.next() == [[1, 1, 1, 1, 1, 1, 1, 1]])
        #expect(await recorded.next() == [[2]])
        #expect(try await long.value == [[4], [8]])
        #expect(try await short.value == [[1], [1], [1]])
        _ = try await blocker.value
        recorder.finish()
    }
}
