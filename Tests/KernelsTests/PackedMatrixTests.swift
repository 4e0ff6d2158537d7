import CKernels
import Foundation
import Testing
@testable import Kernels

/// The C kernels against the plain Swift reference kernels and a double-precision reference.
@Suite struct PackedMatrixTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 2), (3, 17, 8), (12, 32, 40), (13, 33, 96), (25, 100, 64), (7, 64, 1024), (40, 130, 24)]

    func bf16Rows(_ values: [Float]) -> [UInt16] { values.map(BFloat16.rounding) }

    func run(_ matrix: PackedMatrix, _ x: [Float], m: Int, precision: Precision, features: CPUFeatures) -> [Float] {
        var out = [Float](repeating: .nan, count: m * matrix.rows)
        x.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { out in
                matrix.multiply(x.baseAddress!, rows: m, into: out.baseAddress!, precision: precision,
                                features: features, pool: ComputePool(width: 2))
            }
        }
        return out
    }

    func reference(_ x: [Float], _ w: [Float], m: Int, n: Int, k: Int, roundActivations: Bool) -> [Double] {
        let xs = roundActivations ? x.map { BFloat16.widening(BFloat16.rounding($0)) } : x
        return referenceMultiply(xs, rows: m, w, outputs: n, inner: k)
    }

    /// Every (format, precision, kernel) combination this CPU can run, portable always included.
    @Test(arguments: shapes.indices)
    func kernelsMatchReference(shapeIndex: Int) throws {
        let (m, n, k) = Self.shapes[shapeIndex]
        let x = randomValues(m * k, seed: UInt64(100 + shapeIndex))
        let weightsBF16 = bf16Rows(randomValues(n * k, seed: UInt64(200 + shapeIndex)))
        let w = weightsBF16.map(BFloat16.widening)  // exactly representable in bf16
        let packedBF16 = weightsBF16.withUnsafeBytes { PackedMatrix(bfloat16Rows: $0.baseAddress!, rows: n, columns: k) }
        let packedF32 = PackedMatrix(rows: n, columns: k, format: .float32) { row, out in
            for c in 0..<k { out[c] = w[row * k + c] }
        }
        let packedRounded = PackedMatrix(rows: n, columns: k, format: .bfloat16Pairs) { row, out in
            for c in 0..<k { out[c] = w[row * k + c] }
        }
        #expect(memcmp(packedRounded.storage, packedBF16.storage, packedBF16.byteCount) == 0, "packing paths agree")

        let exact = reference(x, w, m: m, n: n, k: k, roundActivations: false)
        let rounded = reference(x, w, m: m, n: n, k: k, roundActivations: true)
        let tolerance = 1e-5 * Double(k).squareRoot() * 4
        for features in [CPUFeatures(), CPUFeatures.detected] {
            for (matrix, name) in [(packedBF16, "bf16 panels"), (packedF32, "f32 panels")] {
                let fp32 = run(matrix, x, m: m, precision: .float32, features: features)
                let worst = zip(fp32, exact).map { abs(Double($0) - $1) }.max()!
                #expect(worst <= tolerance, "\(name) fp32 \(matrix.kernel(for: .float32, features: features)) \(m)x\(n)x\(k): \(worst)")
            }
            let fast = run(packedBF16, x, m: m, precision: .bfloat16, features: features)
            let worst = zip(fast, rounded).map { abs(Double($0) - $1) }.max()!
            #expect(worst <= tolerance * 10, "bf16 \(packedBF16.kernel(for: .bfloat16, features: features)) \(m)x\(n)x\(k): \(worst)")
        }
    }

    /// A row's result is bitwise the same alone or inside any batch, for every kernel.
    @Test func rowsAreBatchInvariant() {
        let (n, k) = (70, 48)
        let weights = bf16Rows(randomValues(n * k, seed: 300))
        let matrix = weights.withUnsafeBytes { PackedMatrix(bfloat16Rows: $0.baseAddress!, rows: n, columns: k) }
        let x = randomValues(29 * k, seed: 301)
        for features in [CPUFeatures(), CPUFeatures.detected] {
            for precision in Precision.allCases {
                let batch = run(matrix, x, m: 29, precision: precision, features: features)
                for row in [0, 11, 12, 28] {
                    let alone = run(matrix, Array(x[row * k..<(row + 1) * k]), m: 1, precision: precision, features: features)
                    #expect(alone == Array(batch[row * n..<(row + 1) * n]), "row \(row) \(precision)")
                }
            }
        }
    }

    @Test func bf16RoundingMatchesPyTorch() {
        // Values and their torch.tensor(v).to(torch.bfloat16) bit patterns.
        let cases: [(Float, UInt16)] = [
            (1.0, 0x3F80), (-2.5, 0xC020), (0, 0), (-0.0, 0x8000), (.infinity, 0x7F80), (-.infinity, 0xFF80),
            (Float(bitPattern: 0x3F80_8000), 0x3F80),  // tie, even stays
            (Float(bitPattern: 0x3F81_8000), 0x3F82),  // tie, odd rounds up
            (Float(bitPattern: 0x3F80_8001), 0x3F81), (Float.greatestFiniteMagnitude, 0x7F80), (.nan, 0x7FC0),
        ]
        for (value, expected) in cases { #expect(BFloat16.rounding(value) == expected, "\(value)") }
        // The AVX-512 conversion agrees with the Swift one on random bit patterns (NaNs and ties included).
        var generator = SeededGenerator(seed: 400)
        var values = (0..<4099).map { _ in Float(bitPattern: UInt32.random(in: .min ... .max, using: &generator)) }
        values += cases.map(\.0)
        var converted = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
            converted.withUnsafeMutableBufferPointer { destination in
                BFloat16.round(source.baseAddress!, into: destination.baseAddress!, count: values.count, features: .detected)
            }
        }
        #expect(converted == values.map(BFloat16.rounding))
    }

    @Test func cpuFeaturesAgreeWithTheKernel() throws {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let detected = CPUFeatures.detected
        #expect(detected.contains(.avx512f) == flags.contains("avx512f"))
        #expect(detected.contains(.avx512bf16) == flags.contains("avx512_bf16"))
        #expect(detected.contains(.amxBF16) == flags.contains("amx_bf16"))
        #expect(detected.contains(.avx2) == flags.contains("avx2"))
    }
}
