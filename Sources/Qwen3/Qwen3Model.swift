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
    ///   - precision: `.float32` (exact, the default) or `.bfloat16` (fast); see `Precision.automatic`.
    ///   - features: CPU features the kernels may use; `CPUFeatures()` forces the portable Swift kernels.
    public convenience init(
        directory: String, precision: Precision = .float32, features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) throws {
        let configuration = try Qwen3Configuration.load(directory: directory)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        let weights = try Qwen3Weights(checkpoint: checkpoint, configuration: configuration, precision: precision)
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
            throw Qwen3Error.missingTensor(name: "lm_head.weight", directory: "the checkpoint (tie_word_embeddings is false)")
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
            throw Qwen3Error.missingTensor(name: "cls_out.weight", directory: "the model (it has no classification head)")
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
                        MatrixMultiply.dot(state.baseAddress!, headRows.baseAddress! + index * hidden, count: hidden)
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
        let queryWidth = c.attentionHeads * c.headDimension
        let keyValueWidth = c.keyValueHeads * c.headDimension
        let epsilon = Float(c.rmsNormEpsilon)

        var segments: [SequenceSegment] = []
        var positions: [Int] = []
        var tokens: [Int] = []
        for sequence in sequences {
            segments.append(SequenceSegment(start: tokens.count, length: sequence.count))
            positions.append(contentsOf: 0..<sequence.count)
            tokens.append(contentsOf: sequence)
        }
        let count = tokens.count
        let rope = rotary.table(length: sequences.map(\.count).max() ?? 0)

        let fusedWidth = queryWidth + 2 * keyValueWidth
        let residual = Scratch(count * hidden)
        let normed = Scratch(count * hidden)
        let queryKeyValue = Scratch(count * fusedWidth)
        let attention = Scratch(count * queryWidth)
        let projected = Scratch(count * hidden)
        let gateUp = Scratch(count * 2 * c.intermediateSize)
        let activated = Scratch(count * c.intermediateSize)
        defer { [residual, normed, queryKeyValue, attention, projected, gateUp, activated].forEach { $0.free() } }

        // Token embedding: rows converted from the file dtype as they are gathered.
        for (row, token) in tokens.enumerated() {
            weights.tokenEmbedding.copyRow(token, into: residual.pointer + row * hidden)
        }

        // Rows still carried through the layers: every token until the last layer's attention, then
        // only each sequence's last token (nothing else reaches the output).
        var rows = count
        for (layerIndex, layer) in weights.layers.enumerated() {
            // Attention block: one fused projection gives each token's row [q | k | v].
            rmsNormRows(residual, layer.inputNorm, width: hidden, rows: count, epsilon: epsilon, into: normed)
            linear(normed, count, layer.queryKeyValueProjection, into: queryKeyValue)
            normalizeAndRotateHeads(queryKeyValue, rowStride: fusedWidth, offset: 0, heads: c.attentionHeads,
                                    norm: layer.queryNorm, positions: positions, rope: rope, epsilon: epsilon)
            normalizeAndRotateHeads(queryKeyValue, rowStride: fusedWidth, offset: queryWidth, heads: c.keyValueHeads,
                                    norm: layer.keyNorm, positions: positions, rope: rope, epsilon: epsilon)
            CausalAttention.compute(
                query: queryKeyValue.pointer, key: queryKeyValue.pointer + queryWidth,
                value: queryKeyValue.pointer + queryWidth + keyValueWidth, output: attention.pointer,
                segments: segments, heads: c.attentionHeads, keyValueHeads: c.keyValueHeads,
                headDimension: c.headDimension, queryStride: fusedWidth, keyValueStride: fusedWidth,
                features: features, pool: pool)
            if layerIndex == weights.layers.count - 1 && !allTokens {
                // Move each sequence's last row to the front (row i ≤ its source row, so in order no
                // source is overwritten before it is read); the kernels are row-independent, so the
                // results are bitwise those of the full computation.
                for (index, segment) in segments.enumerated() {
                    let source = segment.start + segment.length - 1
                    guard source != index else { continue }
                    (attention.pointer + index * queryWidth).update(from: attention.pointer + source * queryWidth, count: queryWidth)
                    (residual.pointer + index * hidden).update(from: residual.pointer + source * hidden, count: hidden)
                }
                rows = segments.count
            }
            linear(attention, rows, layer.outputProjection, into: projected)
            addRows(projected, to: residual, width: hidden, rows: rows)

            // MLP block: one fused projection gives each token's row [gate | up].
            rmsNormRows(residual, layer.postAttentionNorm, width: hidden, rows: rows, epsilon: epsilon, into: normed)
            linear(normed, rows, layer.gateUpProjection, into: gateUp)
            swiGLU(gateUp, width: c.intermediateSize, rows: rows, into: activated)
            linear(activated, rows, layer.downProjection, into: projected)
            addRows(projected, to: residual, width: hidden, rows: rows)
        }

        // Final norm, only where it is read: the last token of each sequence (now row i for sequence i),
        // or every row when all tokens are wanted.
        return (0..<rows).map { index in
            var output = [Float](repeating: 0, count: hidden)
            let last = residual.pointer + index * hidden
            weights.finalNorm.withUnsafeBufferPointer { norm in
                output.withUnsafeMutableBufferPointer { output in
                    VectorMath.rmsNorm(last, weight: norm.baseAddress!, count: hidden, epsilon: epsilon, into: output.baseAddress!)
                }
            }
            return output
        }
    }

    private func linear(_ input: Scratch, _ rows: Int, _ weight: any LinearLayer, into output: Scratch) {
        weight.multiply(input.pointer, rows: rows, into: output.pointer, precision: precision, features: features, pool: pool)
    }

    /// `silu(gate) * up` for rows laid out `[gate | up]`, written contiguously.
    private func swiGLU(_ gateUp: Scratch, width: Int, rows: Int, into output: Scratch) {
        pool.run(tasks: rows) { row in
            let out = output.pointer + row * width
            out.update(from: gateUp.pointer + row * 2 * width, count: width)
            VectorMath.swiGLU(gate: out, up: gateUp.pointer + row * 2 * width + width, count: width, features: features)
        }
    }

    private func rmsNormRows(_ input: Scratch, _ weight: [Float], width: Int, rows: Int, epsilon: Float, into output: Scratch) {
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

    private func addRows(_ source: Scratch, to target: Scratch, width: Int, rows: Int) {
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
    private func normalizeAndRotateHeads(
        _ data: Scratch, rowStride: Int, offset: Int, heads: Int, norm: [Float], positions: [Int],
        rope: RotaryTable, epsilon: Float
    ) {
        let headDimension = configuration.headDimension
        norm.withUnsafeBufferPointer { norm in
            let norm = UncheckedPointer(norm.baseAddress!)
            positions.withUnsafeBufferPointer { positionBuffer in
                let positions = UncheckedPointer(positionBuffer.baseAddress!)
                forEachRowBlock(positionBuffer.count) { range in
                    let temporary = UnsafeMutablePointer<Float>.allocate(capacity: headDimension)
                    defer { temporary.deallocate() }
                    for row in range {
                        for head in 0..<heads {
                            let vector = data.pointer + row * rowStride + offset + head * headDimension
                            VectorMath.rmsNorm(vector, weight: norm.pointer, count: headDimension, epsilon: epsilon, into: temporary)
                            vector.update(from: temporary, count: headDimension)
                            rope.apply(to: vector, position: positions.pointer[row])
                        }
                    }
                }
            }
        }
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
    func free() { pointer.deallocate() }
}
