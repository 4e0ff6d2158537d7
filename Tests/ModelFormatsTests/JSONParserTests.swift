import Foundation
import Testing
import TestSupport
@testable import ModelFormats

/// The shared JSON parser's options and edge cases, and the shared string escaper. (The RFC 8259
/// grammar itself is covered by `StrictJSONTests`, the safetensors header tests and the tokenizer and
/// server suites that read through the same parser.)
@Suite struct JSONParserTests {
    func parse(_ text: String, _ options: JSONParsingOptions = .strict) throws(JSONSyntaxError) -> JSONValue {
        try JSONValue.parse(Array(text.utf8), options: options)
    }

    func error(_ text: String, _ options: JSONParsingOptions = .strict) -> JSONSyntaxError? {
        do {
            _ = try parse(text, options)
            return nil
        } catch {
            return error
        }
    }

    @Test func duplicateKeysAreRejectedWhenStrictAndKeptWhenLenient() throws {
        let text = #"{"a": 1, "b": 2, "a": 3}"#
        #expect(error(text) == JSONSyntaxError(reason: "duplicate key \"a\"", offset: 17))
        let lenient = try parse(text, .lenient)
        #expect(lenient["a"] == .integer(3), "the last duplicate wins, as serde reads tokenizer.json")
        #expect(lenient.object?.map(\.key) == ["a", "b", "a"], "every member is kept, in file order")
    }

    @Test func duplicateDetectionScalesPastTheScanLimit() throws {
        // Enough members that detection goes through the byte-hashed set rather than a scan.
        let keys = (0..<40).map { "k\($0)é" }
        let unique = "{" + keys.map { "\"\($0)\": 0" }.joined(separator: ",") + "}"
        #expect(try parse(unique).object?.count == 40)
        let repeated = "{" + (keys + ["k17é"]).map { "\"\($0)\": 0" }.joined(separator: ",") + "}"
        #expect(error(repeated)?.reason == "duplicate key \"k17é\"")
    }

    @Test func keysCompareByBytesNotByCanonicalEquivalence() throws {
        // "é" precomposed and "e" + combining acute are equal Swift Strings but different JSON names.
        let text = "{\"\u{E9}\": 1, \"e\u{301}\": 2}"
        let object = try parse(text)
        #expect(object.object?.count == 2)
        #expect(object["\u{E9}"] == .integer(1))
        #expect(object["e\u{301}"] == .integer(2))
    }

    @Test func depthLimitCountsContainers() throws {
        let options = JSONParsingOptions.strict.maximumDepth(5)
        let atLimit = String(repeating: "[", count: 5) + "1" + String(repeating: "]", count: 5)
        #expect(try parse(atLimit, options) != .null)
        let pastLimit = String(repeating: "[", count: 3) + "{\"a\": [[{}]]}" + String(repeating: "]", count: 3)
        let failure = error(pastLimit, options)
        #expect(failure?.reason == "nested deeper than 5 levels (the nesting limit)")
        #expect(failure?.offset == 10, "the offset of the first container past the limit")
        #expect(error(String(repeating: "[", count: 100_000))?.reason.contains("nested deeper than 64") == true)
        #expect(error(String(repeating: "[", count: 100_000), .lenient)?.reason.contains("nested deeper than 512") == true)
    }

    @Test func integersAreExactAndOtherNumbersFinite() throws {
        #expect(try parse("-9223372036854775808") == .integer(.min))
        #expect(try parse("9223372036854775807") == .integer(.max))
        #expect(try parse("-9223372036854775809") == .number(-9223372036854775809))
        #expect(try parse("-0") == .integer(0))
        #expect(try parse("[0, 10, -7, 123456789012]") == .array([.integer(0), .integer(10), .integer(-7), .integer(123_456_789_012)]))
        #expect(try parse("1.0") == .number(1))
        #expect(try parse("2E-3") == .number(0.002))
        #expect(error("1e400") == JSONSyntaxError(reason: "number out of range", offset: 0))
        #expect(error("[-1e309]")?.reason == "number out of range")
        #expect(try parse("1e-400") == .number(0), "underflow to zero is a finite value")
        #expect(try parse("3").double == 3)
        #expect(try parse("3").integer == 3)
        #expect(try parse("3.0").integer == nil)
    }

    @Test func permissiveNumbersAreReadOnlyWhenAskedFor() throws {
        // The tokenizer reader's historical leniency (a fuzzed tokenizer.json spells an id "09").
        #expect(try parse("[09, +1, .5, 1., -07, 2e3]", .lenient)
            == .array([.integer(9), .integer(1), .number(0.5), .number(1), .integer(-7), .number(2000)]))
        #expect(error("09")?.reason == "leading zero in number")
        #expect(error("+1")?.reason == "unexpected character")
        #expect(error("[1-]", .lenient) == JSONSyntaxError(reason: "invalid number", offset: 1))
        #expect(error("[1e999]", .lenient) == JSONSyntaxError(reason: "number out of range", offset: 1))
    }

    @Test func errorsNameTheProblemAndItsOffset() {
        let cases: [(String, String, Int)] = [
            ("", "unexpected end of JSON", 0),
            ("[1,2,]", "trailing comma", 5),
            (#"{"a":1,}"#, "trailing comma", 7),
            ("[1 2]", "expected ',' or ']'", 3),
            (#"{"a" 1}"#, "expected ':'", 5),
            ("{'a': 1}", "expected a string key", 1),
            ("[1", "unexpected end of JSON", 2),
            ("01", "leading zero in number", 1),
            ("-", "invalid number", 1),
            ("1.", "invalid number", 2),
            ("tru", "invalid literal", 0),
            ("nulL", "invalid literal", 0),
            ("\"a\u{01}\"", "control character in string", 2),
            (#""\x""#, "invalid escape", 3),
            (#""\u12G4""#, #"invalid \u escape"#, 5),
            (#""\ud800x""#, "unpaired surrogate", 7),
            (#""\udc00""#, "unpaired surrogate", 7),
            ("\"open", "unterminated string", 5),
            ("{} x", "unexpected data after the JSON value", 3),
            ("@", "unexpected character", 0),
        ]
        for (text, reason, offset) in cases {
            #expect(error(text) == JSONSyntaxError(reason: reason, offset: offset), "\(text.debugDescription)")
        }
        #expect(throws: JSONSyntaxError(reason: "string is not valid UTF-8", offset: 1)) {
            try JSONValue.parse([UInt8]([0x22, 0xC3, 0x28, 0x22]), options: .lenient)
        }
    }

    @Test func escapesAndUnicodeRoundTrip() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00""#) == .string("a\"b\\c/d\u{8}\u{C}\n\r\tAé😀"))
        // A string with escapes in the middle of long unescaped runs (the fast path hands over to the slow one).
        let long = String(repeating: "Ġabc", count: 50)
        #expect(try parse("\"\(long)\\n\(long)\"") == .string(long + "\n" + long))
    }

    // MARK: - The escaper

    /// Every ASCII character, then characters that must pass through unescaped.
    static let awkward: String = {
        var text = String(String.UnicodeScalarView((0..<0x80).map { Unicode.Scalar(UInt8($0)) }))
        text += "/\u{7F}\u{85}\u{2028}\u{2029}é😀e\u{301}\"\u{301}中文"
        return text
    }()

    @Test func escaperMatchesFoundationByteForByte() throws {
        // The documented contract: what JSONSerialization (without slash escaping) writes.
        let foundation = try JSONSerialization.data(withJSONObject: [Self.awkward], options: [.withoutEscapingSlashes])
        let expected = Array(foundation.dropFirst().dropLast())
        var bytes: [UInt8] = []
        writeJSONString(Self.awkward, into: &bytes)
        #expect(bytes == expected)
        #expect(Array(jsonStringLiteral(Self.awkward).utf8) == expected)
        #expect(jsonStringLiteral("tab\there \"q\" \\ \u{1}\u{1f}") == #""tab\there \"q\" \\ \u0001\u001f""#)
    }

    @Test func escapedStringsParseBackToThemselves() throws {
        var generator = SeededGenerator(seed: 0x15_0a11)
        let alphabet = Array(Self.awkward.unicodeScalars) + ["\u{10FFFF}", "\u{FFFD}", "\u{E000}"]
        for _ in 0..<200 {
            let length = Int.random(in: 0..<40, using: &generator)
            let text = String(String.UnicodeScalarView((0..<length).map { _ in alphabet.randomElement(using: &generator)! }))
            var bytes: [UInt8] = []
            writeJSONString(text, into: &bytes)
            let parsed = try JSONValue.parse(bytes, options: .strict)
            #expect(parsed.string.map { Array($0.utf8) } == Array(text.utf8), "\(text.debugDescription)")
            #expect(Array(jsonStringLiteral(text).utf8) == bytes)
        }
    }

    @Test func appendingKeepsWhatIsAlreadyThere() {
        var output = "{\"k\":"
        writeJSONString("e\u{301}\"\u{301}", into: &output)
        output += "}"
        #expect(Array(output.utf8) == Array("{\"k\":\"e\u{301}\\\"\u{301}\"}".utf8))
    }
}
