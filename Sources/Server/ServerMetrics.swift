import CoreMetrics
import HTTPTypes
import Hummingbird
import Logging
import Prometheus

/// Prometheus metrics of one server, kept in its own registry (not the global `MetricsSystem`, so
/// several servers can run in one process, as the tests do).
///
/// Besides our own names (`http_requests_total`, `batch_tokens`, ...) the series TEI exports are
/// kept under TEI's names, so dashboards made for TEI work unchanged: `te_request_count`,
/// `te_request_success`, `te_request_failure`, `te_request_duration`,
/// `te_request_tokenization_duration`, `te_request_queue_duration`, `te_request_inference_duration`,
/// `te_request_input_length`, `te_batch_next_size`, `te_batch_next_tokens`, `te_batch_inference_count`
/// and `te_queue_size`.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    func recordRequest(route: String, status: Int, duration: Duration) {
        Counter(label: "http_requests_total", dimensions: [("route", route), ("status", String(status))], factory: factory)
            .increment()
        Timer(label: "http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(Self.nanoseconds(duration))
    }

    /// TEI's per-request series, for requests that reached a model.
    func recordInference(route: String, status: Int, statistics: RequestStatistics.Values, duration: Duration) {
        let dimensions = [("method", route)]
        Counter(label: "te_request_count", dimensions: dimensions, factory: factory).increment()
        if (200..<300).contains(status) {
            Counter(label: "te_request_success", dimensions: dimensions, factory: factory).increment()
        } else {
            Counter(label: "te_request_failure", dimensions: dimensions + [("err", String(status))], factory: factory).increment()
        }
        Timer(label: "te_request_duration", dimensions: dimensions, factory: factory).recordNanoseconds(Self.nanoseconds(duration))
        Timer(label: "te_request_tokenization_duration", dimensions: dimensions, factory: factory)
            .recordNanoseconds(Self.nanoseconds(statistics.tokenization))
        Timer(label: "te_request_queue_duration", dimensions: dimensions, factory: factory)
            .recordNanoseconds(Self.nanoseconds(statistics.queue))
        Timer(label: "te_request_inference_duration", dimensions: dimensions, factory: factory)
            .recordNanoseconds(Self.nanoseconds(statistics.inference))
        Recorder(label: "te_request_input_length", dimensions: dimensions, factory: factory).record(statistics.tokens)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// Requests waiting or running in a model's queue.
    func recordQueueDepth(model: String, depth: Int) {
        Gauge(label: "queue_depth", dimensions: [("model", model)], factory: factory).record(depth)
        Gauge(label: "te_queue_size", dimensions: [("model", model)], factory: factory).record(depth)
    }

    /// One forward pass: how many sequences and tokens it packed.
    func recordBatch(model: String, sequences: Int, tokens: Int) {
        Recorder(label: "batch_sequences", dimensions: [("model", model)], factory: factory).record(sequences)
        Recorder(label: "batch_tokens", dimensions: [("model", model)], factory: factory).record(tokens)
        Counter(label: "tokens_processed_total", dimensions: [("model", model)], factory: factory).increment(by: tokens)
        Recorder(label: "te_batch_next_size", dimensions: [("model", model)], factory: factory).record(sequences)
        Recorder(label: "te_batch_next_tokens", dimensions: [("model", model)], factory: factory).record(tokens)
        Counter(label: "te_batch_inference_count", dimensions: [("model", model)], factory: factory).increment()
    }

    /// Inputs of cancelled requests (clients that went away) dropped from a model's queue before any
    /// forward pass computed them.
    func recordCancelledInputs(model: String, count: Int) {
        Counter(label: "cancelled_inputs_total", dimensions: [("model", model)], factory: factory).increment(by: count)
    }

    /// The exposition text for `GET /metrics`.
    func render() -> String { registry.emitToString() }
}

/// Observes every request: collects its `RequestStatistics`, counts and times it (our series and
/// TEI's), adds TEI's timing headers to responses of inference routes, and writes the access log line.
///
/// TEI's headers, on every response of a route that ran a model (times in milliseconds):
/// `x-compute-type` (`cpu`), `x-compute-time` (tokenization + queue + inference),
/// `x-compute-tokens`, `x-compute-characters`, `x-tokenization-time`, `x-queue-time`,
/// `x-inference-time` and `x-total-time` (the whole request, body reading included).
///
/// The access log line (level `info`, message `request`) has the method, the route (its registered
/// pattern, never the query), status, number of inputs, tokens, and queue, compute and total times;
/// never any request text.
struct RequestObservationMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger
    let accessLog: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let statistics = RequestStatistics()
        let route = context.endpointPath ?? "other"
        var response: Response
        do {
            response = try await RequestStatistics.$current.withValue(statistics) { try await next(request, context) }
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            finish(request, route: route, status: status, statistics: statistics.values, duration: .now - start)
            throw error
        }
        let values = statistics.values
        let duration = ContinuousClock.now - start
        if values.usedModel {
            let compute = values.tokenization + values.queue + values.inference
            response.headers[HTTPField.Name("x-compute-type")!] = "cpu"
            response.headers[HTTPField.Name("x-compute-time")!] = Self.milliseconds(compute)
            response.headers[HTTPField.Name("x-compute-tokens")!] = String(values.tokens)
            response.headers[HTTPField.Name("x-compute-characters")!] = String(values.characters)
            response.headers[HTTPField.Name("x-tokenization-time")!] = Self.milliseconds(values.tokenization)
            response.headers[HTTPField.Name("x-queue-time")!] = Self.milliseconds(values.queue)
            response.headers[HTTPField.Name("x-inference-time")!] = Self.milliseconds(values.inference)
            response.headers[HTTPField.Name("x-total-time")!] = Self.milliseconds(duration)
        }
        finish(request, route: route, status: response.status.code, statistics: values, duration: duration)
        return response
    }

    private func finish(_ request: Request, route: String, status: Int, statistics: RequestStatistics.Values, duration: Duration) {
        metrics.recordRequest(route: route, status: status, duration: duration)
        if statistics.usedModel { metrics.recordInference(route: route, status: status, statistics: statistics, duration: duration) }
        guard accessLog else { return }
        logger.info("request", metadata: [
            "method": .string(request.method.rawValue),
            "route": .string(route),
            "status": .stringConvertible(status),
            "inputs": .stringConvertible(statistics.inputs),
            "tokens": .stringConvertible(statistics.tokens),
            "queue_ms": .string(Self.milliseconds(statistics.queue)),
            "compute_ms": .string(Self.milliseconds(statistics.tokenization + statistics.queue + statistics.inference)),
            "total_ms": .string(Self.milliseconds(duration)),
        ])
    }

    /// Whole milliseconds, as TEI writes its timing headers.
    static func milliseconds(_ duration: Duration) -> String {
        String(ServerMetrics.nanoseconds(duration) / 1_000_000)
    }
}
