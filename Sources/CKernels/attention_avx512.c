// Causal attention for one (sequence, head) and a block of query rows, AVX-512F.
//
// Scores are computed one query row at a time into `scores` (length ≤ sequence length), so memory stays
// O(length) and the L×L matrix is never built. exp() is a vectorised Cephes-style polynomial with
// exact 2^n scaling (vscalefps), accurate to ~2 ulp on the range softmax uses (x ≤ 0).

#include "CKernels.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define QK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

static inline QK_AVX512 __m512 exp_ps(__m512 x) {
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

QK_AVX512 void qk_exp_avx512(const float *source, float *destination, int64_t count) {
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) _mm512_storeu_ps(destination + i, exp_ps(_mm512_loadu_ps(source + i)));
    if (i < count) {
        __mmask16 mask = (__mmask16)((1u << (count - i)) - 1u);
        _mm512_mask_storeu_ps(destination + i, mask, exp_ps(_mm512_maskz_loadu_ps(mask, source + i)));
    }
}

QK_AVX512 void qk_attention_f32_avx512(const float *query, int64_t query_stride, const float *key, const float *value,
                                       int64_t key_value_stride, float *output, int64_t output_stride,
                                       int64_t first_query, int64_t end_query, int64_t head_dimension, float scale,
                                       float *scores) {
    const int64_t vectors = head_dimension / 16;  // head_dimension is a multiple of 16, at most 256
    for (int64_t i = first_query; i < end_query; i++) {
        const float *q = query + i * query_stride;
        __m512 qv[16];
        for (int64_t c = 0; c < vectors; c++) qv[c] = _mm512_loadu_ps(q + 16 * c);
        // Scores, four keys at a time.
        float maximum = -INFINITY;
        int64_t j = 0;
        for (; j + 4 <= i + 1; j += 4) {
            const float *k0 = key + j * key_value_stride;
            const float *k1 = k0 + key_value_stride, *k2 = k1 + key_value_stride, *k3 = k2 + key_value_stride;
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
            for (int64_t c = 0; c < vectors; c++) {
                a0 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + 16 * c), a0);
                a1 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k1 + 16 * c), a1);
                a2 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k2 + 16 * c), a2);
                a3 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k3 + 16 * c), a3);
            }
            float s0 = _mm512_reduce_add_ps(a0) * scale, s1 = _mm512_reduce_add_ps(a1) * scale;
            float s2 = _mm512_reduce_add_ps(a2) * scale, s3 = _mm512_reduce_add_ps(a3) * scale;
            scores[j] = s0; scores[j + 1] = s1; scores[j + 2] = s2; scores[j + 3] = s3;
            maximum = fmaxf(maximum, fmaxf(fmaxf(s0, s1), fmaxf(s2, s3)));
        }
        for (; j <= i; j++) {
            const float *kj = key + j * key_value_stride;
            __m512 a = _mm512_setzero_ps();
            for (int64_t c = 0; c < vectors; c++) a = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(kj + 16 * c), a);
            float s = _mm512_reduce_add_ps(a) * scale;
            scores[j] = s;
            maximum = fmaxf(maximum, s);
        }
        // Softmax numerators and their sum.
        const int64_t count = i + 1;
        const __m512 max_v = _mm512_set1_ps(maximum);
        __m512 total_v = _mm512_setzero_ps();
        int64_t t = 0;
        for (; t + 16 <= count; t += 16) {
            __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(scores + t), max_v));
            _mm512_storeu_ps(scores + t, e);
            total_v = _mm512_add_ps(total_v, e);
        }
        if (t < count) {
            __mmask16 mask = (__mmask16)((1u << (count - t)) - 1u);
            __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, scores + t), max_v));
            e = _mm512_maskz_mov_ps(mask, e);
            _mm512_mask_storeu_ps(scores + t, mask, e);
            total_v = _mm512_add_ps(total_v, e);
        }
        const float inverse = 1.0f / _mm512_reduce_add_ps(total_v);
        // Weighted sum of values.
        __m512 acc[16];
        for (int64_t c = 0; c < vectors; c++) acc[c] = _mm512_setzero_ps();
        for (int64_t jj = 0; jj < count; jj++) {
            const __m512 weight = _mm512_set1_ps(scores[jj]);
            const float *vj = value + jj * key_value_stride;
            for (int64_t c = 0; c < vectors; c++) acc[c] = _mm512_fmadd_ps(weight, _mm512_loadu_ps(vj + 16 * c), acc[c]);
        }
        float *out = output + i * output_stride;
        const __m512 inverse_v = _mm512_set1_ps(inverse);
        for (int64_t c = 0; c < vectors; c++) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(acc[c], inverse_v));
    }
}

#else
void qk_exp_avx512(const float *source, float *destination, int64_t count) {}
void qk_attention_f32_avx512(const float *query, int64_t query_stride, const float *key, const float *value,
                             int64_t key_value_stride, float *output, int64_t output_stride,
                             int64_t first_query, int64_t end_query, int64_t head_dimension, float scale,
                             float *scores) {}
#endif
