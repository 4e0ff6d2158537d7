import Foundation
import Kernels

/// The three matrix products a linear layer's backward pass needs, on row-major fp32 operands with
/// explicit row strides (so a part of a fused q|k|v or gate|up gradient is read in place).
///
/// Every output element is one fixed sequence of fp32 operations, so results never depend on how the
/// work was split across the pool.
enum GradientProducts {
    /// `c[m×n] (+)= a[m×k] · b[n×k]ᵀ`: the forward product of a linear layer (`y = x · Wᵀ`).
    static func multiplyTransposed(
        _ a: UnsafePointer<Float>, rows m: Int, inner k: Int, strideA: Int,
        by b: UnsafePointer<Float>, columns n: Int, strideB: Int,
        into c: UnsafeMutablePointer<Float>, strideC: Int, accumulate: Bool, scale: Float = 1, pool: ComputePool
    ) {
        guard m > 0, n > 0 else { return }
        pool.run(tasks: min(m, pool.width * 4)) { task in
            let tasks = min(m, pool.width * 4)
            var row = task
            while row < m {
                let x = a + row * strideA
                let out = c + row * strideC
                for column in 0..<n {
                    let value = scale * MatrixMultiply.dot(x, b + column * strideB, count: k)
                    out[column] = accumulate ? out[column] + value : value
                }
                row += tasks
            }
        }
    }

    /// `c[m×n] (+)= a[m×k] · b[k×n]`: the input gradient of a linear layer (`dX = dY · W`).
    static func multiply(
        _ a: UnsafePointer<Float>, rows m: Int, inner k: Int, strideA: Int,
        by b: UnsafePointer<Float>, columns n: Int, strideB: Int,
        into c: UnsafeMutablePointer<Float>, strideC: Int, accumulate: Bool, scale: Float = 1, pool: ComputePool
    ) {
        guard m > 0, n > 0 else { return }
        let tasks = min(m, pool.width * 4)
        pool.run(tasks: tasks) { task in
            var row = task
            while row < m {
                let out = c + row * strideC
                if !accumulate { out.update(repeating: 0, count: n) }
                let x = a + row * strideA
                for inner in 0..<k {
                    let factor = scale * x[inner]
                    if factor == 0 { continue }
                    let source = b + inner * strideB
                    for column in 0..<n { out[column] += factor * source[column] }
                }
                row += tasks
            }
        }
    }

    /// `c[n×k] += scale · a[m×n]ᵀ · b[m×k]`: the weight gradient of a linear layer (`dW += dYᵀ · X`).
    static func accumulateTransposedProduct(
        _ a: UnsafePointer<Float>, strideA: Int, _ b: UnsafePointer<Float>, strideB: Int,
        rows m: Int, aColumns n: Int, bColumns k: Int,
        into c: UnsafeMutablePointer<Float>, strideC: Int, scale: Float = 1, pool: ComputePool
    ) {
        guard m > 0, n > 0, k > 0 else { return }
        // Tasks own disjoint rows of c (columns of a), so no two tasks write the same element.
        let tasks = min(n, pool.width * 4)
        pool.run(tasks: tasks) { task in
            var column = task
            while column < n {
                let out = c + column * strideC
                for row in 0..<m {
                    let factor = scale * a[row * strideA + column]
                    if factor == 0 { continue }
                    let source = b + row * strideB
                    for inner in 0..<k { out[inner] += factor * source[inner] }
                }
                column += tasks
            }
        }
    }
}
