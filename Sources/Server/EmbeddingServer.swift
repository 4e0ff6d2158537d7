import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

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
    /// Internal, not private: the route tests drive its router in process with HummingbirdTesting.
    let application: Application<RouterResponder<ServerRequestContext>>
    /// The open connections, closed when graceful shutdown outlasts `ServerLimits.shutdownTimeout`.
    private let connections: ConnectionRegistry

    /// Builds the routes for the loaded models.
    ///
    /// - Parameter onRunning: called with the bound port once the server listens (useful with port 0).
    public init(configuration: ServerConfiguration, logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        let metrics = ServerMetrics()
        let service = try InferenceService(configuration: configuration, metrics: metrics)
        var routes = RouteList()
        OpenAIRoutes(service: service).register(on: &routes)
        TEIRoutes(service: service).register(on: &routes)
        CohereRoutes(service: service).register(on: &routes)
        LlamaServerRoutes(service: service).register(on: &routes)
        InfoRoutes(service: service, metrics: metrics).register(on: &routes)
        APIDescription.register(on: &routes)
        self.routes = routes.entries.map { (method: $0.method.rawValue, path: $0.path) }
        let limits = configuration.limits
        let connections = ConnectionRegistry(shutdownTimeout: limits.shutdownTimeout, logger: logger)
        self.connections = connections
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: RequestObservationMiddleware(metrics: metrics, logger: logger, accessLog: configuration.accessLog))
        if !configuration.corsAllowOrigins.isEmpty {
            router.add(middleware: CORSMiddleware(allowedOrigins: configuration.corsAllowOrigins, methodsByPath: routes.methodsByPath))
        }
        if let key = configuration.apiKey { router.add(middleware: AuthenticationMiddleware(apiKey: key)) }
        router.add(middleware: ConcurrencyLimitMiddleware(
            limiter: ConcurrencyLimiter(limit: configuration.maxConcurrentRequests), payloadLimit: configuration.payloadLimit))
        router.add(middleware: RouteFallbackMiddleware(methodsByPath: routes.methodsByPath))
        routes.install(on: router)
        let host = configuration.host, port = configuration.port
        let listening = ListeningFlag()
        self.listening = listening
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
            onServerRunning: { channel in
                listening.set()
                await onRunning(channel.localAddress?.port ?? 0)
            },
            logger: logger)
        address = (host, port)
    }

    /// Every route the server answers, as `(method, path)`; `/openapi.json` describes each of them.
    public let routes: [(method: String, path: String)]
    /// Whether the listener is bound (a failure before that is a failure to listen).
    private let listening: ListeningFlag
    private let address: (host: String, port: Int)

    /// Serves until graceful shutdown. A failure to bind the address is thrown as
    /// `ServerStartError` naming the host and port.
    public func run() async throws {
        do {
            try await connections.serving { try await application.runService() }
        } catch {
            if listening.isSet { throw error }
            throw ServerStartError(host: address.host, port: address.port, underlying: error)
        }
    }
}

/// Set once the listener is bound.
private final class ListeningFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// The server could not listen on its address (in use, not permitted, no such interface).
public struct ServerStartError: Error, LocalizedError, CustomStringConvertible {
    /// The interface it tried to bind.
    public let host: String
    /// The port it tried to bind.
    public let port: Int
    /// Why, as the system said it.
    public let reason: String

    init(host: String, port: Int, underlying: any Error) {
        self.host = host
        self.port = port
        if let error = underlying as? IOError {
            reason = String(cString: strerror(error.errnoCode)).lowercased()
        } else {
            reason = "\(underlying)"
        }
    }

    /// "cannot listen on 127.0.0.1:8080: address already in use"
    public var description: String { "cannot listen on \(host):\(port): \(reason)" }
    public var errorDescription: String? { description }
}
