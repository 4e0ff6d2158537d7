import Foundation
import Hummingbird
import ModelFormats
import Qwen3Embedding

/// Text Embeddings Inference routes, with TEI-shaped errors: `/embed`, `/rerank`, `/similarity`,
/// `/embed_all`, `/tokenize`, `/decode`, and `POST /` / `/invocations` choosing among them.
struct TEIRoutes: Sendable {
    let service: InferenceService

    func register(on routes: inout RouteList) {
        let limit = service.configuration.payloadLimit
        routes.post("/embed") { request, context in
            await answer(.tei) { try await untilClientDisconnects(context) { try await embed(try await readJSON(request, limit: limit)) } }
        }
        routes.post("/rerank") { request, context in
            await answer(.tei) { try await untilClientDisconnects(context) { try await rerank(try await readJSON(request, limit: limit)) } }
        }
        routes.post("/similarity") { request, context in
            await answer(.tei) { try await untilClientDisconnects(context) { try await similarity(try await readJSON(request, limit: limit)) } }
        }
        routes.post("/embed_all") { request, context in
            await answer(.tei) { try await untilClientDisconnects(context) { try await embedAll(try await readJSON(request, limit: limit)) } }
        }
        routes.post("/tokenize") { request, _ in
            await answer(.tei) {
                let body = try await readJSON(request, limit: limit)
                return try await offloaded { try tokenize(body) }
            }
        }
        routes.post("/decode") { request, _ in await answer(.tei) { try decode(try await readJSON(request, limit: limit)) } }
        // TEI's `POST /` and SageMaker's `/invocations`: the route is chosen by the loaded model and the body.
        for path in ["/", "/invocations"] {
            routes.post(path) { request, context in
                await answer(.tei) { try await untilClientDisconnects(context) { try await predict(try await readJSON(request, limit: limit)) } }
            }
        }
    }

    /// `POST /`: with one model loaded, that model's route (as TEI decides by model kind); with both,
    /// the body decides: `query` + `texts` is a rerank, `inputs` holding `source_sentence` and
    /// `sentences` a similarity (huggingface_hub's `sentence_similarity`), other `inputs` an embedding.
    func predict(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        if case .object(let inputs)? = body["inputs"], inputs["source_sentence"] != nil || inputs["sentences"] != nil {
            return try await similarity(body)
        }
        switch (service.embedder != nil, service.reranker != nil) {
        case (true, false): return try await embed(body)
        case (false, true): return try await rerank(body)
        case (false, false): throw APIError(.notFound, "no model is loaded")
        case (true, true):
            func sent(_ key: String) -> Bool { body[key].map { !$0.isNull } ?? false }
            if sent("query") && sent("texts") { return try await rerank(body) }
            if sent("inputs") { return try await embed(body) }
            throw APIError.badRequest(
                "this server has an embedding model and a reranker: send {\"inputs\": ...} to embed or {\"query\", \"texts\"} to rerank")
        }
    }

    /// TEI truncates only when asked (`truncate: true`); `truncation_direction` "Left" keeps the end.
    /// `inputs` may hold texts and this model's token ids (TEI's semantics: ids are the model's own).
    func embed(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireEmbedder()
        let request = try RequestDecoder.decode(TEIEmbedRequest.self, from: body)
        return jsonResponse(try await service.embed(teiInputs: request.inputs.items, options: try request.teiOptions(service)))
    }

    /// TEI's `/similarity`: cosine similarity of `source_sentence` with each of `sentences`, in order.
    /// Vectors are normalised, so the cosine is their dot product.
    func similarity(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireEmbedder()
        let request = try RequestDecoder.decode(SimilarityRequest.self, from: body)
        let sentences = request.inputs.sentences.texts
        try service.checkBatchSize(sentences.count, param: "inputs.sentences")
        let options = try TEIOptions(request.options, parameters: request.parameters, service: service)
        let texts = [request.inputs.sourceSentence] + sentences
        let sequences = try await service.teiSequences(texts.map(TEIInput.text), options: options, param: "inputs")
        let vectors = try await service.embed(sequences, dimensions: nil, normalize: true)
        let reference = vectors[0]
        return jsonResponse(vectors.dropFirst().map { cosineSimilarity(reference, $0) })
    }

    /// TEI's `/embed_all`: the final hidden state of every token of each input (no pooling, no
    /// normalisation), `[input][token][dimension]`.
    func embedAll(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireEmbedder()
        let request = try RequestDecoder.decode(TEIEmbedRequest.self, from: body)
        let inputs = request.inputs.items
        try service.checkBatchSize(inputs.count, param: "inputs")
        let options = try request.teiOptions(service)
        let sequences = try await service.teiSequences(inputs, options: options, param: "inputs")
        return jsonResponse(try await service.allTokenStates(sequences))
    }

    /// TEI's `/decode`: token ids back to text, one string per list.
    func decode(_ body: JSONValue) throws -> Response {
        try RequestDecoder.requireObject(body)
        guard let tokenizer = service.configuration.embedder?.tokenizer ?? service.configuration.reranker?.tokenizer else {
            throw APIError(.notFound, "no model is loaded")
        }
        let request = try RequestDecoder.decode(DecodeRequest.self, from: body)
        let lists = request.ids.lists
        try service.checkBatchSize(lists.count, param: "ids")
        let skipSpecial = request.skipSpecialTokens ?? true
        let vocabulary = tokenizer.vocabularySize
        for ids in lists {
            if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw APIError.unprocessable("token id \(bad) is out of range 0..<\(vocabulary)", param: "ids")
            }
        }
        return jsonResponse(lists.map { tokenizer.decode($0, skipSpecialTokens: skipSpecial) })
    }

    func rerank(_ body: JSONValue) async throws -> Response {
        try RequestDecoder.requireObject(body)
        _ = try service.requireReranker()
        let request = try RequestDecoder.decode(RerankRequest.self, from: body)
        let documents = request.texts.texts
        let ranking = try await service.rank(
            query: request.query, documents: documents, instruction: request.instruction, truncate: request.truncate ?? false,
            raw: request.rawScores ?? false)
        let returnText = request.returnText ?? false
        return jsonResponse(ranking.order.map { index in
            RankedText(index: index, score: Double(ranking.scores[index]), text: returnText ? documents[index] : nil)
        })
    }

    /// TEI's token list for each input: `{id, text, special, start, stop}`. `start`/`stop` are UTF-8 byte
    /// offsets into the input as tokenised (after the `prompt_name` prompt, as TEI does) and `text` is
    /// exactly those bytes; the special tokens the post-processor adds have `special: true`, their own
    /// spelling as text and null offsets. Uses the embedding model's tokenizer, else the reranker's.
    func tokenize(_ body: JSONValue) throws -> Response {
        try RequestDecoder.requireObject(body)
        let request = try RequestDecoder.decode(TokenizeRequest.self, from: body)
        let inputs = request.inputs.texts
        try service.checkBatchSize(inputs.count, param: "inputs")
        let addSpecial = request.addSpecialTokens ?? true
        guard let tokenizer = service.configuration.embedder?.tokenizer ?? service.configuration.reranker?.tokenizer else {
            throw APIError(.notFound, "no model is loaded")
        }
        let instruction: String?
        switch request.promptName {
        case nil, "document": instruction = nil
        case "query":
            guard service.configuration.embedder != nil else {
                throw APIError.unprocessable("prompt_name needs an embedding model; only a reranker is loaded")
            }
            instruction = service.configuration.defaultInstruction
        case let other?: throw APIError.unprocessable("prompt_name \"\(other)\" is not \"query\" or \"document\"")
        }
        // Each input's tokens are made while the response is written, so only one input's list exists at a
        // time (a list of token records is several times the size of its JSON text).
        return jsonResponse(TokenLists(inputs: inputs) { text in
            let input = instruction.map { Prompts.embeddingQuery(text, instruction: $0) } ?? text
            let bytes = Array(input.utf8)
            return tokenizer.encodeWithOffsets(input, addSpecialTokens: addSpecial).map { token in
                if let range = token.utf8Offsets {
                    return TokenInfo(id: token.id, text: String(decoding: bytes[range], as: UTF8.self), special: false, offsets: range)
                }
                return TokenInfo(id: token.id, text: tokenizer.token(forID: token.id) ?? "", special: true, offsets: nil)
            }
        })
    }
}

// MARK: - Bodies

extension TEIRoutes {
    /// `POST /similarity`: `{"inputs": {"source_sentence", "sentences"}}` with TEI's options.
    struct SimilarityRequest: Decodable {
        var inputs: Inputs
        var options: TEIOptionFields
        var parameters: TEIOptionFields?

        struct Inputs: Decodable {
            var sourceSentence: String
            var sentences: TextList

            enum CodingKeys: String, CodingKey {
                case sentences
                case sourceSentence = "source_sentence"
            }
        }

        enum CodingKeys: String, CodingKey { case inputs, parameters }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            try container.requireObject(
                .inputs, orThrow: .badRequest("'inputs' must be an object {\"source_sentence\": string, \"sentences\": [string]}", param: "inputs"))
            inputs = try container.decode(Inputs.self, forKey: .inputs)
            options = try TEIOptionFields(from: decoder)
            parameters = try container.decodeIfPresent(TEIOptionFields.self, forKey: .parameters)
        }
    }

    /// `POST /decode`.
    struct DecodeRequest: Decodable {
        var ids: TokenIDLists
        var skipSpecialTokens: Bool?

        enum CodingKeys: String, CodingKey {
            case ids
            case skipSpecialTokens = "skip_special_tokens"
        }
    }

    /// `ids` of `/decode`: one list of token ids, or a list of them.
    struct TokenIDLists: JSONShapedField {
        var lists: [[Int]]

        init(json: JSONValue, field: String) throws {
            let shapeError = APIError.badRequest("'\(field)' must be an array of token ids or an array of arrays of token ids", param: field)
            guard case .array(let items) = json else { throw shapeError }
            if items.allSatisfy({ $0.integer != nil }) {
                lists = [items.compactMap(\.integer)]
            } else {
                lists = try items.map { item in
                    guard case .array(let ids) = item else { throw shapeError }
                    return try tokenIDs(ids, orThrow: shapeError)
                }
            }
        }
    }

    /// `POST /rerank` (TEI).
    struct RerankRequest: Decodable {
        var query: String
        var texts: TextList
        var rawScores: Bool?
        var returnText: Bool?
        var truncate: Bool?
        var instruction: String?

        enum CodingKeys: String, CodingKey {
            case query, texts, truncate, instruction
            case rawScores = "raw_scores"
            case returnText = "return_text"
        }
    }

    /// One TEI rerank result: `{"index", "score", "text"?}`.
    struct RankedText: Encodable {
        var index: Int
        /// The score as a `Double` of the `Float` (clients read it back exactly).
        var score: Double
        var text: String?
    }

    /// `POST /tokenize`.
    struct TokenizeRequest: Decodable {
        var inputs: TextList
        var addSpecialTokens: Bool?
        var promptName: String?

        enum CodingKeys: String, CodingKey {
            case inputs
            case addSpecialTokens = "add_special_tokens"
            case promptName = "prompt_name"
        }
    }

    /// One token of `/tokenize`: `{"id", "special", "start", "stop", "text"}`, offsets `null` for the
    /// special tokens the post-processor adds.
    struct TokenInfo: Encodable {
        var id: Int
        var text: String
        var special: Bool
        var offsets: Range<Int>?

        enum CodingKeys: String, CodingKey { case id, text, special, start, stop }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(text, forKey: .text)
            try container.encode(special, forKey: .special)
            // Written as `null`, not left out: TEI's clients expect the keys.
            try container.encode(offsets?.lowerBound, forKey: .start)
            try container.encode(offsets?.upperBound, forKey: .stop)
        }
    }

    /// `/tokenize`'s response, `[[TokenInfo]]`, each input tokenised as it is written.
    struct TokenLists: Encodable {
        let inputs: [String]
        let tokens: (String) -> [TokenInfo]

        func encode(to encoder: any Encoder) throws {
            var lists = encoder.unkeyedContainer()
            for input in inputs { try lists.encode(tokens(input)) }
        }
    }
}

/// Cosine similarity of two vectors of equal length, accumulated in double precision.
func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Float {
    var dot = 0.0, normA = 0.0, normB = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        normA += Double(x) * Double(x)
        normB += Double(y) * Double(y)
    }
    guard normA > 0, normB > 0 else { return 0 }
    return Float(dot / (normA.squareRoot() * normB.squareRoot()))
}
