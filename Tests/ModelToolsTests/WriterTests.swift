import Foundation
import ModelFormats
import Testing
@testable import ModelTools

@Suite struct WriterTests {
    @Test func bfloat16RoundsToNearestEvenLikeTorch() {
        #expect(ElementEncoding.bfloat16Bits(1.0) == 0x3F80)
        #expect(ElementEncoding.bfloat16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie, even below
        #expect(ElementEncoding.bfloat16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie, even above
        #expect(ElementEncoding.bfloat16Bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)  // just above the tie
        #expect(ElementEncoding.bfloat16Bits(-Float(bitPattern: 0x3F80_7FFF)) == 0xBF80)
        #expect(ElementEncoding.bfloat16Bits(.nan) == 0x7FC0)
        #expect(ElementEncoding.bfloat16Bits(.infinity) == 0x7F80)
        #expect(ElementEncoding.bfloat16Bits(Float(bitPattern: 0x7F7F_FFFF)) == 0x7F80)  // max float rounds to infinity
        #expect(ElementEncoding.float16Bits(65520) == 0x7C00)  // halfway to the next binade rounds up to infinity
        #expect(ElementEncoding.float16Bits(1 + 0x1p-11) == 0x3C00)  // tie to even
    }

    @Test func writtenFilesReadBack() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/t.safetensors"
        let layouts = [
            TensorLayout(name: "a \"quoted\" name", dataType: .float32, shape: [2, 3]),
            TensorLayout(name: "empty", dataType: .bfloat16, shape: [0, 4]),
            TensorLayout(name: "half", dataType: .float16, shape: [3]),
            TensorLayout(name: "brain", dataType: .bfloat16, shape: [1, 1, 2]),
        ]
        let writer = try SafetensorsWriter(path: path, tensors: layouts, metadata: ["format": "pt", "note": "line\nbreak"])
        let f32: [Float] = [1, -2, 3.5, 0, .infinity, -0.0]
        // Written in uneven pieces across tensor boundaries.
        var stream: [UInt8] = []
        for (values, type) in [(f32, TensorDataType.float32), ([0.5, -1, 65504], .float16), ([1.0, -3.015625], .bfloat16)] {
            var bytes = [UInt8](repeating: 0, count: values.count * type.byteWidth)
            values.withUnsafeBufferPointer { v in bytes.withUnsafeMutableBytes { ElementEncoding.encode(v, as: type, into: $0) } }
            stream += bytes
        }
        try stream[..<5].withUnsafeBytes { try writer.write($0) }
        try stream[5...].withUnsafeBytes { try writer.write($0) }
        try writer.finish()

        let header = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(header % 8 == 0)
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["format": "pt", "note": "line\nbreak"])
        #expect(file.tensors["a \"quoted\" name"]?.floats().map(\.bitPattern) == f32.map(\.bitPattern))
        #expect(file.tensors["empty"]?.shape == [0, 4])
        #expect(file.tensors["half"]?.floats() == [0.5, -1, 65504])
        #expect(file.tensors["brain"]?.floats() == [1.0, -3.015625])
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
    }

    @Test func incompleteOrExcessDataIsRejected() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/t.safetensors"
        do {
            let writer = try SafetensorsWriter(path: path, tensors: [TensorLayout(name: "x", dataType: .float32, shape: [2])])
            try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try writer.write($0) }
            #expect(throws: ModelToolsError.self) { try writer.finish() }
            #expect(throws: ModelToolsError.self) { try [UInt8](repeating: 0, count: 8).withUnsafeBytes { try writer.write($0) } }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        #expect(throws: ModelToolsError.self) {
            _ = try SafetensorsWriter(path: path, tensors: [TensorLayout(name: "x", dataType: .float32, shape: [1]),
                                                            TensorLayout(name: "x", dataType: .float32, shape: [1])])
        }
    }

    @Test func sha256HexMatchesKnownVectors() {
        #expect(Array("abc".utf8).withUnsafeBytes { sha256Hex($0) } == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect([UInt8]().withUnsafeBytes { sha256Hex($0) } == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(long.withUnsafeBytes { sha256Hex($0) } == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func slerpCoefficientsFollowMergekit() {
        // Orthogonal unit vectors at t = 0.5: both coefficients sin(π/4)/sin(π/2).
        let half = Slerp.coefficients(t: 0.5, dot: 0, normA: 1, normB: 1)
        #expect(abs(half.s0 - 0.5.squareRoot()) < 1e-15 && abs(half.s1 - 0.5.squareRoot()) < 1e-15 && !half.isLinear)
        // Norms do not change the angle; parallel and anti-parallel fall back to lerp.
        let scaled = Slerp.coefficients(t: 0.25, dot: 0, normA: 3, normB: 7)
        #expect(abs(scaled.s0 - sin(0.75 * .pi / 2)) < 1e-15 && abs(scaled.s1 - sin(0.25 * .pi / 2)) < 1e-15)
        #expect(Slerp.coefficients(t: 0.3, dot: 6, normA: 2, normB: 3) == (0.7, 0.3, true))
        #expect(Slerp.coefficients(t: 0.3, dot: -5.999, normA: 2, normB: 3).isLinear)
        #expect(!Slerp.coefficients(t: 0.3, dot: 5.99, normA: 2, normB: 3).isLinear)  // cos 0.9983
        // A zero tensor is left unnormalised, as mergekit's normalize(eps = 1e-8).
        let zero = Slerp.coefficients(t: 0.5, dot: 0, normA: 0, normB: 2)
        #expect(!zero.isLinear && abs(zero.s0 - 0.5.squareRoot()) < 1e-15)
    }
}
