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
/// On graceful shutdown it stops accepting connections and finishes the requests it has accepted. A
/// client that disconnects before its response has its queued inputs dropped, not computed.
public struct EmbeddingServer: Service {
    private let application: Application<RouterResponder<ServerRequestContext>>
    /// The open connections, closed when graceful shutdown outlasts `ServerLimits.shutdownTimeout`.
    private let connections: ConnectionRegistry

    /// Builds the routes for the loaded models.
    ///
    /// - Parameter onRunning: called with the bound port once the server listens (useful with port 0).
    public init(configuration: ServerConfiguration, logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        let metrics = ServerMetrics()
        let service = try InferenceService(configuration: configuration, metrics: metrics)
        let limits = configuration.limits
        let connections = ConnectionRegistry(shutdownTimeout: limits.shutdownTimeout, logger: logger)
        self.connections = connections
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        if let key = configuration.apiKey { router.add(middleware: AuthenticationMiddleware(apiKey: key)) }
        router.add(middleware: ConcurrencyLimitMiddleware(limiter: ConcurrencyLimiter(limit: configuration.maxConcurrentRequests)))
        OpenAIRoutes(service: service).register(on: router)
        TEIRoutes(service: service).register(on: router)
        InfoRoutes(service: service, metrics: metrics).register(on: router)
        application = Application(
            router: router,
            // Per connection: a ConnectionLimitsHandler for the timeouts and the drain after an early
            // answer, and a ClientDisconnectHandler so inference routes can drop the queued work of
            // clients that go away (including those the timeouts disconnect).
            server: .http1(configuration: .init(additionalChannelHandlers: [
                ConnectionLimitsHandler(limits: limits, registry: connections), ClientDisconnectHandler(),
            ])),
            // At `maxConnections` the server stops accepting until a connection closes.
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "qwen3-embed",
                availableConnectionsDelegate: limits.acceptThrottle(logger: logger)),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until graceful shutdown.
    public func run() async throws {
        try await connections.serving { try await application.runService() }
    }
}
