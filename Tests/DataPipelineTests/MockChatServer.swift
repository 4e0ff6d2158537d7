import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// One request the mock received.
struct RecordedRequest: Sendable {
    /// When it arrived (the test process's clock, so tests can compare with their own instants).
    let arrival: ContinuousClock.Instant
    /// Its 1-based position among all requests.
    let number: Int
    /// The raw JSON body.
    let body: Data
    /// The Authorization header, if any.
    let authorization: String?

    /// The body as an object.
    var object: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    /// The user message (the rendered prompt).
    var prompt: String {
        ((object["messages"] as? [[String: Any]])?.last?["content"] as? String) ?? ""
    }
    /// `response_format`.
    var responseFormat: [String: Any] { object["response_format"] as? [String: Any] ?? [:] }
    /// The schema's name (`json_schema` style), or nil.
    var schemaName: String? { (responseFormat["json_schema"] as? [String: Any])?["name"] as? String }
    /// The schema, in either style.
    var schema: [String: Any] {
        ((responseFormat["json_schema"] as? [String: Any])?["schema"] as? [String: Any]) ?? (responseFormat["schema"] as? [String: Any]) ?? [:]
    }
    /// True for a step-1 (configuration) request, told apart by its schema.
    var isConfigurationStep: Bool { (schema["properties"] as? [String: Any])?["character"] != nil }
    /// The candidate characters of a step-1 schema.
    var candidates: [String] {
        (((schema["properties"] as? [String: Any])?["character"] as? [String: Any])?["enum"] as? [String]) ?? []
    }
}

/// What the mock answers to one request.
struct MockReply: Sendable {
    var status = 200
    var headers: [String: String] = [:]
    var body: String
    /// Never answer, until the client gives up (a time-out) or the test ends.
    var hang = false

    /// A chat completion whose message content is `content`.
    static func completion(_ content: String) -> MockReply {
        let object: [String: Any] = [
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": "mock",
            "choices": [["index": 0, "message": ["role": "assistant", "content": content], "finish_reason": "stop"]],
        ]
        return MockReply(body: String(data: try! JSONSerialization.data(withJSONObject: object), encoding: .utf8)!)
    }

    /// An OpenAI-style error.
    static func error(_ status: Int, _ message: String, headers: [String: String] = [:]) -> MockReply {
        MockReply(status: status, headers: headers, body: #"{"error":{"message":"\#(message)","type":"mock"}}"#)
    }

    /// A valid answer to either step: the first candidate, `summary`, `university`; a query naming the
    /// first words of the document, so tests can tell which document a query came from.
    static func valid(for request: RecordedRequest) -> MockReply {
        if request.isConfigurationStep {
            let answer: [String: Any] = ["character": request.candidates.first ?? "nobody", "question_type": "summary", "difficulty": "university"]
            return completion(String(data: try! JSONSerialization.data(withJSONObject: answer), encoding: .utf8)!)
        }
        let passage = request.prompt.components(separatedBy: "**Passage**:\n").last ?? ""
        let firstWords = passage.split(separator: " ").prefix(3).joined(separator: " ")
        let answer = ["query": "what does \(firstWords) say?"]
        return completion(String(data: try! JSONSerialization.data(withJSONObject: answer), encoding: .utf8)!)
    }
}

/// An OpenAI-compatible chat server for tests (Hummingbird, loopback, an ephemeral port):
/// `POST /v1/chat/completions` answers with `behaviour`, and every request is recorded.
final class MockChatServer: Sendable {
    typealias Behaviour = @Sendable (RecordedRequest) async -> MockReply

    let port: Int
    private let recorder: Recorder

    /// The base URL a client takes (`…/v1`).
    var endpoint: String { "http://127.0.0.1:\(port)/v1" }

    private init(port: Int, recorder: Recorder) {
        self.port = port
        self.recorder = recorder
    }

    /// Every request so far, in arrival order.
    func requests() async -> [RecordedRequest] { await recorder.all }

    /// Returns once `count` requests have arrived (no time limit: the test waits for the event).
    func waitForRequests(_ count: Int) async { await recorder.wait(for: count) }

    /// Starts a server, runs `body` with it, stops it.
    @discardableResult
    static func with<T: Sendable>(_ behaviour: @escaping Behaviour = { MockReply.valid(for: $0) },
                                  _ body: @Sendable (MockChatServer) async throws -> T) async throws -> T {
        let recorder = Recorder()
        let router = Router()
        router.post("/v1/chat/completions") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 16 * 1024 * 1024)
            let recorded = await recorder.record(Data(buffer.readableBytesView), authorization: request.headers[.authorization])
            let reply = await behaviour(recorded)
            if reply.hang {
                // Until the client disconnects and the server cancels the handler, or the test ends.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            for (name, value) in reply.headers { headers[HTTPField.Name(name)!] = value }
            return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "mock-chat-server")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
                              logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.runService(gracefulShutdownSignals: [])
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let server = MockChatServer(port: port, recorder: recorder)
            let result: T
            do {
                result = try await body(server)
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
            return result
        }
    }
}

/// The request log, with waiters for a count.
private actor Recorder {
    private(set) var all: [RecordedRequest] = []
    private var waiters: [(Int, CheckedContinuation<Void, Never>)] = []

    func record(_ body: Data, authorization: String?) -> RecordedRequest {
        let request = RecordedRequest(arrival: .now, number: all.count + 1, body: body, authorization: authorization)
        all.append(request)
        waiters.removeAll { count, continuation in
            guard all.count >= count else { return false }
            continuation.resume()
            return true
        }
        return request
    }

    func wait(for count: Int) async {
        if all.count >= count { return }
        await withCheckedContinuation { waiters.append((count, $0)) }
    }
}
