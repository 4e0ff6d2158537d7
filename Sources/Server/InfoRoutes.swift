import Foundation
import Hummingbird
import Kernels

/// `GET /`, `/health`, `/info`, `/metrics`.
struct InfoRoutes: Sendable {
    let service: InferenceService
    let metrics: ServerMetrics
    static let version = "0.1.0"

    func register(on routes: inout RouteList) {
        routes.get("/health") { _, _ in jsonResponse(.object(["status": .string("ok")])) }
        routes.get("/info") { _, _ in jsonResponse(info()) }
        routes.get("/metrics") { _, _ in
            await service.recordQueueDepths()
            var buffer = ByteBuffer()
            buffer.writeString(metrics.render())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: buffer))
        }
        routes.get("/") { _, _ in
            var buffer = ByteBuffer()
            buffer.writeString(homePage)
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
        }
    }

    func info() -> JSONValue {
        let configuration = service.configuration
        var info: [String: JSONValue] = [
            "version": .string(Self.version),
            "max_client_batch_size": .number(Double(configuration.maxClientBatchSize)),
            "max_concurrent_requests": .number(Double(configuration.maxConcurrentRequests)),
            "payload_limit": .number(Double(configuration.payloadLimit)),
            "threads": .integer(ComputePool.shared.width),
        ]
        if let embedder = configuration.embedder {
            info["model_id"] = .string(configuration.embedderName)
            info["model_type"] = .object(["embedding": .object(["pooling": .string("last_token")])])
            info["dimensions"] = .number(Double(embedder.dimensions))
            info["max_input_length"] = .number(Double(embedder.maxLength))
            info["max_batch_tokens"] = .number(Double(embedder.maxBatchTokens))
            info["model_dtype"] = .string(embedder.model.configuration.checkpointDataType ?? "unknown")
            info["model_kind"] = .string(embedder.kind.rawValue)
            info["precision"] = .string(embedder.model.precision.rawValue)
        }
        if let reranker = configuration.reranker {
            info["reranker_model_id"] = .string(configuration.rerankerName)
            info["reranker_max_input_length"] = .number(Double(reranker.maxLength))
            info["reranker_max_batch_tokens"] = .number(Double(reranker.maxBatchTokens))
            info["reranker_dtype"] = .string(reranker.model.configuration.checkpointDataType ?? "unknown")
            info["reranker_kind"] = .string(reranker.kind.rawValue)
            info["reranker_precision"] = .string(reranker.model.precision.rawValue)
            if configuration.embedder == nil { info["model_type"] = .object(["reranker": .object([:])]) }
        }
        return .object(info)
    }
}
