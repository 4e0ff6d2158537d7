// Integer GEMM for block-quantized (ggml-style) weights: `vpdpbusd` over code panels (layout in
// CKernels.h, built by QuantizedMatrix.swift), activations quantized per 32 values to int8. Three entry
// points share one arithmetic: the AVX512-VNNI kernel, a 256-bit AVX-VNNI kernel for CPUs without
// AVX-512, and the activation quantizers (AVX-512 and AVX2).
//
// Per sub-block of 16 or 32 columns, each output is an exact int32 dot product of unsigned weight codes
// and signed activation values; the accumulator starts at −zero_point · Σ values (precomputed with the
// activations, loaded instead of zeroing the register), so the zero-point correction costs no arithmetic. The int32 result is then scaled into
// an fp32 accumulator: t = float(dot) · scale_x, acc = fma(t, scale_w, acc), and with offsets
// acc = fma(offset_w, scale_x · Σ values, acc). The Swift reference (ReferenceQuantizedGEMM.swift) does
// exactly these operations in the same order, so the two agree bit for bit, and a row's result never
// depends on the other rows of the batch. (Fused multiply-adds: separate multiplies and adds need more
// registers, and the extra spills cost more than the adds save on Zen 4's FADD pipes.)
//
// Register blocking: up to 6 activation rows × 32 outputs (two 16-row panels): 12 int32 accumulators
// for the current sub-block and 12 fp32 accumulators, so each 64-byte weight vector is used 6 times and
// each broadcast activation word twice. Loops: column pairs, then k-chunks of 512 columns, then row
// tiles, so a chunk of a pair of panels is read from memory once and from L1 by the other row tiles,
// which meanwhile prefetch the next chunk (partial sums wait in `out` between chunks: storing and
// reloading fp32 is exact, so chunking does not change the results).

#include "CKernels.h"
#include <float.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define Q8_MAX_ROWS 6
// Groups of 32 columns per k-chunk when several row tiles share a column pair: a pair's chunk of codes
// (16 KB of 8-bit codes) stays in L1 while every row tile runs over it. Chunks are even, so they start
// on super-group boundaries and a chunk's bytes are contiguous in each panel.
#define Q8_CHUNK_GROUPS 16
// Streaming (one row tile): bytes of each panel fetched ahead of the group being computed.
#define Q8_AHEAD_BYTES 1024
#define Q8_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define Q8_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define Q8_INLINE static inline __attribute__((always_inline))

// Rows per register tile: at most Q8_MAX_ROWS, spread evenly (16 rows run as 6 + 6 + 4).
static inline int64_t q8_tile_rows(int64_t m) {
    const int64_t tiles = (m + Q8_MAX_ROWS - 1) / Q8_MAX_ROWS;
    return tiles > 0 ? (m + tiles - 1) / tiles : Q8_MAX_ROWS;
}

static inline __mmask16 q8_column_mask(int64_t remaining) {
    if (remaining >= 16) return (__mmask16)0xFFFF;
    if (remaining <= 0) return 0;
    return (__mmask16)((1u << remaining) - 1u);
}

// Bytes of one group (32 columns) of a panel: codes, scale vectors, offset vectors.
static inline int64_t q8_group_bytes(const q3e_q8_weights *w) {
    const int64_t vectors = (32 / w->sub_block) * (w->has_offset ? 2 : 1);
    return (w->nibbles ? 256 : 512) + vectors * (w->half_scales ? 32 : 64);
}

// One scale or offset vector (16 rows) as fp32; fp16 storage converts exactly.
Q8_INLINE Q8_VNNI __m512 q8_load_vector(const uint8_t *p, const int half) {
    if (half) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_loadu_ps((const float *)p);
}

Q8_INLINE Q8_VNNI __m512i q8_broadcast_word(const int8_t *p) {
    int32_t word;
    memcpy(&word, p, sizeof word);
    return _mm512_set1_epi32(word);
}

/// What one row tile computes: rows × 32 outputs over groups [g_begin, g_end).
typedef struct {
    const uint8_t *p0, *p1;        // the column pair's two panels
    const int8_t *values;          // activations of the tile's first row (row stride k)
    const float *scales;           // row stride k/32
    const int32_t *corrections;    // row stride k/sub_block
    const float *sums;             // row stride k/sub_block (offsets only)
    float *out;
    int64_t out_stride, k, g_begin, g_end;
    int accumulate;                // add to the partial sums already in `out` (k-chunks after the first)
    __mmask16 mask0, mask1;        // valid outputs of each panel
    const uint8_t *pf0, *pf1;      // next chunk's bytes in each panel, fetched into L2 along the way
    int64_t pf_lines;              // lines of each to fetch per sub-block
} q8_tile_args;

// The constant parameters select the code path at compile time: AHEAD (1: prefetch this chunk's stream
// ahead, for a tile that reads the panels from memory; 0: prefetch the next chunk for later tiles),
// R rows, NIB nibble codes, SB sub-block size, OFF offsets, HALF fp16 scales.
Q8_INLINE Q8_VNNI void q8_tile(const q8_tile_args *args, const int AHEAD, const int R, const int NIB,
                               const int SB, const int OFF, const int HALF) {
    const int SUBS = 32 / SB;                       // sub-blocks per group
    const int64_t CB = NIB ? 256 : 512;             // code bytes per group
    const int64_t VB = HALF ? 32 : 64;              // bytes per scale/offset vector
    const int64_t SV = SUBS * VB;                   // scale (or offset) bytes per group
    const int64_t GB = CB + SV * (1 + OFF);         // bytes per group
    const int64_t k = args->k, groups = k / 32, nsub = k / SB;
    const uint8_t *p0 = args->p0, *p1 = args->p1;
    const int8_t *xv = args->values;
    const float *xs = args->scales, *xo = args->sums;
    const int32_t *xc = args->corrections;
    const __m512i low = _mm512_set1_epi8(0x0F);
    const uint8_t *pf0 = args->pf0, *pf1 = args->pf1;
    const int64_t pf_lines = args->pf_lines;  // per sub-block
    __m512 f0[Q8_MAX_ROWS], f1[Q8_MAX_ROWS];
    for (int r = 0; r < R; r++) {
        if (args->accumulate) {
            f0[r] = _mm512_maskz_loadu_ps(args->mask0, args->out + r * args->out_stride);
            f1[r] = _mm512_maskz_loadu_ps(args->mask1, args->out + r * args->out_stride + 16);
        } else {
            f0[r] = _mm512_setzero_ps();
            f1[r] = _mm512_setzero_ps();
        }
    }
    // One iteration per sub-block (a single loop body whatever SB is, so the compiler keeps one
    // sub-block's working set in registers and never spills accumulators across sub-blocks).
    for (int64_t b = args->g_begin * SUBS; b < args->g_end * SUBS; b++) {
        const int64_t j = b / SUBS;                  // group
        const int s = (int)(b % SUBS);               // sub-block within the group
        // Group j is the (j & 1)-th of super-group j >> 1, which holds two groups unless it is a final odd one.
        const int64_t base = (j >> 1) * 2 * GB, position = j & 1;
        const int64_t paired = (j | 1) < groups ? 2 : 1;
        const uint8_t *c0 = p0 + base + position * CB, *c1 = p1 + base + position * CB;
        const int64_t vectors = base + paired * CB + position * SV + s * VB;
        const int8_t *xg = xv + j * 32;
        if (AHEAD) {
            for (int64_t line = 0; line < (GB / SUBS + 63) / 64; line++) {
                _mm_prefetch((const char *)(p0 + b * (GB / SUBS) + Q8_AHEAD_BYTES + line * 64), _MM_HINT_T0);
                _mm_prefetch((const char *)(p1 + b * (GB / SUBS) + Q8_AHEAD_BYTES + line * 64), _MM_HINT_T0);
            }
        } else {
            for (int64_t line = 0; line < pf_lines; line++) {
                _mm_prefetch((const char *)(pf0 + line * 64), _MM_HINT_T1);
                _mm_prefetch((const char *)(pf1 + line * 64), _MM_HINT_T1);
            }
            pf0 += pf_lines * 64;
            pf1 += pf_lines * 64;
        }
        __m512i a0[Q8_MAX_ROWS], a1[Q8_MAX_ROWS];
        for (int r = 0; r < R; r++) {
            a0[r] = _mm512_set1_epi32(xc[r * nsub + b]);
            a1[r] = a0[r];
        }
        if (NIB && SB == 32) {
            // One load serves two column quads: low nibbles are columns 4h.., high ones 16+4h...
            for (int h = 0; h < 4; h++) {
                const __m512i q0 = _mm512_loadu_si512((const void *)(c0 + h * 64));
                const __m512i q1 = _mm512_loadu_si512((const void *)(c1 + h * 64));
                const __m512i w0l = _mm512_and_si512(q0, low), w1l = _mm512_and_si512(q1, low);
                const __m512i w0h = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low);
                const __m512i w1h = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low);
                for (int r = 0; r < R; r++) {
                    const __m512i xl = q8_broadcast_word(xg + r * k + 4 * h);
                    const __m512i xh = q8_broadcast_word(xg + r * k + 16 + 4 * h);
                    a0[r] = _mm512_dpbusd_epi32(a0[r], w0l, xl);
                    a1[r] = _mm512_dpbusd_epi32(a1[r], w1l, xl);
                    a0[r] = _mm512_dpbusd_epi32(a0[r], w0h, xh);
                    a1[r] = _mm512_dpbusd_epi32(a1[r], w1h, xh);
                }
            }
        } else if (NIB) {
            // 16-column sub-blocks: the first is the low nibbles of the group's 4 vectors, the second
            // the high nibbles.
            const __m128i shift = _mm_cvtsi32_si128(4 * s);
            for (int h = 0; h < 4; h++) {
                const __m512i w0 = _mm512_and_si512(_mm512_srl_epi16(_mm512_loadu_si512((const void *)(c0 + h * 64)), shift), low);
                const __m512i w1 = _mm512_and_si512(_mm512_srl_epi16(_mm512_loadu_si512((const void *)(c1 + h * 64)), shift), low);
                for (int r = 0; r < R; r++) {
                    const __m512i xb = q8_broadcast_word(xg + r * k + 16 * s + 4 * h);
                    a0[r] = _mm512_dpbusd_epi32(a0[r], w0, xb);
                    a1[r] = _mm512_dpbusd_epi32(a1[r], w1, xb);
                }
            }
        } else {
            for (int g = 0; g < SB / 4; g++) {
                const int64_t quad = s * (SB / 4) + g;
                const __m512i w0 = _mm512_loadu_si512((const void *)(c0 + quad * 64));
                const __m512i w1 = _mm512_loadu_si512((const void *)(c1 + quad * 64));
                for (int r = 0; r < R; r++) {
                    const __m512i xb = q8_broadcast_word(xg + r * k + 4 * quad);
                    a0[r] = _mm512_dpbusd_epi32(a0[r], w0, xb);
                    a1[r] = _mm512_dpbusd_epi32(a1[r], w1, xb);
                }
            }
        }
        const __m512 s0 = q8_load_vector(p0 + vectors, HALF);
        const __m512 s1 = q8_load_vector(p1 + vectors, HALF);
        for (int r = 0; r < R; r++) {
            const __m512 scale = _mm512_set1_ps(xs[r * groups + j]);
            f0[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a0[r]), scale), s0, f0[r]);
            f1[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a1[r]), scale), s1, f1[r]);
        }
        if (OFF) {
            const __m512 o0 = q8_load_vector(p0 + vectors + paired * SV, HALF);
            const __m512 o1 = q8_load_vector(p1 + vectors + paired * SV, HALF);
            for (int r = 0; r < R; r++) {
                const __m512 sum = _mm512_set1_ps(xo[r * nsub + b]);
                f0[r] = _mm512_fmadd_ps(o0, sum, f0[r]);
                f1[r] = _mm512_fmadd_ps(o1, sum, f1[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(args->out + r * args->out_stride, args->mask0, f0[r]);
        _mm512_mask_storeu_ps(args->out + r * args->out_stride + 16, args->mask1, f1[r]);
    }
}

typedef void (*q8_tile_function)(const q8_tile_args *args, int rows, int ahead);

// One function per layout variant, each specialised for every tile height and both prefetch modes.
#define Q8_ROWS_SWITCH(AHEAD, NIB, SB, OFF, HALF) \
    switch (rows) { \
    case 6: q8_tile(args, AHEAD, 6, NIB, SB, OFF, HALF); break; \
    case 5: q8_tile(args, AHEAD, 5, NIB, SB, OFF, HALF); break; \
    case 4: q8_tile(args, AHEAD, 4, NIB, SB, OFF, HALF); break; \
    case 3: q8_tile(args, AHEAD, 3, NIB, SB, OFF, HALF); break; \
    case 2: q8_tile(args, AHEAD, 2, NIB, SB, OFF, HALF); break; \
    default: q8_tile(args, AHEAD, 1, NIB, SB, OFF, HALF); break; \
    }

#define Q8_VARIANT(NAME, NIB, SB, OFF, HALF) \
    static Q8_VNNI void NAME(const q8_tile_args *args, int rows, int ahead) { \
        if (ahead) { Q8_ROWS_SWITCH(1, NIB, SB, OFF, HALF) } else { Q8_ROWS_SWITCH(0, NIB, SB, OFF, HALF) } \
    }

Q8_VARIANT(q8_b32_f32, 0, 32, 0, 0)
Q8_VARIANT(q8_b32_f16, 0, 32, 0, 1)
Q8_VARIANT(q8_b32_off_f32, 0, 32, 1, 0)
Q8_VARIANT(q8_b32_off_f16, 0, 32, 1, 1)
Q8_VARIANT(q8_b16_f32, 0, 16, 0, 0)
Q8_VARIANT(q8_b16_f16, 0, 16, 0, 1)
Q8_VARIANT(q8_b16_off_f32, 0, 16, 1, 0)
Q8_VARIANT(q8_b16_off_f16, 0, 16, 1, 1)
Q8_VARIANT(q4_b32_f32, 1, 32, 0, 0)
Q8_VARIANT(q4_b32_f16, 1, 32, 0, 1)
Q8_VARIANT(q4_b32_off_f32, 1, 32, 1, 0)
Q8_VARIANT(q4_b32_off_f16, 1, 32, 1, 1)
Q8_VARIANT(q4_b16_f32, 1, 16, 0, 0)
Q8_VARIANT(q4_b16_f16, 1, 16, 0, 1)
Q8_VARIANT(q4_b16_off_f32, 1, 16, 1, 0)
Q8_VARIANT(q4_b16_off_f16, 1, 16, 1, 1)

static const q8_tile_function q8_variants[16] = {
    q8_b32_f32, q8_b32_f16, q8_b32_off_f32, q8_b32_off_f16,
    q8_b16_f32, q8_b16_f16, q8_b16_off_f32, q8_b16_off_f16,
    q4_b32_f32, q4_b32_f16, q4_b32_off_f32, q4_b32_off_f16,
    q4_b16_f32, q4_b16_f16, q4_b16_off_f32, q4_b16_off_f16,
};

Q8_VNNI void q3e_gemm_q8_avx512vnni(const q3e_q8_weights *w, const q3e_q8_activations *x, int64_t m,
                                    int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    const int variant = (w->nibbles ? 8 : 0) | (w->sub_block == 16 ? 4 : 0) | (w->has_offset ? 2 : 0) |
                        (w->half_scales ? 1 : 0);
    const q8_tile_function tile_function = q8_variants[variant];
    const int64_t k = w->k, groups = k / 32, nsub = k / w->sub_block;
    const int64_t pair_bytes = 2 * q8_group_bytes(w);  // one super-group
    const int64_t tile = q8_tile_rows(m), tiles = (m + tile - 1) / tile;
    // One row tile streams each panel once, front to back: no chunking. Several row tiles share each
    // chunk of a column pair from L1; all but the very first fetch the next chunk into L2 meanwhile,
    // so memory traffic overlaps the arithmetic.
    const int64_t chunk = tiles == 1 ? groups : Q8_CHUNK_GROUPS;
    int first_unit = 1;
    for (int64_t column = n_begin; column < n_end; column += 32) {
        const uint8_t *p0 = w->panels + (column / 16) * w->panel_bytes;
        const uint8_t *p1 = p0 + w->panel_bytes;
        const __mmask16 mask0 = q8_column_mask(n_end - column), mask1 = q8_column_mask(n_end - column - 16);
        for (int64_t g0 = 0; g0 < groups; g0 += chunk) {
            const int64_t g1 = g0 + chunk < groups ? g0 + chunk : groups;
            // The next chunk (of this pair, else the first of the next pair) as byte ranges of both panels.
            const uint8_t *next0 = NULL;
            int64_t next_bytes = 0;
            if (g1 < groups) {
                const int64_t end = g1 + chunk < groups ? g1 + chunk : groups;
                next0 = p0 + (g1 / 2) * pair_bytes;
                next_bytes = ((end + 1) / 2 - g1 / 2) * pair_bytes;
            } else if (column + 32 < n_end) {
                const int64_t end = chunk < groups ? chunk : groups;
                next0 = p0 + 2 * w->panel_bytes;
                next_bytes = ((end + 1) / 2) * pair_bytes;
            }
            const int64_t prefetching_tiles = tiles - (first_unit ? 1 : 0);
            const int64_t lines_per_tile =
                prefetching_tiles > 0 ? ((next_bytes + 63) / 64 + prefetching_tiles - 1) / prefetching_tiles : 0;
            const int64_t sub_blocks = (g1 - g0) * (32 / w->sub_block);
            const int64_t lines_per_sub_block = (lines_per_tile + sub_blocks - 1) / sub_blocks;
            int64_t slice = 0;
            for (int64_t row = 0; row < m; row += tile) {
                const int rows = (int)(m - row < tile ? m - row : tile);
                const int ahead = tiles == 1 || (first_unit && row == 0);
                q8_tile_args args = {
                    .p0 = p0, .p1 = p1,
                    .values = x->values + row * k, .scales = x->scales + row * groups,
                    .corrections = x->corrections + row * nsub, .sums = x->sums ? x->sums + row * nsub : NULL,
                    .out = out + row * out_stride + column, .out_stride = out_stride, .k = k,
                    .g_begin = g0, .g_end = g1, .accumulate = g0 > 0, .mask0 = mask0, .mask1 = mask1,
                    .pf0 = next0 ? next0 + slice * lines_per_tile * 64 : p0,
                    .pf1 = next0 ? next0 + w->panel_bytes + slice * lines_per_tile * 64 : p1,
                    .pf_lines = next0 ? lines_per_sub_block : 0,
                };
                if (!ahead) slice++;
                tile_function(&args, rows, ahead);
            }
            first_unit = 0;
        }
    }
}

// ---- 256-bit kernel: AVX-VNNI (VEX), for CPUs with AVX-VNNI but no AVX-512 ----------------------------
//
// The same panels, arithmetic and operation order as the AVX-512 kernel (so again bitwise equal to the
// Swift reference), on the 16 ymm registers of AVX2: a tile is up to 3 rows × one 16-row panel, each
// 64-byte weight vector handled as two ymm halves (panel rows 0-7 and 8-15): 6 int32 and 6 fp32
// accumulators. `vpdpbusd` is written as inline assembly so that one body serves both encodings: VEX
// ({vex}, AVX-VNNI) for dispatch, and EVEX (AVX512-VNNI + VL) as a twin that tests can run on AVX-512
// machines, which have no AVX-VNNI.

#define Q8Y_MAX_ROWS 3
#define Q8Y_TARGET __attribute__((target("avx2,fma,f16c")))

Q8_INLINE Q8Y_TARGET __m256i q8y_dpbusd(__m256i acc, __m256i w, __m256i x, const int EVEX) {
    if (EVEX) {
        __asm__("vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(w), "x"(x));
    } else {
        __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(w), "x"(x));
    }
    return acc;
}

Q8_INLINE Q8Y_TARGET __m256 q8y_load_vector(const uint8_t *p, const int half) {
    if (half) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    return _mm256_loadu_ps((const float *)p);
}

// Lane masks for maskload/maskstore: the first `valid` of 8 lanes.
Q8_INLINE Q8Y_TARGET __m256i q8y_lanes(int64_t valid) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t count = (int32_t)(valid < 0 ? 0 : (valid > 8 ? 8 : valid));
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), index);
}

// rows × 16 outputs (panel p0) over groups [g_begin, g_end); `mask0` holds the panel's valid outputs.
Q8_INLINE Q8Y_TARGET void q8y_tile(const q8_tile_args *args, const int R, const int NIB, const int SB,
                                   const int OFF, const int HALF, const int EVEX) {
    const int SUBS = 32 / SB;
    const int64_t CB = NIB ? 256 : 512, VB = HALF ? 32 : 64, SV = SUBS * VB, GB = CB + SV * (1 + OFF);
    const int64_t k = args->k, groups = k / 32, nsub = k / SB;
    const uint8_t *p0 = args->p0;
    const int8_t *xv = args->values;
    const float *xs = args->scales, *xo = args->sums;
    const int32_t *xc = args->corrections;
    const __m256i low = _mm256_set1_epi8(0x0F);
    const int valid = __builtin_popcount(args->mask0);
    const __m256i lanes_lo = q8y_lanes(valid), lanes_hi = q8y_lanes(valid - 8);
    __m256 f_lo[Q8Y_MAX_ROWS], f_hi[Q8Y_MAX_ROWS];
    for (int r = 0; r < R; r++) {
        if (args->accumulate) {
            f_lo[r] = _mm256_maskload_ps(args->out + r * args->out_stride, lanes_lo);
            f_hi[r] = _mm256_maskload_ps(args->out + r * args->out_stride + 8, lanes_hi);
        } else {
            f_lo[r] = _mm256_setzero_ps();
            f_hi[r] = _mm256_setzero_ps();
        }
    }
    for (int64_t b = args->g_begin * SUBS; b < args->g_end * SUBS; b++) {
        const int64_t j = b / SUBS;
        const int s = (int)(b % SUBS);
        const int64_t base = (j >> 1) * 2 * GB, position = j & 1;
        const int64_t paired = (j | 1) < groups ? 2 : 1;
        const uint8_t *c0 = p0 + base + position * CB;
        const int64_t vectors = base + paired * CB + position * SV + s * VB;
        const int8_t *xg = xv + j * 32;
        for (int64_t line = 0; line < (GB / SUBS + 63) / 64; line++) {
            _mm_prefetch((const char *)(p0 + b * (GB / SUBS) + Q8_AHEAD_BYTES + line * 64), _MM_HINT_T0);
        }
        __m256i a_lo[Q8Y_MAX_ROWS], a_hi[Q8Y_MAX_ROWS];
        for (int r = 0; r < R; r++) {
            a_lo[r] = _mm256_set1_epi32(xc[r * nsub + b]);
            a_hi[r] = a_lo[r];
        }
        // Column quads of this sub-block: (vector offset, nibble shift, activation offset).
        for (int g = 0; g < SB / 4; g++) {
            int64_t vector;
            int shift, column;
            if (NIB && SB == 32) { vector = (g & 3) * 64; shift = (g >> 2) * 4; column = (g >> 2) * 16 + (g & 3) * 4; }
            else if (NIB) { vector = g * 64; shift = 4 * s; column = 16 * s + 4 * g; }
            else { vector = (s * (SB / 4) + g) * 64; shift = 0; column = 4 * (s * (SB / 4) + g); }
            __m256i w_lo = _mm256_loadu_si256((const __m256i *)(c0 + vector));
            __m256i w_hi = _mm256_loadu_si256((const __m256i *)(c0 + vector + 32));
            if (NIB) {
                const __m128i count = _mm_cvtsi32_si128(shift);
                w_lo = _mm256_and_si256(_mm256_srl_epi16(w_lo, count), low);
                w_hi = _mm256_and_si256(_mm256_srl_epi16(w_hi, count), low);
            }
            for (int r = 0; r < R; r++) {
                int32_t word;
                memcpy(&word, xg + r * k + column, sizeof word);
                const __m256i xb = _mm256_set1_epi32(word);
                a_lo[r] = q8y_dpbusd(a_lo[r], w_lo, xb, EVEX);
                a_hi[r] = q8y_dpbusd(a_hi[r], w_hi, xb, EVEX);
            }
        }
        const __m256 s_lo = q8y_load_vector(p0 + vectors, HALF), s_hi = q8y_load_vector(p0 + vectors + VB / 2, HALF);
        for (int r = 0; r < R; r++) {
            const __m256 scale = _mm256_set1_ps(xs[r * groups + j]);
            f_lo[r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a_lo[r]), scale), s_lo, f_lo[r]);
            f_hi[r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a_hi[r]), scale), s_hi, f_hi[r]);
        }
        if (OFF) {
            const __m256 o_lo = q8y_load_vector(p0 + vectors + paired * SV, HALF);
            const __m256 o_hi = q8y_load_vector(p0 + vectors + paired * SV + VB / 2, HALF);
            for (int r = 0; r < R; r++) {
                const __m256 sum = _mm256_set1_ps(xo[r * nsub + b]);
                f_lo[r] = _mm256_fmadd_ps(o_lo, sum, f_lo[r]);
                f_hi[r] = _mm256_fmadd_ps(o_hi, sum, f_hi[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) {
        _mm256_maskstore_ps(args->out + r * args->out_stride, lanes_lo, f_lo[r]);
        _mm256_maskstore_ps(args->out + r * args->out_stride + 8, lanes_hi, f_hi[r]);
    }
}

typedef void (*q8y_tile_function)(const q8_tile_args *args, int rows);

#define Q8Y_VARIANT(NAME, NIB, SB, OFF, HALF, EVEX) \
    static Q8Y_TARGET void NAME(const q8_tile_args *args, int rows) { \
        switch (rows) { \
        case 3: q8y_tile(args, 3, NIB, SB, OFF, HALF, EVEX); break; \
        case 2: q8y_tile(args, 2, NIB, SB, OFF, HALF, EVEX); break; \
        default: q8y_tile(args, 1, NIB, SB, OFF, HALF, EVEX); break; \
        } \
    }

#define Q8Y_VARIANTS(SUFFIX, EVEX) \
    Q8Y_VARIANT(q8y_b32_f32_##SUFFIX, 0, 32, 0, 0, EVEX) \
    Q8Y_VARIANT(q8y_b32_f16_##SUFFIX, 0, 32, 0, 1, EVEX) \
    Q8Y_VARIANT(q8y_b32_off_f32_##SUFFIX, 0, 32, 1, 0, EVEX) \
    Q8Y_VARIANT(q8y_b32_off_f16_##SUFFIX, 0, 32, 1, 1, EVEX) \
    Q8Y_VARIANT(q8y_b16_f32_##SUFFIX, 0, 16, 0, 0, EVEX) \
    Q8Y_VARIANT(q8y_b16_f16_##SUFFIX, 0, 16, 0, 1, EVEX) \
    Q8Y_VARIANT(q8y_b16_off_f32_##SUFFIX, 0, 16, 1, 0, EVEX) \
    Q8Y_VARIANT(q8y_b16_off_f16_##SUFFIX, 0, 16, 1, 1, EVEX) \
    Q8Y_VARIANT(q4y_b32_f32_##SUFFIX, 1, 32, 0, 0, EVEX) \
    Q8Y_VARIANT(q4y_b32_f16_##SUFFIX, 1, 32, 0, 1, EVEX) \
    Q8Y_VARIANT(q4y_b32_off_f32_##SUFFIX, 1, 32, 1, 0, EVEX) \
    Q8Y_VARIANT(q4y_b32_off_f16_##SUFFIX, 1, 32, 1, 1, EVEX) \
    Q8Y_VARIANT(q4y_b16_f32_##SUFFIX, 1, 16, 0, 0, EVEX) \
    Q8Y_VARIANT(q4y_b16_f16_##SUFFIX, 1, 16, 0, 1, EVEX) \
    Q8Y_VARIANT(q4y_b16_off_f32_##SUFFIX, 1, 16, 1, 0, EVEX) \
    Q8Y_VARIANT(q4y_b16_off_f16_##SUFFIX, 1, 16, 1, 1, EVEX) \
    static const q8y_tile_function q8y_variants_##SUFFIX[16] = { \
        q8y_b32_f32_##SUFFIX, q8y_b32_f16_##SUFFIX, q8y_b32_off_f32_##SUFFIX, q8y_b32_off_f16_##SUFFIX, \
        q8y_b16_f32_##SUFFIX, q8y_b16_f16_##SUFFIX, q8y_b16_off_f32_##SUFFIX, q8y_b16_off_f16_##SUFFIX, \
        q4y_b32_f32_##SUFFIX, q4y_b32_f16_##SUFFIX, q4y_b32_off_f32_##SUFFIX, q4y_b32_off_f16_##SUFFIX, \
        q4y_b16_f32_##SUFFIX, q4y_b16_f16_##SUFFIX, q4y_b16_off_f32_##SUFFIX, q4y_b16_off_f16_##SUFFIX, \
    };

Q8Y_VARIANTS(vex, 0)
Q8Y_VARIANTS(evex, 1)

// Panels outer, k-chunks of 512 columns (a panel's chunk stays in L1), row tiles inner.
static Q8Y_TARGET void q8y_gemm(const q8y_tile_function *variants, const q3e_q8_weights *w,
                                const q3e_q8_activations *x, int64_t m, int64_t n_begin, int64_t n_end,
                                float *out, int64_t out_stride) {
    const int variant = (w->nibbles ? 8 : 0) | (w->sub_block == 16 ? 4 : 0) | (w->has_offset ? 2 : 0) |
                        (w->half_scales ? 1 : 0);
    const q8y_tile_function tile_function = variants[variant];
    const int64_t k = w->k, groups = k / 32, nsub = k / w->sub_block;
    const int64_t tiles = (m + Q8Y_MAX_ROWS - 1) / Q8Y_MAX_ROWS;
    const int64_t tile = tiles > 0 ? (m + tiles - 1) / tiles : Q8Y_MAX_ROWS;
    const int64_t chunk = tiles == 1 ? groups : Q8_CHUNK_GROUPS;
    for (int64_t column = n_begin; column < n_end; column += 16) {
        const uint8_t *p0 = w->panels + (column / 16) * w->panel_bytes;
        const int64_t remaining = n_end - column;
        const __mmask16 mask = q8_column_mask(remaining);
        for (int64_t g0 = 0; g0 < groups; g0 += chunk) {
            const int64_t g1 = g0 + chunk < groups ? g0 + chunk : groups;
            for (int64_t row = 0; row < m; row += tile) {
                const int rows = (int)(m - row < tile ? m - row : tile);
                q8_tile_args args = {
                    .p0 = p0, .p1 = p0,
                    .values = x->values + row * k, .scales = x->scales + row * groups,
                    .corrections = x->corrections + row * nsub, .sums = x->sums ? x->sums + row * nsub : NULL,
                    .out = out + row * out_stride + column, .out_stride = out_stride, .k = k,
                    .g_begin = g0, .g_end = g1, .accumulate = g0 > 0, .mask0 = mask, .mask1 = 0,
                    .pf0 = p0, .pf1 = p0, .pf_lines = 0,
                };
                tile_function(&args, rows);
            }
        }
    }
}

Q8Y_TARGET void q3e_gemm_q8_avxvnni(const q3e_q8_weights *w, const q3e_q8_activations *x, int64_t m,
                                    int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    q8y_gemm(q8y_variants_vex, w, x, m, n_begin, n_end, out, out_stride);
}

Q8Y_TARGET void q3e_gemm_q8_avxvnni_evex(const q3e_q8_weights *w, const q3e_q8_activations *x, int64_t m,
                                         int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    q8y_gemm(q8y_variants_evex, w, x, m, n_begin, n_end, out, out_stride);
}

// ---- activation quantization ---------------------------------------------------------------------

Q8_AVX512 void q3e_quantize_q8_avx512(const float *x, int64_t m, int64_t k, int32_t sub_block, int32_t zero_point,
                                      int8_t *values, float *scales, int32_t *corrections, float *sums) {
    const int64_t groups = k / 32, nsub = k / sub_block;
    const __m512 magnitude = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    const __m512i high = _mm512_set1_epi32(127), lowest = _mm512_set1_epi32(-127);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < groups; j++) {
            const float *source = x + i * k + j * 32;
            const __m512 v0 = _mm512_loadu_ps(source), v1 = _mm512_loadu_ps(source + 16);
            const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, magnitude), _mm512_and_ps(v1, magnitude)));
            const float d = amax / 127.0f;
            const float inverse = 1.0f / d;
            // A zero (or subnormal-tiny) block quantizes to zeros instead of overflowing the inverse.
            const float id = (d != 0.0f && inverse <= FLT_MAX) ? inverse : 0.0f;
            const __m512 scale = _mm512_set1_ps(id);
            __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            // In range already for finite input; NaN converts to INT_MIN and lands on −127, as in Swift.
            q0 = _mm512_max_epi32(_mm512_min_epi32(q0, high), lowest);
            q1 = _mm512_max_epi32(_mm512_min_epi32(q1, high), lowest);
            _mm_storeu_si128((__m128i *)(values + i * k + j * 32), _mm512_cvtepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(values + i * k + j * 32 + 16), _mm512_cvtepi32_epi8(q1));
            scales[i * groups + j] = d;
            const int32_t s0 = _mm512_reduce_add_epi32(q0), s1 = _mm512_reduce_add_epi32(q1);
            if (sub_block == 16) {
                corrections[i * nsub + 2 * j] = -zero_point * s0;
                corrections[i * nsub + 2 * j + 1] = -zero_point * s1;
                if (sums) {
                    sums[i * nsub + 2 * j] = d * (float)s0;
                    sums[i * nsub + 2 * j + 1] = d * (float)s1;
                }
            } else {
                corrections[i * nsub + j] = -zero_point * (s0 + s1);
                if (sums) sums[i * nsub + j] = d * (float)(s0 + s1);
            }
        }
    }
}

// The AVX2 twin of q3e_quantize_q8_avx512 (for the AVX-VNNI kernel): the same operations, so the same bits.
Q8Y_TARGET void q3e_quantize_q8_avx2(const float *x, int64_t m, int64_t k, int32_t sub_block, int32_t zero_point,
                                     int8_t *values, float *scales, int32_t *corrections, float *sums) {
    const int64_t groups = k / 32, nsub = k / sub_block;
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i high = _mm256_set1_epi32(127), lowest = _mm256_set1_epi32(-127);
    // packs works within 128-bit lanes; this restores the order of the 32 bytes.
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < groups; j++) {
            const float *source = x + i * k + j * 32;
            __m256 v[4];
            for (int t = 0; t < 4; t++) v[t] = _mm256_loadu_ps(source + 8 * t);
            __m256 amax8 = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], magnitude), _mm256_and_ps(v[1], magnitude)),
                                         _mm256_max_ps(_mm256_and_ps(v[2], magnitude), _mm256_and_ps(v[3], magnitude)));
            __m128 amax4 = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
            amax4 = _mm_max_ps(amax4, _mm_movehl_ps(amax4, amax4));
            amax4 = _mm_max_ss(amax4, _mm_movehdup_ps(amax4));
            const float amax = _mm_cvtss_f32(amax4);
            const float d = amax / 127.0f;
            const float inverse = 1.0f / d;
            const float id = (d != 0.0f && inverse <= FLT_MAX) ? inverse : 0.0f;
            const __m256 scale = _mm256_set1_ps(id);
            __m256i q[4];
            for (int t = 0; t < 4; t++) {
                // Rounding first makes the conversion exact whatever the MXCSR mode; NaN and
                // out-of-range values convert to INT_MIN and clamp to −127, as in the other versions.
                const __m256 rounded = _mm256_round_ps(_mm256_mul_ps(v[t], scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q[t] = _mm256_max_epi32(_mm256_min_epi32(_mm256_cvtps_epi32(rounded), high), lowest);
            }
            const __m256i bytes = _mm256_permutevar8x32_epi32(
                _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3])), order);
            _mm256_storeu_si256((__m256i *)(values + i * k + j * 32), bytes);
            scales[i * groups + j] = d;
            __m256i first = _mm256_add_epi32(q[0], q[1]), second = _mm256_add_epi32(q[2], q[3]);
            int32_t halves[2];
            for (int h = 0; h < 2; h++) {
                const __m256i v8 = h ? second : first;
                __m128i v4 = _mm_add_epi32(_mm256_castsi256_si128(v8), _mm256_extracti128_si256(v8, 1));
                v4 = _mm_add_epi32(v4, _mm_shuffle_epi32(v4, 0x4E));
                v4 = _mm_add_epi32(v4, _mm_shuffle_epi32(v4, 0xB1));
                halves[h] = _mm_cvtsi128_si32(v4);
            }
            if (sub_block == 16) {
                corrections[i * nsub + 2 * j] = -zero_point * halves[0];
                corrections[i * nsub + 2 * j + 1] = -zero_point * halves[1];
                if (sums) {
                    sums[i * nsub + 2 * j] = d * (float)halves[0];
                    sums[i * nsub + 2 * j + 1] = d * (float)halves[1];
                }
            } else {
                corrections[i * nsub + j] = -zero_point * (halves[0] + halves[1]);
                if (sums) sums[i * nsub + j] = d * (float)(halves[0] + halves[1]);
            }
        }
    }
}

#else  // not x86_64: the Swift reference (ReferenceQuantizedGEMM) runs; these are never called.

void q3e_quantize_q8_avx512(const float *x, int64_t m, int64_t k, int32_t sub_block, int32_t zero_point,
                            int8_t *values, float *scales, int32_t *corrections, float *sums) {}
void q3e_gemm_q8_avx512vnni(const q3e_q8_weights *weights, const q3e_q8_activations *x, int64_t m,
                            int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}
void q3e_gemm_q8_avxvnni(const q3e_q8_weights *weights, const q3e_q8_activations *x, int64_t m,
                         int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}
void q3e_gemm_q8_avxvnni_evex(const q3e_q8_weights *weights, const q3e_q8_activations *x, int64_t m,
                              int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}
void q3e_quantize_q8_avx2(const float *x, int64_t m, int64_t k, int32_t sub_block, int32_t zero_point,
                          int8_t *values, float *scales, int32_t *corrections, float *sums) {}

#endif
