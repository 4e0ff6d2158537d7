import CKernels
import Foundation
import Testing
@testable import Kernels

/// Uniform values in `-scale...scale` from the package's seeded generator, so every run sees the same matrices.
func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale...scale, using: &generator) }
}

/// `C = A · Wᵀ` in double precision, the reference every kernel is compared with.
func referenceMultiply(_ a: [Float], rows: Int, _ w: [Float], outputs: Int, inner: Int) -> [Double] {
    var c = [Double](repeating: 0, count: rows * outputs)
    for i in 0..<rows {
        for j in 0..<outputs {
            var sum = 0.0
            for k in 0..<inner { sum += Double(a[i * inner + k]) * Double(w[j * inner + k]) }
            c[i * outputs + j] = sum
        }
    }
    return c
}

func multiply(_ a: [Float], rows: Int, _ w: [Float], outputs: Int, inner: Int, pool: ComputePool = .shared) -> [Float] {
    var c = [Float](repeating: .nan, count: rows * outputs)
    a.withUnsafeBufferPointer { a in
        w.withUnsafeBufferPointer { w in
            c.withUnsafeMutableBufferPointer { c in
                RowMajorGEMM.multiply(a.baseAddress!, rows: rows, by: w.baseAddress!, outputs: outputs, inner: inner,
                                      into: c.baseAddress!, pool: pool)
            }
        }
    }
    return c
}

@Suite struct RowMajorGEMMTests {
    @Test(arguments: [(1, 1, 1), (3, 5, 7), (4, 4, 16), (5, 9, 33), (17, 130, 64), (64, 67, 40), (8, 200, 1024)])
    func matchesDoublePrecisionReference(shape: (Int, Int, Int)) {
        let (rows, outputs, inner) = shape
        let a = randomValues(rows * inner, seed: 1)
        let w = randomValues(outputs * inner, seed: 2)
        let expected = referenceMultiply(a, rows: rows, w, outputs: outputs, inner: inner)
        for pool in [ComputePool(width: 1), ComputePool(width: 2), ComputePool(width: 3)] {
            let result = multiply(a, rows: rows, w, outputs: outputs, inner: inner, pool: pool)
            let worst = zip(result, expected).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * Double(max(inner, 16)).squareRoot(), "shape \(shape) width \(pool.width): \(worst)")
        }
    }

    /// Each output row is computed by the same operations whatever the batch around it: bitwise equal.
    @Test func rowResultsDoNotDependOnTheBatch() {
        let inner = 72, outputs = 37
        let w = randomValues(outputs * inner, seed: 3)
        let batch = randomValues(11 * inner, seed: 4)
        let together = multiply(batch, rows: 11, w, outputs: outputs, inner: inner)
        for row in 0..<11 {
            let alone = multiply(Array(batch[row * inner..<(row + 1) * inner]), rows: 1, w, outputs: outputs, inner: inner)
            #expect(alone == Array(together[row * outputs..<(row + 1) * outputs]), "row \(row)")
        }
    }

    @Test func dotHandlesTails() {
        for count in [0, 1, 15, 16, 17, 31, 100] {
            let a = randomValues(count, seed: 5), b = randomValues(count, seed: 6)
            let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let value = a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    RowMajorGEMM.dot(a.baseAddress ?? UnsafePointer(bitPattern: 16)!, b.baseAddress ?? UnsafePointer(bitPattern: 16)!, count: count)
                }
            }
            #expect(abs(Double(value) - expected) < 1e-5, "count \(count)")
        }
    }
}

@Suite struct ComputePoolTests {
    @Test func runsEveryTaskExactlyOnce() {
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: 1000)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        ComputePool(width: 2).run(tasks: 1000) { task in counts[task] += 1 }
        #expect(counts.allSatisfy { $0 == 1 })
    }
}

@Suite struct VectorMathTests {
    @Test func rmsNormMatchesDefinition() {
        let x = randomValues(40, seed: 7, scale: 3), w = randomValues(40, seed: 8)
        var out = [Float](repeating: 0, count: 40)
        x.withUnsafeBufferPointer { x in
            w.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { out in
                    VectorMath.rmsNorm(x.baseAddress!, weight: w.baseAddress!, count: 40, epsilon: 1e-6, into: out.baseAddress!)
                }
            }
        }
        let meanSquare = x.reduce(0.0) { $0 + Double($1) * Double($1) } / 40
        for i in 0..<40 {
            let expected = Double(w[i]) * Double(x[i]) / (meanSquare + 1e-6).squareRoot()
            #expect(abs(Double(out[i]) - expected) < 1e-5)
        }
    }

    @Test func ropeRotatesHalvesAndKeepsNorms() {
        let rope = RotaryEmbedding(dimensions: 16, theta: 1_000_000)
        let table = rope.table(length: 50)
        var vector = randomValues(16, seed: 9)
        let original = vector
        vector.withUnsafeMutableBufferPointer { table.apply(to: $0.baseAddress!, position: 37) }
        for i in 0..<8 {
            let angle = 37 * pow(1_000_000.0, -Double(2 * i) / 16)
            let x1 = Double(original[i]), x2 = Double(original[i + 8])
            #expect(abs(Double(vector[i]) - (x1 * cos(angle) - x2 * sin(angle))) < 1e-4)
            #expect(abs(Double(vector[i + 8]) - (x2 * cos(angle) + x1 * sin(angle))) < 1e-4)
        }
        var unrotated = original
        unrotated.withUnsafeMutableBufferPointer { table.apply(to: $0.baseAddress!, position: 0) }
        #expect(unrotated == original)
    }

    @Test func l2NormalizeKeepsZeroVectors() {
        var zero = [Float](repeating: 0, count: 8)
        VectorMath.l2Normalize(&zero)
        #expect(zero.allSatisfy { $0 == 0 })
        var values: [Float] = [3, 4]
        VectorMath.l2Normalize(&values)
        #expect(values == [0.6, 0.8])
    }
}

@Suite struct CausalAttentionTests {
    /// Naive attention with the full score matrix, in double precision.
    func reference(q: [Float], k: [Float], v: [Float], segments: [SequenceSegment], heads: Int, kvHeads: Int, d: Int) -> [Double] {
        var out = [Double](repeating: 0, count: q.count)
        for segment in segments {
            for h in 0..<heads {
                let kvh = h / (heads / kvHeads)
                for i in 0..<segment.length {
                    let qi = (segment.start + i) * heads * d + h * d
                    var scores: [Double] = []
                    for j in 0...i {
                        let kj = (segment.start + j) * kvHeads * d + kvh * d
                        scores.append((0..<d).reduce(0.0) { $0 + Double(q[qi + $1]) * Double(k[kj + $1]) } / Double(d).squareRoot())
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let total = e.reduce(0, +)
                    for j in 0...i {
                        let vj = (segment.start + j) * kvHeads * d + kvh * d
                        for x in 0..<d { out[qi + x] += e[j] / total * Double(v[vj + x]) }
                    }
                }
            }
        }
        return out
    }

    /// The AVX-512 kernel (where present) and the Swift reference, for head sizes on and off its fast path.
    @Test(arguments: [8, 16, 128, 40])
    func matchesNaiveAttentionOnPackedSequences(headDimension d: Int) {
        let heads = 4, kvHeads = 2
        let segments = [SequenceSegment(start: 0, length: 5), SequenceSegment(start: 5, length: 70), SequenceSegment(start: 75, length: 1)]
        let tokens = 76
        let q = randomValues(tokens * heads * d, seed: 10, scale: 2)
        let k = randomValues(tokens * kvHeads * d, seed: 11, scale: 2)
        let v = randomValues(tokens * kvHeads * d, seed: 12)
        let expected = reference(q: q, k: k, v: v, segments: segments, heads: heads, kvHeads: kvHeads, d: d)
        for features in [CPUFeatures(), CPUFeatures.detected] {
            var out = [Float](repeating: .nan, count: q.count)
            q.withUnsafeBufferPointer { q in k.withUnsafeBufferPointer { k in v.withUnsafeBufferPointer { v in
                out.withUnsafeMutableBufferPointer { out in
                    CausalAttention.compute(query: q.baseAddress!, key: k.baseAddress!, value: v.baseAddress!, output: out.baseAddress!,
                                            segments: segments, heads: heads, keyValueHeads: kvHeads, headDimension: d,
                                            features: features)
                }
            } } }
            let worst = zip(out, expected).map { abs(Double($0) - $1) }.max()!
            #expect(worst < 1e-5, "d \(d) features [\(features)]: max |diff| \(worst)")
        }
    }

    /// A sequence's output is bitwise the same alone and packed after other sequences (the kernel groups
    /// query rows by four and key tiles by 32 per task; no row may depend on that grouping).
    @Test func resultsDoNotDependOnPacking() {
        let heads = 4, kvHeads = 2, d = 128
        let lengths = [37, 1, 64, 100, 3]
        let tokens = lengths.reduce(0, +)
        let q = randomValues(tokens * heads * d, seed: 20, scale: 2)
        let k = randomValues(tokens * kvHeads * d, seed: 21, scale: 2)
        let v = randomValues(tokens * kvHeads * d, seed: 22)
        func attention(_ segments: [SequenceSegment], rows: Range<Int>) -> [Float] {
            var out = [Float](repeating: .nan, count: tokens * heads * d)
            q.withUnsafeBufferPointer { q in k.withUnsafeBufferPointer { k in v.withUnsafeBufferPointer { v in
                out.withUnsafeMutableBufferPointer { out in
                    CausalAttention.compute(query: q.baseAddress!, key: k.baseAddress!, value: v.baseAddress!, output: out.baseAddress!,
                                            segments: segments, heads: heads, keyValueHeads: kvHeads, headDimension: d,
                                            features: .detected)
                }
            } } }
            return Array(out[(rows.lowerBound * heads * d)..<(rows.upperBound * heads * d)])
        }
        var start = 0
        let packed = lengths.map { length in
            defer { start += length }
            return SequenceSegment(start: start, length: length)
        }
        for segment in packed {
            let rows = segment.start..<(segment.start + segment.length)
            #expect(attention([segment], rows: rows) == attention(packed, rows: rows), "segment at \(segment.start)")
        }
    }

    /// `q3e_exp_avx512` (the softmax and SwiGLU exponentials) against Foundation's `exp`, its reference.
    @Test(.enabled(if: CPUFeatures.detected.hasAVX512, "this CPU has no AVX-512"))
    func vectorExpMatchesFoundation() {
        let inputs = (0..<2001).map { -110 + Float($0) * 0.06 } + [0, -0.0, -1e-8, -88, -103.9]
        var outputs = [Float](repeating: .nan, count: inputs.count)
        inputs.withUnsafeBufferPointer { source in
            outputs.withUnsafeMutableBufferPointer { destination in
                q3e_exp_avx512(source.baseAddress!, destination.baseAddress!, Int64(inputs.count))
            }
        }
        for (x, y) in zip(inputs, outputs) {
            let expected = Foundation.exp(Double(x))
            #expect(abs(Double(y) - expected) <= max(4e-7 * expected, 1e-38), "exp(\(x)) = \(y), expected \(expected)")
        }
    }
}
