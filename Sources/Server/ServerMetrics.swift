import CoreMetrics
import Hummingbird
import Prometheus

/// Prometheus metrics of one server, kept in its own registry (not the global `MetricsSystem`, so
/// several servers can run in one process, as the tests do).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// Routes reported by name; anything else is `other`, so clients cannot create unbounded labels.
    static let knownRoutes: Set<String> = [
        "/", "/v1/embeddings", "/v1/rerank", "/embed", "/rerank", "/tokenize", "/health", "/info", "/metrics",
    ]

    func recordRequest(route: String, status: Int, duration: Duration) {
        let route = Self.knownRoutes.contains(route) ? route : "other"
        Counter(label: "http_requests_total", dimensions: [("route", route), ("status", String(status))], factory: factory)
            .increment()
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        Timer(label: "http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(nanoseconds)
    }

    /// Requests waiting or running in a model's queue.
    func recordQueueDepth(model: String, depth: Int) {
        Gauge(label: "queue_depth", dimensions: [("model", model)], factory: factory).record(depth)
    }

    /// One forward pass: how many sequences and tokens it packed.
    func recordBatch(model: String, sequences: Int, tokens: Int) {
        Recorder(label: "batch_sequences", dimensions: [("model", model)], factory: factory).record(sequences)
        Recorder(label: "batch_tokens", dimensions: [("model", model)], factory: factory).record(tokens)
        Counter(label: "tokens_processed_total", dimensions: [("model", model)], factory: factory).increment(by: tokens)
    }

    /// Inputs of cancelled requests (clients that went away) dropped from a model's queue before any
    /// forward pass computed them.
    func recordCancelledInputs(model: String, count: Int) {
        Counter(label: "cancelled_inputs_total", dimensions: [("model", model)], factory: factory).increment(by: count)
    }

    /// The exposition text for `GET /metrics`.
    func render() -> String { registry.emitToString() }
}

/// Counts every response by route and status and times it.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.recordRequest(route: request.uri.path, status: response.status.code, duration: .now - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.recordRequest(route: request.uri.path, status: status, duration: .now - start)
            throw error
        }
    }
}
