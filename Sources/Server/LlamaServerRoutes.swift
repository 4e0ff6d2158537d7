import Foundation
import Hummingbird

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
        let request = try RequestObject(body)
        _ = try service.requireEmbedder()
        let key = request["content"] != nil ? "content" : "input"
        let inputs = try teiInputs(request, key: key)
        try service.checkBatchSize(inputs.count, param: key)
        let norm = try request.int("embd_normalize") ?? 2
        var options = try TEIOptions(RequestObject(.object([:])), service: service)
        options.truncate = true
        let sequences = try await service.teiSequences(inputs, options: options, param: key)
        let vectors = try await service.embed(sequences, dimensions: nil, normalize: false)
        return jsonResponse(.array(vectors.enumerated().map { index, vector in
            .object(["index": .integer(index), "embedding": .array([.floats(Self.normalize(vector, norm: norm))])])
        }))
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
        let request = try RequestObject(body)
        _ = try service.requireReranker()
        guard let query = try request.string("query") else { throw APIError.badRequest("'query' is required", param: "query") }
        let documents = try textList(request, key: "documents", objects: true)
        let returnText = try request.bool("return_text") ?? false
        let ranking = try await service.rank(
            query: query, documents: documents, instruction: try request.string("instruction"), truncate: true,
            topN: try request.int("top_n"))
        return jsonResponse(.object([
            "model": .string(try request.string("model") ?? service.configuration.rerankerName),
            "object": .string("list"),
            "usage": .object(["prompt_tokens": .integer(ranking.tokens), "total_tokens": .integer(ranking.tokens)]),
            "results": .array(ranking.order.map { index in
                var result: [String: JSONValue] = ["index": .integer(index), "relevance_score": .number(Double(ranking.scores[index]))]
                if returnText { result["document"] = .object(["text": .string(documents[index])]) }
                return .object(result)
            }),
        ]))
    }
}
