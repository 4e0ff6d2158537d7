import Foundation
import Server
import Testing

extension ServerLimits {
    /// Every timeout long enough never to fire during a test, so a test shortens only the one it
    /// exercises and a slow machine cannot trip the others.
    static var patient: ServerLimits {
        var limits = ServerLimits()
        limits.headerTimeout = .seconds(600)
        limits.bodyTimeout = .seconds(600)
        limits.idleTimeout = .seconds(600)
        limits.requestTimeout = nil
        limits.shutdownTimeout = .seconds(600)
        return limits
    }
}

/// A request head with `Content-Length: 100` followed by 10 of those bytes: a body that stalls.
func stalledRequest(path: String) -> String {
    "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inputs\":"
}

/// Asks `/health` until it answers 200: a 408 can only mean the server, starved of CPU on a loaded
/// machine, read the request after the test's one-second header timeout, and a real client retries.
/// Only a server that never answers (the hang under test) fails, through the socket's patience.
func healthEventuallyAnswers(port: Int) async throws -> Bool {
    for _ in 0..<20 {
        let health = try RawSocket(port: port, sending: "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let status = try await health.readResponse().status
        if status == 200 { return true }
        if status != 408 { return false }
    }
    return false
}

/// The timeouts, the connection limit, the drain after an early answer and the shutdown grace period,
/// against a live server. Each test waits for the event (an answer, a close); the short timeouts only
/// make the events come soon.
@Suite("Connection limits", .serialized)
struct ConnectionLimitsTests {
    @Test("A connection that never sends a byte is closed after the header timeout")
    func silentConnectionIsClosed() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.headerTimeout = .seconds(1) }) { server, _ in
            let socket = try RawSocket(port: server.port)
            // Nothing to answer: the server closes without a response.
            #expect(try await socket.readUntilClosed().isEmpty)
        }
    }

    @Test("A request head that never ends gets 408 and the connection is closed")
    func slowHeadersGet408() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.headerTimeout = .seconds(1) }) { server, _ in
            let socket = try RawSocket(port: server.port)
            try await socket.send("POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
            let response = try await socket.readResponse()
            #expect(response.status == 408)
            #expect(response.headers["connection"] == "close")
            #expect((response.json["error"] as? String)?.contains("header timeout") == true)
            #expect(try await socket.readUntilClosed().isEmpty)
        }
    }

    @Test("A body that stalls gets 408 in its API's error shape and the connection is closed")
    func stalledBodyGets408() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.bodyTimeout = .seconds(1) }) { server, _ in
            let socket = try RawSocket(port: server.port)
            try await socket.send(stalledRequest(path: "/v1/embeddings"))
            let response = try await socket.readResponse()
            #expect(response.status == 408)
            #expect(response.headers["connection"] == "close")
            let error = try #require(response.json["error"] as? [String: Any])
            #expect(error["code"] as? String == "408")
            #expect((error["message"] as? String)?.contains("body timeout") == true)
            #expect(try await socket.readUntilClosed().isEmpty)
        }
    }

    @Test("A body still arriving at the request timeout gets 408")
    func requestTimeoutWhileReadingBody() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.requestTimeout = .seconds(1) }) { server, _ in
            let socket = try RawSocket(port: server.port)
            try await socket.send(stalledRequest(path: "/embed"))
            let response = try await socket.readResponse()
            #expect(response.status == 408)
            #expect(response.json["error_type"] as? String == "Validation")
            #expect((response.json["error"] as? String)?.contains("request timeout") == true)
            #expect(try await socket.readUntilClosed().isEmpty)
        }
    }

    @Test("A request whose work outlasts the request timeout gets 503 and its queued inputs are dropped")
    func requestTimeoutDropsQueuedWork() async throws {
        // Truncated to the fixture's 64 tokens: four texts per 256-token forward pass, so most of the
        // request is still queued when it times out.
        let texts = (0..<64).map { "text \($0): " + String(repeating: "many words in here ", count: 20) }
        let embedding = #"model="tiny-embedding""#
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.requestTimeout = .seconds(1) }) { server, _ in
            let gate = await InferenceGate.occupy()
            defer { gate.open() }
            let socket = try RawSocket(port: server.port)
            let body = try JSONSerialization.data(withJSONObject: ["inputs": texts, "truncate": true])
            try await socket.send(Data(
                "POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            let response = try await socket.readResponse()
            #expect(response.status == 503)
            #expect(response.headers["connection"] == "close")
            #expect(response.json["error_type"] as? String == "Backend")
            #expect(try await socket.readUntilClosed().isEmpty)
            // The close cancelled the route's work: its sequences left the queue without being computed.
            try await waitUntil("the timed-out request to leave the queue", limit: .seconds(600)) {
                let text = String(decoding: try await server.get("/metrics").body, as: UTF8.self)
                return metric(text, "queue_depth", embedding) == 0 && (metric(text, "cancelled_inputs_total", embedding) ?? 0) >= 60
            }
            #expect(try await server.get("/health").status == 200)
        }
    }

    @Test("An idle keep-alive connection is closed after the idle timeout")
    func idleConnectionIsClosed() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.idleTimeout = .seconds(1) }) { server, _ in
            let socket = try RawSocket(port: server.port)
            try await socket.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await socket.readResponse().status == 200)
            #expect(try await socket.readUntilClosed().isEmpty)
        }
    }

    @Test("Between requests a keep-alive connection gets the idle timeout, not the header timeout")
    func keepAliveOutlivesHeaderTimeout() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.headerTimeout = .seconds(1) }) { server, _ in
            let socket = try RawSocket(port: server.port, sending: "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await socket.readResponse().status == 200)
            // Longer than the header timeout, far shorter than the idle timeout.
            try await Task.sleep(for: .seconds(2))
            try await socket.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await socket.readResponse().status == 200)
        }
    }

    @Test("An early 413 reaches a client that sends its whole body before reading; then the connection closes")
    func earlyAnswerIsDrained() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.payloadLimit = 1000 }) { server, _ in
            let socket = try RawSocket(port: server.port)
            // As Python's urllib, requests and httpx do: all of a 3 MB body, then read. Without the
            // drain the server stops reading, the send blocks and the socket's patience runs out.
            let body = Data(repeating: UInt8(ascii: " "), count: 3 * 1024 * 1024)
            try await socket.send(Data(
                "POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            let response = try await socket.readResponse()
            #expect(response.status == 413)
            #expect(response.headers["connection"] == "close")
            #expect((response.json["error"] as? [String: Any])?["code"] as? String == "413")
            #expect(try await socket.readUntilClosed().isEmpty)
        }
    }

    @Test("The drain after an early answer is bounded: a body far past the drain limit is cut off")
    func drainIsBounded() async throws {
        try await TestServer.with(configure: {
            $0.limits = .patient
            $0.limits.drainLimit = 64 * 1024
            $0.payloadLimit = 1000
        }) { server, _ in
            let socket = try RawSocket(port: server.port)
            let total = 256 * 1024 * 1024
            try await socket.send("POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(total)\r\n\r\n")
            let chunk = Data(repeating: UInt8(ascii: " "), count: 1024 * 1024)
            var sent = 0
            do {
                while sent < total {
                    try await socket.send(chunk)
                    sent += chunk.count
                }
            } catch {
                // The server closed the connection: the expected way out.
            }
            // Socket buffers hold a few megabytes; the server read 64 KB past the limit, not 256 MB.
            #expect(sent < total)
        }
    }

    @Test("At the connection limit the server stops accepting until a connection closes")
    func acceptPausesAtTheLimit() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.maxConnections = 4 }) { server, _ in
            var held: [RawSocket] = []
            for _ in 0..<4 {
                let socket = try RawSocket(port: server.port)
                try await socket.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(try await socket.readResponse().status == 200)
                held.append(socket)
            }
            let waiting = try RawSocket(port: server.port)
            try await waiting.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            // Not accepted while four connections are open (had it been, the answer would be
            // immediate; a slow machine only makes this check more lenient).
            #expect(try await waiting.hasInput(within: 1000) == false)
            try await held[0].close()
            #expect(try await waiting.readResponse().status == 200)
        }
    }

    @Test("Idle connections beyond the connection limit cannot keep /health from answering")
    func slowlorisCannotStarveHealth() async throws {
        try await TestServer.with(configure: {
            $0.limits = .patient
            $0.limits.maxConnections = 4
            $0.limits.headerTimeout = .seconds(1)
        }) { server, _ in
            // Ten times the limit, within the listen backlog so every connect completes.
            let idle = try (0..<40).map { _ in try RawSocket(port: server.port) }
            #expect(try await healthEventuallyAnswers(port: server.port))
            for socket in idle { #expect(try await socket.readUntilClosed().isEmpty) }
        }
    }

    @Test("Graceful shutdown closes a connection stalled mid-body once the grace period is over")
    func shutdownGracePeriod() async throws {
        try await TestServer.with(configure: { $0.limits = .patient; $0.limits.shutdownTimeout = .seconds(1) }) { server, group in
            let socket = try RawSocket(port: server.port)
            // Sent in one write, so the stalled request's head has been read by the time /health is
            // answered: the server has a request in progress when shutdown begins.
            try await socket.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + stalledRequest(path: "/embed"))
            #expect(try await socket.readResponse().status == 200)
            await group.triggerGracefulShutdown()
            _ = try await socket.readUntilClosed()
            // `TestServer.with` returns only once the server has stopped.
        }
    }
}
