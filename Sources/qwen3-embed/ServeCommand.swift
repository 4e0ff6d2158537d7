import ArgumentParser
import Foundation
import Logging
import Qwen3Embedding
import Server
import ServiceLifecycle

/// `qwen3-embed serve`: the OpenAI- and TEI-compatible HTTP server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the OpenAI- and TEI-compatible HTTP server.")

    @Option(help: "Embedding model directory.") var model: String?
    @Option(help: "Reranker model directory.") var reranker: String?
    @Option(help: "Interface to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0 picks a free one and prints it).") var port = 8080
    @Option(name: .customLong("api-key"), help: "Bearer token clients must send (default: $QWEN3_EMBED_API_KEY).") var apiKey: String?
    @Option(name: .customLong("max-batch-tokens"), help: "Tokens per forward pass.") var maxBatchTokens = 16384
    @Option(name: .customLong("max-client-batch-size"), help: "Most inputs per request.") var maxClientBatchSize = 64
    @Option(name: .customLong("max-input-length"), help: "Tokens kept per input (default: the model's limit, at most 8192).") var maxInputLength: Int?
    @Option(name: .customLong("payload-limit"), help: "Largest request body, e.g. 2MB, 512KB.") var payloadLimit = "2MB"
    @Option(name: .customLong("max-concurrent-requests"), help: "Queued requests per model before answering 429.") var maxConcurrentRequests = 512
    @Option(name: .customLong("default-instruction"), help: "Instruction for prompt_name \"query\".") var defaultInstruction: String?
    @OptionGroup(title: "Timeouts and connection limits") var limits: ServeLimitsOptions

    func validate() throws {
        if model == nil && reranker == nil { throw ValidationError("give --model, --reranker or both") }
        if maxBatchTokens < 1 || maxClientBatchSize < 1 || maxConcurrentRequests < 1 {
            throw ValidationError("batch, client batch and concurrency limits must be at least 1")
        }
        if let maxInputLength, maxInputLength < 2 { throw ValidationError("--max-input-length must be at least 2") }
        _ = try Self.parseSize(payloadLimit)
    }

    static func parseSize(_ text: String) throws -> Int {
        let units: [(String, Int)] = [("KB", 1024), ("MB", 1024 * 1024), ("GB", 1024 * 1024 * 1024), ("B", 1)]
        let upper = text.uppercased().trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in units where upper.hasSuffix(suffix) {
            if let value = Int(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value > 0 { return value * scale }
        }
        if let value = Int(upper), value > 0 { return value }
        throw ValidationError("--payload-limit \"\(text)\" is not a size like 2MB, 512KB or 100000")
    }

    func run() async throws {
        var logger = Logger(label: "qwen3-embed")
        logger.logLevel = .info
        let length = maxInputLength ?? 8192
        let embedder = try model.map { try Embedder(modelPath: $0, maxLength: length, maxBatchTokens: maxBatchTokens) }
        let reranker = try reranker.map { try Reranker(modelPath: $0, maxLength: length, maxBatchTokens: maxBatchTokens) }
        var configuration = ServerConfiguration(
            embedder: embedder, embedderName: model.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "",
            reranker: reranker, rerankerName: self.reranker.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "")
        configuration.host = host
        configuration.port = port
        configuration.apiKey = apiKey ?? ProcessInfo.processInfo.environment["QWEN3_EMBED_API_KEY"]
        configuration.maxClientBatchSize = maxClientBatchSize
        configuration.payloadLimit = try Self.parseSize(payloadLimit)
        configuration.maxConcurrentRequests = maxConcurrentRequests
        if let defaultInstruction { configuration.defaultInstruction = defaultInstruction }
        try limits.apply(to: &configuration)
        let server = try EmbeddingServer(configuration: configuration, logger: logger) { port in
            // Written unbuffered: scripts wait for this line to learn the port.
            // Checked write: a closed stdout (a daemon) must not trap; the server runs on regardless.
            try? StandardStreams.writeOutput("listening on http://\(host):\(port)\n")
        }
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
