import Foundation
import Testing
import TestSupport
@testable import ModelFormats

/// Loads `header` + `data` and returns the error message, or nil if the file was accepted.
private func rejection(header: String, data: [UInt8] = [UInt8](repeating: 0, count: 8), declaredLength: UInt64? = nil) throws -> String? {
    let path = try write(SafetensorsWriter.file(header: header, data: data, declaredLength: declaredLength))
    do {
        _ = try SafetensorsFile(path: path)
        return nil
    } catch let error as ModelFormatError {
        let message = error.localizedDescription
        #expect(message.contains(path), "message does not name the file: \(message)")
        return message
    }
}

@Suite struct ValidationTests {
    /// Files written by the reference `safetensors` Python package (0.8.0, numpy backend), embedded so
    /// the tests need no Python: they pin compatibility with the real writer (space-padded header,
    /// `__metadata__`, unaligned F16 data after F32 data).
    static let pythonWritten = "sAAAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJucCJ9LCJtb2RlbC5sYXllcnMuMC53ZWlnaHQiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzIsMl0sImRhdGFfb2Zmc2V0cyI6WzAsMTZdfSwibm9ybS5mMTYiOnsiZHR5cGUiOiJGMTYiLCJzaGFwZSI6WzVdLCJkYXRhX29mZnNldHMiOlsxNiwyNl19fSAgICAgIAAAwD8AAACAAACAfwEAAAAAPADA/3sBAAD8"
    /// The same plus an I8 tensor called "odd".
    static let pythonWrittenWithInt8 = "6AAAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJucCJ9LCJtb2RlbC5sYXllcnMuMC53ZWlnaHQiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzIsMl0sImRhdGFfb2Zmc2V0cyI6WzAsMTZdfSwibm9ybS5mMTYiOnsiZHR5cGUiOiJGMTYiLCJzaGFwZSI6WzVdLCJkYXRhX29mZnNldHMiOlsxNiwyNl19LCJvZGQiOnsiZHR5cGUiOiJJOCIsInNoYXBlIjpbMV0sImRhdGFfb2Zmc2V0cyI6WzI2LDI3XX19ICAgICAgAADAPwAAAIAAAIB/AQAAAAA8AMD/ewEAAPwH"

    @Test func readsFilesWrittenByThePythonPackage() throws {
        let file = try SafetensorsFile(path: write(Array(Data(base64Encoded: Self.pythonWritten)!)))
        #expect(file.metadata == ["format": "np"])
        #expect(file.tensorNamesSorted == ["model.layers.0.weight", "norm.f16"])
        let weight = try #require(file.tensors["model.layers.0.weight"])
        #expect(weight.shape == [2, 2] && weight.dataType == .float32)
        #expect(weight.floats().map(\.bitPattern) == [Float(1.5), -0.0, .infinity, Float.leastNonzeroMagnitude].map(\.bitPattern))
        let norm = try #require(file.tensors["norm.f16"])
        #expect(norm.floats() == [15360, 49152, 31743, 1, 64512].map { Float(Float16(bitPattern: $0)) })

        let withInt8 = try write(Array(Data(base64Encoded: Self.pythonWrittenWithInt8)!))
        #expect(throws: ModelFormatError.unsupportedDataType(path: withInt8, tensor: "odd", dataType: "I8")) {
            try SafetensorsFile(path: withInt8)
        }
    }

    @Test func halfPrecisionSpecialValuesConvertExactly() throws {
        // Every one of the 65536 F16 and BF16 bit patterns, at an odd (unaligned) data offset.
        let all = (0...UInt16.max).map { $0 }
        var writer = SafetensorsWriter()
        writer.add("pad", halfBits: [], dtype: "F16", shape: [0])
        writer.entries.append(.init(name: "odd", dtype: "F16", shape: [0], bytes: []))
        writer.add("f16", halfBits: all, dtype: "F16", shape: [256, 256])
        writer.add("bf16", halfBits: all, dtype: "BF16", shape: [65536])
        let (json, data) = writer.header()
        // Prepend one unused byte to the data section and shift every offset by 1 (a tolerated gap).
        let shifted = json.replacingOccurrences(of: "[0, 131072]", with: "[1, 131073]")
            .replacingOccurrences(of: "[131072, 262144]", with: "[131073, 262145]")
        let file = try SafetensorsFile(path: write(SafetensorsWriter.file(header: shifted, data: [0xAA] + data)))
        let f16 = try #require(file.tensors["f16"])
        let bf16 = try #require(file.tensors["bf16"])
        #expect(Int(bitPattern: f16.data.baseAddress) % 2 != Int(bitPattern: file.tensors["pad"]!.data.baseAddress) % 2)
        let f16Values = f16.floats(), bf16Values = bf16.floats()
        for bits in all {
            let half = Float16(bitPattern: bits)
            let expected = Float(half)
            let got = f16Values[Int(bits)]
            if half.isNaN {
                #expect(got.isNaN)
            } else if got.bitPattern != expected.bitPattern {
                Issue.record("F16 \(bits): \(got) != \(expected)")
            }
            let bf = bf16Values[Int(bits)]
            if bf.bitPattern != UInt32(bits) << 16 { Issue.record("BF16 \(bits): \(bf.bitPattern)") }
        }
        // Spot checks of the interesting values.
        #expect(f16Values[0x8000].bitPattern == (-0.0 as Float).bitPattern)
        #expect(f16Values[0x0001] == 5.9604645e-08 && f16Values[0x03FF] == 6.097555e-05)
        #expect(f16Values[0x7C00] == .infinity && f16Values[0x7E00].isNaN)
        #expect(bf16Values[0x8000].bitPattern == (-0.0 as Float).bitPattern && bf16Values[0x7FC0].isNaN)

        // Partial copies from an arbitrary element offset.
        var row = [Float](repeating: 0, count: 256)
        row.withUnsafeMutableBufferPointer { f16.copyElements(from: 256 * 60, count: 256, into: $0.baseAddress!) }
        #expect(row.map(\.bitPattern) == Array(f16Values[(256 * 60)..<(256 * 61)]).map(\.bitPattern))
    }

    @Test func unalignedFloat32Data() throws {
        var writer = SafetensorsWriter()
        writer.add("w", floats: [1, -2, 3.25], shape: [3])
        let (json, data) = writer.header()
        let header = json.replacingOccurrences(of: "[0, 12]", with: "[3, 15]")
        let file = try SafetensorsFile(path: write(SafetensorsWriter.file(header: header, data: [9, 9, 9] + data)))
        #expect(file.tensors["w"]!.floats() == [1, -2, 3.25])
    }

    @Test func headerLengthErrorsAreDistinct() throws {
        let tooShort = try write([1, 2, 3, 4, 5, 6, 7])
        #expect(throws: ModelFormatError.corruptFile(path: tooShort, reason: "file is 7 bytes, shorter than the 8-byte header length")) {
            try SafetensorsFile(path: tooShort)
        }
        #expect(try rejection(header: "{}", data: [], declaredLength: 0)?.contains("header length is 0") == true)
        #expect(try rejection(header: "{}", data: [], declaredLength: 100_000_001)?.contains("exceeds") == true)
        #expect(try rejection(header: "{}", data: [], declaredLength: .max)?.contains("exceeds") == true)
        #expect(try rejection(header: "{}", data: [], declaredLength: 3)?.contains("runs past the end") == true)
        #expect(try rejection(header: "{\"\u{FF}\": 1}".replacingOccurrences(of: "\u{FF}", with: "é"), data: [])?.contains("not a JSON object") == false)
        // Raw invalid UTF-8 (a lone continuation byte) inside the header.
        let invalidUTF8 = try write(withUnsafeBytes(of: UInt64(4).littleEndian, Array.init) + [0x7B, 0x22, 0x80, 0x7D])
        do { _ = try SafetensorsFile(path: invalidUTF8); Issue.record("accepted invalid UTF-8") } catch {
            #expect(error.localizedDescription.contains("not valid UTF-8"))
        }
    }

    @Test(arguments: [
        // Wrong JSON types for each field.
        ("{\"a\": {\"dtype\": 3, \"shape\": [2], \"data_offsets\": [0, 8]}}", "missing string \"dtype\""),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": 2, \"data_offsets\": [0, 8]}}", "missing array \"shape\""),
        ("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", "missing array \"shape\""),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", "data_offsets"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": \"0-8\"}}", "data_offsets"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8, 16]}}", "data_offsets"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", "data_offsets are not non-negative integers"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8.0]}}", "data_offsets are not non-negative integers"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8e0]}}", "data_offsets are not non-negative integers"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 99999999999999999999]}}", "data_offsets are not non-negative integers"),
        // Integrality: Foundation's decoders would turn these into the integer 2.
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8]}}", "non-integer or negative dimension"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2e0], \"data_offsets\": [0, 8]}}", "non-integer or negative dimension"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [null], \"data_offsets\": [0, 8]}}", "non-integer or negative dimension"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", "non-integer or negative dimension"),
        // Sizes and overflow.
        ("{\"a\": {\"dtype\": \"BF16\", \"shape\": [9223372036854775807], \"data_offsets\": [0, 8]}}", "too many"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [0, 9223372036854775807, 9223372036854775807], \"data_offsets\": [0, 8]}}", "needs 0 bytes"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [9223372036854775807, 9223372036854775807, 0], \"data_offsets\": [0, 8]}}", "overflows"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 8]}}", "needs 4 bytes"),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 9223372036854775807]}}", "data section"),
        // Metadata.
        ("{\"__metadata__\": \"x\"}", "__metadata__ is not an object"),
        ("{\"__metadata__\": {\"k\": [\"v\"]}}", "__metadata__ value for \"k\" is not a string"),
        // Unsupported dtypes name the dtype and the tensor.
        ("{\"layers.0.w\": {\"dtype\": \"F8_E4M3\", \"shape\": [8], \"data_offsets\": [0, 8]}}", "unsupported dtype F8_E4M3 for tensor \"layers.0.w\""),
        ("{\"b\": {\"dtype\": \"BOOL\", \"shape\": [8], \"data_offsets\": [0, 8]}}", "unsupported dtype BOOL for tensor \"b\""),
        ("{\"f\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", "unsupported dtype F64"),
        // Strict JSON: duplicate keys (two tensors of one name), trailing garbage, deep nesting.
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "duplicate key \"a\""),
        ("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8], \"dtype\": \"F16\"}}", "duplicate key \"dtype\""),
        ("{} {}", "unexpected data after"),
        ("{\"a\": " + String(repeating: "[", count: 100_000), "nested deeper"),
        ("{\"a\": \"\\ud800\"}", "unpaired surrogate"),
        ("{'a': 1}", "expected a string key"),
        ("", "header length is 0"),
        (" ", "not valid JSON (unexpected end of JSON at header byte 1)"),
        ("\"just a string\"", "not a JSON object"),
        // Overlap names both tensors (in sorted order of their offsets).
        ("{\"x\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [2, 6]}, \"y\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", "\"y\" and \"x\" overlap"),
    ])
    func headerFieldErrors(header: String, expectedFragment: String) throws {
        let message = try rejection(header: header)
        #expect(message?.contains(expectedFragment) == true, "\(message ?? "accepted: \(header)")")
    }

    @Test func gapsAndPaddingAreTolerated() throws {
        // A gap between tensors, a zero-length tensor sharing an offset, escapes in names, trailing spaces.
        let header = "{\"a\\u002eb\": {\"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [0, 2]}, "
            + "\"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [2, 2]}, "
            + "\"c\": {\"dtype\": \"BF16\", \"shape\": [1], \"data_offsets\": [6, 8]}}    "
        let file = try SafetensorsFile(path: write(SafetensorsWriter.file(header: header, data: [0, 0x3C, 1, 2, 3, 4, 0x80, 0x3F])))
        #expect(file.tensorNamesSorted == ["a.b", "c", "e"])
        #expect(file.tensors["a.b"]!.floats() == [1] && file.tensors["c"]!.floats() == [1])
        #expect(file.tensors["e"]!.data.count == 0)
    }

    /// Truncates a multi-tensor, multi-dtype file at every length, and also cuts data from the end only.
    @Test func truncationsOfALargerFile() throws {
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "pt", "note": "x"]
        writer.add("model.embed_tokens.weight", halfBits: (0..<64).map { UInt16($0) }, dtype: "BF16", shape: [8, 8])
        writer.add("model.norm.weight", floats: [1, 2, 3], shape: [3])
        writer.add("model.layers.0.mlp.up_proj.weight", halfBits: [1, 2, 3, 4, 5, 6], dtype: "F16", shape: [2, 3])
        let bytes = writer.bytes()
        _ = try SafetensorsFile(path: write(bytes))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("trunc-\(UUID().uuidString)")
        for length in 0..<bytes.count {
            let path = try write(Array(bytes.prefix(length)), name: "cut-\(length).safetensors", in: folder)
            #expect(throws: ModelFormatError.self, "length \(length)") { try SafetensorsFile(path: path) }
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// Seeded random byte flips anywhere in the header and length prefix, plus random insertions of
    /// JSON-significant characters: every outcome is a thrown ModelFormatError or a fully readable file.
    @Test func randomHeaderDamage() throws {
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "pt"]
        writer.add("a.weight", floats: (0..<12).map(Float.init), shape: [3, 4])
        writer.add("b.bias", halfBits: [1, 2, 3, 4], dtype: "BF16", shape: [2, 2])
        writer.add("c", halfBits: [0x3C00], dtype: "F16", shape: [])
        let original = writer.bytes()
        let headerEnd = original.count - 56
        let significant = Array("{}[],:\"0123456789-.eE \\".utf8)
        var generator = SeededGenerator(seed: 0x5AFE_7E45)
        var accepted = 0
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString)")
        for iteration in 0..<Self.fuzzIterations {
            var bytes = original
            for _ in 0...(generator.next() % 4) {
                let position = Int(generator.next() % UInt64(headerEnd))
                if generator.next() % 2 == 0 {
                    bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                } else {
                    bytes[position] = significant[Int(generator.next() % UInt64(significant.count))]
                }
            }
            let path = try write(bytes, name: "fuzz-\(iteration).safetensors", in: folder)
            do {
                let file = try SafetensorsFile(path: path)
                for tensor in file.tensors.values {
                    #expect(tensor.data.count == tensor.elementCount * tensor.dataType.byteWidth)
                    _ = tensor.floats()
                }
                accepted += 1
            } catch is ModelFormatError {}
        }
        try? FileManager.default.removeItem(at: folder)
        print("random header damage: \(Self.fuzzIterations) iterations, \(accepted) accepted, 0 crashes")
    }
    static let fuzzIterations = 1000
}

@Suite struct StrictJSONTests {
    func parse(_ text: String) throws -> JSONValue {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBytes { try JSONValue.parse(UnsafeRawBufferPointer($0), options: .strict) }
    }

    @Test func parsesStandardJSON() throws {
        #expect(try parse(" {\"a\": [1, -2, 3.5, 1e2, true, false, null, \"x\\n\\u00e9\\ud83d\\ude00\"]} ") == .object(["a": .array([
            .integer(1), .integer(-2), .number(3.5), .number(100), .bool(true), .bool(false), .null, .string("x\né😀"),
        ])]))
        #expect(try parse("9223372036854775807") == .integer(.max))
        #expect(try parse("9223372036854775808") == .number(9223372036854775808))
    }

    @Test(arguments: ["01", "1.", ".5", "-", "1e", "tru", "[1,]", "{\"a\":1,}", "\"\u{01}\"", "\"\\x\"", "[1 2]", "{\"a\" 1}", "nul"])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(text) }
    }
}

extension SafetensorsFile {
    var tensorNamesSorted: [String] { tensors.keys.sorted() }
}
