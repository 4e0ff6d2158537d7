import Foundation
import ModelFormats

extension Qwen3Configuration {
    /// The hyper-parameters of a `qwen3` GGUF file, from the metadata llama.cpp's converter writes
    /// (`qwen3.embedding_length`, `.block_count`, `.attention.head_count`, ...); the vocabulary size is
    /// the token embedding's row count. The LM head is tied when the file has neither an `output` tensor
    /// nor a `cls.output` classification head: llama.cpp's converter drops the LM head of a reranker and
    /// writes `cls.output` instead, so such a file has no LM head at all, and its token embedding table
    /// must never stand in for one (its rows are not the "yes"/"no" logit rows).
    public init(gguf file: GGUFFile) throws {
        let metadata = file.metadata
        func invalid(_ reason: String) -> Qwen3Error { .invalidConfiguration(path: file.path, reason: reason) }
        guard let architecture = metadata["general.architecture"]?.string else {
            throw invalid("missing general.architecture")
        }
        guard architecture == "qwen3" else {
            throw Qwen3Error.unsupportedConfiguration("GGUF architecture \"\(architecture)\" (expected \"qwen3\")")
        }
        func value(_ key: String) -> GGUFValue? { metadata["qwen3." + key] }
        func integer(_ key: String) throws -> Int? {
            guard let raw = value(key) else { return nil }
            if let number = raw.integer { return number }
            // llama.cpp allows per-layer arrays for some counts; Qwen3 uses one value for all layers.
            if let numbers = raw.integers, let first = numbers.first, numbers.allSatisfy({ $0 == first }) { return first }
            throw invalid("qwen3.\(key) is not an integer")
        }
        func required(_ key: String) throws -> Int {
            guard let number = try integer(key) else { throw invalid("missing qwen3.\(key)") }
            return number
        }
        func real(_ key: String) throws -> Double? {
            guard let raw = value(key) else { return nil }
            guard let number = raw.double else { throw invalid("qwen3.\(key) is not a number") }
            return number
        }
        let embeddingName = Qwen3TensorName.tokenEmbedding.ggufName
        guard let embedding = file.tensor(named: embeddingName) else {
            throw ModelFormatError.missingTensor(name: embeddingName, directory: file.path)
        }
        guard embedding.dimensions.count == 2 else { throw invalid("token_embd.weight is not 2-D") }
        let hidden = try required("embedding_length")
        let heads = try required("attention.head_count")
        let headDimension = try integer("attention.key_length") ?? (heads > 0 ? hidden / heads : 0)
        if let valueLength = try integer("attention.value_length"), valueLength != headDimension {
            throw Qwen3Error.unsupportedConfiguration(
                "attention.value_length \(valueLength) differs from attention.key_length \(headDimension)")
        }
        if let scaling = value("rope.scaling.type")?.string, scaling != "none" {
            throw Qwen3Error.unsupportedConfiguration("rope scaling \"\(scaling)\" (only default RoPE is implemented)")
        }
        self.init(
            hiddenSize: hidden,
            layerCount: try required("block_count"),
            attentionHeads: heads,
            keyValueHeads: try integer("attention.head_count_kv") ?? heads,
            headDimension: headDimension,
            intermediateSize: try required("feed_forward_length"),
            vocabularySize: embedding.dimensions[1],
            maxPositionEmbeddings: try integer("context_length") ?? 32768,
            rmsNormEpsilon: try real("attention.layer_norm_rms_epsilon") ?? 1e-6,
            // llama.cpp's default when the key is absent.
            ropeTheta: try real("rope.freq_base") ?? 10_000,
            tieWordEmbeddings: file.tensor(named: Qwen3TensorName.languageModelHead.ggufName) == nil
                && file.tensor(named: Qwen3TensorName.classifier.ggufName) == nil,
            checkpointDataType: file.fileTypeName ?? file.tensor(named: Qwen3TensorName.layer(0, .down).ggufName)?.type.name
        )
        try validate()
    }
}
