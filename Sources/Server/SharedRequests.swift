import Foundation
import Hummingbird
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
    func embed(teiInputs inputs: [TEIInput], request: RequestObject, param: String = "inputs") async throws -> [[Float]] {
        _ = try requireEmbedder()
        try checkBatchSize(inputs.count, param: param)
        let options = try TEIOptions(request, service: self)
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

/// TEI's request options for embedding routes, read from the top level of the body or from its
/// `parameters` object (huggingface_hub puts them there).
struct TEIOptions {
    var normalize = true
    var truncate = false
    var keepEnd = false
    var dimensions: Int?
    var instruction: String?

    init(_ request: RequestObject, service: InferenceService) throws {
        let parameters: RequestObject? = try request["parameters"].map { value in
            guard case .object = value else { throw APIError.badRequest("'parameters' must be an object", param: "parameters") }
            return try RequestObject(value)
        }
        func option<T>(_ read: (RequestObject) throws -> T?) throws -> T? {
            try read(request) ?? parameters.flatMap { try read($0) }
        }
        normalize = try option { try $0.bool("normalize") } ?? true
        truncate = try option { try $0.bool("truncate") } ?? false
        let direction = try option { try $0.string("truncation_direction") } ?? "Right"
        guard ["right", "left"].contains(direction.lowercased()) else {
            throw APIError.unprocessable("truncation_direction must be \"Right\" or \"Left\"", param: "truncation_direction")
        }
        keepEnd = direction.lowercased() == "left"
        dimensions = try option { try $0.int("dimensions") }
        switch try option({ try $0.string("prompt_name") }) {
        case nil, "document": instruction = nil
        case "query": instruction = service.configuration.defaultInstruction
        case let other?: throw APIError.unprocessable("prompt_name \"\(other)\" is not \"query\" or \"document\"", param: "prompt_name")
        }
    }
}

/// Reads TEI's `inputs`: a string, a list of token ids, or a list whose items are strings or lists of
/// token ids (TEI's `Input`: one input or a batch, each a text or this model's ids).
func teiInputs(_ request: RequestObject, key: String = "inputs") throws -> [TEIInput] {
    let shapeError = APIError.badRequest(
        "'\(key)' must be a string, an array of strings, an array of token ids, or an array of arrays of token ids", param: key)
    func ids(_ items: [JSONValue]) throws -> [Int] {
        try items.map { item in
            guard let id = item.integer else { throw shapeError }
            return id
        }
    }
    switch request[key] {
    case .string(let text)?: return [.text(text)]
    case .array(let items)?:
        if !items.isEmpty, items.allSatisfy({ $0.integer != nil }) { return [.tokens(try ids(items))] }
        return try items.map { item in
            switch item {
            case .string(let text): return .text(text)
            case .array(let values): return .tokens(try ids(values))
            default: throw shapeError
            }
        }
    case nil: throw APIError.badRequest("'\(key)' is required", param: key)
    default: throw shapeError
    }
}

/// Reads a list of texts (`"text"` or `["a", "b"]`); with `objects`, items may also be `{"text": ...}`
/// (Cohere v1 and Jina documents).
func textList(_ request: RequestObject, key: String, objects: Bool = false) throws -> [String] {
    let shapeError = APIError.badRequest(
        objects ? "'\(key)' must be an array of strings or of {\"text\": string}" : "'\(key)' must be a string or an array of strings",
        param: key)
    switch request[key] {
    case .string(let text)?: return [text]
    case .array(let items)?:
        return try items.map { item in
            if case .string(let text) = item { return text }
            if objects, case .object(let fields) = item, case .string(let text)? = fields["text"] { return text }
            throw shapeError
        }
    case nil: throw APIError.badRequest("'\(key)' is required", param: key)
    default: throw shapeError
    }
}

/// A fresh response id (Cohere responses carry one).
func responseID() -> String { UUID().uuidString.lowercased() }
