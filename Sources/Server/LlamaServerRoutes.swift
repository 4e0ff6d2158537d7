import Foundation
import Hummingbird
import ModelFormats

/// llama.cpp's `llama-server` routes that clients of it call: `POST /embedding` and `POST /reranking`
/// (its alias of `/rerank`, whose path here is TEI's). Errors use TEI's shape, as every non-`/v1`,
/// non-`/v2` route here does.
struct LlamaServerRoutes: Sendable {
    let service: InferenceService

    func register(on routes: inout RouteList) {
        let limit = service.configuration.payloadLimit
        routes.post("/embedding") { request, context in
            await answer(.tei) { try await untilClientDisconnects(context) { try await embedding(try await readJSON(request, limit: limit)) } }
        }
        routes.post("/reranking") { request, context in
            await answer(.tei) { try await untilClientDisconnects(context) { try await reranking(try await readJSON(request, limit: limit)) } }
        }
    }

    /// `{"content": text or [texts or token ids], "embd_normalize": n}` →
    /// `[{"index": i, "embedding": [[...]]}]` (llama-server's shape for a pooled model: one row per input).
    /// Token ids are this model's own, as in llama-server. Over-long inputs are truncated, as there.
    func embedding(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireEmbedder()
        let request = try RequestDecoder.decode(EmbeddingRequest.self, from: body)
        let inputs = request.inputs.items
        try service.checkBatchSize(inputs.count, param: request.field)
        let norm = request.normalization ?? 2
        var options = TEIOptions()
        options.truncate = true
        let sequences = try await service.teiSequences(inputs, options: options, param: request.field)
        let vectors = try await service.embed(sequences, dimensions: nil, normalize: false)
        return jsonResponse(vectors.enumerated().map { index, vector in
            PooledEmbedding(index: index, embedding: [Self.normalize(vector, norm: norm)])
        })
    }

    /// llama.cpp's `embd_normalize`: -1 none, 0 max-absolute scaled to int16 range (32760), 1 taxicab,
    /// 2 Euclidean (default), p > 2 p-norm.
    static func normalize(_ vector: [Float], norm: Int) -> [Float] {
        let total: Double
        switch norm {
        case ..<0: return vector
        case 0: total = Double(vector.map { abs($0) }.max() ?? 0) / 32760
        case 1: total = vector.reduce(0) { $0 + Double(abs($1)) }
        case 2: total = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        default: total = pow(vector.reduce(0) { $0 + pow(Double(abs($1)), Double(norm)) }, 1 / Double(norm))
        }
        let scale = total > 0 ? 1 / total : 0
        return vector.map { Float(Double($0) * scale) }
    }

    /// `{"query", "documents", "top_n"}` → `{"model", "object", "usage", "results": [{"index",
    /// "relevance_score"}]}`, best first.
    func reranking(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireReranker()
        let request = try RequestDecoder.decode(RerankRequest.self, from: body)
        let documents = request.documents.texts
        let ranking = try await service.rank(
            query: request.query, documents: documents, instruction: request.instruction, truncate: true, topN: request.topN)
        return jsonResponse(RerankResponse(
            model: request.model ?? service.configuration.rerankerName, usage: TokenUsage(tokens: ranking.tokens),
            results: RelevanceResult.results(ranking, documents: request.returnText == true ? documents : nil)))
    }
}

// MARK: - Bodies

extension LlamaServerRoutes {
    /// `POST /embedding`: `content` (llama-server's name; `input` is accepted too) and `embd_normalize`.
    struct EmbeddingRequest: Decodable {
        var inputs: TEIInputs
        /// The key the inputs came in, for error messages.
        var field: String
        var normalization: Int?

        enum CodingKeys: String, CodingKey {
            case content, input
            case normalization = "embd_normalize"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let key: CodingKeys = container.hasValue(.content) ? .content : .input
            field = key.stringValue
            inputs = try container.decode(TEIInputs.self, forKey: key)
            normalization = try container.decodeIfPresent(Int.self, forKey: .normalization)
        }
    }

    /// One row of `/embedding`'s response: `{"index", "embedding": [[...]]}`.
    struct PooledEmbedding: Encodable {
        var index: Int
        var embedding: [[Float]]
    }

    /// `POST /reranking`.
    struct RerankRequest: Decodable {
        var query: String
        var documents: RerankDocuments
        var returnText: Bool?
        var instruction: String?
        var topN: Int?
        var model: String?

        enum CodingKeys: String, CodingKey {
            case query, documents, instruction, model
            case returnText = "return_text"
            case topN = "top_n"
        }
    }

    /// `{"model", "object": "list", "usage", "results"}`.
    struct RerankResponse: Encodable {
        var model: String
        let object = "list"
        var usage: TokenUsage
        var results: [RelevanceResult]
    }
}
