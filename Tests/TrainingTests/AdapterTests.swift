import Evaluation
import Foundation
import ModelFormats
import Qwen3
import Qwen3Embedding
import Testing
import Tokenizer
@testable import Training

/// PEFT LoRA adapters: adapters made by peft load here and give transformers + peft's outputs; our writer's
/// output reads back exactly; merge-adapter writes what the in-memory merge computes; bad adapters fail
/// with errors that say what is wrong. Goldens: Tests/Fixtures/training/peft-adapter (Scripts/make_adapter_fixture.py).
@Suite struct AdapterTests {
    static let fixtures = TrainingFixtures.training.appendingPathComponent("peft-adapter")
    static let embeddingAdapter = fixtures.appendingPathComponent("embedding").path
    static let rerankerAdapter = fixtures.appendingPathComponent("reranker").path
    static let embeddingModel = TrainingFixtures.embeddingModel.path
    static let rerankerModel = TrainingFixtures.rerankerModel.path

    struct Golden: Decodable {
        struct Embedding: Decodable { let texts: [String]; let embeddings: [[Float]]; let without_adapter: [[Float]] }
        struct Reranking: Decodable { let scores: [[Float]]; let without_adapter: [[Float]] }
        let queries: [String]
        let documents: [String]
        let instruction: String
        let embedding: Embedding
        let reranker: Reranking
    }

    static func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: fixtures.appendingPathComponent("golden.json")))
    }

    static func maximumDifference(_ a: [[Float]], _ b: [[Float]]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { x, y in
            precondition(x.count == y.count)
            return zip(x, y).map { abs($0 - $1) }.max() ?? 0
        }.max() ?? 0
    }

    /// A scratch directory removed when the test ends.
    final class Scratch {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-tests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    }

    // MARK: - peft-made adapters

    @Test func peftEmbeddingAdapterGivesTransformersEmbeddings() async throws {
        let golden = try Self.golden()
        let embedder = try Embedder(modelAt: URL(fileURLWithPath: Self.embeddingModel), adapter: URL(fileURLWithPath: Self.embeddingAdapter))
        // The golden texts are already formatted (queries carry their instruction), so embed them as they are.
        let vectors = try await embedder.embed(golden.embedding.texts)
        let difference = Self.maximumDifference(vectors, golden.embedding.embeddings)
        #expect(difference <= 1e-4, "max |Δ| \(difference) against transformers + peft")
        // The adapter moves every vector far more than the tolerance, so the comparison above means something.
        #expect(Self.maximumDifference(golden.embedding.embeddings, golden.embedding.without_adapter) > 0.05)
        let plain = try await Embedder(modelAt: URL(fileURLWithPath: Self.embeddingModel)).embed(golden.embedding.texts)
        #expect(Self.maximumDifference(plain, golden.embedding.without_adapter) <= 1e-4)
    }

    @Test func peftRerankerAdapterGivesTransformersScores() async throws {
        let golden = try Self.golden()
        let reranker = try Reranker(modelAt: URL(fileURLWithPath: Self.rerankerModel), adapter: URL(fileURLWithPath: Self.rerankerAdapter))
        var scores: [[Float]] = []
        for query in golden.queries {
            scores.append(try await reranker.score(query: query, documents: golden.documents, instruction: golden.instruction))
        }
        let difference = Self.maximumDifference(scores, golden.reranker.scores)
        #expect(difference <= 1e-4, "max |Δ| \(difference) against transformers + peft")
        #expect(Self.maximumDifference(golden.reranker.scores, golden.reranker.without_adapter) > 0.05)
    }

    @Test func readerReportsWhatPeftWrote() throws {
        let embedding = try LoRAAdapter(directory: Self.embeddingAdapter)
        #expect(embedding.rank == 4 && embedding.alpha == 8 && !embedding.usesRankStabilizedScale)
        #expect(embedding.scale == 2)
        #expect(!embedding.namesCarryModelPrefix)
        #expect(embedding.adaptedWeightNames.count == 2 * 7)
        #expect(embedding.adaptedWeightNames.first == "layers.0.self_attn.q_proj.weight")
        #expect(embedding.baseModelNameOrPath == "tiny-qwen3-embedding")
        let down = try #require(embedding.factors(forWeight: "layers.1.mlp.down_proj.weight"))
        #expect(down.rank == 4 && down.inputSize == 96 && down.outputSize == 40)
        #expect(embedding.factors(forWeight: "model.layers.1.mlp.down_proj.weight") == down)

        let reranker = try LoRAAdapter(directory: Self.rerankerAdapter)
        #expect(reranker.rank == 2 && reranker.alpha == 3 && reranker.usesRankStabilizedScale)
        #expect(abs(reranker.scale - Float(3 / 2.0.squareRoot())) < 1e-7)
        #expect(reranker.namesCarryModelPrefix)
        #expect(reranker.targetModules == .pattern(#".*\.1\.(self_attn\.(q_proj|v_proj)|mlp\.down_proj)"#))
        #expect(reranker.adaptedWeightNames == [
            "layers.1.self_attn.q_proj.weight", "layers.1.self_attn.v_proj.weight", "layers.1.mlp.down_proj.weight",
        ])
        #expect(embedding.fingerprint != reranker.fingerprint)
        #expect(embedding.fingerprint == (try LoRAAdapter(directory: Self.embeddingAdapter)).fingerprint)
    }

    // MARK: - Writer

    /// LoRA parameters with seeded values on `targets` of a model with `layers` layers.
    static func parameters(configuration: Qwen3Configuration, rank: Int, targets: [LoRATarget], seed: UInt64) -> [TrainableParameter] {
        var generator = SeededGenerator(seed: seed)
        var result: [TrainableParameter] = []
        for layer in 0..<configuration.layerCount {
            for target in targets {
                let module = LoRAModule(rawValue: target.rawValue)!
                let shape = module.weightShape(configuration)
                for (suffix, factorShape) in [("lora_A", [rank, shape[1]]), ("lora_B", [shape[0], rank])] {
                    let values = (0..<(factorShape[0] * factorShape[1])).map { _ in
                        Float(Double(generator.next() >> 11) / Double(1 << 53) - 0.5)
                    }
                    result.append(TrainableParameter(name: "layers.\(layer).\(target.pathInLayer).\(suffix).weight", shape: factorShape, values: values))
                }
            }
        }
        return result
    }

    @Test(arguments: [false, true])
    func writerOutputReadsBackExactly(causalLanguageModel: Bool) throws {
        let scratch = try Scratch()
        let configuration = try Qwen3Configuration.load(directory: causalLanguageModel ? Self.rerankerModel : Self.embeddingModel)
        let targets: [LoRATarget] = [.valueProjection, .queryProjection, .downProjection]
        let parameters = Self.parameters(configuration: configuration, rank: 3, targets: targets, seed: 7)
        let writer = PEFTAdapterWriter(
            configuration: LoRAConfiguration(rank: 3, alpha: 5, targets: targets), namesCarryModelPrefix: causalLanguageModel,
            baseModelNameOrPath: "base", taskType: causalLanguageModel ? nil : "FEATURE_EXTRACTION")
        try writer.write(parameters, to: scratch.url)

        let adapter = try LoRAAdapter(directory: scratch.url.path, configuration: configuration)
        #expect(adapter.rank == 3 && adapter.alpha == 5 && !adapter.usesRankStabilizedScale)
        #expect(adapter.namesCarryModelPrefix == causalLanguageModel)
        #expect(adapter.targetModules == .names(["q_proj", "v_proj", "down_proj"]))
        #expect(adapter.baseModelNameOrPath == "base")
        #expect(adapter.factors.count == parameters.count / 2)
        for parameter in parameters {
            let weight = parameter.name.replacingOccurrences(of: ".lora_A", with: "").replacingOccurrences(of: ".lora_B", with: "")
            let factors = try #require(adapter.factors(forWeight: weight))
            let stored = parameter.name.contains(".lora_A.") ? factors.a : factors.b
            #expect(stored.map(\.bitPattern) == parameter.values.map(\.bitPattern), "\(parameter.name)")
        }
        // PEFT's key layout: `base_model.model.` + the module path of the wrapped model.
        let file = try SafetensorsFile(path: scratch.path("adapter_model.safetensors"))
        let expectedKey = "base_model.model." + (causalLanguageModel ? "model." : "") + "layers.0.self_attn.q_proj.lora_A.weight"
        #expect(file.tensors[expectedKey]?.dataType == .float32)
    }

    /// The configuration carries every field peft 0.21 writes (compared with the file peft itself wrote),
    /// and the values that decide how peft applies the adapter.
    @Test func writerConfigurationHasPeftsFields() throws {
        let scratch = try Scratch()
        let configuration = try Qwen3Configuration.load(directory: Self.embeddingModel)
        try PEFTAdapterWriter(configuration: LoRAConfiguration(rank: 4, alpha: 8), namesCarryModelPrefix: false, taskType: "FEATURE_EXTRACTION")
            .write(Self.parameters(configuration: configuration, rank: 4, targets: LoRATarget.allCases, seed: 1), to: scratch.url)
        func object(_ path: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        }
        let ours = try object(scratch.path("adapter_config.json"))
        let peft = try object(Self.embeddingAdapter + "/adapter_config.json")
        #expect(Set(ours.keys) == Set(peft.keys))
        for key in ["peft_type", "bias", "task_type", "megatron_core", "peft_version"] {
            #expect(ours[key] as? String == peft[key] as? String, "\(key)")
        }
        for key in ["r", "lora_alpha", "qalora_group_size"] {
            #expect((ours[key] as? NSNumber)?.doubleValue == (peft[key] as? NSNumber)?.doubleValue, "\(key)")
        }
        for key in ["fan_in_fan_out", "use_rslora", "use_dora", "lora_bias", "inference_mode"] {
            #expect((ours[key] as? NSNumber)?.boolValue == (peft[key] as? NSNumber)?.boolValue, "\(key)")
        }
        #expect(Set(ours["target_modules"] as? [String] ?? []) == Set(peft["target_modules"] as? [String] ?? ["?"]))
    }

    @Test func writerRefusesWhatPeftWouldNotHaveSaved() throws {
        let scratch = try Scratch()
        let configuration = try Qwen3Configuration.load(directory: Self.embeddingModel)
        let parameters = Self.parameters(configuration: configuration, rank: 2, targets: [.queryProjection], seed: 3)
        func attempt(_ parameters: [TrainableParameter], rank: Int = 2, targets: [LoRATarget] = [.queryProjection]) -> String {
            do {
                try PEFTAdapterWriter(configuration: LoRAConfiguration(rank: rank, alpha: 4, targets: targets), namesCarryModelPrefix: false)
                    .write(parameters, to: scratch.url.appendingPathComponent(UUID().uuidString))
                return "written"
            } catch {
                return (error as? LocalizedError)?.errorDescription ?? "\(error)"
            }
        }
        #expect(attempt(parameters) == "written")
        #expect(attempt(parameters, targets: [.keyProjection]).contains("is not a LoRA factor of the targets k_proj"))
        #expect(attempt(parameters, rank: 3).contains("not rank 3"))
        #expect(attempt(Array(parameters.dropLast())).contains("has only one of lora_A and lora_B"))
        #expect(attempt([TrainableParameter(name: "norm.weight", shape: [40], values: [Float](repeating: 1, count: 40))])
            .contains("\"norm.weight\" is not a LoRA factor"))
        #expect(attempt([]).contains("no LoRA parameters"))
    }

    // MARK: - Merging

    /// merge-adapter on the fp32 reranker: the written model computes bit for bit what the in-memory merge
    /// computes (both form W + scale·B·A in fp32, the same way, and fp32 keeps it exactly).
    @Test func mergedFP32ModelEqualsInMemoryMerge() throws {
        let scratch = try Scratch()
        let output = scratch.path("merged")
        let merged = try AdapterMerger().merge(model: URL(fileURLWithPath: Self.rerankerModel), adapter: URL(fileURLWithPath: Self.rerankerAdapter), output: URL(fileURLWithPath: output))
        #expect(merged == ["model.layers.1.mlp.down_proj.weight", "model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight"])
        let adapter = try LoRAAdapter(directory: Self.rerankerAdapter)
        let inMemory = try Qwen3Model(directory: Self.rerankerModel, adapter: adapter)
        let fromDisk = try Qwen3Model(directory: output)
        let sequences = [[9707, 11, 1879, 0, 151643], [2, 3, 5, 7, 11, 13, 17]]
        let a = try inMemory.lastTokenLogits(for: sequences, vocabularyRows: [2152, 9693])
        let b = try fromDisk.lastTokenLogits(for: sequences, vocabularyRows: [2152, 9693])
        #expect(a.flatMap { $0 }.map(\.bitPattern) == b.flatMap { $0 }.map(\.bitPattern))
        let plain = try Qwen3Model(directory: Self.rerankerModel).lastTokenLogits(for: sequences, vocabularyRows: [2152, 9693])
        #expect(Self.maximumDifference(plain, a) > 1e-3)

        // Same names, dtypes and shapes as the base; tensors the adapter does not touch are byte-identical;
        // the support files came along.
        let base = try SafetensorsCheckpoint(directory: Self.rerankerModel)
        let written = try SafetensorsCheckpoint(directory: output)
        #expect(base.tensorNames == written.tensorNames)
        for name in base.tensorNames {
            let (x, y) = (base.tensor(named: name)!, written.tensor(named: name)!)
            #expect(x.dataType == y.dataType && x.shape == y.shape)
            if !merged.contains(name) { #expect(Array(x.data) == Array(y.data), "\(name)") } else { #expect(Array(x.data) != Array(y.data)) }
        }
        for name in ["config.json", "tokenizer_config.json", "vocab.json", "merges.txt"] {
            #expect(FileManager.default.contents(atPath: Self.rerankerModel + "/" + name) == FileManager.default.contents(atPath: output + "/" + name))
        }
    }

    /// The bf16, sharded embedding model: merged weights are rounded once to bf16 and the shards and index
    /// kept; in bf16 mode the in-memory merge rounds the same fp32 values the same way, so both agree bitwise,
    /// and in fp32 mode the unrounded in-memory merge stays within bf16 rounding of the written one.
    @Test func mergedBF16ModelKeepsLayoutAndEqualsInMemoryMerge() async throws {
        let scratch = try Scratch()
        let output = scratch.path("merged")
        let merged = try AdapterMerger().merge(model: URL(fileURLWithPath: Self.embeddingModel), adapter: URL(fileURLWithPath: Self.embeddingAdapter), output: URL(fileURLWithPath: output))
        #expect(merged.count == 14)
        let written = try SafetensorsCheckpoint(directory: output)
        #expect(Set(written.files.keys) == Set(try SafetensorsCheckpoint(directory: Self.embeddingModel).files.keys))
        #expect(FileManager.default.fileExists(atPath: output + "/model.safetensors.index.json"))
        #expect(written.tensor(named: "layers.0.self_attn.q_proj.weight")?.dataType == .bfloat16)

        let adapter = try LoRAAdapter(directory: Self.embeddingAdapter)
        let texts = try Self.golden().embedding.texts
        let tokenizer = try Tokenizer.load(modelAt: URL(fileURLWithPath: Self.embeddingModel))
        let inMemory = try Embedder(model: Qwen3Model(directory: Self.embeddingModel, precision: .bfloat16, adapter: adapter), tokenizer: tokenizer)
        let fromDisk = try Embedder(model: Qwen3Model(directory: output, precision: .bfloat16), tokenizer: tokenizer)
        let a = try await inMemory.embed(texts), b = try await fromDisk.embed(texts)
        #expect(a.flatMap { $0 }.map(\.bitPattern) == b.flatMap { $0 }.map(\.bitPattern))

        let exact = try await Embedder(modelAt: URL(fileURLWithPath: Self.embeddingModel), adapter: URL(fileURLWithPath: Self.embeddingAdapter)).embed(texts)
        let rounded = try await Embedder(modelAt: URL(fileURLWithPath: output)).embed(texts)
        let difference = Self.maximumDifference(exact, rounded)
        #expect(difference > 0 && difference < 0.02, "bf16 rounding of the merged weights moved the vectors by \(difference)")
    }

    @Test func mergeRefusesANonEmptyOutputAndLeavesNothingOnFailure() throws {
        let scratch = try Scratch()
        let output = scratch.path("busy")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: output + "/keep", contents: Data("x".utf8))
        #expect(throws: (any Error).self) { try AdapterMerger().merge(model: URL(fileURLWithPath: Self.rerankerModel), adapter: URL(fileURLWithPath: Self.rerankerAdapter), output: URL(fileURLWithPath: output)) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: output) == ["keep"])
        // A reranker adapter does not fit the embedding model: the error comes before anything is written.
        let other = scratch.path("other")
        #expect(throws: LoRAAdapterError.self) { try AdapterMerger().merge(model: URL(fileURLWithPath: Self.embeddingModel), adapter: URL(fileURLWithPath: Self.rerankerAdapter), output: URL(fileURLWithPath: other)) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path) == ["busy"])
    }

    // MARK: - Bad adapters

    /// A copy of the embedding adapter with `edit` applied to its adapter_config.json.
    static func editedAdapter(in scratch: Scratch, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let directory = scratch.path("adapter-\(UUID().uuidString)")
        try FileManager.default.copyItem(atPath: embeddingAdapter, toPath: directory)
        let path = directory + "/adapter_config.json"
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return directory
    }

    static func loadError(_ adapter: String, model: String = embeddingModel) -> String {
        do {
            _ = try Embedder(modelAt: URL(fileURLWithPath: model), adapter: URL(fileURLWithPath: adapter))
            return "loaded"
        } catch {
            return (error as? LocalizedError)?.errorDescription ?? "\(error)"
        }
    }

    @Test func badAdaptersGiveClearErrors() throws {
        let scratch = try Scratch()
        #expect(Self.loadError(scratch.path("absent")).hasSuffix("absent: no such directory"))
        #expect(Self.loadError(Self.embeddingAdapter + "/adapter_config.json").contains("not a directory"))

        let noConfig = scratch.path("no-config")
        try FileManager.default.copyItem(atPath: Self.embeddingAdapter, toPath: noConfig)
        try FileManager.default.removeItem(atPath: noConfig + "/adapter_config.json")
        #expect(Self.loadError(noConfig) == "invalid LoRA adapter \(noConfig): missing adapter_config.json")

        let binOnly = scratch.path("bin-only")
        try FileManager.default.copyItem(atPath: Self.embeddingAdapter, toPath: binOnly)
        try FileManager.default.moveItem(atPath: binOnly + "/adapter_model.safetensors", toPath: binOnly + "/adapter_model.bin")
        #expect(Self.loadError(binOnly).contains("adapter_model.bin: only adapter_model.safetensors can be read"))
        try FileManager.default.removeItem(atPath: binOnly + "/adapter_model.bin")
        #expect(Self.loadError(binOnly) == "invalid LoRA adapter \(binOnly): missing adapter_model.safetensors")

        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("fan_in_fan_out is true", { $0["fan_in_fan_out"] = true }),
            ("unknown target module \"embed_tokens\"", { $0["target_modules"] = ["q_proj", "embed_tokens"] }),
            ("which target_modules does not select", { $0["target_modules"] = ["q_proj"] }),
            ("which target_modules does not select", { $0["target_modules"] = #".*\.0\..*"# }),
            ("peft_type is \"PREFIX_TUNING\"", { $0["peft_type"] = "PREFIX_TUNING" }),
            ("bias is \"all\"", { $0["bias"] = "all" }),
            ("use_dora is true", { $0["use_dora"] = true }),
            ("adapter_config.json says r = 8", { $0["r"] = 8 }),
            ("\"r\" must be a positive integer", { $0["r"] = 2.5 }),
            ("\"lora_alpha\" must be a number", { $0["lora_alpha"] = "eight" }),
            ("rank_pattern is not empty", { $0["rank_pattern"] = ["q_proj": 8] }),
            ("modules_to_save is set", { $0["modules_to_save"] = ["lm_head"] }),
            ("\"use_rslora\" must be true or false", { $0["use_rslora"] = 1 }),
        ]
        for (expected, edit) in cases {
            let message = Self.loadError(try Self.editedAdapter(in: scratch, edit))
            #expect(message.hasPrefix("invalid LoRA adapter ") && message.contains(expected), "\(message)")
        }

        // An adapter made for another model: the reranker's factors do not fit the embedding model's shapes.
        let wrongModel = Self.loadError(Self.rerankerAdapter)
        #expect(wrongModel.contains("but the model's weight is [64, 40] (an adapter for another model?)"), "\(wrongModel)")

        // A GGUF model cannot take an adapter.
        let gguf = TrainingFixtures.root.appendingPathComponent("gguf-llama/embedding-F16.gguf").path
        let message = Self.loadError(Self.embeddingAdapter, model: gguf)
        #expect(message.contains("cannot be applied to the GGUF model \(gguf)"), "\(message)")
        #expect(throws: LoRAAdapterError.self) { try Qwen3Model(path: gguf, adapter: try LoRAAdapter(directory: Self.embeddingAdapter)) }
        #expect(throws: LoRAAdapterError.self) {
            try AdapterMerger().merge(model: URL(fileURLWithPath: gguf), adapter: URL(fileURLWithPath: Self.embeddingAdapter), output: URL(fileURLWithPath: scratch.path("from-gguf")))
        }
    }

    // MARK: - Evaluation cache key

    @Test func evaluationCacheKeyTellsAdaptersApart() throws {
        let plain = try EmbedderEncoder(embedder: Embedder(modelAt: URL(fileURLWithPath: Self.embeddingModel)), model: URL(fileURLWithPath: Self.embeddingModel))
        let adapted = try EmbedderEncoder(embedder: Embedder(modelAt: URL(fileURLWithPath: Self.embeddingModel), adapter: URL(fileURLWithPath: Self.embeddingAdapter)),
                                          model: URL(fileURLWithPath: Self.embeddingModel), adapter: URL(fileURLWithPath: Self.embeddingAdapter))
        #expect(plain.identifier != adapted.identifier)
        let scratch = try Scratch()
        let other = try Self.editedAdapter(in: scratch) { $0["lora_alpha"] = 9 }
        let otherEncoder = try EmbedderEncoder(embedder: Embedder(modelAt: URL(fileURLWithPath: Self.embeddingModel), adapter: URL(fileURLWithPath: other)),
                                               model: URL(fileURLWithPath: Self.embeddingModel), adapter: URL(fileURLWithPath: other))
        #expect(otherEncoder.identifier != adapted.identifier)
    }
}
