import Foundation
import Hummingbird

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
    func models() -> JSONValue {
        let configuration = service.configuration
        var data: [JSONValue] = []
        if let embedder = configuration.embedder { data.append(model(configuration.embedderName, kind: embedder.kind.rawValue)) }
        if let reranker = configuration.reranker { data.append(model(configuration.rerankerName, kind: reranker.kind.rawValue)) }
        return .object(["object": .string("list"), "data": .array(data)])
    }

    private func model(_ name: String, kind: String) -> JSONValue {
        .object([
            "id": .string(name), "object": .string("model"), "created": .integer(started),
            "owned_by": .string("qwen3-embed"), "kind": .string(kind),
        ])
    }

    /// Texts are truncated to the maximum input length by default here (OpenAI clients have no
    /// `truncate` switch); token-id inputs are checked, never altered.
    func embeddings(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireEmbedder()
        guard let input = request["input"] else { throw APIError.badRequest("'input' is required", param: "input") }
        let dimensions = try request.int("dimensions")
        try service.checkDimensions(dimensions, param: "dimensions")
        let format = try request.string("encoding_format") ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.unprocessable("encoding_format must be \"float\" or \"base64\"", param: "encoding_format")
        }
        _ = try request.string("user")
        let model = try request.string("model") ?? service.configuration.embedderName
        let instruction = try instructionFor(request)

        let sequences: [[Int]]
        switch try EmbeddingInput(input) {
        case .texts(let texts):
            try service.checkBatchSize(texts.count, param: "input")
            sequences = try await service.tokenize(texts: texts, instruction: instruction, truncate: true)
        case .tokens(let ids):
            try service.checkBatchSize(ids.count, param: "input")
            guard service.configuration.acceptTokenIDs else { throw APIError.unprocessable(Self.tokenIDRefusal, param: "input") }
            sequences = try service.validate(tokenIDs: ids, param: "input")
        }
        let vectors = try await service.embed(sequences, dimensions: dimensions, normalize: true)
        let tokens = sequences.reduce(0) { $0 + $1.count }
        let data: [JSONValue] = vectors.enumerated().map { index, vector in
            let embedding: JSONValue = format == "base64" ? .string(base64LittleEndian(vector)) : .floats(vector)
            return .object(["object": .string("embedding"), "index": .number(Double(index)), "embedding": embedding])
        }
        return jsonResponse(.object([
            "object": .string("list"), "data": .array(data), "model": .string(model),
            "usage": .object(["prompt_tokens": .number(Double(tokens)), "total_tokens": .number(Double(tokens))]),
        ]))
    }

    /// `instruction` (ours) formats inputs as queries; `prompt_name` "query" uses the default instruction.
    private func instructionFor(_ request: RequestObject) throws -> String? {
        let instruction = try request.string("instruction")
        switch try request.string("prompt_name") {
        case nil: return instruction
        case "query": return instruction ?? service.configuration.defaultInstruction
        case "document": return nil
        case let other?: throw APIError.unprocessable("prompt_name \"\(other)\" is not \"query\" or \"document\"", param: "prompt_name")
        }
    }

    /// Cohere v1 / Jina reranking: `results` of `{index, relevance_score, document?}`, best first, with
    /// Cohere's `id` and `meta` and Jina's `model` and `usage`.
    func rerank(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireReranker()
        guard let query = try request.string("query") else { throw APIError.badRequest("'query' is required", param: "query") }
        guard case .array? = request["documents"] else {
            throw APIError.badRequest("'documents' must be an array", param: "documents")
        }
        let documents = try textList(request, key: "documents", objects: true)
        let topN = try request.int("top_n")
        let returnDocuments = try request.bool("return_documents") ?? false
        let model = try request.string("model") ?? service.configuration.rerankerName
        let ranking = try await service.rank(
            query: query, documents: documents, instruction: try request.string("instruction"), truncate: true, topN: topN)
        let results: [JSONValue] = ranking.order.map { index in
            var result: [String: JSONValue] = ["index": .integer(index), "relevance_score": .number(Double(ranking.scores[index]))]
            if returnDocuments { result["document"] = .object(["text": .string(documents[index])]) }
            return .object(result)
        }
        return jsonResponse(.object([
            "id": .string(responseID()), "model": .string(model), "results": .array(results),
            "meta": .object([
                "api_version": .object(["version": .string("1")]),
                "billed_units": .object(["search_units": .integer(1)]),
            ]),
            "usage": .object(["prompt_tokens": .integer(ranking.tokens), "total_tokens": .integer(ranking.tokens)]),
        ]))
    }
}

/// The four shapes OpenAI accepts for `input`.
enum EmbeddingInput {
    case texts([String])
    case tokens([[Int]])

    init(_ value: JSONValue) throws {
        let typeError = APIError.badRequest(
            "'input' must be a string, an array of strings, an array of token ids or an array of arrays of token ids",
            param: "input")
        switch value {
        case .string(let text): self = .texts([text])
        case .array(let items):
            if items.isEmpty { self = .texts([]) }
            else if items.allSatisfy({ if case .string = $0 { true } else { false } }) {
                self = .texts(items.map { if case .string(let text) = $0 { text } else { "" } })
            } else if items.allSatisfy({ $0.integer != nil }) {
                self = .tokens([items.map { $0.integer! }])
            } else {
                self = .tokens(try items.map { item in
                    guard case .array(let ids) = item else { throw typeError }
                    return try ids.map { guard let id = $0.integer else { throw typeError }; return id }
                })
            }
        default: throw typeError
        }
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
    return try JSONValue.parse(Data(buffer.readableBytesView))
}
