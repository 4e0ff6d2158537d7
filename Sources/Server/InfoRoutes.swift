import Foundation
import Hummingbird
import Kernels

/// `GET /`, `/health`, `/info`, `/metrics`.
struct InfoRoutes: Sendable {
    let service: InferenceService
    let metrics: ServerMetrics
    static let version = "0.1.0"

    func register(on routes: inout RouteList) {
        routes.get("/health") { _, _ in jsonResponse(["status": "ok"]) }
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

    func info() -> Info {
        let configuration = service.configuration
        var info = Info(
            maxClientBatchSize: configuration.maxClientBatchSize, maxConcurrentRequests: configuration.maxConcurrentRequests,
            payloadLimit: configuration.payloadLimit, threads: ComputePool.shared.width)
        if let embedder = configuration.embedder {
            info.modelID = configuration.embedderName
            info.modelType = Info.ModelType(embedding: .init())
            info.dimensions = embedder.dimensions
            info.maxInputLength = embedder.maxLength
            info.maxBatchTokens = embedder.maxBatchTokens
            info.modelDataType = embedder.model.configuration.checkpointDataType ?? "unknown"
            info.modelKind = embedder.kind.rawValue
            info.precision = embedder.model.precision.rawValue
        }
        if let reranker = configuration.reranker {
            info.rerankerModelID = configuration.rerankerName
            info.rerankerMaxInputLength = reranker.maxLength
            info.rerankerMaxBatchTokens = reranker.maxBatchTokens
            info.rerankerDataType = reranker.model.configuration.checkpointDataType ?? "unknown"
            info.rerankerKind = reranker.kind.rawValue
            info.rerankerPrecision = reranker.model.precision.rawValue
            if configuration.embedder == nil { info.modelType = Info.ModelType(reranker: .init()) }
        }
        return info
    }

    /// `GET /info`: TEI's fields for the embedding model (`model_id`, `model_type`, limits), the
    /// reranker's under `reranker_*`; fields of a model that is not loaded are left out.
    struct Info: Encodable {
        let version = InfoRoutes.version
        var maxClientBatchSize: Int
        var maxConcurrentRequests: Int
        var payloadLimit: Int
        var threads: Int
        var modelID: String?
        var modelType: ModelType?
        var dimensions: Int?
        var maxInputLength: Int?
        var maxBatchTokens: Int?
        var modelDataType: String?
        var modelKind: String?
        var precision: String?
        var rerankerModelID: String?
        var rerankerMaxInputLength: Int?
        var rerankerMaxBatchTokens: Int?
        var rerankerDataType: String?
        var rerankerKind: String?
        var rerankerPrecision: String?

        /// TEI's `model_type`: `{"embedding": {"pooling": "last_token"}}` or `{"reranker": {}}`.
        struct ModelType: Encodable {
            var embedding: Pooling?
            var reranker: Empty?

            struct Pooling: Encodable {
                let pooling = "last_token"
            }

            struct Empty: Encodable {}
        }

        enum CodingKeys: String, CodingKey {
            case version, threads, dimensions, precision
            case maxClientBatchSize = "max_client_batch_size"
            case maxConcurrentRequests = "max_concurrent_requests"
            case payloadLimit = "payload_limit"
            case modelID = "model_id"
            case modelType = "model_type"
            case maxInputLength = "max_input_length"
            case maxBatchTokens = "max_batch_tokens"
            case modelDataType = "model_dtype"
            case modelKind = "model_kind"
            case rerankerModelID = "reranker_model_id"
            case rerankerMaxInputLength = "reranker_max_input_length"
            case rerankerMaxBatchTokens = "reranker_max_batch_tokens"
            case rerankerDataType = "reranker_dtype"
            case rerankerKind = "reranker_kind"
            case rerankerPrecision = "reranker_precision"
        }
    }
}
