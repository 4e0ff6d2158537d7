#ifndef QWEN3_CKERNELS_H
#define QWEN3_CKERNELS_H

// Thin C kernels for CPU instructions Swift cannot select at run time (AVX-512 BF16 dot products,
// function-level AVX-512 code in a portable binary). Every symbol has the prefix `q3e_`/`Q3E_` (Qwen3
// Embedding). Every compute kernel here has a plain Swift reference in the Kernels module, named
// `Reference…` (or a scalar function), which runs on CPUs without the instructions, and a test in
// Tests/KernelsTests compares the two (on machines that have the instructions; elsewhere it is skipped):
//
//   q3e_gemm_f32_f32w_avx512, q3e_gemm_f32_bf16w_avx512  ->  ReferenceGEMM.float32            (PackedMatrixTests)
//   q3e_gemm_f32_f32w_avx2, q3e_gemm_f32_bf16w_avx2      ->  ReferenceGEMM.float32            (PackedMatrixTests)
//   q3e_gemm_bf16_avx512bf16                             ->  ReferenceGEMM.bfloat16           (PackedMatrixTests)
//   q3e_gemm_bf16_amx (CKernelsAMX.h)                    ->  ReferenceGEMM.bfloat16           (AMXTests)
//   q3e_f32_to_bf16_avx512                               ->  BFloat16.rounding                (PackedMatrixTests)
//   q3e_transpose_keys_f32 + q3e_attention_f32_avx512    ->  ReferenceAttention.rows          (CausalAttentionTests)
//   q3e_exp_avx512                                       ->  Foundation's exp                 (CausalAttentionTests)
//   q3e_quantize_q8_avx512, q3e_quantize_q8_avx2         ->  ReferenceQuantizedGEMM.quantize  (QuantizedMatrixTests)
//   q3e_gemm_q8_avx512vnni, _avxvnni, _avxvnni_evex      ->  ReferenceQuantizedGEMM.multiply  (QuantizedMatrixTests)
//   q3e_product_avx2, q3e_product_avx512                 ->  ReferenceProducts.block          (TransposedProductsTests)
//
// q3e_cpu_features is checked against /proc/cpuinfo (PackedMatrixTests.cpuFeaturesAgreeWithTheKernel).

#include <stdint.h>
#include <stddef.h>
#include "CKernelsAMX.h"

#ifdef __cplusplus
extern "C" {
#endif

/// CPU feature bits reported by q3e_cpu_features().
#define Q3E_CPU_AVX2 0x1u
#define Q3E_CPU_FMA 0x2u
#define Q3E_CPU_AVX512F 0x4u
#define Q3E_CPU_AVX512BW 0x8u
#define Q3E_CPU_AVX512VL 0x10u
#define Q3E_CPU_AVX512_BF16 0x20u
#define Q3E_CPU_AVX512_VNNI 0x40u
#define Q3E_CPU_AVX_VNNI 0x80u
#define Q3E_CPU_AMX_TILE 0x100u
#define Q3E_CPU_AMX_BF16 0x200u
#define Q3E_CPU_AMX_INT8 0x400u
#define Q3E_CPU_F16C 0x800u

/// Features supported by both the CPU (CPUID) and the operating system (XCR0); 0 on non-x86 CPUs.
uint32_t q3e_cpu_features(void);

/// Asks Linux for permission to use AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM); returns 1 on success.
int q3e_request_amx_permission(void);

/// Packed weight layouts of the GEMMs below (built by PackedMatrix.swift). The weight matrix W (n rows ×
/// k columns, PyTorch nn.Linear layout) is cut into panels of 16 rows, stored one after the other; rows
/// are padded with zeros to a multiple of 32, so a kernel can always work on two panels (32 outputs).
/// - bf16 "pair panels" (k even): for each pair of columns (2p, 2p+1), the 16 rows' two values
///   interleaved, W[r][2p], W[r][2p+1] for r = 0..15: 32 values, one 64-byte vector per pair (what
///   `vdpbf16ps` and AMX consume; the low half of each 32-bit word is the even column). A panel holds
///   k/2 · 32 values.
/// - fp32 panels: for each column c, the 16 rows' values W[r][c] for r = 0..15: one 64-byte vector
///   per column, no interleaving. A panel holds k · 16 values.

/// out[i][j] = Σ_c x[i][c] · W[j][c] for i < m and j in [n_begin, n_end), fp32 activations (row-major,
/// rows k apart) and bf16 pair-panel weights (converted exactly to fp32), fp32 fused multiply-adds over
/// column pairs ascending (a row's result never depends on the other rows). AVX-512F.
/// k must be even; n_begin must be a multiple of 32.
void q3e_gemm_f32_bf16w_avx512(const float *x, int64_t m, int64_t k, const uint16_t *panels,
                               int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// The same with fp32-panel weights (columns ascending; k need not be even). AVX-512F.
void q3e_gemm_f32_f32w_avx512(const float *x, int64_t m, int64_t k, const float *panels,
                              int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// The two fp32-activation GEMMs above for CPUs with AVX2 + FMA but no AVX-512 (gemm_avx2.c): the same
/// arguments and the same fused multiply-adds in the same order, so the results equal the AVX-512
/// kernels' bit for bit. n_begin may be any column (lanes before it are not written).
void q3e_gemm_f32_bf16w_avx2(const float *x, int64_t m, int64_t k, const uint16_t *panels,
                             int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);
void q3e_gemm_f32_f32w_avx2(const float *x, int64_t m, int64_t k, const float *panels,
                            int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// The same with bf16 activations (row-major, k even) and bf16 pair-panel weights: AVX512-BF16
/// `vdpbf16ps`, fp32 accumulation. AVX-512F + AVX512-BF16.
void q3e_gemm_bf16_avx512bf16(const uint16_t *x, int64_t m, int64_t k, const uint16_t *panels,
                              int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// fp32 → bf16 with round-to-nearest-even (NaN becomes the quiet NaN 0x7FC0), as PyTorch's
/// `.to(torch.bfloat16)`: the activations of the bf16 GEMMs. AVX-512.
void q3e_f32_to_bf16_avx512(const float *source, uint16_t *destination, int64_t count);

/// Keys of one sequence and key-value head, transposed for `q3e_attention_f32_avx512`: row d of
/// `transposed` (rows `transposed_stride` apart, stride ≥ count rounded up to 32) gets dimension d of
/// keys 0..<count, zero-filled up to the multiple of 32. AVX-512F.
void q3e_transpose_keys_f32(const float *key, int64_t key_stride, int64_t count, int64_t head_dimension,
                            float *transposed, int64_t transposed_stride);

/// Causal attention for one sequence and head, query rows [first_query, end_query) of the sequence
/// (row i attends to rows 0...i). `query` rows are `query_stride` floats apart, `value` rows
/// `value_stride`; keys come transposed (`q3e_transpose_keys_f32`, covering at least end_query keys);
/// `head_dimension` must be a multiple of 16; `scores` needs (end_query − first_query) ×
/// (end_query rounded up to 32) floats. A row's result does not depend on first_query/end_query. AVX-512F.
void q3e_attention_f32_avx512(const float *query, int64_t query_stride, const float *key_transposed,
                              int64_t key_transposed_stride, const float *value, int64_t value_stride,
                              float *output, int64_t output_stride, int64_t first_query, int64_t end_query,
                              int64_t head_dimension, float scale, float *scores);

/// Element-wise exp with the polynomial the attention kernel uses (~2 ulp for x ≤ 0; inputs are clamped
/// to [−103, 88]). Used by the SwiGLU activation (VectorMath.swiGLU) and by the tests. AVX-512F.
void q3e_exp_avx512(const float *source, float *destination, int64_t count);


// ---- Integer kernels for block-quantized (ggml) weights: see gemm_int8_avx512.c and QuantizedMatrix.swift ----

/// Quantized weight panels ("code panels"). Rows are cut into panels of 16 (zero-padded to a multiple
/// of 32 rows). For each group of 32 columns a panel holds the codes of its 16 rows arranged for
/// `vpdpbusd`: vector q (q = 0..7, 64 bytes) holds columns 4q..4q+3 of the group for rows 0..15 as
/// row-major 4-byte words (512 bytes). With `nibbles`, vector h (h = 0..3) holds in its low nibbles
/// columns 4h..4h+3 and in its high nibbles columns 16+4h..16+4h+3 (256 bytes per group).
/// Scale vectors hold one value per row (16 values, fp16 or fp32) for one sub-block of `sub_block`
/// columns; offset vectors likewise.
///
/// Groups are stored in pairs ("super-groups" of 64 columns) so that everything a stretch of columns
/// needs is contiguous and 64-byte aligned: codes of the pair's groups, then their scale vectors
/// (sub-blocks ascending), then (has_offset) their offset vectors. Super-group s starts at byte
/// s · 2 · (code bytes + vector bytes per group); a final odd group forms a super-group of its own.
/// A panel is padded to a multiple of 64 bytes.
typedef struct {
    const uint8_t *panels;   ///< first panel, 64-byte aligned
    int64_t k;               ///< columns, a multiple of 32
    int64_t panel_bytes;     ///< bytes from one panel to the next (a multiple of 64)
    int32_t sub_block;       ///< 16 or 32 columns per scale
    int32_t nibbles;         ///< 1: two codes per byte (codes < 16)
    int32_t half_scales;     ///< 1: scales and offsets stored as IEEE fp16
    int32_t has_offset;      ///< 1: offset vectors follow the scale vectors
} q3e_q8_weights;

/// Activations quantized per 32 values (q3e_quantize_q8_avx512 / _avx2), rows contiguous in every array.
typedef struct {
    const int8_t *values;        ///< m × k codes
    const float *scales;         ///< m × k/32 scales: x ≈ scale · value
    const int32_t *corrections;  ///< m × k/sub_block: −zero_point · Σ values over the sub-block
    const float *sums;           ///< m × k/sub_block: scale · Σ values over the sub-block (has_offset only)
} q3e_q8_activations;

/// Quantizes m rows of k fp32 values (k a multiple of 32) per block of 32: scale = amax/127,
/// value = round-to-nearest-even(x · (1/scale)) clamped to ±127 (all 0 when amax is 0 or 1/scale
/// overflows; NaN gives −127), and the per-sub-block corrections
/// and (when `sums` is not NULL) scaled sums. Bitwise equal to the Swift reference. AVX-512F/BW.
void q3e_quantize_q8_avx512(const float *x, int64_t m, int64_t k, int32_t sub_block, int32_t zero_point,
                            int8_t *values, float *scales, int32_t *corrections, float *sums);

/// out[i][j] = Σ over sub-blocks b of scale_w[j][b] · (scale_x[i] · (Σ code·value − zp · Σ value))
///           + offset_w[j][b] · scale_x[i] · Σ value, for i < m and j in [n_begin, n_end):
/// per sub-block an exact int32 dot product (`vpdpbusd`), then t = float(dot) · scale_x and
/// acc = fma(t, scale_w, acc), then (offsets) acc = fma(offset_w, sum_x, acc), sub-blocks ascending —
/// the same operations as the Swift reference, so results are bitwise equal. n_begin must be a
/// multiple of 32. AVX-512F/BW + AVX512-VNNI.
void q3e_gemm_q8_avx512vnni(const q3e_q8_weights *weights, const q3e_q8_activations *x, int64_t m,
                            int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// The same product (same arithmetic and order, bitwise equal) on 256-bit registers with AVX-VNNI
/// (VEX `vpdpbusd`), for CPUs that have AVX-VNNI but not AVX-512 (Intel Alder Lake and later client
/// cores, Sierra Forest). AVX2 + FMA + F16C + AVX-VNNI.
void q3e_gemm_q8_avxvnni(const q3e_q8_weights *weights, const q3e_q8_activations *x, int64_t m,
                         int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// `q3e_gemm_q8_avxvnni` compiled with the EVEX encoding of `vpdpbusd` (AVX512-VNNI + VL), so that tests
/// can run the 256-bit kernel on AVX-512 machines, which lack AVX-VNNI. Not dispatched.
void q3e_gemm_q8_avxvnni_evex(const q3e_q8_weights *weights, const q3e_q8_activations *x, int64_t m,
                              int64_t n_begin, int64_t n_end, float *out, int64_t out_stride);

/// `q3e_quantize_q8_avx512` with AVX2 (bitwise equal to it and to the Swift reference).
void q3e_quantize_q8_avx2(const float *x, int64_t m, int64_t k, int32_t sub_block, int32_t zero_point,
                          int8_t *values, float *scales, int32_t *corrections, float *sums);

// ---- Backward-pass products: see gemm_backward.c and TransposedProducts.swift ----

#define Q3E_PRODUCT_B_ROW_MAJOR 0   ///< B(p, j) = b[p · b_stride + j], fp32
#define Q3E_PRODUCT_B_F32_PANELS 1  ///< B = a packed weight W (fp32 panels, b_stride = W's columns): B(p, j) = W[p][j]
#define Q3E_PRODUCT_B_BF16_PANELS 2 ///< B = a packed weight W (bf16 pair panels, b_stride = W's columns), widened exactly

/// One product C(i, j) (+)= Σ_p A(i, p) · B(p, j), p < k. Each element is one chain of fused
/// multiply-adds over p ascending, from C(i, j) (accumulate) or +0: the result does not depend on the
/// row and column ranges a call covers, and the AVX2 and AVX-512 kernels are bitwise equal.
typedef struct {
    const float *a;          ///< A(i, p) = a[i · a_row_stride + p · a_inner_stride]
    int64_t a_row_stride;
    int64_t a_inner_stride;
    const void *b;           ///< laid out as b_layout says
    int64_t b_stride;
    float *c;                ///< C(i, j) = c[i · c_stride + j]; must not overlap a or b
    int64_t c_stride;
    int64_t k;               ///< inner dimension, > 0
    int32_t b_layout;        ///< Q3E_PRODUCT_B_*
    int32_t round_a_bf16;    ///< 1: A's values are rounded to bf16 (nearest even) before multiplying
    int32_t accumulate;      ///< 1: add to C; 0: overwrite C
} q3e_product;

/// Computes rows [row_begin, row_end) × columns [column_begin, column_end) of a product. AVX2 + FMA.
void q3e_product_avx2(const q3e_product *product, int64_t row_begin, int64_t row_end,
                      int64_t column_begin, int64_t column_end);

/// The same on 512-bit registers (bitwise equal to q3e_product_avx2). AVX-512F.
void q3e_product_avx512(const q3e_product *product, int64_t row_begin, int64_t row_end,
                        int64_t column_begin, int64_t column_end);

#ifdef __cplusplus
}
#endif

#endif
