import Foundation
import Hummingbird
import Qwen3Embedding

/// Which error shape a route answers with.
enum APIFamily: Sendable {
    /// `{"error": {"message", "type", "param", "code"}}`
    case openAI
    /// `{"error": "...", "error_type": "..."}`
    case tei
}

/// A client-visible failure with its HTTP status. Every error a route raises is turned into one of
/// these by `APIError.init(from:)`, the single place where errors meet status codes.
struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    var param: String?
    var retryAfter: Int?

    init(_ status: HTTPResponse.Status, _ message: String, param: String? = nil) {
        self.status = status
        self.message = message
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
        return response
    }

    /// The JSON error body in `family`'s shape (also written by `ConnectionLimitsHandler`, which
    /// answers timeouts below the router).
    func body(_ family: APIFamily) -> JSONValue {
        let body: JSONValue
        switch family {
        case .openAI:
            body = .object([
                "error": .object([
                    "message": .string(message), "type": .string(openAIType),
                    "param": param.map(JSONValue.string) ?? .null,
                    "code": .string(String(status.code)),
                ])
            ])
        case .tei:
            body = .object(["error": .string(message), "error_type": .string(teiType)])
        }
        return body
    }
}

/// A JSON response.
func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    var buffer = ByteBuffer()
    buffer.writeString(value.serialized())
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
}

/// Runs a route body, turning any thrown error into `family`'s error response.
func answer(_ family: APIFamily, _ body: () async throws -> Response) async -> Response {
    do {
        return try await body()
    } catch {
        return APIError(from: error).response(family)
    }
}
