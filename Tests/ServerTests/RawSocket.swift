import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP client that writes exactly the bytes it is given and reports exactly what the server does,
/// for the misbehaving clients a real HTTP client cannot imitate: a request head that never ends, a
/// body that stalls, a socket that is opened and never used, a body sent whole before reading.
///
/// Every blocking call runs on the socket's own dispatch queue, never on the test's cooperative
/// threads (the in-process server needs them), and every wait is bounded by `patience` (the socket's
/// send and receive timeouts), a bound that only a hang reaches: the tests wait for events, and the
/// bound only turns a server that never answers into a failure instead of a stuck test run.
final class RawSocket: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A response read off the socket.
    struct Response {
        let status: Int
        let headers: [String: String]
        let body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    // Only touched on `queue`.
    private var descriptor: Int32
    private var buffered = Data()
    private let queue = DispatchQueue(label: "raw-socket")
    private let patience: Duration

    /// Connects to 127.0.0.1:`port` and sends `initialBytes` at once (so they are in the server's
    /// socket buffer before it can start a header timer). Without `waitForConnection` the connection
    /// is only started (non-blocking `connect`): a flood of such sockets need not wait for a server
    /// that has stopped accepting and whose listen backlog is full.
    init(port: Int, sending initialBytes: String = "", patience: Duration = .seconds(60), waitForConnection: Bool = true) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        self.patience = patience
        var timeout = timeval(tv_sec: Int(patience.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        if !waitForConnection { _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 || (!waitForConnection && errno == EINPROGRESS) else {
            let code = errno
            closeDescriptor(descriptor)
            throw Failure(description: "connect() failed: errno \(code)")
        }
        let bytes = Array(initialBytes.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { sendBytes(descriptor, $0.baseAddress! + sent, bytes.count - sent) }
            guard count > 0 else { throw Failure(description: "send() failed: errno \(errno)") }
            sent += count
        }
    }

    deinit {
        if descriptor >= 0 { closeDescriptor(descriptor) }
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (RawSocket) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(self) }) }
        }
    }

    /// Sends all of `bytes`; fails if the server closes the connection or stops reading for `patience`.
    func send(_ bytes: Data) async throws {
        try await run { socket in
            try bytes.withUnsafeBytes { buffer in
                var sent = 0
                while sent < buffer.count {
                    let count = sendBytes(socket.descriptor, buffer.baseAddress! + sent, buffer.count - sent)
                    guard count > 0 else { throw Failure(description: "send() failed after \(sent) bytes: errno \(errno)") }
                    sent += count
                }
            }
        }
    }

    func send(_ text: String) async throws {
        try await send(Data(text.utf8))
    }

    /// Reads one response (the server answers with Content-Length).
    func readResponse() async throws -> Response {
        try await run { socket in
            let separator = Data("\r\n\r\n".utf8)
            while socket.buffered.range(of: separator) == nil {
                guard try socket.fill() else { throw Failure(description: "the connection closed before a response") }
            }
            let headerEnd = socket.buffered.range(of: separator)!
            let head = String(decoding: socket.buffered[..<headerEnd.lowerBound], as: UTF8.self)
            socket.buffered.removeSubrange(..<headerEnd.upperBound)
            let lines = head.components(separatedBy: "\r\n")
            let statusParts = lines[0].split(separator: " ")
            guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
                throw Failure(description: "bad status line \(lines[0])")
            }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = headers["content-length"].flatMap(Int.init) ?? 0
            while socket.buffered.count < length {
                guard try socket.fill() else { throw Failure(description: "the connection closed inside a response body") }
            }
            let body = Data(socket.buffered.prefix(length))
            socket.buffered.removeFirst(length)
            return Response(status: status, headers: headers, body: body)
        }
    }

    /// Waits until the server closes the connection; returns the bytes that came before the close
    /// that no `readResponse` consumed. A reset counts as a close.
    func readUntilClosed() async throws -> Data {
        try await run { socket in
            while try socket.fill() {}
            defer { socket.buffered = Data() }
            return socket.buffered
        }
    }

    /// Whether a byte (or the close) arrives within `milliseconds`, without consuming it.
    func hasInput(within milliseconds: Int32) async throws -> Bool {
        try await run { socket in
            if !socket.buffered.isEmpty { return true }
            var entry = pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            guard ready >= 0 else { throw Failure(description: "poll() failed: errno \(errno)") }
            return ready > 0
        }
    }

    /// Closes the socket.
    func close() async throws {
        try await run { socket in
            if socket.descriptor >= 0 { closeDescriptor(socket.descriptor) }
            socket.descriptor = -1
        }
    }

    /// Reads what is available into `buffered`; false at the end of the stream (or a reset). Fails
    /// only when nothing at all arrives for `patience`.
    private func fill() throws -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: patience.components.seconds * 1000)
        let ready = poll(&entry, 1, milliseconds)
        guard ready >= 0 else { throw Failure(description: "poll() failed: errno \(errno)") }
        guard ready > 0 else { throw Failure(description: "nothing arrived from the server within \(patience)") }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffered.append(contentsOf: chunk[..<count])
            return true
        }
        if count == 0 || errno == ECONNRESET || errno == ENOTCONN || errno == ECONNREFUSED { return false }
        throw Failure(description: "recv() failed: errno \(errno)")
    }
}

private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}

/// `send(2)` without SIGPIPE: a server closing the connection must fail the call, not kill the tests.
private func sendBytes(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
    #else
    Darwin.send(descriptor, bytes, count, 0)
    #endif
}
