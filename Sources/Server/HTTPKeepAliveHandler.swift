import NIOCore
import NIOHTTP1

/// Closes a connection after the response to a request that did not ask to keep it alive: HTTP/1.0
/// without `Connection: keep-alive` (and HTTP/1.1 with `Connection: close`), as RFC 9112 §9.3 says.
///
/// Hummingbird turns requests into version-less HTTP types before its own loop sees them, so it keeps
/// an HTTP/1.0 connection open after the response, and an HTTP/1.0 client that reads to end of file
/// waits forever. This handler sits right after NIO's HTTP/1 decoder, where the version is still
/// known: it notes each request's keep-alive wish, marks the matching response `Connection: close`,
/// and closes the connection once that response's end is written. Installed by
/// `ClientDisconnectHandler` when it joins a connection's pipeline.
final class HTTPKeepAliveHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Keep-alive wish of each request not yet answered, oldest first.
    private var keepAlive: [Bool] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) { keepAlive.append(head.isKeepAlive) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where keepAlive.first == false:
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            guard !keepAlive.isEmpty, !keepAlive.removeFirst() else {
                context.write(data, promise: promise)
                return
            }
            let written = promise ?? context.eventLoop.makePromise(of: Void.self)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            context.write(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }

    /// Adds a keep-alive handler right after the HTTP/1 request decoder of `pipeline`, if it has one.
    static func install(in pipeline: ChannelPipeline.SynchronousOperations) {
        guard let decoder = try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) else { return }
        try? pipeline.addHandler(HTTPKeepAliveHandler(), position: .after(decoder))
    }
}
