import Foundation
import ModelFormats
import Testing
import Qwen3Embedding

/// Every model fixture is classified as what it is, with the evidence named, and `Embedder` /
/// `Reranker` refuse the wrong kind unless `allowAnyModel` is passed.
@Suite struct ModelKindTests {
    static let llama = Fixtures.root.appendingPathComponent("gguf-llama")
    static let quantModel = Fixtures.root.appendingPathComponent("tiny-qwen3-quant").path
    static let llamaEmbeddingTypes = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_0", "Q4_K_M", "Q4_1", "IQ4_NL",
                                      "IQ4_XS", "Q4_0", "Q3_K_M", "Q2_K"]

    /// Every model fixture with the kind it must get and a word the evidence must contain.
    static let fixtures: [(path: String, kind: ModelKind, evidence: String)] = [
        (Fixtures.embeddingModel, .embedding, "sentence-transformers files: modules.json, config_sentence_transformers.json, 1_Pooling/config.json (last-token pooling)"),
        (Fixtures.rerankerModel, .reranker, "directory name \"tiny-qwen3-reranker\""),
        // Made from Qwen3ForCausalLM with an untied lm_head and a neutral name: nothing marks it.
        (quantModel, .languageModel, "Qwen3ForCausalLM with lm_head.weight"),
        (llama.appendingPathComponent("reranker-F16.gguf").path, .reranker, "GGUF pooling_type rank"),
        (llama.appendingPathComponent("reranker-Q8_0.gguf").path, .reranker, "GGUF pooling_type rank"),
    ] + llamaEmbeddingTypes.map { (llama.appendingPathComponent("embedding-\($0).gguf").path, .embedding, "GGUF pooling_type last") }

    /// Every model file under Tests/Fixtures is in the table (so a new fixture cannot go unclassified).
    @Test func theTableCoversEveryModelFixture() throws {
        var found: Set<String> = []
        for name in try FileManager.default.contentsOfDirectory(atPath: Fixtures.root.path) {
            let directory = Fixtures.root.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("config.json").path) {
                found.insert(directory.path)
            }
            for file in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where file.hasSuffix(".gguf") {
                let path = directory.appendingPathComponent(file).path
                // GGUF reader fixtures (a tokenizer only, synthetic tensors) are not models.
                if (try? Qwen3Model(path: path)) != nil { found.insert(path) }
            }
        }
        #expect(found == Set(Self.fixtures.map(\.path)))
    }

    @Test(arguments: fixtures.indices)
    func everyFixtureIsClassified(index: Int) throws {
        let (path, kind, evidence) = Self.fixtures[index]
        let classification = try ModelClassification(modelAt: URL(fileURLWithPath: path))
        #expect(classification.kind == kind, "\(path): \(classification)")
        #expect(classification.evidence.contains(evidence), "\(path): \(classification.evidence)")
    }

    @Test(arguments: fixtures.indices)
    func embedderAndRerankerAcceptOrRefuseByKind(index: Int) throws {
        let (path, kind, _) = Self.fixtures[index]
        // Embedder: only an embedding model, unless allowAnyModel.
        if kind == .embedding {
            #expect(try Embedder(modelAt: URL(fileURLWithPath: path)).kind == .embedding)
        } else {
            do {
                _ = try Embedder(modelAt: URL(fileURLWithPath: path))
                Issue.record("\(path): an Embedder loaded \(kind)")
            } catch let error as EmbeddingError {
                guard case .wrongModelKind(let errorPath, let found, .embedding) = error else {
                    Issue.record("\(path): \(error)")
                    return
                }
                #expect(errorPath == path && found.kind == kind)
                let message = error.localizedDescription
                #expect(message.hasPrefix("\(path) is \(kind) ("), "\(message)")
                #expect(!message.contains("\n"))
            }
            #expect(try Embedder(modelAt: URL(fileURLWithPath: path), allowAnyModel: true).kind == kind)
        }
        // Reranker: anything but an identified embedding model (a reranker is a causal LM).
        if kind == .embedding {
            #expect(throws: EmbeddingError.self) { try Reranker(modelAt: URL(fileURLWithPath: path)) }
            // These GGUFs keep the LM head (output.weight); the embedding directory's is tied.
            #expect(try Reranker(modelAt: URL(fileURLWithPath: path), allowAnyModel: true).kind == .embedding)
        } else {
            #expect(try Reranker(modelAt: URL(fileURLWithPath: path)).kind == kind)
        }
    }

    /// A model given already loaded records the role it is used in, and says it was not checked.
    @Test func modelsGivenAlreadyLoadedSayTheyWereNotChecked() throws {
        let embedder = try Embedder(modelAt: URL(fileURLWithPath: Fixtures.embeddingModel))
        let derived = try Embedder(model: embedder.model, tokenizer: embedder.tokenizer, maxLength: 16)
        #expect(derived.kind == .embedding && derived.classification.evidence.contains("not checked"))
        let passed = try Embedder(model: embedder.model, tokenizer: embedder.tokenizer, classification: embedder.classification)
        #expect(passed.classification == embedder.classification)
    }

    /// Hugging Face directories without sentence-transformers files or a telling name are classified
    /// by their architecture and weights; a Hub cache snapshot by its repository's name.
    @Test func directoriesAreClassifiedByArchitectureWeightsAndHubName() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kind-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        func copy(_ source: String, to relative: String, removing: [String] = [], config edit: ([String: Any]) -> [String: Any] = { $0 }) throws -> String {
            let destination = scratch.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: source, toPath: destination.path)
            for name in removing { try FileManager.default.removeItem(at: destination.appendingPathComponent(name)) }
            let configURL = destination.appendingPathComponent("config.json")
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
            try JSONSerialization.data(withJSONObject: edit(config)).write(to: configURL)
            return destination.path
        }
        let sentenceTransformers = ["modules.json", "config_sentence_transformers.json", "1_Pooling"]

        // The embedding fixture without its sentence-transformers files, under a neutral name: its
        // weights were saved from the bare Qwen3Model (no `model.` prefix, no lm_head).
        let bare = try copy(Fixtures.embeddingModel, to: "plain-a", removing: sentenceTransformers)
        var classification = try ModelClassification(modelAt: URL(fileURLWithPath: bare))
        #expect(classification.kind == .embedding && classification.evidence.contains("bare Qwen3Model"), "\(classification)")

        // The same with architectures ["Qwen3Model"].
        let architecture = try copy(Fixtures.embeddingModel, to: "plain-b", removing: sentenceTransformers) {
            $0.merging(["architectures": ["Qwen3Model"]]) { $1 }
        }
        classification = try ModelClassification(modelAt: URL(fileURLWithPath: architecture))
        #expect(classification == ModelClassification(kind: .embedding, evidence: "architecture Qwen3Model (no LM head)"))

        // `_name_or_path` naming the official reranker.
        let named = try copy(Self.quantModel, to: "plain-c") { $0.merging(["_name_or_path": "Qwen/Qwen3-Reranker-4B"]) { $1 } }
        classification = try ModelClassification(modelAt: URL(fileURLWithPath: named))
        #expect(classification == ModelClassification(kind: .reranker, evidence: "_name_or_path \"Qwen/Qwen3-Reranker-4B\""))

        // A sequence-classification architecture.
        let sequenceClassifier = try copy(Self.quantModel, to: "plain-d") {
            $0.merging(["architectures": ["Qwen3ForSequenceClassification"]]) { $1 }
        }
        classification = try ModelClassification(modelAt: URL(fileURLWithPath: sequenceClassifier))
        #expect(classification == ModelClassification(kind: .reranker, evidence: "architecture Qwen3ForSequenceClassification"))

        // A Hub cache snapshot (its own name is a commit hash): the repository's name decides.
        let snapshot = try copy(Fixtures.rerankerModel, to: "models--Qwen--Qwen3-Reranker-0.6B/snapshots/0123abcd")
        classification = try ModelClassification(modelAt: URL(fileURLWithPath: snapshot))
        #expect(classification == ModelClassification(kind: .reranker, evidence: "directory name \"Qwen/Qwen3-Reranker-0.6B\""))

        // The reranker fixture under a neutral name is a causal LM: a Reranker takes it, an Embedder does not.
        let renamed = try copy(Fixtures.rerankerModel, to: "plain-e")
        #expect(try ModelClassification(modelAt: URL(fileURLWithPath: renamed)).kind == .languageModel)
        #expect(try Reranker(modelAt: URL(fileURLWithPath: renamed)).kind == .languageModel)
        #expect(throws: EmbeddingError.self) { try Embedder(modelAt: URL(fileURLWithPath: renamed)) }
    }
}
