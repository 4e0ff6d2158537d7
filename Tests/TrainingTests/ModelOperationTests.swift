import Foundation
import Kernels
import Testing
@testable import Training

/// Each hand-written backward against central finite differences of a float64 reference forward.
@Suite struct ModelOperationTests {
    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    /// Central differences of `f` at `x` (float64, step 1e-6).
    static func numericalGradient(_ x: [Double], _ f: ([Double]) -> Double) -> [Double] {
        x.indices.map { i in
            var plus = x, minus = x
            plus[i] += 1e-6
            minus[i] -= 1e-6
            return (f(plus) - f(minus)) / 2e-6
        }
    }

    static func expectClose(_ analytic: [Float], _ numeric: [Double], _ what: String, tolerance: Double = 1e-4) {
        let error = TrainingFixtures.relativeError(analytic, numeric.map { Float($0) })
        #expect(error < tolerance, "\(what): relative error \(error)")
        #expect(numeric.contains { $0 != 0 }, "\(what): the check would be vacuous")
    }

    static func rmsNorm(_ x: [Double], _ w: [Double], epsilon: Double) -> [Double] {
        let r = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(x.count) + epsilon).squareRoot()
        return x.indices.map { w[$0] * x[$0] * r }
    }

    @Test func rmsNormBackward() {
        let n = 24
        let x = Self.values(n, seed: 1), w = Self.values(n, seed: 2).map { $0 + 1.5 }, dy = Self.values(n, seed: 3)
        var dx = [Float](repeating: 0.25, count: n)  // accumulates onto what is there
        var dw = [Float](repeating: 0, count: n)
        NormBackward.rmsNorm(input: x, weight: w, outputGradient: dy, count: n, epsilon: 1e-6,
                             inputGradient: &dx, weightGradient: &dw)
        let c = dy.map(Double.init)
        let xd = x.map(Double.init), wd = w.map(Double.init)
        let numericX = Self.numericalGradient(xd) { x in zip(Self.rmsNorm(x, wd, epsilon: 1e-6), c).reduce(0) { $0 + $1.0 * $1.1 } }
        let numericW = Self.numericalGradient(wd) { w in zip(Self.rmsNorm(xd, w, epsilon: 1e-6), c).reduce(0) { $0 + $1.0 * $1.1 } }
        Self.expectClose(dx.map { $0 - 0.25 }, numericX, "RMSNorm dx")
        Self.expectClose(dw, numericW, "RMSNorm dw")
    }

    @Test func rotaryBackwardIsTheInverseRotation() {
        let d = 16
        let table = RotaryEmbedding(dimensions: d, theta: 1_000_000).table(length: 8)
        let x = Self.values(d, seed: 4), dy = Self.values(d, seed: 5)
        var gradient = dy
        gradient.withUnsafeMutableBufferPointer { ActivationBackward.rotaryBackward($0.baseAddress!, position: 7, table: table) }
        func rotate(_ x: [Double]) -> [Double] {
            var y = x
            for i in 0..<(d / 2) {
                let c = Double(table.cosines[7 * d / 2 + i]), s = Double(table.sines[7 * d / 2 + i])
                y[i] = x[i] * c - x[i + d / 2] * s
                y[i + d / 2] = x[i + d / 2] * c + x[i] * s
            }
            return y
        }
        let numeric = Self.numericalGradient(x.map(Double.init)) { x in zip(rotate(x), dy).reduce(0) { $0 + $1.0 * Double($1.1) } }
        Self.expectClose(gradient, numeric, "RoPE")
    }

    @Test func swiGLUBackward() {
        let n = 12
        let gateUp = Self.values(2 * n, seed: 6).map { $0 * 3 }, dA = Self.values(n, seed: 7)
        var gradient = [Float](repeating: 0, count: 2 * n)
        ActivationBackward.swiGLU(gateUp: gateUp, activatedGradient: dA, width: n, into: &gradient)
        let numeric = Self.numericalGradient(gateUp.map(Double.init)) { v in
            (0..<n).reduce(0) { sum, i in sum + Double(dA[i]) * v[i] / (1 + exp(-v[i])) * v[n + i] }
        }
        Self.expectClose(gradient, numeric, "SwiGLU")
    }

    /// Two packed sequences (lengths 3 and 5), 4 query heads sharing 2 key/value heads, head_dim 4.
    @Test func attentionBackward() {
        let heads = 4, kvHeads = 2, d = 4
        let segments = [SequenceSegment(start: 0, length: 3), SequenceSegment(start: 3, length: 5)]
        let tokens = 8
        let q = Self.values(tokens * heads * d, seed: 8), k = Self.values(tokens * kvHeads * d, seed: 9)
        let v = Self.values(tokens * kvHeads * d, seed: 10), dO = Self.values(tokens * heads * d, seed: 11)
        func attention(_ q: [Double], _ k: [Double], _ v: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: tokens * heads * d)
            let scale = 1 / Double(d).squareRoot()
            for segment in segments {
                for h in 0..<heads {
                    let g = h / (heads / kvHeads)
                    for i in 0..<segment.length {
                        let row = segment.start + i
                        let scores = (0...i).map { j in
                            (0..<d).reduce(0.0) { $0 + q[row * heads * d + h * d + $1] * k[(segment.start + j) * kvHeads * d + g * d + $1] } * scale
                        }
                        let m = scores.max()!
                        let e = scores.map { exp($0 - m) }
                        let total = e.reduce(0, +)
                        for j in 0...i {
                            for t in 0..<d { out[row * heads * d + h * d + t] += e[j] / total * v[(segment.start + j) * kvHeads * d + g * d + t] }
                        }
                    }
                }
            }
            return out
        }
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = [Float](repeating: 0, count: v.count)
        AttentionBackward.compute(
            query: q, key: k, value: v, queryStride: heads * d, keyValueStride: kvHeads * d,
            outputGradient: dO, outputStride: heads * d, queryGradient: &dq, keyGradient: &dk, valueGradient: &dv,
            segments: segments, heads: heads, keyValueHeads: kvHeads, headDimension: d, pool: ComputePool(width: 2))
        let qd = q.map(Double.init), kd = k.map(Double.init), vd = v.map(Double.init), c = dO.map(Double.init)
        func loss(_ out: [Double]) -> Double { zip(out, c).reduce(0) { $0 + $1.0 * $1.1 } }
        Self.expectClose(dq, Self.numericalGradient(qd) { loss(attention($0, kd, vd)) }, "attention dq")
        Self.expectClose(dk, Self.numericalGradient(kd) { loss(attention(qd, $0, vd)) }, "attention dk")
        Self.expectClose(dv, Self.numericalGradient(vd) { loss(attention(qd, kd, $0)) }, "attention dv")
    }

    /// A fused two-part trainable layer with LoRA on its second part: dX, dW of both parts, dA, dB.
    @Test func linearBackwardWithLoRA() {
        let m = 3, columns = 6, rows0 = 4, rows1 = 5, rank = 2
        let scale: Float = 1.5
        let w0 = TrainableParameter(name: "w0", shape: [rows0, columns], values: Self.values(rows0 * columns, seed: 12))
        let w1 = TrainableParameter(name: "w1", shape: [rows1, columns], values: Self.values(rows1 * columns, seed: 13))
        let a = TrainableParameter(name: "a", shape: [rank, columns], values: Self.values(rank * columns, seed: 14))
        let b = TrainableParameter(name: "b", shape: [rows1, rank], values: Self.values(rows1 * rank, seed: 15))
        let layer = TrainableLinear(base: .trainable([w0, w1]), partRows: [rows0, rows1], columns: columns,
                                    adapters: [nil, .init(a: a, b: b, scale: scale)])
        let x = Self.values(m * columns, seed: 16), dy = Self.values(m * (rows0 + rows1), seed: 17)
        let pool = ComputePool(width: 2)
        // The forward the model runs, against the float64 formula.
        var y = [Float](repeating: .nan, count: m * (rows0 + rows1))
        layer.multiply(x, rows: m, into: &y, precision: .float32, features: CPUFeatures(), pool: pool)
        func forward(_ x: [Double], _ w0: [Double], _ w1: [Double], _ a: [Double], _ b: [Double]) -> [Double] {
            var out: [Double] = []
            for r in 0..<m {
                let xr = Array(x[(r * columns)..<((r + 1) * columns)])
                func dot(_ u: [Double], _ v: ArraySlice<Double>) -> Double { zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
                for o in 0..<rows0 { out.append(dot(xr, w0[(o * columns)..<((o + 1) * columns)])) }
                let low = (0..<rank).map { dot(xr, a[($0 * columns)..<(($0 + 1) * columns)]) }
                for o in 0..<rows1 {
                    out.append(dot(xr, w1[(o * columns)..<((o + 1) * columns)]) + Double(scale) * dot(low, b[(o * rank)..<((o + 1) * rank)]))
                }
            }
            return out
        }
        let d = { (v: [Float]) in v.map(Double.init) }
        let reference = forward(d(x), d(w0.values), d(w1.values), d(a.values), d(b.values))
        #expect(TrainingFixtures.relativeError(y, reference.map { Float($0) }) < 1e-6)

        var dx = [Float](repeating: 0, count: m * columns)
        layer.backward(input: x, outputGradient: dy, rows: m, inputGradient: &dx, precision: .float32, features: CPUFeatures(), pool: pool)
        let c = d(dy)
        func loss(_ out: [Double]) -> Double { zip(out, c).reduce(0) { $0 + $1.0 * $1.1 } }
        Self.expectClose(dx, Self.numericalGradient(d(x)) { loss(forward($0, d(w0.values), d(w1.values), d(a.values), d(b.values))) }, "dX")
        Self.expectClose(w0.gradients, Self.numericalGradient(d(w0.values)) { loss(forward(d(x), $0, d(w1.values), d(a.values), d(b.values))) }, "dW0")
        Self.expectClose(w1.gradients, Self.numericalGradient(d(w1.values)) { loss(forward(d(x), d(w0.values), $0, d(a.values), d(b.values))) }, "dW1")
        Self.expectClose(a.gradients, Self.numericalGradient(d(a.values)) { loss(forward(d(x), d(w0.values), d(w1.values), $0, d(b.values))) }, "dA")
        Self.expectClose(b.gradients, Self.numericalGradient(d(b.values)) { loss(forward(d(x), d(w0.values), d(w1.values), d(a.values), $0)) }, "dB")
    }
}
