import Foundation
import ModelFormats
import Testing
@testable import ModelTools

/// Converts `directory` to `fileType` in a scratch file and opens the result.
func convertToGGUF(_ directory: String, _ fileType: GGUFFileType, kind: GGUFModelKind? = nil) throws -> (GGUFFile, GGUFConversionPlan, String) {
    let path = try GGUFFixtures.scratchFile("model-\(fileType.name).gguf")
    let plan = try GGUFConverter(kind: kind).convert(modelDirectory: directory, fileType: fileType, output: path)
    return (try GGUFFile(path: path), plan, path)
}

/// Tensor name → stored type name.
func tensorTypes(_ file: GGUFFile) -> [String: String] {
    Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.type.name) })
}

@Suite struct GGUFConversionTests {
    // MARK: Against llama.cpp's own files (tiny-qwen3-quant: hidden 256, every tensor quantizable)

    /// At F16 the file equals what convert_hf_to_gguf.py wrote, metadata and tensor bytes, except the
    /// name (llama.cpp titles its directory name).
    @Test(arguments: [GGUFModelKind.embedding, .reranker])
    func f16MatchesLlamaCppsConverter(kind: GGUFModelKind) throws {
        let (ours, _, path) = try convertToGGUF(GGUFFixtures.quant, .f16, kind: kind)
        defer { GGUFFixtures.cleanUp(path) }
        let theirs = try GGUFFile(path: "\(GGUFFixtures.llama)/\(kind == .embedding ? "embedding" : "reranker")-F16.gguf")
        #expect(ours.metadataKeys == theirs.metadataKeys)
        for key in theirs.metadataKeys where key != "general.name" {
            #expect(ours.metadata[key] == theirs.metadata[key], "\(key)")
        }
        #expect(Set(ours.tensors.map(\.name)) == Set(theirs.tensors.map(\.name)))
        for tensor in theirs.tensors {
            let mine = try #require(ours.tensor(named: tensor.name))
            #expect(mine.type == tensor.type && mine.dimensions == tensor.dimensions, "\(tensor.name)")
            #expect(ours.data(of: mine).elementsEqual(theirs.data(of: tensor)), "\(tensor.name) bytes")
        }
    }

    /// Quantized files have llama-quantize's tensor types and metadata, and values at least as close to
    /// the checkpoint as llama.cpp's (which quantized from an F16 copy; the bytes are checked identical
    /// to llama_model_quantize on the same F32 input by Scripts/check_gguf_with_llama_cpp.py).
    @Test(arguments: [GGUFFileType.q8_0, .q4_0, .q4_K_M, .q6_K])
    func quantizedTypesMatchLlamaQuantize(fileType: GGUFFileType) throws {
        let (ours, _, path) = try convertToGGUF(GGUFFixtures.quant, fileType, kind: .embedding)
        defer { GGUFFixtures.cleanUp(path) }
        let theirs = try GGUFFile(path: "\(GGUFFixtures.llama)/embedding-\(fileType.name).gguf")
        #expect(tensorTypes(ours) == tensorTypes(theirs))
        #expect(Set(ours.metadataKeys) == Set(theirs.metadataKeys))
        for key in theirs.metadataKeys where key != "general.name" {
            #expect(ours.metadata[key] == theirs.metadata[key], "\(key)")
        }
        let checkpoint = try SafetensorsCheckpoint(directory: GGUFFixtures.quant)
        for name in ["blk.1.ffn_down.weight", "blk.0.attn_q.weight", "token_embd.weight", "output.weight"] {
            let source = try #require(checkpoint.tensor(named: name == "token_embd.weight" ? "model.embed_tokens.weight"
                : name == "output.weight" ? "lm_head.weight"
                : name.replacingOccurrences(of: "blk.1.ffn_down", with: "model.layers.1.mlp.down_proj")
                    .replacingOccurrences(of: "blk.0.attn_q", with: "model.layers.0.self_attn.q_proj")))
            let exact = source.floats()
            let mine = relativeRMSError(try ours.floats(of: try #require(ours.tensor(named: name))), exact)
            let llama = relativeRMSError(try theirs.floats(of: try #require(theirs.tensor(named: name))), exact)
            #expect(mine <= llama * 1.02 + 1e-7, "\(fileType) \(name): error \(mine) vs llama.cpp's \(llama)")
        }
    }

    @Test func q4KMMixFollowsLlamaCpp() throws {
        let plan = try GGUFConverter(kind: .embedding).plan(modelDirectory: GGUFFixtures.quant, fileType: .q4_K_M)
        let types = Dictionary(uniqueKeysWithValues: plan.tensors.map { ($0.layout.name, $0.layout.type) })
        // Output head Q6_K, untied embedding Q4_K; attn_v and ffn_down Q6_K in the last layer of two
        // (use_more_bits(1, 2): 1 ≥ 7·2/8), Q4_K elsewhere; norms F32; no fallbacks at width 256.
        #expect(types["output.weight"] == .q6_K && types["token_embd.weight"] == .q4_K)
        #expect(types["blk.0.attn_v.weight"] == .q4_K && types["blk.1.attn_v.weight"] == .q6_K)
        #expect(types["blk.0.ffn_down.weight"] == .q4_K && types["blk.1.ffn_down.weight"] == .q6_K)
        #expect(types["blk.0.attn_q.weight"] == .q4_K && types["blk.1.ffn_up.weight"] == .q4_K)
        #expect(plan.tensors.filter { $0.layout.dimensions.count == 1 }.allSatisfy { $0.layout.type == .f32 })
        #expect(plan.fallbacks.isEmpty)
        #expect(plan.metadata["general.file_type"] == .uint32(15))
        // The reranker has no output.weight, so llama-quantize treats the embedding as the head: Q6_K.
        let reranker = try GGUFConverter(kind: .reranker).plan(modelDirectory: GGUFFixtures.quant, fileType: .q4_K_M)
        #expect(reranker.tensors.first { $0.layout.name == "token_embd.weight" }?.layout.type == .q6_K)
        #expect(reranker.tensors.first { $0.layout.name == "cls.output.weight" }?.layout.type == .q4_K)
    }

    /// In a 28-layer model (Qwen3-0.6B's depth) "more bits" lands on these layers: the first and last
    /// eighth and every third in between. Scripts/check_gguf_with_llama_cpp.py confirmed the list with
    /// llama_model_quantize on a 28-layer model (its loader orders tensors by block number, then name;
    /// a plain string order would have picked blk.10, blk.13 … instead).
    @Test func q4KMCountersFollowLlamaCppsBlockOrder() {
        var inputs: [LlamaTensorTypes.Input] = [.init(name: "token_embd.weight", dimensions: [1024, 151_669])]
        for layer in 0..<28 {
            inputs.append(.init(name: "blk.\(layer).attn_v.weight", dimensions: [1024, 1024]))
            inputs.append(.init(name: "blk.\(layer).ffn_down.weight", dimensions: [3072, 1024]))
            inputs.append(.init(name: "blk.\(layer).attn_norm.weight", dimensions: [1024]))
        }
        let choices = LlamaTensorTypes.choose(inputs, fileType: .q4_K_M, layerCount: 28)
        func layers(_ suffix: String) -> [Int] {
            zip(inputs, choices).filter { $0.0.name.hasSuffix(suffix) && $0.1.stored == .q6_K }
                .map { Int($0.0.name.split(separator: ".")[1])! }.sorted()
        }
        let expected = [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27]
        #expect(layers("attn_v.weight") == expected)
        #expect(layers("ffn_down.weight") == expected)
        // Tied embedding (no output.weight): it is the head, Q6_K.
        #expect(choices[0].stored == .q6_K)
        #expect(LlamaTensorTypes.blockNumber("blk.12.attn_v.weight") == 12 && LlamaTensorTypes.blockNumber("output.weight") == -1)
        #expect(LlamaTensorTypes.blockNumber("blk.x.y") == -1)
        #expect(choices.filter { $0.stored == .f32 }.count == 28)
    }

    @Test func fallbacksFollowTensorTypeFallback() {
        #expect(LlamaTensorTypes.fallback(.q4_K, rowLength: 64) == .q5_0)
        #expect(LlamaTensorTypes.fallback(.q6_K, rowLength: 96) == .q8_0)
        #expect(LlamaTensorTypes.fallback(.q5_K, rowLength: 32) == .q5_1)
        #expect(LlamaTensorTypes.fallback(.q3_K, rowLength: 32) == .q4_0)
        #expect(LlamaTensorTypes.fallback(.q4_K, rowLength: 40) == .f16)
        #expect(LlamaTensorTypes.fallback(.q8_0, rowLength: 40) == .f16)
        #expect(LlamaTensorTypes.fallback(.q4_K, rowLength: 512) == .q4_K)
        #expect(LlamaTensorTypes.useMoreBits(0, 8) && !LlamaTensorTypes.useMoreBits(2, 8) && LlamaTensorTypes.useMoreBits(3, 8))
    }

    // MARK: tiny-qwen3-embedding (hidden 40: most rows fit no block) to every type

    /// What llama.cpp stores for each 2-D tensor of the hidden-40 model (verified against
    /// llama_model_quantize by the script): rows of 40 fit no 32-value block, so they fall back to F16;
    /// attn_output (rows of 64) and ffn_down (rows of 96) fit 32-value blocks but not 256-value ones.
    static let hidden40Types: [GGUFFileType: [String: GGMLType]] = [
        .f32: ["token_embd": .f32, "attn_q": .f32, "attn_output": .f32, "ffn_down.0": .f32, "ffn_down.1": .f32, "attn_v.1": .f32],
        .f16: ["token_embd": .f16, "attn_q": .f16, "attn_output": .f16, "ffn_down.0": .f16, "ffn_down.1": .f16, "attn_v.1": .f16],
        .bf16: ["token_embd": .bf16, "attn_q": .bf16, "attn_output": .bf16, "ffn_down.0": .bf16, "ffn_down.1": .bf16, "attn_v.1": .bf16],
        .q8_0: ["token_embd": .f16, "attn_q": .f16, "attn_output": .q8_0, "ffn_down.0": .q8_0, "ffn_down.1": .q8_0, "attn_v.1": .f16],
        .q4_0: ["token_embd": .f16, "attn_q": .f16, "attn_output": .q4_0, "ffn_down.0": .q4_0, "ffn_down.1": .q4_0, "attn_v.1": .f16],
        .q4_K_M: ["token_embd": .f16, "attn_q": .f16, "attn_output": .q5_0, "ffn_down.0": .q5_0, "ffn_down.1": .q8_0, "attn_v.1": .f16],
        .q6_K: ["token_embd": .f16, "attn_q": .f16, "attn_output": .q8_0, "ffn_down.0": .q8_0, "ffn_down.1": .q8_0, "attn_v.1": .f16],
    ]

    @Test(arguments: GGUFFileType.allCases)
    func tinyEmbeddingConvertsToEveryType(fileType: GGUFFileType) throws {
        let (file, plan, path) = try convertToGGUF(Fixtures.embedding, fileType)
        defer { GGUFFixtures.cleanUp(path) }
        #expect(plan.kind == .embedding)
        var expectedNames = ["token_embd.weight"]
        for layer in 0..<2 {
            expectedNames += ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
                              "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"].map { "blk.\(layer).\($0).weight" }
        }
        expectedNames.append("output_norm.weight")  // tied: no output.weight
        #expect(file.tensors.map(\.name) == expectedNames)
        let dimensions = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.dimensions) })
        #expect(dimensions["token_embd.weight"] == [40, 151_669])
        #expect(dimensions["blk.0.attn_q.weight"] == [40, 64] && dimensions["blk.0.attn_k.weight"] == [40, 32])
        #expect(dimensions["blk.0.attn_output.weight"] == [64, 40] && dimensions["blk.1.ffn_down.weight"] == [96, 40])
        #expect(dimensions["blk.0.attn_q_norm.weight"] == [16] && dimensions["output_norm.weight"] == [40])

        let types = tensorTypes(file)
        let expected = try #require(Self.hidden40Types[fileType])
        #expect(types["token_embd.weight"] == expected["token_embd"]!.name)
        for layer in 0..<2 {
            #expect(types["blk.\(layer).attn_q.weight"] == expected["attn_q"]!.name)
            #expect(types["blk.\(layer).attn_k.weight"] == expected["attn_q"]!.name)
            #expect(types["blk.\(layer).ffn_gate.weight"] == expected["attn_q"]!.name)
            #expect(types["blk.\(layer).attn_output.weight"] == expected["attn_output"]!.name)
            #expect(types["blk.\(layer).ffn_down.weight"] == expected["ffn_down.\(layer)"]!.name)
            #expect(types["blk.\(layer).attn_v.weight"] == expected["attn_v.1"]!.name)
            for norm in ["attn_norm", "attn_q_norm", "attn_k_norm", "ffn_norm"] { #expect(types["blk.\(layer).\(norm).weight"] == "F32") }
        }
        #expect(types["output_norm.weight"] == "F32")
        // Fallbacks are what llama.cpp reports: every quantized-type tensor whose rows did not fit.
        let fellBack = Set(plan.fallbacks)
        if fileType.isQuantized {
            #expect(fellBack.contains("token_embd.weight") && fellBack.contains("blk.0.attn_q.weight"))
            #expect(fellBack.contains("blk.1.ffn_down.weight") == (fileType != .q8_0 && fileType != .q4_0))
        } else {
            #expect(fellBack.isEmpty)
        }

        let metadata = file.metadata
        let expectedValues: [String: GGUFValue] = [
            "general.architecture": .string("qwen3"), "general.type": .string("model"), "general.name": .string("tiny-qwen3-embedding"),
            "general.file_type": .uint32(fileType.llamaFileType), "general.quantization_version": .uint32(2),
            "qwen3.block_count": .uint32(2), "qwen3.context_length": .uint32(32768), "qwen3.embedding_length": .uint32(40),
            "qwen3.feed_forward_length": .uint32(96), "qwen3.attention.head_count": .uint32(4), "qwen3.attention.head_count_kv": .uint32(2),
            "qwen3.attention.key_length": .uint32(16), "qwen3.attention.value_length": .uint32(16),
            "qwen3.rope.freq_base": .float32(1_000_000), "qwen3.attention.layer_norm_rms_epsilon": .float32(1e-6),
            "qwen3.pooling_type": .uint32(3), "tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.pre": .string("qwen2"),
            "tokenizer.ggml.eos_token_id": .uint32(151_643), "tokenizer.ggml.eot_token_id": .uint32(151_645),
            "tokenizer.ggml.padding_token_id": .uint32(151_643), "tokenizer.ggml.bos_token_id": .uint32(151_643),
            "tokenizer.ggml.add_eos_token": .bool(true), "tokenizer.ggml.add_bos_token": .bool(false), "tokenizer.ggml.add_sep_token": .bool(false),
        ]
        for (key, value) in expectedValues { #expect(metadata[key] == value, "\(key): \(String(describing: metadata[key]))") }
        #expect(metadata["general.size_label"]?.string?.hasSuffix("M") == true)
        let tokenizer = try file.tokenizerMetadata()
        #expect(tokenizer.tokens.count == 151_669 && tokenizer.merges.count == 151_387)
        #expect(tokenizer.tokens[9707] == "Hello" && tokenizer.tokens[151_643] == "<|endoftext|>" && tokenizer.tokens[151_667] == "<think>")
        #expect(tokenizer.merges.first == "Ġ Ġ")
        let counts = Dictionary(grouping: tokenizer.tokenTypes, by: { $0 }).mapValues(\.count)
        #expect(counts == [1: 151_643, 3: 20, 4: 6], "NORMAL / CONTROL / USER_DEFINED counts")
        #expect(tokenizer.tokenTypes[151_643] == 3 && tokenizer.tokenTypes[151_667] == 4 && tokenizer.tokenTypes[151_659] == 3)

        // Values: float types exactly as the checkpoint's bf16 values round, quantized ones close.
        let checkpoint = try SafetensorsCheckpoint(directory: Fixtures.embedding)
        let source = try #require(checkpoint.tensor(named: "layers.1.mlp.down_proj.weight")).floats()
        let stored = try file.floats(of: try #require(file.tensor(named: "blk.1.ffn_down.weight")))
        let error = relativeRMSError(stored, source)
        switch fileType {
        case .f32, .bf16: #expect(error == 0)
        case .f16: #expect(error < 1e-3)
        default: #expect(error < 0.15, "\(fileType): \(error)")
        }
    }

    // MARK: tiny-qwen3-reranker (fp32, untied, vocab.json + merges.txt, hidden 8)

    @Test(arguments: GGUFFileType.allCases)
    func tinyRerankerConvertsToEveryType(fileType: GGUFFileType) throws {
        let (file, plan, path) = try convertToGGUF(Fixtures.reranker, fileType)
        defer { GGUFFixtures.cleanUp(path) }
        #expect(plan.kind == .reranker, "detected from the name, as llama.cpp's converter does")
        #expect(file.tensor(named: "output.weight") == nil)
        let head = try #require(file.tensor(named: "cls.output.weight"))
        #expect(head.dimensions == [8, 2])
        #expect(file.tensors.count == 1 + 3 * 11 + 1 + 1)
        // Rows of 8 or 24 fit no block: every matrix is F16 in a quantized file.
        let matrixType: GGMLType = fileType == .f32 ? .f32 : fileType == .bf16 ? .bf16 : .f16
        for tensor in file.tensors {
            #expect(tensor.type == (tensor.dimensions.count == 1 ? .f32 : matrixType), "\(tensor.name)")
        }
        // cls.output = the LM head's rows for "yes" (9693) then "no" (2152).
        let lmHead = try #require(try SafetensorsCheckpoint(directory: Fixtures.reranker).tensor(named: "lm_head.weight")).floats()
        let expectedHead = Array(lmHead[(9693 * 8)..<(9694 * 8)] + lmHead[(2152 * 8)..<(2153 * 8)])
        let storedHead = try file.floats(of: head)
        if fileType == .f32 {
            #expect(storedHead == expectedHead)
        } else {
            #expect(relativeRMSError(storedHead, expectedHead) < 5e-3)
        }
        let metadata = file.metadata
        #expect(metadata["qwen3.pooling_type"] == .uint32(4))
        #expect(metadata["qwen3.classifier.output_labels"] == .array(.string, [.string("yes"), .string("no")]))
        #expect(metadata["tokenizer.chat_templates"] == .array(.string, [.string("rerank")]))
        let template = try #require(metadata["tokenizer.chat_template.rerank"]?.string)
        #expect(template.hasPrefix("<|im_start|>system\nJudge whether") && template.hasSuffix("<|im_start|>assistant\n<think>\n\n</think>\n\n"))
        #expect(template.contains("<Query>: {query}\n<Document>: {document}<|im_end|>"))
        // No tokenizer.json: ids from config.json, add_bos from tokenizer_config.json, nothing appended.
        #expect(metadata["tokenizer.ggml.eos_token_id"] == .uint32(151_645))
        #expect(metadata["tokenizer.ggml.bos_token_id"] == .uint32(151_643))
        #expect(metadata["tokenizer.ggml.add_bos_token"] == .bool(false))
        #expect(metadata["tokenizer.ggml.add_eos_token"] == nil && metadata["tokenizer.ggml.padding_token_id"] == nil)
        #expect(metadata["qwen3.rope.freq_base"] == .float32(1_000_000), "read from transformers 5 rope_parameters")
        #expect(metadata["qwen3.context_length"] == .uint32(40960) && metadata["qwen3.block_count"] == .uint32(3))
        let tokenizer = try file.tokenizerMetadata()
        #expect(tokenizer.tokens.count == 151_669 && tokenizer.merges.count == 151_387)
        #expect(tokenizer.tokens[9693] == "yes" && tokenizer.tokens[2152] == "no")
    }

    /// An embedding model whose tokenizer has no post-processor still gets EOS appended by llama.cpp:
    /// `<|endoftext|>`, what Qwen3-Embedding's tokenizer appends, with the configured EOS kept as EOT.
    @Test func embeddingWithoutTemplateStillAppendsEndOfText() throws {
        let plan = try GGUFConverter(kind: .embedding).plan(modelDirectory: Fixtures.reranker, fileType: .f16)
        #expect(plan.metadata["tokenizer.ggml.add_eos_token"] == .bool(true))
        #expect(plan.metadata["tokenizer.ggml.eos_token_id"] == .uint32(151_643))
        #expect(plan.metadata["tokenizer.ggml.eot_token_id"] == .uint32(151_645))
        #expect(plan.metadata["qwen3.pooling_type"] == .uint32(3))
        #expect(plan.tensors.contains { $0.layout.name == "output.weight" }, "an untied head is kept for embedding models, as llama.cpp does")
    }

    @Test func progressCoversEveryValue() throws {
        let path = try GGUFFixtures.scratchFile("progress.gguf")
        defer { GGUFFixtures.cleanUp(path) }
        var converter = GGUFConverter(kind: .embedding)
        converter.chunkValues = 50_000
        var reports: [GGUFConversionProgress] = []
        let plan = try converter.convert(modelDirectory: GGUFFixtures.quant, fileType: .q8_0, output: path) { reports.append($0) }
        #expect(reports.count > plan.tensors.count)
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.completedValues < $1.completedValues })
        #expect(reports.last?.completedValues == plan.parameterCount && reports.last?.totalValues == plan.parameterCount)
    }

    // MARK: Helpers and errors

    @Test func sizeLabelsNamesAndKinds() throws {
        #expect(GGUFConverter.sizeLabel(2_098_688) == "2.1M")
        #expect(GGUFConverter.sizeLabel(1_837_056) == "1.8M")
        #expect(GGUFConverter.sizeLabel(595_776_512) == "596M")
        #expect(GGUFConverter.sizeLabel(4_022_468_096) == "4.0B")
        #expect(GGUFConverter.sizeLabel(7_568_000_000) == "7.6B")
        #expect(GGUFConverter.sizeLabel(12_345) == "12K")
        #expect(GGUFConverter.modelName("/cache/models--Qwen--Qwen3-Embedding-0.6B/snapshots/abc123") == "Qwen3-Embedding-0.6B")
        #expect(GGUFConverter.modelName("/models/My-Model/") == "My-Model")
        #expect(GGUFConverter.detectKind("/cache/models--Qwen--Qwen3-Reranker-4B/snapshots/abc", architecture: nil) == .reranker)
        #expect(GGUFConverter.detectKind("/models/x", architecture: "Qwen3ForSequenceClassification") == .reranker)
        #expect(GGUFConverter.detectKind("/models/Qwen3-Embedding-8B", architecture: "Qwen3ForCausalLM") == .embedding)
        #expect(GGUFFileType(rawValue: "q4_k_m") == .q4_K_M && GGUFFileType.q4_K_M.name == "Q4_K_M")
    }

    @Test func unusableInputsAreRefusedWithClearErrors() throws {
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let converter = GGUFConverter()
        #expect(throws: (any Error).self) { try converter.convert(modelDirectory: "\(work)/missing", fileType: .f16, output: "\(work)/x.gguf") }
        #expect(throws: ModelToolsError.self) { try converter.convert(modelDirectory: Fixtures.reranker, fileType: .f16, output: work) }
        #expect(throws: ModelToolsError.self) {
            try converter.convert(modelDirectory: Fixtures.reranker, fileType: .f16, output: "\(work)/no-such-directory/x.gguf")
        }

        // A configuration of another architecture.
        let other = "\(work)/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(Fixtures.reranker)/config.json"))) as! [String: Any]
        config["model_type"] = "llama"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(other)/config.json"))
        #expect(throws: ModelToolsError.self) { _ = try converter.plan(modelDirectory: other, fileType: .f16) }

        // A tensor this converter does not map (a bias) is refused rather than dropped.
        let biased = "\(work)/biased"
        try FileManager.default.createDirectory(atPath: biased, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: Fixtures.reranker) where !name.hasSuffix(".safetensors") {
            try FileManager.default.copyItem(atPath: "\(Fixtures.reranker)/\(name)", toPath: "\(biased)/\(name)")
        }
        let source = try SafetensorsFile(path: "\(Fixtures.reranker)/model.safetensors")
        let names = source.tensors.keys.sorted()
        var layouts = names.map { TensorLayout(name: $0, dataType: .float32, shape: source.tensors[$0]!.shape) }
        layouts.append(TensorLayout(name: "model.layers.0.self_attn.q_proj.bias", dataType: .float32, shape: [16]))
        let writer = try SafetensorsWriter(path: "\(biased)/model.safetensors", tensors: layouts)
        for name in names { try writer.write(source.tensors[name]!.data) }
        try [UInt8](repeating: 0, count: 64).withUnsafeBytes { try writer.write($0) }
        try writer.finish()
        #expect(throws: ModelToolsError.self) { _ = try converter.plan(modelDirectory: biased, fileType: .f16) }
        #expect(!FileManager.default.fileExists(atPath: "\(work)/x.gguf"))
    }
}

/// Ties the Swift writer to the files llama.cpp was run on by Scripts/check_gguf_with_llama_cpp.py.
@Suite struct GGUFWrittenFixtureTests {
    struct Outputs: Decodable {
        struct Entry: Decodable { let sha256: String }
        let files: [String: Entry]
    }

    /// The converter writes, byte for byte, the files whose llama.cpp outputs are recorded in
    /// Tests/Fixtures/gguf-written/llama-outputs.json, so those outputs describe this code's files.
    @Test(arguments: [("quant-embedding", GGUFFileType.f16), ("quant-embedding", .q8_0), ("quant-embedding", .q4_0),
                      ("quant-embedding", .q4_K_M), ("quant-embedding", .q6_K), ("quant-reranker", .bf16), ("quant-reranker", .q4_K_M)])
    func writtenFilesAreTheOnesLlamaCppRan(label: String, fileType: GGUFFileType) throws {
        let url = URL(fileURLWithPath: GGUFFixtures.written).appendingPathComponent("llama-outputs.json")
        let outputs = try JSONDecoder().decode(Outputs.self, from: Data(contentsOf: url))
        let expected = try #require(outputs.files["\(label)-\(fileType.rawValue)"]?.sha256)
        let kind: GGUFModelKind = label.hasSuffix("reranker") ? .reranker : .embedding
        let (_, _, path) = try convertToGGUF(GGUFFixtures.quant, fileType, kind: kind)
        defer { GGUFFixtures.cleanUp(path) }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data.withUnsafeBytes { sha256Hex($0) } == expected, "\(label) \(fileType)")
    }
}
