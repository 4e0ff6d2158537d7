/// Which implementation a multiplication runs on.
public enum KernelPath: String, Sendable {
    /// AVX-512F fp32 FMA (C kernel).
    case avx512 = "avx512-fp32"
    /// AVX2 + FMA fp32, for x86-64 CPUs without AVX-512 (C kernel; the same results as `avx512`).
    case avx2 = "avx2-fp32"
    /// AVX512-BF16 `vdpbf16ps` (C kernel).
    case avx512BF16 = "avx512-bf16"
    /// Intel AMX-BF16 tiles, `tdpbf16ps` (C kernel).
    case amxBF16 = "amx-bf16"
    /// AVX512-VNNI `vpdpbusd` integer dot products on ggml-quantized weights (C kernel).
    case avx512VNNI = "avx512-vnni-int8"
    /// AVX-VNNI 256-bit `vpdpbusd` on ggml-quantized weights, for CPUs without AVX-512 (C kernel).
    case avxVNNI = "avx-vnni-int8"
    /// Plain Swift SIMD, for any CPU: the C kernels' Swift references (`ReferenceGEMM`,
    /// `ReferenceQuantizedGEMM`).
    case portable
}
