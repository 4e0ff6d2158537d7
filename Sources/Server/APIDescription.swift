import Foundation
import Hummingbird
import ModelFormats

/// The server's OpenAPI 3.1 description (`GET /openapi.json`) and the page that renders it
/// (`GET /docs`), generated from one table of operations so that the description cannot drift from
/// the routes: a test checks that every registered route is in `operations` and nothing else is.
enum APIDescription {
    /// One documented operation.
    struct Operation {
        let method: String
        let path: String
        let family: APIFamily
        let tag: String
        let summary: String
        let description: String
        /// JSON schema of the request body, if the operation takes one.
        let request: JSONValue?
        /// JSON schema of the successful (200) response body.
        let response: JSONValue
        /// Media type of the successful response.
        var responseType = "application/json"
    }

    static func register(on routes: inout RouteList) {
        routes.get("/openapi.json") { _, _ in jsonResponse(JSONDocument(document)) }
        routes.get("/docs") { _, _ in
            var buffer = ByteBuffer()
            buffer.writeString(docsPage)
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
        }
    }

    // MARK: - Schema helpers

    private static func object(_ properties: [String: JSONValue], required: [String] = [], description: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": .string("object"), "properties": .object(JSONObject(properties))]
        if !required.isEmpty { schema["required"] = .array(required.map(JSONValue.string)) }
        if let description { schema["description"] = .string(description) }
        return .object(JSONObject(schema))
    }
    private static func array(_ items: JSONValue, description: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": .string("array"), "items": items]
        if let description { schema["description"] = .string(description) }
        return .object(JSONObject(schema))
    }
    private static func primitive(_ type: String, _ description: String? = nil, extra: [String: JSONValue] = [:]) -> JSONValue {
        var schema = extra
        schema["type"] = .string(type)
        if let description { schema["description"] = .string(description) }
        return .object(JSONObject(schema))
    }
    private static func string(_ description: String? = nil) -> JSONValue { primitive("string", description) }
    private static func integer(_ description: String? = nil, minimum: Int? = nil) -> JSONValue {
        primitive("integer", description, extra: minimum.map { ["minimum": .integer($0)] } ?? [:])
    }
    private static func number(_ description: String? = nil) -> JSONValue { primitive("number", description) }
    private static func boolean(_ description: String? = nil) -> JSONValue { primitive("boolean", description) }
    private static func enumeration(_ values: [String], _ description: String? = nil) -> JSONValue {
        primitive("string", description, extra: ["enum": .array(values.map(JSONValue.string))])
    }
    private static func oneOf(_ schemas: [JSONValue], description: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["oneOf": .array(schemas)]
        if let description { schema["description"] = .string(description) }
        return .object(JSONObject(schema))
    }
    private static func reference(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(name)")]) }

    private static let vector = array(number(), description: "An embedding")
    private static let tokenIDs = array(integer(minimum: 0), description: "Token ids")
    private static let texts = oneOf([string(), array(string())], description: "One text or a list of texts")
    private static let teiInputs = oneOf(
        [string(), array(string()), tokenIDs, array(oneOf([string(), tokenIDs]))],
        description: "Texts and/or token ids of this model (TEI's Input)")
    private static let teiOptions: [String: JSONValue] = [
        "normalize": boolean("L2-normalise the embedding (default true)"),
        "truncate": boolean("Truncate inputs longer than the maximum input length (default false: 422)"),
        "truncation_direction": enumeration(["Right", "Left"], "Which end to cut when truncating (default Right)"),
        "prompt_name": enumeration(["query", "document"], "query: format inputs with the default instruction"),
        "dimensions": integer("Matryoshka size: keep the first N dimensions, then normalise"),
    ]
    private static let rerankResultV1 = object([
        "index": integer("Position of the document in the request"),
        "relevance_score": number("Relevance probability in [0, 1]"),
        "document": object(["text": string()], description: "With return_documents"),
    ], required: ["index", "relevance_score"])
    private static let documents = array(
        oneOf([string(), object(["text": string()], required: ["text"])]), description: "Documents to score against the query")
    private static let usage = object(["prompt_tokens": integer(), "total_tokens": integer()])
    private static let tokenizeResult = array(array(object([
        "id": integer(), "text": string(), "special": boolean(),
        "start": oneOf([integer(), primitive("null")]), "stop": oneOf([integer(), primitive("null")]),
    ])))

    // MARK: - The operations

    private static let teiEmbedRequest = object(teiOptions.merging(["inputs": teiInputs]) { $1 }, required: ["inputs"])
    private static let teiRerankRequest = object([
        "query": string(), "texts": texts,
        "raw_scores": boolean("Return the logit difference instead of its sigmoid"),
        "return_text": boolean(), "truncate": boolean(), "instruction": string("Task instruction of the prompt"),
    ], required: ["query", "texts"])
    private static let teiRerankResponse = array(object(["index": integer(), "score": number(), "text": string()], required: ["index", "score"]))
    private static let similarityRequest = object(teiOptions.merging([
        "inputs": object(["source_sentence": string(), "sentences": array(string())], required: ["source_sentence", "sentences"]),
        "parameters": object(teiOptions, description: "Options, as huggingface_hub sends them"),
    ]) { $1 }, required: ["inputs"])
    private static let predictRequest = oneOf([teiEmbedRequest, teiRerankRequest, similarityRequest])
    private static let predictResponse = oneOf([array(vector), teiRerankResponse, array(number())])

    static let operations: [Operation] = [
        Operation(
            method: "post", path: "/v1/embeddings", family: .openAI, tag: "OpenAI", summary: "Create embeddings",
            description: "OpenAI's embeddings API. Token-id inputs are OpenAI-tokenizer ids by that API's contract and are refused with 422 unless the server runs with --accept-token-ids (then they are this model's ids). Over-long texts are truncated.",
            request: object([
                "input": oneOf([string(), array(string()), tokenIDs, array(tokenIDs)]),
                "model": string("Echoed back"),
                "encoding_format": enumeration(["float", "base64"]),
                "dimensions": integer("Matryoshka size"),
                "user": string(),
                "instruction": string("Format inputs as queries with this instruction (extension)"),
                "prompt_name": enumeration(["query", "document"], "query: the default instruction (extension)"),
            ], required: ["input"]),
            response: object([
                "object": enumeration(["list"]),
                "data": array(object([
                    "object": enumeration(["embedding"]), "index": integer(),
                    "embedding": oneOf([vector, string("base64 of little-endian float32")]),
                ], required: ["object", "index", "embedding"])),
                "model": string(), "usage": usage,
            ], required: ["object", "data", "model", "usage"])),
        Operation(
            method: "post", path: "/v1/rerank", family: .openAI, tag: "Cohere", summary: "Rerank (Cohere v1 / Jina)",
            description: "Scores documents against a query; results best first.",
            request: object([
                "query": string(), "documents": documents, "top_n": integer(minimum: 1), "return_documents": boolean(),
                "model": string(), "instruction": string(),
            ], required: ["query", "documents"]),
            response: object([
                "id": string(), "model": string(), "results": array(rerankResultV1),
                "meta": object([:]), "usage": usage,
            ], required: ["results"])),
        Operation(
            method: "get", path: "/v1/models", family: .openAI, tag: "OpenAI", summary: "List models",
            description: "The loaded models with their kind.", request: nil,
            response: object([
                "object": enumeration(["list"]),
                "data": array(object([
                    "id": string(), "object": enumeration(["model"]), "created": integer(), "owned_by": string(),
                    "kind": enumeration(["embedding", "reranker", "language-model"]),
                ], required: ["id", "object", "created", "owned_by", "kind"])),
            ], required: ["object", "data"])),
        Operation(
            method: "post", path: "/embed", family: .tei, tag: "TEI", summary: "Embed (TEI)",
            description: "Text Embeddings Inference's /embed. Token ids are this model's own.",
            request: teiEmbedRequest, response: array(vector)),
        Operation(
            method: "post", path: "/rerank", family: .tei, tag: "TEI", summary: "Rerank (TEI)",
            description: "Text Embeddings Inference's /rerank; results best first.",
            request: teiRerankRequest, response: teiRerankResponse),
        Operation(
            method: "post", path: "/similarity", family: .tei, tag: "TEI", summary: "Sentence similarity (TEI)",
            description: "Cosine similarity of source_sentence with each sentence, in order.",
            request: similarityRequest, response: array(number())),
        Operation(
            method: "post", path: "/embed_all", family: .tei, tag: "TEI", summary: "Every token's hidden state (TEI)",
            description: "The final hidden state of each token, unpooled and unnormalised; at most one forward pass's token budget per request.",
            request: teiEmbedRequest, response: array(array(vector))),
        Operation(
            method: "post", path: "/tokenize", family: .tei, tag: "TEI", summary: "Tokenize (TEI)",
            description: "Tokens with UTF-8 byte offsets.",
            request: object([
                "inputs": texts, "add_special_tokens": boolean(), "prompt_name": enumeration(["query", "document"]),
            ], required: ["inputs"]),
            response: tokenizeResult),
        Operation(
            method: "post", path: "/decode", family: .tei, tag: "TEI", summary: "Decode token ids (TEI)",
            description: "Token ids back to text, one string per list.",
            request: object([
                "ids": oneOf([tokenIDs, array(tokenIDs)]), "skip_special_tokens": boolean("Default true"),
            ], required: ["ids"]),
            response: array(string())),
        Operation(
            method: "post", path: "/", family: .tei, tag: "TEI", summary: "Predict (TEI)",
            description: "TEI's route for the loaded model: embed or rerank by the model's kind; with both loaded, inputs -> embed, query+texts -> rerank, inputs with source_sentence/sentences -> similarity.",
            request: predictRequest, response: predictResponse),
        Operation(
            method: "post", path: "/invocations", family: .tei, tag: "TEI", summary: "Predict (SageMaker)",
            description: "The same as POST /.", request: predictRequest, response: predictResponse),
        Operation(
            method: "post", path: "/v2/embed", family: .cohere, tag: "Cohere", summary: "Embed (Cohere v2)",
            description: "search_query inputs get the query instruction; other input types are documents. Quantized types: int8 = round(127x), uint8 = int8 + 128, ubinary = sign bits packed MSB first, binary = ubinary - 128, base64 = little-endian float32.",
            request: object([
                "texts": array(string()), "model": string(),
                "input_type": enumeration(CohereRoutes.inputTypes),
                "embedding_types": array(enumeration(CohereRoutes.embeddingTypes)),
                "output_dimension": integer("Matryoshka size"),
                "truncate": enumeration(["NONE", "START", "END"]),
                "max_tokens": integer("Tokens kept per text", minimum: 2),
            ], required: ["texts"]),
            response: object([
                "id": string(),
                "embeddings": object([
                    "float": array(vector), "int8": array(array(integer())), "uint8": array(array(integer())),
                    "binary": array(array(integer())), "ubinary": array(array(integer())), "base64": array(string()),
                ]),
                "texts": array(string()),
                "meta": object([
                    "api_version": object(["version": string()]),
                    "billed_units": object(["input_tokens": integer()]),
                ]),
                "response_type": enumeration(["embeddings_by_type"]),
            ], required: ["id", "embeddings"])),
        Operation(
            method: "post", path: "/v2/rerank", family: .cohere, tag: "Cohere", summary: "Rerank (Cohere v2)",
            description: "Results best first.",
            request: object([
                "query": string(), "documents": documents, "top_n": integer(minimum: 1), "model": string(),
                "max_tokens_per_doc": integer(minimum: 1), "return_documents": boolean(),
            ], required: ["query", "documents"]),
            response: object([
                "id": string(), "results": array(rerankResultV1),
                "meta": object([
                    "api_version": object(["version": string()]),
                    "billed_units": object(["search_units": integer()]),
                ]),
            ], required: ["results"])),
        Operation(
            method: "post", path: "/embedding", family: .tei, tag: "llama.cpp", summary: "Embed (llama-server)",
            description: "llama-server's /embedding: one row per input; embd_normalize -1 none, 0 max-abs (int16 scale), 1 taxicab, 2 Euclidean (default), p>2 p-norm.",
            request: object([
                "content": teiInputs, "input": teiInputs, "embd_normalize": integer(),
            ]),
            response: array(object(["index": integer(), "embedding": array(vector)], required: ["index", "embedding"]))),
        Operation(
            method: "post", path: "/reranking", family: .tei, tag: "llama.cpp", summary: "Rerank (llama-server)",
            description: "llama-server's /reranking; results best first.",
            request: object([
                "query": string(), "documents": documents, "top_n": integer(minimum: 1), "return_text": boolean(), "model": string(),
            ], required: ["query", "documents"]),
            response: object([
                "model": string(), "object": string(), "usage": usage,
                "results": array(object(["index": integer(), "relevance_score": number()], required: ["index", "relevance_score"])),
            ], required: ["results"])),
        Operation(
            method: "get", path: "/health", family: .tei, tag: "Server", summary: "Health check", description: "200 while serving.",
            request: nil, response: object(["status": string()])),
        Operation(
            method: "get", path: "/info", family: .tei, tag: "Server", summary: "Server and model information",
            description: "Models, kinds, limits (TEI's /info fields and ours).", request: nil,
            response: object([
                "version": string(), "model_id": string(), "model_kind": string(), "dimensions": integer(),
                "max_input_length": integer(), "max_batch_tokens": integer(), "max_client_batch_size": integer(),
                "reranker_model_id": string(), "reranker_kind": string(),
            ])),
        Operation(
            method: "get", path: "/metrics", family: .tei, tag: "Server", summary: "Prometheus metrics",
            description: "Our series and TEI's te_* series.", request: nil, response: string(), responseType: "text/plain"),
        Operation(
            method: "get", path: "/", family: .tei, tag: "Server", summary: "The home page",
            description: "A page to try embedding and reranking by hand.", request: nil, response: string(), responseType: "text/html"),
        Operation(
            method: "get", path: "/openapi.json", family: .tei, tag: "Server", summary: "This document",
            description: "The OpenAPI 3.1 description of every route.", request: nil, response: object([:])),
        Operation(
            method: "get", path: "/docs", family: .tei, tag: "Server", summary: "API documentation page",
            description: "Renders /openapi.json.", request: nil, response: string(), responseType: "text/html"),
    ]

    /// A unique name for the operation: `post_v1_embeddings`, `get_root`.
    static func operationID(_ operation: Operation) -> String {
        let path = operation.path == "/" ? "root" : String(operation.path.dropFirst().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        return operation.method + "_" + path
    }

    /// The OpenAPI 3.1 document.
    static let document: JSONValue = {
        var paths: [String: [String: JSONValue]] = [:]
        for operation in operations {
            let errorSchema: String
            switch operation.family {
            case .openAI: errorSchema = "OpenAIError"
            case .tei: errorSchema = "TEIError"
            case .cohere: errorSchema = "CohereError"
            }
            func error(_ description: String) -> JSONValue {
                .object(["description": .string(description), "content": .object(["application/json": .object(["schema": reference(errorSchema)])])])
            }
            var entry: [String: JSONValue] = [
                "summary": .string(operation.summary),
                "description": .string(operation.description),
                "tags": .array([.string(operation.tag)]),
                "operationId": .string(operationID(operation)),
                "responses": .object([
                    "200": .object([
                        "description": .string("Success"),
                        "content": .object([operation.responseType: .object(["schema": operation.response])]),
                    ]),
                    "4XX": error("Client error: bad request, unauthorized, not found, method not allowed, too large, unprocessable, busy"),
                    "5XX": error("Server error"),
                ]),
            ]
            if let request = operation.request {
                entry["requestBody"] = .object([
                    "required": .bool(true),
                    "content": .object(["application/json": .object(["schema": request])]),
                ])
            }
            paths[operation.path, default: [:]][operation.method] = .object(JSONObject(entry))
        }
        return .object([
            "openapi": .string("3.1.0"),
            "info": .object([
                "title": .string("qwen3-embed"),
                "version": .string(InfoRoutes.version),
                "description": .string("OpenAI-, TEI-, Cohere- and llama-server-compatible embedding and reranking API for Qwen3 models."),
            ]),
            "paths": .object(JSONObject(paths.mapValues { .object(JSONObject($0)) })),
            "components": .object([
                "schemas": .object([
                    "OpenAIError": object([
                        "error": object([
                            "message": string(), "type": string(),
                            "param": oneOf([string(), primitive("null")]), "code": oneOf([string(), primitive("null")]),
                        ], required: ["message", "type"]),
                    ], required: ["error"]),
                    "TEIError": object(["error": string(), "error_type": string()], required: ["error", "error_type"]),
                    "CohereError": object(["id": string(), "message": string()], required: ["message"]),
                ]),
                "securitySchemes": .object([
                    "bearer": .object(["type": .string("http"), "scheme": .string("bearer")]),
                ]),
            ]),
            "security": .array([.object(["bearer": .array([])]), .object([:])]),
        ])
    }()
}
