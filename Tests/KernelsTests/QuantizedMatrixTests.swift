import CKernels
import Foundation
import Testing
@testable import Kernels

/// `QuantizedMatrix`: packing, activation quantization, and the VNNI kernel against the portable Swift
/// kernel (bitwise) and against double-precision references.
@Suite struct QuantizedMatrixTests {
    /// Every layout the ggml types use, with its name.
    static let layouts: [(String, QuantizedMatrix.Layout)] = [
        ("Q8_0", .q8_0), ("Q4_0", .q4_0), ("Q4_1", .q4_1), ("Q5_0", .q5_0), ("Q5_1", .q5_1),
        ("Q2_K", .q2_K), ("Q3_K", .q3_K), ("Q4_K", .q4_K), ("Q5_K", .q5_K), ("Q6_K", .q6_K),
    ]

    /// (m, n, k): odd batch sizes, row counts that are not multiples of 16 or 32, k from one group up.
    static let shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 32), (3, 17, 64), (5, 33, 96), (7, 40, 256), (13, 70, 128), (2, 32, 1024)]

    /// Random weights of `layout` in the form `fill` supplies them, plus the matrix built from them.
    struct Weights {
        let codes: [UInt8]
        let scales: [Float]
        let offsets: [Float]
        let matrix: QuantizedMatrix

        init(rows: Int, columns: Int, layout: QuantizedMatrix.Layout, seed: UInt64, halfScales: Bool) {
            var generator = SeededGenerator(seed: seed)
            let subBlocks = columns / layout.subBlockSize
            codes = (0..<(rows * columns)).map { _ in UInt8.random(in: 0...UInt8((1 << layout.bits) - 1), using: &generator) }
            // Scales of either sign (Q3_K and Q6_K have signed sub-scales), magnitudes like real models'.
            func value(_ range: ClosedRange<Float>) -> Float {
                let v = Float.random(in: range, using: &generator)
                // fp16-exact values exercise the fp16 storage; others force fp32.
                return halfScales ? Half.float(fromBits: Half.roundedBits(v), nan: .preserving) : v
            }
            scales = (0..<(rows * subBlocks)).map { _ in value(-0.02...0.03) }
            offsets = layout.hasOffset ? (0..<(rows * subBlocks)).map { _ in value(-0.05...0.02) } : []
            let (codes, scales, offsets) = (codes, scales, offsets)
            matrix = QuantizedMatrix(rows: rows, columns: columns, layout: layout) { row, c, s, o in
                for i in 0..<columns { c[i] = codes[row * columns + i] }
                for b in 0..<subBlocks {
                    s[b] = scales[row * subBlocks + b]
                    if layout.hasOffset { o[b] = offsets[row * subBlocks + b] }
                }
            }
        }

        /// The weight at (row, column) by the layout's definition, in double precision.
        func weight(_ row: Int, _ column: Int) -> Double {
            let layout = matrix.layout
            let b = row * (matrix.columns / layout.subBlockSize) + column / layout.subBlockSize
            let code = Double(Int32(codes[row * matrix.columns + column]) - layout.zeroPoint)
            return Double(scales[b]) * code + (layout.hasOffset ? Double(offsets[b]) : 0)
        }
    }

    /// The C kernels this CPU can run: AVX512-VNNI, and the AVX-VNNI kernel either natively or, on
    /// AVX-512 machines, as its EVEX-encoded twin.
    static let testableKernels: [QuantizedMatrix.Kernel] = {
        let cpu = CPUFeatures.detected
        var kernels: [QuantizedMatrix.Kernel] = []
        if cpu.hasAVX512 && cpu.contains(.avx512vnni) { kernels += [.avx512VNNI, .avxVNNIOnAVX512] }
        if cpu.contains([.avx2, .fma, .f16c, .avxVNNI]) { kernels.append(.avxVNNI) }
        return kernels
    }()

    /// `matrix · x` on `kernel` (with the activation quantizer the detected features select).
    func run(_ matrix: QuantizedMatrix, _ x: [Float], m: Int, kernel: QuantizedMatrix.Kernel, width: Int = 2) -> [Float] {
        var out = [Float](repeating: .nan, count: m * matrix.rows)
        x.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { out in
                matrix.multiply(x.baseAddress!, rows: m, into: out.baseAddress!, kernel: kernel, features: .detected,
                                pool: ComputePool(width: width))
            }
        }
        return out
    }

    func run(_ matrix: QuantizedMatrix, _ x: [Float], m: Int, features: CPUFeatures, width: Int = 2) -> [Float] {
        var out = [Float](repeating: .nan, count: m * matrix.rows)
        x.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { out in
                matrix.multiply(x.baseAddress!, rows: m, into: out.baseAddress!, precision: .float32,
                                features: features, pool: ComputePool(width: width))
            }
        }
        return out
    }

    /// The activations as the kernels see them, dequantized in double: scale · value per block of 32,
    /// computed independently of the library (amax/127, round half to even).
    func dequantizedActivations(_ x: [Float], k: Int) -> (values: [Double], halfSteps: [Double]) {
        var values = [Double](repeating: 0, count: x.count), halfSteps = [Double](repeating: 0, count: x.count)
        for start in stride(from: 0, to: x.count, by: 32) {
            let amax = x[start..<(start + 32)].map { abs($0) }.max()!
            let d = amax / 127
            let id: Float = d == 0 ? 0 : 1 / d
            for i in start..<(start + 32) {
                values[i] = Double(d) * Double((x[i] * id).rounded(.toNearestOrEven))
                halfSteps[i] = Double(d) / 2
            }
        }
        return (values, halfSteps)
    }

    /// Every layout and shape: VNNI bitwise equal to portable; both within float rounding of the exact
    /// product of the dequantized weights and the quantized activations, and within the activation
    /// rounding bound (Σ |w| · step/2) of the product with the fp32 activations.
    @Test(arguments: layouts.indices)
    func kernelsMatchReferences(layoutIndex: Int) throws {
        let (name, layout) = Self.layouts[layoutIndex]
        for (shapeIndex, (m, n, k)) in Self.shapes.enumerated() {
            let seed = UInt64(1000 * layoutIndex + 10 * shapeIndex)
            let weights = Weights(rows: n, columns: k, layout: layout, seed: seed, halfScales: shapeIndex % 2 == 0)
            let matrix = weights.matrix
            let x = randomValues(m * k, seed: seed + 1, scale: 2)
            let portable = run(matrix, x, m: m, features: [])
            let (xq, halfSteps) = dequantizedActivations(x, k: k)
            let nsub = k / layout.subBlockSize
            for i in 0..<m {
                for j in 0..<n {
                    var exact = 0.0, magnitude = 0.0, fromFloat = 0.0, bound = 0.0
                    for c in 0..<k {
                        let w = weights.weight(j, c)
                        exact += w * xq[i * k + c]
                        magnitude += abs(w * xq[i * k + c])
                        fromFloat += w * Double(x[i * k + c])
                        bound += abs(w) * halfSteps[i * k + c]
                    }
                    let value = Double(portable[i * n + j])
                    // Each sub-block rounds twice or three times (t, the fma, the offset fma).
                    let roundingTolerance = 1.2e-7 * Double(3 * nsub + 4) * magnitude + 1e-30
                    #expect(abs(value - exact) <= roundingTolerance,
                            "\(name) \(m)x\(n)x\(k) [\(i),\(j)]: \(value) vs \(exact)")
                    #expect(abs(value - fromFloat) <= bound * 1.0001 + roundingTolerance,
                            "\(name) \(m)x\(n)x\(k) [\(i),\(j)]: \(value) vs fp32 activations \(fromFloat), bound \(bound)")
                }
            }
            for kernel in Self.testableKernels {
                let result = run(matrix, x, m: m, kernel: kernel)
                #expect(result == portable, "\(name) \(m)x\(n)x\(k): \(kernel) and portable differ")
            }
        }
    }

    /// Wider sweep of the C kernel alone (fast in debug builds too): all row-tile heights, column
    /// blocks split across tasks, and k long enough for the prefetch distance; portable on a subset.
    /// k of 64 groups (several k-chunks) and of 33 groups (chunks ending in an unpaired group).
    @Test(arguments: [0, 1, 5, 6, 7, 9])
    func kernelsMatchPortableOnLargerShapes(layoutIndex: Int) throws {
        let (name, layout) = Self.layouts[layoutIndex]
        for (n, k) in [(150, 2048), (40, 1056)] {
            let weights = Weights(rows: n, columns: k, layout: layout, seed: UInt64(77 + layoutIndex), halfScales: layoutIndex % 2 == 1)
            for m in [1, 4, 6, 11, 16, 25] {
                let x = randomValues(m * k, seed: UInt64(m), scale: 3)
                let portable = run(weights.matrix, x, m: m, features: [], width: 1)
                for kernel in Self.testableKernels {
                    #expect(run(weights.matrix, x, m: m, kernel: kernel, width: 3) == portable, "\(name) \(m)x\(n)x\(k) \(kernel)")
                }
            }
        }
    }

    /// A row's result is bitwise the same alone, inside any batch, and for any pool width.
    @Test func rowsAreBatchInvariant() {
        let (n, k) = (70, 160)
        for layout in [QuantizedMatrix.Layout.q8_0, .q4_K, .q6_K] {
            let matrix = Weights(rows: n, columns: k, layout: layout, seed: 500, halfScales: false).matrix
            let x = randomValues(29 * k, seed: 501)
            for features in [CPUFeatures(), CPUFeatures.detected] {
                let batch = run(matrix, x, m: 29, features: features)
                #expect(run(matrix, x, m: 29, features: features, width: 1) == batch)
                for row in [0, 5, 6, 28] {
                    let alone = run(matrix, Array(x[row * k..<(row + 1) * k]), m: 1, features: features)
                    #expect(alone == Array(batch[row * n..<(row + 1) * n]), "\(layout) row \(row)")
                }
            }
        }
    }

    /// The AVX-512 quantizer agrees bit for bit with the Swift one, on blocks of zeros, tiny and huge
    /// magnitudes, exact halves (ties) and random values; values stay within ±127 with scale amax/127.
    @Test func activationQuantizersAgree() throws {
        let k = 256, m = 6
        var x = randomValues(m * k, seed: 600, scale: 5)
        for i in 0..<32 { x[i] = 0 }                                     // an all-zero block
        for i in 32..<64 { x[i] = Float(i - 40) * Float(sign: .plus, exponent: -130, significand: 1) }  // subnormal block
        for i in 64..<96 { x[i] = Float(i - 70) * 1e30 }                 // huge values
        for i in 96..<128 { x[i] = Float(i - 96) - 15.5 }                // many halves
        x[128] = 127; for i in 129..<160 { x[i] = Float(i - 144) + 0.5 } // amax 127 → scale 1, ties at .5
        for subBlockSize in [16, 32] {
            for zeroPoint: Int32 in [0, 4, 128] {
                let layout = QuantizedMatrix.Layout(subBlockSize: subBlockSize, bits: 8, zeroPoint: zeroPoint, hasOffset: true)
                let a = x.withUnsafeBufferPointer { QuantizedActivations($0.baseAddress!, rows: m, columns: k, layout: layout, features: [], pool: ComputePool(width: 2)) }
                defer { a.deallocate() }
                let nsub = m * k / subBlockSize
                // The AVX-512 quantizer, and the AVX2 one (what features without AVX-512 select).
                let detected = CPUFeatures.detected
                var others: [CPUFeatures] = [detected]
                if detected.hasAVX512 { others.append(detected.subtracting([.avx512f, .avx512bw, .avx512vl])) }
                for features in others {
                    let b = x.withUnsafeBufferPointer { QuantizedActivations($0.baseAddress!, rows: m, columns: k, layout: layout, features: features, pool: ComputePool(width: 2)) }
                    defer { b.deallocate() }
                    #expect(Array(UnsafeBufferPointer(start: a.values, count: m * k)) == Array(UnsafeBufferPointer(start: b.values, count: m * k)))
                    #expect(Array(UnsafeBufferPointer(start: a.scales, count: m * k / 32)) == Array(UnsafeBufferPointer(start: b.scales, count: m * k / 32)))
                    #expect(Array(UnsafeBufferPointer(start: a.corrections, count: nsub)) == Array(UnsafeBufferPointer(start: b.corrections, count: nsub)))
                    #expect(Array(UnsafeBufferPointer(start: a.sums!, count: nsub)) == Array(UnsafeBufferPointer(start: b.sums!, count: nsub)))
                }
                for i in 0..<(m * k) {
                    let value = Int(a.values[i]), scale = a.scales[i / 32]
                    #expect(abs(value) <= 127)
                    // Round to nearest: the value is within half a step of x/scale.
                    if scale > 0 && scale.isNormal { #expect(abs(Double(x[i]) / Double(scale) - Double(value)) <= 0.5 + 1e-4, "[\(i)]") }
                }
                #expect(a.scales[0] == 0 && (0..<32).allSatisfy { a.values[$0] == 0 })
                #expect(a.scales[4] == 1 && a.values[128] == 127 && a.values[129] == -14 && a.values[130] == -14)  // −14.5 → −14, −13.5 → −14
                let block = 2  // sums and corrections of the third 32-value block (huge values)
                let sum = (64..<96).reduce(Int32(0)) { $0 + Int32(a.values[$1]) }
                if subBlockSize == 32 { #expect(a.corrections[block] == -zeroPoint * sum && a.sums![block] == a.scales[block] * Float(sum)) }
            }
        }
    }

    /// fp16 storage is chosen exactly when every scale and offset is an fp16 value; Q8_0, Q4_0 and Q4_1
    /// with fp16 scales then take exactly the bytes of the GGUF tensor, and `weight(row:column:)` decodes
    /// every weight exactly as the layout defines it.
    @Test func storageAndDecoding() {
        let ggmlBytesPerBlock: [String: Int] = ["Q8_0": 34, "Q4_0": 18, "Q4_1": 20]
        for (name, layout) in Self.layouts {
            for half in [true, false] {
                // 4 groups of 32 columns: a panel's scale vectors then end on a 64-byte boundary, as for
                // every even number of groups (the model's k of 1024, 2048, 3072).
                let (rows, columns) = (64, 128)
                let weights = Weights(rows: rows, columns: columns, layout: layout, seed: 700, halfScales: half)
                #expect(weights.matrix.halfScales == half, "\(name)")
                if half, let perBlock = ggmlBytesPerBlock[name] {
                    #expect(weights.matrix.byteCount == rows * columns / 32 * perBlock, "\(name)")
                }
                for row in [0, 17, 63] {
                    for column in [0, 15, 16, 31, 32, 95, 127] {
                        let index = row * (columns / layout.subBlockSize) + column / layout.subBlockSize
                        let code = Float(Int32(weights.codes[row * columns + column]) - layout.zeroPoint)
                        let expected = weights.scales[index] * code + (layout.hasOffset ? weights.offsets[index] : 0)
                        #expect(weights.matrix.weight(row: row, column: column) == expected, "\(name) [\(row),\(column)]")
                    }
                }
            }
        }
    }

    /// Filling rows on the pool's workers (as model loading does) packs exactly the bytes a serial fill does,
    /// for row counts that end inside a panel and for fewer panels than tasks.
    @Test(arguments: [("Q8_0", 70), ("Q4_K", 33), ("Q6_K", 16), ("Q4_0", 250)])
    func pooledFillPacksTheSameBytes(name: String, rows: Int) throws {
        let layout = try #require(Self.layouts.first { $0.0 == name }?.1)
        let columns = 96
        let reference = Weights(rows: rows, columns: columns, layout: layout, seed: 900, halfScales: false)
        let subBlocks = columns / layout.subBlockSize
        let (codes, scales, offsets) = (reference.codes, reference.scales, reference.offsets)
        let pooled = QuantizedMatrix(rows: rows, columns: columns, layout: layout, pool: .shared) { row, c, s, o in
            for i in 0..<columns { c[i] = codes[row * columns + i] }
            for b in 0..<subBlocks {
                s[b] = scales[row * subBlocks + b]
                if layout.hasOffset { o[b] = offsets[row * subBlocks + b] }
            }
        }
        #expect(pooled.byteCount == reference.matrix.byteCount)
        #expect(memcmp(pooled.storage, reference.matrix.storage, pooled.byteCount) == 0, "\(name) with \(rows) rows")
    }

    /// Codes wider than the layout's bits are masked, so a stray high bit cannot corrupt a neighbour nibble.
    @Test func codesAreMaskedToTheirBits() {
        let matrix = QuantizedMatrix(rows: 2, columns: 32, layout: .q4_0) { row, codes, scales, _ in
            for i in 0..<32 { codes[i] = 0xF0 | UInt8(i % 16) }
            scales[0] = 1
        }
        for column in 0..<32 { #expect(matrix.weight(row: 1, column: column) == Float(column % 16 - 8)) }
    }

    @Test func kernelSelection() {
        let matrix = Weights(rows: 32, columns: 32, layout: .q8_0, seed: 1, halfScales: true).matrix
        #expect(matrix.kernel(for: .bfloat16, features: []) == .portable)
        let avx512: CPUFeatures = [.avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512vl, .avx512vnni]
        #expect(matrix.kernel(for: .float32, features: avx512) == .avx512VNNI)
        #expect(matrix.kernel(for: .float32, features: avx512.union(.avxVNNI)) == .avx512VNNI)
        #expect(matrix.kernel(for: .float32, features: [.avx2, .fma, .f16c, .avxVNNI]) == .avxVNNI)
        #expect(matrix.kernel(for: .float32, features: [.avx2, .fma, .f16c]) == .portable)
        #expect(matrix.kernel(for: .float32, features: avx512.subtracting(.avx512vnni)) == .portable)
    }

    /// The fp16 helpers: every finite fp16 bit pattern converts exactly and back; non-fp16 values are refused.
    @Test func halfConversions() {
        for bits in UInt16.min...UInt16.max where (bits >> 10) & 0x1F != 0x1F {
            let value = Half.float(fromBits: bits, nan: .preserving)
            #expect(Half.exactBits(value) == bits, "\(String(bits, radix: 16))")
            #if !(os(macOS) && arch(x86_64))
            #expect(value.bitPattern == Float(Float16(bitPattern: bits)).bitPattern)
            #endif
        }
        #expect(Half.exactBits(1 + 1.0 / 4096) == nil)      // 12 significant bits
        #expect(Half.exactBits(65536) == nil)                // above the fp16 range
        #expect(Half.exactBits(Float(sign: .plus, exponent: -25, significand: 1)) == nil)  // below the smallest subnormal
        #expect(Half.exactBits(Float(sign: .plus, exponent: -24, significand: 1.5)) == nil)
        #expect(Half.exactBits(Float(sign: .plus, exponent: -24, significand: 1)) == 1)
    }
}

extension Half {
    /// fp32 → nearest fp16 bits (ties away; tests only need some nearby fp16 value), normal range only.
    static func roundedBits(_ value: Float) -> UInt16 {
        let sign: UInt16 = value < 0 ? 0x8000 : 0
        let magnitude = abs(value)
        if magnitude < Float(sign: .plus, exponent: -14, significand: 1) { return sign }
        let exponent = Int(magnitude.exponent)
        let mantissa = Int(((magnitude.significand - 1) * 1024).rounded())
        if mantissa == 1024 { return sign | UInt16((exponent + 16) << 10) }
        return sign | UInt16((exponent + 15) << 10) | UInt16(mantissa)
    }
}
