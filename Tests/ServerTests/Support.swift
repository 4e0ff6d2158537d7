import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import Qwen3Embedding
@testable import Server
import ServiceLifecycle
import Testing
import TestSupport

/// Fixture model directories.
enum Fixtures {
    static let root = TestPaths.fixtures
    static let embedding = TestPaths.tinyEmbeddingModel.path
    static let reranker = TestPaths.tinyRerankerModel.path
    static let embedder: Embedder = try! Embedder(modelAt: URL(fileURLWithPath: embedding), maxLength: 64, maxBatchTokens: 256)
    static let rerankerModel: Reranker = try! Reranker(modelAt: URL(fileURLWithPath: reranker), maxLength: 512, maxBatchTokens: 1024)
}

/// What a route test needs from a server: send a request, read the reply. A live server on a socket
/// (`TestServer`) and the router driven in process (`RouteTester`) both provide it, so a test body reads
/// the same whichever transport it runs on.
protocol ServerClient: Sendable {
    /// Sends one request; a JSON `body` goes with `Content-Type: application/json`, as the HTTP client sends it.
    func send(_ method: HTTPMethod, _ path: String, body: Data?, headers: [(String, String)]) async throws -> TestServer.Reply
}

extension ServerClient {
    func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = []) async throws -> TestServer.Reply {
        try await send(method, path, body: body, headers: headers)
    }

    func post(_ path: String, _ object: Any, headers: [(String, String)] = []) async throws -> TestServer.Reply {
        try await request(.POST, path, body: try JSONSerialization.data(withJSONObject: object), headers: headers)
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> TestServer.Reply {
        try await request(.GET, path, headers: headers)
    }
}

/// The configuration every test server starts from: both fixture models, port 0, and no time-out that a
/// slow machine could reach (a test that exercises one shortens it).
func testConfiguration(
    embedder: Bool, reranker: Bool, configure: (inout ServerConfiguration) -> Void
) -> ServerConfiguration {
    var configuration = ServerConfiguration(
        embedder: embedder ? Fixtures.embedder : nil, embedderName: "tiny-embedding",
        reranker: reranker ? Fixtures.rerankerModel : nil, rerankerName: "tiny-reranker")
    configuration.port = 0
    configuration.limits = .patient
    configure(&configuration)
    return configuration
}

/// The server's routes and middleware driven in process with HummingbirdTesting (`app.test(.router)`): no
/// socket, port or HTTP/1 codec. For tests of what the routes answer; what happens on the connection
/// (time-outs, half-close, slow clients, connection limits, keep-alive, HTTP/1.0, graceful shutdown)
/// is tested on a live `TestServer`.
struct RouteTester: ServerClient {
    let client: any TestClientProtocol

    /// A method or header name HTTP does not allow, which the socket client would refuse too.
    struct InvalidRequest: Error { let reason: String }

    func send(_ method: HTTPMethod, _ path: String, body: Data?, headers: [(String, String)]) async throws -> TestServer.Reply {
        var fields = HTTPFields()
        if body != nil { fields.append(HTTPField(name: .contentType, value: "application/json")) }
        for (name, value) in headers {
            guard let fieldName = HTTPField.Name(name) else { throw InvalidRequest(reason: "header name \(name)") }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        guard let requestMethod = HTTPRequest.Method(method.rawValue) else { throw InvalidRequest(reason: "method \(method.rawValue)") }
        let response = try await client.execute(
            uri: path, method: requestMethod, headers: fields, body: body.map { ByteBuffer(bytes: $0) })
        return TestServer.Reply(
            status: Int(response.status.code), headers: response.headers.map { ($0.name.canonicalName, $0.value) },
            body: Data(response.body.readableBytesView))
    }

    /// Builds the server with `configure` applied and runs `body` against its router.
    static func with(
        embedder: Bool = true, reranker: Bool = true,
        configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: @Sendable (RouteTester) async throws -> Void
    ) async throws {
        var logger = Logger(label: "route-tests")
        logger.logLevel = .warning
        let server = try EmbeddingServer(
            configuration: testConfiguration(embedder: embedder, reranker: reranker, configure: configure), logger: logger)
        try await server.application.test(.router) { client in try await body(RouteTester(client: client)) }
    }
}

/// A server on a free loopback port, with an HTTP client to call it.
struct TestServer: ServerClient {
    let port: Int
    let client: HTTPClient

    struct Reply {
        let status: Int
        let headers: [(String, String)]
        let body: Data
        var json: Any { (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])) ?? NSNull() }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    func send(_ method: HTTPMethod, _ path: String, body: Data?, headers: [(String, String)]) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(contentsOf: headers)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        // A bound for a hung server only: on a loaded machine a request may wait long for its turn.
        let response = try await client.execute(request, timeout: .minutes(10))
        let buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                     body: Data(buffer.readableBytesView))
    }

    /// Starts a server with `configure` applied, runs `body`, then shuts the server down gracefully.
    static func with(
        embedder: Bool = true, reranker: Bool = true,
        configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (TestServer, ServiceGroup) async throws -> Void
    ) async throws {
        let configuration = testConfiguration(embedder: embedder, reranker: reranker, configure: configure)
        var logger = Logger(label: "server-tests")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = try EmbeddingServer(configuration: configuration, logger: logger) { port in
            continuation.yield(port)
        }
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], logger: logger)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .forTests)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            do {
                try await body(TestServer(port: port, client: client), group)
            } catch {
                await group.triggerGracefulShutdown()
                try? await client.shutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await client.shutdown()
    }
}

/// Decodes OpenAI's base64 little-endian float32 embedding.
func decodeBase64Floats(_ text: String) -> [Float] {
    guard let data = Data(base64Encoded: text) else { return [] }
    return stride(from: 0, to: data.count, by: 4).map { offset in
        var bits: UInt32 = 0
        for byte in 0..<4 { bits |= UInt32(data[data.startIndex + offset + byte]) << (8 * byte) }
        return Float(bitPattern: UInt32(littleEndian: bits))
    }
}

func floats(_ value: Any?) -> [Float] {
    (value as? [Any])?.compactMap { ($0 as? NSNumber)?.floatValue } ?? []
}

extension HTTPClient.Configuration {
    /// A client that never fails because the machine is slow: enough connections per host for every
    /// concurrent request of a test (the default 8 would make the rest wait for a free one), and a
    /// wait for a connection bounded only against a hang (the default fails such a wait after 10 s,
    /// which a loaded machine reaches: `HTTPClientError.getConnectionFromPoolTimeout`).
    static var forTests: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
        configuration.timeout = .init(connect: .minutes(10))
        return configuration
    }
}
