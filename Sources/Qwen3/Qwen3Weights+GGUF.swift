import Foundation
import Kernels
import ModelFormats

extension Qwen3Weights {
    /// Binds the weights of a llama.cpp-style `qwen3` GGUF file (`token_embd`, `blk.N.attn_q`, ...,
    /// `output_norm`, `output` or tied, and `cls.output` for rerankers converted by llama.cpp).
    ///
    /// F32/F16/BF16 projections are packed like safetensors weights (`precision` applies); quantized
    /// ones become `QuantizedMatrix`es that keep the file's codes and run integer dot products, so
    /// memory stays close to the file size. Fused q|k|v and gate|up share one matrix when their types
    /// allow it, and run as stacked parts otherwise (Q4_K_M mixes types within a layer).
    public init(gguf file: GGUFFile, configuration c: Qwen3Configuration, precision: Precision) throws {
        /// `dimensions` in ggml order: row length first.
        func require(_ name: String, _ dimensions: [Int]) throws -> GGUFTensorInfo {
            guard let tensor = file.tensor(named: name) else {
                throw ModelFormatError.missingTensor(name: name, directory: file.path)
            }
            guard tensor.dimensions == dimensions else {
                throw ModelFormatError.shapeMismatch(path: file.path, tensor: name, expected: dimensions.reversed(),
                                                     actual: tensor.dimensions.reversed())
            }
            guard tensor.type.isSupported else {
                throw ModelFormatError.unsupportedDataType(path: file.path, tensor: name, dataType: tensor.type.name)
            }
            return tensor
        }
        /// The tensor the table names, with the configuration's shape (reversed: GGUF lists the row length first).
        func require(_ name: Qwen3TensorName) throws -> GGUFTensorInfo {
            try require(name.ggufName, name.shape(for: c).reversed())
        }
        func vector(_ name: Qwen3TensorName) throws -> [Float] {
            try file.floats(of: try require(name))
        }
        func matrix(_ index: Int, _ parts: Qwen3TensorName.LayerWeight...) throws -> any LinearLayer {
            try makeLinearLayer(try parts.map { try require(.layer(index, $0)) }, file: file, precision: precision)
        }
        let hidden = c.hiddenSize

        let tokenEmbedding = try WeightRows(gguf: file, tensor: try require(.tokenEmbedding))
        var layers: [Qwen3LayerWeights] = []
        for index in 0..<c.layerCount {
            // Every projection is checked before any is packed, so a bad file fails before the work.
            for weight in [Qwen3TensorName.LayerWeight.query, .key, .value, .output, .gate, .up, .down] {
                _ = try require(.layer(index, weight))
            }
            layers.append(Qwen3LayerWeights(
                inputNorm: try vector(.layer(index, .inputNorm)),
                queryKeyValueProjection: try matrix(index, .query, .key, .value),
                outputProjection: try matrix(index, .output),
                queryNorm: try vector(.layer(index, .queryNorm)),
                keyNorm: try vector(.layer(index, .keyNorm)),
                postAttentionNorm: try vector(.layer(index, .postAttentionNorm)),
                gateUpProjection: try matrix(index, .gate, .up),
                downProjection: try matrix(index, .down)
            ))
        }
        let head: WeightRows?
        if file.tensor(named: Qwen3TensorName.languageModelHead.ggufName) != nil {
            head = try WeightRows(gguf: file, tensor: try require(.languageModelHead))
        } else {
            head = c.tieWordEmbeddings ? tokenEmbedding : nil
        }
        var classifier: Qwen3Classifier?
        if let info = file.tensor(named: Qwen3TensorName.classifier.ggufName) {
            let labels = file.metadata["qwen3.classifier.output_labels"]?.strings ?? []
            let rows = info.dimensions.count == 2 ? info.dimensions[1] : 0
            guard rows > 0, labels.count == rows else {
                throw ModelFormatError.invalidTensor(
                    path: file.path, tensor: info.name,
                    reason: "has \(rows) rows but qwen3.classifier.output_labels names \(labels.count) labels")
            }
            classifier = Qwen3Classifier(rows: try WeightRows(gguf: file, tensor: try require(info.name, [hidden, rows])),
                                         labels: labels)
        }
        self.init(tokenEmbedding: tokenEmbedding, layers: layers, finalNorm: try vector(.finalNorm),
                  languageModelHead: head, classifier: classifier)
    }
}

extension WeightRows {
    /// Rows of a 2-D GGUF tensor of any supported type (quantized rows are dequantized exactly as the
    /// gguf Python package does).
    public init(gguf file: GGUFFile, tensor: GGUFTensorInfo) throws {
        guard tensor.dimensions.count == 2 else {
            throw ModelFormatError.invalidTensor(path: file.path, tensor: tensor.name,
                                                 reason: "expected 2 dimensions, found \(tensor.dimensions.count)")
        }
        guard tensor.type.isSupported else {
            throw ModelFormatError.unsupportedDataType(path: file.path, tensor: tensor.name, dataType: tensor.type.name)
        }
        let decode = try RowDecoder(file: file, tensor: tensor)
        self.init(rowCount: tensor.dimensions[1], rowLength: tensor.dimensions[0]) { row, destination in
            decode(row, into: destination)
        }
    }
}

/// One linear layer from GGUF tensors stacked in output order (all with the same row length).
func makeLinearLayer(_ tensors: [GGUFTensorInfo], file: GGUFFile, precision: Precision) throws -> any LinearLayer {
    let columns = tensors[0].dimensions[0]
    let floatTypes: Set<GGMLType> = [.f32, .f16, .bf16]
    if tensors.allSatisfy({ floatTypes.contains($0.type) }) {
        return pack(try tensors.map { try file.floatTensor($0) }, precision: precision)
    }
    let type = tensors[0].type
    if tensors.allSatisfy({ $0.type == type }), let affine = GGMLBlocks.affineLayout(of: type), columns % 32 == 0 {
        let layout = QuantizedMatrix.Layout(subBlockSize: affine.subBlockSize, bits: affine.bits,
                                            zeroPoint: affine.zeroPoint, hasOffset: affine.hasOffset)
        var owners: [(data: UnsafeRawPointer, row: Int)] = []
        let rowBytes = type.rowByteCount(columns)!
        for tensor in tensors {
            let base = file.data(of: tensor).baseAddress!
            for row in 0..<tensor.rows { owners.append((base, row)) }
        }
        let matrix = QuantizedMatrix(rows: owners.count, columns: columns, layout: layout, pool: .shared) { row, codes, scales, offsets in
            let (base, tensorRow) = owners[row]
            GGMLBlocks.decode(type, base + tensorRow * rowBytes, count: columns, codes: codes, scales: scales, offsets: offsets)
        }
        tensors.forEach { releasePages(of: file.data(of: $0)) }
        return matrix
    }
    if tensors.count > 1 {
        return StackedLinearLayer(try tensors.map { try makeLinearLayer([$0], file: file, precision: precision) })
    }
    // A quantized type whose rows cannot be repacked for the integer kernels: dequantize to fp32 panels.
    let tensor = tensors[0]
    let format: PackedMatrix.Format = precision == .bfloat16 && columns % 2 == 0 ? .bfloat16Pairs : .float32
    let decode = try RowDecoder(file: file, tensor: tensor)
    let matrix = PackedMatrix(rows: tensor.rows, columns: columns, format: format) { row, destination in
        decode(row, into: destination)
    }
    releasePages(of: file.data(of: tensor))
    return matrix
}

/// Dequantizes single rows of a GGUF tensor whose type and bounds were checked once, up front, so the
/// per-row path cannot fail.
private struct RowDecoder: @unchecked Sendable {
    let file: GGUFFile
    let type: GGMLType
    let base: UnsafeRawPointer
    let rowBytes: Int
    let rowLength: Int
    let rows: Int

    init(file: GGUFFile, tensor: GGUFTensorInfo) throws {
        guard tensor.type.isSupported, let rowBytes = tensor.type.rowByteCount(tensor.rowLength) else {
            throw ModelFormatError.unsupportedDataType(path: file.path, tensor: tensor.name, dataType: tensor.type.name)
        }
        self.file = file
        type = tensor.type
        base = file.data(of: tensor).baseAddress!
        self.rowBytes = rowBytes
        rowLength = tensor.rowLength
        rows = tensor.rows
    }

    func callAsFunction(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(row >= 0 && row < rows, "row \(row) outside \(rows) rows")
        GGMLBlocks.dequantize(type, base + row * rowBytes, count: rowLength, into: destination)
    }
}
