/// The package's one JSON string escaper: every place that writes JSON text by hand (safetensors
/// headers, the CLI's JSON Lines, the server's responses) goes through these, so they all agree.
///
/// Escaped: `"` and `\`, and the C0 controls U+0000–U+001F — `\b \f \n \r \t` in their short forms,
/// the others as `\u00xx` (lowercase hex). Everything else is written verbatim as UTF-8, `/` and
/// U+2028/U+2029 included. That is RFC 8259's minimum and byte for byte what Python's
/// `json.dumps(ensure_ascii=False)`, serde_json and Foundation's `JSONSerialization` (without slash
/// escaping) write.
private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// The escape sequence for `byte`, or nil when the byte is written as it is. Only ASCII bytes are ever
/// escaped, so a run of unescaped bytes never splits a UTF-8 sequence.
@inline(__always)
private func escapeSequence(for byte: UInt8) -> (count: Int, bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8))? {
    switch byte {
    case UInt8(ascii: "\""): (2, (0x5C, 0x22, 0, 0, 0, 0))
    case UInt8(ascii: "\\"): (2, (0x5C, 0x5C, 0, 0, 0, 0))
    case 0x08: (2, (0x5C, UInt8(ascii: "b"), 0, 0, 0, 0))
    case 0x0C: (2, (0x5C, UInt8(ascii: "f"), 0, 0, 0, 0))
    case 0x0A: (2, (0x5C, UInt8(ascii: "n"), 0, 0, 0, 0))
    case 0x0D: (2, (0x5C, UInt8(ascii: "r"), 0, 0, 0, 0))
    case 0x09: (2, (0x5C, UInt8(ascii: "t"), 0, 0, 0, 0))
    case 0x00..<0x20:
        (6, (0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]))
    default: nil
    }
}

/// Appends `value` as a JSON string literal, quotes included, to `output`.
package func writeJSONString(_ value: String, into output: inout [UInt8]) {
    output.append(UInt8(ascii: "\""))
    for byte in value.utf8 {
        if let escape = escapeSequence(for: byte) {
            withUnsafeBytes(of: escape.bytes) { output.append(contentsOf: $0.prefix(escape.count)) }
        } else {
            output.append(byte)
        }
    }
    output.append(UInt8(ascii: "\""))
}

/// Appends `value` as a JSON string literal, quotes included, to `output`.
package func writeJSONString(_ value: String, into output: inout String) {
    output.append("\"")
    // Unescaped runs are appended whole. Their ends sit next to ASCII bytes, so they are scalar-aligned,
    // but not always character-aligned (a combining mark may follow an escaped quote): they are cut
    // through the scalar view, which does not round to grapheme boundaries as `String`'s subscript does.
    let utf8 = value.utf8
    var runStart = utf8.startIndex
    var index = runStart
    while index != utf8.endIndex {
        let next = utf8.index(after: index)
        if let escape = escapeSequence(for: utf8[index]) {
            output.append(contentsOf: Substring(value.unicodeScalars[runStart..<index]))
            withUnsafeBytes(of: escape.bytes) { output.append(String(decoding: $0.prefix(escape.count), as: UTF8.self)) }
            runStart = next
        }
        index = next
    }
    output.append(contentsOf: Substring(value.unicodeScalars[runStart..<utf8.endIndex]))
    output.append("\"")
}

/// `value` as a JSON string literal, quotes included.
package func jsonStringLiteral(_ value: String) -> String {
    var output = ""
    output.reserveCapacity(value.utf8.count + 2)
    writeJSONString(value, into: &output)
    return output
}
