import Foundation
import Qwen3Embedding
import Testing

@Suite("Server routes", .serialized)
struct RouteTests {
    @Test("OpenAI embeddings: float, base64, dimensions, token ids (when accepted); results equal the library's")
    func openAIEmbeddings() async throws {
        let texts = ["hello world", "The capital of China is Beijing."]
        let expected = try await Fixtures.embedder.embed(texts)
        let expectedQuery = try await Fixtures.embedder.embed(["hello world"], instruction: "Find it")
        let expected32 = try await Fixtures.embedder.embed(texts, dimensions: 32)
        try await RouteTester.with(configure: { $0.acceptTokenIDs = true }) { server in
            let reply = try await server.post("/v1/embeddings", ["input": texts, "model": "m"])
            #expect(reply.status == 200)
            let data = reply.object["data"] as? [[String: Any]] ?? []
            #expect(data.count == 2)
            #expect(data.map { floats($0["embedding"]) } == expected)
            #expect(reply.object["model"] as? String == "m")
            let usage = reply.object["usage"] as? [String: Any]
            let tokens = Fixtures.embedder.tokenize(texts).reduce(0) { $0 + $1.count }
            #expect(usage?["prompt_tokens"] as? Int == tokens)

            let base64 = try await server.post("/v1/embeddings", ["input": texts, "encoding_format": "base64"])
            let decoded = (base64.object["data"] as? [[String: Any]] ?? []).map { decodeBase64Floats($0["embedding"] as? String ?? "") }
            #expect(decoded == expected)

            let short = try await server.post("/v1/embeddings", ["input": texts, "dimensions": 32])
            #expect((short.object["data"] as? [[String: Any]] ?? []).map { floats($0["embedding"]) } == expected32)

            let query = try await server.post("/v1/embeddings", ["input": "hello world", "instruction": "Find it"])
            #expect((query.object["data"] as? [[String: Any]] ?? []).map { floats($0["embedding"]) } == expectedQuery)

            let ids = Fixtures.embedder.tokenize(texts)
            let byIDs = try await server.post("/v1/embeddings", ["input": ids])
            #expect((byIDs.object["data"] as? [[String: Any]] ?? []).map { floats($0["embedding"]) } == expected)
            let single = try await server.post("/v1/embeddings", ["input": ids[0]])
            #expect((single.object["data"] as? [[String: Any]] ?? []).map { floats($0["embedding"]) } == [expected[0]])
        }
    }

    @Test("Rerank routes (Cohere/Jina and TEI shapes) give the library's scores, sorted")
    func rerank() async throws {
        let documents = ["Beijing is the capital of China.", "Gravity attracts bodies.", "Paris is in France."]
        let expected = try await Fixtures.rerankerModel.score(query: "capital of China?", documents: documents)
        let order = expected.indices.sorted { expected[$0] > expected[$1] }
        try await RouteTester.with { server in
            let reply = try await server.post("/v1/rerank", [
                "query": "capital of China?", "documents": [documents[0], ["text": documents[1]], documents[2]],
                "top_n": 2, "return_documents": true,
            ])
            #expect(reply.status == 200)
            let results = reply.object["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["index"] as? Int ?? -1 } == Array(order.prefix(2)))
            #expect(results.map { Float(($0["relevance_score"] as? NSNumber)?.doubleValue ?? -1) } == order.prefix(2).map { expected[$0] })
            #expect((results.first?["document"] as? [String: Any])?["text"] as? String == documents[order[0]])

            let tei = try await server.post("/rerank", ["query": "capital of China?", "texts": documents, "return_text": true])
            #expect(tei.status == 200)
            let teiResults = tei.json as? [[String: Any]] ?? []
            #expect(teiResults.map { $0["index"] as? Int ?? -1 } == order)
            #expect(teiResults.map { Float(($0["score"] as? NSNumber)?.doubleValue ?? -1) } == order.map { expected[$0] })
            #expect(teiResults.first?["text"] as? String == documents[order[0]])

            let raw = try await server.post("/rerank", ["query": "capital of China?", "texts": documents, "raw_scores": true])
            let rawScores = (raw.json as? [[String: Any]] ?? []).map { ($0["score"] as? NSNumber)?.doubleValue ?? .nan }
            #expect(rawScores.count == 3)
            #expect(rawScores.allSatisfy { $0.isFinite })
            let sigmoid = Float(1 / (1 + exp(-(rawScores.first ?? 0))))
            #expect(abs(sigmoid - expected[order[0]]) < 1e-5)
        }
    }

    @Test("TEI embed, tokenize, health, info, metrics and the home page")
    func teiAndInfo() async throws {
        let expected = try await Fixtures.embedder.embed(["a text"])
        let raw = try await Fixtures.embedder.embed(["a text"], normalize: false)
        try await RouteTester.with { server in
            let embed = try await server.post("/embed", ["inputs": "a text"])
            #expect(embed.status == 200)
            #expect((embed.json as? [Any] ?? []).map { floats($0) } == expected)
            let unnormalised = try await server.post("/embed", ["inputs": ["a text"], "normalize": false])
            #expect((unnormalised.json as? [Any] ?? []).map { floats($0) } == raw)

            let tokenize = try await server.post("/tokenize", ["inputs": ["a text"]])
            let tokens = (tokenize.json as? [[[String: Any]]])?.first ?? []
            #expect(tokens.map { $0["id"] as? Int ?? -1 } == Fixtures.embedder.tokenize(["a text"])[0])
            #expect(tokens.last?["special"] as? Bool == true)

            #expect(try await server.get("/health").status == 200)
            let info = try await server.get("/info").object
            #expect(info["dimensions"] as? Int == 40)
            #expect(info["max_input_length"] as? Int == 64)
            #expect(info["max_client_batch_size"] as? Int == 2048)
            #expect(info["version"] is String)

            let page = try await server.get("/")
            #expect(page.status == 200)
            #expect(String(decoding: page.body, as: UTF8.self).contains("fetch("))

            let metrics = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
            #expect(metrics.contains("http_requests_total"))
            #expect(metrics.contains(#"route="/embed""#))
            #expect(metrics.contains("tokens_processed_total"))
            #expect(metrics.contains("batch_tokens"))
            #expect(metrics.contains("http_request_duration_seconds"))
        }
    }

    @Test("TEI /tokenize: {id, text, special, start, stop} with UTF-8 byte offsets, prompt_name, add_special_tokens")
    func teiTokenize() async throws {
        try await RouteTester.with { server in
            let reply = try await server.post("/tokenize", ["inputs": "a naïve 東京"])
            #expect(reply.status == 200)
            let tokens = (reply.json as? [[[String: Any]]])?.first ?? []
            let text = "a naïve 東京"
            #expect(tokens.map { $0["id"] as? Int ?? -1 } == Fixtures.embedder.tokenizer.encode(text))
            let expected = Fixtures.embedder.tokenizer.encodeWithOffsets(text)
            for (token, reference) in zip(tokens, expected) {
                if let range = reference.utf8Offsets {
                    #expect(token["start"] as? Int == range.lowerBound)
                    #expect(token["stop"] as? Int == range.upperBound)
                    #expect(token["text"] as? String == String(decoding: Array(text.utf8)[range], as: UTF8.self))
                    #expect(token["special"] as? Bool == false)
                } else {
                    #expect(token["start"] is NSNull)
                    #expect(token["stop"] is NSNull)
                    #expect(token["text"] as? String == "<|endoftext|>")
                    #expect(token["special"] as? Bool == true)
                }
            }
            // Byte offsets, as TEI's: "a naïve " is 9 bytes, so 東 starts at 9. Its bytes are spread over two
            // tokens, which both cover it; the others tile the input.
            let ordinary = tokens.filter { $0["special"] as? Bool == false }
            #expect(ordinary.contains { $0["start"] as? Int == 9 && $0["text"] as? String == "東" })
            #expect(reassemble(ordinary) == text)
            #expect(ordinary.last?["stop"] as? Int == text.utf8.count)

            // No special tokens; a batch of two.
            let plain = try await server.post("/tokenize", ["inputs": ["a text", "b"], "add_special_tokens": false])
            let lists = plain.json as? [[[String: Any]]] ?? []
            #expect(lists.count == 2)
            #expect(lists.allSatisfy { $0.allSatisfy { $0["special"] as? Bool == false } })
            #expect(lists.first?.map { $0["text"] as? String ?? "" } == ["a", " text"])

            // prompt_name "query": offsets and text refer to the input with the instruction prepended.
            let query = try await server.post("/tokenize", ["inputs": "capital?", "prompt_name": "query"])
            let prompted = Prompts.embeddingQuery("capital?", instruction: Prompts.defaultInstruction)
            let queryTokens = (query.json as? [[[String: Any]]])?.first ?? []
            #expect(queryTokens.map { $0["id"] as? Int ?? -1 } == Fixtures.embedder.tokenizer.encode(prompted))
            #expect(reassemble(queryTokens.filter { $0["special"] as? Bool == false }) == prompted)
            #expect(try await server.post("/tokenize", ["inputs": "x", "prompt_name": "other"]).status == 422)
        }
    }
}

/// The input, from TEI tokens in order: a token that repeats the previous one's range (a character
/// split over several tokens) adds nothing.
func reassemble(_ tokens: [[String: Any]]) -> String {
    var covered = 0
    var text = ""
    for token in tokens {
        guard let start = token["start"] as? Int, let stop = token["stop"] as? Int, start >= covered else { continue }
        text += token["text"] as? String ?? ""
        covered = stop
    }
    return text
}
