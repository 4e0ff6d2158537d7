import Foundation
import Testing

@Suite("Server errors", .serialized)
struct ErrorTests {
    /// The OpenAI error object of a reply, if it has that shape.
    func openAIError(_ reply: TestServer.Reply) -> [String: Any]? { reply.object["error"] as? [String: Any] }

    @Test("Bad input on /v1 routes: 400/413/422 in OpenAI's shape, never 500")
    func openAIErrors() async throws {
        try await RouteTester.with(configure: { $0.maxClientBatchSize = 3; $0.payloadLimit = 4096 }) { server in
            let cases: [(Any, Int)] = [
                (["input": []], 422),
                (["input": ["a", "b", "c", "d"]], 422),
                (["input": "a", "dimensions": 8], 422),
                (["input": "a", "dimensions": 41], 422),
                (["input": [[1, 2, 999_999]]], 422),
                (["input": [[-1]]], 422),
                (["input": "a", "encoding_format": "int8"], 422),
                (["input": 5], 400),
                (["input": [1.5]], 400),
                (["input": "a", "dimensions": "big"], 400),
                (["nothing": true], 400),
                (["input": "a", "prompt_name": "other"], 422),
            ]
            for (body, status) in cases {
                let reply = try await server.post("/v1/embeddings", body)
                #expect(reply.status == status, "\(body)")
                let error = openAIError(reply)
                #expect(error?["message"] is String, "\(body)")
                #expect(error?["type"] is String, "\(body)")
            }
            let malformed = try await server.request(.POST, "/v1/embeddings", body: Data("{\"input\": ".utf8))
            #expect(malformed.status == 400)
            #expect(openAIError(malformed)?["type"] as? String == "invalid_request_error")

            let huge = try await server.post("/v1/embeddings", ["input": String(repeating: "x", count: 10_000)])
            #expect(huge.status == 413)

            let rerank = try await server.post("/v1/rerank", ["query": "q", "documents": [3]])
            #expect(rerank.status == 400)
            #expect(openAIError(rerank) != nil)
            let emptyRerank = try await server.post("/v1/rerank", ["query": "q", "documents": []])
            #expect(emptyRerank.status == 422)

            // Over-long text is truncated on the OpenAI route (documented default), keeping the EOS.
            let long = try await server.post("/v1/embeddings", ["input": String(repeating: "word ", count: 200)])
            #expect(long.status == 200)
            #expect((long.object["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 64)
        }
    }

    @Test("Bad input on TEI routes: TEI's error shape; truncate=false rejects long text")
    func teiErrors() async throws {
        try await RouteTester.with { server in
            let long = String(repeating: "word ", count: 200)
            let reply = try await server.post("/embed", ["inputs": long])
            #expect(reply.status == 422)
            #expect(reply.object["error"] is String)
            #expect(reply.object["error_type"] as? String == "Validation")
            #expect(try await server.post("/embed", ["inputs": long, "truncate": true]).status == 200)
            #expect(try await server.post("/embed", ["inputs": [true]]).status == 400)
            #expect(try await server.post("/embed", ["inputs": [[1, 2.5]]]).status == 400)
            #expect(try await server.post("/embed", ["inputs": []]).status == 422)
            #expect(try await server.post("/rerank", ["query": "q"]).status == 400)
            let malformed = try await server.request(.POST, "/rerank", body: Data("nope".utf8))
            #expect(malformed.status == 400)
            #expect(malformed.object["error_type"] as? String == "Validation")
        }
    }

    @Test("Routes for a missing model answer 404 with a JSON error")
    func missingModel() async throws {
        try await RouteTester.with(reranker: false) { server in
            let rerank = try await server.post("/v1/rerank", ["query": "q", "documents": ["d"]])
            #expect(rerank.status == 404)
            #expect(openAIError(rerank) != nil)
            let tei = try await server.post("/rerank", ["query": "q", "texts": ["d"]])
            #expect(tei.status == 404)
            #expect(tei.object["error_type"] as? String == "NotFound")
        }
        try await RouteTester.with(embedder: false) { server in
            let openAI = try await server.post("/v1/embeddings", ["input": "a"])
            #expect(openAI.status == 404)
            let tei = try await server.post("/embed", ["inputs": "a"])
            #expect(tei.status == 404)
        }
    }

    @Test("API key: missing or wrong is 401, right key passes, health stays open")
    func authentication() async throws {
        try await RouteTester.with(configure: { $0.apiKey = "sekrit" }) { server in
            let missing = try await server.post("/v1/embeddings", ["input": "a"])
            #expect(missing.status == 401)
            #expect(openAIError(missing)?["type"] as? String == "authentication_error")
            let wrong = try await server.post("/embed", ["inputs": "a"], headers: [("Authorization", "Bearer sekriT")])
            #expect(wrong.status == 401)
            #expect(wrong.object["error_type"] as? String == "Unauthorized")
            #expect(try await server.post("/embed", ["inputs": "a"], headers: [("Authorization", "Bearer sekrit")]).status == 200)
            #expect(try await server.get("/health").status == 200)
            #expect(try await server.get("/info").status == 401)
        }
    }

    @Test("A full queue answers 429 with Retry-After")
    func queueFull() async throws {
        try await TestServer.with(configure: { $0.maxConcurrentRequests = 1 }) { server, _ in
            let texts = (0..<64).map { "text number \($0) " + String(repeating: "padding words ", count: 20) }
            let replies = try await withThrowingTaskGroup(of: TestServer.Reply.self) { group in
                for _ in 0..<12 { group.addTask { try await server.post("/embed", ["inputs": texts, "truncate": true]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let statuses = replies.map(\.status)
            #expect(statuses.contains(200))
            #expect(statuses.contains(429))
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 })
            let busy = replies.first { $0.status == 429 }
            #expect(busy?.header("Retry-After") == "1")
            #expect(busy?.object["error_type"] as? String == "Overloaded")
        }
    }
}
