// AVX2 + FMA forward GEMMs over the same panels as gemm_avx512.c (layout in CKernels.h), for x86-64 CPUs
// without AVX-512 (AMD Zen 2/3, Intel before Ice Lake, and the hybrid client parts).
//
// Register blocking: 4 activation rows × one 16-column panel (two ymm halves) in 8 accumulators; the
// panel is the outer loop so its weights (k × 16 values) stay in L1/L2 while the row tiles stream past.
// Each output element is one chain of fused multiply-adds in the same order as the AVX-512 kernels
// (columns ascending; for bf16 pairs the even column then the odd one), so the two paths agree bit for
// bit and a row's result never depends on the other rows of the batch.

#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define Q3E_AVX2_FMA __attribute__((target("avx2,fma")))
#define Q3E_INLINE static inline __attribute__((always_inline))
#define Q3E_AVX2_ROWS 4

// Writes lanes [first, end) of a 16-lane result (AVX2 has no masked store for the ragged edge).
Q3E_INLINE Q3E_AVX2_FMA void store_lanes(float *out, __m256 low, __m256 high, int64_t first, int64_t end) {
    if (first == 0 && end == 16) {
        _mm256_storeu_ps(out, low);
        _mm256_storeu_ps(out + 8, high);
        return;
    }
    float lanes[16];
    _mm256_storeu_ps(lanes, low);
    _mm256_storeu_ps(lanes + 8, high);
    for (int64_t lane = first; lane < end; lane++) out[lane] = lanes[lane];
}

// ---- fp32 activations × bf16 pair panels ---------------------------------------------------------------

Q3E_INLINE Q3E_AVX2_FMA void block_f32_bf16w(const float *x, int64_t k, const uint16_t *panel, float *out,
                                             int64_t out_stride, const int rows, int64_t first, int64_t end) {
    __m256 low[Q3E_AVX2_ROWS], high[Q3E_AVX2_ROWS];
    for (int r = 0; r < rows; r++) { low[r] = _mm256_setzero_ps(); high[r] = _mm256_setzero_ps(); }
    const __m256i odd_mask = _mm256_set1_epi32((int)0xFFFF0000u);
    const int64_t pairs = k / 2;
    for (int64_t p = 0; p < pairs; p++) {
        // One column pair: 16 32-bit words, word j = panel column j (low half: column 2p, high: 2p + 1).
        const __m256i words_low = _mm256_loadu_si256((const __m256i *)(panel + p * 32));
        const __m256i words_high = _mm256_loadu_si256((const __m256i *)(panel + p * 32 + 16));
        const __m256 even_low = _mm256_castsi256_ps(_mm256_slli_epi32(words_low, 16));
        const __m256 even_high = _mm256_castsi256_ps(_mm256_slli_epi32(words_high, 16));
        const __m256 odd_low = _mm256_castsi256_ps(_mm256_and_si256(words_low, odd_mask));
        const __m256 odd_high = _mm256_castsi256_ps(_mm256_and_si256(words_high, odd_mask));
        for (int r = 0; r < rows; r++) {
            const __m256 xe = _mm256_set1_ps(x[r * k + 2 * p]);
            const __m256 xo = _mm256_set1_ps(x[r * k + 2 * p + 1]);
            low[r] = _mm256_fmadd_ps(xe, even_low, low[r]);
            high[r] = _mm256_fmadd_ps(xe, even_high, high[r]);
            low[r] = _mm256_fmadd_ps(xo, odd_low, low[r]);
            high[r] = _mm256_fmadd_ps(xo, odd_high, high[r]);
        }
    }
    for (int r = 0; r < rows; r++) store_lanes(out + r * out_stride, low[r], high[r], first, end);
}

// ---- fp32 activations × fp32 panels (k-major: 16 floats per column index) ----------------------------

Q3E_INLINE Q3E_AVX2_FMA void block_f32_f32w(const float *x, int64_t k, const float *panel, float *out,
                                            int64_t out_stride, const int rows, int64_t first, int64_t end) {
    __m256 low[Q3E_AVX2_ROWS], high[Q3E_AVX2_ROWS];
    for (int r = 0; r < rows; r++) { low[r] = _mm256_setzero_ps(); high[r] = _mm256_setzero_ps(); }
    for (int64_t c = 0; c < k; c++) {
        const __m256 w_low = _mm256_loadu_ps(panel + c * 16);
        const __m256 w_high = _mm256_loadu_ps(panel + c * 16 + 8);
        for (int r = 0; r < rows; r++) {
            const __m256 xv = _mm256_set1_ps(x[r * k + c]);
            low[r] = _mm256_fmadd_ps(xv, w_low, low[r]);
            high[r] = _mm256_fmadd_ps(xv, w_high, high[r]);
        }
    }
    for (int r = 0; r < rows; r++) store_lanes(out + r * out_stride, low[r], high[r], first, end);
}

// Panels outer (from the one holding n_begin), row tiles of Q3E_AVX2_ROWS inner; rows = 1...4 are
// separate instantiations so the accumulators stay in registers.
#define Q3E_AVX2_DRIVER(BLOCK, PANEL_TYPE, PANEL_SIZE)                                                        \
    const int64_t panel_size = (PANEL_SIZE);                                                                \
    for (int64_t start = n_begin / 16 * 16; start < n_end; start += 16) {                                   \
        const int64_t first = n_begin > start ? n_begin - start : 0;                                        \
        const int64_t end = n_end - start < 16 ? n_end - start : 16;                                        \
        const PANEL_TYPE *panel = panels + (start / 16) * panel_size;                                       \
        for (int64_t row = 0; row < m; row += Q3E_AVX2_ROWS) {                                              \
            const int rows = (int)(m - row < Q3E_AVX2_ROWS ? m - row : Q3E_AVX2_ROWS);                      \
            const float *xr = x + row * k;                                                                  \
            float *o = out + row * out_stride + start;                                                      \
            switch (rows) {                                                                                 \
            case 4: BLOCK(xr, k, panel, o, out_stride, 4, first, end); break;                               \
            case 3: BLOCK(xr, k, panel, o, out_stride, 3, first, end); break;                               \
            case 2: BLOCK(xr, k, panel, o, out_stride, 2, first, end); break;                               \
            default: BLOCK(xr, k, panel, o, out_stride, 1, first, end); break;                              \
            }                                                                                               \
        }                                                                                                   \
    }

Q3E_AVX2_FMA void q3e_gemm_f32_bf16w_avx2(const float *x, int64_t m, int64_t k, const uint16_t *panels,
                                          int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    Q3E_AVX2_DRIVER(block_f32_bf16w, uint16_t, (k / 2) * 32)
}

Q3E_AVX2_FMA void q3e_gemm_f32_f32w_avx2(const float *x, int64_t m, int64_t k, const float *panels,
                                         int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    Q3E_AVX2_DRIVER(block_f32_f32w, float, k * 16)
}

#else  // not x86_64: the Swift reference (ReferenceGEMM) runs; these are never called.

void q3e_gemm_f32_bf16w_avx2(const float *x, int64_t m, int64_t k, const uint16_t *panels,
                             int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}
void q3e_gemm_f32_f32w_avx2(const float *x, int64_t m, int64_t k, const float *panels,
                            int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}

#endif
