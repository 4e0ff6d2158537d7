// Matrix products of the backward pass (dX = dY·W, dW += dYᵀ·X): q3e_product in CKernels.h.
//
// The classic packed GEMM. For a block of columns [jc, jc + NC) and of the inner dimension [pc, pc + KC),
// B is copied into slivers NR columns wide (KC × NR contiguous: it stays in L1 while A streams past);
// for a block of rows [ic, ic + MC), A is copied into slivers MR rows high (KC × MR contiguous). A register
// tile of MR × NR outputs is then updated with one broadcast of A and NR/VL vector loads of B per step p.
// Packing also turns every source layout (row-major B, a transposed read of A, fp32 or bf16 weight panels)
// into the same two formats, so one micro-kernel serves every product.
//
// Every output element is one chain c = fma(a_p, b_p, c) over p ascending, starting from C (accumulate, or
// any inner block after the first: C holds the partial sum, stored and reloaded exactly) or +0. Edge tiles
// run the same micro-kernel on a copy. Hence: the AVX2 (MR × 16) and AVX-512 (MR × 32) kernels are
// bitwise equal, and no result depends on the thread split or the other rows of the batch.
//
// The block constants match TransposedProducts.swift (its Swift reference, ReferenceProducts.swift, packs the
// same way).

#include "CKernels.h"
#include <stdlib.h>
#include <string.h>

#define Q3E_BW_KC 256  // inner block
#define Q3E_BW_MC 96   // rows of A packed at a time (a multiple of Q3E_BW_MR)
#define Q3E_BW_NC 256  // columns of B packed at a time (a multiple of 16 and 32)
#define Q3E_BW_MR 6    // register-tile rows of both kernels
#define Q3E_BW_NR_MAX 32

#if defined(__x86_64__)
#include <immintrin.h>

#define Q3E_BW_INLINE static inline __attribute__((always_inline))
#define Q3E_BW_AVX2 __attribute__((target("avx2,fma")))
// Only the features `CPUFeatures.hasAVX512` checks.
#define Q3E_BW_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

// fp32 → bf16 → fp32 with round-to-nearest-even, NaN → quiet NaN: BFloat16.rounding then widening.
Q3E_BW_INLINE float bw_round_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) bits = 0x7FC00000u;
    else bits = ((bits + ((bits >> 16) & 1u) + 0x7FFFu) >> 16) << 16;
    memcpy(&value, &bits, sizeof value);
    return value;
}

Q3E_BW_INLINE float bw_widen_bf16(uint16_t half) {
    const uint32_t bits = (uint32_t)half << 16;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static inline int64_t bw_min(int64_t a, int64_t b) { return a < b ? a : b; }

// B[pc..pc+kc) × [jc..jc+nc) into slivers of nr columns: sliver s, step p → dst[(s·kc + p)·nr + t].
Q3E_BW_INLINE void bw_pack_b(const q3e_product *pr, int64_t pc, int64_t kc, int64_t jc, int64_t nc, int nr,
                             float *dst) {
    const int64_t slivers = (nc + nr - 1) / nr;
    for (int64_t s = 0; s < slivers; s++) {
        const int64_t j0 = jc + s * nr;
        const int valid = (int)bw_min(nr, jc + nc - j0);
        for (int64_t p = 0; p < kc; p++) {
            float *d = dst + (s * kc + p) * nr;
            const int64_t row = pc + p;
            switch (pr->b_layout) {
            case Q3E_PRODUCT_B_ROW_MAJOR: {
                const float *src = (const float *)pr->b + row * pr->b_stride + j0;
                for (int t = 0; t < valid; t++) d[t] = src[t];
                break;
            }
            case Q3E_PRODUCT_B_F32_PANELS: {
                // Panel row/16 holds, for each column j, the 16 rows' values contiguously.
                const float *src = (const float *)pr->b + (row / 16) * pr->b_stride * 16 + row % 16;
                for (int t = 0; t < valid; t++) d[t] = src[(j0 + t) * 16];
                break;
            }
            default: {
                // Pair panels: for each column pair, the 16 rows' (even, odd) values interleaved.
                const uint16_t *src = (const uint16_t *)pr->b + (row / 16) * pr->b_stride * 16 + (row % 16) * 2;
                for (int t = 0; t < valid; t++) {
                    const int64_t j = j0 + t;
                    d[t] = bw_widen_bf16(src[(j / 2) * 32 + (j & 1)]);
                }
                break;
            }
            }
            for (int t = valid; t < nr; t++) d[t] = 0.0f;
        }
    }
}

// A[ic..ic+mc) × [pc..pc+kc) into slivers of Q3E_BW_MR rows: sliver s, step p → dst[(s·kc + p)·MR + r].
Q3E_BW_INLINE void bw_pack_a(const q3e_product *pr, int64_t ic, int64_t mc, int64_t pc, int64_t kc, float *dst) {
    const int64_t slivers = (mc + Q3E_BW_MR - 1) / Q3E_BW_MR;
    for (int64_t s = 0; s < slivers; s++) {
        const int64_t i0 = ic + s * Q3E_BW_MR;
        const int valid = (int)bw_min(Q3E_BW_MR, ic + mc - i0);
        for (int64_t p = 0; p < kc; p++) {
            float *d = dst + (s * kc + p) * Q3E_BW_MR;
            const float *src = pr->a + (pc + p) * pr->a_inner_stride + i0 * pr->a_row_stride;
            for (int r = 0; r < Q3E_BW_MR; r++) {
                if (r < valid) {
                    const float value = src[r * pr->a_row_stride];
                    d[r] = pr->round_a_bf16 ? bw_round_bf16(value) : value;
                } else {
                    d[r] = 0.0f;
                }
            }
        }
    }
}

// A(r, p) of a register tile is a[r · rs + p · ps]: packed slivers (rs = 1, ps = MR) or A in place.
typedef void (*bw_micro_kernel)(int64_t kc, const float *a, int64_t rs, int64_t ps, const float *bp, float *c,
                                int64_t ldc, int load);

// The blocked driver, inlined into each instruction-set variant with its micro-kernel and tile width.
Q3E_BW_INLINE void bw_product(const q3e_product *pr, int64_t row_begin, int64_t row_end, int64_t column_begin,
                              int64_t column_end, const int nr, bw_micro_kernel micro) {
    const int64_t rows = row_end - row_begin, columns = column_end - column_begin, k = pr->k;
    if (rows <= 0 || columns <= 0) return;
    const int64_t ldc = pr->c_stride;
    if (k <= 0) {
        if (!pr->accumulate)
            for (int64_t i = row_begin; i < row_end; i++) memset(pr->c + i * ldc + column_begin, 0, columns * sizeof(float));
        return;
    }
    const int64_t kc_max = bw_min(Q3E_BW_KC, k);
    const int64_t nc_max = (bw_min(Q3E_BW_NC, columns) + nr - 1) / nr * nr;
    const int64_t mc_max = (bw_min(Q3E_BW_MC, rows) + Q3E_BW_MR - 1) / Q3E_BW_MR * Q3E_BW_MR;
    const size_t b_bytes = (size_t)(kc_max * nc_max) * sizeof(float);
    const size_t a_bytes = (size_t)(mc_max * kc_max) * sizeof(float);
    // aligned_alloc wants a multiple of the alignment.
    float *bp = aligned_alloc(64, (b_bytes + 63) / 64 * 64);
    float *ap = aligned_alloc(64, (a_bytes + 63) / 64 * 64);
    if (!bp || !ap) abort();
    float tile[Q3E_BW_MR * Q3E_BW_NR_MAX] __attribute__((aligned(64)));

    for (int64_t jc = column_begin; jc < column_end; jc += Q3E_BW_NC) {
        const int64_t nc = bw_min(Q3E_BW_NC, column_end - jc);
        for (int64_t pc = 0; pc < k; pc += Q3E_BW_KC) {
            const int64_t kc = bw_min(Q3E_BW_KC, k - pc);
            bw_pack_b(pr, pc, kc, jc, nc, nr, bp);
            // After the first inner block C holds the partial sums: continue their chains.
            const int load = pr->accumulate || pc > 0;
            // One sliver of columns (a LoRA rank of 16, say): each value of A is used once, so copying
            // it would cost as much as the products; full row slivers read A in place instead.
            const int in_place = nc <= nr && !pr->round_a_bf16;
            for (int64_t ic = row_begin; ic < row_end; ic += Q3E_BW_MC) {
                const int64_t mc = bw_min(Q3E_BW_MC, row_end - ic);
                if (!in_place) bw_pack_a(pr, ic, mc, pc, kc, ap);
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    const int valid_columns = (int)bw_min(nr, nc - jr);
                    const float *b = bp + jr * kc;
                    for (int64_t ir = 0; ir < mc; ir += Q3E_BW_MR) {
                        const int valid_rows = (int)bw_min(Q3E_BW_MR, mc - ir);
                        const float *a = ap + ir * kc;
                        int64_t rs = 1, ps = Q3E_BW_MR;
                        if (in_place && valid_rows == Q3E_BW_MR) {
                            a = pr->a + (ic + ir) * pr->a_row_stride + pc * pr->a_inner_stride;
                            rs = pr->a_row_stride;
                            ps = pr->a_inner_stride;
                        } else if (in_place) {
                            bw_pack_a(pr, ic + ir, valid_rows, pc, kc, ap);
                            a = ap;
                        }
                        float *c = pr->c + (ic + ir) * ldc + jc + jr;
                        if (valid_rows == Q3E_BW_MR && valid_columns == nr) {
                            micro(kc, a, rs, ps, b, c, ldc, load);
                        } else {
                            // Edge tile: the same operations on a copy; padding is zero in the packed
                            // operands and never stored.
                            for (int r = 0; r < Q3E_BW_MR; r++)
                                for (int t = 0; t < nr; t++)
                                    tile[r * nr + t] = (load && r < valid_rows && t < valid_columns) ? c[r * ldc + t] : 0.0f;
                            micro(kc, a, rs, ps, b, tile, nr, 1);
                            for (int r = 0; r < valid_rows; r++)
                                for (int t = 0; t < valid_columns; t++) c[r * ldc + t] = tile[r * nr + t];
                        }
                    }
                }
            }
        }
    }
    free(bp);
    free(ap);
}

// ---- AVX2 + FMA: 6 rows × 16 columns (12 ymm accumulators) ----------------------------------------------

static Q3E_BW_AVX2 void bw_micro_avx2(int64_t kc, const float *a, int64_t rs, int64_t ps, const float *bp, float *c,
                                      int64_t ldc, int load) {
    __m256 acc[Q3E_BW_MR][2];
    for (int r = 0; r < Q3E_BW_MR; r++) {
        acc[r][0] = load ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
        acc[r][1] = load ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
    }
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_load_ps(bp + p * 16);
        const __m256 b1 = _mm256_load_ps(bp + p * 16 + 8);
        for (int r = 0; r < Q3E_BW_MR; r++) {
            const __m256 x = _mm256_broadcast_ss(a + p * ps + r * rs);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < Q3E_BW_MR; r++) {
        _mm256_storeu_ps(c + r * ldc, acc[r][0]);
        _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
    }
}

Q3E_BW_AVX2 void q3e_product_avx2(const q3e_product *product, int64_t row_begin, int64_t row_end,
                                  int64_t column_begin, int64_t column_end) {
    bw_product(product, row_begin, row_end, column_begin, column_end, 16, bw_micro_avx2);
}

// ---- AVX-512F: the same kernel on zmm registers, 6 rows × 32 columns (12 zmm accumulators) --------------

static Q3E_BW_AVX512 void bw_micro_avx512(int64_t kc, const float *a, int64_t rs, int64_t ps, const float *bp, float *c,
                                          int64_t ldc, int load) {
    __m512 acc[Q3E_BW_MR][2];
    for (int r = 0; r < Q3E_BW_MR; r++) {
        acc[r][0] = load ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
        acc[r][1] = load ? _mm512_loadu_ps(c + r * ldc + 16) : _mm512_setzero_ps();
    }
    for (int64_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_load_ps(bp + p * 32);
        const __m512 b1 = _mm512_load_ps(bp + p * 32 + 16);
        for (int r = 0; r < Q3E_BW_MR; r++) {
            const __m512 x = _mm512_set1_ps(a[p * ps + r * rs]);
            acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < Q3E_BW_MR; r++) {
        _mm512_storeu_ps(c + r * ldc, acc[r][0]);
        _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
    }
}

Q3E_BW_AVX512 void q3e_product_avx512(const q3e_product *product, int64_t row_begin, int64_t row_end,
                                      int64_t column_begin, int64_t column_end) {
    bw_product(product, row_begin, row_end, column_begin, column_end, 32, bw_micro_avx512);
}

#else  // not x86_64: the Swift reference (ReferenceProducts) runs; these are never called.

void q3e_product_avx2(const q3e_product *product, int64_t row_begin, int64_t row_end,
                      int64_t column_begin, int64_t column_end) {}
void q3e_product_avx512(const q3e_product *product, int64_t row_begin, int64_t row_end,
                        int64_t column_begin, int64_t column_end) {}

#endif
