/// A weight matrix that a linear layer multiplies activations by: `output[m×rows] = input[m×columns] · Wᵀ`.
///
/// Implemented by `PackedMatrix` (fp32 / bf16 panels) and `QuantizedMatrix` (ggml block quantization
/// with integer dot products), so the model runs any checkpoint format through one interface.
public protocol LinearLayer: AnyObject, Sendable {
    /// Output features.
    var rows: Int { get }
    /// Input features.
    var columns: Int { get }
    /// Bytes of weight storage held in memory.
    var byteCount: Int { get }
    /// `output[m×rows] = input[m×columns] · Wᵀ`, split across the pool.
    func multiply(
        _ input: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>,
        precision: Precision, features: CPUFeatures, pool: ComputePool
    )
    /// The kernel `multiply` runs on at `precision` on a CPU with `features`.
    func kernel(for precision: Precision, features: CPUFeatures) -> KernelPath
}

extension PackedMatrix: LinearLayer {}

/// Which implementation a multiplication runs on.
public enum KernelPath: String, Sendable {
    /// AVX-512F fp32 FMA (C kernel).
    case avx512 = "avx512-fp32"
    /// AVX512-BF16 `vdpbf16ps` (C kernel).
    case avx512BF16 = "avx512-bf16"
    /// Intel AMX-BF16 tiles, `tdpbf16ps` (C kernel).
    case amxBF16 = "amx-bf16"
    /// AVX512-VNNI `vpdpbusd` integer dot products on ggml-quantized weights (C kernel).
    case avx512VNNI = "avx512-vnni-int8"
    /// AVX-VNNI 256-bit `vpdpbusd` on ggml-quantized weights, for CPUs without AVX-512 (C kernel).
    case avxVNNI = "avx-vnni-int8"
    /// Plain Swift SIMD, for any CPU.
    case portable
}
