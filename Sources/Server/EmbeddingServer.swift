import Hummingbird
import Logging
import ServiceLifecycle

/// The OpenAI- and TEI-compatible HTTP server, a `Service` to run in a `ServiceGroup`.
///
/// ```swift
/// let server = try EmbeddingServer(configuration: configuration, logger: logger)
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
/// On graceful shutdown it stops accepting connections and finishes the requests it has accepted.
public struct EmbeddingServer: Service {
    private let application: Application<RouterResponder<BasicRequestContext>>

    /// Builds the routes for the loaded models.
    ///
    /// - Parameter onRunning: called with the bound port once the server listens (useful with port 0).
    public init(configuration: ServerConfiguration, logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        let metrics = ServerMetrics()
        let service = try InferenceService(configuration: configuration, metrics: metrics)
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        if let key = configuration.apiKey { router.add(middleware: AuthenticationMiddleware(apiKey: key)) }
        OpenAIRoutes(service: service).register(on: router)
        TEIRoutes(service: service).register(on: router)
        InfoRoutes(service: service, metrics: metrics).register(on: router)
        application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "qwen3-embed"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until graceful shutdown.
    public func run() async throws {
        try await application.runService()
    }
}
