import CKernels
import Foundation

/// Instruction-set features of this CPU that the operating system has enabled, read once via CPUID/XCR0.
public struct CPUFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    /// A feature set from raw `QK_CPU_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let avx2 = CPUFeatures(rawValue: QK_CPU_AVX2)
    public static let fma = CPUFeatures(rawValue: QK_CPU_FMA)
    public static let avx512f = CPUFeatures(rawValue: QK_CPU_AVX512F)
    public static let avx512bw = CPUFeatures(rawValue: QK_CPU_AVX512BW)
    public static let avx512vl = CPUFeatures(rawValue: QK_CPU_AVX512VL)
    public static let avx512bf16 = CPUFeatures(rawValue: QK_CPU_AVX512_BF16)
    public static let avx512vnni = CPUFeatures(rawValue: QK_CPU_AVX512_VNNI)
    public static let avxVNNI = CPUFeatures(rawValue: QK_CPU_AVX_VNNI)
    public static let amxTile = CPUFeatures(rawValue: QK_CPU_AMX_TILE)
    public static let amxBF16 = CPUFeatures(rawValue: QK_CPU_AMX_BF16)
    public static let amxINT8 = CPUFeatures(rawValue: QK_CPU_AMX_INT8)
    public static let f16c = CPUFeatures(rawValue: QK_CPU_F16C)

    /// What the hardware offers, ignoring any override.
    public static let detected = CPUFeatures(rawValue: qk_cpu_features())

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

/// Validation of the environment variables the kernels read (`QWEN3_KERNEL`, `QWEN3_THREADS`).
///
/// The kernels read them on the hot path without checking (an unknown value means the default), so a
/// program calls `problem()` once at startup to turn a typo into an error instead of a silent default.
public enum KernelEnvironment {
    /// The largest `QWEN3_THREADS` accepted: far above any core count, low enough that a typo such as
    /// an extra zero is caught rather than spawning thousands of threads.
    public static let maximumThreads = 4096

    /// The values `QWEN3_KERNEL` may take: `auto` (the default: detect the CPU) or `portable`.
    public static let kernelChoices = ["auto", "portable"]

    /// A one-line description of the first malformed variable in `environment`, or nil when both are
    /// unset, empty (treated as unset, as `VAR= command` means) or valid.
    public static func problem(in environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let value = environment["QWEN3_THREADS"], !value.isEmpty {
            guard let threads = Int(value), threads > 0 else {
                return "QWEN3_THREADS must be a positive integer, got '\(value)'"
            }
            guard threads <= maximumThreads else {
                return "QWEN3_THREADS must be at most \(maximumThreads), got '\(value)'"
            }
        }
        if let value = environment["QWEN3_KERNEL"], !value.isEmpty, !kernelChoices.contains(value) {
            return "QWEN3_KERNEL must be \(kernelChoices.joined(separator: " or ")), got '\(value)'"
        }
        return nil
    }
}

/// Arithmetic precision of the linear layers.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// Exact mode: fp32 activations, weights converted exactly to fp32, fp32 accumulation.
    case float32 = "fp32"
    /// Fast mode: activations rounded to bf16, bf16 weights, fp32 accumulation.
    case bfloat16 = "bf16"

    /// bf16 where the CPU has bf16 dot-product instructions, else fp32.
    public static var automatic: Precision {
        CPUFeatures.usable.contains(.avx512bf16) && CPUFeatures.usable.hasAVX512 ? .bfloat16 : .float32
    }

    /// Parses `fp32`, `bf16` or `auto`.
    public init?(argument: String) {
        switch argument.lowercased() {
        case "auto": self = Precision.automatic
        case "fp32", "f32", "float32": self = .float32
        case "bf16", "bfloat16": self = .bfloat16
        default: return nil
        }
    }
}
