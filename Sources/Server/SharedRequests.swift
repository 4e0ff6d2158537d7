import Foundation
import Hummingbird
import ModelFormats
import Qwen3Embedding

/// A rerank result: every document's score and the order to report them in.
struct Ranking {
    /// Score of each document, in request order.
    let scores: [Float]
    /// Document indices, best first (ties keep request order), cut to `top_n`.
    let order: [Int]
    /// Tokens sent through the model.
    let tokens: Int
}

/// One item of TEI's `inputs`: a text, or token ids of this model.
enum TEIInput {
    case text(String)
    case tokens([Int])
}

extension InferenceService {
    /// Scores documents against a query and orders them, best first; `topN` keeps that many.
    func rank(query: String, documents: [String], instruction: String?, truncate: Bool, raw: Bool = false, topN: Int? = nil) async throws -> Ranking {
        try checkBatchSize(documents.count, param: "documents")
        if let topN, topN < 1 { throw APIError.unprocessable("top_n must be at least 1", param: "top_n") }
        let sequences = try await rerankSequences(query: query, documents: documents, instruction: instruction, truncate: truncate)
        let scores = try await score(sequences, raw: raw)
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return Ranking(scores: scores, order: Array(order.prefix(topN ?? documents.count)), tokens: sequences.reduce(0) { $0 + $1.count })
    }

    /// Embeds TEI-style inputs (texts and token-id lists, mixed as TEI allows) with TEI's options.
    func embed(teiInputs inputs: [TEIInput], options: TEIOptions, param: String = "inputs") async throws -> [[Float]] {
        _ = try requireEmbedder()
        try checkBatchSize(inputs.count, param: param)
        try checkDimensions(options.dimensions, param: "dimensions")
        let sequences = try await teiSequences(inputs, options: options, param: param)
        return try await embed(sequences, dimensions: options.dimensions, normalize: options.normalize)
    }

    /// Token ids for TEI inputs: texts tokenised (with the `prompt_name` instruction), id lists checked.
    func teiSequences(_ inputs: [TEIInput], options: TEIOptions, param: String) throws -> [[Int]] {
        var sequences = [[Int]](repeating: [], count: inputs.count)
        var texts: [(index: Int, text: String)] = []
        var idLists: [(index: Int, ids: [Int])] = []
        for (index, input) in inputs.enumerated() {
            switch input {
            case .text(let text): texts.append((index, text))
            case .tokens(let ids): idLists.append((index, ids))
            }
        }
        let tokenized = try tokenize(
            texts: texts.map(\.text), instruction: options.instruction, truncate: options.truncate, keepEnd: options.keepEnd)
        for (item, ids) in zip(texts, tokenized) { sequences[item.index] = ids }
        let checked = try validate(tokenIDs: idLists.map(\.ids), param: param, truncate: options.truncate, keepEnd: options.keepEnd)
        for (item, ids) in zip(idLists, checked) { sequences[item.index] = ids }
        return sequences
    }
}

/// TEI's option fields of an embedding request, as sent at the top level of the body or in its
/// `parameters` object (huggingface_hub puts them there).
struct TEIOptionFields: Decodable {
    var normalize: Bool?
    var truncate: Bool?
    var truncationDirection: String?
    var dimensions: Int?
    var promptName: String?

    enum CodingKeys: String, CodingKey {
        case normalize, truncate, dimensions
        case truncationDirection = "truncation_direction"
        case promptName = "prompt_name"
    }
}

/// TEI's request options for embedding routes: each from the top level of the body, else from its
/// `parameters` object.
struct TEIOptions {
    var normalize = true
    var truncate = false
    var keepEnd = false
    var dimensions: Int?
    var instruction: String?

    /// TEI's defaults (normalised, not truncated, no instruction).
    init() {}

    init(_ fields: TEIOptionFields, parameters: TEIOptionFields?, service: InferenceService) throws {
        func option<T>(_ field: KeyPath<TEIOptionFields, T?>) -> T? { fields[keyPath: field] ?? parameters?[keyPath: field] }
        normalize = option(\.normalize) ?? true
        truncate = option(\.truncate) ?? false
        let direction = option(\.truncationDirection) ?? "Right"
        guard ["right", "left"].contains(direction.lowercased()) else {
            throw APIError.unprocessable("truncation_direction must be \"Right\" or \"Left\"", param: "truncation_direction")
        }
        keepEnd = direction.lowercased() == "left"
        dimensions = option(\.dimensions)
        switch option(\.promptName) {
        case nil, "document": instruction = nil
        case "query": instruction = service.configuration.defaultInstruction
        case let other?: throw APIError.unprocessable("prompt_name \"\(other)\" is not \"query\" or \"document\"", param: "prompt_name")
        }
    }
}

/// A TEI embedding request body's inputs and options (`/embed`, `/embed_all`, `POST /`).
struct TEIEmbedRequest: Decodable {
    var inputs: TEIInputs
    var options: TEIOptionFields
    var parameters: TEIOptionFields?

    enum CodingKeys: String, CodingKey { case inputs, parameters }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputs = try container.decode(TEIInputs.self, forKey: .inputs)
        options = try TEIOptionFields(from: decoder)
        parameters = try container.decodeIfPresent(TEIOptionFields.self, forKey: .parameters)
    }

    /// The options, checked.
    func teiOptions(_ service: InferenceService) throws -> TEIOptions {
        try TEIOptions(options, parameters: parameters, service: service)
    }
}

/// TEI's `inputs`: a string, a list of token ids, or a list whose items are strings or lists of token ids
/// (TEI's `Input`: one input or a batch, each a text or this model's ids).
struct TEIInputs: JSONShapedField {
    var items: [TEIInput]

    init(json: JSONValue, field: String) throws {
        let shapeError = APIError.badRequest(
            "'\(field)' must be a string, an array of strings, an array of token ids, or an array of arrays of token ids", param: field)
        switch json {
        case .string(let text): items = [.text(text)]
        case .array(let elements):
            if !elements.isEmpty, elements.allSatisfy({ $0.integer != nil }) {
                items = [.tokens(elements.compactMap(\.integer))]
                return
            }
            items = try elements.map { element in
                switch element {
                case .string(let text): return .text(text)
                case .array(let values): return .tokens(try tokenIDs(values, orThrow: shapeError))
                default: throw shapeError
                }
            }
        default: throw shapeError
        }
    }
}

/// Token ids as written: every element a JSON integer (`1.0` and `1e2` are not ids), else `error`.
func tokenIDs(_ values: [JSONValue], orThrow error: APIError) throws -> [Int] {
    try values.map { value in
        guard let id = value.integer else { throw error }
        return id
    }
}

/// A list of texts: `"text"` or `["a", "b"]`.
struct TextList: JSONShapedField {
    var texts: [String]

    init(json: JSONValue, field: String) throws {
        let shapeError = APIError.badRequest("'\(field)' must be a string or an array of strings", param: field)
        switch json {
        case .string(let text): texts = [text]
        case .array(let elements):
            texts = try elements.map { element in
                guard case .string(let text) = element else { throw shapeError }
                return text
            }
        default: throw shapeError
        }
    }
}

/// Documents to rerank: a text, or an array whose items are texts or `{"text": ...}` (Cohere v1 and
/// Jina documents).
struct RerankDocuments: JSONShapedField {
    var texts: [String]

    init(json: JSONValue, field: String) throws {
        let shapeError = APIError.badRequest("'\(field)' must be an array of strings or of {\"text\": string}", param: field)
        switch json {
        case .string(let text): texts = [text]
        case .array(let elements):
            texts = try elements.map { element in
                if case .string(let text) = element { return text }
                if case .string(let text)? = element["text"] { return text }
                throw shapeError
            }
        default: throw shapeError
        }
    }
}

extension KeyedDecodingContainer {
    /// Whether `key` holds a value other than `null` (the server treats `null` as "not sent").
    func hasValue(_ key: Key) -> Bool { contains(key) && (try? decodeNil(forKey: key)) == false }

    /// Throws `error` unless `key` holds an object.
    func requireObject(_ key: Key, orThrow error: APIError) throws {
        guard hasValue(key), (try? nestedContainer(keyedBy: NameKey.self, forKey: key)) != nil else { throw error }
    }

    /// Throws `error` unless `key` holds an array (routes whose documents must be a list, not one text).
    func requireArray(_ key: Key, orThrow error: APIError) throws {
        guard hasValue(key), (try? nestedUnkeyedContainer(forKey: key)) != nil else { throw error }
    }
}

/// A rerank result as the OpenAI-, Cohere- and llama-server-shaped routes report it.
struct RelevanceResult: Encodable {
    var index: Int
    /// The score as a `Double` of the `Float` (clients read it back exactly).
    var relevanceScore: Double
    var document: DocumentText?

    enum CodingKeys: String, CodingKey {
        case index, document
        case relevanceScore = "relevance_score"
    }

    /// The results of `ranking`, best first, with each document's text if `documents` is given.
    static func results(_ ranking: Ranking, documents: [String]?) -> [RelevanceResult] {
        ranking.order.map { index in
            RelevanceResult(
                index: index, relevanceScore: Double(ranking.scores[index]), document: documents.map { DocumentText(text: $0[index]) })
        }
    }
}

/// `{"text": ...}`.
struct DocumentText: Encodable {
    var text: String
}

/// `{"prompt_tokens", "total_tokens"}` (OpenAI and Jina usage).
struct TokenUsage: Encodable {
    var promptTokens: Int
    var totalTokens: Int

    init(tokens: Int) {
        promptTokens = tokens
        totalTokens = tokens
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case totalTokens = "total_tokens"
    }
}

/// A fresh response id (Cohere responses carry one).
func responseID() -> String { UUID().uuidString.lowercased() }
