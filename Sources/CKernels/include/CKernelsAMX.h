#ifndef QWEN3_CKERNELS_AMX_H
#define QWEN3_CKERNELS_AMX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The bf16 GEMM of `q3e_gemm_bf16_avx512bf16` (same arguments and pair-panel layout) on Intel AMX
/// tiles: `tdpbf16ps` over 16×32 activation tiles and 16-pair × 16-column weight tiles, which is exactly
/// a pair panel's memory layout, so weights are loaded in place. fp32 accumulation in tile registers.
/// Requires AMX-TILE and AMX-BF16, granted tile-data permission (`q3e_request_amx_permission`), k a
/// multiple of 32 and n_begin a multiple of 32. Not bitwise equal to the AVX512-BF16 kernel: the
/// tile unit sums each 32-value slice in its own order (the result per row never depends on other rows).
void q3e_gemm_bf16_amx(const uint16_t *x, int64_t m, int64_t k, const uint16_t *panels,
                       int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

#ifdef __cplusplus
}
#endif

#endif
