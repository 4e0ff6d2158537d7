import Foundation
import ModelFormats
import Testing
import TestSupport
@testable import ModelTools

/// `Tests/Fixtures/gguf-written/quantizer-goldens.json`, written by Scripts/check_gguf_with_llama_cpp.py.
struct QuantizerGoldens: Decodable {
    struct Elements: Decodable {
        let inputBits: [UInt32]
        let f16Bits: [UInt16]
        let bf16Bits: [UInt16]
        let nanInputBits: [UInt32]
        let nanBf16Bits: [UInt16]
        enum CodingKeys: String, CodingKey {
            case inputBits = "input_bits", f16Bits = "f16_bits", bf16Bits = "bf16_bits"
            case nanInputBits = "nan_input_bits", nanBf16Bits = "nan_bf16_bits"
        }
    }

    let rowLength: Int
    let rows: Int
    let input: String
    let encoded: [String: String]
    let relativeRMSError: [String: [Double]]
    let elements: Elements

    enum CodingKeys: String, CodingKey {
        case rowLength = "row_length", rows, input, encoded, relativeRMSError = "relative_rms_error", elements
    }

    static func load() throws -> QuantizerGoldens {
        try GoldenFile.decode(QuantizerGoldens.self, at: "gguf-written/quantizer-goldens.json")
    }

    /// The input rows as Float.
    var values: [Float] {
        let data = Data(base64Encoded: input)!
        return data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
    }

    func bytes(_ type: String) -> [UInt8] { [UInt8](Data(base64Encoded: encoded[type]!)!) }
}

/// Dequantizes with the reader's `GGMLBlocks` (bit-exact with gguf-py).
func dequantize(_ bytes: [UInt8], as type: GGMLType, count: Int) -> [Float] {
    var output = [Float](repeating: 0, count: count)
    bytes.withUnsafeBytes { raw in
        output.withUnsafeMutableBufferPointer { GGMLBlocks.dequantize(type, raw.baseAddress!, count: count, into: $0.baseAddress!) }
    }
    return output
}

/// RMS(x̂ − x) / RMS(x), accumulated in Double.
func relativeRMSError(_ approximation: [Float], _ exact: [Float]) -> Double {
    var error = 0.0, energy = 0.0
    for (a, x) in zip(approximation, exact) {
        error += (Double(a) - Double(x)) * (Double(a) - Double(x))
        energy += Double(x) * Double(x)
    }
    return (error / max(energy, 1e-300)).squareRoot()
}

/// Gaussian values from a fixed seed (Box–Muller over a 64-bit LCG), reproducible on every platform.
func gaussianValues(_ count: Int, seed: UInt64, scale: Float) -> [Float] {
    var state = seed
    func uniform() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (Double(state >> 11) + 0.5) * 0x1p-53
    }
    return (0..<count).map { _ in Float((-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())) * scale }
}

@Suite struct GGUFQuantizerTests {
    static let goldenTypes: [(String, GGMLType)] = [
        ("F16", .f16), ("BF16", .bf16), ("Q8_0", .q8_0), ("Q4_0", .q4_0), ("Q5_0", .q5_0), ("Q4_K", .q4_K), ("Q6_K", .q6_K),
    ]

    /// Every byte equals numpy/gguf-py (F16, BF16, Q8_0, Q4_0, Q5_0) and ggml's C reference quantizers
    /// (Q4_K, Q6_K; and Q8_0/Q4_0/Q5_0, which the script checked equal to gguf-py's).
    @Test(arguments: goldenTypes.map(\.0))
    func blocksMatchTheReferenceQuantizers(_ name: String) throws {
        let goldens = try QuantizerGoldens.load()
        let type = Self.goldenTypes.first { $0.0 == name }!.1
        let values = goldens.values
        #expect(values.count == goldens.rows * goldens.rowLength)
        let ours = try GGMLQuantizer.encode(values, rowLength: goldens.rowLength, as: type)
        let reference = goldens.bytes(name)
        #expect(ours.count == reference.count)
        let differing = zip(ours, reference).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        let rowBytes = type.rowByteCount(goldens.rowLength)!
        #expect(differing.isEmpty, "\(name): \(differing.count) bytes differ, first at byte \(differing.first ?? -1) (row \((differing.first ?? 0) / rowBytes))")

        // The same error per row as gguf-py measured on the reference bytes.
        let decoded = dequantize(ours, as: type, count: values.count)
        for row in 0..<goldens.rows {
            let range = (row * goldens.rowLength)..<((row + 1) * goldens.rowLength)
            let error = relativeRMSError(Array(decoded[range]), Array(values[range]))
            let expected = try #require(goldens.relativeRMSError[name]?[row])
            #expect(abs(error - expected) <= 1e-9 + 1e-6 * expected, "\(name) row \(row): \(error) vs \(expected)")
        }
    }

    @Test func elementConversionsRoundToNearestEven() throws {
        let elements = try QuantizerGoldens.load().elements
        for (index, bits) in elements.inputBits.enumerated() {
            let value = Float(bitPattern: bits)
            #expect(GGMLQuantizer.float16Bits(value) == elements.f16Bits[index], "F16 of \(value) (0x\(String(bits, radix: 16)))")
            #expect(GGMLQuantizer.bfloat16Bits(value) == elements.bf16Bits[index], "BF16 of \(value) (0x\(String(bits, radix: 16)))")
        }
        // NaNs keep sign and payload with the quiet bit set, as ggml and gguf-py (not PyTorch) do.
        for (bits, expected) in zip(elements.nanInputBits, elements.nanBf16Bits) {
            #expect(GGMLQuantizer.bfloat16Bits(Float(bitPattern: bits)) == expected, "BF16 of NaN 0x\(String(bits, radix: 16))")
        }
    }

    /// Quantization error on Gaussian weights stays within what each format is known to reach
    /// (bits per weight: Q8_0 8.5, Q6_K 6.56, Q5_0 5.5, Q4_K 4.5, Q4_0 4.5), and in that order.
    @Test func errorsAreBoundedOnGaussianWeights() throws {
        let values = gaussianValues(1 << 16, seed: 7, scale: 0.02)
        var errors: [GGMLType: Double] = [:]
        let bounds: [GGMLType: Double] = [.f16: 3e-4, .bf16: 3e-3, .q8_0: 6e-3, .q6_K: 2e-2, .q5_0: 5e-2, .q4_K: 8e-2, .q4_0: 1.1e-1]
        for (type, bound) in bounds {
            let bytes = try GGMLQuantizer.encode(values, rowLength: 1024, as: type)
            #expect(bytes.count == type.rowByteCount(1024)! * 64)
            let error = relativeRMSError(dequantize(bytes, as: type, count: values.count), values)
            errors[type] = error
            #expect(error < bound, "\(type.name): relative RMS error \(error) ≥ \(bound)")
        }
        #expect(errors[.q8_0]! < errors[.q6_K]! && errors[.q6_K]! < errors[.q5_0]! && errors[.q5_0]! < errors[.q4_K]!)
        #expect(errors[.q4_K]! < errors[.q4_0]!, "Q4_K's fitted scales and minimums should beat Q4_0 at the same size")

        // Per value: no reconstruction is further off than about one quantization step of its block.
        let q4k = dequantize(try GGMLQuantizer.encode(values, rowLength: 1024, as: .q4_K), as: .q4_K, count: values.count)
        for block in 0..<(values.count / 32) {
            let range = (block * 32)..<((block + 1) * 32)
            let spread = values[range].max()! - min(0, values[range].min()!)
            let worst = zip(q4k[range], values[range]).map { abs($0 - $1) }.max()!
            #expect(worst <= spread / 15 * 1.5, "Q4_K block \(block): error \(worst), value spread \(spread)")
        }
    }

    @Test func edgeBlocksQuantizeExactlyOrToZero() throws {
        // All zeros: every format stores zeros. Constant blocks and small integers are exact in Q8_0.
        for type in [GGMLType.q8_0, .q4_0, .q5_0, .q4_K, .q6_K] {
            let zeros = try GGMLQuantizer.encode([Float](repeating: 0, count: 256), rowLength: 256, as: type)
            #expect(dequantize(zeros, as: type, count: 256).allSatisfy { $0 == 0 }, "\(type.name)")
        }
        // Every block holds 127, so its scale is exactly 1 and every integer in ±127 survives.
        let integers: [Float] = (0..<256).map { (index: Int) -> Float in
            let value: Int = index % 32 == 0 ? 127 : (index * 37) % 255 - 127
            return Float(value)
        }
        #expect(dequantize(try GGMLQuantizer.encode(integers, rowLength: 256, as: .q8_0), as: .q8_0, count: 256) == integers)
    }

    @Test func invalidRequestsAreRejected() {
        #expect(throws: ModelToolsError.self) { _ = try GGMLQuantizer.encode([Float](repeating: 1, count: 40), rowLength: 40, as: .q8_0) }
        #expect(throws: ModelToolsError.self) { _ = try GGMLQuantizer.encode([Float](repeating: 1, count: 512), rowLength: 128, as: .q4_K) }
        #expect(throws: ModelToolsError.self) { _ = try GGMLQuantizer.encode([Float](repeating: 1, count: 33), rowLength: 32, as: .q8_0) }
        #expect(throws: ModelToolsError.self) { _ = try GGMLQuantizer.encode([Float](repeating: 1, count: 32), rowLength: 32, as: .q2_K) }
        var withNaN = [Float](repeating: 1, count: 64)
        withNaN[40] = .nan
        #expect(throws: ModelToolsError.self) { _ = try GGMLQuantizer.encode(withNaN, rowLength: 64, as: .q4_0) }
        // Float types store non-finite values as they are.
        #expect((try? GGMLQuantizer.encode(withNaN, rowLength: 64, as: .f16)) != nil)
    }
}
