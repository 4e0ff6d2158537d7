// libFuzzer target: arbitrary bytes as an HTTP request body, decoded as the server decodes every
// request: `JSONValue.parse` (Sources/Server/StrictJSONReader.swift, a strict RFC 8259 reader), then
// `RequestObject` and its typed field accessors for every field a route reads. Compiled together with
// Sources/Server/JSONValue.swift and StrictJSONReader.swift only (the rest of the server needs
// Hummingbird); `APIError` below stands in for the server's, which those two files only construct.
//
// Finding = any crash, sanitizer report, leak or time-out (deep nesting must be refused, not recurse
// off the stack), or a broken invariant, checked with `preconditionFailure` so it crashes:
// serialising a parsed value and parsing it again gives the same text (writer and reader agree).
import Foundation

/// The server's `APIError` as far as the compiled files use it.
struct APIError: Error {
    let message: String
    let param: String?

    static func badRequest(_ message: String, param: String? = nil) -> APIError { APIError(message: message, param: param) }
}

/// Every field name a route reads with `string`, `int` or `bool`.
let fields = [
    "input", "inputs", "model", "encoding_format", "dimensions", "user", "query", "documents", "texts", "instruction",
    "top_n", "return_documents", "max_tokens_per_doc", "truncate", "truncation_direction", "normalize",
    "prompt_name", "raw_scores", "return_text", "add_special_tokens", "skip_special_tokens", "embd_normalize",
    "input_type", "output_dimension", "max_tokens", "content",
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let value = try? JSONValue.parse(Data(bytes: data, count: size)) else { return 0 }
    let text = value.serialized()
    guard let again = try? JSONValue.parse(Data(text.utf8)) else {
        preconditionFailure("the serialised form of a parsed request does not parse: \(text)")
    }
    guard again.serialized() == text else { preconditionFailure("serialise → parse → serialise changed \(text)") }
    guard let request = try? RequestObject(value) else { return 0 }
    for field in fields {
        _ = try? request.string(field)
        _ = try? request.int(field)
        _ = try? request.bool(field)
        if case .array(let items)? = request[field] { _ = items.compactMap(\.integer) }
    }
    return 0
}
