import CKernels
import Foundation

/// Instruction-set features of this CPU that the operating system has enabled, read once via CPUID/XCR0.
public struct CPUFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    /// A feature set from raw `Q3E_CPU_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let avx2 = CPUFeatures(rawValue: Q3E_CPU_AVX2)
    public static let fma = CPUFeatures(rawValue: Q3E_CPU_FMA)
    public static let avx512f = CPUFeatures(rawValue: Q3E_CPU_AVX512F)
    public static let avx512bw = CPUFeatures(rawValue: Q3E_CPU_AVX512BW)
    public static let avx512vl = CPUFeatures(rawValue: Q3E_CPU_AVX512VL)
    public static let avx512bf16 = CPUFeatures(rawValue: Q3E_CPU_AVX512_BF16)
    public static let avx512vnni = CPUFeatures(rawValue: Q3E_CPU_AVX512_VNNI)
    public static let avxVNNI = CPUFeatures(rawValue: Q3E_CPU_AVX_VNNI)
    public static let amxTile = CPUFeatures(rawValue: Q3E_CPU_AMX_TILE)
    public static let amxBF16 = CPUFeatures(rawValue: Q3E_CPU_AMX_BF16)
    public static let amxINT8 = CPUFeatures(rawValue: Q3E_CPU_AMX_INT8)
    public static let f16c = CPUFeatures(rawValue: Q3E_CPU_F16C)

    /// What the hardware offers, ignoring any override.
    public static let detected = CPUFeatures(rawValue: q3e_cpu_features())

    /// What the kernels may use: `detected`, or nothing when `QWEN3_KERNEL=portable` forces the plain
    /// Swift path (tests run it on every machine).
    /// Read on every call (it is the default argument of every kernel entry point), so it uses
    /// `getenv` rather than building `ProcessInfo`'s environment dictionary each time.
    public static var usable: CPUFeatures {
        guard let value = getenv("QWEN3_KERNEL"), strcmp(value, "portable") == 0 else { return detected }
        return []
    }

    /// The AVX-512 subset the fp32 kernels need.
    public var hasAVX512: Bool { contains([.avx512f, .avx512bw, .avx512vl]) }

    /// Names of the present features, lowercase as in /proc/cpuinfo.
    public var description: String {
        let names: [(CPUFeatures, String)] = [
            (.avx2, "avx2"), (.fma, "fma"), (.f16c, "f16c"), (.avx512f, "avx512f"), (.avx512bw, "avx512bw"),
            (.avx512vl, "avx512vl"), (.avx512bf16, "avx512_bf16"), (.avx512vnni, "avx512_vnni"),
            (.avxVNNI, "avx_vnni"), (.amxTile, "amx_tile"), (.amxBF16, "amx_bf16"), (.amxINT8, "amx_int8"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: " ")
    }
}
