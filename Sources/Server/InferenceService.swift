import Foundation
import Qwen3Embedding

/// Validation, tokenisation and queueing shared by both API families; it speaks in token ids and
/// float vectors, never tensors.
struct InferenceService: Sendable {
    let configuration: ServerConfiguration
    let embedder: BatchedEmbedder?
    let reranker: BatchedReranker?
    let metrics: ServerMetrics

    init(configuration: ServerConfiguration, metrics: ServerMetrics) throws {
        self.configuration = configuration
        self.metrics = metrics
        let embedderName = configuration.embedderName, rerankerName = configuration.rerankerName
        embedder = configuration.embedder.map {
            BatchedEmbedder(
                $0, maxPendingRequests: configuration.maxConcurrentRequests,
                observer: { metrics.recordBatch(model: embedderName, sequences: $0, tokens: $1) },
                cancellationObserver: { metrics.recordCancelledInputs(model: embedderName, count: $0) })
        }
        reranker = try configuration.reranker.map {
            try BatchedReranker(
                $0, maxPendingRequests: configuration.maxConcurrentRequests,
                observer: { metrics.recordBatch(model: rerankerName, sequences: $0, tokens: $1) },
                cancellationObserver: { metrics.recordCancelledInputs(model: rerankerName, count: $0) })
        }
    }

    /// Brings the `queue_depth` gauges up to date (called on each `/metrics` scrape, so the gauge also
    /// falls back to 0 when the last requests were cancelled rather than completed).
    func recordQueueDepths() async {
        if let embedder { metrics.recordQueueDepth(model: configuration.embedderName, depth: await embedder.queue.depth) }
        if let reranker { metrics.recordQueueDepth(model: configuration.rerankerName, depth: await reranker.queue.depth) }
    }

    func requireEmbedder() throws -> BatchedEmbedder {
        guard let embedder else { throw APIError(.notFound, "this server has no embedding model loaded") }
        return embedder
    }

    func requireReranker() throws -> BatchedReranker {
        guard let reranker else { throw APIError(.notFound, "this server has no reranking model loaded") }
        return reranker
    }

    func checkBatchSize(_ count: Int, param: String) throws {
        if count == 0 { throw APIError.unprocessable("'\(param)' is empty", param: param) }
        if count > configuration.maxClientBatchSize {
            throw APIError.unprocessable(
                "'\(param)' has \(count) items, more than the limit of \(configuration.maxClientBatchSize)", param: param)
        }
    }

    /// Token ids for texts, exactly as `Embedder.tokenize` makes them; an over-long text is truncated
    /// (keeping the EOS) when `truncate`, else rejected with 422.
    func tokenize(texts: [String], instruction: String?, truncate: Bool, keepEnd: Bool = false) throws -> [[Int]] {
        let embedder = try requireEmbedder().embedder
        return try texts.enumerated().map { index, text in
            let input = instruction.map { Prompts.embeddingQuery(text, instruction: $0) } ?? text
            let full = embedder.tokenizer.encode(input, addSpecialTokens: true)
            guard full.count > embedder.maxLength else { return full }
            guard truncate else {
                throw APIError.unprocessable(
                    "input \(index) has \(full.count) tokens, more than the maximum input length \(embedder.maxLength); set truncate to true")
            }
            if keepEnd { return Array(full.suffix(embedder.maxLength)) }
            return embedder.tokenize([text], instruction: instruction)[0]
        }
    }

    /// Checks client-supplied token ids against the vocabulary and the maximum length.
    func validate(tokenIDs: [[Int]], param: String) throws {
        let embedder = try requireEmbedder().embedder
        let vocabulary = embedder.model.configuration.vocabularySize
        for (index, ids) in tokenIDs.enumerated() {
            if ids.isEmpty { throw APIError.unprocessable("'\(param)' item \(index) has no tokens", param: param) }
            if ids.count > embedder.maxLength {
                throw APIError.unprocessable(
                    "'\(param)' item \(index) has \(ids.count) tokens, more than the maximum input length \(embedder.maxLength)",
                    param: param)
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw APIError.unprocessable("token id \(bad) is out of range 0..<\(vocabulary)", param: param)
            }
        }
    }

    func checkDimensions(_ dimensions: Int?, param: String) throws {
        guard let dimensions else { return }
        let maximum = try requireEmbedder().embedder.dimensions
        guard (32...maximum).contains(dimensions) || (dimensions == maximum) else {
            throw APIError.unprocessable("dimensions \(dimensions) is out of range: choose 32...\(maximum)", param: param)
        }
    }

    func embed(_ sequences: [[Int]], dimensions: Int?, normalize: Bool) async throws -> [[Float]] {
        let embedder = try requireEmbedder()
        let vectors = try await embedder.embed(tokenIDs: sequences, dimensions: dimensions, normalize: normalize)
        metrics.recordQueueDepth(model: configuration.embedderName, depth: await embedder.queue.depth)
        return vectors
    }

    /// Rerank prompts for each document; `truncate: false` rejects a pair whose prompt would be cut.
    func rerankSequences(query: String, documents: [String], instruction: String?, truncate: Bool) throws -> [[Int]] {
        let reranker = try requireReranker().reranker
        return try documents.enumerated().map { index, document in
            let ids = reranker.tokenize(query: query, document: document, instruction: instruction)
            if !truncate && ids.count >= reranker.maxLength {
                let body = Prompts.rerankerBody(query: query, document: document, instruction: instruction ?? Prompts.defaultInstruction)
                let bodyLength = reranker.tokenizer.encode(body, addSpecialTokens: false).count
                let fixed = reranker.tokenize(query: "", document: "", instruction: "").count
                    - reranker.tokenizer.encode(Prompts.rerankerBody(query: "", document: "", instruction: ""), addSpecialTokens: false).count
                if bodyLength + fixed > reranker.maxLength {
                    throw APIError.unprocessable(
                        "document \(index) with the query makes \(bodyLength + fixed) tokens, more than the maximum input length \(reranker.maxLength); set truncate to true")
                }
            }
            return ids
        }
    }

    func score(_ sequences: [[Int]], raw: Bool = false) async throws -> [Float] {
        let reranker = try requireReranker()
        let scores = try await reranker.score(tokenIDs: sequences, raw: raw)
        metrics.recordQueueDepth(model: configuration.rerankerName, depth: await reranker.queue.depth)
        return scores
    }
}
