import Foundation

/// A parsed JSON document. Requests are decoded into this first so that every wrong type can be
/// reported as a 400 naming the field, instead of a generic decoding failure.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    /// A float vector, serialised directly (embeddings are the bulk of every response).
    case floats([Float])

    /// Parses a request body; malformed JSON is a 400.
    static func parse(_ data: Data) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw APIError.badRequest("the request body is not valid JSON")
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

    private static func writeString(_ value: String, to output: inout String) {
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

extension JSONValue: Decodable {
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
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
    /// The value as an integer, if it is a whole number in range.
    var integer: Int? {
        guard case .number(let number) = self, number == number.rounded(), abs(number) < 9e15 else { return nil }
        return Int(number)
    }
}
