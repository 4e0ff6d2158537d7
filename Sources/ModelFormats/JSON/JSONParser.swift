import Foundation

/// Why a JSON text was rejected, and the byte offset where parsing stopped (for the error message).
package struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong, e.g. `expected ',' or ']'` or `duplicate key "a"`.
    package let reason: String
    /// The offset of the offending byte from the start of the parsed bytes.
    package let offset: Int

    /// An error for `reason` at byte `offset`.
    package init(reason: String, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// `reason at byte offset`.
    package var description: String { "\(reason) at byte \(offset)" }
}

/// How tolerant `JSONValue.parse` is beyond the RFC 8259 grammar, which it always enforces (no trailing
/// commas, comments, leading zeros, bare words, raw control characters, invalid UTF-8 or lone surrogates).
package struct JSONParsingOptions: Sendable {
    /// What to do with an object that names the same key twice (keys compared by UTF-8 bytes).
    package enum DuplicateKeys: Sendable {
        /// A syntax error at the second key: two tensors of one name in a safetensors header, or two
        /// values for one field, must not be resolved by guessing.
        case reject
        /// Keep every member; lookup finds the last, as serde (and so `tokenizers`) does.
        case keepAll
    }

    /// Which spellings of a number are read.
    package enum NumberSyntax: Sendable {
        /// RFC 8259 only: no leading zeros, no `+`, digits on both sides of a `.`.
        case rfc8259
        /// Also whatever `Double(String)` reads from the characters `0-9 + - . e E` (`09`, `+1`, `.5`, `1.`),
        /// as the tokenizer reader always has: a hand-edited or fuzzed `tokenizer.json` with such an id loads.
        case permissive
    }

    /// The duplicate-key policy.
    package var duplicateKeys: DuplicateKeys
    /// The number syntax.
    package var numberSyntax: NumberSyntax
    /// The deepest nesting of arrays and objects accepted (a top-level `[]` is depth 1), so a hostile
    /// input cannot exhaust the stack of the recursive parser.
    package var maximumDepth: Int

    /// Options with the given policies and depth limit.
    package init(duplicateKeys: DuplicateKeys, numberSyntax: NumberSyntax = .rfc8259, maximumDepth: Int) {
        self.duplicateKeys = duplicateKeys
        self.numberSyntax = numberSyntax
        self.maximumDepth = maximumDepth
    }

    /// Duplicate keys rejected, 64 levels (safetensors headers and index files are three deep).
    package static let strict = JSONParsingOptions(duplicateKeys: .reject, maximumDepth: 64)
    /// Duplicate keys kept (last wins, as serde reads `tokenizer.json`), permissive numbers, 512 levels.
    package static let lenient = JSONParsingOptions(duplicateKeys: .keepAll, numberSyntax: .permissive, maximumDepth: 512)

    /// These options with a different depth limit.
    package func maximumDepth(_ depth: Int) -> JSONParsingOptions {
        var options = self
        options.maximumDepth = depth
        return options
    }
}

extension JSONValue {
    /// Parses `bytes` as exactly one JSON value surrounded by optional whitespace.
    ///
    /// Why a parser of our own: Foundation's readers accept trailing commas, turn `2.0` and `1e2` into
    /// integers, keep one of two duplicate keys without a word, and bridge every value through `NSObject`
    /// (a second or more for the 11 MB Qwen `tokenizer.json`, mostly its 150 000 vocabulary entries).
    /// This one reads straight into Swift values, keeps integers exact, and reports the byte offset of
    /// the first error.
    package static func parse(_ bytes: UnsafeRawBufferPointer, options: JSONParsingOptions) throws(JSONSyntaxError) -> JSONValue {
        try bytes.withMemoryRebound(to: UInt8.self) { buffer throws(JSONSyntaxError) -> JSONValue in
            var parser = JSONParser(bytes: buffer, options: options)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.position == buffer.count else { throw parser.error("unexpected data after the JSON value") }
            return value
        }
    }

    /// Parses contiguous bytes (`Data`, `[UInt8]`) as exactly one JSON value; see `parse(_:options:)`.
    package static func parse(_ bytes: some ContiguousBytes, options: JSONParsingOptions) throws(JSONSyntaxError) -> JSONValue {
        // `withUnsafeBytes` rethrows untyped errors; a `Result` carries the typed one out.
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONSyntaxError) -> JSONValue in try parse(buffer, options: options) }
        }
        return try result.get()
    }
}

/// The recursive-descent parser behind `JSONValue.parse`, over the bytes in place (nothing is copied
/// but the strings it returns).
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let options: JSONParsingOptions
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>, options: JSONParsingOptions) {
        self.bytes = bytes
        self.options = options
    }

    func error(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(reason: reason, offset: position) }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// A value that sits inside `depth` arrays and objects.
    mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of JSON") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        default:
            switch options.numberSyntax {
            case .rfc8259 where byte == UInt8(ascii: "-") || Self.isDigit(byte): return try parseNumber()
            case .permissive where Self.isPermissiveNumberByte(byte): return try parsePermissiveNumber()
            default: throw error("unexpected character")
            }
        }
    }

    func checkDepth(_ depth: Int) throws(JSONSyntaxError) {
        // "nesting" and "nested deeper" both appear: callers' messages (and their tests) use either word.
        guard depth <= options.maximumDepth else {
            throw error("nested deeper than \(options.maximumDepth) levels (the nesting limit)")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard count <= bytes.count - position else { throw error("invalid literal") }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for index in 0..<count where bytes[position + index] != expected[index] { throw error("invalid literal") }
        position += count
    }

    mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        try checkDepth(depth)
        position += 1  // "{"
        var members: [JSONObject.Member] = []
        var seenKeys = Set<UTF8Key>()
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return .object(JSONObject(members)) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw error(current == UInt8(ascii: "}") && !members.isEmpty ? "trailing comma" : "expected a string key")
            }
            let keyStart = position
            let key = try parseString()
            if options.duplicateKeys == .reject, Self.isDuplicate(key, in: members, seen: &seenKeys) {
                throw JSONSyntaxError(reason: "duplicate key \"\(key)\"", offset: keyStart)
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            members.append((key: key, value: try parseValue(depth: depth)))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(JSONObject(members))
            case nil: throw error("unexpected end of JSON")
            default: throw error("expected ',' or '}'")
            }
        }
    }

    /// Whether `key` already names one of `members`. Small objects are scanned; past a few members the
    /// keys go into `seen` (hashed by bytes) so a hostile object with many keys stays linear.
    static func isDuplicate(_ key: String, in members: [JSONObject.Member], seen: inout Set<UTF8Key>) -> Bool {
        let scanLimit = 8
        if members.count < scanLimit {
            return members.contains { $0.key.utf8.elementsEqual(key.utf8) }
        }
        if seen.isEmpty { for member in members { seen.insert(UTF8Key(member.key)) } }
        return !seen.insert(UTF8Key(key)).inserted
    }

    mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        try checkDepth(depth)
        position += 1  // "["
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return .array(elements) }
        while true {
            skipWhitespace()
            if current == UInt8(ascii: "]"), !elements.isEmpty { throw error("trailing comma") }
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            case nil: throw error("unexpected end of JSON")
            default: throw error("expected ',' or ']'")
            }
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    /// A number. Integers are accumulated digit by digit (no string, no `Double`): a vocabulary is
    /// 150 000 of them. Anything with a fraction or exponent, or too large for `Int`, goes through
    /// `Double`'s correctly rounded parser and must be finite.
    mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = position
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        guard let first = current, Self.isDigit(first) else { throw error("invalid number") }
        var value = 0
        var overflow = false
        if first == UInt8(ascii: "0") {
            position += 1
            if let next = current, Self.isDigit(next) { throw error("leading zero in number") }
        } else {
            while position < bytes.count, Self.isDigit(bytes[position]) {
                let digit = Int(bytes[position] &- UInt8(ascii: "0"))
                let (scaled, scaleOverflow) = value.multipliedReportingOverflow(by: 10)
                // Accumulating negative numbers downwards reaches Int.min exactly.
                let (next, addOverflow) = negative
                    ? scaled.subtractingReportingOverflow(digit) : scaled.addingReportingOverflow(digit)
                overflow = overflow || scaleOverflow || addOverflow
                value = next
                position += 1
            }
        }
        var isInteger = true
        if current == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard let byte = current, Self.isDigit(byte) else { throw error("invalid number") }
            while let byte = current, Self.isDigit(byte) { position += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let byte = current, Self.isDigit(byte) else { throw error("invalid number") }
            while let byte = current, Self.isDigit(byte) { position += 1 }
        }
        if isInteger && !overflow { return .integer(value) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let number = Double(text), number.isFinite else {
            throw JSONSyntaxError(reason: "number out of range", offset: start)
        }
        return .number(number)
    }

    static func isPermissiveNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
             UInt8(ascii: "e"), UInt8(ascii: "E"):
            true
        default:
            false
        }
    }

    /// A number in `NumberSyntax.permissive`: the longest run of number characters, read by `Int` when it
    /// has no fraction or exponent and fits, else by `Double` (and then it must be finite).
    mutating func parsePermissiveNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = position
        var isInteger = true
        while position < bytes.count, Self.isPermissiveNumberByte(bytes[position]) {
            switch bytes[position] {
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): isInteger = false
            default: break
            }
            position += 1
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger, let integer = Int(text) { return .integer(integer) }
        guard let number = Double(text) else { throw JSONSyntaxError(reason: "invalid number", offset: start) }
        guard number.isFinite else { throw JSONSyntaxError(reason: "number out of range", offset: start) }
        return .number(number)
    }

    /// A string starting at its opening quote.
    mutating func parseString() throws(JSONSyntaxError) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes, the bytes are the string (validated as UTF-8 in one pass).
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                guard let string = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self) else {
                    throw JSONSyntaxError(reason: "string is not valid UTF-8", offset: start)
                }
                position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("control character in string") }
            position += 1
        }
        var buffer = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                // Bytes are copied verbatim except escapes, so invalid UTF-8 in the input is caught here.
                guard let string = String(validating: buffer, as: UTF8.self) else {
                    throw JSONSyntaxError(reason: "string is not valid UTF-8", offset: start)
                }
                position += 1
                return string
            case UInt8(ascii: "\\"):
                position += 1
                guard let escape = current else { throw error("unterminated string") }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escape)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"): try appendUnicodeEscape(to: &buffer)
                default: throw error("invalid escape")
                }
            case 0x00..<0x20:
                throw error("control character in string")
            default:
                buffer.append(byte)
                position += 1
            }
        }
        throw error("unterminated string")
    }

    /// The scalar of a `\uXXXX` escape (after the `u`), joining a surrogate pair, appended as UTF-8.
    mutating func appendUnicodeEscape(to buffer: inout [UInt8]) throws(JSONSyntaxError) {
        var scalar = try parseHexQuad()
        if (0xD800..<0xDC00).contains(scalar) {
            // A high surrogate must be followed by an escaped low surrogate.
            guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"),
                  bytes[position + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
            position += 2
            let low = try parseHexQuad()
            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        // Only a lone low surrogate is not a scalar here.
        guard let unicode = Unicode.Scalar(scalar) else { throw error("unpaired surrogate") }
        UTF8.encode(unicode) { buffer.append($0) }
    }

    mutating func parseHexQuad() throws(JSONSyntaxError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}

/// A `String` hashed and compared by its UTF-8 bytes: JSON keys are code-unit sequences, and hashing
/// bytes skips the Unicode normalisation that `String`'s own hashing does for non-ASCII text.
private struct UTF8Key: Hashable {
    let string: String

    init(_ string: String) { self.string = string }

    func hash(into hasher: inout Hasher) {
        let hashed: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil { for byte in string.utf8 { hasher.combine(byte) } }
        hasher.combine(string.utf8.count)
    }

    static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool { lhs.string.utf8.elementsEqual(rhs.string.utf8) }
}
