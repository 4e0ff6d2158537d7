// Intel AMX-BF16 GEMM over pair-panel weights (layout in CKernels.h).
//
// Tile registers: C00 C01 C10 C11 (two 16-row groups × two 16-column panels, fp32), A0 A1 (16 rows ×
// 32 bf16 of activations each), B0 B1 (16 column pairs × 16 columns of a panel: 1 KiB, contiguous, which
// is the pair-panel layout itself). Each step multiplies 32 values of k into the four accumulators.
//
// This machine type (CI's) has no AMX, so this kernel is compiled everywhere but only dispatched where
// CPUID reports AMX-TILE and AMX-BF16 and Linux grants tile data; the test comparing it with its Swift
// reference (ReferenceGEMM.bfloat16, AMXTests) runs on such machines.

#include "CKernelsAMX.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define Q3E_AMX __attribute__((target("amx-tile,amx-bf16,avx512f")))

/// The 64-byte operand of ldtilecfg (palette 1).
typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} __attribute__((packed, aligned(64))) tile_config;

enum { C00 = 0, C01 = 1, C10 = 2, C11 = 3, A0 = 4, A1 = 5, B0 = 6, B1 = 7 };

Q3E_AMX static void configure(int rows0, int rows1) {
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    const int rows[8] = {rows0, rows0, rows1, rows1, rows0, rows1, 16, 16};
    for (int t = 0; t < 8; t++) {
        // An unused group (rows1 == 0) keeps a valid 1-row shape; its tiles are never touched.
        config.rows[t] = (uint8_t)(rows[t] > 0 ? rows[t] : 1);
        config.bytes_per_row[t] = 64;
    }
    _tile_loadconfig(&config);
}

Q3E_AMX static void store(int tile_rows, const float *tile, int64_t valid_columns, float *out, int64_t out_stride) {
    if (valid_columns <= 0) return;
    const int64_t count = valid_columns < 16 ? valid_columns : 16;
    for (int r = 0; r < tile_rows; r++) memcpy(out + r * out_stride, tile + r * 16, (size_t)count * sizeof(float));
}

Q3E_AMX void q3e_gemm_bf16_amx(const uint16_t *x, int64_t m, int64_t k, const uint16_t *panels,
                               int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {
    const int64_t panel_size = (k / 2) * 32;  // uint16 values per 16-row panel
    const int64_t x_stride = k * 2;            // bytes between activation rows
    float tile[16 * 16] __attribute__((aligned(64)));
    int configured0 = -1, configured1 = -1;
    for (int64_t row = 0; row < m; row += 32) {
        const int rows0 = (int)(m - row < 16 ? m - row : 16);
        const int rows1 = (int)(m - row - 16 <= 0 ? 0 : (m - row - 16 < 16 ? m - row - 16 : 16));
        if (rows0 != configured0 || rows1 != configured1) {
            configure(rows0, rows1);
            configured0 = rows0;
            configured1 = rows1;
        }
        const uint16_t *x0 = x + row * k;
        const uint16_t *x1 = x0 + 16 * k;
        for (int64_t column = n_begin; column < n_end; column += 32) {
            const uint16_t *p0 = panels + (column / 16) * panel_size;
            const uint16_t *p1 = p0 + panel_size;
            _tile_zero(C00);
            _tile_zero(C01);
            if (rows1) { _tile_zero(C10); _tile_zero(C11); }
            for (int64_t step = 0; step < k; step += 32) {
                // 32 values of k = 16 column pairs: rows [step/2, step/2 + 16) of the panels' pair rows.
                _tile_loadd(B0, p0 + (step / 2) * 32, 64);
                _tile_loadd(B1, p1 + (step / 2) * 32, 64);
                _tile_loadd(A0, x0 + step, x_stride);
                _tile_dpbf16ps(C00, A0, B0);
                _tile_dpbf16ps(C01, A0, B1);
                if (rows1) {
                    _tile_loadd(A1, x1 + step, x_stride);
                    _tile_dpbf16ps(C10, A1, B0);
                    _tile_dpbf16ps(C11, A1, B1);
                }
            }
            float *o = out + row * out_stride + column;
            _tile_stored(C00, tile, 64);
            store(rows0, tile, n_end - column, o, out_stride);
            _tile_stored(C01, tile, 64);
            store(rows0, tile, n_end - column - 16, o + 16, out_stride);
            if (rows1) {
                _tile_stored(C10, tile, 64);
                store(rows1, tile, n_end - column, o + 16 * out_stride, out_stride);
                _tile_stored(C11, tile, 64);
                store(rows1, tile, n_end - column - 16, o + 16 * out_stride + 16, out_stride);
            }
        }
    }
    _tile_release();
}

#else

void q3e_gemm_bf16_amx(const uint16_t *x, int64_t m, int64_t k, const uint16_t *panels,
                       int64_t n_begin, int64_t n_end, float *out, int64_t out_stride) {}

#endif
