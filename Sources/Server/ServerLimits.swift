#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The connection-level limits of the server: how long it waits for slow or silent clients, how many
/// connections it holds, how long a request may take and how long graceful shutdown may last.
///
/// Without these a handful of clients could hold the server forever: slowloris connections that
/// never finish their headers, bodies that stall half-way, idle keep-alive connections piling up
/// until the process runs out of file descriptors, and a half-sent request blocking shutdown.
/// The defaults follow nginx and TEI (header and body reads 30–60 s, keep-alive 60 s).
public struct ServerLimits: Sendable {
    /// Longest time from a connection's opening, or from the first byte of a later request on a
    /// keep-alive connection, until the request's complete head (request line and headers) has
    /// arrived. Past it the client gets 408 and the connection is closed.
    public var headerTimeout: Duration = .seconds(30)
    /// Longest pause between two reads of a request body (nginx's `client_body_timeout`). Past it the
    /// client gets 408 and the connection is closed.
    public var bodyTimeout: Duration = .seconds(60)
    /// Longest time a keep-alive connection may sit idle between a response and the next request's
    /// first byte before the server closes it (silently: there is no request to answer).
    public var idleTimeout: Duration = .seconds(60)
    /// Longest time from a request's head arriving until its response starts, body reading and
    /// queueing included; `nil` for no limit. Past it the client gets 408 if its body is still
    /// incomplete, else 503, the connection is closed, and the request's queued work is dropped.
    public var requestTimeout: Duration? = .seconds(300)
    /// Most connections held open at once. At the limit the server stops accepting (new connections
    /// wait in the kernel's listen backlog) until one closes, so it never runs out of descriptors.
    public var maxConnections: Int = ServerLimits.defaultMaxConnections
    /// Longest graceful shutdown: the server stops accepting, lets requests in progress finish, and
    /// after this long closes the connections still open (a client stalled half-way through sending
    /// its request would otherwise block shutdown forever).
    public var shutdownTimeout: Duration = .seconds(30)
    /// After answering a request whose body has not fully arrived (an early 413, 401 or 429), the
    /// server reads and discards at most this many more body bytes before closing. Clients that send
    /// the whole body before reading (Python's urllib, requests, httpx and so the `openai` package)
    /// only see the answer once their send completes; closing at once would make them fail with a
    /// broken pipe instead.
    public var drainLimit = 64 * 1024 * 1024
    /// ... and spends at most this long doing so.
    public var drainTimeout: Duration = .seconds(10)

    /// Limits with the defaults above.
    public init() {}

    /// The default connection limit: 4,096, or fewer when the process's soft descriptor limit is
    /// lower, keeping 64 descriptors for the model files, the listener and the runtime (with the
    /// common default `ulimit -n` of 1024 that is 960).
    public static var defaultMaxConnections: Int {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 1024 }
        // RLIM_INFINITY is the largest value, so `min` covers it.
        let soft = UInt64(limit.rlim_cur)
        return Int(max(16, min(4096, soft > 64 ? soft - 64 : 16)))
    }
}
