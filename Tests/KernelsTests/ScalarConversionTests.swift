import Testing
@testable import Kernels

/// The one file of fp16/bf16 conversions against Swift's `Float16` (the IEEE conversion) and against
/// the rules each NaN policy names. The fp32 → fp16 rounding was also compared with `Float16` for all
/// 2^32 inputs in an optimised build (0 differences); here a strided sweep keeps the debug run short.
@Suite struct ScalarConversionTests {
    @Test func halfRoundingMatchesFloat16() {
        var checked = 0
        var mismatches: [UInt32] = []
        var bits: UInt32 = 0
        // 4_099 is prime: the sweep visits every exponent with varied mantissas, signs and NaN payloads.
        while true {
            let value = Float(bitPattern: bits)
            if Half.bits(rounding: value) != Float16(value).bitPattern { mismatches.append(bits) }
            checked += 1
            let (next, overflow) = bits.addingReportingOverflow(4_099 * 64)
            if overflow { break }
            bits = next
        }
        let edges: [Float] = [
            0, -0, 1, -1, 65504, 65519.996, 65520, -65520, .infinity, -.infinity, .greatestFiniteMagnitude,
            0x1p-14, 0x1p-24, 0x1p-25, 0x1.000002p-25, 0x1p-26, 0x1.ffcp-15, 0x1.ffep-15, .leastNonzeroMagnitude,
            1 + 0x1p-11, 1 + 0x1p-11 + 0x1p-23, 1 + 3 * 0x1p-11, .nan, -.nan, .signalingNaN,
            Float(bitPattern: 0x7FA0_1234), Float(bitPattern: 0xFF80_0001),
        ]
        for value in edges {
            #expect(Half.bits(rounding: value) == Float16(value).bitPattern, "\(value) \(String(value.bitPattern, radix: 16))")
        }
        #expect(checked > 16_000)
        #expect(mismatches.isEmpty, "fp32 bit patterns rounded differently: \(mismatches.prefix(8).map { String($0, radix: 16) })")
    }

    @Test func halfWideningPolicies() {
        var mismatches: [String] = []
        for raw in 0...Int(UInt16.max) {
            let bits = UInt16(raw)
            let quieted = Half.float(fromBits: bits, nan: .quieting)
            let preserved = Half.float(fromBits: bits, nan: .preserving)
            // .quieting is the IEEE conversion, as Swift's Float16 does it.
            if quieted.bitPattern != Float(Float16(bitPattern: bits)).bitPattern { mismatches.append("quieting \(bits)") }
            if Float16(bitPattern: bits).isSignalingNaN {
                // .preserving keeps the sign and payload and does not set the quiet bit.
                let expected = UInt32(bits & 0x8000) << 16 | 0x7F80_0000 | UInt32(bits & 0x3FF) << 13
                if preserved.bitPattern != expected || !preserved.isSignalingNaN { mismatches.append("preserving \(bits)") }
            } else if preserved.bitPattern != quieted.bitPattern {
                mismatches.append("preserving \(bits)")
            }
            // Widening then rounding is the identity on every non-NaN fp16 value.
            if !quieted.isNaN, Half.bits(rounding: quieted) != bits { mismatches.append("round trip \(bits)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(8))")
    }

    @Test func halfExactBits() {
        #expect(Half.exactBits(1) == 0x3C00)
        #expect(Half.exactBits(-0.0) == 0x8000)
        #expect(Half.exactBits(0x1p-24) == 0x0001)
        #expect(Half.exactBits(65504) == 0x7BFF)
        #expect(Half.exactBits(1 + 0x1p-11) == nil, "needs more than fp16's 10 mantissa bits")
        #expect(Half.exactBits(0x1p-25) == nil)
        #expect(Half.exactBits(65536) == nil)
        #expect(Half.exactBits(.infinity) == nil)
        #expect(Half.exactBits(.nan) == nil)
        let disagreeing = stride(from: 0, through: Int(UInt16.max), by: 7).filter { raw in
            let value = Half.float(fromBits: UInt16(raw), nan: .quieting)
            return value.isFinite && Half.exactBits(value) != Half.bits(rounding: value)
        }
        #expect(disagreeing.isEmpty, "every finite fp16 value is exact: \(disagreeing.prefix(8))")
    }

    @Test func bfloat16RoundingAndNaNPolicies() {
        let cases: [(Float, UInt16)] = [
            (1, 0x3F80), (-2, 0xC000),
            (Float(bitPattern: 0x3F80_8000), 0x3F80),  // a tie rounds to the even 0x3F80
            (Float(bitPattern: 0x3F81_8000), 0x3F82),  // a tie rounds to the even 0x3F82
            (Float(bitPattern: 0x3F80_8001), 0x3F81),  // above the tie rounds up
            (Float(bitPattern: 0x7F7F_FFFF), 0x7F80),  // the largest fp32 rounds to infinity
            (.infinity, 0x7F80), (-.infinity, 0xFF80), (-0.0, 0x8000),
        ]
        for (value, expected) in cases {
            #expect(BFloat16.rounding(value) == expected)
            #expect(BFloat16.rounding(value, nan: .quietKeepingPayload) == expected)
            #expect(BFloat16.widening(expected).bitPattern == UInt32(expected) << 16)
        }
        let signalling = Float(bitPattern: 0xFF81_2345)
        #expect(BFloat16.rounding(signalling) == 0x7FC0)
        #expect(BFloat16.rounding(signalling, nan: .canonical) == 0x7FC0)
        #expect(BFloat16.rounding(signalling, nan: .quietKeepingPayload) == 0xFFC1)
        #expect(BFloat16.rounding(-Float.nan, nan: .quietKeepingPayload) == 0xFFC0)
        // A NaN whose payload sits only in the dropped bits must not round to infinity.
        #expect(BFloat16.rounding(Float(bitPattern: 0x7F80_0001), nan: .quietKeepingPayload) == 0x7FC0)
    }
}
