import Dispatch
import Kernels
import ModelFormats

/// Encodes rows of Float values as ggml tensor blocks, byte for byte as llama.cpp writes them.
///
/// - F32, F16 and BF16 round to nearest, ties to even (F16 as numpy's `astype(float16)`, BF16 as the
///   gguf Python package and `ggml_compute_fp32_to_bf16`, which keep a NaN's sign and set its quiet bit).
/// - Q8_0, Q4_0 and Q5_0 follow ggml's reference quantizers (`quantize_row_q8_0_ref` …), which the gguf
///   Python package reproduces bit for bit: one scale per 32 values from the block's largest magnitude.
/// - Q4_K and Q6_K follow `quantize_row_q4_K_ref` / `quantize_row_q6_K_ref`, what `llama-quantize` runs
///   when no importance matrix is given: a search over candidate scales per sub-block minimising the
///   weighted squared error, then 6- or 8-bit sub-block scales relative to one F16 super-block scale.
///   Every floating-point operation is done in the same order and precision as the C code (Float, no
///   fused multiply-add), so the bytes are the same as llama.cpp's on the same input.
///
/// Blocks are independent, so large inputs are split across cores.
public enum GGMLQuantizer {
    /// The types `encode` can produce.
    public static let encodableTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q5_0, .q4_K, .q6_K]

    /// Whether `encode` can produce `type`.
    public static func canEncode(_ type: GGMLType) -> Bool { encodableTypes.contains(type) }

    /// Encodes `values`, a whole number of rows of `rowLength` values, as `type` into `destination`,
    /// which must hold exactly `type.rowByteCount(rowLength)` bytes per row.
    ///
    /// Throws `ModelToolsError.invalidArgument` for a type it cannot produce, a row length that is not a
    /// multiple of the type's block size, or a destination of the wrong size.
    public static func encode(_ values: UnsafeBufferPointer<Float>, rowLength: Int, as type: GGMLType,
                              into destination: UnsafeMutableRawBufferPointer) throws(ModelToolsError) {
        guard canEncode(type) else { throw .invalidArgument("cannot quantize to \(type.name)") }
        guard rowLength > 0, values.count % rowLength == 0 else {
            throw .invalidArgument("\(values.count) values are not whole rows of \(rowLength)")
        }
        guard let rowBytes = type.rowByteCount(rowLength) else {
            throw .invalidArgument("rows of \(rowLength) values cannot be stored as \(type.name) (blocks of \(type.blockSize))")
        }
        let rows = values.count / rowLength
        guard destination.count == rows * rowBytes else {
            throw .invalidArgument("\(rows) rows of \(type.name) need \(rows * rowBytes) bytes, got \(destination.count)")
        }
        guard let source = values.baseAddress, let target = destination.baseAddress else { return }
        if type.blockSize > 1, let bad = values.firstIndex(where: { !$0.isFinite }) {
            // A block scale derived from NaN or infinity would make every value in its block meaningless.
            throw .invalidArgument("value \(values[bad]) at row \(bad / rowLength), column \(bad % rowLength) cannot be quantized to \(type.name)")
        }
        let blockCount = values.count / type.blockSize
        // Elements are processed in blocks; blocks never straddle rows because rows are whole blocks.
        let blocksPerTask = max(1, 16_384 / type.blockSize)
        let tasks = (blockCount + blocksPerTask - 1) / blocksPerTask
        let job = BlockJob(type: type, source: source, target: target, blockCount: blockCount, blocksPerTask: blocksPerTask)
        if tasks <= 1 {
            job.run(task: 0)
        } else {
            DispatchQueue.concurrentPerform(iterations: tasks) { job.run(task: $0) }
        }
    }

    /// Encodes `values` (whole rows of `rowLength`) as `type` and returns the bytes.
    public static func encode(_ values: [Float], rowLength: Int, as type: GGMLType) throws(ModelToolsError) -> [UInt8] {
        guard rowLength > 0, values.count % rowLength == 0, let rowBytes = type.rowByteCount(rowLength) else {
            throw .invalidArgument("\(values.count) values in rows of \(rowLength) cannot be stored as \(type.name)")
        }
        var bytes = [UInt8](repeating: 0, count: values.count / rowLength * rowBytes)
        let result: Result<Void, ModelToolsError> = values.withUnsafeBufferPointer { input in
            bytes.withUnsafeMutableBytes { output in
                Result { () throws(ModelToolsError) in try encode(input, rowLength: rowLength, as: type, into: output) }
            }
        }
        try result.get()
        return bytes
    }

    // MARK: Element conversions

    /// The F16 bits nearest to `value`, ties to even (IEEE conversion, as numpy and `GGML_FP32_TO_FP16`).
    @inline(__always)
    public static func float16Bits(_ value: Float) -> UInt16 { Half.bits(rounding: value) }

    /// The BF16 bits of `value` as ggml and the gguf Python package round it: ties to even, and a NaN
    /// keeps its sign and upper payload with the quiet bit forced (unlike PyTorch, which canonicalises).
    @inline(__always)
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        BFloat16.rounding(value, nan: .quietKeepingPayload)
    }

    /// The Float an F16 value stands for (exact).
    @inline(__always)
    static func float(fromFloat16 bits: UInt16) -> Float { Half.float(fromBits: bits, nan: .quieting) }

    /// ggml's `nearest_int`: adding 1.5·2²³ rounds to an integer (ties to even) in the low mantissa bits.
    /// Identical to rounding for |x| < 2²², and reproduces the C code's bits outside that range too.
    @inline(__always)
    static func nearestInt(_ value: Float) -> Int32 {
        let shifted = value + 12_582_912
        return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) &- 0x0040_0000
    }
}

/// One encoding job, split into tasks of whole blocks (shared read-only across threads).
private struct BlockJob: @unchecked Sendable {
    let type: GGMLType
    let source: UnsafePointer<Float>
    let target: UnsafeMutableRawPointer
    let blockCount: Int
    let blocksPerTask: Int

    func run(task: Int) {
        let first = task * blocksPerTask
        let last = min(blockCount, first + blocksPerTask)
        guard first < last else { return }
        let size = type.blockSize, bytes = type.blockByteCount
        switch type {
        case .f32:
            for index in first..<last {
                target.storeBytes(of: source[index].bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
            }
        case .f16:
            for index in first..<last {
                target.storeBytes(of: GGMLQuantizer.float16Bits(source[index]).littleEndian, toByteOffset: index * 2, as: UInt16.self)
            }
        case .bf16:
            for index in first..<last {
                target.storeBytes(of: GGMLQuantizer.bfloat16Bits(source[index]).littleEndian, toByteOffset: index * 2, as: UInt16.self)
            }
        case .q8_0:
            for block in first..<last { Q8_0.encode(source + block * size, target + block * bytes) }
        case .q4_0:
            for block in first..<last { Q4_0.encode(source + block * size, target + block * bytes) }
        case .q5_0:
            for block in first..<last { Q5_0.encode(source + block * size, target + block * bytes) }
        case .q4_K:
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Q4_K.scratchFloats) { floats in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Q4_K.scratchBytes) { scratch in
                    for block in first..<last {
                        Q4_K.encode(source + block * size, target + block * bytes, floats.baseAddress!, scratch.baseAddress!)
                    }
                }
            }
        case .q6_K:
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Q6_K.scratchFloats) { floats in
                withUnsafeTemporaryAllocation(of: Int8.self, capacity: Q6_K.scratchBytes) { scratch in
                    for block in first..<last {
                        Q6_K.encode(source + block * size, target + block * bytes, floats.baseAddress!, scratch.baseAddress!)
                    }
                }
            }
        default:
            preconditionFailure("unsupported type \(type.name) reached the block encoder")
        }
    }
}

/// Stores a little-endian F16 scale.
@inline(__always)
private func storeHalf(_ value: Float, _ destination: UnsafeMutableRawPointer, _ offset: Int) {
    destination.storeBytes(of: GGMLQuantizer.float16Bits(value).littleEndian, toByteOffset: offset, as: UInt16.self)
}

// MARK: - 32-value blocks

/// Q8_0: F16 scale `d = max|x| / 127`, then 32 × int8 `round(x / d)` (halves away from zero, `roundf`).
private enum Q8_0 {
    static func encode(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        let qs = (y + 2).assumingMemoryBound(to: Int8.self)
        for j in 0..<32 {
            qs[j] = Int8(truncatingIfNeeded: saturatingInteger((x[j] * id).rounded(.toNearestOrAwayFromZero)))
        }
    }
}

/// `value` truncated toward zero, clamped to 0…±2³¹ (0 for NaN), so that a scale that overflowed to
/// infinity (a block of subnormal values) cannot trap; in range it is C's float-to-int conversion.
@inline(__always)
private func saturatingInteger(_ value: Float) -> Int32 {
    if value.isNaN { return 0 }
    if value >= 2_147_483_520 { return .max }
    if value <= -2_147_483_648 { return .min }
    return Int32(value)
}

/// The value of largest magnitude in `count` values (the first one on ties), as ggml's reference
/// quantizers pick it: its sign fixes the sign of the scale so that it maps exactly to the extreme level.
@inline(__always)
private func signedMaximum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var amax: Float = 0, maximum: Float = 0
    for j in 0..<count where amax < abs(x[j]) {
        amax = abs(x[j])
        maximum = x[j]
    }
    return maximum
}

/// Q4_0: `d = max / −8` (max the signed value of largest magnitude), 4-bit levels `trunc(x/d + 8.5)`
/// capped at 15; value j in the low nibble of byte j, value j+16 in its high nibble.
private enum Q4_0 {
    static func encode(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let d = signedMaximum(x, 32) / -8
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        let qs = (y + 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            // The C code truncates through int8_t; every level here lies in [0, 16.5).
            let low = UInt8(truncatingIfNeeded: min(15, saturatingInteger(x[j] * id + 8.5)))
            let high = UInt8(truncatingIfNeeded: min(15, saturatingInteger(x[j + 16] * id + 8.5)))
            qs[j] = low | high << 4
        }
    }
}

/// Q5_0: as Q4_0 with `d = max / −16` and 5-bit levels; the fifth bits go into a 32-bit mask after the
/// scale (bit j for value j), the low nibbles are packed as in Q4_0.
private enum Q5_0 {
    static func encode(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let d = signedMaximum(x, 32) / -16
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        var high: UInt32 = 0
        let qs = (y + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let a = UInt8(truncatingIfNeeded: min(31, saturatingInteger(x[j] * id + 16.5)))
            let b = UInt8(truncatingIfNeeded: min(31, saturatingInteger(x[j + 16] * id + 16.5)))
            qs[j] = (a & 0x0F) | (b & 0x0F) << 4
            high |= UInt32(a >> 4) << UInt32(j)
            high |= UInt32(b >> 4) << UInt32(j + 16)
        }
        y.storeBytes(of: high.littleEndian, toByteOffset: 2, as: UInt32.self)
    }
}

// MARK: - K-quants (256-value super-blocks)

/// Q4_K: eight sub-blocks of 32 values, each `x ≈ d·sc·q − dmin·m` with 4-bit q and 6-bit sc, m.
///
/// Layout (144 bytes): F16 d, F16 dmin, 12 bytes of packed 6-bit scales and mins, 128 bytes of nibbles
/// (for each 64 values, byte l holds value l in its low and value l+32 in its high nibble).
private enum Q4_K {
    static let scratchFloats = 32 + 8 + 8  // weights, scales, mins
    static let scratchBytes = 256 + 32  // L, Laux

    static func encode(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer,
                       _ floats: UnsafeMutablePointer<Float>, _ bytes: UnsafeMutablePointer<UInt8>) {
        let weights = floats, scales = floats + 32, mins = floats + 40
        let levels = bytes, auxiliary = bytes + 256
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            let group = x + 32 * j
            var sumSquares: Float = 0
            for l in 0..<32 { sumSquares += group[l] * group[l] }
            // Each value's weight: the group's RMS plus its own magnitude (large values matter more).
            let average = (sumSquares / 32).squareRoot()
            for l in 0..<32 { weights[l] = average + abs(group[l]) }
            var minimum: Float = 0
            scales[j] = fitScaleAndMinimum(group, weights, levels + 32 * j, &minimum, auxiliary)
            mins[j] = minimum
            if scales[j] > maxScale { maxScale = scales[j] }
            if mins[j] > maxMin { maxMin = mins[j] }
        }

        let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
        let packed = (y + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<8 {
            // The C code narrows nearest_int's result to uint8_t before capping it.
            let ls = min(63, UInt8(truncatingIfNeeded: GGMLQuantizer.nearestInt(inverseScale * scales[j])))
            let lm = min(63, UInt8(truncatingIfNeeded: GGMLQuantizer.nearestInt(inverseMin * mins[j])))
            if j < 4 {
                packed[j] = ls
                packed[j + 4] = lm
            } else {
                packed[j + 4] = (ls & 0x0F) | (lm & 0x0F) << 4
                packed[j - 4] |= (ls >> 4) << 6
                packed[j] |= (lm >> 4) << 6
            }
        }
        let dBits = GGMLQuantizer.float16Bits(maxScale / 63)
        let dminBits = GGMLQuantizer.float16Bits(maxMin / 63)
        y.storeBytes(of: dBits.littleEndian, toByteOffset: 0, as: UInt16.self)
        y.storeBytes(of: dminBits.littleEndian, toByteOffset: 2, as: UInt16.self)

        // Requantize against the scales as stored (rounded to F16 and 6 bits).
        let d = GGMLQuantizer.float(fromFloat16: dBits), dmin = GGMLQuantizer.float(fromFloat16: dminBits)
        for j in 0..<8 {
            let (sc, m) = scaleAndMinimum(j, packed)
            let scale = d * Float(sc)
            if scale == 0 { continue }  // keeps the levels found above, as the C code does
            let offset = dmin * Float(m)
            for l in 0..<32 {
                let level = GGMLQuantizer.nearestInt((x[32 * j + l] + offset) / scale)
                levels[32 * j + l] = UInt8(max(0, min(15, level)))
            }
        }

        let qs = (y + 16).assumingMemoryBound(to: UInt8.self)
        for half in 0..<4 {
            let base = 64 * half
            for l in 0..<32 { qs[32 * half + l] = levels[base + l] | levels[base + l + 32] << 4 }
        }
    }

    /// The 6-bit scale and minimum of sub-block `j` from the 12 packed bytes (`get_scale_min_k4`).
    @inline(__always)
    static func scaleAndMinimum(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    /// ggml's `make_qkx2_quants` for 32 values, 15 levels, candidate steps −1 + 0.1·k (k = 0…20), squared
    /// error: finds `scale` and `minimum` (returned negated, ≥ 0) with x ≈ scale·L − minimum, L in 0…15,
    /// by refitting the least-squares scale and offset for each candidate rounding.
    static func fitScaleAndMinimum(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<UInt8>,
                                   _ theMinimum: inout Float, _ auxiliary: UnsafeMutablePointer<UInt8>) -> Float {
        let n = 32
        let levelCount: Float = 15
        var minimum = x[0], maximum = x[0]
        var sumW = w[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < minimum { minimum = x[i] }
            if x[i] > maximum { maximum = x[i] }
            sumW += w[i]
            sumX += w[i] * x[i]
        }
        if minimum > 0 { minimum = 0 }
        if maximum == minimum {
            for i in 0..<n { levels[i] = 0 }
            theMinimum = -minimum
            return 0
        }
        var inverseScale = levelCount / (maximum - minimum)
        var scale = 1 / inverseScale
        var bestError: Float = 0
        for i in 0..<n {
            let level = GGMLQuantizer.nearestInt(inverseScale * (x[i] - minimum))
            levels[i] = UInt8(max(0, min(15, level)))
            let difference = scale * Float(levels[i]) + minimum - x[i]
            bestError += w[i] * (difference * difference)
        }
        // The candidate loop dominates quantization time; it is written with `while` and inline rounding
        // (ggml's nearest_int) because unoptimised builds, which run the tests, call out for every
        // generic `min`, `max` and range iteration.
        var step = 0
        while step <= 20 {
            inverseScale = (-1 + 0.1 * Float(step) + levelCount) / (maximum - minimum)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            var i = 0
            while i < n {
                let shifted: Float = inverseScale * (x[i] - minimum) + 12_582_912
                let rounded: Int32 = Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) &- 0x0040_0000
                let level: Int32 = rounded < 0 ? 0 : (rounded > 15 ? 15 : rounded)
                auxiliary[i] = UInt8(truncatingIfNeeded: level)
                let l = Float(level), weight = w[i]
                sumL += weight * l
                sumL2 += weight * l * l
                sumXL += weight * l * x[i]
                i &+= 1
            }
            let determinant = sumW * sumL2 - sumL * sumL
            if determinant > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / determinant
                var thisMinimum = (sumL2 * sumX - sumL * sumXL) / determinant
                if thisMinimum > 0 {
                    thisMinimum = 0
                    thisScale = sumXL / sumL2
                }
                var error: Float = 0
                i = 0
                while i < n {
                    let difference = thisScale * Float(auxiliary[i]) + thisMinimum - x[i]
                    error += w[i] * (difference * difference)
                    i &+= 1
                }
                if error < bestError {
                    levels.update(from: auxiliary, count: n)
                    bestError = error
                    scale = thisScale
                    minimum = thisMinimum
                }
            }
            step &+= 1
        }
        theMinimum = -minimum
        return scale
    }
}

/// Q6_K: sixteen sub-blocks of 16 values, `x ≈ d·sc·(q − 32)` with 6-bit q and int8 sc.
///
/// Layout (210 bytes): 128 bytes of low nibbles, 64 bytes of high bit pairs, 16 int8 scales, F16 d.
/// For each 128 values, low-nibble byte l holds values l and l+64, byte l+32 values l+32 and l+96, and
/// high-bits byte l holds the top two bits of values l, l+32, l+64, l+96.
private enum Q6_K {
    static let scratchFloats = 16
    static let scratchBytes = 256

    static func encode(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer,
                       _ scales: UnsafeMutablePointer<Float>, _ levels: UnsafeMutablePointer<Int8>) {
        var maxScale: Float = 0, maxAbsoluteScale: Float = 0
        for block in 0..<16 {
            let scale = fitScale(x + 16 * block, levels + 16 * block)
            scales[block] = scale
            if abs(scale) > maxAbsoluteScale {
                maxAbsoluteScale = abs(scale)
                maxScale = scale
            }
        }
        if maxAbsoluteScale < 1e-15 {
            // An all-zero super-block.
            y.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
            return
        }
        let inverseScale = -128 / maxScale
        let dBits = GGMLQuantizer.float16Bits(1 / inverseScale)
        y.storeBytes(of: dBits.littleEndian, toByteOffset: 208, as: UInt16.self)
        let storedScales = (y + 192).assumingMemoryBound(to: Int8.self)
        for block in 0..<16 {
            storedScales[block] = Int8(truncatingIfNeeded: min(127, GGMLQuantizer.nearestInt(inverseScale * scales[block])))
        }
        let d = GGMLQuantizer.float(fromFloat16: dBits)
        for block in 0..<16 {
            let scale = d * Float(storedScales[block])
            if scale == 0 { continue }
            for i in 0..<16 {
                let level = GGMLQuantizer.nearestInt(x[16 * block + i] / scale)
                levels[16 * block + i] = Int8(max(-32, min(31, level)) + 32)
            }
        }
        let low = y.assumingMemoryBound(to: UInt8.self)
        let high = (y + 128).assumingMemoryBound(to: UInt8.self)
        for part in 0..<2 {
            let base = 128 * part
            let lowPart = low + 64 * part, highPart = high + 32 * part
            for l in 0..<32 {
                let q1 = UInt8(bitPattern: levels[base + l]), q2 = UInt8(bitPattern: levels[base + l + 32])
                let q3 = UInt8(bitPattern: levels[base + l + 64]), q4 = UInt8(bitPattern: levels[base + l + 96])
                lowPart[l] = (q1 & 0x0F) | (q3 & 0x0F) << 4
                lowPart[l + 32] = (q2 & 0x0F) | (q4 & 0x0F) << 4
                highPart[l] = (q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6
            }
        }
    }

    /// ggml's `make_qx_quants` for 16 values, 32 levels each side, weights x² (`rmse_type` 1): tries the
    /// scales mapping the extreme value to −(32 + 0.1·k), k = −9…9, and keeps the least-squares scale
    /// with the largest explained energy. Levels are stored offset by 32.
    static func fitScale(_ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<Int8>) -> Float {
        let n = 16
        let levelCount: Float = 32
        var maximum: Float = 0, amax: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i])
            maximum = x[i]
        }
        if amax < 1e-15 {
            for i in 0..<n { levels[i] = 0 }
            return 0
        }
        var inverseScale = -levelCount / maximum
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let level = max(-32, min(31, GGMLQuantizer.nearestInt(inverseScale * x[i])))
            levels[i] = Int8(level + 32)
            let weight = x[i] * x[i]
            let l = Float(level)
            sumLX += weight * x[i] * l
            sumL2 += weight * l * l
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        // Written with `while` and inline rounding for unoptimised builds, as Q4_K's candidate loop.
        var step = -9
        while step <= 9 {
            defer { step &+= 1 }
            if step == 0 { continue }
            inverseScale = -(levelCount + 0.1 * Float(step)) / maximum
            sumLX = 0
            sumL2 = 0
            var i = 0
            while i < n {
                let shifted: Float = inverseScale * x[i] + 12_582_912
                let rounded: Int32 = Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) &- 0x0040_0000
                let level: Int32 = rounded < -32 ? -32 : (rounded > 31 ? 31 : rounded)
                let l = Float(level), weight = x[i] * x[i]
                sumLX += weight * x[i] * l
                sumL2 += weight * l * l
                i &+= 1
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n {
                    levels[i] = Int8(max(-32, min(31, GGMLQuantizer.nearestInt(inverseScale * x[i]))) + 32)
                }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }
}
