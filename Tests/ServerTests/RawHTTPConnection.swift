import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One plain TCP connection speaking HTTP/1.1 by hand, for what a pooled client hides: sending several
/// requests on the same keep-alive connection, and closing a connection while its request is running.
///
/// Blocking socket calls run on the connection's own dispatch queue, never on the test's cooperative
/// threads (which the in-process server needs).
final class RawHTTPConnection: @unchecked Sendable {
    struct Response {
        let status: Int
        let headers: [String: String]
        let body: Data
        var json: Any { (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])) ?? NSNull() }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    // Only touched on `queue`.
    private var descriptor: Int32 = -1
    private var buffered = Data()
    private let queue = DispatchQueue(label: "raw-http-connection")

    /// Connects to 127.0.0.1:`port`.
    init(port: Int) async throws {
        try await run { connection in
            #if canImport(Glibc)
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard descriptor >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard result == 0 else {
                posixClose(descriptor)
                throw Failure(description: "connect() failed: errno \(errno)")
            }
            connection.descriptor = descriptor
        }
    }

    deinit {
        if descriptor >= 0 { posixClose(descriptor) }
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (RawHTTPConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(self) }) }
        }
    }

    /// Sends a POST with a JSON body; `Connection: keep-alive` is HTTP/1.1's default.
    func send(path: String, json: Any) async throws {
        let body = try JSONSerialization.data(withJSONObject: json)
        let request = Data("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        try await run { connection in
            try request.withUnsafeBytes { bytes in
                var sent = 0
                while sent < bytes.count {
                    let count = posixSend(connection.descriptor, bytes.baseAddress! + sent, bytes.count - sent)
                    guard count > 0 else { throw Failure(description: "send() failed: errno \(errno)") }
                    sent += count
                }
            }
        }
    }

    /// Reads one response (the server answers with Content-Length).
    func receive() async throws -> Response {
        try await run { connection in
            let separator = Data("\r\n\r\n".utf8)
            while connection.buffered.range(of: separator) == nil { try connection.fill() }
            let headerEnd = connection.buffered.range(of: separator)!
            let head = String(decoding: connection.buffered[..<headerEnd.lowerBound], as: UTF8.self)
            connection.buffered.removeSubrange(..<headerEnd.upperBound)
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
            guard let length = headers["content-length"].flatMap(Int.init) else {
                throw Failure(description: "no Content-Length in \(head)")
            }
            while connection.buffered.count < length { try connection.fill() }
            let body = Data(connection.buffered.prefix(length))
            connection.buffered.removeFirst(length)
            return Response(status: status, headers: headers, body: body)
        }
    }

    /// Sends `request` exactly as given (any HTTP version, any headers).
    func sendRaw(_ request: Data) async throws {
        try await run { connection in
            try request.withUnsafeBytes { bytes in
                var sent = 0
                while sent < bytes.count {
                    let count = posixSend(connection.descriptor, bytes.baseAddress! + sent, bytes.count - sent)
                    guard count > 0 else { throw Failure(description: "send() failed: errno \(errno)") }
                    sent += count
                }
            }
        }
    }

    /// Reads until the server closes the connection and returns everything received. A server that
    /// never closes fails this after `limit` seconds without data (a failure, not a hang).
    func readToEnd(limit seconds: Int = 60) async throws -> Data {
        try await run { connection in
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(connection.descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(connection.descriptor, $0.baseAddress, $0.count, 0) }
                if count == 0 { break }
                guard count > 0 else {
                    throw Failure(description: "the server did not close the connection (recv \(count), errno \(errno))")
                }
                connection.buffered.append(contentsOf: chunk[..<count])
            }
            defer { connection.buffered = Data() }
            return connection.buffered
        }
    }

    /// Sends a request and reads its response.
    func post(_ path: String, _ json: Any) async throws -> Response {
        try await send(path: path, json: json)
        return try await receive()
    }

    /// Closes the socket, as a client that gives up does.
    func disconnect() async throws {
        try await run { connection in
            if connection.descriptor >= 0 { posixClose(connection.descriptor) }
            connection.descriptor = -1
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw Failure(description: "the server closed the connection (recv \(count), errno \(errno))") }
        buffered.append(contentsOf: chunk[..<count])
    }
}

// The free functions under names that the methods above do not shadow.
private func posixSend(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    send(descriptor, bytes, count, 0)
}

private func posixClose(_ descriptor: Int32) {
    _ = close(descriptor)
}
