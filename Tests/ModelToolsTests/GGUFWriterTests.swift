import Foundation
import ModelFormats
import Testing
@testable import ModelTools

/// Paths and helpers shared by the GGUF tests.
enum GGUFFixtures {
    static let quant = Fixtures.root.appendingPathComponent("tiny-qwen3-quant").path
    static let llama = Fixtures.root.appendingPathComponent("gguf-llama").path
    static let written = Fixtures.root.appendingPathComponent("gguf-written").path

    /// A scratch file path inside a fresh temporary directory (removed by `cleanUp`).
    static func scratchFile(_ name: String) throws -> String {
        (try temporaryDirectory() as NSString).appendingPathComponent(name)
    }

    static func cleanUp(_ path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}

@Suite struct GGUFWriterTests {
    /// One value of every GGUF type, arrays of several element types, a nested and an empty array.
    static let everyType: [(String, GGUFValue)] = [
        ("general.architecture", .string("qwen3")),
        ("test.uint8", .uint8(0xFE)),
        ("test.int8", .int8(-100)),
        ("test.uint16", .uint16(0xBEEF)),
        ("test.int16", .int16(-12345)),
        ("test.uint32", .uint32(0xDEAD_BEEF)),
        ("test.int32", .int32(-2_000_000_000)),
        ("test.float32", .float32(-0.1)),
        ("test.bool.true", .bool(true)),
        ("test.bool.false", .bool(false)),
        ("test.string", .string("café ☕️ «Ġ» \u{0}nul and\nnewline")),
        ("test.string.empty", .string("")),
        ("test.uint64", .uint64(0xFFFF_FFFF_FFFF_FFFE)),
        ("test.int64", .int64(-9_000_000_000_000_000_000)),
        ("test.float64", .float64(-1e-300)),
        ("test.float32.nan", .float32(Float(bitPattern: 0x7FC0_1234))),
        ("test.array.strings", .array(.string, [.string("Ġ Ġ"), .string(""), .string("<|endoftext|>")])),
        ("test.array.int32", .array(.int32, [.int32(1), .int32(-3), .int32(5)])),
        ("test.array.float32", .array(.float32, [.float32(1.5), .float32(-0.0)])),
        ("test.array.bool", .array(.bool, [.bool(true), .bool(false)])),
        ("test.array.uint8", .array(.uint8, [.uint8(0), .uint8(255)])),
        ("test.array.nested", .array(.array, [.array(.uint16, [.uint16(7)]), .array(.string, [.string("x")])])),
        ("test.array.empty", .array(.uint64, [])),
    ]

    /// Tensors whose byte counts are not multiples of 32, so every tensor needs padding.
    static let layouts = [
        GGUFTensorLayout(name: "a.f32", type: .f32, dimensions: [3, 2]),
        GGUFTensorLayout(name: "b.f16", type: .f16, dimensions: [5]),
        GGUFTensorLayout(name: "c.q8_0", type: .q8_0, dimensions: [64, 3]),
        GGUFTensorLayout(name: "d.empty", type: .bf16, dimensions: [4, 0]),
        GGUFTensorLayout(name: "e.q4_K", type: .q4_K, dimensions: [256, 1, 1]),
        GGUFTensorLayout(name: "f.bf16", type: .bf16, dimensions: [1, 1, 1, 3]),
    ]

    /// Deterministic bytes for a tensor.
    static func bytes(for layout: GGUFTensorLayout) -> [UInt8] {
        (0..<layout.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ layout.name.utf8.count) }
    }

    @Test(arguments: [32, 64, 8])
    func roundTripsThroughTheReader(alignment: Int) throws {
        let path = try GGUFFixtures.scratchFile("round-trip.gguf")
        defer { GGUFFixtures.cleanUp(path) }
        let writer = try GGUFWriter(path: path, metadata: GGUFMetadata(Self.everyType), tensors: Self.layouts, alignment: alignment)
        // All tensor data in one uneven stream: pieces cross tensor boundaries.
        let stream = Self.layouts.flatMap(Self.bytes)
        var position = 0
        for piece in [1, 7, 100, 3, 1000, 10_000] where position < stream.count {
            let end = min(stream.count, position + piece)
            try stream[position..<end].withUnsafeBytes { try writer.write($0) }
            position = end
        }
        try stream[position...].withUnsafeBytes { try writer.write($0) }
        try writer.finish()
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))

        let file = try GGUFFile(path: path)
        #expect(file.version == 3)
        #expect(file.alignment == alignment)
        var expectedKeys = Self.everyType.map(\.0)
        if alignment != 32 { expectedKeys.append("general.alignment") }
        #expect(file.metadataKeys == expectedKeys)
        for (key, value) in Self.everyType {
            #expect(file.metadata[key] == value, "\(key)")
        }
        if alignment != 32 { #expect(file.metadata["general.alignment"] == .uint32(UInt32(alignment))) }
        #expect(file.tensors.map(\.name) == Self.layouts.map(\.name))
        #expect(file.dataOffset % alignment == 0)
        for (info, layout) in zip(file.tensors, Self.layouts) {
            #expect(info.type == layout.type && info.dimensions == layout.dimensions, "\(layout.name)")
            #expect(info.byteCount == layout.byteCount)
            #expect((info.offset - file.dataOffset) % alignment == 0, "\(layout.name) starts at \(info.offset)")
            #expect(Array(file.data(of: info)) == Self.bytes(for: layout), "\(layout.name)")
        }
        // The file ends with the last tensor padded to the alignment, as gguf-py writes it.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let last = try #require(file.tensors.last)
        #expect(size == last.offset + GGUFWriter.padded(last.byteCount, to: alignment))
    }

    /// The first bytes, checked by hand against the GGUF specification.
    @Test func headerBytesFollowTheSpecification() throws {
        let metadata = GGUFMetadata([("general.architecture", .string("qwen3")), ("k", .array(.int32, [.int32(-1)]))])
        let bytes = try GGUFWriter.header(metadata: metadata, tensors: [GGUFTensorLayout(name: "t", type: .q8_0, dimensions: [32, 2])])
        var expected: [UInt8] = Array("GGUF".utf8) + [3, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0] + [2, 0, 0, 0, 0, 0, 0, 0]
        expected += [20, 0, 0, 0, 0, 0, 0, 0] + Array("general.architecture".utf8) + [8, 0, 0, 0] + [5, 0, 0, 0, 0, 0, 0, 0] + Array("qwen3".utf8)
        expected += [1, 0, 0, 0, 0, 0, 0, 0] + Array("k".utf8) + [9, 0, 0, 0] + [5, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0] + [0xFF, 0xFF, 0xFF, 0xFF]
        // Tensor info: name, 2 dimensions (u64 each, ne0 first), type 8 (Q8_0), offset 0.
        expected += [1, 0, 0, 0, 0, 0, 0, 0] + Array("t".utf8) + [2, 0, 0, 0] + [32, 0, 0, 0, 0, 0, 0, 0] + [2, 0, 0, 0, 0, 0, 0, 0]
        expected += [8, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 0]
        #expect(Array(bytes.prefix(expected.count)) == expected)
        #expect(bytes.count == (expected.count + 31) / 32 * 32)
        #expect(bytes[expected.count...].allSatisfy { $0 == 0 })
    }

    @Test func invalidInputsAreRejected() throws {
        let path = try GGUFFixtures.scratchFile("bad.gguf")
        defer { GGUFFixtures.cleanUp(path) }
        let metadata = GGUFMetadata([("general.architecture", .string("qwen3"))])
        func layout(_ name: String, _ type: GGMLType, _ dimensions: [Int]) -> [GGUFTensorLayout] {
            [GGUFTensorLayout(name: name, type: type, dimensions: dimensions)]
        }
        let invalid: [[GGUFTensorLayout]] = [
            layout("x", .q8_0, [40, 2]),  // 40 is not a whole number of 32-value blocks
            layout("x", .q4_K, [128]),
            layout(String(repeating: "n", count: 64), .f32, [1]),  // ggml names hold 63 bytes
            layout("", .f32, [1]),
            layout("x", .f32, []),
            layout("x", .f32, [1, 1, 1, 1, 1]),
            layout("x", .f32, [-1]),
            layout("x", .f32, [1]) + layout("x", .f16, [2]),
        ]
        for tensors in invalid {
            #expect(throws: ModelToolsError.self, "\(tensors)") { _ = try GGUFWriter(path: path, metadata: metadata, tensors: tensors) }
        }
        let mixed = GGUFMetadata([("bad", .array(.int32, [.int32(1), .uint32(2)]))])
        #expect(throws: ModelToolsError.self) { _ = try GGUFWriter(path: path, metadata: mixed, tensors: []) }
        #expect(throws: ModelToolsError.self) { _ = try GGUFWriter(path: path, metadata: metadata, tensors: [], alignment: 48) }
        let disagreeing = GGUFMetadata([("general.alignment", .uint32(64))])
        #expect(throws: ModelToolsError.self) { _ = try GGUFWriter(path: path, metadata: disagreeing, tensors: [], alignment: 32) }
        #expect(throws: ModelToolsError.self) {
            _ = try GGUFWriter(path: "/nonexistent-directory/x.gguf", metadata: metadata, tensors: [])
        }
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
    }

    @Test func incompleteOrExcessDataLeavesNoFile() throws {
        let path = try GGUFFixtures.scratchFile("partial.gguf")
        defer { GGUFFixtures.cleanUp(path) }
        do {
            let writer = try GGUFWriter(path: path, metadata: GGUFMetadata(), tensors: [GGUFTensorLayout(name: "x", type: .f32, dimensions: [2])])
            try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try writer.write($0) }
            #expect(throws: ModelToolsError.self) { try writer.finish() }
            #expect(throws: ModelToolsError.self) { try [UInt8](repeating: 0, count: 8).withUnsafeBytes { try writer.write($0) } }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
    }

    @Test func metadataKeepsOrderAndReplacesInPlace() {
        var metadata = GGUFMetadata([("a", .uint8(1)), ("b", .uint8(2)), ("a", .uint8(3))])
        #expect(metadata.keys == ["a", "b"])
        #expect(metadata["a"] == .uint8(3))
        metadata["c"] = .bool(true)
        metadata["a"] = nil
        #expect(metadata.keys == ["b", "c"])
    }
}
