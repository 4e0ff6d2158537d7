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

    /// All tensors of a safetensors file as fp32 values keyed by name; I64 tensors (the row indices of
    /// row-sparse gradients, which the engine's loader does not take) converted to Float exactly.
    static func tensors(_ url: URL) throws -> [String: [Float]] {
        let data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var result: [String: [Float]] = [:]
        for (name, entry) in header where name != "__metadata__" {
            let entry = entry as! [String: Any]
            let offsets = entry["data_offsets"] as! [Int]
            let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
            switch entry["dtype"] as! String {
            case "F32": result[name] = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            case "I64": result[name] = bytes.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Float($0) } }
            case let other: Issue.record("unexpected dtype \(other) in \(url.lastPathComponent)")
            }
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

    /// max |a − b| / max |b|: the issue's relative gradient error.
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

/// One golden case folder of Tests/Fixtures/training (fields as its README describes; each task's
/// example fields are optional here).
struct GoldenCase: Decodable {
    struct Example: Decodable {
        // Embedding cases.
        let query_ids: [Int]?
        let document_ids: [[Int]]?
        let query_state: [Float]?
        let document_states: [[Float]]?
        let query_state_gradient: [Float]?
        let document_state_gradients: [[Float]]?
        // Reranker cases.
        let query: String?
        let instruction: String?
        let ids: [[Int]]?
        let states: [[Float]]?
        let logits: [[Float]]?
        let state_gradients: [[Float]]?
        // Both.
        let document_texts: [String]
    }
    struct LoRA: Decodable { let rank: Int; let alpha: Float; let targets: [String]; let initial_adapter: String }
    struct Loss: Decodable {
        let temperature: Double?
        let false_negative_margin: Double?
        let include_query_query: Bool?
        let include_document_document: Bool?
        let include_in_batch_negatives: Bool?
        let reranker_loss: String?
    }
    struct Variant: Decodable {
        let name: String
        let loss: Loss
        let loss_value: Double
        let gradients: String
    }
    let model: String
    let task: String
    let method: String
    let lora: LoRA?
    let default_instruction: String
    let loss: Loss
    let loss_value: Double
    let gradients: String
    let sparse_rows: [String: String]?
    let examples: [Example]
    let variants: [Variant]?
    let yes_id: Int?
    let no_id: Int?

    let folder: URL

    enum CodingKeys: String, CodingKey {
        case model, task, method, lora, default_instruction, loss, loss_value, gradients, sparse_rows, examples, variants,
             yes_id, no_id
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        task = try c.decode(String.self, forKey: .task)
        method = try c.decode(String.self, forKey: .method)
        lora = try c.decodeIfPresent(LoRA.self, forKey: .lora)
        default_instruction = try c.decode(String.self, forKey: .default_instruction)
        loss = try c.decode(Loss.self, forKey: .loss)
        loss_value = try c.decode(Double.self, forKey: .loss_value)
        gradients = try c.decode(String.self, forKey: .gradients)
        sparse_rows = try c.decodeIfPresent([String: String].self, forKey: .sparse_rows)
        examples = try c.decode([Example].self, forKey: .examples)
        variants = try c.decodeIfPresent([Variant].self, forKey: .variants)
        yes_id = try c.decodeIfPresent(Int.self, forKey: .yes_id)
        no_id = try c.decodeIfPresent(Int.self, forKey: .no_id)
        folder = decoder.userInfo[.caseFolder] as! URL
    }

    static func load(_ name: String) throws -> GoldenCase {
        let folder = TrainingFixtures.training.appendingPathComponent(name)
        let decoder = JSONDecoder()
        decoder.userInfo[.caseFolder] = folder
        return try decoder.decode(GoldenCase.self, from: Data(contentsOf: folder.appendingPathComponent("case.json")))
    }

    var modelDirectory: URL { TrainingFixtures.root.appendingPathComponent(model) }

    /// Every text's ids in the order the tests batch them: embedding: all queries, then each example's
    /// documents; reranker: each example's (query, document) pairs.
    var sequences: [[Int]] {
        task == "embedding"
            ? examples.map { $0.query_ids! } + examples.flatMap { $0.document_ids! }
            : examples.flatMap { $0.ids! }
    }

    /// The reference final-norm states in `sequences` order.
    var states: [[Float]] {
        task == "embedding"
            ? examples.map { $0.query_state! } + examples.flatMap { $0.document_states! }
            : examples.flatMap { $0.states! }
    }

    /// The reference dL/d state in `sequences` order.
    var stateGradients: [[Float]] {
        task == "embedding"
            ? examples.map { $0.query_state_gradient! } + examples.flatMap { $0.document_state_gradients! }
            : examples.flatMap { $0.state_gradients! }
    }

    func trainableModel() throws -> TrainableModel {
        guard let lora else { return try TrainableModel(directory: modelDirectory, method: .full) }
        let targets = lora.targets.compactMap(LoRATarget.init(rawValue:))
        let initial = try TrainingFixtures.adapterValues(folder.appendingPathComponent(lora.initial_adapter).standardized)
        return try TrainableModel(
            directory: modelDirectory, method: .lora(LoRAConfiguration(rank: lora.rank, alpha: lora.alpha, targets: targets)),
            initialLoRAValues: initial)
    }

    /// Compares every parameter's gradient with the golden file (row-sparse tensors: the listed rows,
    /// and exactly zero elsewhere). Returns the worst relative error.
    @discardableResult
    func expectGradients(of model: TrainableModel, file: String, label: String) throws -> Double {
        let reference = try TrainingFixtures.tensors(folder.appendingPathComponent(file))
        let sparse = sparse_rows ?? [:]
        #expect(model.parameters.count == reference.count - sparse.count, "\(label): parameter count")
        var worst = 0.0
        for parameter in model.parameters {
            let expected = try #require(reference[parameter.name], "\(label): \(parameter.name) not in the golden")
            var actual = parameter.gradients
            if let rowsName = sparse[parameter.name] {
                let rows = try #require(reference[rowsName]).map { Int($0) }
                let width = parameter.shape[1]
                let listed = Set(rows)
                actual = rows.flatMap { Array(parameter.gradients[($0 * width)..<(($0 + 1) * width)]) }
                let outside = (0..<parameter.shape[0]).filter { !listed.contains($0) }
                    .contains { row in parameter.gradients[(row * width)..<((row + 1) * width)].contains { $0 != 0 } }
                #expect(!outside, "\(label): \(parameter.name) has gradient in rows torch leaves at zero")
            }
            let error = TrainingFixtures.relativeError(actual, expected)
            worst = max(worst, error)
            #expect(error < 1e-4, "\(label): \(parameter.name): relative error \(error)")
        }
        print("\(label): \(model.parameters.count) gradients, worst relative error \(worst)")
        return worst
    }
}

extension CodingUserInfoKey {
    static let caseFolder = CodingUserInfoKey(rawValue: "caseFolder")!
}

extension InfoNCELoss {
    init(_ loss: GoldenCase.Loss) {
        self.init(temperature: loss.temperature!, falseNegativeMargin: loss.false_negative_margin!,
                  includeQueryQuery: loss.include_query_query!, includeDocumentDocument: loss.include_document_document!,
                  includeInBatchNegatives: loss.include_in_batch_negatives!)
    }
}

/// Parity with PyTorch autograd (transformers + peft, float64) on the tiny fixtures: token ids, states,
/// the loss (1e-5) and every gradient (1e-4 relative, max |Δ| / max |g|), through our whole pipeline
/// (forward, helper B's loss, our backward), and through our backward alone from torch's state gradients.
@Suite(.serialized) struct GradientParityTests {
    static let embeddingCases = ["embedding-lora", "embedding-full"]
    static let rerankerCases = ["reranker-lora-pointwise", "reranker-lora-listwise", "reranker-full-pointwise"]

    @Test(arguments: embeddingCases)
    func embeddingTokenIdsMatchTheGolden(name: String) throws {
        let golden = try GoldenCase.load(name)
        let embedder = try Embedder(modelAt: golden.modelDirectory)
        let lines = try String(contentsOf: golden.folder.appendingPathComponent("data.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == golden.examples.count)
        struct Line: Decodable { let query: String; let positive: String; let negatives: [String]; let instruction: String? }
        for (index, line) in lines.enumerated() {
            let example = try JSONDecoder().decode(Line.self, from: Data(line.utf8))
            let ids = golden.examples[index]
            #expect(embedder.tokenize([example.query], instruction: example.instruction ?? golden.default_instruction)[0] == ids.query_ids)
            #expect(embedder.tokenize([example.positive] + example.negatives) == ids.document_ids)
            #expect([example.positive] + example.negatives == ids.document_texts)
        }
    }

    @Test(arguments: rerankerCases)
    func rerankerTokenIdsMatchTheGolden(name: String) throws {
        let golden = try GoldenCase.load(name)
        let reranker = try Reranker(modelAt: golden.modelDirectory, allowAnyModel: true)
        for example in golden.examples {
            let ids = example.document_texts.map {
                reranker.tokenize(query: example.query!, document: $0, instruction: example.instruction)
            }
            #expect(ids == example.ids)
        }
    }

    /// Our backward alone: torch's dL/d state in, parameter gradients out (independent of the loss code).
    @Test(arguments: embeddingCases + rerankerCases)
    func gradientsFromTorchStateGradients(name: String) throws {
        let golden = try GoldenCase.load(name)
        let model = try golden.trainableModel()
        let states = try model.lastHiddenStates(golden.sequences)
        for (state, reference) in zip(states, golden.states) {
            #expect(TrainingFixtures.relativeError(state, reference) < 1e-4, "\(name): state")
        }
        var stateGradients = golden.stateGradients
        if golden.task == "reranker" {
            // The head's backward is ours too: feed it torch's logit gradients and check its output.
            let rows = [golden.no_id!, golden.yes_id!]
            let logitGradients = try logitGradientsOf(golden)
            let fromHead = try model.headBackward(states: states, rows: rows, logitGradients: logitGradients)
            for (ours, reference) in zip(fromHead, stateGradients) {
                #expect(TrainingFixtures.relativeError(ours, reference) < 1e-4, "\(name): head backward")
            }
            stateGradients = fromHead
        }
        try model.accumulateGradients(golden.sequences, lastHiddenStateGradients: stateGradients)
        try golden.expectGradients(of: model, file: golden.gradients, label: "\(name) (torch state gradients)")
    }

    /// The whole pipeline: our forward, helper B's loss, our head and backward.
    @Test(arguments: embeddingCases + rerankerCases)
    func lossAndGradientsMatchTorch(name: String) throws {
        let golden = try GoldenCase.load(name)
        let variants = golden.variants.map { $0.map { ($0.name, $0.loss, $0.loss_value, $0.gradients) } }
            ?? [("default", golden.loss, golden.loss_value, golden.gradients)]
        for (variant, flags, lossValue, gradients) in variants {
            let model = try golden.trainableModel()
            let loss = try runLoss(golden, flags: flags, model: model)
            #expect(abs(Double(loss) - lossValue) <= 1e-5, "\(name) \(variant): loss \(loss) vs torch \(lossValue)")
            print("\(name) \(variant): loss \(loss), torch \(lossValue), |Δ| \(abs(Double(loss) - lossValue))")
            try golden.expectGradients(of: model, file: gradients, label: "\(name) \(variant)")
        }
    }

    /// Forward, loss and backward of one golden batch; returns the loss.
    private func runLoss(_ golden: GoldenCase, flags: GoldenCase.Loss, model: TrainableModel) throws -> Float {
        let sequences = golden.sequences
        let states = try model.lastHiddenStates(sequences)
        if golden.task == "embedding" {
            let n = golden.examples.count
            var documents: [[[Float]]] = []
            var cursor = n
            for example in golden.examples {
                documents.append(Array(states[cursor..<(cursor + example.document_texts.count)]))
                cursor += example.document_texts.count
            }
            let result = InfoNCELoss(flags).evaluate(
                queries: Array(states[0..<n]), documents: documents, documentTexts: golden.examples.map(\.document_texts))
            try model.accumulateGradients(
                sequences, lastHiddenStateGradients: result.queryGradients + result.documentGradients.flatMap { $0 })
            return result.loss
        }
        let rows = [golden.no_id!, golden.yes_id!]
        let logits = try model.headLogits(states: states, rows: rows)
        for (ours, reference) in zip(logits, golden.examples.flatMap { $0.logits! }) {
            #expect(TrainingFixtures.relativeError(ours, reference) < 1e-4, "logits")
        }
        var grouped: [[[Float]]] = []
        var cursor = 0
        for example in golden.examples {
            grouped.append(Array(logits[cursor..<(cursor + example.document_texts.count)]))
            cursor += example.document_texts.count
        }
        let kind = try #require(RerankerLoss(rawValue: flags.reranker_loss!))
        let (loss, logitGradients) = kind.evaluate(logits: grouped)
        let stateGradients = try model.headBackward(states: states, rows: rows, logitGradients: logitGradients.flatMap { $0 })
        try model.accumulateGradients(sequences, lastHiddenStateGradients: stateGradients)
        return loss
    }

    /// Torch's dL/d logits from the case file, in `sequences` order.
    private func logitGradientsOf(_ golden: GoldenCase) throws -> [[Float]] {
        let data = try Data(contentsOf: golden.folder.appendingPathComponent("case.json"))
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let examples = object["examples"] as! [[String: Any]]
        return examples.flatMap { ($0["logit_gradients"] as! [[Double]]).map { $0.map { Float($0) } } }
    }
}
