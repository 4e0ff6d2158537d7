import Foundation
import Hummingbird
import ModelFormats

/// `POST /v1/embeddings`, `POST /v1/rerank` (Cohere v1 / Jina shape) and `GET /v1/models`, with
/// OpenAI-shaped errors.
struct OpenAIRoutes: Sendable {
    let service: InferenceService
    /// When the server started (the `created` time of `/v1/models`).
    let started = Int(Date().timeIntervalSince1970)

    /// The 422 for token-id inputs on `/v1/embeddings` when the server does not accept them.
    static let tokenIDRefusal = """
        'input' holds token ids. In the OpenAI API these are ids of OpenAI's tokenizer (tiktoken), not of \
        this model's, so embedding them would give meaningless vectors. Send the text instead. With \
        LangChain's OpenAIEmbeddings, pass check_embedding_ctx_length=False (by default it tokenizes texts \
        with tiktoken and sends the ids). If the ids are this model's own, start the server with \
        --accept-token-ids.
        """

    func register(on routes: inout RouteList) {
        let limit = service.configuration.payloadLimit
        routes.post("/v1/embeddings") { request, context in
            await answer(.openAI) {
                try await untilClientDisconnects(context) { try await embeddings(try await readJSON(request, limit: limit)) }
            }
        }
        routes.post("/v1/rerank") { request, context in
            await answer(.openAI) {
                try await untilClientDisconnects(context) { try await rerank(try await readJSON(request, limit: limit)) }
            }
        }
        routes.get("/v1/models") { _, _ in jsonResponse(models()) }
    }

    /// OpenAI's model list, with each model's `kind` ("embedding", "reranker", or "language-model" for a
    /// model served with `--allow-any-model`).
    func models() -> ModelList {
        let configuration = service.configuration
        var data: [ModelList.Model] = []
        if let embedder = configuration.embedder { data.append(model(configuration.embedderName, kind: embedder.kind.rawValue)) }
        if let reranker = configuration.reranker { data.append(model(configuration.rerankerName, kind: reranker.kind.rawValue)) }
        return ModelList(data: data)
    }

    private func model(_ name: String, kind: String) -> ModelList.Model {
        ModelList.Model(id: name, created: started, kind: kind)
    }

    /// Texts are truncated to the maximum input length by default here (OpenAI clients have no
    /// `truncate` switch); token-id inputs are checked, never altered.
    func embeddings(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireEmbedder()
        let request = try RequestDecoder.decode(EmbeddingRequest.self, from: body)
        try service.checkDimensions(request.dimensions, param: "dimensions")
        let format = request.encodingFormat ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.unprocessable("encoding_format must be \"float\" or \"base64\"", param: "encoding_format")
        }
        let model = request.model ?? service.configuration.embedderName
        let instruction = try instructionFor(request)

        let sequences: [[Int]]
        switch request.input {
        case .texts(let texts):
            try service.checkBatchSize(texts.count, param: "input")
            sequences = try await service.tokenize(texts: texts, instruction: instruction, truncate: true)
        case .tokens(let ids):
            try service.checkBatchSize(ids.count, param: "input")
            guard service.configuration.acceptTokenIDs else { throw APIError.unprocessable(Self.tokenIDRefusal, param: "input") }
            sequences = try service.validate(tokenIDs: ids, param: "input")
        }
        let vectors = try await service.embed(sequences, dimensions: request.dimensions, normalize: true)
        let tokens = sequences.reduce(0) { $0 + $1.count }
        let data = vectors.enumerated().map { index, vector in
            EmbeddingList.Embedding(
                index: index, embedding: format == "base64" ? .base64(base64LittleEndian(vector)) : .floats(vector))
        }
        return jsonResponse(EmbeddingList(data: data, model: model, usage: TokenUsage(tokens: tokens)))
    }

    /// `instruction` (ours) formats inputs as queries; `prompt_name` "query" uses the default instruction.
    private func instructionFor(_ request: EmbeddingRequest) throws -> String? {
        switch request.promptName {
        case nil: return request.instruction
        case "query": return request.instruction ?? service.configuration.defaultInstruction
        case "document": return nil
        case let other?: throw APIError.unprocessable("prompt_name \"\(other)\" is not \"query\" or \"document\"", param: "prompt_name")
        }
    }

    /// Cohere v1 / Jina reranking: `results` of `{index, relevance_score, document?}`, best first, with
    /// Cohere's `id` and `meta` and Jina's `model` and `usage`.
    func rerank(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireReranker()
        let request = try RequestDecoder.decode(RerankRequest.self, from: body)
        let documents = request.documents.texts
        let model = request.model ?? service.configuration.rerankerName
        let ranking = try await service.rank(
            query: request.query, documents: documents, instruction: request.instruction, truncate: true, topN: request.topN)
        return jsonResponse(RerankResponse(
            id: responseID(), model: model,
            results: RelevanceResult.results(ranking, documents: request.returnDocuments == true ? documents : nil),
            meta: CohereMeta(version: "1", billedUnits: .init(searchUnits: 1)),
            usage: TokenUsage(tokens: ranking.tokens)))
    }
}

// MARK: - Bodies

extension OpenAIRoutes {
    /// `POST /v1/embeddings`.
    struct EmbeddingRequest: Decodable {
        var input: EmbeddingInput
        var dimensions: Int?
        var encodingFormat: String?
        var user: String?
        var model: String?
        var instruction: String?
        var promptName: String?

        enum CodingKeys: String, CodingKey {
            case input, dimensions, user, model, instruction
            case encodingFormat = "encoding_format"
            case promptName = "prompt_name"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            // `input` must be there before anything else is looked at; its shape is checked last.
            guard container.hasValue(.input) else { throw APIError.badRequest("'input' is required", param: "input") }
            dimensions = try container.decodeIfPresent(Int.self, forKey: .dimensions)
            encodingFormat = try container.decodeIfPresent(String.self, forKey: .encodingFormat)
            user = try container.decodeIfPresent(String.self, forKey: .user)
            model = try container.decodeIfPresent(String.self, forKey: .model)
            instruction = try container.decodeIfPresent(String.self, forKey: .instruction)
            promptName = try container.decodeIfPresent(String.self, forKey: .promptName)
            input = try container.decode(EmbeddingInput.self, forKey: .input)
        }
    }

    /// `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}`.
    struct EmbeddingList: Encodable {
        let object = "list"
        var data: [Embedding]
        var model: String
        var usage: TokenUsage

        struct Embedding: Encodable {
            let object = "embedding"
            var index: Int
            var embedding: EmbeddingVector
        }
    }

    /// `POST /v1/rerank` (Cohere v1 / Jina).
    struct RerankRequest: Decodable {
        var query: String
        var documents: RerankDocuments
        var topN: Int?
        var returnDocuments: Bool?
        var model: String?
        var instruction: String?

        enum CodingKeys: String, CodingKey {
            case query, documents, model, instruction
            case topN = "top_n"
            case returnDocuments = "return_documents"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            query = try container.decode(String.self, forKey: .query)
            try container.requireArray(.documents, orThrow: .badRequest("'documents' must be an array", param: "documents"))
            documents = try container.decode(RerankDocuments.self, forKey: .documents)
            topN = try container.decodeIfPresent(Int.self, forKey: .topN)
            returnDocuments = try container.decodeIfPresent(Bool.self, forKey: .returnDocuments)
            model = try container.decodeIfPresent(String.self, forKey: .model)
            instruction = try container.decodeIfPresent(String.self, forKey: .instruction)
        }
    }

    /// Cohere v1's rerank response with Jina's `model` and `usage`.
    struct RerankResponse: Encodable {
        var id: String
        var model: String
        var results: [RelevanceResult]
        var meta: CohereMeta
        var usage: TokenUsage
    }

    /// `{"object": "list", "data": [{"id", "object": "model", "created", "owned_by", "kind"}]}`.
    struct ModelList: Encodable {
        let object = "list"
        var data: [Model]

        struct Model: Encodable {
            var id: String
            let object = "model"
            var created: Int
            let ownedBy = "qwen3-embed"
            var kind: String

            enum CodingKeys: String, CodingKey {
                case id, object, created, kind
                case ownedBy = "owned_by"
            }
        }
    }
}

/// An embedding as a float array or as base64 of its little-endian float32 bytes.
enum EmbeddingVector: Encodable {
    case floats([Float])
    case base64(String)

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .floats(let values): try container.encode(values)
        case .base64(let text): try container.encode(text)
        }
    }
}

/// The four shapes OpenAI accepts for `input`.
enum EmbeddingInput: JSONShapedField {
    case texts([String])
    case tokens([[Int]])

    init(json: JSONValue, field: String) throws {
        let typeError = APIError.badRequest(
            "'\(field)' must be a string, an array of strings, an array of token ids or an array of arrays of token ids",
            param: field)
        switch json {
        case .string(let text): self = .texts([text])
        case .array(let items):
            if items.isEmpty { self = .texts([]) }
            else if items.allSatisfy({ $0.string != nil }) {
                self = .texts(items.compactMap(\.string))
            } else if items.allSatisfy({ $0.integer != nil }) {
                self = .tokens([items.compactMap(\.integer)])
            } else {
                self = .tokens(try items.map { item in
                    guard case .array(let ids) = item else { throw typeError }
                    return try tokenIDs(ids, orThrow: typeError)
                })
            }
        default: throw typeError
        }
    }
}

/// Cohere's `meta`: `{"api_version": {"version"}, "billed_units": {...}}`.
struct CohereMeta: Encodable {
    var apiVersion: APIVersion
    var billedUnits: BilledUnits

    init(version: String, billedUnits: BilledUnits) {
        apiVersion = APIVersion(version: version)
        self.billedUnits = billedUnits
    }

    struct APIVersion: Encodable {
        var version: String
    }

    /// What a request is billed as: search units for a rerank, input tokens for an embedding.
    struct BilledUnits: Encodable {
        var searchUnits: Int?
        var inputTokens: Int?

        enum CodingKeys: String, CodingKey {
            case searchUnits = "search_units"
            case inputTokens = "input_tokens"
        }
    }

    enum CodingKeys: String, CodingKey {
        case apiVersion = "api_version"
        case billedUnits = "billed_units"
    }
}

/// Little-endian float32 bytes, base64-encoded (OpenAI's `encoding_format: "base64"`).
func base64LittleEndian(_ vector: [Float]) -> String {
    var bytes = [UInt8]()
    bytes.reserveCapacity(vector.count * 4)
    for value in vector {
        let bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
    }
    return Data(bytes).base64EncodedString()
}

/// Reads the whole body (413 past `limit`) and parses it (400 if malformed).
func readJSON(_ request: Request, limit: Int) async throws -> JSONValue {
    var request = request
    let buffer: ByteBuffer
    do {
        buffer = try await request.collectBody(upTo: limit)
    } catch {
        throw APIError(.contentTooLarge, "the request body is larger than the limit of \(limit) bytes")
    }
    return try JSONValue.parse(requestBody: Data(buffer.readableBytesView))
}
