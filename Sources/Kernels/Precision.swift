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
