import Foundation
import Testing
import TestSupport
@testable import ModelFormats

/// One entry of Tests/Fixtures/gguf/dequant-goldens.json.
struct DequantizationGolden: Decodable, Sendable, CustomTestStringConvertible {
    let type: String
    let count: Int
    let raw: String
    let expected: String
    let all_patterns_checksum: String?

    var testDescription: String { type }

    static let all: [DequantizationGolden] = {
        (try? GoldenFile.decode([DequantizationGolden].self, at: "gguf/dequant-goldens.json")) ?? []
    }()
}

/// `GGMLBlocks` against `gguf.quants.dequantize` (gguf 0.19.0), bit for bit.
@Suite struct GGUFDequantizationTests {
    @Test func goldensCoverEverySupportedType() {
        let types = Set(DequantizationGolden.all.map(\.type))
        #expect(types == Set(GGMLType.allCases.filter(\.isSupported).map(\.name)))
    }

    @Test(arguments: DequantizationGolden.all)
    func dequantizeMatchesPythonBitForBit(_ golden: DequantizationGolden) throws {
        let type = try #require(GGMLType(named: golden.type))
        let raw = [UInt8](Data(base64Encoded: golden.raw)!)
        let expected = floats(base64: golden.expected)
        #expect(expected.count == golden.count)
        #expect(raw.count == type.rowByteCount(golden.count))
        // Read from an odd address too: blocks in files are not aligned.
        for misalignment in [0, 1, 3] {
            let shifted = [UInt8](repeating: 0xA5, count: misalignment) + raw
            var output = [Float](repeating: .nan, count: golden.count)
            shifted.withUnsafeBytes { source in
                output.withUnsafeMutableBufferPointer {
                    GGMLBlocks.dequantize(type, source.baseAddress! + misalignment, count: golden.count, into: $0.baseAddress!)
                }
            }
            var mismatches = 0
            for index in 0..<golden.count where output[index].bitPattern != expected[index].bitPattern {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record("\(golden.type)[\(index)]: \(output[index]) (0x\(String(output[index].bitPattern, radix: 16))) != Python \(expected[index]) (0x\(String(expected[index].bitPattern, radix: 16)))")
                }
            }
            #expect(mismatches == 0, "\(golden.type): \(mismatches) of \(golden.count) values differ")
        }
    }

    /// decode() + the affine formula reproduces dequantize() exactly (all golden scale fields are finite).
    @Test(arguments: DequantizationGolden.all.filter { GGMLBlocks.affineLayout(of: GGMLType(named: $0.type)!) != nil })
    func decodeReproducesDequantize(_ golden: DequantizationGolden) throws {
        let type = try #require(GGMLType(named: golden.type))
        let layout = try #require(GGMLBlocks.affineLayout(of: type))
        let raw = [UInt8](Data(base64Encoded: golden.raw)!)
        let expected = floats(base64: golden.expected)
        let count = golden.count
        var codes = [UInt8](repeating: 0xEE, count: count)
        var scales = [Float](repeating: .nan, count: count / layout.subBlockSize)
        var offsets = [Float](repeating: .nan, count: count / layout.subBlockSize)
        raw.withUnsafeBytes { source in
            GGMLBlocks.decode(type, source.baseAddress!, count: count, codes: &codes, scales: &scales, offsets: &offsets)
        }
        var mismatches = 0
        for index in 0..<count {
            #expect(Int(codes[index]) < 1 << layout.bits, "code \(codes[index]) has more than \(layout.bits) bits")
            let block = index / layout.subBlockSize
            let centred = Float(Int32(codes[index]) - layout.zeroPoint)
            let value = layout.hasOffset ? scales[block] * centred + offsets[block] : scales[block] * centred
            if value.bitPattern != expected[index].bitPattern {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(golden.type)[\(index)]: decode gives \(value), Python \(expected[index])") }
            }
        }
        #expect(mismatches == 0)
        if !layout.hasOffset { #expect(offsets.allSatisfy { $0.bitPattern == 0 }, "offsets must be +0 without an offset") }
        // Random bytes over thousands of values reach (nearly) every code, the extremes included, so no
        // bit of a code is lost.
        let distinct = Set(codes)
        if type == .iq4_NL || type == .iq4_XS {
            // The codes are the 16 table values + 128, every one of them reached.
            let table: Set<UInt8> = [1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241]
            #expect(distinct == table)
        } else {
            #expect(distinct.count >= (1 << layout.bits) * 9 / 10 && distinct.contains(0) && distinct.contains(UInt8((1 << layout.bits) - 1)))
        }
    }

    @Test func affineLayoutsAreTheDocumentedOnes() {
        let expected: [GGMLType: GGMLBlocks.AffineLayout] = [
            .q8_0: .init(subBlockSize: 32, bits: 8, zeroPoint: 128, hasOffset: false),
            .q4_0: .init(subBlockSize: 32, bits: 4, zeroPoint: 8, hasOffset: false),
            .q4_1: .init(subBlockSize: 32, bits: 4, zeroPoint: 0, hasOffset: true),
            .q5_0: .init(subBlockSize: 32, bits: 5, zeroPoint: 16, hasOffset: false),
            .q5_1: .init(subBlockSize: 32, bits: 5, zeroPoint: 0, hasOffset: true),
            .q2_K: .init(subBlockSize: 16, bits: 2, zeroPoint: 0, hasOffset: true),
            .q3_K: .init(subBlockSize: 16, bits: 3, zeroPoint: 4, hasOffset: false),
            .q4_K: .init(subBlockSize: 32, bits: 4, zeroPoint: 0, hasOffset: true),
            .q5_K: .init(subBlockSize: 32, bits: 5, zeroPoint: 0, hasOffset: true),
            .q6_K: .init(subBlockSize: 16, bits: 6, zeroPoint: 32, hasOffset: false),
            .iq4_NL: .init(subBlockSize: 32, bits: 8, zeroPoint: 128, hasOffset: false),
            .iq4_XS: .init(subBlockSize: 32, bits: 8, zeroPoint: 128, hasOffset: false),
        ]
        for type in GGMLType.allCases {
            #expect(GGMLBlocks.affineLayout(of: type) == expected[type], "\(type.name)")
            if let layout = expected[type] { #expect(type.blockSize % layout.subBlockSize == 0) }
        }
    }

    /// All 65 536 F16 and BF16 bit patterns against the checksum of Python's output.
    @Test func everyHalfPrecisionPattern() throws {
        for golden in DequantizationGolden.all where golden.all_patterns_checksum != nil {
            let type = try #require(GGMLType(named: golden.type))
            let patterns = (0...UInt16.max).flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
            var output = [Float](repeating: 0, count: 65536)
            patterns.withUnsafeBytes { source in
                output.withUnsafeMutableBufferPointer { GGMLBlocks.dequantize(type, source.baseAddress!, count: 65536, into: $0.baseAddress!) }
            }
            #expect(String(checksum(output)) == golden.all_patterns_checksum, "\(golden.type)")
            if type == .f16 {
                // Where hardware agrees (no signalling NaN), the conversion is Swift's own.
                for bits in UInt16(0)...UInt16.max where !(Float16(bitPattern: bits).isSignalingNaN) {
                    let reference = Float(Float16(bitPattern: bits))
                    if reference.isNaN ? !output[Int(bits)].isNaN : reference.bitPattern != output[Int(bits)].bitPattern {
                        Issue.record("F16 0x\(String(bits, radix: 16)): \(output[Int(bits)]) != \(reference)")
                    }
                }
            }
        }
    }

    @Test func signallingNaNPayloadsArePreserved() {
        // numpy's float16 → float32 cast keeps a signalling NaN signalling; so must we.
        #expect(GGMLBlocks.float(fromFloat16: 0x7C01).bitPattern == 0x7F80_2000)
        #expect(GGMLBlocks.float(fromFloat16: 0xFC01).bitPattern == 0xFF80_2000)
        #expect(GGMLBlocks.float(fromFloat16: 0x7E00).bitPattern == 0x7FC0_0000)
        #expect(GGMLBlocks.float(fromFloat16: 0x8001).bitPattern == 0xB380_0000)
        #expect(GGMLBlocks.float(fromFloat16: 0x8000).bitPattern == 0x8000_0000)
    }
}
