import Foundation
import Testing
@testable import ModelFormats

/// A small valid file: one key, an F32 [4, 2] tensor and a Q8_0 [32, 1] tensor.
private func baseFile() -> GGUFBuilder {
    var builder = GGUFBuilder()
    builder.add("general.architecture", .string("qwen3"))
    builder.addTensor("a", .f32, dimensions: [4, 2], bytes: (0..<8).flatMap { GGUFBuilder.u32(Float($0).bitPattern) })
    builder.addTensor("b", .q8_0, dimensions: [32, 1], bytes: [0x00, 0x3C] + (0..<32).map { UInt8($0) })
    return builder
}

private func modified(_ change: (inout GGUFBuilder) -> Void) -> [UInt8] {
    var builder = baseFile()
    change(&builder)
    return builder.bytes()
}

/// Nested arrays `depth` levels deep, innermost holding one INT32.
private func nested(_ depth: Int) -> GGUFValue {
    depth == 0 ? .int32(1) : .array(depth == 1 ? .int32 : .array, [nested(depth - 1)])
}

@Suite struct GGUFValidationTests {
    static let huge = UInt64(1) << 60

    /// Each damaged structure is refused with a message naming the file and saying what is wrong.
    @Test func structuralErrors() throws {
        let base = baseFile()
        let header = base.header()
        // Magic, version, no tensors, one key: the key itself follows.
        let keyOnly = Array("GGUF".utf8) + GGUFBuilder.u32(3) + GGUFBuilder.u64(0) + GGUFBuilder.u64(1)
        let cases: [(String, [UInt8], String)] = [
            ("empty file", [], "file is 0 bytes, too short for the GGUF magic"),
            ("three bytes", Array("GGU".utf8), "too short for the GGUF magic"),
            ("wrong magic", Array("GGML".utf8) + header.dropFirst(4), "no GGUF magic \"GGUF\" at the start (found bytes 47 47 4d 4c)"),
            ("magic only", Array("GGUF".utf8), "the version at byte 4 needs 4 bytes but the file ends after 0"),
            ("no counts", Array(header.prefix(8)), "the tensor count at byte 8 needs 8 bytes"),
            ("2^60 tensors", modified { $0.tensorCountOverride = Self.huge }, "the tensor count at byte 8 is 1152921504606846976, but the"),
            ("2^64-1 keys", modified { $0.metadataCountOverride = .max }, "the metadata count at byte 16 is 18446744073709551615"),
            ("key length 2^62", keyOnly + GGUFBuilder.u64(1 << 62) + [UInt8](repeating: 0, count: 16),
             "metadata key 0 at byte 24 claims 4611686018427387904 bytes"),
            ("string length 2^60", modified { $0.metadata = [("k", GGUFBuilder.u32(8) + GGUFBuilder.u64(Self.huge))] },
             "metadata \"k\" at byte 37 claims 1152921504606846976 bytes"),
            ("2^60 strings", modified { $0.metadata = [("k", GGUFBuilder.u32(9) + GGUFBuilder.u32(8) + GGUFBuilder.u64(Self.huge))] },
             "the length of metadata \"k\" (an array of STRING) at byte 41 is 1152921504606846976, but the"),
            ("2^60 nested arrays", modified { $0.metadata = [("k", GGUFBuilder.u32(9) + GGUFBuilder.u32(9) + GGUFBuilder.u64(Self.huge))] },
             "(an array of ARRAY)"),
            ("unknown value type", modified { $0.metadata = [("k", GGUFBuilder.u32(13) + [0])] }, "metadata \"k\" has unknown value type 13"),
            ("unknown element type", modified { $0.metadata = [("k", GGUFBuilder.u32(9) + GGUFBuilder.u32(99) + GGUFBuilder.u64(0))] },
             "metadata \"k\" is an array of unknown value type 99"),
            ("17 levels of arrays", modified { $0.metadata = [("k", GGUFBuilder.encode(nested(17)))] }, "nests arrays deeper than 16 levels"),
            ("bool 2", modified { $0.metadata = [("k", GGUFBuilder.u32(7) + [2])] }, "metadata \"k\" at byte 37 is a BOOL with value 2"),
            ("bool 2 in an array", modified { $0.metadata = [("k", GGUFBuilder.u32(9) + GGUFBuilder.u32(7) + GGUFBuilder.u64(2) + [1, 0xFF])] },
             "metadata \"k\"[1] at byte 50 is a BOOL with value 255"),
            ("invalid UTF-8 key", keyOnly + GGUFBuilder.u64(2) + [0xC3, 0x28] + [UInt8](repeating: 0, count: 16), "metadata key 0 at byte 24 is not valid UTF-8"),
            ("invalid UTF-8 value", modified { $0.metadata = [("k", GGUFBuilder.u32(8) + GGUFBuilder.u64(1) + [0x80])] },
             "metadata \"k\" at byte 37 is not valid UTF-8"),
            ("invalid UTF-8 in a string array", modified {
                $0.metadata = [("k", GGUFBuilder.u32(9) + GGUFBuilder.u32(8) + GGUFBuilder.u64(2) + GGUFBuilder.string("ok") + GGUFBuilder.u64(3) + [0xED, 0xA0, 0x80])]
            }, "metadata \"k\"[1] at byte 59 is not valid UTF-8"),
            ("invalid UTF-8 tensor name", modified { $0.tensors[1].name = "b\u{FFFD}" }.replacing([0xEF, 0xBF, 0xBD], with: [0xFF, 0xFE, 0xFD]),
             "the name of tensor 1 at byte"),
            ("duplicate key", modified { $0.add("general.architecture", .string("llama")) }, "metadata key \"general.architecture\" appears twice"),
            ("truncated value", Array(modified { $0.tensors = []; $0.data = []; $0.metadata = [("k", GGUFBuilder.encode(.uint64(7)))] }.prefix(40)),
             "metadata \"k\" at byte 37 needs 8 bytes but the file ends after 3"),
            ("truncated tensor info", Array(header.dropLast(3)), "the offset of \"b\""),
            ("alignment 0", modified { $0.add("general.alignment", .uint32(0)) }, "invalid GGUF metadata \"general.alignment\""),
            ("alignment 48", modified { $0.add("general.alignment", .uint32(48)) }, "48 is not a power of two"),
            ("alignment UINT64", modified { $0.add("general.alignment", .uint64(32)) }, "is UINT64, expected UINT32"),
            ("overlap", modified { $0.tensors[1].offset = 0 }, "overlap"),
            ("overlap, other order", modified { $0.tensors[0].offset = 32; $0.tensors[1].offset = 0 }, "the data of tensors \"b\" and \"a\" overlap"),
        ]
        for (name, bytes, fragment) in cases {
            let message = try ggufRejection(bytes)
            #expect(message?.contains(fragment) == true, "\(name): \(message ?? "accepted")")
        }
    }

    /// Tensor errors are `invalidTensor` messages naming the tensor.
    @Test func tensorErrors() throws {
        let cases: [(String, (inout GGUFBuilder) -> Void, String)] = [
            ("duplicate name", { $0.tensors[1].name = "a" }, "invalid tensor \"a\""),
            ("5 dimensions", { $0.tensors[1].dimensions = [32, 1, 1, 1, 1] }, "5 dimensions (at most 4)"),
            ("dimension 2^63", { $0.tensors[1].dimensions = [32, 1 << 63] }, "dimension 9223372036854775808 is too large"),
            ("element overflow", { $0.tensors[0].dimensions = [1 << 32, 1 << 32] }, "overflow"),
            ("row overflow with zero rows", { $0.tensors[0].dimensions = [0, 1 << 40, 1 << 40] }, "overflow"),
            ("unknown type", { $0.tensors[1].type = 4 }, "unknown ggml type 4"),
            ("removed type", { $0.tensors[1].type = 31 }, "unknown ggml type 31"),
            ("type 2^32-1", { $0.tensors[1].type = .max }, "unknown ggml type 4294967295"),
            ("partial block", { $0.tensors[1].dimensions = [30, 1] }, "row length 30 is not a whole number of Q8_0 blocks of 32"),
            ("0-d Q8_0", { $0.tensors[1].dimensions = [] }, "row length 1 is not a whole number of Q8_0 blocks"),
            ("unaligned offset", { $0.tensors[1].offset = 36 }, "data offset 36 is not a multiple of the alignment 32"),
            ("offset 2^63", { $0.tensors[1].offset = 1 << 63 }, "data offset 9223372036854775808 lies past the end"),
            ("offset past the end", { $0.tensors[1].offset = 64 }, "runs past the end of the"),
            ("more data than the file", { $0.tensors[0].dimensions = [1 << 20, 1 << 20] }, "needs 4398046511104 bytes, more than the"),
            ("truncated data", { $0.data.removeLast() }, "data at bytes"),
        ]
        for (name, change, fragment) in cases {
            let message = try ggufRejection(modified(change))
            #expect(message?.contains(fragment) == true, "\(name): \(message ?? "accepted")")
            #expect(message?.hasPrefix("invalid tensor") == true, "\(name): \(message ?? "accepted")")
        }
    }

    /// Legal corner cases are accepted.
    @Test func legalCornerCases() throws {
        var builder = GGUFBuilder()
        builder.alignment = 1
        builder.add("general.alignment", .uint32(1))
        builder.add("empty", .array(.float64, []))
        builder.add("empty.nested", .array(.array, [.array(.string, []), .array(.uint8, [])]))
        builder.add("deep", nested(16))
        builder.add("", .string(""))
        builder.addTensor("scalar", .f32, dimensions: [], bytes: GGUFBuilder.u32(Float(2.5).bitPattern))
        builder.data.append(0xAA)  // alignment 1: the next tensor starts at relative offset 5
        builder.addTensor("odd", .f16, dimensions: [3], bytes: [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C])
        builder.addTensor("zero", .q4_K, dimensions: [0, 7], bytes: [])
        builder.addTensor("zero.rows", .f32, dimensions: [5, 0], bytes: [])
        builder.addTensor("iq", .iq1_M, dimensions: [256], bytes: [UInt8](repeating: 0, count: 56))
        let file = try GGUFFile(path: writeGGUF(builder.bytes()))
        #expect(file.alignment == 1 && file.metadata["deep"] == nested(16) && file.metadata[""] == .string(""))
        #expect(file.metadata["empty.nested"]?.array?.count == 2)
        let scalar = try #require(file.tensor(named: "scalar"))
        #expect(scalar.dimensions == [] && scalar.rows == 1 && scalar.elementCount == 1)
        #expect(try file.floatTensor(scalar).shape == [] && file.floats(of: scalar) == [2.5])
        let odd = try #require(file.tensor(named: "odd"))
        #expect(odd.offset - file.dataOffset == 5, "alignment 1 allows odd offsets")
        #expect(try file.floats(of: odd) == [1, -2, .infinity])
        #expect(try file.floats(of: file.tensor(named: "zero")!) == [])
        #expect(file.tensor(named: "zero")?.rows == 7)
        #expect(try file.floatTensor(file.tensor(named: "zero.rows")!).floats() == [])
        #expect(throws: ModelFormatError.self) { try file.floats(of: file.tensor(named: "iq")!) }

        // A tensor-free file is not padded, so its data section starts past the end; that is fine.
        var metadataOnly = GGUFBuilder()
        metadataOnly.add("general.architecture", .string("qwen3"))
        let small = try GGUFFile(path: writeGGUF(metadataOnly.bytes()))
        #expect(small.tensors.isEmpty && small.dataOffset > small.file.bytes.count)
        // Nothing at all after the header is also a valid (empty) file.
        let empty = try GGUFFile(path: writeGGUF(GGUFBuilder().bytes()))
        #expect(empty.metadata.isEmpty && empty.tensors.isEmpty && empty.version == 3)

        // Larger alignments and gaps between tensors.
        var aligned = baseFile()
        aligned.alignment = 256
        aligned.add("general.alignment", .uint32(256))
        aligned.tensors[1].offset = 512
        aligned.data = aligned.data + [UInt8](repeating: 0, count: 512 - aligned.data.count) + [0x00, 0x3C] + (0..<32).map { UInt8($0) }
        let gaps = try GGUFFile(path: writeGGUF(aligned.bytes()))
        #expect(gaps.dataOffset % 256 == 0 && gaps.tensors[1].offset == gaps.dataOffset + 512)
        #expect(try gaps.floats(of: gaps.tensors[1]) == (0..<32).map { Float(Int8(bitPattern: UInt8($0))) })
    }

    /// Every truncation of a valid file is an error (a file cut inside the data loses tensor bytes).
    @Test func everyTruncationIsAnError() throws {
        let bytes = baseFile().bytes()
        _ = try GGUFFile(path: writeGGUF(bytes))
        for length in 0..<bytes.count {
            let cut = Array(bytes.prefix(length))
            #expect(throws: ModelFormatError.self, "length \(length)") {
                try cut.withUnsafeBytes { try GGUFHeader(bytes: $0, path: "cut.gguf") }
            }
        }
    }
}

private extension Array where Element == UInt8 {
    /// The array with the first occurrence of `pattern` replaced.
    func replacing(_ pattern: [UInt8], with replacement: [UInt8]) -> [UInt8] {
        guard let start = indices.first(where: { self[$0...].starts(with: pattern) }) else { return self }
        return Array(self[..<start]) + replacement + Array(self[(start + pattern.count)...])
    }
}
