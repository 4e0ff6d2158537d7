import Foundation
import Hummingbird
import Qwen3Embedding

/// Which error shape a route answers with.
enum APIFamily: Sendable {
    /// `{"error": {"message", "type", "param", "code"}}`
    case openAI
    /// `{"error": "...", "error_type": "..."}`
    case tei
    /// `{"id": "...", "message": "..."}` (Cohere's v1 and v2 APIs)
    case cohere

    /// The family a path belongs to, for answers no route produced (404, 405, 401): `/v1/*` is
    /// OpenAI's, `/v2/*` Cohere's, everything else TEI's.
    init(path: String) {
        if path.hasPrefix("/v1/") { self = .openAI }
        else if path.hasPrefix("/v2/") { self = .cohere }
        else { self = .tei }
    }
}

/// A client-visible failure with its HTTP status. Every error a route raises is turned into one of
/// these by `APIError.init(from:)`, the single place where errors meet status codes.
struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    var param: String?
    var retryAfter: Int?

    /// Extra response headers (e.g. `Allow` on a 405).
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, param: String? = nil) {
        self.status = status
        self.message = escapingControlCharacters(message)
        self.param = param
    }

    static func badRequest(_ message: String, param: String? = nil) -> APIError { APIError(.badRequest, message, param: param) }
    static func unprocessable(_ message: String, param: String? = nil) -> APIError {
        APIError(.unprocessableContent, message, param: param)
    }

    /// Maps any error to a status: our own validation errors keep theirs, library validation errors
    /// are 422, a full queue is 429, and only genuine server faults are 500.
    init(from error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as EmbeddingError:
            self.init(.unprocessableContent, error.localizedDescription)
        case BatchQueueError.queueFull(let limit):
            self.init(.tooManyRequests, "the server is busy: \(limit) requests are already queued; retry shortly")
            retryAfter = 1
        case BatchQueueError.cancelled, is CancellationError:
            self.init(.serviceUnavailable, "the request was cancelled")
        default:
            self.init(.internalServerError, "internal error: \(error)")
        }
    }

    /// OpenAI's `type` for this status.
    private var openAIType: String {
        switch status.code {
        case 401: return "authentication_error"
        case 404: return "not_found_error"
        case 405: return "method_not_allowed"
        case 429: return "rate_limit_error"
        case 500...: return "server_error"
        default: return "invalid_request_error"
        }
    }

    /// TEI's `error_type` for this status.
    private var teiType: String {
        switch status.code {
        case 401: return "Unauthorized"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 413: return "PayloadTooLarge"
        case 429: return "Overloaded"
        case 500...: return "Backend"
        default: return "Validation"
        }
    }

    /// The JSON response in `family`'s shape.
    func response(_ family: APIFamily) -> Response {
        var response = jsonResponse(body(family), status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The JSON error body in `family`'s shape (also written by `ConnectionLimitsHandler`, which
    /// answers timeouts below the router).
    func body(_ family: APIFamily) -> Body {
        switch family {
        case .openAI:
            return .openAI(OpenAIBody(error: .init(message: message, type: openAIType, param: param, code: String(status.code))))
        case .tei:
            return .tei(TEIBody(error: message, errorType: teiType))
        case .cohere:
            return .cohere(CohereBody(id: UUID().uuidString.lowercased(), message: message))
        }
    }

    /// An error body in one family's shape.
    enum Body: Encodable {
        case openAI(OpenAIBody)
        case tei(TEIBody)
        case cohere(CohereBody)

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .openAI(let body): try body.encode(to: encoder)
            case .tei(let body): try body.encode(to: encoder)
            case .cohere(let body): try body.encode(to: encoder)
            }
        }

        /// The body's JSON text.
        func serialized() -> String {
            // The error bodies are plain strings: encoding them cannot fail.
            (try? ResponseEncoder.encodeToString(self)) ?? ""
        }
    }

    /// `{"error": {"message", "type", "param", "code"}}`; `param` is `null` when no field is at fault.
    struct OpenAIBody: Encodable {
        var error: Detail

        struct Detail: Encodable {
            var message: String
            var type: String
            var param: String?
            var code: String

            enum CodingKeys: String, CodingKey { case message, type, param, code }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(message, forKey: .message)
                try container.encode(type, forKey: .type)
                // Written as `null`, not left out: OpenAI's clients read the key.
                try container.encode(param, forKey: .param)
                try container.encode(code, forKey: .code)
            }
        }
    }

    /// `{"error": "...", "error_type": "..."}`.
    struct TEIBody: Encodable {
        var error: String
        var errorType: String

        enum CodingKeys: String, CodingKey {
            case error
            case errorType = "error_type"
        }
    }

    /// `{"id": "...", "message": "..."}`.
    struct CohereBody: Encodable {
        var id: String
        var message: String
    }
}

/// Runs a route body, turning any thrown error into `family`'s error response.
func answer(_ family: APIFamily, _ body: () async throws -> Response) async -> Response {
    do {
        return try await body()
    } catch {
        return APIError(from: error).response(family)
    }
}

/// `text` with every control character (C0, DEL, C1) written as a `\u{…}` escape, so that a message
/// quoting client input or file contents cannot carry raw control bytes into a response or a log line.
func escapingControlCharacters(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var output = ""
    for scalar in text.unicodeScalars {
        if isControl(scalar) { output += "\\u{" + String(scalar.value, radix: 16) + "}" }
        else { output.unicodeScalars.append(scalar) }
    }
    return output
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
}
