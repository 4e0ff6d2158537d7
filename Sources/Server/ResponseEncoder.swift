import Foundation
import Hummingbird
import ModelFormats

/// The one encoder of every JSON the server writes: response bodies, error bodies, log lines.
///
/// Compact JSON, object keys in sorted order (stable output that tests and people can diff), strings
/// through the package's one escaper. Numbers are written as they always have been here: a `Float` in
/// Swift's shortest round-trip form (`0.1`, `1e-05`; exact when read back as float32), a `Double` that is
/// a whole number below 10^15 as an integer and any other `Double` in its shortest form, non-finite
/// numbers as `null`.
///
/// Why not `JSONEncoder`: embedding vectors are the bulk of every response, and `JSONEncoder` boxes each
/// number; here a `[Float]` is written in one pass, straight to bytes. Each nested value is turned into
/// text as soon as its own `encode(to:)` returns, so a large response never exists as a tree.
enum ResponseEncoder {
    /// The JSON text of `value`.
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var output: [UInt8] = []
        try write(value, codingPath: [], into: &output)
        return output
    }

    /// The JSON text of `value` as a `String` (log lines).
    static func encodeToString<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    /// Appends the JSON text of `value` to `output`: scalars and float vectors directly, anything else
    /// through its `encode(to:)`.
    static func write<T: Encodable>(_ value: T, codingPath: [any CodingKey], into output: inout [UInt8]) throws {
        switch value {
        case let floats as [Float]: writeFloats(floats, into: &output)
        case let string as String: writeJSONString(string, into: &output)
        case let integer as Int: writeInteger(integer, into: &output)
        // Float before Double: a cast must never widen a Float (its text would change).
        case let number as Float: writeFloat(number, into: &output)
        case let number as Double: writeDouble(number, into: &output)
        case let bool as Bool: writeBool(bool, into: &output)
        default:
            let encoder = ValueEncoder(codingPath: codingPath)
            try value.encode(to: encoder)
            encoder.writeResult(into: &output)
        }
    }

    static func writeFloats(_ values: [Float], into output: inout [UInt8]) {
        // About 11 bytes per float in practice ("-0.01234567,").
        output.reserveCapacity(output.count + values.count * 12 + 2)
        output.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            writeFloat(value, into: &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    static func writeFloat(_ value: Float, into output: inout [UInt8]) {
        if value.isFinite { output.append(contentsOf: value.description.utf8) } else { writeNull(into: &output) }
    }

    static func writeDouble(_ value: Double, into output: inout [UInt8]) {
        if !value.isFinite {
            writeNull(into: &output)
        } else if value == value.rounded(), abs(value) < 1e15 {
            output.append(contentsOf: String(Int64(value)).utf8)
        } else {
            output.append(contentsOf: value.description.utf8)
        }
    }

    static func writeInteger<T: BinaryInteger>(_ value: T, into output: inout [UInt8]) {
        output.append(contentsOf: String(value).utf8)
    }

    static func writeBool(_ value: Bool, into output: inout [UInt8]) {
        output.append(contentsOf: (value ? "true" : "false").utf8)
    }

    static func writeNull(into output: inout [UInt8]) { output.append(contentsOf: "null".utf8) }
}

/// A JSON response with `value` as its body.
func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    let bytes: [UInt8]
    do {
        bytes = try ResponseEncoder.encode(value)
    } catch {
        // Only a type whose own `encode(to:)` throws gets here; the server's response types never do.
        bytes = Array(#"{"error":"internal error: the response could not be encoded","error_type":"Backend"}"#.utf8)
        return Response(
            status: .internalServerError, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
}

/// A parsed or hand-built JSON document (the OpenAPI description), encoded member by member.
struct JSONDocument: Encodable {
    let value: JSONValue

    init(_ value: JSONValue) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let bool):
            var container = encoder.singleValueContainer()
            try container.encode(bool)
        case .integer(let integer):
            var container = encoder.singleValueContainer()
            try container.encode(integer)
        case .number(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .string(let string):
            var container = encoder.singleValueContainer()
            try container.encode(string)
        case .array(let elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(JSONDocument(element)) }
        case .object(let object):
            var container = encoder.container(keyedBy: NameKey.self)
            for member in object { try container.encode(JSONDocument(member.value), forKey: NameKey(member.key)) }
        }
    }
}

/// A coding key that is any member name (objects whose keys are data: metadata, schema properties).
struct NameKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension JSONObject {
    /// An object with `dictionary`'s members (in key order; the encoder sorts keys anyway).
    init(_ dictionary: [String: JSONValue]) {
        self.init(dictionary.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) })
    }
}

// MARK: - The encoder

/// Part of a value being encoded: finished JSON text, a container created by `nestedContainer` whose
/// members may still arrive, or a `superEncoder`'s value (known once the parent is written).
private enum EncodedPart {
    case text([UInt8])
    case container(ContainerStorage)
    case deferred(ValueEncoder)

    func write(into output: inout [UInt8]) {
        switch self {
        case .text(let text): output.append(contentsOf: text)
        case .container(let storage): storage.write(into: &output)
        case .deferred(let encoder): encoder.writeResult(into: &output)
        }
    }
}

/// An object's members or an array's elements while they are encoded (a class: containers are value
/// types that share it).
private final class ContainerStorage {
    let isObject: Bool
    /// Object members, in the order first encoded; written sorted by key.
    var members: [(key: String, value: EncodedPart)] = []
    /// Array elements before `text`: finished runs of comma-separated text and nested containers, in order.
    var parts: [EncodedPart] = []
    /// The current run of array text (consecutive scalar elements share one buffer).
    var text: [UInt8] = []
    var count = 0

    init(isObject: Bool) { self.isObject = isObject }

    func set(_ key: String, _ value: EncodedPart) {
        // Encoding a key twice replaces its value, as in Foundation's encoder.
        if let index = members.firstIndex(where: { $0.key == key }) { members[index].value = value } else { members.append((key, value)) }
    }

    /// Starts the next array element's text (after a comma if it is not the first).
    func beginElement() {
        if count > 0 { text.append(UInt8(ascii: ",")) }
        count += 1
    }

    /// Appends an element whose text is not known yet.
    func appendPending(_ part: EncodedPart) {
        beginElement()
        parts.append(.text(text))
        parts.append(part)
        text = []
    }

    func write(into output: inout [UInt8]) {
        if isObject {
            output.append(UInt8(ascii: "{"))
            for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                writeJSONString(member.key, into: &output)
                output.append(UInt8(ascii: ":"))
                member.value.write(into: &output)
            }
            output.append(UInt8(ascii: "}"))
        } else {
            output.append(UInt8(ascii: "["))
            for part in parts { part.write(into: &output) }
            output.append(contentsOf: text)
            output.append(UInt8(ascii: "]"))
        }
    }
}

/// The `Encoder` a value's `encode(to:)` writes into; `result` is what it wrote.
private final class ValueEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var result: EncodedPart?

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    /// The container storage of this value, created on first use (a type may ask for its container twice).
    func storage(isObject: Bool) -> ContainerStorage {
        if case .container(let storage)? = result, storage.isObject == isObject { return storage }
        let storage = ContainerStorage(isObject: isObject)
        result = .container(storage)
        return storage
    }

    /// What was encoded; a value that encoded nothing is an empty object, as with Foundation's encoder.
    func writeResult(into output: inout [UInt8]) {
        if let result { result.write(into: &output) } else { output.append(contentsOf: "{}".utf8) }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(storage: storage(isObject: true), codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(storage: storage(isObject: false), codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(encoder: self) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let storage: ContainerStorage
    let codingPath: [any CodingKey]

    /// Sets member `key` to the text `write` produces.
    private func set(_ key: Key, _ write: (inout [UInt8]) throws -> Void) rethrows {
        var text: [UInt8] = []
        try write(&text)
        storage.set(key.stringValue, .text(text))
    }

    mutating func encodeNil(forKey key: Key) throws { set(key) { ResponseEncoder.writeNull(into: &$0) } }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(key) { ResponseEncoder.writeBool(value, into: &$0) } }
    mutating func encode(_ value: String, forKey key: Key) throws { set(key) { writeJSONString(value, into: &$0) } }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(key) { ResponseEncoder.writeDouble(value, into: &$0) } }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(key) { ResponseEncoder.writeFloat(value, into: &$0) } }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(key) { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let path = codingPath + [key]
        try set(key) { try ResponseEncoder.write(value, codingPath: path, into: &$0) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = ContainerStorage(isObject: true)
        storage.set(key.stringValue, .container(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(storage: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ContainerStorage(isObject: false)
        storage.set(key.stringValue, .container(nested))
        return UnkeyedContainer(storage: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(name: "super") }

    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(name: key.stringValue) }

    private func superEncoder(name: String) -> any Encoder {
        let encoder = ValueEncoder(codingPath: codingPath + [NameKey(name)])
        storage.set(name, .deferred(encoder))
        return encoder
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let storage: ContainerStorage
    let codingPath: [any CodingKey]
    var count: Int { storage.count }

    mutating func encodeNil() throws { storage.beginElement(); ResponseEncoder.writeNull(into: &storage.text) }
    mutating func encode(_ value: Bool) throws {
        storage.beginElement()
        ResponseEncoder.writeBool(value, into: &storage.text)
    }
    mutating func encode(_ value: String) throws {
        storage.beginElement()
        writeJSONString(value, into: &storage.text)
    }
    mutating func encode(_ value: Double) throws {
        storage.beginElement()
        ResponseEncoder.writeDouble(value, into: &storage.text)
    }
    mutating func encode(_ value: Float) throws {
        storage.beginElement()
        ResponseEncoder.writeFloat(value, into: &storage.text)
    }
    mutating func encode(_ value: Int) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: Int8) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: Int16) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: Int32) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: Int64) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: UInt) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: UInt8) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: UInt16) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: UInt32) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode(_ value: UInt64) throws {
        storage.beginElement()
        ResponseEncoder.writeInteger(value, into: &storage.text)
    }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [ArrayIndexKey(storage.count)]
        storage.beginElement()
        try ResponseEncoder.write(value, codingPath: path, into: &storage.text)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ContainerStorage(isObject: true)
        let path = codingPath + [ArrayIndexKey(storage.count)]
        storage.appendPending(.container(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(storage: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ContainerStorage(isObject: false)
        let path = codingPath + [ArrayIndexKey(storage.count)]
        storage.appendPending(.container(nested))
        return UnkeyedContainer(storage: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = ValueEncoder(codingPath: codingPath + [ArrayIndexKey(storage.count)])
        storage.appendPending(.deferred(encoder))
        return encoder
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    /// Makes the text `write` produces this value's.
    private func set(_ write: (inout [UInt8]) throws -> Void) rethrows {
        var text: [UInt8] = []
        try write(&text)
        encoder.result = .text(text)
    }

    mutating func encodeNil() throws { set { ResponseEncoder.writeNull(into: &$0) } }
    mutating func encode(_ value: Bool) throws { set { ResponseEncoder.writeBool(value, into: &$0) } }
    mutating func encode(_ value: String) throws { set { writeJSONString(value, into: &$0) } }
    mutating func encode(_ value: Double) throws { set { ResponseEncoder.writeDouble(value, into: &$0) } }
    mutating func encode(_ value: Float) throws { set { ResponseEncoder.writeFloat(value, into: &$0) } }
    mutating func encode(_ value: Int) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: Int8) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: Int16) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: Int32) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: Int64) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt8) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt16) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt32) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode(_ value: UInt64) throws { set { ResponseEncoder.writeInteger(value, into: &$0) } }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath
        try set { try ResponseEncoder.write(value, codingPath: path, into: &$0) }
    }
}
