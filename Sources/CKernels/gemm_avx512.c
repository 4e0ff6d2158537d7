// AVX-512 matrix kernels over pair-panel weights (layout described in CKernels.h).
//
// Register blocking: 12 activation rows × 32 output columns (two 16-column panels) live in 24 zmm
// accumulators; each weight vector loaded is used 12 times and each broadcast activation twice.
// Every output element is accumulated in the same order (column pairs ascending) whichever block
// computes it, so a row's result never depends on the other rows in the batch.

#include "CKernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define Q3E_ROWS 12
// Weight lines (64 bytes: one column pair of a panel) fetched ahead of use.
#define Q3E_PREFETCH_PAIRS 8
#define Q3E_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define Q3E_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define Q3E_INLINE static inline __attribute__((always_inline))

// Rows per register tile: at most Q3E_ROWS, spread evenly (16 rows run as 8 + 8, not 12 + 4, so no
// tile is left with too few rows to hide the weight loads).
static inline int64_t balanced_tile(int64_t m) {
    const int64_t tiles = (m + Q3E_ROWS - 1) / Q3E_ROWS;
    return tiles > 0 ? (m + tiles - 1) / tiles : Q3E_ROWS;
}

static inline __mmask16 column_mask(int64_t remaining) {
    if (remaining >= 16) return (__mmask16)0xFFFF;
    if (remaining <= 0) return 0;
    return (__mmask16)((1u << remaining) - 1u);
}

// ---- fp32 activations × bf16 weights -------------------------------------------------------------

Q3E_INLINE Q3E_AVX512 void block_f32_bf16w(const float *x, int64_t k, const uint16_t *p0, const uint16_t *p1,
                                           float *out, int64_t out_stride, const int rows,
                                           __mmask16 mask0, __mmask16 mask1) {
    __m512 acc0[Q3E_ROWS], acc1[Q3E_ROWS];
    for (int r = 0; r < rows; r++) { acc0[r] = _mm512_setzero_ps(); acc1[r] = _mm512_setzero_ps(); }
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    const int64_t pairs = k / 2;
    for (int64_t p = 0; p < pairs; p++) {
        _mm_prefetch((const char *)(p0 + (p + Q3E_PREFETCH_PAIRS) * 32), _MM_HINT_T0);
        _mm_prefetch((const char *)(p1 + (p + Q3E_PREFETCH_PAIRS) * 32), _MM_HINT_T0);
        __m512i w0 = _mm512_loadu_si512((const void *)(p0 + p * 32));
        __m512i w1 = _mm512_loadu_si512((const void *)(p1 + p * 32));
        // bf16 → fp32 is exact: the low half of each 32-bit lane is column 2p, the high half 2p+1.
        __m512 w0e = _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16));
        __m512 w0o = _mm512_castsi512_ps(_mm512_and_si512(w0, high));
        __m512 w1e = _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16));
        __m512 w1o = _mm512_castsi512_ps(_mm512_and_si512(w1, high));
        for (int r = 0; r < rows; r++) {
            __m512 xe = _mm512_set1_ps(x[r * k + 2 * p]);
            __m512 xo = _mm512_set1_ps(x[r * k + 2 * p + 1]);
            acc0[r] = _mm512_fmadd_ps(xe, w0e, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(xe, w1e, acc1[r]);
            acc0[r] = _mm512_fmadd_ps(xo, w0o, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(xo, w1o, acc1[r]);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(out + r * out_stride, mask0, acc0[r]);
        _mm512_mask_storeu_ps(out + r * out_stride + 16, mask1, acc1[r]);
    }
}

#define Q3E_DISPATCH_ROWS(call) \
    switch (rows) { \
    case 12: call(12); break; case 11: call(11); break; case 10: call(10); break; case 9: call(9); break; \
    case 8: call(8); break; case 7: call(7); break; case 6: call(6); break; case 5: call(5); break; \
    case 4: call(4); break; case 3: call(3); break; case 2: call(2); break; default: call(1); break; }

Q3E_AVX512 void q3e_gemm_f32_bf16w_avx512(const float *x, int64_t m, int64_t k, const uint16_t *panels,
                                          int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    const int64_t panel_size = (k / 2) * 32;
    const int64_t tile = balanced_tile(m);
    for (int64_t row = 0; row < m; row += tile) {
        const int rows = (int)(m - row < tile ? m - row : tile);
        for (int64_t column = n_begin; column < n_end; column += 32) {
            const uint16_t *p0 = panels + (column / 16) * panel_size;
            const uint16_t *p1 = p0 + panel_size;
            __mmask16 mask0 = column_mask(n_end - column), mask1 = column_mask(n_end - column - 16);
#define Q3E_CALL(R) block_f32_bf16w(x + row * k, k, p0, p1, out + row * out_stride + column, out_stride, R, mask0, mask1)
            Q3E_DISPATCH_ROWS(Q3E_CALL)
#undef Q3E_CALL
        }
    }
}

// ---- fp32 activations × fp32 weights (panels are k-major: 16 floats per column index) ----------------

Q3E_INLINE Q3E_AVX512 void block_f32_f32w(const float *x, int64_t k, const float *p0, const float *p1,
                                          float *out, int64_t out_stride, const int rows,
                                          __mmask16 mask0, __mmask16 mask1) {
    __m512 acc0[Q3E_ROWS], acc1[Q3E_ROWS];
    for (int r = 0; r < rows; r++) { acc0[r] = _mm512_setzero_ps(); acc1[r] = _mm512_setzero_ps(); }
    for (int64_t c = 0; c < k; c++) {
        _mm_prefetch((const char *)(p0 + (c + Q3E_PREFETCH_PAIRS) * 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(p1 + (c + Q3E_PREFETCH_PAIRS) * 16), _MM_HINT_T0);
        __m512 w0 = _mm512_loadu_ps(p0 + c * 16);
        __m512 w1 = _mm512_loadu_ps(p1 + c * 16);
        for (int r = 0; r < rows; r++) {
            __m512 xv = _mm512_set1_ps(x[r * k + c]);
            acc0[r] = _mm512_fmadd_ps(xv, w0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(xv, w1, acc1[r]);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(out + r * out_stride, mask0, acc0[r]);
        _mm512_mask_storeu_ps(out + r * out_stride + 16, mask1, acc1[r]);
    }
}

Q3E_AVX512 void q3e_gemm_f32_f32w_avx512(const float *x, int64_t m, int64_t k, const float *panels,
                                         int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    const int64_t panel_size = k * 16;
    const int64_t tile = balanced_tile(m);
    for (int64_t row = 0; row < m; row += tile) {
        const int rows = (int)(m - row < tile ? m - row : tile);
        for (int64_t column = n_begin; column < n_end; column += 32) {
            const float *p0 = panels + (column / 16) * panel_size;
            const float *p1 = p0 + panel_size;
            __mmask16 mask0 = column_mask(n_end - column), mask1 = column_mask(n_end - column - 16);
#define Q3E_CALL(R) block_f32_f32w(x + row * k, k, p0, p1, out + row * out_stride + column, out_stride, R, mask0, mask1)
            Q3E_DISPATCH_ROWS(Q3E_CALL)
#undef Q3E_CALL
        }
    }
}

// ---- bf16 activations × bf16 weights: vdpbf16ps ------------------------------------------------------

Q3E_INLINE Q3E_AVX512BF16 void block_bf16(const uint16_t *x, int64_t k, const uint16_t *p0, const uint16_t *p1,
                                          float *out, int64_t out_stride, const int rows,
                                          __mmask16 mask0, __mmask16 mask1) {
    __m512 acc0[Q3E_ROWS], acc1[Q3E_ROWS];
    for (int r = 0; r < rows; r++) { acc0[r] = _mm512_setzero_ps(); acc1[r] = _mm512_setzero_ps(); }
    const int64_t pairs = k / 2;
    for (int64_t p = 0; p < pairs; p++) {
        // Weights stream from memory once per row tile: fetch a few lines ahead so the loads overlap
        // the dot products (prefetches past the panel's end are harmless).
        _mm_prefetch((const char *)(p0 + (p + Q3E_PREFETCH_PAIRS) * 32), _MM_HINT_T0);
        _mm_prefetch((const char *)(p1 + (p + Q3E_PREFETCH_PAIRS) * 32), _MM_HINT_T0);
        __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void *)(p0 + p * 32));
        __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void *)(p1 + p * 32));
        for (int r = 0; r < rows; r++) {
            int32_t pair;
            memcpy(&pair, x + r * k + 2 * p, sizeof pair);
            __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
            acc0[r] = _mm512_dpbf16_ps(acc0[r], xv, w0);
            acc1[r] = _mm512_dpbf16_ps(acc1[r], xv, w1);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(out + r * out_stride, mask0, acc0[r]);
        _mm512_mask_storeu_ps(out + r * out_stride + 16, mask1, acc1[r]);
    }
}

Q3E_AVX512BF16 void q3e_gemm_bf16_avx512bf16(const uint16_t *x, int64_t m, int64_t k, const uint16_t *panels,
                                             int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    const int64_t panel_size = (k / 2) * 32;
    const int64_t tile = balanced_tile(m);
    for (int64_t row = 0; row < m; row += tile) {
        const int rows = (int)(m - row < tile ? m - row : tile);
        for (int64_t column = n_begin; column < n_end; column += 32) {
            const uint16_t *p0 = panels + (column / 16) * panel_size;
            const uint16_t *p1 = p0 + panel_size;
            __mmask16 mask0 = column_mask(n_end - column), mask1 = column_mask(n_end - column - 16);
#define Q3E_CALL(R) block_bf16(x + row * k, k, p0, p1, out + row * out_stride + column, out_stride, R, mask0, mask1)
            Q3E_DISPATCH_ROWS(Q3E_CALL)
#undef Q3E_CALL
        }
    }
}

// ---- fp32 → bf16, round to nearest even --------------------------------------------------------------

Q3E_AVX512 void q3e_f32_to_bf16_avx512(const float *source, uint16_t *destination, int64_t count) {
    int64_t i = 0;
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i bias = _mm512_set1_epi32(0x7FFF);
    const __m512i quiet_nan = _mm512_set1_epi32(0x7FC0);
    for (; i + 16 <= count; i += 16) {
        __m512 value = _mm512_loadu_ps(source + i);
        __m512i bits = _mm512_castps_si512(value);
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), one);
        __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, bias)), 16);
        __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
        rounded = _mm512_mask_mov_epi32(rounded, nan, quiet_nan);
        _mm256_storeu_si256((__m256i *)(destination + i), _mm512_cvtepi32_epi16(rounded));
    }
    for (; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, source + i, sizeof bits);
        if ((bits & 0x7FFFFFFFu) > 0x7F800000u) { destination[i] = 0x7FC0; continue; }
        destination[i] = (uint16_t)((bits + ((bits >> 16) & 1u) + 0x7FFFu) >> 16);
    }
}

#else  // not x86_64: the Swift reference (ReferenceGEMM, BFloat16.rounding) runs; these are never called.

void q3e_gemm_f32_bf16w_avx512(const float *x, int64_t m, int64_t k, const uint16_t *panels,
                               int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}
void q3e_gemm_f32_f32w_avx512(const float *x, int64_t m, int64_t k, const float *panels,
                              int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}
void q3e_gemm_bf16_avx512bf16(const uint16_t *x, int64_t m, int64_t k, const uint16_t *panels,
                              int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}
void q3e_f32_to_bf16_avx512(const float *source, uint16_t *destination, int64_t count) {}

#endif
