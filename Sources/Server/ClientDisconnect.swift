import Hummingbird
import NIOCore
import Synchronization

/// The request context of our routes: Hummingbird's basic context plus the connection's channel, which
/// the inference routes need to notice a client going away.
struct ServerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The connection the request arrived on.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        channel = source.channel
    }
}

/// A pass-through channel handler, one per HTTP/1 connection, that notices when the client goes away:
/// the read side reaching end of file (`inputClosed`: Hummingbird allows remote half-closure, so a client
/// that closes its socket shows up as this, not as a closed channel) or the channel closing outright.
///
/// Why not Hummingbird's `RequestBody.consumeWithCancellationOnInboundClose`: it learns of the close by
/// reading the connection's inbound stream itself, so when the handler finishes it has to stop that
/// read, which ends the stream, and the connection is closed after every response (its documentation
/// says so). A handler in the pipeline only observes events and leaves the stream to Hummingbird, so
/// keep-alive connections keep working.
final class ClientDisconnectHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    private struct State {
        var disconnected = false
        var nextToken = 0
        var callbacks: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    /// Joining a connection's pipeline, also installs the handler that closes connections whose client
    /// asked for no keep-alive (it must sit before Hummingbird's HTTP-types codec, which this handler
    /// follows; see `HTTPKeepAliveHandler`).
    func handlerAdded(context: ChannelHandlerContext) {
        HTTPKeepAliveHandler.install(in: context.pipeline.syncOperations)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { disconnected() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disconnected()
        context.fireChannelInactive()
    }

    /// Whether the client has gone away.
    var isDisconnected: Bool { state.withLock { $0.disconnected } }

    private func disconnected() {
        let callbacks = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.disconnected else { return [] }
            state.disconnected = true
            defer { state.callbacks = [:] }
            return Array(state.callbacks.values)
        }
        for callback in callbacks { callback() }
    }

    /// Calls `callback` once when the client goes away (at once if it already has); returns a token for
    /// `removeCallback`, or nil if the callback already ran.
    func onDisconnect(_ callback: @escaping @Sendable () -> Void) -> Int? {
        let token = state.withLock { state -> Int? in
            guard !state.disconnected else { return nil }
            let token = state.nextToken
            state.nextToken += 1
            state.callbacks[token] = callback
            return token
        }
        if token == nil { callback() }
        return token
    }

    func removeCallback(_ token: Int) {
        _ = state.withLock { $0.callbacks.removeValue(forKey: token) }
    }
}

/// 499, nginx's "client closed request": what a request whose client went away is counted as in the
/// metrics (the response itself goes nowhere).
let clientClosedRequest = HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request")

/// Runs a route's work in a task that is cancelled if the client disconnects before it finishes.
///
/// Cancellation reaches `BatchQueue.submit`, which removes the request's not-yet-started sequences from
/// the queue, so a departed client's inputs are never computed. The work runs in a child `Task` rather
/// than inline because a task can only be cancelled from outside; the handler task also forwards its
/// own cancellation (server shutdown) to it.
func untilClientDisconnects(
    _ context: ServerRequestContext, _ work: @escaping @Sendable () async throws -> Response
) async throws -> Response {
    guard let watcher = try? await context.channel.pipeline.handler(type: ClientDisconnectHandler.self).get() else {
        return try await work()
    }
    let task = Task { try await work() }
    let token = watcher.onDisconnect { task.cancel() }
    defer { if let token { watcher.removeCallback(token) } }
    do {
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    } catch {
        if watcher.isDisconnected { throw APIError(clientClosedRequest, "the client closed the connection") }
        throw error
    }
}
