import Foundation
import Qwen3
import Qwen3Embedding

/// Validation, tokenisation and queueing shared by both API families; it speaks in token ids and
/// float vectors, never tensors.
struct InferenceService: Sendable {
    let configuration: ServerConfiguration
    let embedder: BatchedEmbedder?
    let reranker: BatchedReranker?
    let metrics: ServerMetrics
    /// Forward-pass start times of each model, for the queue/inference split of a request's time.
    let embedderTimeline: EngineTimeline
    let rerankerTimeline: EngineTimeline
    /// The embedding model's queue for `/embed_all`: each sequence's per-token states, flattened.
    let allStatesQueue: BatchQueue?

    init(configuration: ServerConfiguration, metrics: ServerMetrics) throws {
        self.configuration = configuration
        self.metrics = metrics
        let embedderName = configuration.embedderName, rerankerName = configuration.rerankerName
        let embedderTimeline = EngineTimeline(), rerankerTimeline = EngineTimeline()
        self.embedderTimeline = embedderTimeline
        self.rerankerTimeline = rerankerTimeline
        allStatesQueue = configuration.embedder.map { embedder in
            let model = embedder.model
            return BatchQueue(
                maxBatchTokens: embedder.maxBatchTokens, maxPendingRequests: configuration.maxConcurrentRequests,
                observer: { embedderTimeline.passStarted(); metrics.recordBatch(model: embedderName, sequences: $0, tokens: $1) }
            ) { sequences in try model.allHiddenStates(for: sequences).map { $0.flatMap { $0 } } }
        }
        embedder = configuration.embedder.map {
            BatchedEmbedder(
                $0, maxPendingRequests: configuration.maxConcurrentRequests,
                observer: {
                    embedderTimeline.passStarted()
                    metrics.recordBatch(model: embedderName, sequences: $0, tokens: $1)
                },
                cancellationObserver: { metrics.recordCancelledInputs(model: embedderName, count: $0) })
        }
        reranker = try configuration.reranker.map {
            try BatchedReranker(
                $0, maxPendingRequests: configuration.maxConcurrentRequests,
                observer: {
                    rerankerTimeline.passStarted()
                    metrics.recordBatch(model: rerankerName, sequences: $0, tokens: $1)
                },
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
        RequestStatistics.record { $0.inputs = count }
        if count > configuration.maxClientBatchSize {
            throw APIError.unprocessable(
                "'\(param)' has \(count) items, more than the limit of \(configuration.maxClientBatchSize)", param: param)
        }
    }

    /// Token ids for texts, exactly as `Embedder.tokenize` makes them; an over-long text (more than the
    /// model's maximum input length, or `maxLength` when smaller) is truncated when `truncate` (keeping
    /// the EOS; `keepEnd` keeps the text's end instead of its start), else rejected with 422.
    func tokenize(texts: [String], instruction: String?, truncate: Bool, keepEnd: Bool = false, maxLength: Int? = nil) throws -> [[Int]] {
        let embedder = try requireEmbedder().embedder
        let limit = min(maxLength ?? embedder.maxLength, embedder.maxLength)
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            RequestStatistics.record {
                $0.tokenization += elapsed
                $0.characters += texts.reduce(0) { $0 + $1.count }
            }
        }
        return try texts.enumerated().map { index, text in
            let input = instruction.map { Prompts.embeddingQuery(text, instruction: $0) } ?? text
            let full = embedder.tokenizer.encode(input, addSpecialTokens: true)
            guard full.count > limit else { return full }
            guard truncate else {
                throw APIError.unprocessable(
                    "input \(index) has \(full.count) tokens, more than the maximum input length \(limit); set truncate to true")
            }
            if keepEnd { return Array(full.suffix(limit)) }
            return embedder.tokenizer.encode(input, addSpecialTokens: true, maxLength: limit)
        }
    }

    /// Checks client-supplied token ids (this model's ids) against the vocabulary and the maximum
    /// length. An over-long list is cut to the maximum length when `truncate` (keeping its end when
    /// `keepEnd`, as TEI's `truncation_direction: "Left"`), else rejected with 422.
    func validate(tokenIDs: [[Int]], param: String, truncate: Bool = false, keepEnd: Bool = false) throws -> [[Int]] {
        let embedder = try requireEmbedder().embedder
        let vocabulary = embedder.model.configuration.vocabularySize
        return try tokenIDs.enumerated().map { index, ids in
            if ids.isEmpty { throw APIError.unprocessable("'\(param)' item \(index) has no tokens", param: param) }
            if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw APIError.unprocessable("token id \(bad) is out of range 0..<\(vocabulary)", param: param)
            }
            guard ids.count > embedder.maxLength else { return ids }
            guard truncate else {
                throw APIError.unprocessable(
                    "'\(param)' item \(index) has \(ids.count) tokens, more than the maximum input length \(embedder.maxLength)",
                    param: param)
            }
            return keepEnd ? Array(ids.suffix(embedder.maxLength)) : Array(ids.prefix(embedder.maxLength))
        }
    }

    /// The range of `dimensions` (Matryoshka truncation) a request may ask for: the library's own
    /// (`32...hidden`, or only the full size for a model narrower than 32), so that a request is
    /// refused before any work exactly when the library would refuse it.
    var allowedDimensions: ClosedRange<Int>? { configuration.embedder?.dimensionRange }

    func checkDimensions(_ dimensions: Int?, param: String) throws {
        guard let dimensions else { return }
        _ = try requireEmbedder()
        guard let range = allowedDimensions, range.contains(dimensions) else {
            let range = allowedDimensions.map { "\($0.lowerBound)...\($0.upperBound)" } ?? "none"
            throw APIError.unprocessable("dimensions \(dimensions) is out of range: choose \(range)", param: param)
        }
    }

    func embed(_ sequences: [[Int]], dimensions: Int?, normalize: Bool) async throws -> [[Float]] {
        let embedder = try requireEmbedder()
        RequestStatistics.record { $0.tokens += sequences.reduce(0) { $0 + $1.count } }
        let vectors = try await embedderTimeline.measure {
            try await embedder.embed(tokenIDs: sequences, dimensions: dimensions, normalize: normalize)
        }
        metrics.recordQueueDepth(model: configuration.embedderName, depth: await embedder.queue.depth)
        return vectors
    }

    /// Every token's final hidden state for each sequence (TEI's `/embed_all`). The response holds
    /// tokens × hidden numbers, so a request may carry at most one forward pass's token budget.
    func allTokenStates(_ sequences: [[Int]]) async throws -> [[[Float]]] {
        let embedder = try requireEmbedder().embedder
        guard let queue = allStatesQueue else { throw APIError(.notFound, "this server has no embedding model loaded") }
        let tokens = sequences.reduce(0) { $0 + $1.count }
        guard tokens <= embedder.maxBatchTokens else {
            throw APIError.unprocessable(
                "embed_all returns a vector per token: at most \(embedder.maxBatchTokens) tokens per request, this one has \(tokens)",
                param: "inputs")
        }
        RequestStatistics.record { $0.tokens += tokens }
        let hidden = embedder.dimensions
        let flat = try await embedderTimeline.measure { try await queue.submit(sequences) }
        return flat.map { states in
            stride(from: 0, to: states.count, by: hidden).map { Array(states[$0..<$0 + hidden]) }
        }
    }

    /// Rerank prompts for each document; `truncate: false` rejects a pair whose prompt would be cut.
    func rerankSequences(query: String, documents: [String], instruction: String?, truncate: Bool) throws -> [[Int]] {
        let reranker = try requireReranker().reranker
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            RequestStatistics.record {
                $0.tokenization += elapsed
                $0.characters += documents.reduce(query.count) { $0 + $1.count }
            }
        }
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
        RequestStatistics.record { $0.tokens += sequences.reduce(0) { $0 + $1.count } }
        let scores = try await rerankerTimeline.measure { try await reranker.score(tokenIDs: sequences, raw: raw) }
        metrics.recordQueueDepth(model: configuration.rerankerName, depth: await reranker.queue.depth)
        return scores
    }
}
