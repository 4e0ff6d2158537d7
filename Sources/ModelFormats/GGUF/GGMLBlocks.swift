import Kernels

/// The block layouts of the ggml quantized types this engine reads, and their exact dequantization.
///
/// `dequantize` reproduces the gguf Python package's `gguf.quants.dequantize` (0.19.0) bit for bit: the
/// same float32 operations in the same order (`d * q`, `(d * q) + m`, `(d * sc) * q - (dmin * m)` …),
/// and f16 fields converted exactly, NaN payloads included (as numpy's float16 → float32 cast does).
/// Swift does not fuse a separate multiply and add into an FMA, so the rounding is the same.
///
/// `decode` splits the same blocks into unsigned codes and one scale (and offset) per sub-block, the
/// form a quantized matrix kernel wants. For every supported type the Python dequantization is exactly
/// `scale * Float(code - zeroPoint)` (`+ offset` for the types that have one), because the Python code
/// computes the per-sub-block scale first and subtracts the min term last (`x - y` is `x + (-y)` in
/// IEEE 754), so `decode` followed by that formula equals `dequantize` bit for bit whenever the block's
/// f16 fields are finite. (With an infinite or NaN f16 field only the sign or payload of a resulting
/// NaN can differ, since a NaN's sign flips when the offset is negated.)
///
/// All block fields are little-endian; blocks need no alignment.
public enum GGMLBlocks {
    /// How a quantized type's values relate to small unsigned integer codes: value `i` of a block is
    /// `scale[s] * Float(Int32(code[i]) - zeroPoint) + offset[s]`, `s = i / subBlockSize`, with the
    /// `+ offset` term only when `hasOffset` (adding a zero offset would turn `-0.0` into `+0.0`).
    public struct AffineLayout: Sendable, Equatable {
        /// Values sharing one scale (and offset).
        public let subBlockSize: Int
        /// Bits per code: codes lie in `0 ..< (1 << bits)`.
        public let bits: Int
        /// Subtracted from each code before scaling (the signed types store `q + zeroPoint`).
        public let zeroPoint: Int32
        /// Whether sub-blocks have an additive offset (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K).
        public let hasOffset: Bool

        /// Creates a layout description.
        public init(subBlockSize: Int, bits: Int, zeroPoint: Int32, hasOffset: Bool) {
            self.subBlockSize = subBlockSize
            self.bits = bits
            self.zeroPoint = zeroPoint
            self.hasOffset = hasOffset
        }
    }

    /// The affine layout of a supported quantized type; nil for F32, F16, BF16 and the types this
    /// engine does not support.
    public static func affineLayout(of type: GGMLType) -> AffineLayout? {
        switch type {
        case .q8_0: return AffineLayout(subBlockSize: 32, bits: 8, zeroPoint: 128, hasOffset: false)
        case .q4_0: return AffineLayout(subBlockSize: 32, bits: 4, zeroPoint: 8, hasOffset: false)
        case .q4_1: return AffineLayout(subBlockSize: 32, bits: 4, zeroPoint: 0, hasOffset: true)
        case .q5_0: return AffineLayout(subBlockSize: 32, bits: 5, zeroPoint: 16, hasOffset: false)
        case .q5_1: return AffineLayout(subBlockSize: 32, bits: 5, zeroPoint: 0, hasOffset: true)
        case .q2_K: return AffineLayout(subBlockSize: 16, bits: 2, zeroPoint: 0, hasOffset: true)
        case .q3_K: return AffineLayout(subBlockSize: 16, bits: 3, zeroPoint: 4, hasOffset: false)
        case .q4_K: return AffineLayout(subBlockSize: 32, bits: 4, zeroPoint: 0, hasOffset: true)
        case .q5_K: return AffineLayout(subBlockSize: 32, bits: 5, zeroPoint: 0, hasOffset: true)
        case .q6_K: return AffineLayout(subBlockSize: 16, bits: 6, zeroPoint: 32, hasOffset: false)
        // The IQ4 types map 4-bit indices through a fixed non-linear table of int8 values; their codes
        // are those values + 128, so they run as 8-bit affine codes (twice the file's code bytes).
        case .iq4_NL, .iq4_XS: return AffineLayout(subBlockSize: 32, bits: 8, zeroPoint: 128, hasOffset: false)
        default: return nil
        }
    }

    /// The exact `Float` of an IEEE half-precision bit pattern. Infinities and NaNs keep their sign
    /// and payload (a signalling NaN stays signalling), as numpy's cast does; hardware conversions
    /// (F16C) would quiet it, which is why this is done on the bits.
    @inline(__always)
    public static func float(fromFloat16 bits: UInt16) -> Float {
        Half.float(fromBits: bits, nan: .preserving)
    }

    /// Dequantizes `count` values (a whole number of blocks) of `type` from `source` into `into`.
    ///
    /// Bit-for-bit equal to `gguf.quants.dequantize` (gguf 0.19.0) for F32, F16, BF16, Q4_0, Q4_1, Q5_0,
    /// Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS. Preconditions (programming errors, not file
    /// errors: `GGUFFile` validates files before calling this): `type.isSupported`, `count >= 0` and a
    /// multiple of `type.blockSize`, `source` readable for `type.rowByteCount(count)` bytes.
    public static func dequantize(_ type: GGMLType, _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(type.isSupported, "GGMLBlocks.dequantize: \(type.name) is not supported")
        precondition(count >= 0 && count % type.blockSize == 0, "GGMLBlocks.dequantize: \(count) is not a whole number of \(type.name) blocks")
        let blocks = count / type.blockSize
        let stride = type.blockByteCount
        switch type {
        case .f32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
            for i in 0..<count { destination[i] = Float(bitPattern: UInt32(littleEndian: destination[i].bitPattern)) }
        case .f16:
            for i in 0..<count { destination[i] = float(fromFloat16: u16(source, 2 * i)) }
        case .bf16:
            for i in 0..<count { destination[i] = BFloat16.widening(u16(source, 2 * i)) }
        default:
            for block in 0..<blocks {
                let b = source + block * stride
                let y = destination + block * type.blockSize
                switch type {
                case .q4_0: q4_0(b, y)
                case .q4_1: q4_1(b, y)
                case .q5_0: q5_0(b, y)
                case .q5_1: q5_1(b, y)
                case .q8_0: q8_0(b, y)
                case .q2_K: q2_K(b, y)
                case .q3_K: q3_K(b, y)
                case .q4_K: q4_K(b, y)
                case .q5_K: q5_K(b, y)
                case .q6_K: q6_K(b, y)
                case .iq4_NL: iq4_NL(b, y)
                case .iq4_XS: iq4_XS(b, y)
                default: preconditionFailure("unreachable: \(type.name) is supported but has no dequantizer")
                }
            }
        }
    }

    /// Decodes `count` values (whole blocks) of a quantized `type` into `codes` (`count` bytes, each in
    /// `0 ..< (1 << layout.bits)`), `scales` and `offsets` (`count / layout.subBlockSize` each; offsets
    /// are all zero when the layout has none), per `affineLayout(of:)`.
    ///
    /// Preconditions: `affineLayout(of: type) != nil`, `count` a non-negative multiple of
    /// `type.blockSize`, buffers of the sizes above.
    public static func decode(
        _ type: GGMLType, _ source: UnsafeRawPointer, count: Int,
        codes: UnsafeMutablePointer<UInt8>, scales: UnsafeMutablePointer<Float>, offsets: UnsafeMutablePointer<Float>
    ) {
        guard let layout = affineLayout(of: type) else {
            preconditionFailure("GGMLBlocks.decode: \(type.name) has no affine layout")
        }
        precondition(count >= 0 && count % type.blockSize == 0, "GGMLBlocks.decode: \(count) is not a whole number of \(type.name) blocks")
        let blocks = count / type.blockSize
        let subBlocks = type.blockSize / layout.subBlockSize
        for block in 0..<blocks {
            let b = source + block * type.blockByteCount
            let c = codes + block * type.blockSize
            let s = scales + block * subBlocks
            let o = offsets + block * subBlocks
            switch type {
            case .q8_0:
                s[0] = half(b, 0); o[0] = 0
                for i in 0..<32 { c[i] = u8(b, 2 + i) ^ 0x80 }
            case .q4_0, .q4_1:
                let hasMin = type == .q4_1
                s[0] = half(b, 0); o[0] = hasMin ? half(b, 2) : 0
                let qs = hasMin ? 4 : 2
                for l in 0..<16 {
                    c[l] = u8(b, qs + l) & 0x0F
                    c[l + 16] = u8(b, qs + l) >> 4
                }
            case .q5_0, .q5_1:
                let hasMin = type == .q5_1
                s[0] = half(b, 0); o[0] = hasMin ? half(b, 2) : 0
                let qhOffset = hasMin ? 4 : 2
                let qh = u32(b, qhOffset)
                for j in 0..<32 {
                    let low = j < 16 ? u8(b, qhOffset + 4 + j) & 0x0F : u8(b, qhOffset + 4 + j - 16) >> 4
                    c[j] = low | UInt8(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4
                }
            case .q2_K:
                let d = half(b, 80), dmin = half(b, 82)
                for j in 0..<16 {
                    let sc = u8(b, j)
                    s[j] = d * Float(sc & 0x0F)
                    o[j] = -(dmin * Float(sc >> 4))
                }
                for i in 0..<256 { c[i] = (u8(b, 16 + (i / 128) * 32 + i % 32) >> UInt8(2 * ((i % 128) / 32))) & 3 }
            case .q3_K:
                let d = half(b, 108)
                for j in 0..<16 { s[j] = d * Float(q3Scale(b, j)); o[j] = 0 }
                for i in 0..<256 {
                    let low = (u8(b, 32 + (i / 128) * 32 + i % 32) >> UInt8(2 * ((i % 128) / 32))) & 3
                    let high = (u8(b, i % 32) >> UInt8(i / 32)) & 1
                    c[i] = low | high << 2
                }
            case .q4_K, .q5_K:
                let d = half(b, 0), dmin = half(b, 2)
                for j in 0..<8 {
                    let (sc, m) = kScaleMin(b + 4, j)
                    s[j] = d * Float(sc)
                    o[j] = -(dmin * Float(m))
                }
                let qs = type == .q4_K ? 16 : 48
                for i in 0..<256 {
                    let low = (u8(b, qs + (i / 64) * 32 + i % 32) >> UInt8(4 * ((i % 64) / 32))) & 0x0F
                    c[i] = type == .q4_K ? low : low | ((u8(b, 16 + i % 32) >> UInt8(i / 32)) & 1) << 4
                }
            case .q6_K:
                let d = half(b, 208)
                for j in 0..<16 { s[j] = d * Float(Int8(bitPattern: u8(b, 192 + j))); o[j] = 0 }
                for i in 0..<256 { c[i] = q6Code(b, i) }
            case .iq4_NL:
                s[0] = half(b, 0); o[0] = 0
                iq4Group(b + 2) { c[$0] = UInt8(bitPattern: $1) ^ 0x80 }
            case .iq4_XS:
                let d = half(b, 0)
                for block in 0..<8 {
                    s[block] = d * Float(iq4XSScale(b, block)); o[block] = 0
                    iq4Group(b + 8 + 16 * block) { c[32 * block + $0] = UInt8(bitPattern: $1) ^ 0x80 }
                }
            default:
                preconditionFailure("unreachable: \(type.name) has a layout but no decoder")
            }
        }
    }

    // MARK: - Field access

    @inline(__always) static func u8(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always) static func u16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always) static func u32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        float(fromFloat16: u16(p, offset))
    }

    /// Q4_K / Q5_K: the 6-bit scale and min of sub-block `j` (0..<8), packed in 12 bytes: bytes 0–3 hold
    /// the low 6 bits of scales 0–3 (top 2 bits: high bits of scales 4–7), bytes 4–7 the same for the
    /// mins, bytes 8–11 the low 4 bits of scales 4–7 (low nibble) and mins 4–7 (high nibble).
    @inline(__always) static func kScaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (UInt8, UInt8) {
        if j < 4 { return (u8(scales, j) & 0x3F, u8(scales, 4 + j) & 0x3F) }
        let packed = u8(scales, 8 + j - 4)
        return ((packed & 0x0F) | ((u8(scales, j - 4) >> 2) & 0x30), (packed >> 4) | ((u8(scales, j) >> 2) & 0x30))
    }

    /// Q3_K: the signed 6-bit scale of sub-block `j` (0..<16): low 4 bits from the nibbles of bytes
    /// 96–103 (low nibbles for 0–7, high nibbles for 8–15), high 2 bits from bytes 104–107.
    @inline(__always) static func q3Scale(_ b: UnsafeRawPointer, _ j: Int) -> Int32 {
        let low = j < 8 ? u8(b, 96 + j) & 0x0F : u8(b, 96 + j - 8) >> 4
        let high = (u8(b, 104 + j % 4) >> UInt8(2 * (j / 4))) & 3
        return Int32(low | high << 4) - 32
    }

    /// Q6_K: the 6-bit code of value `i`: low 4 bits from `ql` (128 bytes), high 2 from `qh` (64 bytes),
    /// each half of the block (128 values) using its own half of both arrays.
    @inline(__always) static func q6Code(_ b: UnsafeRawPointer, _ i: Int) -> UInt8 {
        let half = i / 128, r = i % 128
        let low = (u8(b, half * 64 + r % 64) >> UInt8(4 * (r / 64))) & 0x0F
        let high = (u8(b, 128 + half * 32 + r % 32) >> UInt8(2 * (r / 32))) & 3
        return low | high << 4
    }

    // MARK: - Dequantizers, one block each, in the Python package's operation order

    @inline(__always) static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for l in 0..<16 {
            let byte = u8(b, 2 + l)
            y[l] = d * Float(Int32(byte & 0x0F) - 8)
            y[l + 16] = d * Float(Int32(byte >> 4) - 8)
        }
    }

    @inline(__always) static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), m = half(b, 2)
        for l in 0..<16 {
            let byte = u8(b, 4 + l)
            y[l] = d * Float(byte & 0x0F) + m
            y[l + 16] = d * Float(byte >> 4) + m
        }
    }

    @inline(__always) static func q5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        let qh = u32(b, 2)
        for l in 0..<16 {
            let byte = u8(b, 6 + l)
            let low = Int32(byte & 0x0F) | Int32((qh >> UInt32(l)) & 1) << 4
            let high = Int32(byte >> 4) | Int32((qh >> UInt32(l + 16)) & 1) << 4
            y[l] = d * Float(low - 16)
            y[l + 16] = d * Float(high - 16)
        }
    }

    @inline(__always) static func q5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), m = half(b, 2)
        let qh = u32(b, 4)
        for l in 0..<16 {
            let byte = u8(b, 8 + l)
            let low = UInt32(byte & 0x0F) | ((qh >> UInt32(l)) & 1) << 4
            let high = UInt32(byte >> 4) | ((qh >> UInt32(l + 16)) & 1) << 4
            y[l] = d * Float(low) + m
            y[l + 16] = d * Float(high) + m
        }
    }

    @inline(__always) static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for l in 0..<32 { y[l] = Float(Int8(bitPattern: u8(b, 2 + l))) * d }
    }

    @inline(__always) static func q2_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 80), dmin = half(b, 82)
        for j in 0..<16 {
            let sc = u8(b, j)
            let dl = d * Float(sc & 0x0F)
            let ml = dmin * Float(sc >> 4)
            for k in 0..<16 {
                let i = 16 * j + k
                let q = (u8(b, 16 + (i / 128) * 32 + i % 32) >> UInt8(2 * ((i % 128) / 32))) & 3
                y[i] = dl * Float(q) - ml
            }
        }
    }

    @inline(__always) static func q3_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 108)
        for j in 0..<16 {
            let dl = d * Float(q3Scale(b, j))
            for k in 0..<16 {
                let i = 16 * j + k
                let low = (u8(b, 32 + (i / 128) * 32 + i % 32) >> UInt8(2 * ((i % 128) / 32))) & 3
                let high = (u8(b, i % 32) >> UInt8(i / 32)) & 1
                // The high bit *set* means no offset: q = low - 4 when it is clear.
                y[i] = dl * Float(Int32(low) - (high == 0 ? 4 : 0))
            }
        }
    }

    @inline(__always) static func q4_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), dmin = half(b, 2)
        for j in 0..<8 {
            let (sc, m) = kScaleMin(b + 4, j)
            let dl = d * Float(sc), ml = dmin * Float(m)
            let shift = UInt8(4 * (j % 2))
            for l in 0..<32 {
                let q = (u8(b, 16 + (j / 2) * 32 + l) >> shift) & 0x0F
                y[32 * j + l] = dl * Float(q) - ml
            }
        }
    }

    @inline(__always) static func q5_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), dmin = half(b, 2)
        for j in 0..<8 {
            let (sc, m) = kScaleMin(b + 4, j)
            let dl = d * Float(sc), ml = dmin * Float(m)
            let shift = UInt8(4 * (j % 2))
            for l in 0..<32 {
                let low = (u8(b, 48 + (j / 2) * 32 + l) >> shift) & 0x0F
                let high = (u8(b, 16 + l) >> UInt8(j)) & 1
                y[32 * j + l] = dl * Float(low | high << 4) - ml
            }
        }
    }

    @inline(__always) static func q6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 208)
        for j in 0..<16 {
            let dl = d * Float(Int8(bitPattern: u8(b, 192 + j)))
            for k in 0..<16 {
                let i = 16 * j + k
                y[i] = dl * Float(Int32(q6Code(b, i)) - 32)
            }
        }
    }

    // MARK: - IQ4 (non-linear 4-bit)

    /// The 16 values the IQ4_NL and IQ4_XS indices select (ggml's `kvalues_iq4nl`, part of the format).
    static let iq4Values: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// IQ4_XS sub-block `j`'s signed scale: 4 low bits from `scales_l`, 2 high bits from `scales_h`, minus 32.
    @inline(__always) static func iq4XSScale(_ b: UnsafeRawPointer, _ j: Int) -> Int32 {
        let low = (u8(b, 4 + j / 2) >> UInt8(4 * (j % 2))) & 0x0F
        let high = UInt8(truncatingIfNeeded: (u16(b, 2) >> UInt16(2 * j)) & 3)
        return Int32(low | high << 4) - 32
    }

    /// The 32 table values of one group of 16 index bytes (low nibbles are values 0–15, high ones
    /// 16–31), handed to `body(position, value)`.
    @inline(__always) static func iq4Group(_ indices: UnsafeRawPointer, _ body: (Int, Int8) -> Void) {
        for j in 0..<16 {
            let q = u8(indices, j)
            body(j, iq4Values[Int(q & 0x0F)])
            body(j + 16, iq4Values[Int(q >> 4)])
        }
    }

    /// IQ4_NL: f16 d, then one group of 16 index bytes; `d * value`.
    @inline(__always) static func iq4_NL(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        iq4Group(b + 2) { y[$0] = d * Float($1) }
    }

    /// IQ4_XS: f16 d, u16 scales_h, 4 bytes scales_l, 8 groups of 16 index bytes (sub-blocks of 32);
    /// `(d * scale) * value`.
    @inline(__always) static func iq4_XS(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for block in 0..<8 {
            let dl = d * Float(iq4XSScale(b, block))
            iq4Group(b + 8 + 16 * block) { y[32 * block + $0] = dl * Float($1) }
        }
    }
}
