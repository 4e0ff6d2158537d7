import Foundation
import Hummingbird
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
        let request = try RequestObject(body)
        if case .object(let inputs)? = request["inputs"], inputs["source_sentence"] != nil || inputs["sentences"] != nil {
            return try await similarity(body)
        }
        switch (service.embedder != nil, service.reranker != nil) {
        case (true, false): return try await embed(body)
        case (false, true): return try await rerank(body)
        case (false, false): throw APIError(.notFound, "no model is loaded")
        case (true, true):
            if request["query"] != nil && request["texts"] != nil { return try await rerank(body) }
            if request["inputs"] != nil { return try await embed(body) }
            throw APIError.badRequest(
                "this server has an embedding model and a reranker: send {\"inputs\": ...} to embed or {\"query\", \"texts\"} to rerank")
        }
    }

    /// TEI truncates only when asked (`truncate: true`); `truncation_direction` "Left" keeps the end.
    /// `inputs` may hold texts and this model's token ids (TEI's semantics: ids are the model's own).
    func embed(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireEmbedder()
        let vectors = try await service.embed(teiInputs: try teiInputs(request), request: request)
        return jsonResponse(.array(vectors.map(JSONValue.floats)))
    }

    /// TEI's `/similarity`: cosine similarity of `source_sentence` with each of `sentences`, in order.
    /// Vectors are normalised, so the cosine is their dot product.
    func similarity(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireEmbedder()
        guard case .object(let fields)? = request["inputs"] else {
            throw APIError.badRequest("'inputs' must be an object {\"source_sentence\": string, \"sentences\": [string]}", param: "inputs")
        }
        let inputs = try RequestObject(.object(fields))
        guard let source = try inputs.string("source_sentence") else {
            throw APIError.badRequest("'inputs.source_sentence' is required", param: "inputs.source_sentence")
        }
        let sentences = try textList(inputs, key: "sentences")
        try service.checkBatchSize(sentences.count, param: "inputs.sentences")
        let options = try TEIOptions(request, service: service)
        let sequences = try await service.teiSequences(([source] + sentences).map(TEIInput.text), options: options, param: "inputs")
        let vectors = try await service.embed(sequences, dimensions: nil, normalize: true)
        let reference = vectors[0]
        return jsonResponse(.floats(vectors.dropFirst().map { cosineSimilarity(reference, $0) }))
    }

    /// TEI's `/embed_all`: the final hidden state of every token of each input (no pooling, no
    /// normalisation), `[input][token][dimension]`.
    func embedAll(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireEmbedder()
        let inputs = try teiInputs(request)
        try service.checkBatchSize(inputs.count, param: "inputs")
        let options = try TEIOptions(request, service: service)
        let sequences = try await service.teiSequences(inputs, options: options, param: "inputs")
        let states = try await service.allTokenStates(sequences)
        return jsonResponse(.array(states.map { .array($0.map(JSONValue.floats)) }))
    }

    /// TEI's `/decode`: token ids back to text, one string per list.
    func decode(_ body: JSONValue) throws -> Response {
        let request = try RequestObject(body)
        guard let tokenizer = service.configuration.embedder?.tokenizer ?? service.configuration.reranker?.tokenizer else {
            throw APIError(.notFound, "no model is loaded")
        }
        let lists: [[Int]]
        let shapeError = APIError.badRequest("'ids' must be an array of token ids or an array of arrays of token ids", param: "ids")
        switch request["ids"] {
        case .array(let items)?:
            if items.allSatisfy({ $0.integer != nil }) {
                lists = [items.map { $0.integer! }]
            } else {
                lists = try items.map { item in
                    guard case .array(let ids) = item else { throw shapeError }
                    return try ids.map { guard let id = $0.integer else { throw shapeError }; return id }
                }
            }
        case nil: throw APIError.badRequest("'ids' is required", param: "ids")
        default: throw shapeError
        }
        try service.checkBatchSize(lists.count, param: "ids")
        let skipSpecial = try request.bool("skip_special_tokens") ?? true
        let vocabulary = tokenizer.vocabularySize
        for ids in lists {
            if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw APIError.unprocessable("token id \(bad) is out of range 0..<\(vocabulary)", param: "ids")
            }
        }
        return jsonResponse(.array(lists.map { .string(tokenizer.decode($0, skipSpecialTokens: skipSpecial)) }))
    }

    func rerank(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireReranker()
        guard let query = try request.string("query") else { throw APIError.badRequest("'query' is required", param: "query") }
        let documents = try textList(request, key: "texts")
        let raw = try request.bool("raw_scores") ?? false
        let returnText = try request.bool("return_text") ?? false
        let truncate = try request.bool("truncate") ?? false
        let ranking = try await service.rank(
            query: query, documents: documents, instruction: try request.string("instruction"), truncate: truncate, raw: raw)
        return jsonResponse(.array(ranking.order.map { index in
            var result: [String: JSONValue] = ["index": .integer(index), "score": .number(Double(ranking.scores[index]))]
            if returnText { result["text"] = .string(documents[index]) }
            return .object(result)
        }))
    }

    /// TEI's token list for each input: `{id, text, special, start, stop}`. `start`/`stop` are UTF-8 byte
    /// offsets into the input as tokenised (after the `prompt_name` prompt, as TEI does) and `text` is
    /// exactly those bytes; the special tokens the post-processor adds have `special: true`, their own
    /// spelling as text and null offsets. Uses the embedding model's tokenizer, else the reranker's.
    func tokenize(_ body: JSONValue) throws -> Response {
        let request = try RequestObject(body)
        let inputs = try textList(request, key: "inputs")
        try service.checkBatchSize(inputs.count, param: "inputs")
        let addSpecial = try request.bool("add_special_tokens") ?? true
        guard let tokenizer = service.configuration.embedder?.tokenizer ?? service.configuration.reranker?.tokenizer else {
            throw APIError(.notFound, "no model is loaded")
        }
        let instruction: String?
        switch try request.string("prompt_name") {
        case nil, "document": instruction = nil
        case "query":
            guard service.configuration.embedder != nil else {
                throw APIError.unprocessable("prompt_name needs an embedding model; only a reranker is loaded")
            }
            instruction = service.configuration.defaultInstruction
        case let other?: throw APIError.unprocessable("prompt_name \"\(other)\" is not \"query\" or \"document\"")
        }
        // Written straight into the response text: a `JSONValue` tree holds a dictionary per token, about
        // ten times the size of the text itself (a 1 MB input made +300 MB of RSS that way).
        var output = "["
        for (inputIndex, text) in inputs.enumerated() {
            if inputIndex > 0 { output += "," }
            let input = instruction.map { Prompts.embeddingQuery(text, instruction: $0) } ?? text
            let bytes = Array(input.utf8)
            let tokens = tokenizer.encodeWithOffsets(input, addSpecialTokens: addSpecial)
            output.reserveCapacity(output.utf8.count + tokens.count * 64)
            output += "["
            for (tokenIndex, token) in tokens.enumerated() {
                if tokenIndex > 0 { output += "," }
                // Keys in sorted order, as `JSONValue` serialises objects.
                output += "{\"id\":\(token.id),\"special\":"
                if let range = token.utf8Offsets {
                    output += "false,\"start\":\(range.lowerBound),\"stop\":\(range.upperBound),\"text\":"
                    JSONValue.writeString(String(decoding: bytes[range], as: UTF8.self), to: &output)
                } else {
                    output += "true,\"start\":null,\"stop\":null,\"text\":"
                    JSONValue.writeString(tokenizer.token(forID: token.id) ?? "", to: &output)
                }
                output += "}"
            }
            output += "]"
        }
        output += "]"
        var buffer = ByteBuffer()
        buffer.writeString(output)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
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
