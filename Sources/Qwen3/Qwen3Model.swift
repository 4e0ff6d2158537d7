import Foundation
import Kernels
import ModelFormats

/// The Qwen3 decoder, as transformers' `Qwen3Model` computes it, in fp32.
///
/// Per layer:
///
///     h = x + o_proj(attention(rope(q_norm(q_proj(n))), rope(k_norm(k_proj(n))), v_proj(n)))   n = rms_norm(x)
///     x = h + down_proj(silu(gate_proj(m)) * up_proj(m))                                         m = rms_norm(h)
///
/// then a final RMSNorm. Attention is causal and grouped (several query heads share a key/value head).
///
/// A batch is packed: the tokens of all sequences are stacked into one matrix with no padding, every
/// matrix multiplication runs over all of them at once, and attention keeps each sequence to its own
/// tokens. So no work is spent on padding, and a sequence's result never depends on its batch-mates.
public final class Qwen3Model: Sendable {
    /// The hyper-parameters.
    public let configuration: Qwen3Configuration
    /// The bound, packed weights.
    public let weights: Qwen3Weights
    /// Arithmetic of the linear layers: exact fp32, or bf16 inputs with fp32 accumulation.
    public let precision: Precision
    /// The CPU features the kernels may use (`CPUFeatures.usable` unless a test or benchmark narrows it).
    public let features: CPUFeatures
    private let rotary: RotaryEmbedding
    private let pool: ComputePool

    /// A model from already-bound weights.
    public init(
        configuration: Qwen3Configuration, weights: Qwen3Weights, precision: Precision,
        features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) {
        self.configuration = configuration
        self.weights = weights
        self.precision = precision
        self.features = features
        self.rotary = RotaryEmbedding(dimensions: configuration.headDimension, theta: configuration.ropeTheta)
        self.pool = pool
    }

    /// Loads `config.json` and the safetensors checkpoint of a Hugging Face model directory.
    ///
    /// - Parameters:
    ///   - directory: the model directory (`config.json` and `*.safetensors`).
    ///   - precision: `.float32` (exact, the default) or `.bfloat16` (fast); see `Precision.automatic`.
    ///   - features: CPU features the kernels may use; `CPUFeatures()` forces the portable Swift kernels.
    ///   - pool: the worker threads the kernels split their work across.
    ///   - adapter: a PEFT LoRA adapter merged into the weights as they load (see `LoRAAdapter`).
    public convenience init(
        directoryAt directory: URL, precision: Precision = .float32, features: CPUFeatures = .usable,
        pool: ComputePool = .shared, adapter: LoRAAdapter? = nil
    ) throws {
        try self.init(directory: directory.path, precision: precision, features: features, pool: pool, adapter: adapter)
    }

    /// `init(directoryAt:…)` for a path as the command line gives it (inside the package).
    package convenience init(
        directory: String, precision: Precision = .float32, features: CPUFeatures = .usable, pool: ComputePool = .shared,
        adapter: LoRAAdapter? = nil
    ) throws {
        let configuration = try Qwen3Configuration.load(directory: directory)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        let weights = try Qwen3Weights(checkpoint: checkpoint, configuration: configuration, precision: precision, adapter: adapter)
        self.init(configuration: configuration, weights: weights, precision: precision, features: features, pool: pool)
    }

    /// The matrix kernel the linear layers run on (for reports and benchmarks).
    public var kernel: KernelPath {
        weights.layers.first?.gateUpProjection.kernel(for: precision, features: features) ?? .portable
    }

    /// The final-norm hidden state at the last token of each sequence (`sequences.count × hidden`).
    public func lastHiddenStates(for sequences: [[Int]]) throws -> [[Float]] {
        try validate(sequences)
        return forward(sequences)
    }

    /// LM-head logits at the last token of each sequence, for the given vocabulary rows only
    /// (a reranker needs two of the 151,669 rows: "yes" and "no").
    public func lastTokenLogits(for sequences: [[Int]], vocabularyRows rows: [Int]) throws -> [[Float]] {
        guard let head = weights.languageModelHead else {
            throw ModelFormatError.missingTensor(name: "lm_head.weight", directory: "the checkpoint (tie_word_embeddings is false)")
        }
        for row in rows where !(0..<configuration.vocabularySize).contains(row) {
            throw Qwen3Error.tokenOutOfRange(id: row, vocabularySize: configuration.vocabularySize)
        }
        return try logits(of: head, rows: rows, for: sequences)
    }

    /// Classification-head logits at the last token of each sequence, one per label of
    /// `weights.classifier` (a llama.cpp reranker GGUF's `cls_out`).
    public func lastTokenClassifierLogits(for sequences: [[Int]]) throws -> [[Float]] {
        guard let classifier = weights.classifier else {
            throw ModelFormatError.missingTensor(name: "cls_out.weight", directory: "the model (it has no classification head)")
        }
        return try logits(of: classifier.rows, rows: Array(0..<classifier.rows.rowCount), for: sequences)
    }

    private func logits(of head: WeightRows, rows: [Int], for sequences: [[Int]]) throws -> [[Float]] {
        let hidden = configuration.hiddenSize
        var headRows = [Float](repeating: 0, count: rows.count * hidden)
        headRows.withUnsafeMutableBufferPointer { buffer in
            for (index, row) in rows.enumerated() {
                head.copyRow(row, into: buffer.baseAddress! + index * hidden)
            }
        }
        let states = try lastHiddenStates(for: sequences)
        return states.map { state in
            rows.indices.map { index in
                state.withUnsafeBufferPointer { state in
                    headRows.withUnsafeBufferPointer { headRows in
                        RowMajorGEMM.dot(state.baseAddress!, headRows.baseAddress! + index * hidden, count: hidden)
                    }
                }
            }
        }
    }

    func validate(_ sequences: [[Int]]) throws {
        for (index, sequence) in sequences.enumerated() {
            if sequence.isEmpty {
                throw Qwen3Error.invalidSequence("sequence \(index) has no tokens")
            }
            if sequence.count > configuration.maxPositionEmbeddings {
                throw Qwen3Error.invalidSequence(
                    "sequence \(index) has \(sequence.count) tokens; the model supports \(configuration.maxPositionEmbeddings)")
            }
            for id in sequence where !(0..<configuration.vocabularySize).contains(id) {
                throw Qwen3Error.tokenOutOfRange(id: id, vocabularySize: configuration.vocabularySize)
            }
        }
    }

    // MARK: - Forward pass

    /// The final-norm hidden states: at each sequence's last token, or with `allTokens` at every token
    /// (packed in sequence order; see `allHiddenStates(for:)`).
    func forward(_ sequences: [[Int]], allTokens: Bool = false) -> [[Float]] {
        let c = configuration
        let hidden = c.hiddenSize
        let batch = PackedBatch(sequences, rotary: rotary)
        let count = batch.tokenCount

        let residual = Scratch(count * hidden)
        let normed = Scratch(count * hidden)
        let queryKeyValue = Scratch(count * (c.attentionHeads + 2 * c.keyValueHeads) * c.headDimension)
        let attention = Scratch(count * c.attentionHeads * c.headDimension)
        let projected = Scratch(count * hidden)
        let gateUp = Scratch(count * 2 * c.intermediateSize)
        let activated = Scratch(count * c.intermediateSize)
        defer { [residual, normed, queryKeyValue, attention, projected, gateUp, activated].forEach { $0.free() } }
        // Inference shares one normed buffer between the two norms of a layer and keeps no copies.
        let buffers = LayerBuffers(
            inputNormed: normed.pointer, queryKeyValue: queryKeyValue.pointer, attention: attention.pointer,
            projected: projected.pointer, postAttentionNormed: normed.pointer, gateUp: gateUp.pointer,
            activated: activated.pointer)

        embed(batch.tokens, into: residual.pointer)
        // Rows still carried through the layers: every token until the last layer's attention, then
        // only each sequence's last token (nothing else reaches the output).
        var rows = count
        for layerIndex in weights.layers.indices {
            let lastRowsOnly = layerIndex == weights.layers.count - 1 && !allTokens
            rows = forwardLayer(layerIndex, batch: batch, residual: residual.pointer, buffers: buffers,
                                keepingLastRowsOnly: lastRowsOnly)
        }

        // Final norm, only where it is read: the last token of each sequence (now row i for sequence i),
        // or every row when all tokens are wanted.
        return (0..<rows).map { index in
            var output = [Float](repeating: 0, count: hidden)
            output.withUnsafeMutableBufferPointer { output in
                finalNorm(residual.pointer + index * hidden, into: output.baseAddress!)
            }
            return output
        }
    }

    /// `sequences` packed for `forwardLayer` (positions restart at 0 in every sequence).
    @_spi(Training) public func packedBatch(_ sequences: [[Int]]) -> PackedBatch {
        PackedBatch(sequences, rotary: rotary)
    }

    /// Writes the token-embedding rows of `tokens` (converted from the file dtype as they are gathered)
    /// into `residual`, one row of `hiddenSize` per token.
    @_spi(Training) public func embed(_ tokens: [Int], into residual: UnsafeMutablePointer<Float>) {
        let hidden = configuration.hiddenSize
        for (row, token) in tokens.enumerated() {
            weights.tokenEmbedding.copyRow(token, into: residual + row * hidden)
        }
    }

    /// The final RMSNorm of one residual row (`hiddenSize` values).
    @_spi(Training) public func finalNorm(_ row: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        weights.finalNorm.withUnsafeBufferPointer { norm in
            VectorMath.rmsNorm(row, weight: norm.baseAddress!, count: configuration.hiddenSize,
                               epsilon: Float(configuration.rmsNormEpsilon), into: output)
        }
    }

    /// One decoder layer, in place on `residual` (`batch.tokenCount × hidden`): the single definition of
    /// the layer's forward math, run by inference (no recording) and by training (which records the
    /// intermediates its backward pass reads, into separate buffers).
    ///
    /// With `keepingLastRowsOnly` (the last layer of a pooled forward pass), rows after attention are
    /// reduced to each sequence's last token, moved to row `i` for sequence `i`; the kernels are
    /// row-independent, so those rows are bitwise those of the full computation.
    ///
    /// - Parameters:
    ///   - buffers: scratch rows sized for `batch.tokenCount`; `inputNormed` and `postAttentionNormed` may
    ///     alias (inference), and must not when the caller reads them afterwards (training).
    ///   - recording: where to copy the two values that are overwritten later in the layer: the q|k|v rows
    ///     before the q/k norms and RoPE, and the residual after attention. `nil` on the inference path.
    /// - Returns: the number of rows now in `residual`.
    @_spi(Training) @discardableResult
    public func forwardLayer(
        _ layerIndex: Int, batch: PackedBatch, residual: UnsafeMutablePointer<Float>, buffers: LayerBuffers,
        keepingLastRowsOnly: Bool = false, recording: LayerRecording? = nil
    ) -> Int {
        let c = configuration
        let layer = weights.layers[layerIndex]
        let hidden = c.hiddenSize
        let queryWidth = c.attentionHeads * c.headDimension
        let epsilon = Float(c.rmsNormEpsilon)
        let count = batch.tokenCount
        let segments = batch.segments

        // Attention block: one fused projection gives each token's row [q | k | v], viewed as the q, k
        // and v heads in place (the anchors' reshape of q_proj/k_proj/v_proj outputs to heads).
        rmsNormRows(residual, layer.inputNorm, width: hidden, rows: count, epsilon: epsilon, into: buffers.inputNormed)
        let qkv = FusedQKV(buffers.queryKeyValue, heads: c.attentionHeads, keyValueHeads: c.keyValueHeads,
                           headDimension: c.headDimension)
        linear(buffers.inputNormed, count, layer.queryKeyValueProjection, into: qkv.rows)
        recording?.projections.update(from: qkv.rows, count: count * qkv.rowWidth)
        normalizeAndRotate(qkv.query, norm: layer.queryNorm, batch: batch, epsilon: epsilon)
        normalizeAndRotate(qkv.key, norm: layer.keyNorm, batch: batch, epsilon: epsilon)
        attention(qkv, segments: segments, into: buffers.attention)
        var rows = count
        if keepingLastRowsOnly {
            // Move each sequence's last row to the front (row i ≤ its source row, so in order no
            // source is overwritten before it is read).
            for (index, segment) in segments.enumerated() {
                let source = segment.start + segment.length - 1
                guard source != index else { continue }
                (buffers.attention + index * queryWidth).update(from: buffers.attention + source * queryWidth, count: queryWidth)
                (residual + index * hidden).update(from: residual + source * hidden, count: hidden)
            }
            rows = segments.count
        }
        linear(buffers.attention, rows, layer.outputProjection, into: buffers.projected)
        addRows(buffers.projected, to: residual, width: hidden, rows: rows)
        recording?.attentionResidual.update(from: residual, count: rows * hidden)

        // MLP block: one fused projection gives each token's row [gate | up].
        rmsNormRows(residual, layer.postAttentionNorm, width: hidden, rows: rows, epsilon: epsilon, into: buffers.postAttentionNormed)
        linear(buffers.postAttentionNormed, rows, layer.gateUpProjection, into: buffers.gateUp)
        swiGLU(buffers.gateUp, width: c.intermediateSize, rows: rows, into: buffers.activated)
        linear(buffers.activated, rows, layer.downProjection, into: buffers.projected)
        addRows(buffers.projected, to: residual, width: hidden, rows: rows)
        return rows
    }

    /// Causal grouped-query attention of the q heads over the k and v heads of the same sequence, into
    /// `output` (`tokens × heads·headDimension`, contiguous).
    private func attention(_ qkv: FusedQKV, segments: [SequenceSegment], into output: UnsafeMutablePointer<Float>) {
        CausalAttention.compute(
            query: qkv.query.base, key: qkv.key.base, value: qkv.value.base, output: output, segments: segments,
            heads: qkv.query.count, keyValueHeads: qkv.key.count, headDimension: qkv.query.dimension,
            queryStride: qkv.query.rowStride, keyValueStride: qkv.key.rowStride, features: features, pool: pool)
    }

    private func linear(_ input: UnsafeMutablePointer<Float>, _ rows: Int, _ weight: any LinearLayer, into output: UnsafeMutablePointer<Float>) {
        weight.multiply(input, rows: rows, into: output, precision: precision, features: features, pool: pool)
    }

    /// `silu(gate) * up` for rows laid out `[gate | up]`, written contiguously.
    private func swiGLU(_ gateUp: UnsafeMutablePointer<Float>, width: Int, rows: Int, into output: UnsafeMutablePointer<Float>) {
        let gateUp = Scratch(gateUp), output = Scratch(output)
        pool.run(tasks: rows) { row in
            let out = output.pointer + row * width
            out.update(from: gateUp.pointer + row * 2 * width, count: width)
            VectorMath.swiGLU(gate: out, up: gateUp.pointer + row * 2 * width + width, count: width, features: features)
        }
    }

    private func rmsNormRows(_ input: UnsafeMutablePointer<Float>, _ weight: [Float], width: Int, rows: Int, epsilon: Float, into output: UnsafeMutablePointer<Float>) {
        let input = Scratch(input), output = Scratch(output)
        weight.withUnsafeBufferPointer { weight in
            let weight = UncheckedPointer(weight.baseAddress!)
            forEachRowBlock(rows) { range in
                for row in range {
                    VectorMath.rmsNorm(input.pointer + row * width, weight: weight.pointer, count: width,
                                       epsilon: epsilon, into: output.pointer + row * width)
                }
            }
        }
    }

    private func addRows(_ source: UnsafeMutablePointer<Float>, to target: UnsafeMutablePointer<Float>, width: Int, rows: Int) {
        let source = Scratch(source), target = Scratch(target)
        forEachRowBlock(rows) { range in
            VectorMath.add(source.pointer + range.lowerBound * width, to: target.pointer + range.lowerBound * width,
                           count: range.count * width)
        }
    }

    /// Runs `body` over blocks of rows on the pool (row-wise work is independent).
    private func forEachRowBlock(_ rows: Int, _ body: (Range<Int>) -> Void) {
        let block = max(1, min(64, (rows + pool.width - 1) / pool.width))
        pool.run(tasks: (rows + block - 1) / block) { task in
            body((task * block)..<min(rows, (task + 1) * block))
        }
    }

    /// Qwen3's per-head q/k RMSNorm (over `headDim`) followed by RoPE at each token's position in its sequence.
    private func normalizeAndRotate(_ heads: FusedQKV.Heads, norm: [Float], batch: PackedBatch, epsilon: Float) {
        let rope = batch.rope
        let positions = batch.positions
        norm.withUnsafeBufferPointer { norm in
            let norm = UncheckedPointer(norm.baseAddress!)
            positions.withUnsafeBufferPointer { positionBuffer in
                let positions = UncheckedPointer(positionBuffer.baseAddress!)
                forEachRowBlock(positionBuffer.count) { range in
                    let temporary = UnsafeMutablePointer<Float>.allocate(capacity: heads.dimension)
                    defer { temporary.deallocate() }
                    for token in range {
                        for head in 0..<heads.count {
                            let vector = heads[token, head]
                            VectorMath.rmsNorm(vector, weight: norm.pointer, count: heads.dimension, epsilon: epsilon, into: temporary)
                            vector.update(from: temporary, count: heads.dimension)
                            rope.apply(to: vector, position: positions.pointer[token])
                        }
                    }
                }
            }
        }
    }
}

/// The fused q|k|v projection's output seen as three per-head tensors, in place.
///
/// Each token's row holds `[q | k | v]`: `heads` query heads, then `keyValueHeads` key heads and as many
/// value heads, `headDimension` values each. The anchors take the same views of their projections:
/// llama.cpp's `ggml_view_3d(qkv, n_embd_head, n_head, n_tokens, …)` of a fused `wqkv`, candle's and MLX's
/// `reshape(b, l, heads, head_dim)`. Their `transpose` to heads-first changes only strides, which the
/// attention kernel takes as arguments (`rowStride`), so nothing is copied.
struct FusedQKV {
    /// One of q, k and v: `tokens × count × dimension` values, token rows `rowStride` floats apart.
    /// Tasks that share it write disjoint token rows.
    struct Heads: @unchecked Sendable {
        /// Head 0 of token 0.
        let base: UnsafeMutablePointer<Float>
        /// Heads per token.
        let count: Int
        /// Values per head.
        let dimension: Int
        /// Floats from one token's row to the next (the fused row's width).
        let rowStride: Int

        /// Head `head` of token row `token` (`dimension` contiguous values).
        subscript(token: Int, head: Int) -> UnsafeMutablePointer<Float> {
            base + token * rowStride + head * dimension
        }
    }

    /// The fused rows, `tokens × rowWidth`: what the q|k|v projection writes.
    let rows: UnsafeMutablePointer<Float>
    /// Floats per fused row: `(heads + 2·keyValueHeads) · headDimension`.
    let rowWidth: Int
    /// The query heads, at the start of each row.
    let query: Heads
    /// The key heads, after the queries.
    let key: Heads
    /// The value heads, after the keys.
    let value: Heads

    /// Views of `rows` for a model with `heads` query heads and `keyValueHeads` key/value heads.
    init(_ rows: UnsafeMutablePointer<Float>, heads: Int, keyValueHeads: Int, headDimension: Int) {
        let queryWidth = heads * headDimension, keyValueWidth = keyValueHeads * headDimension
        self.rows = rows
        rowWidth = queryWidth + 2 * keyValueWidth
        query = Heads(base: rows, count: heads, dimension: headDimension, rowStride: rowWidth)
        key = Heads(base: rows + queryWidth, count: keyValueHeads, dimension: headDimension, rowStride: rowWidth)
        value = Heads(base: rows + queryWidth + keyValueWidth, count: keyValueHeads, dimension: headDimension, rowStride: rowWidth)
    }
}

/// A read-only pointer shared by the tasks of one parallel loop.
private struct UncheckedPointer<Element>: @unchecked Sendable {
    let pointer: UnsafePointer<Element>
    init(_ pointer: UnsafePointer<Element>) { self.pointer = pointer }
}

/// A scratch activation buffer owned by one forward pass (disjoint rows are written by different tasks).
private struct Scratch: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ count: Int) {
        pointer = .allocate(capacity: max(count, 1))
    }
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
    func free() { pointer.deallocate() }
}

/// A batch of sequences packed back to back without padding: the layout every forward pass runs on.
@_spi(Training) public struct PackedBatch: Sendable {
    /// Every token of every sequence, in order.
    public let tokens: [Int]
    /// Each token's position within its own sequence (RoPE restarts at 0 for every sequence).
    public let positions: [Int]
    /// The rows of each sequence.
    public let segments: [SequenceSegment]
    /// Rotary angles for positions up to the longest sequence.
    public let rope: RotaryTable

    /// Packs `sequences` (each non-empty) with the model's rotary embedding.
    public init(_ sequences: [[Int]], rotary: RotaryEmbedding) {
        var segments: [SequenceSegment] = []
        var positions: [Int] = []
        var tokens: [Int] = []
        for sequence in sequences {
            segments.append(SequenceSegment(start: tokens.count, length: sequence.count))
            positions.append(contentsOf: 0..<sequence.count)
            tokens.append(contentsOf: sequence)
        }
        self.tokens = tokens
        self.positions = positions
        self.segments = segments
        rope = rotary.table(length: sequences.map(\.count).max() ?? 0)
    }

    /// Number of packed rows.
    public var tokenCount: Int { tokens.count }
}

/// The scratch rows one layer's forward pass writes (each sized for the batch's token count), owned by
/// the caller so inference can reuse them across layers and training can keep them for backward.
@_spi(Training) public struct LayerBuffers: @unchecked Sendable {
    /// `tokens × hidden`: the input RMSNorm's output.
    public let inputNormed: UnsafeMutablePointer<Float>
    /// `tokens × (heads + 2·kvHeads)·headDim`: q | k | v, normalised and rotated after the layer runs.
    public let queryKeyValue: UnsafeMutablePointer<Float>
    /// `tokens × heads·headDim`: the attention output.
    public let attention: UnsafeMutablePointer<Float>
    /// `tokens × hidden`: scratch for the o_proj and down_proj outputs.
    public let projected: UnsafeMutablePointer<Float>
    /// `tokens × hidden`: the post-attention RMSNorm's output (may alias `inputNormed` when not kept).
    public let postAttentionNormed: UnsafeMutablePointer<Float>
    /// `tokens × 2·intermediate`: gate | up.
    public let gateUp: UnsafeMutablePointer<Float>
    /// `tokens × intermediate`: silu(gate) · up.
    public let activated: UnsafeMutablePointer<Float>

    /// Buffers from caller-owned memory.
    public init(
        inputNormed: UnsafeMutablePointer<Float>, queryKeyValue: UnsafeMutablePointer<Float>,
        attention: UnsafeMutablePointer<Float>, projected: UnsafeMutablePointer<Float>,
        postAttentionNormed: UnsafeMutablePointer<Float>, gateUp: UnsafeMutablePointer<Float>,
        activated: UnsafeMutablePointer<Float>
    ) {
        self.inputNormed = inputNormed
        self.queryKeyValue = queryKeyValue
        self.attention = attention
        self.projected = projected
        self.postAttentionNormed = postAttentionNormed
        self.gateUp = gateUp
        self.activated = activated
    }
}

/// Copies a training forward pass keeps of values the layer later overwrites in place.
@_spi(Training) public struct LayerRecording: @unchecked Sendable {
    /// `tokens × (heads + 2·kvHeads)·headDim`: q | k | v straight from the projection (before q/k norm and RoPE).
    public let projections: UnsafeMutablePointer<Float>
    /// `tokens × hidden`: the residual stream after the attention block (the post-attention norm's input).
    public let attentionResidual: UnsafeMutablePointer<Float>

    /// A recording into caller-owned memory.
    public init(projections: UnsafeMutablePointer<Float>, attentionResidual: UnsafeMutablePointer<Float>) {
        self.projections = projections
        self.attentionResidual = attentionResidual
    }
}
