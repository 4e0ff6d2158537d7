/// GPT-2's reversible byte ↔ printable-character map (`bytes_to_unicode`), used by byte-level BPE so
/// every byte sequence has a spelling in the vocabulary (`Ġ` is the space byte, `Ċ` the newline…).
enum ByteLevel {
    /// The scalar standing for each byte value: printable Latin-1 bytes stand for themselves, the
    /// others are numbered from U+0100 in byte order.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte each mapped scalar stands for, indexed by scalar value (all are below U+0144).
    private static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// The one-character vocabulary spelling of a byte.
    static func spelling(of byte: UInt8) -> String { String(Character(scalarForByte[Int(byte)])) }

    /// Appends the bytes a token spelling stands for, as the `ByteLevel` decoder of `tokenizers` does:
    /// if any character is outside the map (added tokens such as `<|endoftext|>` contain none, but a
    /// space would be one), the token's own UTF-8 is used instead.
    static func appendBytes(of token: String, to bytes: inout [UInt8]) {
        let start = bytes.count
        for scalar in token.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForScalar.count, byteForScalar[value] >= 0 else {
                bytes.removeSubrange(start...)
                bytes.append(contentsOf: token.utf8)
                return
            }
            bytes.append(UInt8(byteForScalar[value]))
        }
    }

    /// The byte sequence a spelling stands for, or nil if it has a character outside the map.
    static func bytes(of token: String) -> [UInt8]? {
        var result: [UInt8] = []
        for scalar in token.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForScalar.count, byteForScalar[value] >= 0 else { return nil }
            result.append(UInt8(byteForScalar[value]))
        }
        return result
    }
}
