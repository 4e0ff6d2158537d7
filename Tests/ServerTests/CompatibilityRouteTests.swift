import Foundation
import Qwen3Embedding
import Testing
@testable import Server

/// The routes that real clients of other servers call (OpenAI, TEI, Cohere, llama-server), each checked
/// against the library's own results and the shapes those APIs define.
@Suite("Compatibility routes", .serialized)
struct CompatibilityRouteTests {
    func embeddings(_ reply: TestServer.Reply) -> [[Float]] {
        (reply.object["data"] as? [[String: Any]] ?? []).map { floats($0["embedding"]) }
    }

    @Test("/v1/embeddings refuses token ids with a 422 naming the cause and the fix; --accept-token-ids serves them")
    func tokenIDs() async throws {
        let texts = ["hello world", "The capital of China is Beijing."]
        let expected = try await Fixtures.embedder.embed(texts)
        let ids = Fixtures.embedder.tokenize(texts)
        try await RouteTester.with { server in
            for input in [ids as Any, ids[0] as Any] {
                let reply = try await server.post("/v1/embeddings", ["input": input])
                #expect(reply.status == 422)
                let error = reply.object["error"] as? [String: Any]
                let message = error?["message"] as? String ?? ""
                #expect(message.contains("tiktoken"))
                #expect(message.contains("check_embedding_ctx_length=False"))
                #expect(message.contains("--accept-token-ids"))
                #expect(error?["param"] as? String == "input")
            }
        }
        try await RouteTester.with(configure: { $0.acceptTokenIDs = true }) { server in
            #expect(embeddings(try await server.post("/v1/embeddings", ["input": ids])) == expected)
            #expect(embeddings(try await server.post("/v1/embeddings", ["input": ids[0]])) == [expected[0]])
            // Ids written as 1e2 or 1.0 are not token ids.
            let float = try await server.request(.POST, "/v1/embeddings", body: Data(#"{"input": [1.0, 2]}"#.utf8))
            #expect(float.status == 400)
        }
    }

    @Test("TEI /embed takes this model's token ids: one list, lists, mixed with texts; truncation applies")
    func teiTokenIDs() async throws {
        let texts = ["a text", "another one"]
        let expected = try await Fixtures.embedder.embed(texts)
        let ids = Fixtures.embedder.tokenize(texts)
        try await RouteTester.with { server in
            let single = try await server.post("/embed", ["inputs": ids[0]])
            #expect((single.json as? [Any] ?? []).map { floats($0) } == [expected[0]])
            let lists = try await server.post("/embed", ["inputs": ids])
            #expect((lists.json as? [Any] ?? []).map { floats($0) } == expected)
            let mixed = try await server.post("/embed", ["inputs": [texts[0], ids[1]]])
            #expect((mixed.json as? [Any] ?? []).map { floats($0) } == expected)
            let long = [Int](repeating: ids[0][0], count: 100)
            #expect(try await server.post("/embed", ["inputs": [long]]).status == 422)
            let cut = try await server.post("/embed", ["inputs": [long], "truncate": true])
            #expect(cut.status == 200)
            let reference = try await Fixtures.embedder.embed(tokenIDs: [Array(long.prefix(64))])
            #expect((cut.json as? [Any] ?? []).map { floats($0) } == reference)
            #expect(try await server.post("/embed", ["inputs": [[999_999]]]).status == 422)
        }
    }

    @Test("POST / and /invocations: by model kind, or by body with both models loaded")
    func predict() async throws {
        let expected = try await Fixtures.embedder.embed(["a text"])
        let documents = ["Beijing is the capital of China.", "Gravity attracts bodies."]
        let scores = try await Fixtures.rerankerModel.score(query: "capital?", documents: documents)
        try await RouteTester.with { server in
            for path in ["/", "/invocations"] {
                let embed = try await server.post(path, ["inputs": "a text"])
                #expect(embed.status == 200)
                #expect((embed.json as? [Any] ?? []).map { floats($0) } == expected)
                let rerank = try await server.post(path, ["query": "capital?", "texts": documents])
                let results = rerank.json as? [[String: Any]] ?? []
                #expect(results.count == 2)
                #expect(results.map { Float(($0["score"] as? NSNumber)?.doubleValue ?? -1) } == results.map { scores[$0["index"] as? Int ?? 0] })
                let neither = try await server.post(path, ["something": 1])
                #expect(neither.status == 400)
                #expect(neither.object["error_type"] as? String == "Validation")
            }
        }
        try await RouteTester.with(embedder: false) { server in
            let rerank = try await server.post("/", ["query": "capital?", "texts": documents])
            #expect((rerank.json as? [[String: Any]])?.count == 2)
        }
        try await RouteTester.with(reranker: false) { server in
            let embed = try await server.post("/", ["inputs": ["a text"]])
            #expect((embed.json as? [Any] ?? []).map { floats($0) } == expected)
        }
    }

    @Test("TEI /similarity and huggingface_hub's sentence_similarity payload on POST /")
    func similarity() async throws {
        let sentences = ["That is a happy dog", "Today is a sunny day"]
        let vectors = try await Fixtures.embedder.embed(["That is a happy person"] + sentences)
        let expected = sentences.indices.map { cosineSimilarity(vectors[0], vectors[$0 + 1]) }
        try await RouteTester.with { server in
            let body: [String: Any] = ["inputs": ["source_sentence": "That is a happy person", "sentences": sentences]]
            for path in ["/similarity", "/"] {
                let reply = try await server.post(path, body)
                #expect(reply.status == 200)
                let values = floats(reply.json)
                #expect(values == expected)
                #expect(values.allSatisfy { $0 > -1.0001 && $0 < 1.0001 })
            }
            let withParameters = try await server.post("/similarity", body.merging(["parameters": ["prompt_name": "query"]]) { $1 })
            #expect(withParameters.status == 200)
            #expect(try await server.post("/similarity", ["inputs": ["sentences": sentences]]).status == 400)
            #expect(try await server.post("/similarity", ["inputs": "text"]).status == 400)
        }
    }

    @Test("TEI /decode and /embed_all")
    func decodeAndEmbedAll() async throws {
        let text = "hello world"
        let ids = Fixtures.embedder.tokenizer.encode(text)
        let last = try await Fixtures.embedder.embed([text], normalize: false)
        let all = try Fixtures.embedder.model.allHiddenStates(for: [ids])
        try await RouteTester.with { server in
            let decoded = try await server.post("/decode", ["ids": ids, "skip_special_tokens": true])
            #expect(decoded.json as? [String] == [text])
            let withSpecial = try await server.post("/decode", ["ids": [ids, ids], "skip_special_tokens": false])
            #expect(withSpecial.json as? [String] == [text + "<|endoftext|>", text + "<|endoftext|>"])
            #expect(try await server.post("/decode", ["ids": [-1]]).status == 422)
            #expect(try await server.post("/decode", ["ids": "x"]).status == 400)

            let reply = try await server.post("/embed_all", ["inputs": text])
            #expect(reply.status == 200)
            let states = (reply.json as? [[[Any]]] ?? []).map { $0.map { floats($0) } }
            #expect(states.count == 1)
            #expect(states.first?.count == ids.count)
            #expect(states.first == all.first)
            // The last token's state is the (unnormalised) embedding.
            #expect(states.first?.last == last[0])
            let tooMany = try await server.post("/embed_all", ["inputs": [String](repeating: String(repeating: "word ", count: 50), count: 8), "truncate": true])
            #expect(tooMany.status == 422)
        }
    }

    @Test("Cohere v2 /v2/embed: input types, embedding types, output_dimension, truncate; Cohere's response shape")
    func cohereEmbed() async throws {
        let texts = ["hello world", "The capital of China is Beijing."]
        let documents = try await Fixtures.embedder.embed(texts)
        let queries = try await Fixtures.embedder.embed(texts, instruction: Prompts.defaultInstruction)
        let short = try await Fixtures.embedder.embed(texts, dimensions: 32)
        try await RouteTester.with { server in
            let reply = try await server.post("/v2/embed", [
                "texts": texts, "model": "m", "input_type": "search_document",
                "embedding_types": ["float", "int8", "uint8", "binary", "ubinary", "base64"],
            ])
            #expect(reply.status == 200)
            #expect(reply.object["id"] is String)
            #expect(reply.object["texts"] as? [String] == texts)
            #expect(reply.object["response_type"] as? String == "embeddings_by_type")
            let meta = reply.object["meta"] as? [String: Any]
            #expect((meta?["api_version"] as? [String: Any])?["version"] as? String == "2")
            let tokens = Fixtures.embedder.tokenize(texts).reduce(0) { $0 + $1.count }
            #expect((meta?["billed_units"] as? [String: Any])?["input_tokens"] as? Int == tokens)
            let embeddings = reply.object["embeddings"] as? [String: Any] ?? [:]
            #expect((embeddings["float"] as? [Any] ?? []).map { floats($0) } == documents)
            #expect(embeddings["int8"] as? [[Int]] == documents.map(EmbeddingQuantization.int8))
            #expect(embeddings["uint8"] as? [[Int]] == documents.map(EmbeddingQuantization.uint8))
            #expect(embeddings["binary"] as? [[Int]] == documents.map(EmbeddingQuantization.binary))
            #expect(embeddings["ubinary"] as? [[Int]] == documents.map(EmbeddingQuantization.ubinary))
            #expect((embeddings["base64"] as? [String] ?? []).map(decodeBase64Floats) == documents)
            #expect((embeddings["ubinary"] as? [[Int]])?.first?.count == (documents[0].count + 7) / 8)

            for inputType in ["classification", "clustering"] {
                let other = try await server.post("/v2/embed", ["texts": texts, "input_type": inputType])
                #expect(((other.object["embeddings"] as? [String: Any])?["float"] as? [Any] ?? []).map { floats($0) } == documents)
            }
            let query = try await server.post("/v2/embed", ["texts": texts, "input_type": "search_query"])
            #expect(((query.object["embeddings"] as? [String: Any])?["float"] as? [Any] ?? []).map { floats($0) } == queries)
            let dimension = try await server.post("/v2/embed", ["texts": texts, "input_type": "search_document", "output_dimension": 32])
            #expect(((dimension.object["embeddings"] as? [String: Any])?["float"] as? [Any] ?? []).map { floats($0) } == short)

            let long = String(repeating: "word ", count: 200)
            #expect(try await server.post("/v2/embed", ["texts": [long], "input_type": "search_document", "truncate": "NONE"]).status == 422)
            #expect(try await server.post("/v2/embed", ["texts": [long], "input_type": "search_document", "truncate": "END"]).status == 200)
            let start = try await server.post("/v2/embed", ["texts": [long + "tail"], "input_type": "search_document", "truncate": "START"])
            #expect(start.status == 200)

            let bad = try await server.post("/v2/embed", ["texts": texts, "input_type": "search_document", "embedding_types": ["int4"]])
            #expect(bad.status == 422)
            #expect(bad.object["message"] is String)
            #expect(bad.object["id"] is String)
            #expect(try await server.post("/v2/embed", ["texts": texts, "input_type": "poem"]).status == 422)
            #expect(try await server.post("/v2/embed", ["texts": texts, "truncate": "MIDDLE"]).status == 422)
        }
    }

    @Test("Cohere rerank: v2 results with id and meta; v1 keeps index and relevance_score; llama-server /reranking")
    func cohereRerank() async throws {
        let documents = ["Beijing is the capital of China.", "Gravity attracts bodies.", "Paris is in France."]
        let expected = try await Fixtures.rerankerModel.score(query: "capital of China?", documents: documents)
        let order = expected.indices.sorted { expected[$0] > expected[$1] }
        try await RouteTester.with { server in
            let v2 = try await server.post("/v2/rerank", ["model": "m", "query": "capital of China?", "documents": documents, "top_n": 2])
            #expect(v2.status == 200)
            #expect(v2.object["id"] is String)
            let meta = v2.object["meta"] as? [String: Any]
            #expect((meta?["api_version"] as? [String: Any])?["version"] as? String == "2")
            let results = v2.object["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["index"] as? Int ?? -1 } == Array(order.prefix(2)))
            #expect(results.map { Float(($0["relevance_score"] as? NSNumber)?.doubleValue ?? -1) } == order.prefix(2).map { expected[$0] })

            let v1 = try await server.post("/v1/rerank", ["query": "capital of China?", "documents": documents])
            #expect(v1.object["id"] is String)
            #expect(((v1.object["meta"] as? [String: Any])?["api_version"] as? [String: Any])?["version"] as? String == "1")
            #expect((v1.object["results"] as? [[String: Any]] ?? []).map { $0["index"] as? Int ?? -1 } == order)

            let llama = try await server.post("/reranking", ["query": "capital of China?", "documents": documents, "top_n": 1])
            #expect(llama.status == 200)
            let llamaResults = llama.object["results"] as? [[String: Any]] ?? []
            #expect(llamaResults.map { $0["index"] as? Int ?? -1 } == [order[0]])
            #expect(Float((llamaResults.first?["relevance_score"] as? NSNumber)?.doubleValue ?? -1) == expected[order[0]])

            let missing = try await server.post("/v2/rerank", ["query": "q"])
            #expect(missing.status == 400)
            #expect(missing.object["message"] is String)
        }
    }

    @Test("llama-server /embedding: content as text or list; embd_normalize")
    func llamaEmbedding() async throws {
        let texts = ["hello world", "another"]
        let normalized = try await Fixtures.embedder.embed(texts)
        let raw = try await Fixtures.embedder.embed(texts, normalize: false)
        try await RouteTester.with { server in
            let reply = try await server.post("/embedding", ["content": texts])
            #expect(reply.status == 200)
            let items = reply.json as? [[String: Any]] ?? []
            #expect(items.map { $0["index"] as? Int ?? -1 } == [0, 1])
            let rows = items.map { ($0["embedding"] as? [Any] ?? []).map { floats($0) } }
            #expect(rows.allSatisfy { $0.count == 1 })
            for (row, reference) in zip(rows, normalized) {
                #expect(zip(row[0], reference).allSatisfy { abs($0 - $1) < 1e-6 })
            }
            let unnormalized = try await server.post("/embedding", ["content": texts[0], "embd_normalize": -1])
            #expect(((unnormalized.json as? [[String: Any]])?.first?["embedding"] as? [Any]).map { $0.map { floats($0) } } == [raw[0]])
            #expect(try await server.post("/embedding", ["nothing": 1]).status == 400)
        }
    }

    @Test("GET /v1/models lists the loaded models with their kind; --served-model-name is echoed")
    func models() async throws {
        try await RouteTester.with(configure: { $0.embedderName = "served-name" }) { server in
            let reply = try await server.get("/v1/models")
            #expect(reply.status == 200)
            #expect(reply.object["object"] as? String == "list")
            let data = reply.object["data"] as? [[String: Any]] ?? []
            #expect(data.map { $0["id"] as? String } == ["served-name", "tiny-reranker"])
            #expect(data.map { $0["kind"] as? String } == ["embedding", "reranker"])
            #expect(data.allSatisfy { $0["object"] as? String == "model" && $0["created"] is Int && $0["owned_by"] is String })
            let embeddings = try await server.post("/v1/embeddings", ["input": "x"])
            #expect(embeddings.object["model"] as? String == "served-name")
            let info = try await server.get("/info").object
            #expect(info["model_kind"] as? String == "embedding")
            #expect(info["reranker_kind"] as? String == "reranker")
            #expect(info["max_client_batch_size"] as? Int == 2048)
        }
    }

    @Test("Unknown routes are 404 and wrong methods 405 with Allow, in the route family's JSON shape")
    func notFoundAndMethodNotAllowed() async throws {
        try await RouteTester.with { server in
            let openAI = try await server.post("/v1/nothing", ["a": 1])
            #expect(openAI.status == 404)
            #expect((openAI.object["error"] as? [String: Any])?["type"] as? String == "not_found_error")
            let cohere = try await server.get("/v2/nothing")
            #expect(cohere.status == 404)
            #expect(cohere.object["message"] is String)
            let tei = try await server.get("/nothing")
            #expect(tei.status == 404)
            #expect(tei.object["error_type"] as? String == "NotFound")

            let wrong = try await server.get("/v1/embeddings")
            #expect(wrong.status == 405)
            #expect(wrong.header("Allow") == "POST")
            #expect((wrong.object["error"] as? [String: Any])?["message"] is String)
            let teiWrong = try await server.get("/embed")
            #expect(teiWrong.status == 405)
            #expect(teiWrong.object["error_type"] as? String == "MethodNotAllowed")
            let cohereWrong = try await server.request(.DELETE, "/v2/embed")
            #expect(cohereWrong.status == 405)
            #expect(cohereWrong.object["message"] is String)
            let root = try await server.request(.PUT, "/")
            #expect(root.status == 405)
            #expect(Set((root.header("Allow") ?? "").components(separatedBy: ", ")) == ["GET", "POST"])
        }
    }

    @Test("HTTP/1.0 without keep-alive is answered and the connection closed")
    func http10() async throws {
        try await TestServer.with { server, _ in
            for request in ["GET /health HTTP/1.0\r\n\r\n", "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"] {
                let connection = try await RawHTTPConnection(port: server.port)
                try await connection.sendRaw(Data(request.utf8))
                let text = String(decoding: try await connection.readToEnd(), as: UTF8.self)
                #expect(text.hasPrefix("HTTP/1.1 200"))
                #expect(text.lowercased().contains("connection: close"))
                #expect(text.hasSuffix(#"{"status":"ok"}"#))
            }
            // HTTP/1.0 asking for keep-alive keeps the connection for a second request.
            let connection = try await RawHTTPConnection(port: server.port)
            try await connection.sendRaw(Data("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8))
            #expect(try await connection.receive().status == 200)
            try await connection.sendRaw(Data("GET /health HTTP/1.0\r\n\r\n".utf8))
            let rest = String(decoding: try await connection.readToEnd(), as: UTF8.self)
            #expect(rest.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test("TEI's timing headers on inference routes, te_* metrics beside ours")
    func headersAndMetrics() async throws {
        try await RouteTester.with { server in
            let reply = try await server.post("/embed", ["inputs": ["a text", "b"]])
            let tokens = Fixtures.embedder.tokenize(["a text", "b"]).reduce(0) { $0 + $1.count }
            #expect(reply.header("x-compute-tokens") == String(tokens))
            #expect(reply.header("x-compute-characters") == "7")
            #expect(reply.header("x-compute-type") == "cpu")
            for name in ["x-compute-time", "x-queue-time", "x-inference-time", "x-tokenization-time", "x-total-time"] {
                #expect(reply.header(name).flatMap(Int.init) != nil, "\(name)")
            }
            let rerank = try await server.post("/v2/rerank", ["query": "q", "documents": ["d"]])
            #expect(rerank.header("x-compute-tokens").flatMap(Int.init) ?? 0 > 0)
            #expect(try await server.get("/health").header("x-compute-time") == nil)
            let metrics = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
            for name in [
                "te_request_count", "te_request_success", "te_request_duration", "te_request_queue_duration",
                "te_request_inference_duration", "te_request_tokenization_duration", "te_request_input_length",
                "te_batch_next_size", "te_batch_next_tokens", "te_queue_size", "http_requests_total",
            ] {
                #expect(metrics.contains(name), "\(name)")
            }
            #expect(metrics.contains(#"te_request_count{method="/embed"} 1"#))
        }
    }

    @Test("CORS: allowed origins get the header, preflight is answered without a key, others get none")
    func cors() async throws {
        try await RouteTester.with(configure: { $0.corsAllowOrigins = ["https://app.example"]; $0.apiKey = "k" }) { server in
            let preflight = try await server.request(.OPTIONS, "/v1/embeddings", headers: [
                ("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization, content-type"),
            ])
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Origin") == "https://app.example")
            #expect(preflight.header("Access-Control-Allow-Methods")?.contains("POST") == true)
            #expect(preflight.header("Access-Control-Allow-Headers") == "authorization, content-type")
            let allowed = try await server.post("/embed", ["inputs": "x"], headers: [("Origin", "https://app.example"), ("Authorization", "Bearer k")])
            #expect(allowed.status == 200)
            #expect(allowed.header("Access-Control-Allow-Origin") == "https://app.example")
            let other = try await server.post("/embed", ["inputs": "x"], headers: [("Origin", "https://evil.example"), ("Authorization", "Bearer k")])
            #expect(other.header("Access-Control-Allow-Origin") == nil)
            // POST / is an inference route: it needs the key, unlike the page at GET /.
            #expect(try await server.post("/", ["inputs": "x"]).status == 401)
            #expect(try await server.get("/").status == 200)
        }
    }

    @Test("/openapi.json is OpenAPI 3.1 and describes exactly the registered routes; /docs renders it")
    func openAPI() async throws {
        try await RouteTester.with { server in
            let reply = try await server.get("/openapi.json")
            #expect(reply.status == 200)
            let document = reply.object
            #expect(document["openapi"] as? String == "3.1.0")
            let paths = document["paths"] as? [String: [String: Any]] ?? [:]
            var documented = Set<String>()
            for (path, methods) in paths {
                for (method, operation) in methods {
                    documented.insert("\(method.uppercased()) \(path)")
                    let operation = operation as? [String: Any] ?? [:]
                    let responses = operation["responses"] as? [String: Any] ?? [:]
                    #expect(responses["200"] != nil && responses["4XX"] != nil, "\(method) \(path)")
                    #expect(operation["summary"] is String)
                }
            }
            let configuration = ServerConfiguration(embedder: Fixtures.embedder, reranker: Fixtures.rerankerModel)
            let registered = Set(try EmbeddingServer(configuration: configuration, logger: .init(label: "t")).routes.map { "\($0.method) \($0.path)" })
            #expect(registered == documented)
            #expect(registered.count >= 20)
            let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any] ?? [:]
            #expect(Set(schemas.keys).isSuperset(of: ["OpenAIError", "TEIError", "CohereError"]))

            let docs = try await server.get("/docs")
            #expect(docs.status == 200)
            #expect(docs.header("Content-Type")?.hasPrefix("text/html") == true)
            let page = String(decoding: docs.body, as: UTF8.self)
            #expect(page.contains("fetch(\"/openapi.json\")"))
            #expect(!page.contains("http://") && !page.contains("https://"))
        }
    }
}

@Suite("Models of any kind", .serialized)
struct AnyModelTests {
    @Test("A model narrower than 32 served with allowAnyModel: dimensions is checked without a crash; kinds are reported")
    func narrowModel() async throws {
        let narrow = try Embedder(modelAt: URL(fileURLWithPath: Fixtures.reranker), maxLength: 64, maxBatchTokens: 256, allowAnyModel: true)
        let full = try await narrow.embed(["a short text"])
        try await RouteTester.with(reranker: false, configure: { $0.embedder = narrow }) { server in
            for requested in [32, 4, 9, 0] {
                let reply = try await server.post("/v1/embeddings", ["input": "a short text", "dimensions": requested])
                #expect(reply.status == 422, "\(requested)")
                #expect(((reply.object["error"] as? [String: Any])?["message"] as? String)?.contains("8...8") == true)
                #expect(try await server.post("/v2/embed", ["texts": ["x"], "output_dimension": requested]).status == 422)
            }
            let exact = try await server.post("/v1/embeddings", ["input": "a short text", "dimensions": 8])
            #expect(exact.status == 200)
            #expect((exact.object["data"] as? [[String: Any]] ?? []).map { floats($0["embedding"]) } == full)
            let models = try await server.get("/v1/models")
            #expect((models.object["data"] as? [[String: Any]])?.first?["kind"] as? String == narrow.kind.rawValue)
            #expect(narrow.kind != .embedding)
            #expect(try await server.get("/info").object["model_kind"] as? String == narrow.kind.rawValue)
        }
    }
}
