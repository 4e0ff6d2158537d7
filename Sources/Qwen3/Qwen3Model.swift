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
    /// The bound weights.
    public let weights: Qwen3Weights
    private let rotary: RotaryEmbedding
    private let pool: ComputePool

    /// A model from already-bound weights.
    public init(configuration: Qwen3Configuration, weights: Qwen3Weights, pool: ComputePool = .shared) {
        self.configuration = configuration
        self.weights = weights
        self.rotary = RotaryEmbedding(dimensions: configuration.headDimension, theta: configuration.ropeTheta)
        self.pool = pool
    }

    /// Loads `config.json` and the safetensors checkpoint of a Hugging Face model directory.
    public convenience init(directory: String, pool: ComputePool = .shared) throws {
        let configuration = try Qwen3Configuration.load(directory: directory)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        let weights = try Qwen3Weights(checkpoint: checkpoint, configuration: configuration)
        self.init(configuration: configuration, weights: weights, pool: pool)
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
        let hidden = configuration.hiddenSize
        var headRows = [Float](repeating: 0, count: rows.count * hidden)
        headRows.withUnsafeMutableBufferPointer { buffer in
            for (index, row) in rows.enumerated() {
                head.copyElements(from: row * hidden, count: hidden, into: buffer.baseAddress! + index * hidden)
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

    private func validate(_ sequences: [[Int]]) throws {
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

    private func forward(_ sequences: [[Int]]) -> [[Float]] {
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

        let residual = Scratch(count * hidden)
        let normed = Scratch(count * hidden)
        let query = Scratch(count * queryWidth)
        let key = Scratch(count * keyValueWidth)
        let value = Scratch(count * keyValueWidth)
        let attention = Scratch(count * queryWidth)
        let projected = Scratch(count * hidden)
        let gate = Scratch(count * c.intermediateSize)
        let up = Scratch(count * c.intermediateSize)
        defer { [residual, normed, query, key, value, attention, projected, gate, up].forEach { $0.free() } }

        // Token embedding: rows converted from the file dtype as they are gathered.
        for (row, token) in tokens.enumerated() {
            weights.tokenEmbedding.copyElements(from: token * hidden, count: hidden, into: residual.pointer + row * hidden)
        }

        for layer in weights.layers {
            // Attention block.
            rmsNormRows(residual, layer.inputNorm, width: hidden, rows: count, epsilon: epsilon, into: normed)
            linear(normed, count, layer.queryProjection, into: query)
            linear(normed, count, layer.keyProjection, into: key)
            linear(normed, count, layer.valueProjection, into: value)
            normalizeAndRotateHeads(query, heads: c.attentionHeads, norm: layer.queryNorm, positions: positions, rope: rope, epsilon: epsilon)
            normalizeAndRotateHeads(key, heads: c.keyValueHeads, norm: layer.keyNorm, positions: positions, rope: rope, epsilon: epsilon)
            CausalAttention.compute(
                query: query.pointer, key: key.pointer, value: value.pointer, output: attention.pointer,
                segments: segments, heads: c.attentionHeads, keyValueHeads: c.keyValueHeads,
                headDimension: c.headDimension, pool: pool)
            linear(attention, count, layer.outputProjection, into: projected)
            VectorMath.add(projected.pointer, to: residual.pointer, count: count * hidden)

            // MLP block.
            rmsNormRows(residual, layer.postAttentionNorm, width: hidden, rows: count, epsilon: epsilon, into: normed)
            linear(normed, count, layer.gateProjection, into: gate)
            linear(normed, count, layer.upProjection, into: up)
            VectorMath.swiGLU(gate: gate.pointer, up: up.pointer, count: count * c.intermediateSize)
            linear(gate, count, layer.downProjection, into: projected)
            VectorMath.add(projected.pointer, to: residual.pointer, count: count * hidden)
        }

        // Final norm, only where it is read: the last token of each sequence.
        return segments.map { segment in
            var output = [Float](repeating: 0, count: hidden)
            let last = residual.pointer + (segment.start + segment.length - 1) * hidden
            weights.finalNorm.withUnsafeBufferPointer { norm in
                output.withUnsafeMutableBufferPointer { output in
                    VectorMath.rmsNorm(last, weight: norm.baseAddress!, count: hidden, epsilon: epsilon, into: output.baseAddress!)
                }
            }
            return output
        }
    }

    private func linear(_ input: Scratch, _ rows: Int, _ weight: WeightMatrix, into output: Scratch) {
        MatrixMultiply.multiply(
            input.pointer, rows: rows, by: weight.values.baseAddress!, outputs: weight.rows, inner: weight.columns,
            into: output.pointer, pool: pool)
    }

    private func rmsNormRows(_ input: Scratch, _ weight: [Float], width: Int, rows: Int, epsilon: Float, into output: Scratch) {
        weight.withUnsafeBufferPointer { weight in
            for row in 0..<rows {
                VectorMath.rmsNorm(input.pointer + row * width, weight: weight.baseAddress!, count: width,
                                   epsilon: epsilon, into: output.pointer + row * width)
            }
        }
    }

    /// Qwen3's per-head q/k RMSNorm (over `headDim`) followed by RoPE at each token's position in its sequence.
    private func normalizeAndRotateHeads(
        _ data: Scratch, heads: Int, norm: [Float], positions: [Int], rope: RotaryTable, epsilon: Float
    ) {
        let headDimension = configuration.headDimension
        norm.withUnsafeBufferPointer { norm in
            let temporary = UnsafeMutablePointer<Float>.allocate(capacity: headDimension)
            defer { temporary.deallocate() }
            for (row, position) in positions.enumerated() {
                for head in 0..<heads {
                    let vector = data.pointer + (row * heads + head) * headDimension
                    VectorMath.rmsNorm(vector, weight: norm.baseAddress!, count: headDimension, epsilon: epsilon, into: temporary)
                    vector.update(from: temporary, count: headDimension)
                    rope.apply(to: vector, position: position)
                }
            }
        }
    }
}

/// A scratch activation buffer owned by one forward pass.
private struct Scratch {
    let pointer: UnsafeMutablePointer<Float>
    init(_ count: Int) {
        pointer = .allocate(capacity: max(count, 1))
    }
    func free() { pointer.deallocate() }
}
