import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import ServiceLifecycle
import Synchronization

/// Enforces `ServerLimits` on one HTTP/1 connection: the header, body, idle and request timeouts,
/// and the bounded drain after an early answer. One instance per connection, placed between
/// Hummingbird's HTTP codec and its request handling, so it sees request and response parts.
///
/// Why a channel handler rather than a router middleware: the slow clients it guards against never
/// reach the router (their request head never completes), a stalled body can only be noticed where
/// the bytes arrive, and answering a request whose body is still being read cannot be done from a
/// middleware without a second reader on the connection's inbound stream. Answering here and closing
/// the connection also ends the request's work the usual way: `ClientDisconnectHandler` sees the
/// close and cancels the route's task, which drops its sequences from the model's queue.
///
/// Timers: each phase of the connection has a deadline (`readDeadline` for what the client owes us,
/// `requestDeadline` for what we owe the oldest unanswered request); one scheduled task fires at the
/// earliest and re-checks, so moving a deadline later (every body chunk does) costs no rescheduling.
final class ConnectionLimitsHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What the connection is reading.
    private enum Phase {
        /// Nothing of the next request has arrived.
        case waitingForRequest
        /// Some bytes have arrived but not a complete request head.
        case readingHead
        /// The head of request `id` has arrived, its body has not ended.
        case readingBody(id: Int)
    }

    /// A request whose head has arrived and whose response has not ended (HTTP/1.1 answers in order,
    /// so the first of these is the one being answered).
    private struct PendingRequest {
        let id: Int
        let path: String
        let arrival: NIODeadline
        var bodyComplete = false
        var responseStarted = false
    }

    private let limits: ServerLimits
    private let registry: ConnectionRegistry
    private var phase = Phase.waitingForRequest
    /// When the current phase began, or for a body the last time bytes of it arrived.
    private var phaseStart = NIODeadline.now()
    /// Whether a response has completed on this connection: waiting for a later request is keep-alive
    /// idling (idle timeout), waiting for the first is part of reading its head (header timeout).
    private var hasAnswered = false
    private var pending: [PendingRequest] = []
    private var nextRequestID = 0
    /// Whether a request part arrived since the last read completed (then the read is accounted for;
    /// otherwise it brought bytes of a head that is not complete yet).
    private var partsInCurrentRead = false
    /// Set when the response now being written answers a request whose body has not fully arrived.
    private var closeAfterResponse = false
    /// Set once such a response has been written: the rest of its body is being read and discarded.
    private var drain: (bytes: Int, deadline: NIODeadline)?
    /// Set once this handler has answered (a timeout) or decided to close: later response parts from
    /// the application are dropped, nothing else is scheduled.
    private var closing = false
    private var timer: (deadline: NIODeadline, task: Scheduled<Void>)?
    private var started = false

    init(limits: ServerLimits, registry: ConnectionRegistry) {
        self.limits = limits
        self.registry = registry
    }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        registry.add(context.channel)
        phaseStart = .now()
        updateTimer(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop(context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop(context)
    }

    private func stop(_ context: ChannelHandlerContext) {
        closing = true
        timer?.task.cancel()
        timer = nil
        registry.remove(context.channel)
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partsInCurrentRead = true
        let now = NIODeadline.now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            let request = PendingRequest(id: nextRequestID, path: head.path ?? "", arrival: now)
            nextRequestID += 1
            pending.append(request)
            phase = .readingBody(id: request.id)
            phaseStart = now
        case .body(let buffer):
            phaseStart = now
            if var drain {
                drain.bytes += buffer.readableBytes
                self.drain = drain
                if drain.bytes > limits.drainLimit { return close(context) }
            }
        case .end:
            if case .readingBody(let id) = phase, let index = pending.firstIndex(where: { $0.id == id }) {
                pending[index].bodyComplete = true
            }
            phase = .waitingForRequest
            phaseStart = now
            // The early answer said `Connection: close`; the client has now sent all it meant to.
            if drain != nil { return close(context) }
        }
        updateTimer(context)
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !partsInCurrentRead, case .waitingForRequest = phase, !closing {
            // A read that completed no request part: the first bytes of a request head.
            phase = .readingHead
            phaseStart = .now()
            updateTimer(context)
        }
        partsInCurrentRead = false
        context.fireChannelReadComplete()
    }

    // MARK: outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closing else {
            // This handler has answered the request (a timeout) or is closing: the application's own
            // answer, finished later, goes nowhere.
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var response):
            guard !pending.isEmpty else { break }
            pending[0].responseStarted = true
            if !pending[0].bodyComplete {
                // An early answer (413, 401, 429 before the body was read): the connection cannot be
                // reused before the rest of the body is read, so it is closed after a bounded drain.
                closeAfterResponse = true
                response.headerFields[.connection] = "close"
                updateTimer(context)
                context.write(wrapOutboundOut(.head(response)), promise: promise)
                return
            }
            updateTimer(context)
        case .body:
            break
        case .end:
            guard !pending.isEmpty else { break }
            let answered = pending.removeFirst()
            hasAnswered = true
            if closeAfterResponse {
                closeAfterResponse = false
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.cascade(to: promise)
                context.writeAndFlush(data, promise: written)
                written.futureResult.assumeIsolated().whenComplete { _ in
                    self.startDrain(context, of: answered)
                }
                return
            }
            if pending.isEmpty, case .waitingForRequest = phase { phaseStart = .now() }
            updateTimer(context)
        }
        context.write(data, promise: promise)
    }

    /// After an early answer to `request`, reads and discards the rest of its body (Hummingbird reads
    /// on to the request's end) within the drain limits, then closes.
    private func startDrain(_ context: ChannelHandlerContext, of request: PendingRequest) {
        guard !closing else { return }
        if case .readingBody(let id) = phase, id == request.id {
            drain = (0, .now() + TimeAmount(limits.drainTimeout))
            updateTimer(context)
        } else {
            close(context)
        }
    }

    // MARK: timeouts

    /// What the client owes: the rest of a head or body, or a next request.
    private var readDeadline: NIODeadline? {
        if let drain { return min(drain.deadline, phaseStart + TimeAmount(limits.bodyTimeout)) }
        switch phase {
        case .readingBody:
            // Only the request being answered: the body of a pipelined later request may be held back
            // by back-pressure while the application is still busy with an earlier one.
            guard pending.count == 1 else { return nil }
            return phaseStart + TimeAmount(limits.bodyTimeout)
        case .readingHead:
            guard pending.isEmpty else { return nil }
            return phaseStart + TimeAmount(limits.headerTimeout)
        case .waitingForRequest:
            guard pending.isEmpty else { return nil }
            return phaseStart + TimeAmount(hasAnswered ? limits.idleTimeout : limits.headerTimeout)
        }
    }

    /// What the server owes: the start of the oldest request's response.
    private var requestDeadline: NIODeadline? {
        guard let timeout = limits.requestTimeout, let oldest = pending.first, !oldest.responseStarted else { return nil }
        return oldest.arrival + TimeAmount(timeout)
    }

    private func updateTimer(_ context: ChannelHandlerContext) {
        guard !closing else { return }
        let next = [readDeadline, requestDeadline].compactMap { $0 }.min()
        guard let next else {
            timer?.task.cancel()
            timer = nil
            return
        }
        // A timer due earlier than needed re-checks and reschedules when it fires.
        if let timer, timer.deadline <= next { return }
        timer?.task.cancel()
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: next) { self.timerFired(context) }
        timer = (next, task)
    }

    private func timerFired(_ context: ChannelHandlerContext) {
        timer = nil
        guard !closing else { return }
        let now = NIODeadline.now()
        if let deadline = requestDeadline, deadline <= now, let oldest = pending.first {
            if oldest.bodyComplete {
                answer(context, .serviceUnavailable, path: oldest.path,
                       "the request did not finish within the server's request timeout of \(limits.requestTimeout!); retry later or send less work per request")
            } else {
                answer(context, .requestTimeout, path: oldest.path,
                       "the request body did not arrive within the server's request timeout of \(limits.requestTimeout!)")
            }
        } else if let deadline = readDeadline, deadline <= now {
            if drain != nil { return close(context) }
            switch phase {
            case .waitingForRequest:
                close(context)
            case .readingHead:
                answer(context, .requestTimeout, path: "",
                       "the request head did not arrive within the server's header timeout of \(limits.headerTimeout)")
            case .readingBody:
                guard let oldest = pending.first, !oldest.responseStarted else { return close(context) }
                answer(context, .requestTimeout, path: oldest.path,
                       "no request body bytes arrived for \(limits.bodyTimeout) (the server's body timeout)")
            }
        } else {
            updateTimer(context)
        }
    }

    /// Answers the oldest request (or a request whose head never arrived) with an error in its API's
    /// shape and `Connection: close`, then closes.
    private func answer(_ context: ChannelHandlerContext, _ status: HTTPResponse.Status, path: String, _ message: String) {
        var body = ByteBuffer()
        body.writeString(APIError(status, message).body(APIFamily(path: path)).serialized())
        let head = HTTPResponse(status: status, headerFields: [
            .contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close",
        ])
        closing = true
        timer?.task.cancel()
        timer = nil
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func close(_ context: ChannelHandlerContext) {
        closing = true
        timer?.task.cancel()
        timer = nil
        context.close(promise: nil)
    }
}

/// Every open connection of one server, so graceful shutdown can close those still open when its
/// grace period ends.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var graceTimer: Task<Void, Never>?
    }

    private let state = Mutex(State())
    /// How long graceful shutdown waits for requests in progress.
    let shutdownTimeout: Duration
    private let logger: Logger

    init(shutdownTimeout: Duration, logger: Logger) {
        self.shutdownTimeout = shutdownTimeout
        self.logger = logger
    }

    /// Runs `serve` (the HTTP server, which on graceful shutdown stops accepting and closes idle
    /// connections) and, once graceful shutdown begins, closes whatever connections are still open
    /// after `shutdownTimeout`: a client stalled half-way through its request would otherwise keep
    /// the server, and the process, alive forever.
    func serving(_ serve: () async throws -> Void) async throws {
        defer { endGracePeriod() }
        try await withGracefulShutdownHandler {
            try await serve()
        } onGracefulShutdown: {
            self.startGracePeriod()
        }
    }

    /// Connections open now.
    var count: Int { state.withLock { $0.channels.count } }

    func add(_ channel: any Channel) {
        state.withLock { $0.channels[ObjectIdentifier(channel)] = channel }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Closes every connection still open `shutdownTimeout` from now, unless `endGracePeriod` comes first.
    private func startGracePeriod() {
        let timeout = shutdownTimeout, logger = logger
        let open = count
        if open > 0 {
            logger.info("graceful shutdown: finishing the requests of \(open) open connections; any still open in \(timeout) will be closed")
        }
        let timer = Task {
            do { try await Task.sleep(for: timeout) } catch { return }
            let channels = self.state.withLock { Array($0.channels.values) }
            guard !channels.isEmpty else { return }
            logger.warning("graceful shutdown: grace period of \(timeout) is over, closing \(channels.count) connections")
            for channel in channels { channel.close(promise: nil) }
        }
        state.withLock { state in
            state.graceTimer?.cancel()
            state.graceTimer = timer
        }
    }

    /// Cancels the grace-period timer (the server has stopped).
    private func endGracePeriod() {
        state.withLock { state in
            state.graceTimer?.cancel()
            state.graceTimer = nil
        }
    }
}

extension ServerLimits {
    /// Hummingbird's accept throttle for `maxConnections`: at the limit the listener stops accepting
    /// (new connections wait in the kernel's backlog) until a connection closes.
    func acceptThrottle(logger: Logger) -> MaximumAvailableConnections {
        MaximumAvailableConnections(maxConnections, logger: logger)
    }
}
