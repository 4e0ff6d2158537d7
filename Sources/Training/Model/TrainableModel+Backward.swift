import Foundation
import Kernels
@_spi(Training) import Qwen3

extension TrainableModel {
    /// Back-propagates `lastHiddenStateGradients` (dL/d final-norm last-token state, one row of `hidden`
    /// per sequence) through the model, adding to every parameter's `gradients`.
    ///
    /// Runs its own forward pass keeping only each layer's input (activation checkpointing), unless
    /// `lastHiddenStates(sequences, retainingActivations: true)` just kept them; then walks the layers
    /// backwards, recomputing one layer's activations at a time with the shared forward.
    /// Sequences are independent, so calling this on disjoint parts of a batch and summing (gradient
    /// caching) gives the gradients of the whole batch.
    public func accumulateGradients(_ sequences: [[Int]], lastHiddenStateGradients: [[Float]]) throws {
        try validate(sequences)
        let c = configuration
        let hidden = c.hiddenSize
        guard lastHiddenStateGradients.count == sequences.count,
              lastHiddenStateGradients.allSatisfy({ $0.count == hidden }) else {
            throw TrainableModelError.invalidSequence(
                "\(lastHiddenStateGradients.count) state gradients for \(sequences.count) sequences (each must have \(hidden) values)")
        }
        guard !sequences.isEmpty else { return }
        let model = self.model
        let forward: RetainedForward
        if let retained, retained.sequences == sequences {
            forward = retained
        } else {
            forward = checkpointedForward(sequences)
        }
        retained = nil
        let batch = forward.batch
        let count = batch.tokenCount
        let work = LayerWorkspace(configuration: c, tokens: count)
        let residual = forward.output
        var checkpoints = forward.layerInputs

        // Final norm at each sequence's last row.
        let gradient = ActivationBuffer(count * hidden)
        let epsilon = Float(c.rmsNormEpsilon)
        let normWeight = finalNorm?.values ?? model.weights.finalNorm
        normWeight.withUnsafeBufferPointer { weight in
            for (index, segment) in batch.segments.enumerated() {
                let row = segment.start + segment.length - 1
                lastHiddenStateGradients[index].withUnsafeBufferPointer { dy in
                    if let finalNorm {
                        finalNorm.gradients.withUnsafeMutableBufferPointer { dw in
                            NormBackward.rmsNorm(
                                input: residual.pointer + row * hidden, weight: weight.baseAddress!, outputGradient: dy.baseAddress!,
                                count: hidden, epsilon: epsilon, inputGradient: gradient.pointer + row * hidden,
                                weightGradient: dw.baseAddress!)
                        }
                    } else {
                        NormBackward.rmsNorm(
                            input: residual.pointer + row * hidden, weight: weight.baseAddress!, outputGradient: dy.baseAddress!,
                            count: hidden, epsilon: epsilon, inputGradient: gradient.pointer + row * hidden, weightGradient: nil)
                    }
                }
            }
        }

        // Layers in reverse: recompute with recording, then back-propagate in place on `gradient`.
        for layerIndex in layers.indices.reversed() {
            let input = checkpoints[layerIndex]
            residual.pointer.update(from: input.pointer, count: count * hidden)
            model.forwardLayer(layerIndex, batch: batch, residual: residual.pointer, buffers: work.recordingBuffers,
                               recording: work.recording)
            backwardLayer(layerIndex, batch: batch, input: input.pointer, work: work, gradient: gradient.pointer)
            checkpoints.removeLast()
        }

        // Token embedding: a gather, so its gradient is a scatter-add into the rows of the tokens used.
        if let embedding {
            embedding.gradients.withUnsafeMutableBufferPointer { dE in
                for (row, token) in batch.tokens.enumerated() {
                    VectorMath.add(gradient.pointer + row * hidden, to: dE.baseAddress! + token * hidden, count: hidden)
                }
            }
        }
    }

    /// The forward pass of training: every row through every layer (the last layer keeps all rows, which
    /// are row-independent, so the last-token rows equal inference's bitwise), keeping each layer's input.
    func checkpointedForward(_ sequences: [[Int]]) -> RetainedForward {
        let c = configuration
        let hidden = c.hiddenSize
        let batch = model.packedBatch(sequences)
        let count = batch.tokenCount
        let work = LayerWorkspace(configuration: c, tokens: count)
        let residual = ActivationBuffer(count * hidden)
        model.embed(batch.tokens, into: residual.pointer)
        var checkpoints: [ActivationBuffer] = []
        for layerIndex in layers.indices {
            let input = ActivationBuffer(count * hidden)
            input.pointer.update(from: residual.pointer, count: count * hidden)
            checkpoints.append(input)
            model.forwardLayer(layerIndex, batch: batch, residual: residual.pointer, buffers: work.buffers)
        }
        return RetainedForward(sequences: sequences, batch: batch, layerInputs: checkpoints, output: residual)
    }

    /// One layer's backward. `work` holds the recorded forward of this layer (from `input`); `gradient`
    /// holds dL/d(layer output) on entry and dL/d(layer input) on return.
    private func backwardLayer(
        _ index: Int, batch: PackedBatch, input: UnsafePointer<Float>, work: LayerWorkspace,
        gradient: UnsafeMutablePointer<Float>
    ) {
        let c = configuration
        let layer = layers[index]
        let weights = model.weights.layers[index]
        let hidden = c.hiddenSize
        let count = batch.tokenCount
        let d = c.headDimension
        let queryWidth = c.attentionHeads * d
        let keyValueWidth = c.keyValueHeads * d
        let fusedWidth = queryWidth + 2 * keyValueWidth
        let epsilon = Float(c.rmsNormEpsilon)
        let b = work.recordingBuffers
        let r = work.recording

        // MLP block: out = h + down(swiglu(gate_up(rms(h)))); `gradient` is dL/d out, and becomes dL/dh.
        work.activatedGradient.zero()
        layer.down.backward(input: b.activated, outputGradient: gradient, rows: count,
                            inputGradient: work.activatedGradient.pointer, precision: precision, features: features, pool: pool)
        let intermediate = c.intermediateSize
        pool.run(tasks: count) { row in
            ActivationBackward.swiGLU(
                gateUp: b.gateUp + row * 2 * intermediate, activatedGradient: work.activatedGradient.pointer + row * intermediate,
                width: intermediate, into: work.gateUpGradient.pointer + row * 2 * intermediate)
        }
        work.normedGradient.zero()
        layer.gateUp.backward(input: b.postAttentionNormed, outputGradient: work.gateUpGradient.pointer, rows: count,
                              inputGradient: work.normedGradient.pointer, precision: precision, features: features, pool: pool)
        normRowsBackward(input: r.attentionResidual, weight: weights.postAttentionNorm, parameter: layer.postAttentionNorm,
                         outputGradient: work.normedGradient.pointer, inputGradient: gradient, vectors: count, width: hidden,
                         epsilon: epsilon) { $0 * hidden }

        // Attention block: h = x + o(attention(...)).
        work.attentionGradient.zero()
        layer.output.backward(input: b.attention, outputGradient: gradient, rows: count,
                              inputGradient: work.attentionGradient.pointer, precision: precision, features: features, pool: pool)
        work.queryKeyValueGradient.zero()
        let qkv = b.queryKeyValue
        let dQKV = work.queryKeyValueGradient.pointer
        AttentionBackward.compute(
            query: qkv, key: qkv + queryWidth, value: qkv + queryWidth + keyValueWidth,
            queryStride: fusedWidth, keyValueStride: fusedWidth,
            outputGradient: work.attentionGradient.pointer, outputStride: queryWidth,
            queryGradient: dQKV, keyGradient: dQKV + queryWidth, valueGradient: dQKV + queryWidth + keyValueWidth,
            segments: batch.segments, heads: c.attentionHeads, keyValueHeads: c.keyValueHeads, headDimension: d, pool: pool)
        // RoPE backward in place on the q and k gradients, then the per-head norms' backward into the
        // gradient of the raw projections (v passes through).
        let rope = batch.rope
        let positions = batch.positions
        let headsPerRow = c.attentionHeads + c.keyValueHeads
        pool.run(tasks: count) { row in
            for head in 0..<headsPerRow {
                ActivationBackward.rotaryBackward(dQKV + row * fusedWidth + head * d, position: positions[row], table: rope)
            }
        }
        let rawGradient = work.projectionGradient.pointer
        work.projectionGradient.zero()
        for row in 0..<count {
            (rawGradient + row * fusedWidth + queryWidth + keyValueWidth)
                .update(from: dQKV + row * fusedWidth + queryWidth + keyValueWidth, count: keyValueWidth)
        }
        let heads = c.attentionHeads, keyValueHeads = c.keyValueHeads
        normRowsBackward(input: r.projections, weight: weights.queryNorm, parameter: layer.queryNorm,
                         outputGradient: dQKV, inputGradient: rawGradient, vectors: count * heads, width: d,
                         epsilon: epsilon) { ($0 / heads) * fusedWidth + ($0 % heads) * d }
        normRowsBackward(input: r.projections, weight: weights.keyNorm, parameter: layer.keyNorm,
                         outputGradient: dQKV, inputGradient: rawGradient, vectors: count * keyValueHeads, width: d,
                         epsilon: epsilon) { ($0 / keyValueHeads) * fusedWidth + queryWidth + ($0 % keyValueHeads) * d }
        work.normedGradient.zero()
        layer.queryKeyValue.backward(input: b.inputNormed, outputGradient: rawGradient, rows: count,
                                     inputGradient: work.normedGradient.pointer, precision: precision, features: features, pool: pool)
        // x: the residual path plus the input norm's backward.
        normRowsBackward(input: UnsafeMutablePointer(mutating: input), weight: weights.inputNorm, parameter: layer.inputNorm,
                         outputGradient: work.normedGradient.pointer, inputGradient: gradient, vectors: count, width: hidden,
                         epsilon: epsilon) { $0 * hidden }
    }

    /// RMSNorm backward over `vectors` vectors of `width` values, vector `v` at offset `offset(v)` in
    /// the input, output-gradient and input-gradient buffers alike. Adds to `inputGradient`; with a
    /// trainable weight, sums its gradient per task and adds the task sums in task order (deterministic).
    private func normRowsBackward(
        input: UnsafeMutablePointer<Float>, weight: [Float], parameter: TrainableParameter?,
        outputGradient: UnsafeMutablePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
        vectors: Int, width: Int, epsilon: Float, offset: @escaping @Sendable (Int) -> Int
    ) {
        let tasks = max(1, min(vectors, pool.width * 4))
        let weightGradients = ActivationBuffer(parameter == nil ? 0 : tasks * width)
        let pointers = (input: Shared(input), dy: Shared(outputGradient), dx: Shared(inputGradient))
        let trainable = parameter != nil
        weight.withUnsafeBufferPointer { weight in
            let w = Shared(UnsafeMutablePointer(mutating: weight.baseAddress!))
            pool.run(tasks: tasks) { task in
                var vector = task
                while vector < vectors {
                    let at = offset(vector)
                    NormBackward.rmsNorm(
                        input: pointers.input.pointer + at, weight: w.pointer, outputGradient: pointers.dy.pointer + at,
                        count: width, epsilon: epsilon, inputGradient: pointers.dx.pointer + at,
                        weightGradient: trainable ? weightGradients.pointer + task * width : nil)
                    vector += tasks
                }
            }
        }
        if let parameter {
            parameter.gradients.withUnsafeMutableBufferPointer { dw in
                for task in 0..<tasks {
                    VectorMath.add(weightGradients.pointer + task * width, to: dw.baseAddress!, count: width)
                }
            }
        }
    }
}

/// What the backward pass needs from the forward: the packed batch, each layer's input rows (the
/// activation checkpoints) and the last layer's output rows.
struct RetainedForward {
    let sequences: [[Int]]
    let batch: PackedBatch
    let layerInputs: [ActivationBuffer]
    let output: ActivationBuffer
}

/// A pointer shared by the tasks of one parallel loop (they touch disjoint elements).
struct Shared: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

/// The buffers of one layer's recomputed forward and backward, allocated once per backward pass and
/// reused for every layer: activation memory is one layer's, whatever the depth.
final class LayerWorkspace: @unchecked Sendable {
    private let storage: [ActivationBuffer]
    /// Buffers for the checkpointing forward (the two norm outputs share one buffer: nothing is kept).
    let buffers: LayerBuffers
    /// Buffers for the recomputed forward whose values the backward reads (nothing aliased).
    let recordingBuffers: LayerBuffers
    let recording: LayerRecording
    let activatedGradient: ActivationBuffer
    let gateUpGradient: ActivationBuffer
    let normedGradient: ActivationBuffer
    let attentionGradient: ActivationBuffer
    let queryKeyValueGradient: ActivationBuffer
    let projectionGradient: ActivationBuffer

    init(configuration c: Qwen3Configuration, tokens: Int) {
        let hidden = tokens * c.hiddenSize
        let fused = tokens * (c.attentionHeads + 2 * c.keyValueHeads) * c.headDimension
        let attention = tokens * c.attentionHeads * c.headDimension
        let intermediate = tokens * c.intermediateSize
        let inputNormed = ActivationBuffer(hidden), queryKeyValue = ActivationBuffer(fused)
        let attentionOutput = ActivationBuffer(attention), projected = ActivationBuffer(hidden)
        let postNormed = ActivationBuffer(hidden), gateUp = ActivationBuffer(2 * intermediate)
        let activated = ActivationBuffer(intermediate)
        let projections = ActivationBuffer(fused), attentionResidual = ActivationBuffer(hidden)
        activatedGradient = ActivationBuffer(intermediate)
        gateUpGradient = ActivationBuffer(2 * intermediate)
        normedGradient = ActivationBuffer(hidden)
        attentionGradient = ActivationBuffer(attention)
        queryKeyValueGradient = ActivationBuffer(fused)
        projectionGradient = ActivationBuffer(fused)
        storage = [inputNormed, queryKeyValue, attentionOutput, projected, postNormed, gateUp, activated,
                   projections, attentionResidual]
        buffers = LayerBuffers(
            inputNormed: inputNormed.pointer, queryKeyValue: queryKeyValue.pointer, attention: attentionOutput.pointer,
            projected: projected.pointer, postAttentionNormed: inputNormed.pointer, gateUp: gateUp.pointer,
            activated: activated.pointer)
        recordingBuffers = LayerBuffers(
            inputNormed: inputNormed.pointer, queryKeyValue: queryKeyValue.pointer, attention: attentionOutput.pointer,
            projected: projected.pointer, postAttentionNormed: postNormed.pointer, gateUp: gateUp.pointer,
            activated: activated.pointer)
        recording = LayerRecording(projections: projections.pointer, attentionResidual: attentionResidual.pointer)
    }
}
