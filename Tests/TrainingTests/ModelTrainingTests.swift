import Foundation
import Kernels
import ModelFormats
import Qwen3
import Qwen3Embedding
import Testing
@testable import Training

/// TrainableModel beyond parity: the shared forward, LoRA initialisation, gradient caching, saving,
/// and refused inputs.
@Suite(.serialized) struct ModelTrainingTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("model-training-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A fresh LoRA model (B = 0) computes bitwise what inference computes: the forward is the same code.
    @Test(arguments: ["tiny-qwen3-embedding", "tiny-qwen3-reranker"])
    func freshLoRAModelEqualsInferenceBitwise(model name: String) throws {
        let directory = TrainingFixtures.root.appendingPathComponent(name)
        let sequences = [[1, 2, 3, 4, 5], [151643], [42, 7, 9]]
        let inference = try Qwen3Model(directory: directory.path).lastHiddenStates(for: sequences)
        let trainable = try TrainableModel(directory: directory, method: .lora(LoRAConfiguration()), seed: 7)
        #expect(try trainable.lastHiddenStates(sequences) == inference)
        let full = try TrainableModel(directory: directory, method: .full)
        for (ours, reference) in zip(try full.lastHiddenStates(sequences), inference) {
            #expect(TrainingFixtures.relativeError(ours, reference) < 1e-5)
        }
    }

    /// Keeping the forward's checkpoints for the backward changes nothing but the work done.
    @Test func retainedActivationsGiveTheSameStatesAndGradients() throws {
        let golden = try GoldenCase.load("embedding-full")
        let sequences = golden.sequences
        let plain = try golden.trainableModel()
        let retaining = try golden.trainableModel()
        let states = try plain.lastHiddenStates(sequences)
        #expect(try retaining.lastHiddenStates(sequences, retainingActivations: true) == states)
        try plain.accumulateGradients(sequences, lastHiddenStateGradients: golden.stateGradients)
        try retaining.accumulateGradients(sequences, lastHiddenStateGradients: golden.stateGradients)
        for (a, b) in zip(plain.parameters, retaining.parameters) {
            #expect(a.gradients == b.gradients, "\(a.name)")
        }
    }

    /// bf16 precision (bf16 products of the frozen weights, fp32 accumulation and master weights) stays
    /// close to fp32: same loss landscape, gradients within bf16 rounding.
    @Test func bfloat16GradientsStayCloseToFloat32() throws {
        let golden = try GoldenCase.load("embedding-lora")
        let lora = try #require(golden.lora)
        let initial = try TrainingFixtures.adapterValues(golden.folder.appendingPathComponent(lora.initial_adapter))
        let method = TrainingMethod.lora(LoRAConfiguration(rank: lora.rank, alpha: lora.alpha))
        let exact = try TrainableModel(directory: golden.modelDirectory, method: method, precision: .float32, initialLoRAValues: initial)
        let fast = try TrainableModel(directory: golden.modelDirectory, method: method, precision: .bfloat16, initialLoRAValues: initial)
        for model in [exact, fast] {
            try model.accumulateGradients(golden.sequences, lastHiddenStateGradients: golden.stateGradients)
        }
        var worst = 0.0
        for (a, b) in zip(fast.parameters, exact.parameters) {
            let error = TrainingFixtures.relativeError(a.gradients, b.gradients)
            worst = max(worst, error)
            #expect(error < 5e-2, "\(a.name): \(error)")
        }
        #expect(worst > 0, "bf16 products really ran")
        print("bf16 vs fp32 LoRA gradients: worst relative difference \(worst)")
    }

    /// PEFT's initialisation: A uniform in ±1/√in (Kaiming-uniform, a = √5) from the seed, B zero;
    /// parameters in a stable, documented order.
    @Test func loraInitialisation() throws {
        let directory = TrainingFixtures.embeddingModel
        let configuration = LoRAConfiguration(rank: 4, alpha: 8, targets: [.queryProjection, .downProjection])
        let first = try TrainableModel(directory: directory, method: .lora(configuration), seed: 1)
        let again = try TrainableModel(directory: directory, method: .lora(configuration), seed: 1)
        let other = try TrainableModel(directory: directory, method: .lora(configuration), seed: 2)
        #expect(first.parameters.map(\.name) == [
            "layers.0.self_attn.q_proj.lora_A.weight", "layers.0.self_attn.q_proj.lora_B.weight",
            "layers.0.mlp.down_proj.lora_A.weight", "layers.0.mlp.down_proj.lora_B.weight",
            "layers.1.self_attn.q_proj.lora_A.weight", "layers.1.self_attn.q_proj.lora_B.weight",
            "layers.1.mlp.down_proj.lora_A.weight", "layers.1.mlp.down_proj.lora_B.weight",
        ])
        #expect(first.parameters.map(\.shape) == [[4, 40], [64, 4], [4, 96], [40, 4], [4, 40], [64, 4], [4, 96], [40, 4]])
        for (index, parameter) in first.parameters.enumerated() {
            #expect(parameter.values == again.parameters[index].values)
            if parameter.name.hasSuffix("lora_B.weight") {
                #expect(parameter.values.allSatisfy { $0 == 0 })
            } else {
                let bound = 1 / Float(parameter.shape[1]).squareRoot()
                #expect(parameter.values.allSatisfy { abs($0) <= bound })
                #expect(parameter.values.map(abs).max()! > bound * 0.9, "spread over the whole range")
                #expect(parameter.values != other.parameters[index].values)
            }
        }
    }

    /// Gradient caching: back-propagating a batch of 8 texts in mini-batches of 2 (with the state
    /// gradients of the whole batch's loss) gives the gradients of one backward over all 8.
    @Test(arguments: ["embedding-lora", "embedding-full"])
    func miniBatchesGiveTheFullBatchGradients(caseName: String) throws {
        let golden = try GoldenCase.load(caseName)
        // 4 queries and their 4 positives: 8 texts.
        let sequences = golden.examples.map { $0.query_ids! } + golden.examples.map { $0.document_ids![0] }
        let whole = try golden.trainableModel()
        let states = try whole.lastHiddenStates(sequences)
        let loss = InfoNCELoss(golden.loss).evaluate(
            queries: Array(states[0..<4]), documents: states[4..<8].map { [$0] },
            documentTexts: golden.examples.map { [$0.document_texts[0]] })
        let gradients = loss.queryGradients + loss.documentGradients.map { $0[0] }
        try whole.accumulateGradients(sequences, lastHiddenStateGradients: gradients)

        let cached = try golden.trainableModel()
        for start in stride(from: 0, to: 8, by: 2) {
            try cached.accumulateGradients(Array(sequences[start..<(start + 2)]),
                                           lastHiddenStateGradients: Array(gradients[start..<(start + 2)]))
        }
        var worst = 0.0
        for (a, b) in zip(cached.parameters, whole.parameters) {
            #expect(b.gradients.contains { $0 != 0 }, "\(b.name) has a gradient")
            let error = TrainingFixtures.relativeError(a.gradients, b.gradients)
            worst = max(worst, error)
            #expect(error <= 1e-6, "\(a.name): relative difference \(error)")
        }
        print("\(caseName): mini-batches of 2 vs one batch of 8, worst relative difference \(worst)")
    }

    /// Full fine-tuning saves a Hugging Face directory in the input dtype and names that our Embedder
    /// loads, and `parametersDidChange` makes changed norms visible to the forward.
    @Test func savedFullModelLoadsInTheEmbedder() async throws {
        let model = try TrainableModel(directory: TrainingFixtures.embeddingModel, method: .full)
        let sequences = [[9, 8, 7, 151643], [100, 200, 151643]]
        let before = try model.lastHiddenStates(sequences)
        for (index, parameter) in model.parameters.enumerated() {
            for i in stride(from: index % 3, to: parameter.count, by: 3) { parameter.values[i] *= 1.25 }
        }
        model.parametersDidChange()
        let after = try model.lastHiddenStates(sequences)
        #expect(TrainingFixtures.relativeError(after[0], before[0]) > 1e-2, "the change reaches the forward")

        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        try model.saveModel(to: output)
        for file in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(file).path), "\(file) copied")
        }
        // Same names and dtype (bf16) as the input; values are the parameters rounded once to bf16.
        let saved = try SafetensorsFile(path: output.appendingPathComponent("model.safetensors").path)
        let input = try SafetensorsCheckpoint(directory: TrainingFixtures.embeddingModel.path)
        #expect(saved.tensors.keys.sorted() == input.tensorNames)
        for parameter in model.parameters {
            let tensor = try #require(saved.tensors[parameter.name])
            #expect(tensor.dataType == input.tensor(named: parameter.name)!.dataType)
            let rounded = parameter.values.map { BFloat16.widening(BFloat16.rounding($0)) }
            #expect(tensor.floats() == rounded, "\(parameter.name)")
        }
        // Our engine loads it and computes what a trainable model of the saved weights computes.
        let reloaded = try TrainableModel(directory: output, method: .full)
        let expected = try reloaded.lastHiddenStates(sequences).map { state -> [Float] in
            var state = state
            VectorMath.l2Normalize(&state)
            return state
        }
        let embedder = try Embedder(modelAt: output)
        let embeddings = try await embedder.embed(tokenIDs: sequences)
        for (ours, reference) in zip(embeddings, expected) {
            #expect(TrainingFixtures.relativeError(ours, reference) < 1e-5)
        }
        for (ours, reference) in zip(try reloaded.lastHiddenStates(sequences), after) {
            #expect(TrainingFixtures.relativeError(ours, reference) < 2e-2, "only bf16 rounding apart")
        }
    }

    /// LoRA's merged model (fp32 reranker: no rounding) scores in our Reranker as the adapted model does.
    @Test func savedMergedLoRAModelScoresInTheReranker() async throws {
        let golden = try GoldenCase.load("reranker-lora-pointwise")
        let model = try golden.trainableModel()
        let sequences = golden.sequences
        let logits = try model.headLogits(states: try model.lastHiddenStates(sequences), rows: [golden.no_id!, golden.yes_id!])
        let output = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        try model.saveModel(to: output)
        let reranker = try Reranker(modelAt: output, allowAnyModel: true)
        let scores = try await reranker.score(tokenIDs: sequences)
        for (score, logit) in zip(scores, logits) {
            let expected = 1 / (1 + exp(-(logit[1] - logit[0])))
            #expect(abs(score - expected) < 1e-5, "score \(score) vs \(expected)")
        }
    }

    @Test func refusedInputs() throws {
        let gguf = TrainingFixtures.root.appendingPathComponent("gguf/valid-v3.gguf")
        #expect(throws: TrainableModelError.ggufInput(gguf.path)) {
            try TrainableModel(directory: gguf, method: .full)
        }
        #expect(TrainableModelError.ggufInput("m.gguf").localizedDescription.contains("quantize afterwards"))
        let directory = TrainingFixtures.embeddingModel
        #expect(throws: TrainableModelError.self) {
            try TrainableModel(directory: directory, method: .lora(LoRAConfiguration(rank: 0)))
        }
        #expect(throws: TrainableModelError.self) {
            try TrainableModel(directory: directory, method: .lora(LoRAConfiguration(rank: 4, alpha: 8, targets: [.queryProjection])),
                               initialLoRAValues: ["layers.0.self_attn.q_proj.lora_A.weight": [1, 2]])
        }
        let model = try TrainableModel(directory: directory, method: .lora(LoRAConfiguration(rank: 2, targets: [.upProjection])))
        #expect(throws: TrainableModelError.self) { try model.lastHiddenStates([[]]) }
        #expect(throws: TrainableModelError.self) { try model.lastHiddenStates([[151669]]) }
        #expect(throws: TrainableModelError.self) {
            try model.accumulateGradients([[1, 2]], lastHiddenStateGradients: [[0]])
        }
    }
}
