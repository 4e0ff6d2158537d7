/// GPT-2's reversible byte ↔ printable-character map, used by byte-level BPE so every byte sequence has
/// a spelling in the vocabulary (`Ġ` is the space byte, `Ċ` the newline…).
enum ByteLevel {
    /// The character standing for each byte value.
    static let characterForByte: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Character(Unicode.Scalar(UInt32(byte))!)
            } else {
                table[byte] = Character(Unicode.Scalar(next)!)
                next += 1
            }
        }
        return table
    }()

    /// The byte each mapped character stands for.
    static let byteForScalar: [UInt32: UInt8] = {
        var table: [UInt32: UInt8] = [:]
        for (byte, character) in characterForByte.enumerated() {
            table[character.unicodeScalars.first!.value] = UInt8(byte)
        }
        return table
    }()

    /// Bytes of a byte-level token spelling; nil if a character is outside the map.
    static func bytes(of token: String) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = byteForScalar[scalar.value] else { return nil }
            result.append(byte)
        }
        return result
    }
}
