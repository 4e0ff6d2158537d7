import Foundation
import Kernels
import ModelFormats

/// Packs checkpoint tensors `[rows_i, columns]`, stacked in order, for the kernels.
///
/// bf16 weights are packed as they are (same bytes, new order; never widened to fp32). Other dtypes
/// are kept in fp32 for exact mode, or rounded to bf16 for fast mode. After packing, the tensors' pages
/// of the memory-mapped file are handed back to the kernel, so resident memory holds one copy of the
/// weights, not two.
func pack(_ tensors: [Tensor], precision: Precision) -> PackedMatrix {
    let columns = tensors[0].shape.count > 1 ? tensors[0].shape[1] : 1
    let packed: PackedMatrix
    if tensors.allSatisfy({ $0.dataType == .bfloat16 }) && columns % 2 == 0 {
        packed = PackedMatrix(stacking: tensors.map { ($0.data.baseAddress!, $0.shape[0]) }, columns: columns)
    } else {
        var owners: [(tensor: Tensor, row: Int)] = []
        for tensor in tensors { for row in 0..<tensor.shape[0] { owners.append((tensor, row)) } }
        let format: PackedMatrix.Format = precision == .bfloat16 && columns % 2 == 0 ? .bfloat16Pairs : .float32
        packed = PackedMatrix(rows: owners.count, columns: columns, format: format) { row, destination in
            let (tensor, tensorRow) = owners[row]
            tensor.copyElements(from: tensorRow * columns, count: columns, into: destination)
        }
    }
    tensors.forEach { releasePages(of: $0.data) }
    return packed
}

/// Packs checkpoint tensors as `pack(_:precision:)` does, with a LoRA adapter's update merged into the
/// tensors it adapts: W' = W + scale · B · A, formed in fp32 from the exact fp32 value of every stored
/// element, then kept in fp32 (exact mode) or rounded to bf16 (fast mode). A bf16 checkpoint tensor that
/// would otherwise be packed as its raw bytes takes this path too, since its merged values are no longer
/// bf16 numbers. With no adapted tensor among `tensors` this is exactly `pack(_:precision:)`.
func pack(_ tensors: [Tensor], precision: Precision, adapter: LoRAAdapter?) -> PackedMatrix {
    let factors = tensors.map { adapter?.factors(forWeight: $0.name) }
    guard factors.contains(where: { $0 != nil }) else { return pack(tensors, precision: precision) }
    let columns = tensors[0].shape.count > 1 ? tensors[0].shape[1] : 1
    var owners: [(tensor: Tensor, row: Int, factors: LoRAAdapter.Factors?)] = []
    for (tensor, factors) in zip(tensors, factors) {
        for row in 0..<tensor.shape[0] { owners.append((tensor, row, factors)) }
    }
    let format: PackedMatrix.Format = precision == .bfloat16 && columns % 2 == 0 ? .bfloat16Pairs : .float32
    let packed = PackedMatrix(rows: owners.count, columns: columns, format: format) { row, destination in
        let (tensor, tensorRow, factors) = owners[row]
        tensor.copyElements(from: tensorRow * columns, count: columns, into: destination)
        factors?.addDelta(row: tensorRow, to: destination)
    }
    tensors.forEach { releasePages(of: $0.data) }
    return packed
}

/// Drops the resident pages that lie wholly inside `bytes` of a mapped file (they are re-read from the
/// file if ever touched again, which the packed model never does).
func releasePages(of bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (Int(bitPattern: base) + pageSize - 1) / pageSize * pageSize
    let end = (Int(bitPattern: base) + bytes.count) / pageSize * pageSize
    guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(pointer, end - start, Int32(MADV_DONTNEED))
}

/// A classification head: one row per label, applied to the final-norm state of the last token.
public struct Qwen3Classifier: Sendable {
    /// `labels.count × hidden`.
    public let rows: WeightRows
    /// The label of each row (llama.cpp writes `["yes", "no"]` for Qwen3 rerankers).
    public let labels: [String]

    /// A head with one row per label.
    public init(rows: WeightRows, labels: [String]) {
        self.rows = rows
        self.labels = labels
    }
}

/// The weights of one decoder layer.
public struct Qwen3LayerWeights: Sendable {
    /// RMSNorm before attention.
    public let inputNorm: [Float]
    /// Query, key and value projections stacked: `(heads + 2·kvHeads)·headDim × hidden`.
    public let queryKeyValueProjection: any LinearLayer
    /// Output projection, `hidden × (heads·headDim)`.
    public let outputProjection: any LinearLayer
    /// Per-head RMSNorm of queries (`headDim`).
    public let queryNorm: [Float]
    /// Per-head RMSNorm of keys (`headDim`).
    public let keyNorm: [Float]
    /// RMSNorm before the MLP.
    public let postAttentionNorm: [Float]
    /// SwiGLU gate and up projections stacked: `2·intermediate × hidden`.
    public let gateUpProjection: any LinearLayer
    /// MLP down projection, `hidden × intermediate`.
    public let downProjection: any LinearLayer

    /// A layer from its parts.
    public init(
        inputNorm: [Float], queryKeyValueProjection: any LinearLayer, outputProjection: any LinearLayer,
        queryNorm: [Float], keyNorm: [Float], postAttentionNorm: [Float], gateUpProjection: any LinearLayer,
        downProjection: any LinearLayer
    ) {
        self.inputNorm = inputNorm
        self.queryKeyValueProjection = queryKeyValueProjection
        self.outputProjection = outputProjection
        self.queryNorm = queryNorm
        self.keyNorm = keyNorm
        self.postAttentionNorm = postAttentionNorm
        self.gateUpProjection = gateUpProjection
        self.downProjection = downProjection
    }
}

/// All weights of a Qwen3 model, bound by name from a safetensors checkpoint and checked against the
/// configuration's shapes.
public struct Qwen3Weights: Sendable {
    /// The token embedding table, `vocab × hidden`, left memory-mapped in its file encoding; rows are
    /// converted on demand.
    public let tokenEmbedding: WeightRows
    /// Decoder layers in order.
    public let layers: [Qwen3LayerWeights]
    /// The final RMSNorm.
    public let finalNorm: [Float]
    /// The LM head (`vocab × hidden`): a separate `lm_head.weight`, or the embedding table when tied.
    /// Only individual rows are ever read from it.
    public let languageModelHead: WeightRows?
    /// A classification head that replaces the LM head in reranker GGUFs converted by llama.cpp:
    /// `cls_out` holds just the LM-head rows of its labels (`["yes", "no"]`).
    public let classifier: Qwen3Classifier?

    /// Weights assembled by a loader (see the safetensors and GGUF initialisers).
    public init(tokenEmbedding: WeightRows, layers: [Qwen3LayerWeights], finalNorm: [Float],
                languageModelHead: WeightRows?, classifier: Qwen3Classifier?) {
        self.tokenEmbedding = tokenEmbedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.languageModelHead = languageModelHead
        self.classifier = classifier
    }

    /// Binds and packs the weights of `checkpoint` for `configuration` at `precision`. Accepts names with and without the
    /// `model.` prefix (embedding checkpoints were saved from the bare model).
    ///
    /// - Parameter adapter: a LoRA adapter merged into the projections it adapts while they are packed
    ///   (checked against `configuration` first); nil leaves every weight exactly as stored.
    public init(checkpoint: SafetensorsCheckpoint, configuration c: Qwen3Configuration, precision: Precision,
                adapter: LoRAAdapter? = nil) throws {
        try adapter?.validate(against: c)
        let prefix = Qwen3TensorName.huggingFacePrefix(of: checkpoint)
        func require(_ name: Qwen3TensorName) throws -> Tensor {
            try checkpoint.requireTensor(named: name.huggingFaceName(prefix: prefix), shape: name.shape(for: c))
        }
        func matrix(_ index: Int, _ parts: Qwen3TensorName.LayerWeight...) throws -> any LinearLayer {
            pack(try parts.map { try require(.layer(index, $0)) }, precision: precision, adapter: adapter)
        }
        tokenEmbedding = WeightRows(tensor: try require(.tokenEmbedding))
        var layers: [Qwen3LayerWeights] = []
        layers.reserveCapacity(c.layerCount)
        for index in 0..<c.layerCount {
            layers.append(Qwen3LayerWeights(
                inputNorm: try require(.layer(index, .inputNorm)).floats(),
                queryKeyValueProjection: try matrix(index, .query, .key, .value),
                outputProjection: try matrix(index, .output),
                queryNorm: try require(.layer(index, .queryNorm)).floats(),
                keyNorm: try require(.layer(index, .keyNorm)).floats(),
                postAttentionNorm: try require(.layer(index, .postAttentionNorm)).floats(),
                gateUpProjection: try matrix(index, .gate, .up),
                downProjection: try matrix(index, .down)
            ))
        }
        self.layers = layers
        finalNorm = try require(.finalNorm).floats()
        if checkpoint.tensor(named: Qwen3TensorName.languageModelHead.huggingFaceName(prefix: prefix)) != nil {
            languageModelHead = WeightRows(tensor: try require(.languageModelHead))
        } else if c.tieWordEmbeddings {
            languageModelHead = tokenEmbedding
        } else {
            languageModelHead = nil
        }
        classifier = nil
    }
}
