import CKernels
import Foundation
import Testing
@testable import Kernels

/// The backward-pass products (`TransposedProducts`, `PackedMatrix.multiplyTransposed`) on every path this
/// CPU can run, against a double-precision reference, against each other, and for determinism.
@Suite struct TransposedProductsTests {
    /// (m, k, n) shapes: odd sizes, k = 1, k beyond one inner block (256), n beyond one column block (256),
    /// m beyond one row block (96).
    static let shapes: [(m: Int, k: Int, n: Int)] = [
        (1, 1, 1), (3, 7, 5), (7, 1, 17), (13, 70, 33), (6, 300, 16), (25, 20, 270), (100, 9, 40), (31, 513, 7),
    ]

    /// Feature sets selecting each path this CPU supports: portable always, AVX2 and AVX-512 when present.
    static var paths: [(TransposedProducts.Path, CPUFeatures)] {
        var result: [(TransposedProducts.Path, CPUFeatures)] = [(.portable, [])]
        let detected = CPUFeatures.detected
        if detected.contains([.avx2, .fma]) { result.append((.avx2, [.avx2, .fma])) }
        if detected.hasAVX512 { result.append((.avx512, [.avx512f, .avx512bw, .avx512vl])) }
        return result
    }

    /// The bound on |computed − exact| for one element: a chain of n roundings of terms bounded by
    /// `magnitude` = |c₀| + Σ|a·b| loses at most about n·ε·magnitude (ε = 2⁻²⁴; the portable path rounds
    /// twice per step, hence 2 per step, plus slack). Derived from k, never tuned to pass.
    static func tolerance(inner: Int, magnitude: Double) -> Double {
        Double(2 * inner + 4) * 0x1p-24 * magnitude + 1e-30
    }

    /// `multiply` through the API, into a buffer preset to `initial`.
    func multiply(
        _ a: [Float], _ b: [Float], m: Int, k: Int, n: Int, initial: [Float], accumulate: Bool,
        features: CPUFeatures, width: Int = 2
    ) -> [Float] {
        var c = initial
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    TransposedProducts.multiply(a.baseAddress!, rows: m, inner: k, by: b.baseAddress!, columns: n,
                                                into: c.baseAddress!, accumulate: accumulate, features: features,
                                                pool: ComputePool(width: width))
                }
            }
        }
        return c
    }

    /// `accumulateTransposedProduct` through the API: C[n×k] += Aᵀ·B, A[m×n], B[m×k].
    func transposedProduct(
        _ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, initial: [Float], features: CPUFeatures, width: Int = 2
    ) -> [Float] {
        var c = initial
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    TransposedProducts.accumulateTransposedProduct(
                        a.baseAddress!, b.baseAddress!, rows: m, aColumns: n, bColumns: k, into: c.baseAddress!,
                        features: features, pool: ComputePool(width: width))
                }
            }
        }
        return c
    }

    func multiplyTransposed(
        _ matrix: PackedMatrix, _ gradient: [Float], m: Int, initial: [Float], accumulate: Bool,
        precision: Precision, features: CPUFeatures, width: Int = 2
    ) -> [Float] {
        var out = initial
        gradient.withUnsafeBufferPointer { g in
            out.withUnsafeMutableBufferPointer { out in
                matrix.multiplyTransposed(g.baseAddress!, rows: m, into: out.baseAddress!, accumulate: accumulate,
                                          precision: precision, features: features, pool: ComputePool(width: width))
            }
        }
        return out
    }

    /// C = C₀ + A·B in double precision with, per element, the magnitude |C₀| + Σ|a·b| its error scales with.
    func reference(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int, initial: [Float]?) -> (value: [Double], magnitude: [Double]) {
        var value = [Double](repeating: 0, count: m * n), magnitude = value
        for i in 0..<m {
            for j in 0..<n {
                var sum = initial.map { Double($0[i * n + j]) } ?? 0
                var size = abs(sum)
                for p in 0..<k {
                    let term = Double(a[i * k + p]) * Double(b[p * n + j])
                    sum += term
                    size += abs(term)
                }
                value[i * n + j] = sum
                magnitude[i * n + j] = size
            }
        }
        return (value, magnitude)
    }

    func transpose(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        var t = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for c in 0..<columns { t[c * rows + r] = x[r * columns + c] } }
        return t
    }

    /// The worst |computed − exact| / tolerance (≤ 1 passes) and whether every value is finite.
    func worstRatio(_ computed: [Float], _ exact: (value: [Double], magnitude: [Double]), inner: Int) -> Double {
        var worst = 0.0
        for index in computed.indices {
            guard computed[index].isFinite else { return .infinity }
            let error = abs(Double(computed[index]) - exact.value[index])
            worst = max(worst, error / Self.tolerance(inner: inner, magnitude: exact.magnitude[index]))
        }
        return worst
    }

    @Test func pathSelection() {
        #expect(TransposedProducts.path(features: []) == .portable)
        #if arch(x86_64)
        #expect(TransposedProducts.path(features: [.avx2, .fma]) == .avx2)
        #expect(TransposedProducts.path(features: [.avx2]) == .portable)
        #expect(TransposedProducts.path(features: [.avx2, .fma, .avx512f, .avx512bw, .avx512vl]) == .avx512)
        #endif
    }

    /// C (+)= A·B on every path, against the double reference, overwriting and accumulating.
    @Test(arguments: shapes.indices)
    func multiplyMatchesReference(shapeIndex: Int) {
        let (m, k, n) = Self.shapes[shapeIndex]
        let a = randomValues(m * k, seed: UInt64(10 + shapeIndex))
        let b = randomValues(k * n, seed: UInt64(20 + shapeIndex))
        let initial = randomValues(m * n, seed: UInt64(30 + shapeIndex), scale: 4)
        let overwrite = reference(a, b, m: m, k: k, n: n, initial: nil)
        let accumulated = reference(a, b, m: m, k: k, n: n, initial: initial)
        for (path, features) in Self.paths {
            #expect(TransposedProducts.path(features: features) == path)
            // Overwriting never reads C: NaN there must not leak into the result.
            let fresh = multiply(a, b, m: m, k: k, n: n, initial: [Float](repeating: .nan, count: m * n),
                                 accumulate: false, features: features)
            #expect(worstRatio(fresh, overwrite, inner: k) <= 1, "\(path) \(m)x\(k)x\(n) overwrite")
            let added = multiply(a, b, m: m, k: k, n: n, initial: initial, accumulate: true, features: features)
            #expect(worstRatio(added, accumulated, inner: k) <= 1, "\(path) \(m)x\(k)x\(n) accumulate")
        }
    }

    /// C[n×k] += Aᵀ·B on every path against the double reference, and bitwise equal to `multiply` of the
    /// materialised Aᵀ (the same chain per element).
    @Test(arguments: shapes.indices)
    func transposedProductMatchesReference(shapeIndex: Int) {
        // Here the shape's m is the reduction, k and n the output's columns and rows.
        let (m, k, n) = Self.shapes[shapeIndex]
        let a = randomValues(m * n, seed: UInt64(40 + shapeIndex))
        let b = randomValues(m * k, seed: UInt64(50 + shapeIndex))
        let initial = randomValues(n * k, seed: UInt64(60 + shapeIndex), scale: 4)
        let aT = transpose(a, rows: m, columns: n)
        let exact = reference(aT, b, m: n, k: m, n: k, initial: initial)
        for (path, features) in Self.paths {
            let c = transposedProduct(a, b, m: m, n: n, k: k, initial: initial, features: features)
            #expect(worstRatio(c, exact, inner: m) <= 1, "\(path) \(m)x\(n)x\(k)")
            let viaMultiply = multiply(aT, b, m: n, k: m, n: k, initial: initial, accumulate: true, features: features)
            #expect(c == viaMultiply, "\(path) \(m)x\(n)x\(k): Aᵀ·B differs from multiply(Aᵀ, B)")
        }
    }

    /// The C kernels against the portable path (within rounding), and AVX2 against AVX-512 bitwise (both
    /// run fused multiply-add chains in the same order; only on CPUs with AVX-512).
    @Test func kernelsAgree() {
        let (m, k, n) = (29, 300, 70)
        let a = randomValues(m * k, seed: 70), b = randomValues(k * n, seed: 71)
        let initial = randomValues(m * n, seed: 72)
        let exact = reference(a, b, m: m, k: k, n: n, initial: initial)
        let portable = multiply(a, b, m: m, k: k, n: n, initial: initial, accumulate: true, features: [])
        var results: [TransposedProducts.Path: [Float]] = [:]
        for (path, features) in Self.paths where path != .portable {
            let result = multiply(a, b, m: m, k: k, n: n, initial: initial, accumulate: true, features: features)
            results[path] = result
            var worst = 0.0
            for index in result.indices {
                let difference = abs(Double(result[index]) - Double(portable[index]))
                worst = max(worst, difference / (2 * Self.tolerance(inner: k, magnitude: exact.magnitude[index])))
            }
            #expect(worst <= 1, "\(path) vs portable: \(worst)")
        }
        if let avx2 = results[.avx2], let avx512 = results[.avx512] {
            #expect(avx2 == avx512, "AVX2 and AVX-512 chains differ")
        }
    }

    @Test(.enabled(if: CPUFeatures.detected.hasAVX512 && CPUFeatures.detected.contains([.avx2, .fma]),
                   "this CPU has no AVX-512"))
    func avx512IsBitwiseAVX2() {
        for (m, k, n) in Self.shapes + [(40, 600, 300)] {
            let a = randomValues(m * k, seed: 80), b = randomValues(k * n, seed: 81)
            let initial = randomValues(m * n, seed: 82)
            for accumulate in [false, true] {
                let avx2 = multiply(a, b, m: m, k: k, n: n, initial: initial, accumulate: accumulate, features: [.avx2, .fma])
                let avx512 = multiply(a, b, m: m, k: k, n: n, initial: initial, accumulate: accumulate,
                                      features: [.avx512f, .avx512bw, .avx512vl])
                #expect(avx2 == avx512, "\(m)x\(k)x\(n) accumulate \(accumulate)")
            }
        }
    }

    /// The thread split never changes a bit; a row of `multiply` is the same alone; the transposed product
    /// over m rows equals two calls over a split of them.
    @Test func resultsDoNotDependOnTheSplit() {
        let (m, k, n) = (37, 260, 45)
        let a = randomValues(m * k, seed: 90), b = randomValues(k * n, seed: 91)
        let initial = randomValues(m * n, seed: 92)
        for (path, features) in Self.paths {
            let reference = multiply(a, b, m: m, k: k, n: n, initial: initial, accumulate: true, features: features, width: 1)
            for width in [2, 3, 7] {
                let other = multiply(a, b, m: m, k: k, n: n, initial: initial, accumulate: true, features: features, width: width)
                #expect(other == reference, "\(path) width \(width)")
            }
            for row in [0, 5, 6, 36] {
                let alone = multiply(Array(a[row * k..<(row + 1) * k]), b, m: 1, k: k, n: n,
                                     initial: Array(initial[row * n..<(row + 1) * n]), accumulate: true, features: features)
                #expect(alone == Array(reference[row * n..<(row + 1) * n]), "\(path) row \(row)")
            }

            // dW += dYᵀ·X over m rows, at once and in two calls split at several rows (16 outputs: the
            // mirrored computation of short, wide results).
            for (rows, outputs, inputs) in [(300, 19, 35), (300, 16, 35)] {
                let dy = randomValues(rows * outputs, seed: 93), x = randomValues(rows * inputs, seed: 94)
                let start = randomValues(outputs * inputs, seed: 95)
                let whole = transposedProduct(dy, x, m: rows, n: outputs, k: inputs, initial: start, features: features, width: 1)
                for width in [2, 5] {
                    let other = transposedProduct(dy, x, m: rows, n: outputs, k: inputs, initial: start, features: features, width: width)
                    #expect(other == whole, "\(path) transposed width \(width)")
                }
                for split in [1, 100, 256, 299] {
                    let first = transposedProduct(Array(dy[..<(split * outputs)]), Array(x[..<(split * inputs)]),
                                                  m: split, n: outputs, k: inputs, initial: start, features: features)
                    let both = transposedProduct(Array(dy[(split * outputs)...]), Array(x[(split * inputs)...]),
                                                 m: rows - split, n: outputs, k: inputs, initial: first, features: features)
                    #expect(both == whole, "\(path) split at \(split)")
                }
            }
        }
    }

    /// Empty products: m = 0 leaves C alone; k = 0 zeroes it, or leaves it when accumulating.
    @Test func emptyProducts() {
        let b = randomValues(12, seed: 96), initial = randomValues(12, seed: 97)
        for (path, features) in Self.paths {
            let none = multiply([], b, m: 0, k: 3, n: 4, initial: initial, accumulate: false, features: features)
            #expect(none == initial, "\(path) m = 0")
            let zero = multiply([0], [0], m: 3, k: 0, n: 4, initial: initial, accumulate: false, features: features)
            #expect(zero == [Float](repeating: 0, count: 12), "\(path) k = 0")
            let kept = multiply([0], [0], m: 3, k: 0, n: 4, initial: initial, accumulate: true, features: features)
            #expect(kept == initial, "\(path) k = 0 accumulate")
            let noRows = transposedProduct([0], [0], m: 0, n: 3, k: 4, initial: initial, features: features)
            #expect(noRows == initial, "\(path) transposed m = 0")
        }
    }

    /// gradient · W through fp32 panels and bf16 pair panels, at both precisions: against the double
    /// reference (bf16 mode: with the rounded gradient), bitwise equal to `multiply` with the row-major
    /// weight on the same path, and independent of the thread split.
    @Test(arguments: [(1, 1, 2), (5, 33, 6), (13, 40, 70), (7, 300, 20), (40, 17, 262)])
    func packedWeightsMatchTheRowMajorProduct(shape: (Int, Int, Int)) {
        let (m, rows, columns) = shape  // W is rows × columns (out × in); the gradient m × rows
        let weights = randomValues(rows * columns, seed: 100).map { BFloat16.widening(BFloat16.rounding($0)) }
        let bf16 = weights.map(BFloat16.rounding)
        let packedBF16 = bf16.withUnsafeBytes { PackedMatrix(bfloat16Rows: $0.baseAddress!, rows: rows, columns: columns) }
        let packedF32 = PackedMatrix(rows: rows, columns: columns, format: .float32) { row, out in
            for c in 0..<columns { out[c] = weights[row * columns + c] }
        }
        let gradient = randomValues(m * rows, seed: 101, scale: 3)
        let roundedGradient = gradient.map { BFloat16.widening(BFloat16.rounding($0)) }
        let initial = randomValues(m * columns, seed: 102)
        for (path, features) in Self.paths {
            #expect(packedBF16.transposedKernel(features: features) == path)
            for accumulate in [false, true] {
                let plain = multiply(gradient, weights, m: m, k: rows, n: columns, initial: initial,
                                     accumulate: accumulate, features: features)
                let plainRounded = multiply(roundedGradient, weights, m: m, k: rows, n: columns, initial: initial,
                                            accumulate: accumulate, features: features)
                let exact = reference(gradient, weights, m: m, k: rows, n: columns, initial: accumulate ? initial : nil)
                let cases: [(PackedMatrix, Precision, [Float], String)] = [
                    (packedF32, .float32, plain, "f32 panels fp32"),
                    (packedF32, .bfloat16, plain, "f32 panels bf16 (stays fp32)"),
                    (packedBF16, .float32, plain, "bf16 panels fp32"),
                    (packedBF16, .bfloat16, plainRounded, "bf16 panels bf16"),
                ]
                for (matrix, precision, expected, name) in cases {
                    let result = multiplyTransposed(matrix, gradient, m: m, initial: initial, accumulate: accumulate,
                                                    precision: precision, features: features)
                    #expect(result == expected, "\(path) \(name) \(shape) accumulate \(accumulate)")
                    let other = multiplyTransposed(matrix, gradient, m: m, initial: initial, accumulate: accumulate,
                                                   precision: precision, features: features, width: 3)
                    #expect(other == result, "\(path) \(name) \(shape): thread split")
                }
                #expect(worstRatio(plain, exact, inner: rows) <= 1, "\(path) \(shape) fp32 vs reference")
                let exactRounded = reference(roundedGradient, weights, m: m, k: rows, n: columns,
                                             initial: accumulate ? initial : nil)
                #expect(worstRatio(plainRounded, exactRounded, inner: rows) <= 1, "\(path) \(shape) bf16 vs reference")
            }
        }
    }

    /// NaN and infinity propagate (the gradient check of a trainer must see them, not lose them in packing).
    @Test func nonFiniteValuesPropagate() {
        var a = randomValues(3 * 20, seed: 110)
        a[25] = .nan
        a[47] = .infinity
        let b = randomValues(20 * 9, seed: 111)
        for (path, features) in Self.paths {
            let c = multiply(a, b, m: 3, k: 20, n: 9, initial: [Float](repeating: 0, count: 27), accumulate: false,
                             features: features)
            #expect(c[0..<9].allSatisfy { $0.isFinite }, "\(path) row 0")
            #expect(c[9..<18].allSatisfy { $0.isNaN }, "\(path) row 1")
            #expect(c[18..<27].allSatisfy { !$0.isFinite }, "\(path) row 2")
        }
    }
}
