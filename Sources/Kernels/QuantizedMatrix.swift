import CKernels
import Foundation

/// A linear layer's weight matrix kept block-quantized (the ggml formats: Q8_0, Q4_0, Q4_K, …) and
/// multiplied with integer dot products, without ever dequantizing the whole matrix.
///
/// Every weight is `scale[b] * Float(Int32(code) - zeroPoint) + offset[b]` for the sub-block `b` of
/// `subBlockSize` consecutive values of its row. At load the codes are repacked into panels of 16 rows
/// (rows zero-padded to a multiple of 32) laid out for `vpdpbusd`: one 64-byte vector holds 4
/// consecutive codes of each of the 16 rows, so one instruction with 4 broadcast activation bytes
/// yields 16 outputs' partial dot products. Codes of at most 4 bits are stored two per byte. Scales
/// and offsets are kept as fp16 when every one of them is exactly an fp16 value (true for the
/// non-K ggml types, whose scales are fp16 in the file), else as fp32; so Q8_0, Q4_0 and Q4_1 take
/// exactly the bytes of the GGUF tensor (when the row count is a multiple of 32 and the number of
/// 32-column groups is even; otherwise panels are padded by up to 31 rows and 64 bytes).
///
/// `multiply` quantizes each activation row per 32 values to int8 (scale = amax/127, round to nearest
/// even, as llama.cpp's q8_0 activations) with the per-sub-block sums the zero-point and offset
/// corrections need, then runs the AVX512-VNNI kernel, the AVX-VNNI (256-bit) kernel, or the portable
/// Swift kernel over the panels. All give bitwise equal results: the integer parts are exact and the
/// float operations are the same in the same order. A row's result never depends on the other rows of
/// the batch. (No AMX-INT8 path: the development machines have no AMX to test one on.)
public final class QuantizedMatrix: LinearLayer, @unchecked Sendable {
    /// How codes map to weights: `scale[b] * Float(Int32(code) - zeroPoint) + offset[b]` per sub-block.
    public struct Layout: Sendable, Equatable, CustomStringConvertible {
        /// Consecutive values of a row sharing one scale (and offset): 16 or 32.
        public var subBlockSize: Int
        /// Bits per code, 2...8; codes are unsigned, `0..<(1 << bits)`.
        public var bits: Int
        /// Subtracted from every code before scaling.
        public var zeroPoint: Int32
        /// Whether each sub-block adds an offset (ggml's "min") after scaling.
        public var hasOffset: Bool

        /// A layout; `subBlockSize` must be 16 or 32 and `bits` in 2...8.
        public init(subBlockSize: Int, bits: Int, zeroPoint: Int32, hasOffset: Bool) {
            self.subBlockSize = subBlockSize
            self.bits = bits
            self.zeroPoint = zeroPoint
            self.hasOffset = hasOffset
        }

        /// ggml Q8_0: 32 signed 8-bit values per fp16 scale (codes are the values + 128).
        public static let q8_0 = Layout(subBlockSize: 32, bits: 8, zeroPoint: 128, hasOffset: false)
        /// ggml Q4_0: 32 4-bit codes, zero point 8, one fp16 scale.
        public static let q4_0 = Layout(subBlockSize: 32, bits: 4, zeroPoint: 8, hasOffset: false)
        /// ggml Q4_1: 32 4-bit codes with an fp16 scale and an fp16 minimum.
        public static let q4_1 = Layout(subBlockSize: 32, bits: 4, zeroPoint: 0, hasOffset: true)
        /// ggml Q5_0: 32 5-bit codes, zero point 16, one fp16 scale.
        public static let q5_0 = Layout(subBlockSize: 32, bits: 5, zeroPoint: 16, hasOffset: false)
        /// ggml Q5_1: 32 5-bit codes with an fp16 scale and an fp16 minimum.
        public static let q5_1 = Layout(subBlockSize: 32, bits: 5, zeroPoint: 0, hasOffset: true)
        /// ggml Q2_K: 2-bit codes, a scale and a minimum per 16 values.
        public static let q2_K = Layout(subBlockSize: 16, bits: 2, zeroPoint: 0, hasOffset: true)
        /// ggml Q3_K: 3-bit codes, zero point 4, a scale per 16 values.
        public static let q3_K = Layout(subBlockSize: 16, bits: 3, zeroPoint: 4, hasOffset: false)
        /// ggml Q4_K: 4-bit codes, a scale and a minimum per 32 values.
        public static let q4_K = Layout(subBlockSize: 32, bits: 4, zeroPoint: 0, hasOffset: true)
        /// ggml Q5_K: 5-bit codes, a scale and a minimum per 32 values.
        public static let q5_K = Layout(subBlockSize: 32, bits: 5, zeroPoint: 0, hasOffset: true)
        /// ggml Q6_K: 6-bit codes, zero point 32, a scale per 16 values.
        public static let q6_K = Layout(subBlockSize: 16, bits: 6, zeroPoint: 32, hasOffset: false)

        /// `{subBlockSize, bits, zeroPoint, offset?}`, for diagnostics.
        public var description: String {
            "{\(subBlockSize), \(bits) bits, zero point \(zeroPoint)\(hasOffset ? ", offset" : "")}"
        }
    }

    /// Output features.
    public let rows: Int
    /// Input features (a multiple of 32).
    public let columns: Int
    /// How codes map to weights.
    public let layout: Layout
    /// Bytes of packed storage (panels, scales and offsets).
    public let byteCount: Int

    /// Rows rounded up to a multiple of 32 (kernels always work on two 16-row panels).
    let paddedRows: Int
    /// Two codes per byte (codes of at most 4 bits).
    let nibbles: Bool
    /// Scales and offsets stored as fp16 (all exactly representable) instead of fp32.
    let halfScales: Bool
    /// Bytes from one 16-row panel to the next.
    let panelBytes: Int
    /// Code bytes of one group of 32 columns in a panel (512, or 256 for nibbles).
    let codeBytes: Int
    /// Bytes of one scale or offset vector (16 rows; fp16 or fp32).
    let vectorBytes: Int
    /// Bytes of one group in a panel: codes, scale vectors and offset vectors.
    let groupBytes: Int
    /// The panels; immutable after init, so concurrent reads are safe.
    let storage: UnsafeMutableRawPointer

    /// Packs a matrix supplied one row at a time.
    ///
    /// `fill(row, codes, scales, offsets)` writes one weight row: `columns` codes, and
    /// `columns / subBlockSize` scales and offsets (offsets are ignored when `!layout.hasOffset`).
    /// `columns` must be a positive multiple of 32. Codes are masked to `layout.bits` bits. With a
    /// `pool`, rows are filled by its workers, 16-row panels per task, so `fill` is then called
    /// concurrently for different rows and must be safe for that (a pure decoder of file bytes is);
    /// without one, rows are filled in order on the calling thread.
    public init(
        rows: Int, columns: Int, layout: Layout, pool: ComputePool? = nil,
        fill: (Int, UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    ) {
        precondition(rows > 0 && columns > 0 && columns % 32 == 0, "quantized matrices need a positive multiple of 32 columns")
        precondition(layout.subBlockSize == 16 || layout.subBlockSize == 32, "sub-blocks hold 16 or 32 values")
        precondition((2...8).contains(layout.bits), "codes have 2 to 8 bits")
        self.rows = rows
        self.columns = columns
        self.layout = layout
        let paddedRows = (rows + 31) / 32 * 32
        let nibbles = layout.bits <= 4
        let codeBytes = nibbles ? 256 : 512
        self.paddedRows = paddedRows
        self.nibbles = nibbles
        self.codeBytes = codeBytes
        let panels = paddedRows / 16
        let groups = columns / 32
        let subBlocks = columns / layout.subBlockSize

        // Codes go straight into a buffer of panels × groups × codeBytes; scales and offsets are collected
        // in fp32 first because their storage width depends on all of them.
        let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: panels * groups * codeBytes)
        defer { codes.deallocate() }
        codes.initialize(repeating: 0, count: panels * groups * codeBytes)
        var scales = [Float](repeating: 0, count: paddedRows * subBlocks)
        var offsets = [Float](repeating: 0, count: layout.hasOffset ? paddedRows * subBlocks : 0)
        let mask = UInt8(truncatingIfNeeded: (1 << layout.bits) - 1)
        scales.withUnsafeMutableBufferPointer { scales in
            offsets.withUnsafeMutableBufferPointer { offsets in
                // Rows of panels [first, end): each panel's code bytes, scales and offsets belong to its rows
                // only, so tasks over disjoint panels write disjoint memory.
                func fillPanels(_ panelRange: Range<Int>) {
                    let rowCodes = UnsafeMutablePointer<UInt8>.allocate(capacity: columns)
                    let rowScales = UnsafeMutablePointer<Float>.allocate(capacity: subBlocks)
                    let rowOffsets = UnsafeMutablePointer<Float>.allocate(capacity: subBlocks)
                    defer { rowCodes.deallocate(); rowScales.deallocate(); rowOffsets.deallocate() }
                    for row in (panelRange.lowerBound * 16)..<min(rows, panelRange.upperBound * 16) {
                        rowCodes.initialize(repeating: 0, count: columns)
                        rowScales.initialize(repeating: 0, count: subBlocks)
                        rowOffsets.initialize(repeating: 0, count: subBlocks)
                        fill(row, rowCodes, rowScales, rowOffsets)
                        let panel = codes + (row / 16) * groups * codeBytes
                        let lane = row % 16
                        for column in 0..<columns {
                            let code = rowCodes[column] & mask
                            let group = panel + (column / 32) * codeBytes, within = column % 32
                            if nibbles {
                                // Vector h of a group: low nibbles are columns 4h..4h+3, high ones 16+4h..16+4h+3.
                                group[((within % 16) / 4) * 64 + lane * 4 + within % 4] |= code << (4 * (within / 16))
                            } else {
                                group[(within / 4) * 64 + lane * 4 + within % 4] = code
                            }
                        }
                        for block in 0..<subBlocks {
                            scales[row * subBlocks + block] = rowScales[block]
                            if layout.hasOffset { offsets[row * subBlocks + block] = rowOffsets[block] }
                        }
                    }
                }
                let usedPanels = (rows + 15) / 16
                guard let pool, usedPanels > 1 else {
                    fillPanels(0..<usedPanels)
                    return
                }
                let taskCount = min(usedPanels, pool.width * 8)
                pool.run(tasks: taskCount) { task in
                    fillPanels((usedPanels * task / taskCount)..<(usedPanels * (task + 1) / taskCount))
                }
            }
        }

        halfScales = scales.allSatisfy { Half.exactBits($0) != nil } && offsets.allSatisfy { Half.exactBits($0) != nil }
        vectorBytes = 16 * (halfScales ? 2 : 4)
        groupBytes = codeBytes + (32 / layout.subBlockSize) * vectorBytes * (layout.hasOffset ? 2 : 1)
        panelBytes = (groups * groupBytes + 63) / 64 * 64
        byteCount = panels * panelBytes
        storage = .allocate(byteCount: byteCount, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        for panel in 0..<panels {
            let destination = storage + panel * panelBytes
            for group in 0..<groups {
                (destination + codeOffset(group: group)).copyMemory(
                    from: codes + (panel * groups + group) * codeBytes, byteCount: codeBytes)
            }
            for lane in 0..<16 {
                let row = panel * 16 + lane
                for block in 0..<subBlocks {
                    let scale = scales[row * subBlocks + block]
                    let offset = layout.hasOffset ? offsets[row * subBlocks + block] : 0
                    let scalePosition = vectorOffset(block: block, offsets: false)
                    let offsetPosition = layout.hasOffset ? vectorOffset(block: block, offsets: true) : 0
                    if halfScales {
                        destination.storeBytes(of: Half.exactBits(scale)!, toByteOffset: scalePosition + lane * 2, as: UInt16.self)
                        if layout.hasOffset {
                            destination.storeBytes(of: Half.exactBits(offset)!, toByteOffset: offsetPosition + lane * 2, as: UInt16.self)
                        }
                    } else {
                        destination.storeBytes(of: scale, toByteOffset: scalePosition + lane * 4, as: Float.self)
                        if layout.hasOffset {
                            destination.storeBytes(of: offset, toByteOffset: offsetPosition + lane * 4, as: Float.self)
                        }
                    }
                }
            }
        }
    }

    /// Byte offset inside a panel of group `group`'s codes. Groups are stored in pairs (64 columns:
    /// both groups' codes, then their scale vectors, then their offset vectors) so that any run of
    /// columns is one contiguous, 64-byte aligned stretch; see `q3e_q8_weights` in CKernels.h.
    @inline(__always)
    func codeOffset(group: Int) -> Int {
        (group >> 1) * 2 * groupBytes + (group & 1) * codeBytes
    }

    /// Byte offset inside a panel of the scale (or, with `offsets`, offset) vector of sub-block `block`.
    @inline(__always)
    func vectorOffset(block: Int, offsets: Bool) -> Int {
        let subBlocksPerGroup = 32 / layout.subBlockSize
        let group = block / subBlocksPerGroup
        let paired = (group | 1) < columns / 32 ? 2 : 1  // a final odd group is alone in its pair
        let vectorsPerGroup = subBlocksPerGroup * vectorBytes
        return (group >> 1) * 2 * groupBytes + paired * codeBytes + (offsets ? paired * vectorsPerGroup : 0)
            + (group & 1) * vectorsPerGroup + (block % subBlocksPerGroup) * vectorBytes
    }

    deinit { storage.deallocate() }

    /// The kernel `multiply` runs on: AVX512-VNNI where the CPU has it, else AVX-VNNI (256-bit), else
    /// portable Swift. `precision` has no effect (activations are always quantized to int8).
    public func kernel(for precision: Precision, features: CPUFeatures = .usable) -> KernelPath {
        if features.hasAVX512 && features.contains(.avx512vnni) { return .avx512VNNI }
        if features.contains([.avx2, .fma, .f16c, .avxVNNI]) { return .avxVNNI }
        return .portable
    }

    /// `output[m×rows] = input[m×columns] · Wᵀ`, split across the pool. `precision` has no effect.
    public func multiply(
        _ input: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>,
        precision: Precision, features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) {
        multiply(input, rows: m, into: output, kernel: Kernel(kernel(for: precision, features: features)),
                 features: features, pool: pool)
    }

    /// The implementations `multiply` can run (one more than `KernelPath` shows: the EVEX twin of the
    /// AVX-VNNI kernel, which tests run on AVX-512 machines).
    enum Kernel {
        case avx512VNNI, avxVNNI, avxVNNIOnAVX512, portable

        init(_ path: KernelPath) {
            switch path {
            case .avx512VNNI: self = .avx512VNNI
            case .avxVNNI: self = .avxVNNI
            default: self = .portable
            }
        }
    }

    /// `multiply` on a given kernel (which the CPU must support). `features` picks the activation quantizer.
    func multiply(
        _ input: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>, kernel: Kernel,
        features: CPUFeatures, pool: ComputePool
    ) {
        guard m > 0 else { return }
        let activations = QuantizedActivations(input, rows: m, columns: columns, layout: layout, features: features, pool: pool)
        defer { activations.deallocate() }

        // Tasks: blocks of output columns × blocks of rows. A task reads its columns' weights from memory
        // once per row block; its row tiles then reuse them from cache. Row blocks are as tall as
        // possible while a block's activations (k bytes per row) stay well inside L2.
        let maxRowBlock = max(6, (256 << 10) / columns)
        let rowBlocks = (m + maxRowBlock - 1) / maxRowBlock
        let rowBlock = (m + rowBlocks - 1) / rowBlocks
        // About four tasks per thread (balance on a busy machine), of at least 64 columns; wider blocks
        // matter for small m, where each task's first stretch of weights arrives unprefetched.
        let columnBlock = max(64, (rows / (4 * pool.width * rowBlocks) + 31) / 32 * 32)
        let columnBlocks = (rows + columnBlock - 1) / columnBlock
        var weights = q3e_q8_weights(
            panels: UnsafePointer(storage.assumingMemoryBound(to: UInt8.self)), k: Int64(columns),
            panel_bytes: Int64(panelBytes), sub_block: Int32(layout.subBlockSize), nibbles: nibbles ? 1 : 0,
            half_scales: halfScales ? 1 : 0, has_offset: layout.hasOffset ? 1 : 0)
        withUnsafePointer(to: &weights) { weights in
            pool.run(tasks: columnBlocks * rowBlocks) { task in
                let columnStart = (task % columnBlocks) * columnBlock
                let columnEnd = min(rows, columnStart + columnBlock)
                let rowStart = (task / columnBlocks) * rowBlock
                let rowCount = min(m, rowStart + rowBlock) - rowStart
                let out = output + rowStart * rows
                var x = activations.cView(fromRow: rowStart)
                let (m, begin, end, stride) = (Int64(rowCount), Int64(columnStart), Int64(columnEnd), Int64(rows))
                switch kernel {
                case .avx512VNNI: q3e_gemm_q8_avx512vnni(weights, &x, m, begin, end, out, stride)
                case .avxVNNI: q3e_gemm_q8_avxvnni(weights, &x, m, begin, end, out, stride)
                case .avxVNNIOnAVX512: q3e_gemm_q8_avxvnni_evex(weights, &x, m, begin, end, out, stride)
                case .portable:
                    ReferenceQuantizedGEMM.multiply(self, activations, firstRow: rowStart, rows: rowCount,
                                                    columns: columnStart..<columnEnd, output: out, outputStride: rows)
                }
            }
        }
    }

    /// The weight at (`row`, `column`), decoded from the panels (for tests and diagnostics).
    public func weight(row: Int, column: Int) -> Float {
        precondition(row >= 0 && row < rows && column >= 0 && column < columns, "weight index out of range")
        let panel = UnsafeRawPointer(storage + (row / 16) * panelBytes)
        let lane = row % 16, within = column % 32
        let codes = codeOffset(group: column / 32)
        let code: UInt8
        if nibbles {
            let byte = panel.load(fromByteOffset: codes + ((within % 16) / 4) * 64 + lane * 4 + within % 4, as: UInt8.self)
            code = within < 16 ? byte & 0x0F : byte >> 4
        } else {
            code = panel.load(fromByteOffset: codes + (within / 4) * 64 + lane * 4 + within % 4, as: UInt8.self)
        }
        let block = column / layout.subBlockSize
        let scale = vectorValue(panel, vectorOffset(block: block, offsets: false), lane)
        let offset = layout.hasOffset ? vectorValue(panel, vectorOffset(block: block, offsets: true), lane) : 0
        return scale * Float(Int32(code) - layout.zeroPoint) + offset
    }

    /// Lane `lane` of the scale/offset vector at byte offset `position` of a panel.
    @inline(__always)
    func vectorValue(_ panel: UnsafeRawPointer, _ position: Int, _ lane: Int) -> Float {
        if halfScales { return Half.float(fromBits: panel.load(fromByteOffset: position + lane * 2, as: UInt16.self), nan: .preserving) }
        return panel.load(fromByteOffset: position + lane * 4, as: Float.self)
    }
}
