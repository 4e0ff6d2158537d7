import Foundation
import Hummingbird
import Qwen3Embedding

/// Text Embeddings Inference routes: `/embed`, `/rerank`, `/tokenize`, with TEI-shaped errors.
struct TEIRoutes: Sendable {
    let service: InferenceService

    func register(on router: Router<ServerRequestContext>) {
        let limit = service.configuration.payloadLimit
        router.post("/embed") { request, context in
            await answer(.tei) { try await untilClientDisconnects(context) { try await embed(try await readJSON(request, limit: limit)) } }
        }
        router.post("/rerank") { request, context in
            await answer(.tei) { try await untilClientDisconnects(context) { try await rerank(try await readJSON(request, limit: limit)) } }
        }
        router.post("/tokenize") { request, _ in await answer(.tei) { try tokenize(try await readJSON(request, limit: limit)) } }
    }

    private func texts(_ request: RequestObject, key: String) throws -> [String] {
        switch request[key] {
        case .string(let text)?: return [text]
        case .array(let items)?:
            return try items.map {
                guard case .string(let text) = $0 else { throw APIError.badRequest("'\(key)' must be a string or an array of strings") }
                return text
            }
        case nil: throw APIError.badRequest("'\(key)' is required")
        default: throw APIError.badRequest("'\(key)' must be a string or an array of strings")
        }
    }

    /// TEI truncates only when asked (`truncate: true`); `truncation_direction` "Left" keeps the end.
    func embed(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireEmbedder()
        let inputs = try texts(request, key: "inputs")
        try service.checkBatchSize(inputs.count, param: "inputs")
        let normalize = try request.bool("normalize") ?? true
        let truncate = try request.bool("truncate") ?? false
        let direction = try request.string("truncation_direction") ?? "Right"
        guard ["right", "left"].contains(direction.lowercased()) else {
            throw APIError.unprocessable("truncation_direction must be \"Right\" or \"Left\"")
        }
        let dimensions = try request.int("dimensions")
        try service.checkDimensions(dimensions, param: "dimensions")
        let instruction: String?
        switch try request.string("prompt_name") {
        case nil, "document": instruction = nil
        case "query": instruction = service.configuration.defaultInstruction
        case let other?: throw APIError.unprocessable("prompt_name \"\(other)\" is not \"query\" or \"document\"")
        }
        let sequences = try service.tokenize(
            texts: inputs, instruction: instruction, truncate: truncate, keepEnd: direction.lowercased() == "left")
        let vectors = try await service.embed(sequences, dimensions: dimensions, normalize: normalize)
        return jsonResponse(.array(vectors.map(JSONValue.floats)))
    }

    func rerank(_ body: JSONValue) async throws -> Response {
        let request = try RequestObject(body)
        _ = try service.requireReranker()
        guard let query = try request.string("query") else { throw APIError.badRequest("'query' is required") }
        let documents = try texts(request, key: "texts")
        try service.checkBatchSize(documents.count, param: "texts")
        let raw = try request.bool("raw_scores") ?? false
        let returnText = try request.bool("return_text") ?? false
        let truncate = try request.bool("truncate") ?? false
        let sequences = try service.rerankSequences(
            query: query, documents: documents, instruction: try request.string("instruction"), truncate: truncate)
        let scores = try await service.score(sequences, raw: raw)
        let ranked = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return jsonResponse(.array(ranked.map { index in
            var result: [String: JSONValue] = ["index": .number(Double(index)), "score": .number(Double(scores[index]))]
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
        let inputs = try texts(request, key: "inputs")
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
        return jsonResponse(.array(inputs.map { text in
            let input = instruction.map { Prompts.embeddingQuery(text, instruction: $0) } ?? text
            let bytes = Array(input.utf8)
            return .array(tokenizer.encodeWithOffsets(input, addSpecialTokens: addSpecial).map { token in
                let id = JSONValue.number(Double(token.id))
                guard let range = token.utf8Offsets else {
                    return .object([
                        "id": id, "text": .string(tokenizer.token(forID: token.id) ?? ""), "special": .bool(true),
                        "start": .null, "stop": .null,
                    ])
                }
                return .object([
                    "id": id, "text": .string(String(decoding: bytes[range], as: UTF8.self)), "special": .bool(false),
                    "start": .number(Double(range.lowerBound)), "stop": .number(Double(range.upperBound)),
                ])
            })
        }))
    }
}
