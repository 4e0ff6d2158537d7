import Foundation
import Testing
import TestSupport
import Qwen3
import Qwen3Embedding

/// Loading: both config.json generations, both tensor layouts, and damaged model directories.
@Suite struct LoadingTests {
    @Test func readsTransformers4And5Configurations() throws {
        let embedding = try Qwen3Configuration.load(directory: Fixtures.embeddingModel)  // rope_theta, torch_dtype
        let reranker = try Qwen3Configuration.load(directory: Fixtures.rerankerModel)    // rope_parameters, dtype
        #expect(embedding.ropeTheta == 1_000_000 && reranker.ropeTheta == 1_000_000)
        #expect(embedding.checkpointDataType == "bfloat16" && reranker.checkpointDataType == "float32")
        #expect(embedding.headDimension == 16 && embedding.hiddenSize == 40 && embedding.keyValueHeads == 2)
        #expect(embedding.tieWordEmbeddings && !reranker.tieWordEmbeddings)
    }

    @Test func readsTheRealModelConfigurations() throws {
        let configs = TestPaths.shared.appendingPathComponent("reference/configs")
        guard FileManager.default.fileExists(atPath: configs.path) else { return }
        let data = try Data(contentsOf: configs.appendingPathComponent("Qwen3-Embedding-4B.json"))
        let config = try JSONDecoder().decode(Qwen3Configuration.self, from: data)
        #expect(config.hiddenSize == 2560 && config.headDimension == 128 && config.attentionHeads == 32)
    }

    @Test func refusesWhatIsNotImplemented() throws {
        func decode(_ overrides: [String: Any]) throws -> Qwen3Configuration {
            var config: [String: Any] = [
                "model_type": "qwen3", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
                "num_key_value_heads": 1, "intermediate_size": 8, "vocab_size": 10,
            ]
            config.merge(overrides) { $1 }
            return try JSONDecoder().decode(Qwen3Configuration.self, from: JSONSerialization.data(withJSONObject: config))
        }
        #expect(try decode([:]).headDimension == 4)
        #expect(try decode(["rope_scaling": NSNull(), "rope_theta": 5.0]).ropeTheta == 5)
        #expect(throws: Qwen3Error.self) { try decode(["rope_scaling": ["rope_type": "yarn", "factor": 4]]) }
        #expect(throws: Qwen3Error.self) { try decode(["rope_parameters": ["rope_type": "linear"]]) }
        #expect(throws: Qwen3Error.self) { try decode(["hidden_act": "gelu"]) }
        #expect(throws: Qwen3Error.self) { try decode(["attention_bias": true]) }
        #expect(throws: Qwen3Error.self) { try decode(["use_sliding_window": true]) }
        #expect(throws: Qwen3Error.self) { try decode(["num_key_value_heads": 3]) }
        #expect(throws: Qwen3Error.self) { try decode(["model_type": "llama"]) }
        #expect(throws: Qwen3Error.self) { try decode(["head_dim": 5]) }
        #expect(throws: Qwen3Error.self) { try decode(["hidden_size": -1]) }
        #expect(throws: (any Error).self) { try decode(["hidden_size": "big"]) }
    }

    @Test func missingTensorIsNamed() throws {
        let directory = try Fixtures.copy(of: Fixtures.rerankerModel)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        config["num_hidden_layers"] = 4
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Reranker(modelAt: URL(fileURLWithPath: directory))
            Issue.record("expected an error")
        } catch {
            #expect(error.localizedDescription.contains("model.layers.3.input_layernorm.weight"), "\(error.localizedDescription)")
        }
    }

    @Test func wrongShapeIsNamed() throws {
        let directory = try Fixtures.copy(of: Fixtures.rerankerModel)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        config["intermediate_size"] = 32
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Reranker(modelAt: URL(fileURLWithPath: directory))
            Issue.record("expected an error")
        } catch {
            #expect(error.localizedDescription.contains("mlp.gate_proj.weight"), "\(error.localizedDescription)")
        }
    }

    @Test func missingShardAndBrokenConfigAreErrors() throws {
        let directory = try Fixtures.copy(of: Fixtures.embeddingModel)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.removeItem(atPath: directory + "/model-00002-of-00002.safetensors")
        do {
            _ = try Embedder(modelAt: URL(fileURLWithPath: directory))
            Issue.record("expected an error")
        } catch {
            #expect(error.localizedDescription.contains("model-00002-of-00002.safetensors"), "\(error.localizedDescription)")
        }
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: directory + "/config.json"))
        #expect(throws: Qwen3Error.self) { try Embedder(modelAt: URL(fileURLWithPath: directory)) }
        #expect(throws: (any Error).self) { try Embedder(modelAt: URL(fileURLWithPath: "/nonexistent/model")) }
    }

    @Test func truncatedShardIsAnError() throws {
        let directory = try Fixtures.copy(of: Fixtures.embeddingModel)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shard = directory + "/model-00001-of-00002.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: shard))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: shard))
        do {
            _ = try Embedder(modelAt: URL(fileURLWithPath: directory))
            Issue.record("expected an error")
        } catch {
            #expect(error.localizedDescription.contains("model-00001-of-00002.safetensors"), "\(error.localizedDescription)")
        }
    }
}
