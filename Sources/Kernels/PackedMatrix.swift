import CKernels
import Foundation

/// A linear layer's weight matrix (`rows` output features × `columns` input features, the PyTorch
/// `nn.Linear` layout), repacked once at load time into the panel layout the kernels stream.
///
/// `multiply` is the model's GEMM: every linear layer of an fp32/bf16 checkpoint runs through it (the
/// AVX-512 / AVX512-BF16 / AMX C kernels, or `ReferenceGEMM` elsewhere). `RowMajorGEMM` is the other fp32
/// GEMM, plain Swift over unpacked row-major operands, for matrices that are not packed once and
/// multiplied many times (similarity scores, trainable weights); `QuantizedMatrix` holds ggml-quantized
/// weights.
///
/// Panels hold 16 weight rows each (zero-padded to a multiple of 32 rows so kernels always work on two
/// panels). bf16 weights keep their dtype: `bfloat16Pairs` stores, for each pair of columns, the 16 rows'
/// two values interleaved — one 64-byte vector per pair, exactly what `vdpbf16ps` consumes and what the
/// fp32 kernel widens exactly with a shift. fp32 weights use `float32`, 16 values per column.
public final class PackedMatrix: LinearLayer, @unchecked Sendable {
    /// Storage format of the panels.
    public enum Format: Sendable {
        /// bf16 values, column pairs interleaved (requires an even column count).
        case bfloat16Pairs
        /// fp32 values, one 16-row vector per column.
        case float32
    }

    /// Output features.
    public let rows: Int
    /// Input features.
    public let columns: Int
    /// Panel format.
    public let format: Format
    /// Rows rounded up to a multiple of 32.
    let paddedRows: Int
    /// The packed panels; immutable after init, so concurrent reads are safe.
    let storage: UnsafeMutableRawPointer
    /// Bytes of packed storage.
    public let byteCount: Int

    private init(rows: Int, columns: Int, format: Format) {
        precondition(rows > 0 && columns > 0, "empty weight matrix")
        precondition(format == .float32 || columns % 2 == 0, "bf16 pair panels need an even column count")
        self.rows = rows
        self.columns = columns
        self.format = format
        paddedRows = (rows + 31) / 32 * 32
        let elementSize = format == .float32 ? 4 : 2
        byteCount = paddedRows * columns * elementSize
        storage = .allocate(byteCount: byteCount, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
    }

    deinit { storage.deallocate() }

    /// Packs row-major bf16 weights as they are (no rounding: the values are copied bit for bit).
    /// `source` may be unaligned (safetensors offsets need not be).
    public convenience init(bfloat16Rows source: UnsafeRawPointer, rows: Int, columns: Int) {
        self.init(stacking: [(source, rows)], columns: columns)
    }

    /// Packs several row-major bf16 matrices with the same column count stacked on top of each other
    /// (e.g. the q, k and v projections as one matrix, so one pass over the activations feeds all three).
    public convenience init(stacking sources: [(pointer: UnsafeRawPointer, rows: Int)], columns: Int) {
        self.init(rows: sources.reduce(0) { $0 + $1.rows }, columns: columns, format: .bfloat16Pairs)
        let panels = storage.assumingMemoryBound(to: UInt16.self)
        let panelSize = columns * 16
        var row = 0
        for (source, count) in sources {
            for sourceRowIndex in 0..<count {
                let panel = panels + (row / 16) * panelSize
                let lane = row % 16
                let sourceRow = source + sourceRowIndex * columns * 2
                for pair in 0..<(columns / 2) {
                    let destination = panel + pair * 32 + lane * 2
                    destination[0] = sourceRow.loadUnaligned(fromByteOffset: pair * 4, as: UInt16.self)
                    destination[1] = sourceRow.loadUnaligned(fromByteOffset: pair * 4 + 2, as: UInt16.self)
                }
                row += 1
            }
        }
    }

    /// Packs weights supplied one fp32 row at a time: kept as fp32 (`.float32`), or rounded to bf16
    /// with round-to-nearest-even (`.bfloat16Pairs`, the fast mode for fp32/fp16 checkpoints).
    public convenience init(rows: Int, columns: Int, format: Format, row fill: (Int, UnsafeMutablePointer<Float>) -> Void) {
        self.init(rows: rows, columns: columns, format: format)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: columns)
        defer { buffer.deallocate() }
        switch format {
        case .float32:
            let panels = storage.assumingMemoryBound(to: Float.self)
            for row in 0..<rows {
                fill(row, buffer)
                let panel = panels + (row / 16) * columns * 16
                for column in 0..<columns { panel[column * 16 + row % 16] = buffer[column] }
            }
        case .bfloat16Pairs:
            let panels = storage.assumingMemoryBound(to: UInt16.self)
            for row in 0..<rows {
                fill(row, buffer)
                let panel = panels + (row / 16) * columns * 16
                for column in 0..<columns {
                    panel[(column / 2) * 32 + (row % 16) * 2 + column % 2] = BFloat16.rounding(buffer[column])
                }
            }
        }
    }

    /// The kernel that `multiply` uses for this matrix at `precision` on this CPU.
    public func kernel(for precision: Precision, features: CPUFeatures = .usable) -> KernelPath {
        switch (format, precision) {
        case (.float32, _), (.bfloat16Pairs, .float32):
            return fp32Kernel(features: features)
        case (.bfloat16Pairs, .bfloat16):
            if features.contains([.amxTile, .amxBF16]) && columns % 32 == 0 && AMX.isPermitted { return .amxBF16 }
            return features.hasAVX512 && features.contains(.avx512bf16) ? .avx512BF16 : .portable
        }
    }

    /// The fp32-activation kernel for this CPU: AVX-512F, else AVX2 + FMA, else the Swift reference.
    private func fp32Kernel(features: CPUFeatures) -> KernelPath {
        #if arch(x86_64)
        if features.hasAVX512 { return .avx512 }
        if features.contains([.avx2, .fma]) { return .avx2 }
        #endif
        return .portable
    }

    /// `output[m×rows] = input[m×columns] · Wᵀ`, split across the pool.
    ///
    /// At `.bfloat16` precision the activations are first rounded to bf16 (fast mode); fp32 weights
    /// (`.float32` panels) are always multiplied in fp32.
    public func multiply(
        _ input: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>,
        precision: Precision, features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) {
        guard m > 0 else { return }
        let path = kernel(for: precision, features: features)
        let useBF16Activations = format == .bfloat16Pairs && precision == .bfloat16
        var activations: UnsafeMutablePointer<UInt16>?
        if useBF16Activations {
            let converted = UnsafeMutablePointer<UInt16>.allocate(capacity: m * columns)
            BFloat16.round(input, into: converted, count: m * columns, features: features, pool: pool)
            activations = converted
        }
        defer { activations?.deallocate() }

        // Tasks: blocks of 64 output columns × blocks of rows; weights of a column block stay in L2
        // while its rows stream past.
        let columnBlock = 64
        let columnBlocks = (rows + columnBlock - 1) / columnBlock
        let rowBlock = columnBlocks >= pool.width * 4 ? 96 : 24
        let rowBlocks = (m + rowBlock - 1) / rowBlock
        let bf16Input = activations.map { UnsafePointer($0) }
        pool.run(tasks: columnBlocks * rowBlocks) { task in
            let columnStart = (task % columnBlocks) * columnBlock
            let columnEnd = min(rows, columnStart + columnBlock)
            let rowStart = (task / columnBlocks) * rowBlock
            let rowCount = min(m, rowStart + rowBlock) - rowStart
            let out = output + rowStart * rows
            switch (path, format) {
            case (.avx512, .float32):
                q3e_gemm_f32_f32w_avx512(input + rowStart * columns, Int64(rowCount), Int64(columns),
                                         storage.assumingMemoryBound(to: Float.self),
                                         Int64(columnStart), Int64(columnEnd), out, Int64(rows))
            case (.avx512, .bfloat16Pairs):
                q3e_gemm_f32_bf16w_avx512(input + rowStart * columns, Int64(rowCount), Int64(columns),
                                          storage.assumingMemoryBound(to: UInt16.self),
                                          Int64(columnStart), Int64(columnEnd), out, Int64(rows))
            case (.avx2, .float32):
                q3e_gemm_f32_f32w_avx2(input + rowStart * columns, Int64(rowCount), Int64(columns),
                                       storage.assumingMemoryBound(to: Float.self),
                                       Int64(columnStart), Int64(columnEnd), out, Int64(rows))
            case (.avx2, .bfloat16Pairs):
                q3e_gemm_f32_bf16w_avx2(input + rowStart * columns, Int64(rowCount), Int64(columns),
                                        storage.assumingMemoryBound(to: UInt16.self),
                                        Int64(columnStart), Int64(columnEnd), out, Int64(rows))
            case (.amxBF16, _):
                q3e_gemm_bf16_amx(bf16Input! + rowStart * columns, Int64(rowCount), Int64(columns),
                                  storage.assumingMemoryBound(to: UInt16.self),
                                  Int64(columnStart), Int64(columnEnd), out, Int64(rows))
            case (.avx512BF16, _):
                q3e_gemm_bf16_avx512bf16(bf16Input! + rowStart * columns, Int64(rowCount), Int64(columns),
                                         storage.assumingMemoryBound(to: UInt16.self),
                                         Int64(columnStart), Int64(columnEnd), out, Int64(rows))
            default:
                if let bf16Input {
                    ReferenceGEMM.bfloat16(bf16Input + rowStart * columns, rows: rowCount, matrix: self,
                                           columns: columnStart..<columnEnd, output: out, outputStride: rows)
                } else {
                    ReferenceGEMM.float32(input + rowStart * columns, rows: rowCount, matrix: self,
                                          columns: columnStart..<columnEnd, output: out, outputStride: rows)
                }
            }
        }
    }
}

/// Intel AMX state for this process.
enum AMX {
    /// Linux hands out AMX tile data only on request (arch_prctl); asked once, on first use.
    static let isPermitted: Bool = q3e_request_amx_permission() == 1
}
