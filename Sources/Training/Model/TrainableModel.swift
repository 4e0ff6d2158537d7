import Evaluation
import Foundation
import Kernels
@_spi(Training) import Qwen3
import ModelFormats

/// A Qwen3 model whose weights (LoRA factors, or every weight) can be trained.
///
/// The forward pass is `Qwen3Model`'s own (`forwardLayer`, run over `TrainableLinear` layers), so a
/// trained model computes exactly what inference computes. The backward pass is hand-written, one
/// function per operation (see `TrainableModel+Backward.swift`), with activation checkpointing per
/// layer: the forward keeps only each layer's input rows, and the backward recomputes one layer at a
/// time, so activation memory is that of one layer plus one residual row per token and layer.
///
/// Gradient caching (big batches on small memory) falls out of the API: `lastHiddenStates` runs a
/// forward pass that records nothing; the loss over the whole batch gives each state's gradient; then
/// `accumulateGradients` back-propagates any subset of the sequences with their state gradients.
public final class TrainableModel: @unchecked Sendable {
    /// The model's hyper-parameters.
    public let configuration: Qwen3Configuration
    /// How the model is trained.
    public let method: TrainingMethod
    /// Arithmetic of the frozen linear layers (`.bfloat16`: bf16 products, fp32 accumulation).
    public let precision: Precision
    /// The trainable tensors in a stable order (layer by layer; LoRA: per target A then B; full: the
    /// checkpoint's tensors in layer order, then `norm.weight`, then `lm_head.weight` when untied).
    public let parameters: [TrainableParameter]
    /// The model directory the weights came from.
    public let directory: URL

    let features: CPUFeatures
    let pool: ComputePool
    let layers: [TrainableLayer]
    /// Full fine-tuning: the embedding table, the final norm and the untied LM head as parameters.
    let embedding: TrainableParameter?
    let finalNorm: TrainableParameter?
    let languageModelHead: TrainableParameter?
    /// The frozen weights (LoRA) the inference model was assembled from; kept for frozen norms/head.
    private let frozenWeights: Qwen3Weights?
    /// The model the forward runs on; rebuilt by `parametersDidChange` (norms are copied into it).
    private(set) var model: Qwen3Model
    /// `"model."` when the checkpoint's tensor names carry it (causal-LM checkpoints), else `""`: PEFT
    /// adapter keys and saved tensors follow the input's layout.
    let namePrefix: String
    /// The checkpoints of the last `lastHiddenStates(_:retainingActivations: true)` call, which the next
    /// `accumulateGradients` on the same sequences uses instead of running the forward again.
    var retained: RetainedForward?

    /// Loads a Hugging Face model directory for training.
    ///
    /// - Parameters:
    ///   - directory: `config.json` + safetensors; a `.gguf` file (or a directory holding only GGUF) is
    ///     refused: train from safetensors, quantize afterwards.
    ///   - method: LoRA (A Kaiming-uniform with `seed`, B zero, PEFT's init) or full fine-tuning.
    ///   - precision: arithmetic of the frozen base weights in LoRA: `.bfloat16` rounds activations and
    ///     output gradients to bf16 for their products (fp32 accumulation; LoRA factors and gradients stay
    ///     fp32). A bf16 checkpoint stays bf16 in memory either way. Full fine-tuning multiplies its fp32
    ///     master weights in fp32.
    ///   - seed: seeds the LoRA A initialisation (`SeededGenerator`).
    ///   - initialLoRAValues: optional starting A/B values keyed by canonical name (e.g. read from a PEFT
    ///     adapter); every adapted tensor must be present with its shape.
    public init(
        directory: URL, method: TrainingMethod, precision: Precision = .float32, seed: UInt64 = 0,
        initialLoRAValues: [String: [Float]]? = nil, features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) throws {
        let path = directory.path
        if path.lowercased().hasSuffix(".gguf") { throw TrainableModelError.ggufInput(path) }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        if files.contains(where: { $0.lowercased().hasSuffix(".gguf") })
            && !files.contains(where: { $0.hasSuffix(".safetensors") || $0.hasSuffix(".safetensors.index.json") }) {
            throw TrainableModelError.ggufInput(path)
        }
        let c = try Qwen3Configuration.load(directory: path)
        let checkpoint = try SafetensorsCheckpoint(directory: path)
        let prefix = checkpoint.tensor(named: "model.embed_tokens.weight") != nil ? "model." : ""
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            let full = (name == "lm_head.weight" ? "" : prefix) + name
            guard checkpoint.tensor(named: full) != nil else {
                throw ModelFormatError.missingTensor(name: full, directory: path)
            }
            return try checkpoint.requireTensor(named: full, shape: shape)
        }
        self.directory = directory
        self.configuration = c
        self.method = method
        self.precision = precision
        self.features = features
        self.pool = pool
        self.namePrefix = prefix

        let hidden = c.hiddenSize
        let queryWidth = c.attentionHeads * c.headDimension
        let keyValueWidth = c.keyValueHeads * c.headDimension
        let shapes: [LoRATarget: (rows: Int, columns: Int)] = [
            .queryProjection: (queryWidth, hidden), .keyProjection: (keyValueWidth, hidden),
            .valueProjection: (keyValueWidth, hidden), .outputProjection: (hidden, queryWidth),
            .gateProjection: (c.intermediateSize, hidden), .upProjection: (c.intermediateSize, hidden),
            .downProjection: (hidden, c.intermediateSize),
        ]
        var parameters: [TrainableParameter] = []
        var layers: [TrainableLayer] = []

        switch method {
        case .lora(let lora):
            guard lora.rank > 0 else { throw TrainableModelError.invalidLoRAConfiguration("rank must be positive, got \(lora.rank)") }
            guard lora.alpha.isFinite, lora.alpha > 0 else {
                throw TrainableModelError.invalidLoRAConfiguration("alpha must be positive, got \(lora.alpha)")
            }
            guard !lora.targets.isEmpty else { throw TrainableModelError.invalidLoRAConfiguration("no target modules") }
            let weights = try Qwen3Weights(checkpoint: checkpoint, configuration: c, precision: precision)
            var generator = SeededGenerator(seed: seed)
            var expected = Set<String>()
            for (index, layer) in weights.layers.enumerated() {
                // PEFT's order of creation does not matter for values we seed ourselves; ours is the
                // canonical target order, layer by layer, A drawn before the next target's.
                var adapters: [LoRATarget: TrainableLinear.Adapter] = [:]
                for target in LoRATarget.allCases where lora.targets.contains(target) {
                    let shape = shapes[target]!
                    let name = "layers.\(index).\(target.pathInLayer)"
                    let bound = 1 / Float(shape.columns).squareRoot()
                    var aValues = (0..<(lora.rank * shape.columns)).map { _ in Float.random(in: -bound..<bound, using: &generator) }
                    var bValues = [Float](repeating: 0, count: shape.rows * lora.rank)
                    expected.insert(name + ".lora_A.weight")
                    expected.insert(name + ".lora_B.weight")
                    if let initial = initialLoRAValues {
                        guard let a = initial[name + ".lora_A.weight"], a.count == aValues.count,
                              let b = initial[name + ".lora_B.weight"], b.count == bValues.count else {
                            throw TrainableModelError.invalidInitialValues(
                                "\(name).lora_A/B missing or not of shape [\(lora.rank), \(shape.columns)] / [\(shape.rows), \(lora.rank)]")
                        }
                        aValues = a
                        bValues = b
                    }
                    let a = TrainableParameter(name: name + ".lora_A.weight", shape: [lora.rank, shape.columns], values: aValues)
                    let b = TrainableParameter(name: name + ".lora_B.weight", shape: [shape.rows, lora.rank], values: bValues)
                    parameters.append(a)
                    parameters.append(b)
                    adapters[target] = TrainableLinear.Adapter(a: a, b: b, scale: lora.scale)
                }
                func frozen(_ packed: any LinearLayer, _ names: [(String, LoRATarget)]) throws -> TrainableLinear {
                    // Safetensors weights are always packed (a GGUF quantized layer cannot reach here).
                    guard let matrix = packed as? PackedMatrix else {
                        throw TrainableModelError.ggufInput(path)
                    }
                    return TrainableLinear(
                        base: .frozen(matrix), partRows: names.map { shapes[$0.1]!.rows },
                        columns: shapes[names[0].1]!.columns, adapters: names.map { adapters[$0.1] })
                }
                layers.append(TrainableLayer(
                    queryKeyValue: try frozen(layer.queryKeyValueProjection, [
                        ("self_attn.q_proj.weight", .queryProjection), ("self_attn.k_proj.weight", .keyProjection),
                        ("self_attn.v_proj.weight", .valueProjection)]),
                    output: try frozen(layer.outputProjection, [("self_attn.o_proj.weight", .outputProjection)]),
                    gateUp: try frozen(layer.gateUpProjection, [
                        ("mlp.gate_proj.weight", .gateProjection), ("mlp.up_proj.weight", .upProjection)]),
                    down: try frozen(layer.downProjection, [("mlp.down_proj.weight", .downProjection)]),
                    inputNorm: nil, queryNorm: nil, keyNorm: nil, postAttentionNorm: nil))
            }
            if let initial = initialLoRAValues {
                let unexpected = Set(initial.keys).subtracting(expected)
                if let name = unexpected.sorted().first {
                    throw TrainableModelError.invalidInitialValues("\(name) is not a tensor of this LoRA configuration")
                }
            }
            embedding = nil
            finalNorm = nil
            languageModelHead = nil
            frozenWeights = weights

        case .full:
            func parameter(_ name: String, _ shape: [Int]) throws -> TrainableParameter {
                let p = TrainableParameter(name: name, shape: shape, values: try tensor(name, shape).floats())
                parameters.append(p)
                return p
            }
            embedding = try parameter("embed_tokens.weight", [c.vocabularySize, hidden])
            for index in 0..<c.layerCount {
                let l = "layers.\(index)."
                let inputNorm = try parameter(l + "input_layernorm.weight", [hidden])
                let q = try parameter(l + "self_attn.q_proj.weight", [queryWidth, hidden])
                let k = try parameter(l + "self_attn.k_proj.weight", [keyValueWidth, hidden])
                let v = try parameter(l + "self_attn.v_proj.weight", [keyValueWidth, hidden])
                let o = try parameter(l + "self_attn.o_proj.weight", [hidden, queryWidth])
                let queryNorm = try parameter(l + "self_attn.q_norm.weight", [c.headDimension])
                let keyNorm = try parameter(l + "self_attn.k_norm.weight", [c.headDimension])
                let postNorm = try parameter(l + "post_attention_layernorm.weight", [hidden])
                let gate = try parameter(l + "mlp.gate_proj.weight", [c.intermediateSize, hidden])
                let up = try parameter(l + "mlp.up_proj.weight", [c.intermediateSize, hidden])
                let down = try parameter(l + "mlp.down_proj.weight", [hidden, c.intermediateSize])
                layers.append(TrainableLayer(
                    queryKeyValue: TrainableLinear(base: .trainable([q, k, v]), partRows: [queryWidth, keyValueWidth, keyValueWidth],
                                                   columns: hidden, adapters: [nil, nil, nil]),
                    output: TrainableLinear(base: .trainable([o]), partRows: [hidden], columns: queryWidth, adapters: [nil]),
                    gateUp: TrainableLinear(base: .trainable([gate, up]), partRows: [c.intermediateSize, c.intermediateSize],
                                            columns: hidden, adapters: [nil, nil]),
                    down: TrainableLinear(base: .trainable([down]), partRows: [hidden], columns: c.intermediateSize, adapters: [nil]),
                    inputNorm: inputNorm, queryNorm: queryNorm, keyNorm: keyNorm, postAttentionNorm: postNorm))
            }
            finalNorm = try parameter("norm.weight", [hidden])
            if checkpoint.tensor(named: "lm_head.weight") != nil {
                languageModelHead = try parameter("lm_head.weight", [c.vocabularySize, hidden])
            } else {
                languageModelHead = nil
            }
            frozenWeights = nil
        }
        self.parameters = parameters
        self.layers = layers
        self.model = Qwen3Model(
            configuration: c,
            weights: Self.assemble(layers: layers, frozen: frozenWeights, embedding: embedding, finalNorm: finalNorm,
                                   head: languageModelHead, configuration: c),
            precision: precision, features: features, pool: pool)
    }

    /// The weights the shared forward runs on: the trainable layers, with the current norm values.
    private static func assemble(
        layers: [TrainableLayer], frozen: Qwen3Weights?, embedding: TrainableParameter?, finalNorm: TrainableParameter?,
        head: TrainableParameter?, configuration c: Qwen3Configuration
    ) -> Qwen3Weights {
        let layerWeights = layers.enumerated().map { index, layer in
            let frozenLayer = frozen?.layers[index]
            return Qwen3LayerWeights(
                inputNorm: layer.inputNorm?.values ?? frozenLayer!.inputNorm,
                queryKeyValueProjection: layer.queryKeyValue, outputProjection: layer.output,
                queryNorm: layer.queryNorm?.values ?? frozenLayer!.queryNorm,
                keyNorm: layer.keyNorm?.values ?? frozenLayer!.keyNorm,
                postAttentionNorm: layer.postAttentionNorm?.values ?? frozenLayer!.postAttentionNorm,
                gateUpProjection: layer.gateUp, downProjection: layer.down)
        }
        func rows(_ parameter: TrainableParameter) -> WeightRows {
            let width = parameter.shape[1]
            return WeightRows(rowCount: parameter.shape[0], rowLength: width) { row, destination in
                parameter.values.withUnsafeBufferPointer { values in
                    destination.update(from: values.baseAddress! + row * width, count: width)
                }
            }
        }
        if let frozen {
            return Qwen3Weights(tokenEmbedding: frozen.tokenEmbedding, layers: layerWeights, finalNorm: frozen.finalNorm,
                                languageModelHead: frozen.languageModelHead, classifier: nil)
        }
        let embeddingRows = rows(embedding!)
        return Qwen3Weights(
            tokenEmbedding: embeddingRows, layers: layerWeights, finalNorm: finalNorm!.values,
            languageModelHead: head.map(rows) ?? (c.tieWordEmbeddings ? embeddingRows : nil), classifier: nil)
    }

    /// Call after an optimiser changed `parameters`: the forward reads linear weights and LoRA factors
    /// in place, but holds copies of the norm weights, which are refreshed here.
    public func parametersDidChange() {
        retained = nil
        guard case .full = method else { return }
        model = Qwen3Model(
            configuration: configuration,
            weights: Self.assemble(layers: layers, frozen: frozenWeights, embedding: embedding, finalNorm: finalNorm,
                                   head: languageModelHead, configuration: configuration),
            precision: precision, features: features, pool: pool)
    }

    /// Sets every parameter's gradient to zero.
    public func zeroGradients() {
        retained = nil
        parameters.forEach { $0.zeroGradients() }
    }

    /// Checks that every sequence can run (non-empty, within the context, known token ids).
    public func validate(_ sequences: [[Int]]) throws {
        for (index, sequence) in sequences.enumerated() {
            if sequence.isEmpty { throw TrainableModelError.invalidSequence("sequence \(index) has no tokens") }
            if sequence.count > configuration.maxPositionEmbeddings {
                throw TrainableModelError.invalidSequence(
                    "sequence \(index) has \(sequence.count) tokens; the model supports \(configuration.maxPositionEmbeddings)")
            }
            if let id = sequence.first(where: { !(0..<configuration.vocabularySize).contains($0) }) {
                throw TrainableModelError.invalidSequence("token id \(id) in sequence \(index) is outside the vocabulary")
            }
        }
    }

    /// The final-norm hidden state at the last token of each sequence (`sequences.count × hidden`).
    ///
    /// - Parameter retainingActivations: `false` (the default) runs inference's forward and keeps
    ///   nothing. `true` keeps each layer's input rows (hidden values per token and layer) until the next
    ///   `accumulateGradients` call with the same sequences, which then skips its own forward pass: use it
    ///   when the whole batch is back-propagated at once (no gradient caching). The states are bitwise
    ///   the same either way.
    public func lastHiddenStates(_ sequences: [[Int]], retainingActivations: Bool = false) throws -> [[Float]] {
        try validate(sequences)
        retained = nil
        guard retainingActivations, !sequences.isEmpty else { return try model.lastHiddenStates(for: sequences) }
        let forward = checkpointedForward(sequences)
        retained = forward
        let hidden = configuration.hiddenSize
        return forward.batch.segments.map { segment in
            var state = [Float](repeating: 0, count: hidden)
            state.withUnsafeMutableBufferPointer { state in
                model.finalNorm(forward.output.pointer + (segment.start + segment.length - 1) * hidden, into: state.baseAddress!)
            }
            return state
        }
    }
}
