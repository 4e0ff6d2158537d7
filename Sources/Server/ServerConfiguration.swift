import Qwen3Embedding

/// Everything `EmbeddingServer` needs: the loaded models and the limits of the `serve` command.
public struct ServerConfiguration: Sendable {
    /// The embedding model, if one was loaded.
    public var embedder: Embedder?
    /// Its name as reported to clients (`model` fields, `/info`).
    public var embedderName: String
    /// The reranking model, if one was loaded.
    public var reranker: Reranker?
    /// Its name as reported to clients.
    public var rerankerName: String
    /// Interface to bind; loopback by default.
    public var host = "127.0.0.1"
    /// Port to bind; 0 picks a free one (see `EmbeddingServer.onRunning`).
    public var port = 8080
    /// Bearer token required on every route but `/`, `/health`; `nil` disables authentication.
    public var apiKey: String?
    /// Most inputs in one request.
    public var maxClientBatchSize = 64
    /// Largest accepted request body in bytes.
    public var payloadLimit = 2 * 1024 * 1024
    /// Most requests doing work at once, all routes together, and most queued or running per model,
    /// before answering 429.
    public var maxConcurrentRequests = 512
    /// Timeouts, the connection limit and the shutdown grace period.
    public var limits = ServerLimits()
    /// Instruction for `prompt_name: "query"` when the request has none.
    public var defaultInstruction = Prompts.defaultInstruction

    /// A configuration serving the given models with default limits.
    public init(embedder: Embedder?, embedderName: String = "qwen3-embedding",
                reranker: Reranker?, rerankerName: String = "qwen3-reranker") {
        self.embedder = embedder
        self.embedderName = embedderName
        self.reranker = reranker
        self.rerankerName = rerankerName
    }
}
