// Causal attention for one (sequence, head) and a block of query rows, AVX-512F.
//
// Keys are first transposed per (sequence, key-value head) (`q3e_transpose_keys_f32`), so scores come out
// 32 keys per vector with no horizontal sums, for four query rows at once (sharing every key load); a
// task's score rows take (its query rows) × (sequence length) floats, so memory stays O(length) per task
// and the L×L matrix is never built. exp() is a vectorised Cephes-style polynomial with
// exact 2^n scaling (vscalefps), accurate to ~2 ulp on the range softmax uses (x ≤ 0).

#include "CKernels.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define Q3E_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

static inline Q3E_AVX512 __m512 exp_ps(__m512 x) {
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f);
    const __m512 ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    x = _mm512_max_ps(x, _mm512_set1_ps(-103.0f));  // below this exp underflows to 0 anyway
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

Q3E_AVX512 void q3e_exp_avx512(const float *source, float *destination, int64_t count) {
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) _mm512_storeu_ps(destination + i, exp_ps(_mm512_loadu_ps(source + i)));
    if (i < count) {
        __mmask16 mask = (__mmask16)((1u << (count - i)) - 1u);
        _mm512_mask_storeu_ps(destination + i, mask, exp_ps(_mm512_maskz_loadu_ps(mask, source + i)));
    }
}

// Scores of `R` consecutive query rows against a tile of 32 keys held transposed (`kt`: row d holds
// dimension d of the 32 keys), times `scale`. Each score is one lane's chain of FMAs over d in order, so a
// row's scores do not depend on R (on which rows it is grouped with).
#define Q3E_SCORE_ROWS(R)                                                                                   \
    static inline Q3E_AVX512 void score_rows_##R(const float *q, int64_t q_stride, const float *kt,         \
                                                 int64_t kt_stride, int64_t dimension, float scale,         \
                                                 float *s, int64_t s_stride) {                              \
        __m512 acc[R][2];                                                                                   \
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();                            \
        for (int64_t d = 0; d < dimension; d++) {                                                           \
            const __m512 k0 = _mm512_loadu_ps(kt + d * kt_stride);                                          \
            const __m512 k1 = _mm512_loadu_ps(kt + d * kt_stride + 16);                                     \
            for (int r = 0; r < R; r++) {                                                                   \
                const __m512 qd = _mm512_set1_ps(q[r * q_stride + d]);                                      \
                acc[r][0] = _mm512_fmadd_ps(qd, k0, acc[r][0]);                                             \
                acc[r][1] = _mm512_fmadd_ps(qd, k1, acc[r][1]);                                             \
            }                                                                                               \
        }                                                                                                   \
        const __m512 scale_v = _mm512_set1_ps(scale);                                                       \
        for (int r = 0; r < R; r++) {                                                                       \
            _mm512_storeu_ps(s + r * s_stride, _mm512_mul_ps(acc[r][0], scale_v));                          \
            _mm512_storeu_ps(s + r * s_stride + 16, _mm512_mul_ps(acc[r][1], scale_v));                     \
        }                                                                                                   \
    }
Q3E_SCORE_ROWS(1)
Q3E_SCORE_ROWS(2)
Q3E_SCORE_ROWS(3)
Q3E_SCORE_ROWS(4)

// out[r] += Σ_j p[r][j] · v[j] over j < count for 64 dimensions (4 vectors) of R rows; again one FMA chain per
// lane in j order, whatever R is.
#define Q3E_WEIGHTED_ROWS(R)                                                                                \
    static inline Q3E_AVX512 void weighted_rows_##R(const float *p, int64_t p_stride, const float *v,       \
                                                    int64_t v_stride, int64_t count, __m512 *acc) {         \
        __m512 a[R][4];                                                                                     \
        for (int r = 0; r < R; r++)                                                                         \
            for (int c = 0; c < 4; c++) a[r][c] = acc[r * 4 + c];                                           \
        for (int64_t j = 0; j < count; j++) {                                                               \
            const float *vj = v + j * v_stride;                                                             \
            const __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16);                           \
            const __m512 v2 = _mm512_loadu_ps(vj + 32), v3 = _mm512_loadu_ps(vj + 48);                      \
            for (int r = 0; r < R; r++) {                                                                   \
                const __m512 w = _mm512_set1_ps(p[r * p_stride + j]);                                       \
                a[r][0] = _mm512_fmadd_ps(w, v0, a[r][0]);                                                  \
                a[r][1] = _mm512_fmadd_ps(w, v1, a[r][1]);                                                  \
                a[r][2] = _mm512_fmadd_ps(w, v2, a[r][2]);                                                  \
                a[r][3] = _mm512_fmadd_ps(w, v3, a[r][3]);                                                  \
            }                                                                                               \
        }                                                                                                   \
        for (int r = 0; r < R; r++)                                                                         \
            for (int c = 0; c < 4; c++) acc[r * 4 + c] = a[r][c];                                           \
    }
Q3E_WEIGHTED_ROWS(1)
Q3E_WEIGHTED_ROWS(2)
Q3E_WEIGHTED_ROWS(3)
Q3E_WEIGHTED_ROWS(4)

Q3E_AVX512 void q3e_transpose_keys_f32(const float *key, int64_t key_stride, int64_t count, int64_t head_dimension,
                                       float *transposed, int64_t transposed_stride) {
    const int64_t padded = (count + 31) & ~(int64_t)31;
    // 16 keys at a time, so each destination row gets whole 64-byte stores.
    for (int64_t j0 = 0; j0 < padded; j0 += 16) {
        for (int64_t d = 0; d < head_dimension; d++) {
            float lane[16];
            for (int64_t k = 0; k < 16; k++) lane[k] = j0 + k < count ? key[(j0 + k) * key_stride + d] : 0.0f;
            _mm512_storeu_ps(transposed + d * transposed_stride + j0, _mm512_loadu_ps(lane));
        }
    }
}

Q3E_AVX512 void q3e_attention_f32_avx512(const float *query, int64_t query_stride, const float *key_transposed,
                                         int64_t key_transposed_stride, const float *value, int64_t value_stride,
                                         float *output, int64_t output_stride, int64_t first_query, int64_t end_query,
                                         int64_t head_dimension, float scale, float *scores) {
    const int64_t score_stride = (end_query + 31) & ~(int64_t)31;
    // 1. Scores, four query rows and 32 keys at a time (row i needs keys 0...i; the tile that holds key i
    //    also computes a few later keys, which the softmax ignores).
    for (int64_t i0 = first_query; i0 < end_query; i0 += 4) {
        const int rows = (int)(end_query - i0 < 4 ? end_query - i0 : 4);
        const float *q = query + i0 * query_stride;
        float *s = scores + (i0 - first_query) * score_stride;
        const int64_t tiles = (i0 + rows - 1) / 32 + 1;
        for (int64_t t = 0; t < tiles; t++) {
            const float *kt = key_transposed + 32 * t;
            switch (rows) {
            case 4: score_rows_4(q, query_stride, kt, key_transposed_stride, head_dimension, scale, s + 32 * t, score_stride); break;
            case 3: score_rows_3(q, query_stride, kt, key_transposed_stride, head_dimension, scale, s + 32 * t, score_stride); break;
            case 2: score_rows_2(q, query_stride, kt, key_transposed_stride, head_dimension, scale, s + 32 * t, score_stride); break;
            default: score_rows_1(q, query_stride, kt, key_transposed_stride, head_dimension, scale, s + 32 * t, score_stride); break;
            }
        }
    }
    // 2. Softmax numerators per row (keys 0...i), zeros for the later keys its group's tiles reach, and
    //    1 / their sum.
    float inverse[4];
    for (int64_t i0 = first_query; i0 < end_query; i0 += 4) {
        const int rows = (int)(end_query - i0 < 4 ? end_query - i0 : 4);
        const int64_t group_count = i0 + rows;  // keys the group's last row needs
        for (int r = 0; r < rows; r++) {
            float *s = scores + (i0 + r - first_query) * score_stride;
            const int64_t count = i0 + r + 1;
            __m512 max_v = _mm512_set1_ps(-INFINITY);
            int64_t t = 0;
            for (; t + 16 <= count; t += 16) max_v = _mm512_max_ps(max_v, _mm512_loadu_ps(s + t));
            if (t < count) {
                __mmask16 mask = (__mmask16)((1u << (count - t)) - 1u);
                max_v = _mm512_max_ps(max_v, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mask, s + t));
            }
            max_v = _mm512_set1_ps(_mm512_reduce_max_ps(max_v));
            __m512 total_v = _mm512_setzero_ps();
            for (t = 0; t + 16 <= count; t += 16) {
                __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(s + t), max_v));
                _mm512_storeu_ps(s + t, e);
                total_v = _mm512_add_ps(total_v, e);
            }
            if (t < count) {
                __mmask16 mask = (__mmask16)((1u << (count - t)) - 1u);
                __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + t), max_v));
                e = _mm512_maskz_mov_ps(mask, e);
                _mm512_mask_storeu_ps(s + t, mask, e);
                total_v = _mm512_add_ps(total_v, e);
            }
            for (int64_t j = count; j < group_count; j++) s[j] = 0.0f;
            inverse[r] = 1.0f / _mm512_reduce_add_ps(total_v);
        }
        // 3. Weighted sums of values for the group, 64 dimensions at a time (then 16 at a time).
        const float *p = scores + (i0 - first_query) * score_stride;
        int64_t d = 0;
        for (; d + 64 <= head_dimension; d += 64) {
            __m512 acc[16];
            for (int c = 0; c < 16; c++) acc[c] = _mm512_setzero_ps();
            switch (rows) {
            case 4: weighted_rows_4(p, score_stride, value + d, value_stride, group_count, acc); break;
            case 3: weighted_rows_3(p, score_stride, value + d, value_stride, group_count, acc); break;
            case 2: weighted_rows_2(p, score_stride, value + d, value_stride, group_count, acc); break;
            default: weighted_rows_1(p, score_stride, value + d, value_stride, group_count, acc); break;
            }
            for (int r = 0; r < rows; r++) {
                float *out = output + (i0 + r) * output_stride + d;
                const __m512 inverse_v = _mm512_set1_ps(inverse[r]);
                for (int c = 0; c < 4; c++) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(acc[r * 4 + c], inverse_v));
            }
        }
        for (; d < head_dimension; d += 16) {
            for (int r = 0; r < rows; r++) {
                const float *pr = p + r * score_stride;
                __m512 acc = _mm512_setzero_ps();
                for (int64_t j = 0; j < group_count; j++)
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(pr[j]), _mm512_loadu_ps(value + j * value_stride + d), acc);
                _mm512_storeu_ps(output + (i0 + r) * output_stride + d, _mm512_mul_ps(acc, _mm512_set1_ps(inverse[r])));
            }
        }
    }
}

#else
void q3e_exp_avx512(const float *source, float *destination, int64_t count) {}
void q3e_transpose_keys_f32(const float *key, int64_t key_stride, int64_t count, int64_t head_dimension,
                            float *transposed, int64_t transposed_stride) {}
void q3e_attention_f32_avx512(const float *query, int64_t query_stride, const float *key_transposed,
                              int64_t key_transposed_stride, const float *value, int64_t value_stride,
                              float *output, int64_t output_stride, int64_t first_query, int64_t end_query,
                              int64_t head_dimension, float scale, float *scores) {}
#endif
