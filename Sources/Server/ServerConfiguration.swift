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
    /// Most inputs in one request: 2,048 as OpenAI's API allows (LangChain sends 1,000 per request,
    /// llama-index 100). Memory is bounded per forward pass by the models' `maxBatchTokens`, not by this.
    public var maxClientBatchSize = 2048
    /// Largest accepted request body in bytes.
    public var payloadLimit = 2 * 1024 * 1024
    /// Most requests doing work at once, all routes together, and most queued or running per model,
    /// before answering 429.
    public var maxConcurrentRequests = 512
    /// Timeouts, the connection limit and the shutdown grace period.
    public var limits = ServerLimits()
    /// Instruction for `prompt_name: "query"` when the request has none.
    public var defaultInstruction = Prompts.defaultInstruction
    /// Serve token-id inputs on `/v1/embeddings` as this model's token ids. Off by default: by the
    /// OpenAI API's contract such ids come from OpenAI's tokenizer (tiktoken), and reading them as
    /// Qwen3 ids gives meaningless vectors, so they are refused with a 422 that names the fix.
    public var acceptTokenIDs = false
    /// Origins allowed to call the API from a browser (`Access-Control-Allow-Origin`); `"*"` allows
    /// any. Empty: no CORS headers, preflight requests are not answered.
    public var corsAllowOrigins: [String] = []
    /// Log one line per request (method, route, status, inputs, tokens, times; never request text)
    /// at `info` level on the server's logger.
    public var accessLog = true

    /// A configuration serving the given models with default limits.
    public init(embedder: Embedder?, embedderName: String = "qwen3-embedding",
                reranker: Reranker?, rerankerName: String = "qwen3-reranker") {
        self.embedder = embedder
        self.embedderName = embedderName
        self.reranker = reranker
        self.rerankerName = rerankerName
    }
}
