// libFuzzer target: arbitrary bytes as an HTTP request body, decoded as the server decodes every
// request: `JSONValue.parse(requestBody:)` (the shared strict parser of Sources/ModelFormats/JSON with the
// server's options), then `RequestDecoder` into `Decodable` request types with every field shape the
// routes use (strings, integers, booleans, optional and nested fields, arrays of ids, string unions).
// Compiled together with Sources/ModelFormats/JSON/*.swift and Sources/Server/RequestDecoder.swift only
// (the rest of the server needs Hummingbird); `APIError` below stands in for the server's, which those
// files only construct.
//
// Finding = any crash, sanitizer report, leak or time-out (deep nesting must be refused, not recurse off
// the stack), or a broken invariant, checked with `preconditionFailure` so it crashes: parsing the same
// bytes twice gives equal values, and a rejected body is rejected with a non-empty 400 message.
import Foundation

/// The server's `APIError` as far as the compiled files use it.
struct APIError: Error {
    let message: String
    let param: String?

    static func badRequest(_ message: String, param: String? = nil) -> APIError { APIError(message: message, param: param) }
}

/// A string or a list of strings, as OpenAI's `input` and TEI's `inputs` take.
struct TextsField: JSONShapedField {
    let texts: [String]

    init(json: JSONValue, field: String) throws {
        switch json {
        case .string(let text): texts = [text]
        case .array(let items):
            texts = try items.map { item in
                guard case .string(let text) = item else { throw APIError.badRequest("'\(field)' must be a string or an array of strings") }
                return text
            }
        default: throw APIError.badRequest("'\(field)' must be a string or an array of strings")
        }
    }
}

/// Every field type the routes decode, under names the routes use.
struct FuzzedRequest: Decodable {
    struct Parameters: Decodable {
        let truncate: Bool?
        let max_tokens: Int?
        let instruction: String?
    }

    let input: TextsField?
    let model: String?
    let encoding_format: String?
    let dimensions: Int?
    let normalize: Bool?
    let top_n: Int?
    let documents: [String]?
    let ids: [Int]?
    let embedding_types: [String]?
    let parameters: Parameters?
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(bytes: data, count: size)
    let value: JSONValue
    do {
        value = try JSONValue.parse(requestBody: body)
    } catch {
        guard error.message.hasPrefix("the request body is not valid JSON") else {
            preconditionFailure("a malformed body gave an unexpected message: \(error.message)")
        }
        return 0
    }
    guard let again = try? JSONValue.parse(requestBody: body), again == value else {
        preconditionFailure("parsing the same body twice gave different values")
    }
    do {
        _ = try RequestDecoder.decode(FuzzedRequest.self, from: value)
    } catch let error as APIError {
        guard !error.message.isEmpty else { preconditionFailure("an empty 400 message") }
    } catch {
        // Codable's own errors (a shape the decoder leaves to the standard library) are fine: a request
        // route turns every error into a response; crashing is the finding.
    }
    return 0
}
