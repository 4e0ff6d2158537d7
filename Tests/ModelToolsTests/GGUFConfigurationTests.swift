import Foundation
import ModelFormats
import Qwen3
import Testing
@testable import ModelTools

/// The converter reads config.json through `Qwen3Configuration` (purpose `.conversion`): what it keeps
/// that running refuses, what it writes only when stated, and the merge check's canonical values.
@Suite struct GGUFConfigurationTests {
    /// A copy of the tiny reranker (files linked) whose config.json is `edit`ed.
    func variant(_ edit: (inout [String: Any]) -> Void) throws -> String {
        let directory = try temporaryDirectory()
        for name in try FileManager.default.contentsOfDirectory(atPath: Fixtures.reranker) where name != "config.json" {
            try FileManager.default.createSymbolicLink(atPath: "\(directory)/\(name)", withDestinationPath: "\(Fixtures.reranker)/\(name)")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(Fixtures.reranker)/config.json"))
        var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(directory)/config.json"))
        return directory
    }

    @Test func ropeScalingIsKeptForConversionAndRefusedToRun() throws {
        let directory = try variant { config in
            config["rope_parameters"] = nil
            config["rope_theta"] = 500_000.0
            config["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768]
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: Qwen3Error.self) { try Qwen3Configuration.load(directory: directory) }
        let configuration = try Qwen3Configuration.load(directory: directory, purpose: .conversion)
        #expect(configuration.ropeScaling == Qwen3Configuration.RopeScaling(kind: .yarn, factor: 4, originalContextLength: 32768))
        let metadata = try GGUFConverter(kind: .reranker).plan(modelDirectory: directory, fileType: .f16).metadata
        #expect(metadata["qwen3.rope.scaling.type"] == .string("yarn"))
        #expect(metadata["qwen3.rope.scaling.factor"] == .float32(4))
        #expect(metadata["qwen3.rope.scaling.original_context_length"] == .uint32(32768))
        #expect(metadata["qwen3.rope.freq_base"] == .float32(500_000))
    }

    /// llama.cpp's converter writes these keys only when config.json has them (llama.cpp then uses its
    /// own defaults); the engine's defaults must not leak into the file.
    @Test func defaultedValuesAreWrittenOnlyWhenStated() throws {
        let directory = try variant { config in
            for key in ["max_position_embeddings", "rms_norm_eps", "rope_parameters", "rope_theta"] { config[key] = nil }
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try Qwen3Configuration.load(directory: directory, purpose: .conversion)
        #expect(configuration.statedValues == [.headDimension])
        let metadata = try GGUFConverter(kind: .reranker).plan(modelDirectory: directory, fileType: .f16).metadata
        for key in ["qwen3.context_length", "qwen3.attention.layer_norm_rms_epsilon", "qwen3.rope.freq_base"] {
            #expect(metadata[key] == nil, "\(key)")
        }
        #expect(metadata["qwen3.attention.key_length"] == .uint32(8))
        let stated = try Qwen3Configuration.load(directory: Fixtures.reranker, purpose: .conversion)
        #expect(stated.statedValues == .all)
        #expect(stated.specialTokenIDs == ["bos": 151_643, "eos": 151_645])
    }

    @Test func unsupportedScalingAndOtherModelsAreConfigurationErrors() throws {
        let linear = try variant { $0["rope_parameters"] = ["rope_type": "linear"] }  // no factor
        let llama = try variant { $0["model_type"] = "llama" }
        let untyped = try variant { $0["model_type"] = nil }
        defer { for directory in [linear, llama, untyped] { try? FileManager.default.removeItem(atPath: directory) } }
        for (directory, fragment) in [(linear, "needs a \"factor\""), (llama, "model_type is llama"), (untyped, "model_type is missing")] {
            let error = #expect(throws: ModelToolsError.self) { try GGUFConverter().plan(modelDirectory: directory, fileType: .f16) }
            #expect(error?.errorDescription?.contains(fragment) == true, "\(String(describing: error?.errorDescription))")
            #expect(error?.errorDescription?.contains("\(directory)/config.json") == true)
        }
    }

    @Test func mergeComparesCanonicalValues() {
        #expect(ModelDirectory.canonical(nil) == "absent" && ModelDirectory.canonical(.null) == "absent")
        #expect(ModelDirectory.canonical(.integer(40)) == ModelDirectory.canonical(.number(40)))
        #expect(ModelDirectory.canonical(.number(1e-6)) != ModelDirectory.canonical(.number(1e-5)))
        #expect(ModelDirectory.canonical(.array([.string("Qwen3ForCausalLM")])) == #"["Qwen3ForCausalLM"]"#)
        let object = JSONValue.object(["b": .bool(true), "a": .string("x\"y"), "b ": .null])
        #expect(ModelDirectory.canonical(object) == #"{"a":"x\"y","b":true,"b ":null}"#)
    }
}
