/// A parsed JSON document, as the package's one JSON parser produces it (see `JSONValue.parse`).
///
/// Integers are kept apart from other numbers so that a field that must be an integer (a safetensors
/// shape, a token id) can reject `2.0`, `1e2` or `true` instead of silently converting them, and so
/// that integers never lose precision in a round trip through `Double`.
package enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in `Int` (`-0` is `.integer(0)`).
    case integer(Int)
    /// Any other number: written with a fraction or an exponent, or too large for `Int`. Always finite.
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// An object, members in file order (see `JSONObject` for why it is not a `Dictionary`).
    case object(JSONObject)
}

/// The members of a JSON object in file order, with lookup by key.
///
/// Not a `Dictionary`: hashing a non-ASCII `String` goes through Unicode normalisation, and a
/// byte-level tokenizer vocabulary is 150 000 such keys, which would dominate loading `tokenizer.json`.
/// Keys compare by their UTF-8 bytes (JSON names are code-unit sequences; `"é"` and `"e\u0301"` are
/// different keys). When a file repeats a key and was parsed with `DuplicateKeys.keepAll`, every member
/// stays in the sequence and lookup finds the last one, as serde does.
package struct JSONObject: Sendable, Equatable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// One member: its key and value.
    package typealias Member = (key: String, value: JSONValue)

    /// The members in file order.
    package var members: [Member]

    /// An object with `members`, in that order.
    package init(_ members: [Member] = []) { self.members = members }

    /// An object with the literal's members in source order (tests and hand-built values).
    package init(dictionaryLiteral elements: (String, JSONValue)...) {
        members = elements.map { (key: $0.0, value: $0.1) }
    }

    package var startIndex: Int { members.startIndex }
    package var endIndex: Int { members.endIndex }
    package subscript(position: Int) -> Member { members[position] }

    /// The value of the last member named `key`, or nil when there is none.
    package subscript(key: String) -> JSONValue? {
        // A reverse linear scan: objects looked up by key are small (a tokenizer's vocabulary is only
        // ever iterated), and a scan needs no hashing.
        var index = members.endIndex
        while index > members.startIndex {
            index -= 1
            if members[index].key.utf8.elementsEqual(key.utf8) { return members[index].value }
        }
        return nil
    }

    /// The same members with the same keys (byte for byte) and values, in the same order.
    package static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count
            && zip(lhs.members, rhs.members).allSatisfy { $0.key.utf8.elementsEqual($1.key.utf8) && $0.value == $1.value }
    }
}

extension JSONValue {
    /// The value of the object member named `key` (the last one if the key repeats); nil when this is
    /// not an object or has no such member.
    package subscript(key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[key]
    }

    /// The string, if this is a string.
    package var string: String? { if case .string(let value) = self { value } else { nil } }
    /// The Boolean, if this is `true` or `false`.
    package var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    /// The integer, if this was written as a JSON integer (`3`, not `3.0` or `3e0`) that fits in `Int`.
    package var integer: Int? { if case .integer(let value) = self { value } else { nil } }
    /// Any number as a `Double` (an integer converts, rounding beyond 2^53).
    package var double: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }
    /// The elements, if this is an array.
    package var array: [JSONValue]? { if case .array(let value) = self { value } else { nil } }
    /// The members, if this is an object.
    package var object: JSONObject? { if case .object(let value) = self { value } else { nil } }
    /// Whether this is `null`.
    package var isNull: Bool { if case .null = self { true } else { false } }

    /// A short description of the kind of value, for error messages ("an array", "a string", …).
    package var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
