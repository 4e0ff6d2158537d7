import Foundation
import ModelFormats
import Testing
@testable import Server

@Suite("Strict JSON reader")
struct StrictJSONTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(requestBody: Data(text.utf8)) }

    @Test("RFC 8259 documents parse; integers stay integers, other numbers are doubles")
    func valid() throws {
        #expect(try parse(#"{"a": [1, -2, 0], "b": "x\ny\u00e9\ud83d\ude00", "c": true, "d": null, "e": 1.5, "f": 1e2}"#) == .object([
            "a": .array([.integer(1), .integer(-2), .integer(0)]), "b": .string("x\nyé😀"), "c": .bool(true), "d": .null,
            "e": .number(1.5), "f": .number(100),
        ]))
        #expect(try parse(" [ ] ") == .array([]))
        #expect(try parse("{}") == .object([:]))
        #expect(try parse("12345678901234567890") == .number(12345678901234567890))
        #expect(try parse("-0") == .integer(0))
    }

    @Test("Trailing commas, comments, leading zeros, bare words, control characters, bad escapes are 400s")
    func invalid() {
        for text in [
            "[1,2,]", #"{"a":1,}"#, "[,1]", "{,}", "01", "1.", ".5", "+1", "1e", "NaN", "Infinity", "[1 2]", #"{"a" 1}"#,
            "// x\n1", "\"a\u{01}b\"", #""\x""#, #""\ud800""#, #""\udc00x""#, "tru", "nul", "[1]x", "", "\"open",
            String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
        ] {
            #expect(throws: APIError.self, "\(text.debugDescription)") { try parse(text) }
        }
        // Invalid UTF-8 inside a string.
        #expect(throws: APIError.self) { try JSONValue.parse(requestBody: Data([0x22, 0xFF, 0x22])) }
    }

    @Test("Token ids and integer fields accept only JSON integers")
    func integers() throws {
        #expect(try parse("100").integer == 100)
        #expect(try parse("1e2").integer == nil)
        #expect(try parse("1.0").integer == nil)
        struct Request: Decodable { var n: Int? }
        let request = try parse(#"{"n": 1.0}"#)
        #expect(throws: APIError.self) { try RequestDecoder.decode(Request.self, from: request) }
    }

    @Test("Error messages escape control characters")
    func escaping() {
        let error = APIError.badRequest("name \u{1B}[31mred\u{7}\n")
        #expect(error.message == "name \\u{1b}[31mred\\u{7}\\u{a}")
        #expect(escapingControlCharacters("plain é") == "plain é")
    }
}

@Suite("Quantized embedding types")
struct QuantizationTests {
    // Hand-computed from the definitions in EmbeddingQuantization's documentation.
    let vector: [Float] = [1, -1, 0.5, -0.5, 0, 0.003, -0.004, 0.25, 0.9, -0.2]

    @Test("int8 = round(127x) clamped; uint8 = int8 + 128")
    func scalar() {
        // 0.5*127 = 63.5 -> 64 (ties away from zero); 0.003*127 = 0.381 -> 0; -0.004*127 = -0.508 -> -1;
        // 0.25*127 = 31.75 -> 32; 0.9*127 = 114.3 -> 114; -0.2*127 = -25.4 -> -25.
        #expect(EmbeddingQuantization.int8(vector) == [127, -127, 64, -64, 0, 0, -1, 32, 114, -25])
        #expect(EmbeddingQuantization.uint8(vector) == [255, 1, 192, 64, 128, 128, 127, 160, 242, 103])
        #expect(EmbeddingQuantization.int8([2, -2]) == [127, -128])
    }

    @Test("ubinary packs x > 0 bits MSB first; binary = ubinary - 128")
    func binary() {
        // Bits: 1 0 1 0 0 1 0 1 | 1 0 (padded with six zeros) -> 0b10100101 = 165, 0b10000000 = 128.
        #expect(EmbeddingQuantization.ubinary(vector) == [165, 128])
        #expect(EmbeddingQuantization.binary(vector) == [37, 0])
        #expect(EmbeddingQuantization.ubinary([Float](repeating: -1, count: 16)) == [0, 0])
        #expect(EmbeddingQuantization.binary([Float](repeating: 1, count: 8)) == [127])
    }

    @Test("base64 is little-endian float32")
    func base64() {
        // 1.0f = 00 00 80 3F; -2.0f = 00 00 00 C0.
        #expect(EmbeddingQuantization.base64([1, -2]) == Data([0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]).base64EncodedString())
    }
}
