import CKernels
import Foundation

/// The matrix products of a backward pass that the forward kernels do not cover.
///
/// A linear layer's forward computes `Y = X · Wᵀ` (`PackedMatrix.multiply`, `RowMajorGEMM`). Its backward
/// needs the other two products: `dX = dY · W` (no transpose: the weight is read along its rows) and
/// `dW += dYᵀ · X` (a reduction over the tokens). Both are computed here by one cache-blocked driver, in the
/// classic packed form: blocks of the right operand are copied into contiguous slivers a few vectors wide,
/// blocks of the left operand into slivers of a few rows, and a register tile of the output is updated
/// by one rank-1 product per step of the inner dimension.
///
/// Determinism: every output element is a single chain over the inner dimension, ascending, starting from
/// the element's previous value (`accumulate`) or zero: `c = c + a₀b₀`, then `+ a₁b₁`, and so on. Blocking
/// over the inner dimension only stores and reloads `c` (exact), so neither the thread split, nor the
/// register tile an element falls in, nor the rows around it change a single bit. Two consequences the
/// tests check: a row of `multiply` is the same alone or in a batch, and `accumulateTransposedProduct`
/// over m rows equals two calls over a split of those rows. The C kernels use fused multiply-adds (one
/// rounding per step), so AVX2 and AVX-512 give bitwise equal results; the portable path
/// (`ReferenceProducts`) multiplies then adds (a fused multiply-add would be a library call on baseline
/// x86-64) and agrees within rounding.
public enum TransposedProducts {
    /// The implementation a product runs on.
    public enum Path: String, Sendable, CaseIterable {
        /// AVX-512F fused multiply-adds, 6 × 32 register tiles (C kernel).
        case avx512 = "avx512-fp32"
        /// AVX2 + FMA fused multiply-adds, 6 × 16 register tiles (C kernel).
        case avx2 = "avx2-fma"
        /// Plain Swift SIMD, for any CPU: the C kernels' Swift reference (`ReferenceProducts`).
        case portable
    }

    /// The path the products take on a CPU with `features` (`[]`, as `QWEN3_KERNEL=portable` gives,
    /// selects the portable Swift code).
    public static func path(features: CPUFeatures = .usable) -> Path {
        #if arch(x86_64)
        if features.hasAVX512 { return .avx512 }
        if features.contains([.avx2, .fma]) { return .avx2 }
        #endif
        return .portable
    }

    /// `C[m×n] = A[m×k] · B[k×n]` (or `C += A · B` with `accumulate`), all row-major fp32.
    ///
    /// The input gradient of a linear layer with an fp32 row-major weight `W[out×in]`: `dX = dY · W`
    /// with `k = out`, `n = in`. `c` must not overlap `a` or `b`.
    public static func multiply(
        _ a: UnsafePointer<Float>, rows m: Int, inner k: Int,
        by b: UnsafePointer<Float>, columns n: Int,
        into c: UnsafeMutablePointer<Float>, accumulate: Bool,
        features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) {
        precondition(m >= 0 && k >= 0 && n >= 0, "negative matrix dimension")
        let operands = ProductOperands(
            left: a, leftRowStride: k, leftInnerStride: 1, roundsLeft: false,
            right: .rowMajor(b, stride: n), output: c, outputStride: n, inner: k, accumulate: accumulate)
        run(operands, rows: m, columns: n, features: features, pool: pool)
    }

    /// `C[n×k] += Aᵀ · B` with `A[m×n]` and `B[m×k]`, all row-major fp32: the reduction runs over the m
    /// rows the two operands share.
    ///
    /// The weight gradient of a linear layer: `dW[out×in] += dYᵀ · X` with `A = dY[m×out]`, `B = X[m×in]`.
    /// Calling it on rows `0..<r` and then on rows `r..<m` gives bitwise the result of one call on all m rows.
    /// `c` must not overlap `a` or `b`.
    public static func accumulateTransposedProduct(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        rows m: Int, aColumns n: Int, bColumns k: Int,
        into c: UnsafeMutablePointer<Float>,
        features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) {
        precondition(m >= 0 && k >= 0 && n >= 0, "negative matrix dimension")
        if n <= ReferenceProducts.tileColumns && k > n && m > 0 {
            // C is a few rows high and wide (dA of a LoRA A matrix: rank × in): compute Cᵀ += Bᵀ · A instead,
            // whose few columns let the kernels read the operands in place. Each element's chain is the
            // same (the same products, a·b = b·a, in the same order, from the same start): bitwise equal.
            let transposed = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
            defer { transposed.deallocate() }
            for u in 0..<n { for v in 0..<k { transposed[v * n + u] = c[u * k + v] } }
            let mirrored = ProductOperands(
                left: b, leftRowStride: 1, leftInnerStride: k, roundsLeft: false,
                right: .rowMajor(a, stride: n), output: transposed, outputStride: n, inner: m, accumulate: true)
            run(mirrored, rows: k, columns: n, features: features, pool: pool)
            for u in 0..<n { for v in 0..<k { c[u * k + v] = transposed[v * n + u] } }
            return
        }
        // Output element (u, v) = Σ_p A[p][u] · B[p][v]: the left operand is A read down its columns.
        let operands = ProductOperands(
            left: a, leftRowStride: 1, leftInnerStride: n, roundsLeft: false,
            right: .rowMajor(b, stride: k), output: c, outputStride: k, inner: m, accumulate: true)
        run(operands, rows: n, columns: k, features: features, pool: pool)
    }
}

/// One product `C(i, j) (+)= Σ_p A(i, p) · B(p, j)` described by strides and the right operand's storage.
struct ProductOperands {
    /// Where `B(p, j)` lives.
    enum Right {
        /// `b[p · stride + j]`.
        case rowMajor(UnsafePointer<Float>, stride: Int)
        /// A `PackedMatrix`'s fp32 panels (`B` = the packed weight W, `p` its row, `j` its column).
        case float32Panels(UnsafePointer<Float>, columns: Int)
        /// A `PackedMatrix`'s bf16 pair panels, widened exactly to fp32.
        case bfloat16Panels(UnsafePointer<UInt16>, columns: Int)
    }

    /// `A(i, p) = left[i · leftRowStride + p · leftInnerStride]`.
    var left: UnsafePointer<Float>
    var leftRowStride: Int
    var leftInnerStride: Int
    /// A's values are rounded to bf16 (round-to-nearest-even) before they are multiplied.
    var roundsLeft: Bool
    var right: Right
    /// `C(i, j) = output[i · outputStride + j]`.
    var output: UnsafeMutablePointer<Float>
    var outputStride: Int
    /// The inner (reduced) dimension.
    var inner: Int
    /// Add to C instead of overwriting it.
    var accumulate: Bool
}

extension TransposedProducts {
    /// Inner-dimension block: a 256 × 16 (AVX-512: × 32) sliver of B stays in L1 while the row slivers
    /// of A stream past it. The C kernels use the same constants (gemm_backward.c).
    static let innerBlock = 256
    /// Rows of A packed at a time (a multiple of every path's register-tile height, 4 and 6).
    static let rowBlock = 96
    /// Columns of B packed at a time: a 256 × 256 fp32 block (256 KiB) stays in L2.
    static let columnBlock = 256

    /// Splits `rows × columns` of C into tasks (never the inner dimension, which keeps every element's
    /// chain of operations whole) and runs them on the selected path.
    static func run(_ operands: ProductOperands, rows: Int, columns: Int, features: CPUFeatures, pool: ComputePool) {
        guard rows > 0, columns > 0 else { return }
        guard operands.inner > 0 else {
            // An empty sum: C keeps its value, or becomes zero.
            if !operands.accumulate {
                for row in 0..<rows {
                    (operands.output + row * operands.outputStride).update(repeating: 0, count: columns)
                }
            }
            return
        }
        let path = path(features: features)
        let columnBlocks = (columns + columnBlock - 1) / columnBlock
        // Column blocks alone may not feed every thread (dW of a LoRA B matrix has 16 columns): then rows
        // are split too, in multiples of 12 rows so that register tiles stay whole.
        let rowTasks = columnBlocks >= pool.width * 2 ? 1 : (pool.width * 2 + columnBlocks - 1) / columnBlocks
        let rowsPerTask = max(12, ((rows + rowTasks - 1) / rowTasks + 11) / 12 * 12)
        let rowBlocks = (rows + rowsPerTask - 1) / rowsPerTask
        // Read-only from every task: passed to C by pointer, never inout (no exclusive access).
        withUnsafePointer(to: cProduct(operands)) { product in
            pool.run(tasks: columnBlocks * rowBlocks) { task in
                let columnStart = (task % columnBlocks) * columnBlock
                let columnEnd = min(columns, columnStart + columnBlock)
                let rowStart = (task / columnBlocks) * rowsPerTask
                let rowEnd = min(rows, rowStart + rowsPerTask)
                switch path {
                case .avx512:
                    q3e_product_avx512(product, Int64(rowStart), Int64(rowEnd), Int64(columnStart), Int64(columnEnd))
                case .avx2:
                    q3e_product_avx2(product, Int64(rowStart), Int64(rowEnd), Int64(columnStart), Int64(columnEnd))
                case .portable:
                    ReferenceProducts.block(operands, rows: rowStart..<rowEnd, columns: columnStart..<columnEnd)
                }
            }
        }
    }

    /// The C description of a product (see `q3e_product` in CKernels.h).
    static func cProduct(_ operands: ProductOperands) -> q3e_product {
        let right: UnsafeRawPointer, stride: Int, layout: Int32
        switch operands.right {
        case let .rowMajor(pointer, rowStride):
            (right, stride, layout) = (UnsafeRawPointer(pointer), rowStride, Q3E_PRODUCT_B_ROW_MAJOR)
        case let .float32Panels(pointer, columns):
            (right, stride, layout) = (UnsafeRawPointer(pointer), columns, Q3E_PRODUCT_B_F32_PANELS)
        case let .bfloat16Panels(pointer, columns):
            (right, stride, layout) = (UnsafeRawPointer(pointer), columns, Q3E_PRODUCT_B_BF16_PANELS)
        }
        return q3e_product(
            a: operands.left, a_row_stride: Int64(operands.leftRowStride),
            a_inner_stride: Int64(operands.leftInnerStride), b: right, b_stride: Int64(stride),
            c: operands.output, c_stride: Int64(operands.outputStride), k: Int64(operands.inner),
            b_layout: layout, round_a_bf16: operands.roundsLeft ? 1 : 0, accumulate: operands.accumulate ? 1 : 0)
    }
}
