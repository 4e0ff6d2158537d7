import Foundation
import ModelFormats

extension JSONValue {
    /// How request bodies are parsed: RFC 8259 strictly (no trailing commas, comments or bare words),
    /// integers kept apart from other numbers so that `1e2` and `1.0` are not token ids, nesting bounded so
    /// a hostile body cannot exhaust the stack. A repeated key keeps its last value, as the server always
    /// has (and as Python's `json` and serde do), so no client that sends one is newly refused.
    static let requestParsingOptions = JSONParsingOptions(duplicateKeys: .keepAll, maximumDepth: 128)

    /// Parses a request body with `requestParsingOptions`; malformed JSON is a 400 naming the byte offset
    /// of the first error.
    static func parse(requestBody data: Data) throws(APIError) -> JSONValue {
        do {
            return try parse(data, options: requestParsingOptions)
        } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error.reason) at byte \(error.offset)")
        }
    }
}

/// Decodes a parsed request body into a `Decodable` request type.
///
/// Why not `JSONDecoder`: a wrong type must be a 400 that names the field (`'dimensions' must be an
/// integer`), integers must be JSON integers as written (`1.0` and `1e2` are not token ids), and `null`
/// means "not sent" for every optional field. This decoder works over the strictly parsed `JSONValue`
/// and throws `APIError`s with those messages, so request types can use plain synthesized `Decodable`.
enum RequestDecoder {
    /// `T` decoded from `value`; a body that is not a JSON object where `T` expects one is a 400.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try T(from: RequestValueDecoder(value: value, codingPath: []))
    }

    /// The field a coding path names, as error messages and `param` spell it: `inputs.sentences`,
    /// `embedding_types[2]`.
    static func fieldName(_ path: [any CodingKey]) -> String {
        var name = ""
        for key in path {
            if let index = (key as? ArrayIndexKey)?.intValue {
                name += "[\(index)]"
            } else {
                if !name.isEmpty { name += "." }
                name += key.stringValue
            }
        }
        return name
    }

    /// The 400 for a value of the wrong type at `path` (`expected` is e.g. "a string", "an integer").
    static func typeMismatch(_ path: [any CodingKey], expected: String) -> APIError {
        if path.isEmpty { return .badRequest("the request body must be \(expected == "an object" ? "a JSON object" : expected)") }
        let field = fieldName(path)
        return .badRequest("'\(field)' must be \(expected)", param: field)
    }

    /// The 400 for a required field that is missing or `null` at `path`.
    static func missing(_ path: [any CodingKey]) -> APIError {
        let field = fieldName(path)
        return .badRequest("'\(field)' is required", param: field)
    }
}

/// A request field whose JSON shape is a union (a string or an array of strings; texts or token-id lists)
/// that Codable's containers could only express by decoding each alternative in turn. Such a type reads
/// the parsed value directly and reports its own shape message for the field.
protocol JSONShapedField: Decodable {
    /// The field's value from `json`, the value of the field named `field` (a path, as in messages).
    init(json: JSONValue, field: String) throws
}

extension JSONShapedField {
    init(from decoder: any Decoder) throws {
        guard let decoder = decoder as? RequestValueDecoder else {
            // Only request bodies are decoded into these types, always through `RequestDecoder`.
            throw DecodingError.typeMismatch(
                Self.self, .init(codingPath: decoder.codingPath, debugDescription: "decodable only by RequestDecoder"))
        }
        try self.init(json: decoder.value, field: RequestDecoder.fieldName(decoder.codingPath))
    }
}

/// The coding key of an array element.
struct ArrayIndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

/// The `Decoder` of one value of a request body (see `RequestDecoder`).
struct RequestValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw RequestDecoder.typeMismatch(codingPath, expected: "an object") }
        return KeyedDecodingContainer(RequestKeyedContainer<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw RequestDecoder.typeMismatch(codingPath, expected: "an array") }
        return RequestUnkeyedContainer(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: Single value

    func decodeNil() -> Bool { value.isNull }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let bool) = value else { throw RequestDecoder.typeMismatch(codingPath, expected: "a boolean") }
        return bool
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let string) = value else { throw RequestDecoder.typeMismatch(codingPath, expected: "a string") }
        return string
    }

    func decode(_ type: Double.Type) throws -> Double {
        guard let number = value.double else { throw RequestDecoder.typeMismatch(codingPath, expected: "a number") }
        return number
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func decode(_ type: Int.Type) throws -> Int {
        // Only a JSON integer as written: `3.0` and `3e0` are refused, not converted.
        guard case .integer(let integer) = value else { throw RequestDecoder.typeMismatch(codingPath, expected: "an integer") }
        return integer
    }

    /// A fixed-width integer: a JSON integer that fits `T`.
    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard case .integer(let integer) = value, let exact = T(exactly: integer) else {
            throw RequestDecoder.typeMismatch(codingPath, expected: "an integer from \(T.min) to \(T.max)")
        }
        return exact
    }

    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
}

/// The members of a request object, by key. A member that is `null` counts as absent, as clients send
/// `"dimensions": null` to mean "the default".
private struct RequestKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: JSONObject
    let codingPath: [any CodingKey]

    var allKeys: [Key] { object.members.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    func decodeNil(forKey key: Key) throws -> Bool { object[key.stringValue]?.isNull ?? true }

    /// The decoder of the member `key`; missing or `null` is a 400 ("is required").
    private func member(_ key: Key) throws -> RequestValueDecoder {
        guard let value = object[key.stringValue], !value.isNull else { throw RequestDecoder.missing(codingPath + [key]) }
        return RequestValueDecoder(value: value, codingPath: codingPath + [key])
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try member(key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try member(key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try member(key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try member(key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try member(key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try member(key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try member(key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try member(key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try member(key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try member(key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try member(key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try member(key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try member(key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try member(key).decode(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try T(from: member(key)) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try member(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try member(key).unkeyedContainer() }

    func superDecoder() throws -> any Decoder { RequestValueDecoder(value: .object(object), codingPath: codingPath) }

    func superDecoder(forKey key: Key) throws -> any Decoder { try member(key) }
}

/// The elements of a request array, in order.
private struct RequestUnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(elements: [JSONValue], codingPath: [any CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    /// The decoder of the next element (and moves past it); past the end is a 400 naming the element.
    private mutating func next() throws -> RequestValueDecoder {
        let path = codingPath + [ArrayIndexKey(currentIndex)]
        guard !isAtEnd else { throw RequestDecoder.missing(path) }
        defer { currentIndex += 1 }
        return RequestValueDecoder(value: elements[currentIndex], codingPath: path)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decode(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next().decode(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().decode(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().decode(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().decode(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decode(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decode(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decode(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decode(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decode(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decode(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decode(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decode(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decode(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: next()) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { try next() }
}

extension RequestDecoder {
    /// Throws the 400 for a body that is not a JSON object. Routes check this before they check that their
    /// model is loaded, and decode the fields after, so each error is reported in that order.
    static func requireObject(_ body: JSONValue) throws {
        guard case .object = body else { throw typeMismatch([], expected: "an object") }
    }
}
