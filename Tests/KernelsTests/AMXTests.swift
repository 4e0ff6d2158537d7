import Foundation
import Testing
@testable import Kernels

/// The AMX-BF16 kernel against the plain Swift bf16 reference. AMX exists only on recent Intel Xeons;
/// on other CPUs (this project's CI machines among them) the suite is reported as skipped, and the AMX
/// path is never dispatched there (see `PackedMatrix.kernel(for:features:)`).
@Suite(.enabled(if: CPUFeatures.detected.contains([.amxTile, .amxBF16]), "this CPU has no AMX-BF16"))
struct AMXTests {
    @Test(arguments: [(1, 32, 32), (5, 40, 64), (16, 64, 1024), (17, 33, 96), (33, 100, 128), (70, 130, 3072)])
    func amxMatchesTheReference(m: Int, n: Int, k: Int) throws {
        let x = randomValues(m * k, seed: UInt64(m * 31 + k))
        let weights = randomValues(n * k, seed: UInt64(n * 17 + k)).map(BFloat16.rounding)
        let matrix = weights.withUnsafeBytes { PackedMatrix(bfloat16Rows: $0.baseAddress!, rows: n, columns: k) }
        #expect(matrix.kernel(for: .bfloat16, features: .detected) == .amxBF16)
        func run(_ features: CPUFeatures) -> [Float] {
            var out = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { out in
                    matrix.multiply(x.baseAddress!, rows: m, into: out.baseAddress!, precision: .bfloat16,
                                    features: features, pool: ComputePool(width: 2))
                }
            }
            return out
        }
        let amx = run(.detected)
        let portable = run(CPUFeatures())
        let tolerance = Float(4e-4) * Float(k).squareRoot()
        for index in amx.indices {
            #expect(abs(amx[index] - portable[index]) <= tolerance, "\(m)x\(n)x\(k) [\(index)]: \(amx[index]) vs \(portable[index])")
        }
    }
}
