/// The Swift reference of `TransposedProducts`' C kernels `q3e_product_avx2` and `q3e_product_avx512`
/// (see `ReferenceGEMM` for the naming scheme): the same blocking and packing, 4 × 16 register tiles of
/// Swift SIMD, run on CPUs without AVX2 + FMA (the `.portable` path) and compared with the C kernels in
/// the tests. It multiplies then adds where the C kernels fuse, so it agrees within rounding.
enum ReferenceProducts {
    static let tileRows = 4
    static let tileColumns = 16

    /// `C[rows, columns] (+)= A[rows, 0..<k] · B[0..<k, columns]`.
    static func block(_ operands: ProductOperands, rows: Range<Int>, columns: Range<Int>) {
        let (mr, nr) = (tileRows, tileColumns)
        let k = operands.inner
        let innerBlock = TransposedProducts.innerBlock
        let rowBlock = TransposedProducts.rowBlock
        let columnBlock = TransposedProducts.columnBlock
        let kcMax = min(innerBlock, k)
        let ncMax = (min(columnBlock, columns.count) + nr - 1) / nr * nr
        let mcMax = (min(rowBlock, rows.count) + mr - 1) / mr * mr
        let packedRight = UnsafeMutablePointer<Float>.allocate(capacity: kcMax * ncMax)
        let packedLeft = UnsafeMutablePointer<Float>.allocate(capacity: mcMax * kcMax)
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: mr * nr)
        defer {
            packedRight.deallocate()
            packedLeft.deallocate()
            tile.deallocate()
        }
        let ldc = operands.outputStride
        var jc = columns.lowerBound
        while jc < columns.upperBound {
            let nc = min(columnBlock, columns.upperBound - jc)
            var pc = 0
            while pc < k {
                let kc = min(innerBlock, k - pc)
                packRight(operands, inner: pc, innerCount: kc, column: jc, columnCount: nc, width: nr, into: packedRight)
                // After the first inner block the partial sums are in C: continue their chains.
                let load = operands.accumulate || pc > 0
                // One sliver of columns (a LoRA rank of 16, say): each value of A is used once, so copying
                // it would cost as much as the products; full row slivers read A in place instead.
                let inPlace = nc <= nr && !operands.roundsLeft
                var ic = rows.lowerBound
                while ic < rows.upperBound {
                    let mc = min(rowBlock, rows.upperBound - ic)
                    if !inPlace {
                        packLeft(operands, row: ic, rowCount: mc, inner: pc, innerCount: kc, height: mr, into: packedLeft)
                    }
                    var jr = 0
                    while jr < nc {
                        let validColumns = min(nr, nc - jr)
                        let b = UnsafePointer(packedRight + jr * kc)
                        var ir = 0
                        while ir < mc {
                            let validRows = min(mr, mc - ir)
                            var a = UnsafePointer(packedLeft + ir * kc)
                            var (rs, ps) = (1, mr)
                            if inPlace && validRows == mr {
                                a = operands.left + (ic + ir) * operands.leftRowStride + pc * operands.leftInnerStride
                                (rs, ps) = (operands.leftRowStride, operands.leftInnerStride)
                            } else if inPlace {
                                packLeft(operands, row: ic + ir, rowCount: validRows, inner: pc, innerCount: kc,
                                         height: mr, into: packedLeft)
                                a = UnsafePointer(packedLeft)
                            }
                            let c = operands.output + (ic + ir) * ldc + jc + jr
                            if validRows == mr && validColumns == nr {
                                multiplyTile(kc, a, rs, ps, b, c, ldc, load: load)
                            } else {
                                // Edge tile: the same operations on a copy (padding rows and columns are
                                // zeros in the packed operands and are not stored).
                                for r in 0..<mr {
                                    for t in 0..<nr {
                                        tile[r * nr + t] = load && r < validRows && t < validColumns ? c[r * ldc + t] : 0
                                    }
                                }
                                multiplyTile(kc, a, rs, ps, b, tile, nr, load: true)
                                for r in 0..<validRows {
                                    for t in 0..<validColumns { c[r * ldc + t] = tile[r * nr + t] }
                                }
                            }
                            ir += mr
                        }
                        jr += nr
                    }
                    ic += mc
                }
                pc += kc
            }
            jc += nc
        }
    }

    /// One 4 × 16 register tile over `kc` steps: `c(r, t) = c(r, t) + A(r, p) · b[p][t]`, p ascending,
    /// with `A(r, p) = a[r · rs + p · ps]` (packed slivers: rs = 1, ps = 4).
    @inline(__always)
    static func multiplyTile(
        _ kc: Int, _ a: UnsafePointer<Float>, _ rs: Int, _ ps: Int, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, load: Bool
    ) {
        let vector = MemoryLayout<SIMD16<Float>>.size
        var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
        let rc = UnsafeMutableRawPointer(c)
        let floatSize = MemoryLayout<Float>.stride
        if load {
            c0 = rc.loadUnaligned(as: SIMD16<Float>.self)
            c1 = rc.loadUnaligned(fromByteOffset: ldc * floatSize, as: SIMD16<Float>.self)
            c2 = rc.loadUnaligned(fromByteOffset: 2 * ldc * floatSize, as: SIMD16<Float>.self)
            c3 = rc.loadUnaligned(fromByteOffset: 3 * ldc * floatSize, as: SIMD16<Float>.self)
        }
        let rb = UnsafeRawPointer(b)
        var p = 0
        while p < kc {
            let w = rb.loadUnaligned(fromByteOffset: p * vector, as: SIMD16<Float>.self)
            let x = a + p * ps
            c0 += SIMD16(repeating: x[0]) * w
            c1 += SIMD16(repeating: x[rs]) * w
            c2 += SIMD16(repeating: x[2 * rs]) * w
            c3 += SIMD16(repeating: x[3 * rs]) * w
            p += 1
        }
        rc.storeBytes(of: c0, as: SIMD16<Float>.self)
        rc.storeBytes(of: c1, toByteOffset: ldc * floatSize, as: SIMD16<Float>.self)
        rc.storeBytes(of: c2, toByteOffset: 2 * ldc * floatSize, as: SIMD16<Float>.self)
        rc.storeBytes(of: c3, toByteOffset: 3 * ldc * floatSize, as: SIMD16<Float>.self)
    }

    /// Copies `B[inner..<inner+innerCount, column..<column+columnCount]` into slivers `width` columns
    /// wide: sliver s holds, for each p, its `width` values contiguously; columns past the end are zeros.
    static func packRight(
        _ operands: ProductOperands, inner pc: Int, innerCount kc: Int, column jc: Int, columnCount nc: Int,
        width nr: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        let slivers = (nc + nr - 1) / nr
        for s in 0..<slivers {
            let j0 = jc + s * nr
            let valid = min(nr, jc + nc - j0)
            for p in 0..<kc {
                let d = destination + (s * kc + p) * nr
                let row = pc + p
                switch operands.right {
                case let .rowMajor(b, stride):
                    let source = b + row * stride + j0
                    for t in 0..<valid { d[t] = source[t] }
                case let .float32Panels(panels, columns):
                    let source = panels + (row / 16) * columns * 16 + row % 16
                    for t in 0..<valid { d[t] = source[(j0 + t) * 16] }
                case let .bfloat16Panels(panels, columns):
                    let source = panels + (row / 16) * columns * 16 + (row % 16) * 2
                    for t in 0..<valid {
                        let j = j0 + t
                        d[t] = BFloat16.widening(source[(j / 2) * 32 + j % 2])
                    }
                }
                for t in valid..<nr { d[t] = 0 }
            }
        }
    }

    /// Copies `A[row..<row+rowCount, inner..<inner+innerCount]` into slivers `height` rows high: sliver s
    /// holds, for each p, its `height` values contiguously; rows past the end are zeros.
    static func packLeft(
        _ operands: ProductOperands, row ic: Int, rowCount mc: Int, inner pc: Int, innerCount kc: Int,
        height mr: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        let slivers = (mc + mr - 1) / mr
        for s in 0..<slivers {
            let i0 = ic + s * mr
            let valid = min(mr, ic + mc - i0)
            for p in 0..<kc {
                let d = destination + (s * kc + p) * mr
                let source = operands.left + (pc + p) * operands.leftInnerStride
                for r in 0..<mr {
                    if r < valid {
                        let value = source[(i0 + r) * operands.leftRowStride]
                        d[r] = operands.roundsLeft ? BFloat16.widening(BFloat16.rounding(value)) : value
                    } else {
                        d[r] = 0
                    }
                }
            }
        }
    }
}
