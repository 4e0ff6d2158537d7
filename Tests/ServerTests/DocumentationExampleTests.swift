import Foundation
import Hummingbird
import HummingbirdTesting
import Qwen3Embedding
import Testing
import TestSupport

// The Hummingbird example of the DocC article "Serving from a Swift server"
// (Sources/Qwen3Embedding/Qwen3Embedding.docc/ServingFromASwiftServer.md), compiled and run here; the
// Qwen3EmbeddingTests suite `DocumentationExampleTests` checks that these copies equal the article's
// blocks line for line.

// docc: ServingFromASwiftServer.md#1
struct EmbedRequest: Decodable {
    var input: [String]
    var dimensions: Int?
}

struct EmbedResponse: ResponseEncodable {
    var embeddings: [[Float]]
}

func makeRouter(embedder: BatchedEmbedder) -> Router<BasicRequestContext> {
    let router = Router()
    router.post("embed") { request, context -> EmbedResponse in
        let body = try await request.decode(as: EmbedRequest.self, context: context)
        do {
            try embedder.embedder.validate(dimensions: body.dimensions)
            let tokenIDs = embedder.embedder.tokenize(body.input)
            let vectors = try await embedder.embed(tokenIDs: tokenIDs, dimensions: body.dimensions)
            return EmbedResponse(embeddings: vectors)
        } catch let error as EmbeddingError {
            throw HTTPError(.unprocessableContent, message: error.localizedDescription)
        } catch BatchQueueError.queueFull {
            throw HTTPError(.tooManyRequests, message: "the model is busy; retry later")
        }
    }
    return router
}
// docc: end

@Suite struct DocumentationServerExampleTests {
    /// The article's route answers with the library's vectors, and maps the library's errors to 422.
    @Test func theArticlesRouteEmbedsAndRefusesBadRequests() async throws {
        let embeddingModelURL = TestPaths.tinyEmbeddingModel
        // docc: ServingFromASwiftServer.md#2
        let embedder = try BatchedEmbedder(Embedder(modelAt: embeddingModelURL), maxPendingRequests: 256)
        let app = Application(
            router: makeRouter(embedder: embedder),
            configuration: .init(address: .hostname("127.0.0.1", port: 8080)))
        // docc: end
        let texts = ["hello world", "The capital of China is Beijing."]
        let expected = try await embedder.embedder.embed(texts, dimensions: 32)
        try await app.test(.router) { client in
            let body = try JSONSerialization.data(withJSONObject: ["input": texts, "dimensions": 32])
            let response = try await client.execute(uri: "/embed", method: .post, body: ByteBuffer(bytes: body))
            #expect(response.status == .ok)
            let decoded = try JSONDecoder().decode([String: [[Float]]].self, from: Data(response.body.readableBytesView))
            let vectors = try #require(decoded["embeddings"])
            #expect(vectors.count == expected.count)
            for (vector, reference) in zip(vectors, expected) {
                #expect(vector.count == 32)
                #expect(zip(vector, reference).allSatisfy { abs($0 - $1) <= 1e-6 })
            }

            // A size outside 32...40 (the tiny model is 40 wide) and an empty input are the client's errors.
            for bad in [["input": texts, "dimensions": 8], ["input": [String]()]] as [[String: Any]] {
                let refused = try await client.execute(
                    uri: "/embed", method: .post, body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: bad)))
                #expect(refused.status == .unprocessableContent)
            }
        }
    }
}
