import CKernels

// The package's one home for fp16 and bf16 scalar conversions. Every other module (safetensors and
// GGUF readers, the safetensors and GGUF writers, the packed-matrix kernels) converts through these, so a
// rounding or NaN rule is decided once. Where two callers must treat NaN differently (they reproduce
// different reference libraries bit for bit) the difference is a named `NaNPolicy`, not a second copy.
//
// Done on the bit patterns rather than through Swift's `Float16`: that type does not exist on macOS on
// Intel, and its conversion quiets signalling NaNs, which the GGUF reader must not do.

/// bf16 (bfloat16) conversions: the upper 16 bits of an fp32.
public enum BFloat16 {
    /// What fp32 → bf16 rounding makes of a NaN.
    public enum NaNPolicy: Sendable {
        /// Every NaN becomes the positive quiet NaN 0x7FC0, as PyTorch's `c10::BFloat16` does.
        case canonical
        /// The sign and the upper 7 payload bits are kept and the quiet bit is set, as ggml's
        /// `GGML_FP32_TO_BF16` and the gguf Python package do.
        case quietKeepingPayload
    }

    /// fp32 → bf16 with round-to-nearest-even; NaN becomes the quiet NaN 0x7FC0 (as `c10::BFloat16`).
    @inlinable @inline(__always)
    public static func rounding(_ value: Float) -> UInt16 { rounding(value, nan: .canonical) }

    /// fp32 → bf16 with round-to-nearest-even (values past the largest bf16 become infinities), NaN as
    /// `nan` says.
    @inlinable @inline(__always)
    public static func rounding(_ value: Float, nan: NaNPolicy) -> UInt16 {
        let bits = value.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 {
            switch nan {
            case .canonical: return 0x7FC0
            case .quietKeepingPayload: return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
            }
        }
        // Adding 0x7FFF plus the lowest kept bit rounds the dropped half to nearest, ties to even; a carry
        // runs into the exponent exactly as rounding up should (and past the largest finite to infinity).
        return UInt16(truncatingIfNeeded: (bits &+ ((bits >> 16) & 1) &+ 0x7FFF) >> 16)
    }

    /// bf16 → fp32 (exact; NaNs keep every bit).
    @inlinable @inline(__always)
    public static func widening(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Rounds a buffer (canonical NaN), in parallel, with the AVX-512 kernel where available.
    public static func round(
        _ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count: Int,
        features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) {
        let chunk = 1 << 16
        let chunks = (count + chunk - 1) / chunk
        pool.run(tasks: chunks) { index in
            let start = index * chunk
            let length = min(count, start + chunk) - start
            if features.hasAVX512 {
                q3e_f32_to_bf16_avx512(source + start, destination + start, Int64(length))
            } else {
                for i in start..<(start + length) { destination[i] = rounding(source[i]) }
            }
        }
    }
}

/// IEEE 754 binary16 (fp16, "half") conversions.
public enum Half {
    /// What fp16 → fp32 widening makes of a signalling NaN (quiet NaNs keep every bit either way).
    public enum NaNPolicy: Sendable {
        /// The quiet bit is set, sign and payload kept: the IEEE 754 conversion, as Swift's `Float16`,
        /// PyTorch and the F16C instructions do.
        case quieting
        /// Every bit is kept, so a signalling NaN stays signalling: numpy's cast, which the gguf Python
        /// package's dequantisation uses.
        case preserving
    }

    /// fp16 bits → fp32 (exact for every finite value and infinity), NaN as `nan` says.
    @inlinable @inline(__always)
    public static func float(fromBits bits: UInt16, nan: NaNPolicy) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F {
            let quiet: UInt32 = nan == .quieting && mantissa != 0 ? 0x40_0000 : 0
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13) | quiet)
        }
        if exponent != 0 { return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13)) }
        // Zero or subnormal: mantissa × 2^-24, exact in fp32 (at most 10 significant bits).
        let magnitude = Float(mantissa) * 0x1p-24
        return Float(bitPattern: sign | magnitude.bitPattern)
    }

    /// fp32 → fp16 bits, round-to-nearest-even (values from 65520 up become infinities, tiny ones fp16
    /// subnormals or zero); a NaN keeps its sign and upper 9 payload bits and is made quiet. This is the
    /// IEEE 754 conversion, bit for bit what Swift's `Float16(_:)`, numpy, PyTorch and ggml's
    /// `GGML_FP32_TO_FP16` give (checked against `Float16` for all 2^32 inputs).
    @inlinable @inline(__always)
    public static func bits(rounding value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: bits >> 16) & 0x8000
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 { return sign | 0x7E00 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x1FF) }
        // 65520 is halfway between the largest fp16 (65504, odd mantissa) and 2^16: it and all above round up.
        if magnitude >= 0x477F_F000 { return sign | 0x7C00 }
        if magnitude >= 0x3880_0000 {
            // Normal fp16 (≥ 2^-14): round the 13 dropped mantissa bits to nearest-even, then rebias the
            // exponent (127 − 15 = 112, i.e. subtract 112 << 23); a carry moves into the exponent.
            let rounded = magnitude &+ 0x0FFF &+ ((magnitude >> 13) & 1)
            return sign | UInt16(truncatingIfNeeded: (rounded &- 0x3800_0000) >> 13)
        }
        // fp16 subnormal range: the result is round(value · 2^24) units of 2^-24 (1024 is the smallest
        // normal, which the bit layout gives for free). The scaling is exact; the rounding is the only step.
        return sign | UInt16((Float(bitPattern: magnitude) * 0x1p24).rounded(.toNearestOrEven))
    }

    /// The fp16 bit pattern of `value` if it is exactly an fp16 value (subnormals included), else nil.
    public static func exactBits(_ value: Float) -> UInt16? {
        if value.isNaN || value.isInfinite { return nil }
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: bits >> 16) & 0x8000
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude == 0 { return sign }
        let exponent = Int((magnitude >> 23) & 0xFF) - 127
        if exponent > 15 { return nil }
        if exponent >= -14 {
            // Normal fp16: the low 13 of the 23 mantissa bits must be zero.
            guard magnitude & 0x1FFF == 0 else { return nil }
            return sign | UInt16((exponent + 15) << 10) | UInt16((magnitude >> 13) & 0x3FF)
        }
        // fp16 subnormal: value = n · 2^-24 with n < 1024 an integer.
        guard exponent >= -24 else { return nil }
        // value = significand · 2^(exponent − 23) with a 24-bit significand (fp32 subnormals are far
        // below 2^-24), so n = significand >> (−exponent − 1), exact when no set bit is dropped.
        let significand = (magnitude & 0x7F_FFFF) | 0x80_0000
        let drop = UInt32(-exponent - 1)
        guard significand & ((1 << drop) - 1) == 0 else { return nil }
        return sign | UInt16(significand >> drop)
    }
}
