import Foundation
import ModelFormats
import Qwen3Embedding
import Testing
@testable import Training

/// Paths and readers for the torch goldens of Tests/Fixtures/training (see its README).
enum TrainingFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let embeddingModel = root.appendingPathComponent("tiny-qwen3-embedding")
    static let rerankerModel = root.appendingPathComponent("tiny-qwen3-reranker")
    static let training = root.appendingPathComponent("training")

    /// All tensors of a safetensors file as fp32 arrays keyed by name.
    static func tensors(_ url: URL) throws -> [String: [Float]] {
        let file = try SafetensorsFile(path: url.path)
        var result: [String: [Float]] = [:]
        for (name, tensor) in file.tensors {
            result[name] = tensor.floats()
        }
        return result
    }

    /// A PEFT adapter's factors keyed by canonical name (`base_model.model.` and `model.` dropped).
    static func adapterValues(_ directory: URL) throws -> [String: [Float]] {
        var result: [String: [Float]] = [:]
        for (name, values) in try tensors(directory.appendingPathComponent("adapter_model.safetensors")) {
            var canonical = name
            for prefix in ["base_model.model.", "model."] where canonical.hasPrefix(prefix) {
                canonical = String(canonical.dropFirst(prefix.count))
            }
            result[canonical] = values
        }
        return result
    }

    /// max |a − b| / max |b|: the relative gradient error.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var difference = 0.0, scale = 0.0
        for i in a.indices {
            difference = max(difference, abs(Double(a[i]) - Double(b[i])))
            scale = max(scale, abs(Double(b[i])))
        }
        return scale == 0 ? difference : difference / scale
    }
}

/// The embedding-lora golden case (InfoNCE on tiny-qwen3-embedding, LoRA rank 4 on all seven targets).
struct EmbeddingLoRACase: Decodable {
    struct Example: Decodable {
        let query_ids: [Int]
        let document_texts: [String]
        let document_ids: [[Int]]
        let query_state: [Float]
        let document_states: [[Float]]
        let query_state_gradient: [Float]
        let document_state_gradients: [[Float]]
    }
    struct LoRA: Decodable { let rank: Int; let alpha: Float; let targets: [String]; let initial_adapter: String }
    struct Variant: Decodable {
        struct Flags: Decodable {
            let temperature: Double; let false_negative_margin: Double
            let include_query_query: Bool; let include_document_document: Bool; let include_in_batch_negatives: Bool
        }
        let name: String
        let loss: Flags
        let loss_value: Double
        let gradients: String
    }
    let lora: LoRA
    let default_instruction: String
    let loss_value: Double
    let gradients: String
    let examples: [Example]
    let variants: [Variant]

    static let folder = TrainingFixtures.training.appendingPathComponent("embedding-lora")
    static func load() throws -> EmbeddingLoRACase {
        try JSONDecoder().decode(EmbeddingLoRACase.self, from: Data(contentsOf: folder.appendingPathComponent("case.json")))
    }

    /// Every text's ids in batch order: all queries, then each example's documents.
    var sequences: [[Int]] { examples.map(\.query_ids) + examples.flatMap(\.document_ids) }

    func model() throws -> TrainableModel {
        let targets = lora.targets.compactMap(LoRATarget.init(rawValue:))
        let initial = try TrainingFixtures.adapterValues(Self.folder.appendingPathComponent(lora.initial_adapter))
        return try TrainableModel(
            directory: TrainingFixtures.embeddingModel,
            method: .lora(LoRAConfiguration(rank: lora.rank, alpha: lora.alpha, targets: targets)),
            initialLoRAValues: initial)
    }
}

@Suite struct GradientParityTests {
    @Test func embeddingTokenIdsMatchTheGolden() throws {
        let golden = try EmbeddingLoRACase.load()
        let embedder = try Embedder(modelPath: TrainingFixtures.embeddingModel.path)
        let lines = try String(contentsOf: EmbeddingLoRACase.folder.appendingPathComponent("data.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        struct Line: Decodable { let query: String; let positive: String; let negatives: [String]; let instruction: String? }
        for (index, line) in lines.enumerated() {
            let example = try JSONDecoder().decode(Line.self, from: Data(line.utf8))
            let ids = golden.examples[index]
            #expect(embedder.tokenize([example.query], instruction: example.instruction ?? golden.default_instruction)[0] == ids.query_ids)
            #expect(embedder.tokenize([example.positive] + example.negatives) == ids.document_ids)
        }
    }

    @Test func embeddingStatesMatchTorch() throws {
        let golden = try EmbeddingLoRACase.load()
        let model = try golden.model()
        let states = try model.lastHiddenStates(golden.sequences)
        let expected = golden.examples.map(\.query_state) + golden.examples.flatMap(\.document_states)
        for (state, reference) in zip(states, expected) {
            #expect(TrainingFixtures.relativeError(state, reference) < 1e-4)
        }
    }

    /// The model's backward alone: the golden's dL/d state in, LoRA gradients out (loss-independent).
    @Test func loraGradientsFromGoldenStateGradientsMatchTorch() throws {
        let golden = try EmbeddingLoRACase.load()
        let model = try golden.model()
        let stateGradients = golden.examples.map(\.query_state_gradient) + golden.examples.flatMap(\.document_state_gradients)
        try model.accumulateGradients(golden.sequences, lastHiddenStateGradients: stateGradients)
        let reference = try TrainingFixtures.tensors(EmbeddingLoRACase.folder.appendingPathComponent(golden.gradients))
        #expect(reference.count == 28)
        #expect(model.parameters.count == reference.count)
        var worst = 0.0
        for parameter in model.parameters {
            let expected = try #require(reference[parameter.name], "\(parameter.name) not in the golden")
            let error = TrainingFixtures.relativeError(parameter.gradients, expected)
            worst = max(worst, error)
            #expect(error < 1e-4, "\(parameter.name): relative error \(error)")
        }
        print("embedding-lora: worst LoRA gradient relative error \(worst)")
    }
}
