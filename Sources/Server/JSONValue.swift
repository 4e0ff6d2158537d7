import Foundation

/// A parsed JSON document. Requests are decoded into this first so that every wrong type can be
/// reported as a 400 naming the field, instead of a generic decoding failure.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number written with a fraction or an exponent (`1.5`, `1e2`, `1.0`), or any computed number.
    case number(Double)
    /// A number written as a JSON integer (no fraction, no exponent) that fits in `Int`. Kept apart from
    /// `number` because token ids and counts must be integers as written: `1e2` and `1.0` are not ids.
    case integer(Int)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    /// A float vector, serialised directly (embeddings are the bulk of every response).
    case floats([Float])

    /// Parses a request body strictly (RFC 8259: no trailing commas, no comments, no bare values other
    /// than JSON's); malformed JSON is a 400 naming the byte offset of the first error.
    static func parse(_ data: Data) throws -> JSONValue {
        do {
            return try StrictJSONReader.parse(Array(data))
        } catch let error as StrictJSONReader.Failure {
            throw APIError.badRequest("the request body is not valid JSON: \(error.reason) at byte \(error.offset)")
        }
    }

    /// Compact JSON text.
    func serialized() -> String {
        var output = ""
        write(to: &output)
        return output
    }

    private func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .integer(let value): output += String(value)
        case .number(let value):
            if !value.isFinite { output += "null" }
            else if value == value.rounded(), abs(value) < 1e15 { output += String(Int64(value)) }
            else { output += "\(value)" }
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                Self.writeString(key, to: &output)
                output += ":"
                members[key]!.write(to: &output)
            }
            output += "}"
        case .floats(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                output += value.isFinite ? "\(value)" : "null"
            }
            output += "]"
        }
    }

    /// Appends `value` as a JSON string literal (also used by routes that write large responses
    /// directly, without building a `JSONValue` tree first).
    static func writeString(_ value: String, to output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20: output += String(format: "\\u%04x", scalar.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

/// Typed access to a request object's fields; a wrong type is a 400 naming the field.
struct RequestObject {
    let fields: [String: JSONValue]

    init(_ value: JSONValue) throws {
        guard case .object(let fields) = value else { throw APIError.badRequest("the request body must be a JSON object") }
        self.fields = fields
    }

    subscript(key: String) -> JSONValue? {
        if let value = fields[key], value != .null { return value }
        return nil
    }

    func string(_ key: String) throws -> String? {
        guard let value = self[key] else { return nil }
        guard case .string(let string) = value else { throw APIError.badRequest("'\(key)' must be a string", param: key) }
        return string
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = self[key] else { return nil }
        guard case .bool(let bool) = value else { throw APIError.badRequest("'\(key)' must be a boolean", param: key) }
        return bool
    }

    func int(_ key: String) throws -> Int? {
        guard let value = self[key] else { return nil }
        guard let int = value.integer else { throw APIError.badRequest("'\(key)' must be an integer", param: key) }
        return int
    }
}

extension JSONValue {
    /// The value as an integer, if it was written as a JSON integer (`3`, not `3.0` or `3e0`).
    var integer: Int? {
        guard case .integer(let value) = self else { return nil }
        return value
    }
}
