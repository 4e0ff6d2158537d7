import ArgumentParser
import Foundation
import Logging
import Qwen3Embedding
import Server
import ServiceLifecycle

/// `qwen3-embed serve`: the OpenAI-, TEI-, Cohere- and llama-server-compatible HTTP server.
///
/// Options not given on the command line are read from TEI's environment variables (`MODEL_ID`,
/// `RERANKER_MODEL_ID`, `HOSTNAME`, `PORT`, `API_KEY`, `MAX_CLIENT_BATCH_SIZE`, `MAX_BATCH_TOKENS`,
/// `PAYLOAD_LIMIT`, `MAX_CONCURRENT_REQUESTS`), so a TEI deployment's configuration carries over; a
/// flag wins over its variable, and a malformed variable is an error like a malformed flag.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the OpenAI-, TEI-, Cohere- and llama-server-compatible HTTP server.",
        discussion: """
            Options not given are read from TEI's environment variables: MODEL_ID, RERANKER_MODEL_ID, HOSTNAME, \
            PORT, API_KEY (or QWEN3_EMBED_API_KEY), MAX_CLIENT_BATCH_SIZE, MAX_BATCH_TOKENS, PAYLOAD_LIMIT, \
            MAX_CONCURRENT_REQUESTS. Routes are listed at /docs and described at /openapi.json.
            """)

    /// The largest `--payload-limit` accepted: request bodies are held in memory.
    static let maximumPayloadLimit = 1024 * 1024 * 1024

    @Option(help: "Embedding model: a directory or a .gguf file (default: $MODEL_ID).") var model: String?
    @Option(help: "Reranker model: a directory or a .gguf file (default: $RERANKER_MODEL_ID).") var reranker: String?
    @Option(help: "A PEFT LoRA adapter directory merged into the embedding model (--model) at load.") var adapter: String?
    @Option(name: .customLong("reranker-adapter"), help: "A PEFT LoRA adapter directory merged into the reranker (--reranker) at load.")
    var rerankerAdapter: String?
    @Option(name: [.customLong("host"), .customLong("hostname")], help: "Interface to bind (default: $HOSTNAME, else 127.0.0.1).")
    var host: String?
    @Option(help: "Port to bind, 0...65535; 0 picks a free one and prints it (default: $PORT, else 8080).") var port: Int?
    @Option(name: .customLong("api-key"), help: "Bearer token clients must send (default: $API_KEY or $QWEN3_EMBED_API_KEY; must not be empty).")
    var apiKey: String?
    @Option(name: .customLong("max-batch-tokens"), help: "Tokens per forward pass; bounds the memory of each pass (default: $MAX_BATCH_TOKENS, else 16384).")
    var maxBatchTokens: Int?
    @Option(
        name: .customLong("max-client-batch-size"),
        help: "Most inputs per request, 2048 as OpenAI allows (default: $MAX_CLIENT_BATCH_SIZE). Memory stays bounded by --max-batch-tokens: a large request is computed in passes of at most that many tokens.")
    var maxClientBatchSize: Int?
    @Option(name: .customLong("max-input-length"), help: "Tokens kept per input (default: the model's limit, at most 8192).") var maxInputLength: Int?
    @Option(name: .customLong("payload-limit"), help: "Largest request body, e.g. 2MB, 512KB, at most 1GB (default: $PAYLOAD_LIMIT, else 2MB).")
    var payloadLimit: String?
    @Option(name: .customLong("max-concurrent-requests"), help: "Requests in progress at once, over every working route and per model queue, before answering 429 with Retry-After (default: $MAX_CONCURRENT_REQUESTS, else 512).")
    var maxConcurrentRequests: Int?
    @Option(name: .customLong("default-instruction"), help: "Instruction for prompt_name \"query\" and Cohere's search_query.") var defaultInstruction: String?
    @Option(help: "Arithmetic: fp32 (exact), bf16 (fast), or auto (bf16 where the CPU has bf16 dot products).")
    var precision: PrecisionOption = .fp32
    @Option(help: "Worker threads for the model (default: one per core, or $QWEN3_THREADS).") var threads: Int?
    @Flag(name: .customLong("allow-any-model"), help: "Serve models not identified as an embedding model / reranker (e.g. a chat model's last-token states).")
    var allowAnyModel = false
    @Flag(name: .customLong("accept-token-ids"), help: "Read token-id inputs on /v1/embeddings as this model's ids (by the OpenAI API they are tiktoken ids and are refused).")
    var acceptTokenIDs = false
    @Option(name: .customLong("served-model-name"), help: "Name reported in `model` fields and /v1/models (default: the model's directory or file name).")
    var servedModelName: String?
    @Option(
        name: .customLong("cors-allow-origin"),
        help: "Origin allowed to call the API from a browser; repeat or separate with commas; * allows any.")
    var corsAllowOrigin: [String] = []
    @Flag(name: .customLong("json-output"), help: "Log as JSON, one object per line on stderr.") var jsonOutput = false
    @OptionGroup(title: "Timeouts and connection limits") var limits: ServeLimitsOptions

    /// The settings after flags, environment variables and defaults are combined and checked.
    struct Settings {
        var model: String?
        var reranker: String?
        var host: String
        var port: Int
        var apiKey: String?
        var maxBatchTokens: Int
        var maxClientBatchSize: Int
        var payloadLimit: Int
        var maxConcurrentRequests: Int
    }

    /// Combines flags with TEI's environment variables; every value is checked here, so a bad one is a
    /// one-line error before any model is loaded.
    func settings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        func nonEmpty(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        func integer(_ flag: Int?, _ variable: String, option: String, default value: Int) throws -> Int {
            if let flag { return flag }
            guard let text = nonEmpty(variable) else { return value }
            guard let parsed = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("\(variable)=\(text) is not a whole number (it sets \(option))")
            }
            return parsed
        }
        let port = try integer(port, "PORT", option: "--port", default: 8080)
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port) is not a port number: choose 0...65535") }
        let key: String?
        if let apiKey {
            key = apiKey
        } else if let value = environment["API_KEY"] {
            key = value
        } else {
            key = environment["QWEN3_EMBED_API_KEY"]
        }
        if let key, key.trimmingCharacters(in: .whitespaces).isEmpty {
            // An empty key would silently turn authentication off (or accept any "Bearer " header).
            throw ValidationError("the API key is empty (--api-key, API_KEY or QWEN3_EMBED_API_KEY): give a key or leave it unset")
        }
        let settings = Settings(
            model: model ?? nonEmpty("MODEL_ID"),
            reranker: reranker ?? nonEmpty("RERANKER_MODEL_ID"),
            host: host ?? nonEmpty("HOSTNAME") ?? "127.0.0.1",
            port: port,
            apiKey: key,
            maxBatchTokens: try integer(maxBatchTokens, "MAX_BATCH_TOKENS", option: "--max-batch-tokens", default: 16384),
            maxClientBatchSize: try integer(maxClientBatchSize, "MAX_CLIENT_BATCH_SIZE", option: "--max-client-batch-size", default: 2048),
            payloadLimit: try Self.parseSize(payloadLimit ?? nonEmpty("PAYLOAD_LIMIT") ?? "2MB"),
            maxConcurrentRequests: try integer(
                maxConcurrentRequests, "MAX_CONCURRENT_REQUESTS", option: "--max-concurrent-requests", default: 512))
        if settings.model == nil && settings.reranker == nil {
            throw ValidationError("give --model, --reranker or both (or MODEL_ID / RERANKER_MODEL_ID)")
        }
        if adapter != nil && settings.model == nil { throw ValidationError("--adapter applies to --model, and no embedding model is given") }
        if rerankerAdapter != nil && settings.reranker == nil { throw ValidationError("--reranker-adapter applies to --reranker, and no reranker is given") }
        if settings.host.isEmpty { throw ValidationError("--host is empty") }
        if settings.maxBatchTokens < 1 || settings.maxClientBatchSize < 1 || settings.maxConcurrentRequests < 1 {
            throw ValidationError("batch, client batch and concurrency limits must be at least 1")
        }
        return settings
    }

    func validate() throws {
        if let maxInputLength, maxInputLength < 2 { throw ValidationError("--max-input-length must be at least 2") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let servedModelName, servedModelName.isEmpty { throw ValidationError("--served-model-name is empty") }
        _ = try settings()
    }

    /// Parses a size such as `2MB`, `512KB`, `100000` (bytes); at most `maximumPayloadLimit`.
    static func parseSize(_ text: String) throws -> Int {
        let units: [(String, Int)] = [("KB", 1024), ("MB", 1024 * 1024), ("GB", 1024 * 1024 * 1024), ("B", 1)]
        let upper = text.uppercased().trimmingCharacters(in: .whitespaces)
        let notASize = ValidationError("--payload-limit \"\(text)\" is not a size like 2MB, 512KB or 100000")
        var bytes: Int?
        for (suffix, scale) in units where upper.hasSuffix(suffix) {
            guard let value = Int(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value > 0 else { throw notASize }
            // Checked: "9000000000000GB" overflows Int and must be an error, not a trap.
            let (product, overflow) = value.multipliedReportingOverflow(by: scale)
            bytes = overflow ? Int.max : product
            break
        }
        if bytes == nil {
            guard let value = Int(upper), value > 0 else { throw notASize }
            bytes = value
        }
        guard let bytes, bytes <= maximumPayloadLimit else {
            throw ValidationError("--payload-limit \"\(text)\" is more than the maximum of 1GB (request bodies are held in memory)")
        }
        return bytes
    }

    func run() async throws {
        let settings = try settings()
        let jsonOutput = jsonOutput
        LoggingSystem.bootstrap { label in
            jsonOutput ? JSONLogHandler(label: label) as any LogHandler : StreamLogHandler.standardError(label: label)
        }
        var logger = Logger(label: "qwen3-embed")
        logger.logLevel = .info
        if let threads {
            // The compute pool is created on first use, sized by QWEN3_THREADS (as `bench --threads`).
            setenv("QWEN3_THREADS", String(threads), 1)
        }
        let precision = precision.precision
        let length = maxInputLength ?? 8192
        let embedder = try settings.model.map {
            try Embedder(modelAt: URL(fileURLWithPath: $0), maxLength: length, maxBatchTokens: settings.maxBatchTokens, precision: precision,
                         allowAnyModel: allowAnyModel, adapter: adapter.map { URL(fileURLWithPath: $0) })
        }
        let reranker = try settings.reranker.map {
            try Reranker(modelAt: URL(fileURLWithPath: $0), maxLength: length, maxBatchTokens: settings.maxBatchTokens, precision: precision,
                         allowAnyModel: allowAnyModel, adapter: rerankerAdapter.map { URL(fileURLWithPath: $0) })
        }
        func name(_ path: String?) -> String { path.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "" }
        var configuration = ServerConfiguration(
            embedder: embedder, embedderName: name(settings.model), reranker: reranker, rerankerName: name(settings.reranker))
        if let servedModelName {
            // One name, as TEI has: the embedding model's, or the reranker's when it is served alone.
            if embedder != nil { configuration.embedderName = servedModelName } else { configuration.rerankerName = servedModelName }
        }
        configuration.host = settings.host
        configuration.port = settings.port
        configuration.apiKey = settings.apiKey
        configuration.maxClientBatchSize = settings.maxClientBatchSize
        configuration.payloadLimit = settings.payloadLimit
        configuration.maxConcurrentRequests = settings.maxConcurrentRequests
        configuration.acceptTokenIDs = acceptTokenIDs
        configuration.corsAllowOrigins = corsAllowOrigin.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let defaultInstruction { configuration.defaultInstruction = defaultInstruction }
        try limits.apply(to: &configuration)
        let host = settings.host
        let server = try EmbeddingServer(configuration: configuration, logger: logger) { port in
            // Written unbuffered: scripts wait for this line to learn the port.
            // Checked write: a closed stdout (a daemon) must not trap; the server runs on regardless.
            try? StandardStreams.writeOutput("listening on http://\(host):\(port)\n")
        }
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
