#ifndef QWEN3_CKERNELS_H
#define QWEN3_CKERNELS_H

// Thin C kernels for CPU instructions Swift cannot select at run time (AVX-512 BF16 dot products,
// function-level AVX-512 code in a portable binary). Every kernel here has a plain Swift reference
// implementation in the Kernels module and a test that compares the two.

#include <stdint.h>
#include <stddef.h>
#include "CKernelsAMX.h"

#ifdef __cplusplus
extern "C" {
#endif

/// CPU feature bits reported by qk_cpu_features().
#define QK_CPU_AVX2 0x1u
#define QK_CPU_FMA 0x2u
#define QK_CPU_AVX512F 0x4u
#define QK_CPU_AVX512BW 0x8u
#define QK_CPU_AVX512VL 0x10u
#define QK_CPU_AVX512_BF16 0x20u
#define QK_CPU_AVX512_VNNI 0x40u
#define QK_CPU_AVX_VNNI 0x80u
#define QK_CPU_AMX_TILE 0x100u
#define QK_CPU_AMX_BF16 0x200u
#define QK_CPU_AMX_INT8 0x400u
#define QK_CPU_F16C 0x800u

/// Features supported by both the CPU (CPUID) and the operating system (XCR0); 0 on non-x86 CPUs.
uint32_t qk_cpu_features(void);

/// Asks Linux for permission to use AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM); returns 1 on success.
int qk_request_amx_permission(void);

/// Packed weight layout shared by the kernels ("pair panels"): the weight matrix W (n rows × k columns,
/// PyTorch nn.Linear layout) is cut into panels of 16 rows; within a panel, for each pair of columns
/// (2p, 2p+1), the 16 rows' two values are stored interleaved: W[r][2p], W[r][2p+1] for r = 0..15,
/// i.e. 32 values. Rows are padded with zeros to a multiple of 16, columns to a multiple of 2.
/// bf16 panels: 64 bytes per pair; f32 panels: 128 bytes per pair.

/// out[i][j] = Σ_c x[i][c] · W[j][c] for i < m and j in [n_begin, n_end), fp32 activations and
/// bf16 pair-panel weights (converted exactly to fp32), fp32 accumulation. AVX-512F.
/// k must be even; n_begin must be a multiple of 32.
void qk_gemm_f32_bf16w_avx512(const float *x, int64_t m, int64_t k, const uint16_t *panels,
                              int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// The same with f32 pair-panel weights. AVX-512F.
void qk_gemm_f32_f32w_avx512(const float *x, int64_t m, int64_t k, const float *panels,
                             int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// The same with bf16 activations (row-major, k even) and bf16 weights: AVX512-BF16 `vdpbf16ps`,
/// fp32 accumulation.
void qk_gemm_bf16_avx512bf16(const uint16_t *x, int64_t m, int64_t k, const uint16_t *panels,
                             int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// fp32 → bf16 with round-to-nearest-even (NaN stays NaN), as PyTorch's `.to(torch.bfloat16)`. AVX-512.
void qk_f32_to_bf16_avx512(const float *source, uint16_t *destination, int64_t count);

/// Causal attention for one sequence and head, query rows [first_query, end_query) of the sequence
/// (row i attends to rows 0...i). `query` rows are `query_stride` floats apart, `key`/`value` rows
/// `key_value_stride`; `head_dimension` must be a multiple of 16 and at most 256; `scores` needs
/// end_query floats. AVX-512F.
void qk_attention_f32_avx512(const float *query, int64_t query_stride, const float *key, const float *value,
                             int64_t key_value_stride, float *output, int64_t output_stride,
                             int64_t first_query, int64_t end_query, int64_t head_dimension, float scale,
                             float *scores);

/// Element-wise exp (the polynomial the attention kernel uses), for tests. AVX-512F.
void qk_exp_avx512(const float *source, float *destination, int64_t count);

#ifdef __cplusplus
}
#endif

#endif
