import Foundation
import Hummingbird

/// Cohere's v2 API: `POST /v2/embed` and `POST /v2/rerank`, with Cohere-shaped errors
/// (`{"id", "message"}`). Responses have the shapes of Cohere's API reference, so `cohere.ClientV2`
/// works against this server unchanged.
struct CohereRoutes: Sendable {
    let service: InferenceService

    /// The `embedding_types` Cohere defines (see `EmbeddingQuantization` for each one's definition).
    static let embeddingTypes = ["float", "int8", "uint8", "binary", "ubinary", "base64"]
    /// The `input_type` values Cohere defines; only `search_query` gets the query instruction.
    static let inputTypes = ["search_query", "search_document", "classification", "clustering"]

    func register(on routes: inout RouteList) {
        let limit = service.configuration.payloadLimit
        routes.post("/v2/embed") { request, context in
            await answer(.cohere) { try await untilClientDisconnects(context) { try await embed(try await readJSON(request, limit: limit)) } }
        }
        routes.post("/v2/rerank") { request, context in
            await answer(.cohere) { try await untilClientDisconnects(context) { try await rerank(try await readJSON(request, limit: limit)) } }
        }
    }

    /// `{"id", "embeddings": {"float": [[...]], "int8": ..., ...}, "texts", "meta", "response_type"}`.
    func embed(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireEmbedder()
        if request["images"] != nil || request["inputs"] != nil {
            throw APIError.unprocessable("this model embeds text only: send 'texts'", param: "texts")
        }
        let texts = try textList(request, key: "texts")
        try service.checkBatchSize(texts.count, param: "texts")
        let inputType = try request.string("input_type") ?? "search_document"
        guard Self.inputTypes.contains(inputType) else {
            throw APIError.unprocessable(
                "input_type \"\(inputType)\" is not one of \(Self.inputTypes.joined(separator: ", "))", param: "input_type")
        }
        let types: [String]
        switch request["embedding_types"] {
        case nil: types = ["float"]
        case .array(let items)?:
            types = try items.map { item in
                guard case .string(let type) = item, Self.embeddingTypes.contains(type) else {
                    throw APIError.unprocessable(
                        "embedding_types items must be among \(Self.embeddingTypes.joined(separator: ", "))", param: "embedding_types")
                }
                return type
            }
            if types.isEmpty { throw APIError.unprocessable("embedding_types is empty", param: "embedding_types") }
        default: throw APIError.badRequest("'embedding_types' must be an array of strings", param: "embedding_types")
        }
        let dimensions = try request.int("output_dimension")
        try service.checkDimensions(dimensions, param: "output_dimension")
        let truncation = try request.string("truncate") ?? "END"
        guard ["NONE", "START", "END"].contains(truncation) else {
            throw APIError.unprocessable("truncate must be \"NONE\", \"START\" or \"END\"", param: "truncate")
        }
        let maxTokens = try request.int("max_tokens")
        if let maxTokens, maxTokens < 2 { throw APIError.unprocessable("max_tokens must be at least 2", param: "max_tokens") }
        let instruction = inputType == "search_query" ? service.configuration.defaultInstruction : nil
        // END keeps each text's start, START its end; NONE refuses a text longer than the limit.
        let sequences = try await service.tokenize(
            texts: texts, instruction: instruction, truncate: truncation != "NONE", keepEnd: truncation == "START",
            maxLength: maxTokens)
        let vectors = try await service.embed(sequences, dimensions: dimensions, normalize: true)
        var embeddings: [String: JSONValue] = [:]
        for type in types {
            switch type {
            case "float": embeddings[type] = .array(vectors.map(JSONValue.floats))
            case "int8": embeddings[type] = .array(vectors.map { .array(EmbeddingQuantization.int8($0).map(JSONValue.integer)) })
            case "uint8": embeddings[type] = .array(vectors.map { .array(EmbeddingQuantization.uint8($0).map(JSONValue.integer)) })
            case "binary": embeddings[type] = .array(vectors.map { .array(EmbeddingQuantization.binary($0).map(JSONValue.integer)) })
            case "ubinary": embeddings[type] = .array(vectors.map { .array(EmbeddingQuantization.ubinary($0).map(JSONValue.integer)) })
            default: embeddings[type] = .array(vectors.map { .string(EmbeddingQuantization.base64($0)) })
            }
        }
        let tokens = sequences.reduce(0) { $0 + $1.count }
        return jsonResponse(.object([
            "id": .string(responseID()),
            "embeddings": .object(embeddings),
            "texts": .array(texts.map(JSONValue.string)),
            "meta": .object([
                "api_version": .object(["version": .string("2")]),
                "billed_units": .object(["input_tokens": .integer(tokens)]),
            ]),
            "response_type": .string("embeddings_by_type"),
        ]))
    }

    /// `{"id", "results": [{"index", "relevance_score"}], "meta"}`, best first.
    func rerank(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireReranker()
        guard let query = try request.string("query") else { throw APIError.badRequest("'query' is required", param: "query") }
        guard case .array? = request["documents"] else {
            throw APIError.badRequest("'documents' must be an array of strings", param: "documents")
        }
        let documents = try textList(request, key: "documents", objects: true)
        if let maxTokens = try request.int("max_tokens_per_doc"), maxTokens < 1 {
            throw APIError.unprocessable("max_tokens_per_doc must be at least 1", param: "max_tokens_per_doc")
        }
        let ranking = try await service.rank(
            query: query, documents: documents, instruction: try request.string("instruction"), truncate: true,
            topN: try request.int("top_n"))
        let returnDocuments = try request.bool("return_documents") ?? false
        return jsonResponse(.object([
            "id": .string(responseID()),
            "results": .array(ranking.order.map { index in
                var result: [String: JSONValue] = ["index": .integer(index), "relevance_score": .number(Double(ranking.scores[index]))]
                if returnDocuments { result["document"] = .object(["text": .string(documents[index])]) }
                return .object(result)
            }),
            "meta": .object([
                "api_version": .object(["version": .string("2")]),
                "billed_units": .object(["search_units": .integer(1)]),
            ]),
        ]))
    }
}
