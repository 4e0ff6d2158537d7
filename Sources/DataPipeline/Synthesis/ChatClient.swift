import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Retry settings for the chat calls.
public struct RetryPolicy: Sendable {
    /// Retries after the first attempt (for transport failures, and separately for bad answers).
    public var retries: Int
    /// The first back-off; each retry doubles it, up to `maximumDelay`.
    public var initialDelay: Duration
    /// The longest back-off (a server's Retry-After is honoured up to `maximumRetryAfter`).
    public var maximumDelay: Duration
    /// The longest Retry-After honoured, so a bogus header cannot stall a run for hours.
    public var maximumRetryAfter: Duration

    /// A policy; the defaults suit a shared server (0.5 s, 1 s, 2 s, … up to 30 s).
    public init(retries: Int = 5, initialDelay: Duration = .milliseconds(500), maximumDelay: Duration = .seconds(30),
                maximumRetryAfter: Duration = .seconds(300)) {
        self.retries = retries
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.maximumRetryAfter = maximumRetryAfter
    }

    /// The back-off before retry `attempt` (1-based).
    public func delay(attempt: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(attempt, 1) {
            delay *= 2
            if delay >= maximumDelay { return maximumDelay }
        }
        return min(delay, maximumDelay)
    }
}

/// A failure of one chat call after its retries.
public enum ChatCallError: Error, Sendable, Equatable {
    /// The server could not be reached, timed out or kept answering 429/5xx.
    case unavailable(String)
    /// A 4xx other than 408/429: the request itself is wrong (retrying cannot help).
    case rejected(status: Int, message: String)
}

/// An OpenAI-compatible chat-completions client: `POST {endpoint}/chat/completions`, with a request
/// rate shared by all callers, a per-request timeout, and exponential back-off on 408/429/5xx, time-outs
/// and connection failures (a 429's or 503's `Retry-After` is honoured).
public struct ChatClient: Sendable {
    /// The base URL, as OpenAI clients take it (ending in `/v1` for most servers).
    public let endpoint: String
    /// The bearer token, if any.
    public let apiKey: String?
    /// The limit on one request, from sending to the whole answer.
    public let timeout: Duration
    /// The back-off settings.
    public let retry: RetryPolicy
    private let limiter: RateLimiter?
    private let http: HTTPClient
    private let counter: RequestCounter

    /// A client over `http` (owned by the caller, who shuts it down).
    public init(endpoint: String, apiKey: String?, timeout: Duration, retry: RetryPolicy,
                maxRequestsPerSecond: Double?, http: HTTPClient) throws {
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
            throw SynthesisError.invalidOption("--endpoint must be an http(s) URL such as http://localhost:8000/v1, got \"\(endpoint)\"")
        }
        if let rate = maxRequestsPerSecond, !(rate > 0 && rate.isFinite) {
            throw SynthesisError.invalidOption("--max-requests-per-second must be positive")
        }
        self.endpoint = base
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        self.timeout = timeout
        self.retry = retry
        self.limiter = maxRequestsPerSecond.map { RateLimiter(requestsPerSecond: $0) }
        self.http = http
        self.counter = RequestCounter()
    }

    /// How many HTTP requests were sent (retries included).
    public func requestsSent() async -> Int { await counter.value }

    /// Sends `body` (a chat-completions request object) and returns the first choice's message content,
    /// retrying what can be retried.
    public func complete(_ body: [String: Any]) async throws -> String {
        let payload = try JSONSerialization.data(withJSONObject: body)
        var attempt = 0
        while true {
            attempt += 1
            let outcome = await send(payload)
            switch outcome {
            case .success(let content):
                return content
            case .failure(let failure):
                switch failure {
                case .cancelled:
                    throw CancellationError()
                case .fatal(let status, let message):
                    throw ChatCallError.rejected(status: status, message: message)
                case .retryable(let message, let retryAfter):
                    guard attempt <= retry.retries else {
                        throw ChatCallError.unavailable("\(message) (after \(attempt) attempt\(attempt == 1 ? "" : "s"))")
                    }
                    let wait = retryAfter.map { min($0, retry.maximumRetryAfter) } ?? retry.delay(attempt: attempt)
                    try await Task.sleep(for: wait)
                }
            }
        }
    }

    private enum Failure: Error {
        case retryable(String, retryAfter: Duration?)
        case fatal(Int, String)
        case cancelled
    }

    /// One attempt.
    private func send(_ payload: Data) async -> Result<String, Failure> {
        do {
            try await limiter?.acquire()
        } catch {
            return .failure(.cancelled)
        }
        await counter.increment()
        var request = HTTPClientRequest(url: endpoint + "/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let status: Int
        let headers: HTTPHeaders
        let body: ByteBuffer
        do {
            let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                              + timeout.components.attoseconds / 1_000_000_000)
            let response = try await http.execute(request, deadline: deadline)
            status = Int(response.status.code)
            headers = response.headers
            body = try await response.body.collect(upTo: 64 * 1024 * 1024)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .failure(.retryable("timed out after \(timeout)", retryAfter: nil))
        } catch where Task.isCancelled || error is CancellationError {
            return .failure(.cancelled)
        } catch {
            return .failure(.retryable("\(endpoint)/chat/completions: \(error)", retryAfter: nil))
        }
        let text = String(buffer: body)
        guard (200..<300).contains(status) else {
            let message = "HTTP \(status) from \(endpoint)/chat/completions: \(SynthesisPrompts.excerpt(Self.errorMessage(text)))"
            if status == 408 || status == 429 || status >= 500 {
                return .failure(.retryable(message, retryAfter: Self.retryAfter(headers.first(name: "Retry-After"))))
            }
            return .failure(.fatal(status, message))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let choices = object["choices"] as? [[String: Any]], let message = choices.first?["message"] as? [String: Any] else {
            // A 200 that is not a chat completion: the server is misbehaving, which retrying may fix.
            return .failure(.retryable("the answer is not a chat completion: \(SynthesisPrompts.excerpt(text))", retryAfter: nil))
        }
        return .success(message["content"] as? String ?? "")
    }

    /// An OpenAI error body's `error.message`, else the body.
    static func errorMessage(_ body: String) -> String {
        if let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] {
            if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
            if let message = object["error"] as? String ?? object["detail"] as? String ?? object["message"] as? String { return message }
        }
        return body
    }

    /// A `Retry-After` value: delay seconds, or an HTTP date (nil when it is neither).
    public static func retryAfter(_ value: String?) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds >= 0, seconds.isFinite { return .milliseconds(Int64(seconds * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }
}

/// Counts requests across workers.
actor RequestCounter {
    private(set) var value = 0
    func increment() { value += 1 }
}
