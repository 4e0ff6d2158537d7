import Foundation
import Hummingbird
import ModelFormats

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
        try RequestDecoder.requireObject(body)
        _ = try service.requireEmbedder()
        let request = try RequestDecoder.decode(EmbedRequest.self, from: body)
        let texts = request.texts.texts
        try service.checkBatchSize(texts.count, param: "texts")
        let inputType = request.inputType ?? "search_document"
        guard Self.inputTypes.contains(inputType) else {
            throw APIError.unprocessable(
                "input_type \"\(inputType)\" is not one of \(Self.inputTypes.joined(separator: ", "))", param: "input_type")
        }
        let types = request.embeddingTypes?.types ?? ["float"]
        try service.checkDimensions(request.outputDimension, param: "output_dimension")
        let truncation = request.truncate ?? "END"
        guard ["NONE", "START", "END"].contains(truncation) else {
            throw APIError.unprocessable("truncate must be \"NONE\", \"START\" or \"END\"", param: "truncate")
        }
        if let maxTokens = request.maxTokens, maxTokens < 2 {
            throw APIError.unprocessable("max_tokens must be at least 2", param: "max_tokens")
        }
        let instruction = inputType == "search_query" ? service.configuration.defaultInstruction : nil
        // END keeps each text's start, START its end; NONE refuses a text longer than the limit.
        let sequences = try await service.tokenize(
            texts: texts, instruction: instruction, truncate: truncation != "NONE", keepEnd: truncation == "START",
            maxLength: request.maxTokens)
        let vectors = try await service.embed(sequences, dimensions: request.outputDimension, normalize: true)
        var embeddings = EmbeddingsByType()
        for type in types {
            switch type {
            case "float": embeddings.float = vectors
            case "int8": embeddings.int8 = vectors.map(EmbeddingQuantization.int8)
            case "uint8": embeddings.uint8 = vectors.map(EmbeddingQuantization.uint8)
            case "binary": embeddings.binary = vectors.map(EmbeddingQuantization.binary)
            case "ubinary": embeddings.ubinary = vectors.map(EmbeddingQuantization.ubinary)
            default: embeddings.base64 = vectors.map(EmbeddingQuantization.base64)
            }
        }
        let tokens = sequences.reduce(0) { $0 + $1.count }
        return jsonResponse(EmbedResponse(
            id: responseID(), embeddings: embeddings, texts: texts, meta: CohereMeta(version: "2", billedUnits: .init(inputTokens: tokens))))
    }

    /// `{"id", "results": [{"index", "relevance_score"}], "meta"}`, best first.
    func rerank(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireReranker()
        let request = try RequestDecoder.decode(RerankRequest.self, from: body)
        if let maxTokens = request.maxTokensPerDocument, maxTokens < 1 {
            throw APIError.unprocessable("max_tokens_per_doc must be at least 1", param: "max_tokens_per_doc")
        }
        let documents = request.documents.texts
        let ranking = try await service.rank(
            query: request.query, documents: documents, instruction: request.instruction, truncate: true, topN: request.topN)
        return jsonResponse(RerankResponse(
            id: responseID(),
            results: RelevanceResult.results(ranking, documents: request.returnDocuments == true ? documents : nil),
            meta: CohereMeta(version: "2", billedUnits: .init(searchUnits: 1))))
    }
}

// MARK: - Bodies

extension CohereRoutes {
    /// `POST /v2/embed`.
    struct EmbedRequest: Decodable {
        var texts: TextList
        var inputType: String?
        var embeddingTypes: EmbeddingTypes?
        var outputDimension: Int?
        var truncate: String?
        var maxTokens: Int?

        enum CodingKeys: String, CodingKey {
            case texts, images, inputs, truncate
            case inputType = "input_type"
            case embeddingTypes = "embedding_types"
            case outputDimension = "output_dimension"
            case maxTokens = "max_tokens"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if container.hasValue(.images) || container.hasValue(.inputs) {
                throw APIError.unprocessable("this model embeds text only: send 'texts'", param: "texts")
            }
            texts = try container.decode(TextList.self, forKey: .texts)
            inputType = try container.decodeIfPresent(String.self, forKey: .inputType)
            embeddingTypes = try container.decodeIfPresent(EmbeddingTypes.self, forKey: .embeddingTypes)
            outputDimension = try container.decodeIfPresent(Int.self, forKey: .outputDimension)
            truncate = try container.decodeIfPresent(String.self, forKey: .truncate)
            maxTokens = try container.decodeIfPresent(Int.self, forKey: .maxTokens)
        }
    }

    /// `embedding_types`: a non-empty array of the types Cohere defines.
    struct EmbeddingTypes: JSONShapedField {
        var types: [String]

        init(json: JSONValue, field: String) throws {
            guard case .array(let items) = json else {
                throw APIError.badRequest("'\(field)' must be an array of strings", param: field)
            }
            types = try items.map { item in
                guard case .string(let type) = item, CohereRoutes.embeddingTypes.contains(type) else {
                    throw APIError.unprocessable(
                        "embedding_types items must be among \(CohereRoutes.embeddingTypes.joined(separator: ", "))", param: field)
                }
                return type
            }
            if types.isEmpty { throw APIError.unprocessable("embedding_types is empty", param: field) }
        }
    }

    /// The vectors of each requested type; the types not requested are left out.
    struct EmbeddingsByType: Encodable {
        var float: [[Float]]?
        var int8: [[Int]]?
        var uint8: [[Int]]?
        var binary: [[Int]]?
        var ubinary: [[Int]]?
        var base64: [String]?
    }

    /// `{"id", "embeddings", "texts", "meta", "response_type": "embeddings_by_type"}`.
    struct EmbedResponse: Encodable {
        var id: String
        var embeddings: EmbeddingsByType
        var texts: [String]
        var meta: CohereMeta
        let responseType = "embeddings_by_type"

        enum CodingKeys: String, CodingKey {
            case id, embeddings, texts, meta
            case responseType = "response_type"
        }
    }

    /// `POST /v2/rerank`.
    struct RerankRequest: Decodable {
        var query: String
        var documents: RerankDocuments
        var maxTokensPerDocument: Int?
        var instruction: String?
        var topN: Int?
        var returnDocuments: Bool?

        enum CodingKeys: String, CodingKey {
            case query, documents, instruction
            case maxTokensPerDocument = "max_tokens_per_doc"
            case topN = "top_n"
            case returnDocuments = "return_documents"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            query = try container.decode(String.self, forKey: .query)
            try container.requireArray(.documents, orThrow: .badRequest("'documents' must be an array of strings", param: "documents"))
            documents = try container.decode(RerankDocuments.self, forKey: .documents)
            maxTokensPerDocument = try container.decodeIfPresent(Int.self, forKey: .maxTokensPerDocument)
            instruction = try container.decodeIfPresent(String.self, forKey: .instruction)
            topN = try container.decodeIfPresent(Int.self, forKey: .topN)
            returnDocuments = try container.decodeIfPresent(Bool.self, forKey: .returnDocuments)
        }
    }

    /// `{"id", "results": [{"index", "relevance_score", "document"?}], "meta"}`.
    struct RerankResponse: Encodable {
        var id: String
        var results: [RelevanceResult]
        var meta: CohereMeta
    }
}
