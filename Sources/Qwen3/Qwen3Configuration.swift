import Foundation
import ModelFormats

/// The hyper-parameters of a Qwen3 decoder, read from a Hugging Face `config.json`.
///
/// Accepts both the transformers 4.x keys (`rope_theta`, `torch_dtype`) and the 5.x keys
/// (`rope_parameters.rope_theta`, `dtype`). Anything this engine does not implement (biases, sliding
/// windows, RoPE scaling, another activation) is refused when loading rather than silently ignored.
public struct Qwen3Configuration: Sendable, Equatable, Decodable {
    /// Width of the residual stream.
    public var hiddenSize: Int
    /// Number of decoder layers.
    public var layerCount: Int
    /// Number of query heads.
    public var attentionHeads: Int
    /// Number of key/value heads (grouped-query attention).
    public var keyValueHeads: Int
    /// Dimension of one head. Not always `hiddenSize / attentionHeads` (Qwen3-4B: 2560/32 = 80, head_dim 128).
    public var headDimension: Int
    /// Width of the SwiGLU MLP.
    public var intermediateSize: Int
    /// Rows of the token embedding table.
    public var vocabularySize: Int
    /// Longest sequence the positional encoding was trained for.
    public var maxPositionEmbeddings: Int
    /// RMSNorm epsilon.
    public var rmsNormEpsilon: Double
    /// RoPE base frequency.
    public var ropeTheta: Double
    /// Whether the LM head shares the embedding matrix.
    public var tieWordEmbeddings: Bool
    /// The dtype the checkpoint was saved in (`bfloat16`, `float16`, `float32`), if stated.
    public var checkpointDataType: String?

    /// A configuration from explicit values.
    public init(
        hiddenSize: Int, layerCount: Int, attentionHeads: Int, keyValueHeads: Int, headDimension: Int,
        intermediateSize: Int, vocabularySize: Int, maxPositionEmbeddings: Int = 32768,
        rmsNormEpsilon: Double = 1e-6, ropeTheta: Double = 1_000_000, tieWordEmbeddings: Bool = true,
        checkpointDataType: String? = nil
    ) {
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.attentionHeads = attentionHeads
        self.keyValueHeads = keyValueHeads
        self.headDimension = headDimension
        self.intermediateSize = intermediateSize
        self.vocabularySize = vocabularySize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeTheta = ropeTheta
        self.tieWordEmbeddings = tieWordEmbeddings
        self.checkpointDataType = checkpointDataType
    }

    private enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case layerCount = "num_hidden_layers"
        case attentionHeads = "num_attention_heads"
        case keyValueHeads = "num_key_value_heads"
        case headDimension = "head_dim"
        case intermediateSize = "intermediate_size"
        case vocabularySize = "vocab_size"
        case maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEpsilon = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
        case tieWordEmbeddings = "tie_word_embeddings"
        case torchDataType = "torch_dtype"
        case dataType = "dtype"
        case hiddenActivation = "hidden_act"
        case attentionBias = "attention_bias"
        case useSlidingWindow = "use_sliding_window"
    }

    private struct RopeParameters: Decodable {
        var ropeTheta: Double?
        var ropeType: String?
        enum CodingKeys: String, CodingKey {
            case ropeTheta = "rope_theta"
            case ropeType = "rope_type"
            case type
        }
        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            ropeTheta = try container.decodeIfPresent(Double.self, forKey: .ropeTheta)
            ropeType = try container.decodeIfPresent(String.self, forKey: .ropeType)
                ?? container.decodeIfPresent(String.self, forKey: .type)
        }
    }

    /// Decodes a `config.json`, validating what the engine supports.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let modelType = try container.decodeIfPresent(String.self, forKey: .modelType), modelType != "qwen3" {
            throw Qwen3Error.unsupportedConfiguration("model_type \"\(modelType)\" (expected \"qwen3\")")
        }
        hiddenSize = try container.decode(Int.self, forKey: .hiddenSize)
        layerCount = try container.decode(Int.self, forKey: .layerCount)
        attentionHeads = try container.decode(Int.self, forKey: .attentionHeads)
        keyValueHeads = try container.decodeIfPresent(Int.self, forKey: .keyValueHeads) ?? attentionHeads
        headDimension = try container.decodeIfPresent(Int.self, forKey: .headDimension)
            ?? (attentionHeads > 0 ? hiddenSize / attentionHeads : 0)
        intermediateSize = try container.decode(Int.self, forKey: .intermediateSize)
        vocabularySize = try container.decode(Int.self, forKey: .vocabularySize)
        maxPositionEmbeddings = try container.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 32768
        rmsNormEpsilon = try container.decodeIfPresent(Double.self, forKey: .rmsNormEpsilon) ?? 1e-6
        tieWordEmbeddings = try container.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        checkpointDataType = try container.decodeIfPresent(String.self, forKey: .dataType)
            ?? container.decodeIfPresent(String.self, forKey: .torchDataType)

        // transformers 5.x: rope_parameters; 4.x: rope_theta (+ rope_scaling, which must be absent).
        let ropeParameters = try container.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let legacyScaling = try container.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        for parameters in [ropeParameters, legacyScaling].compactMap({ $0 }) {
            if let type = parameters.ropeType, type != "default" {
                throw Qwen3Error.unsupportedConfiguration("rope type \"\(type)\" (only \"default\" RoPE is implemented)")
            }
        }
        ropeTheta = try ropeParameters?.ropeTheta
            ?? container.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10_000

        if let activation = try container.decodeIfPresent(String.self, forKey: .hiddenActivation), activation != "silu" {
            throw Qwen3Error.unsupportedConfiguration("hidden_act \"\(activation)\" (expected \"silu\")")
        }
        if try container.decodeIfPresent(Bool.self, forKey: .attentionBias) == true {
            throw Qwen3Error.unsupportedConfiguration("attention_bias true (Qwen3 has no attention biases)")
        }
        if try container.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) == true {
            throw Qwen3Error.unsupportedConfiguration("use_sliding_window true (sliding-window attention is not implemented)")
        }
        try validate()
    }

    /// Loads and validates `config.json` from a model directory.
    public static func load(directory: String) throws -> Qwen3Configuration {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Qwen3Error.missingFile("\(directory) (model directory not found)")
        }
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: path) else { throw Qwen3Error.missingFile(path) }
        // Refuses a FIFO or device named config.json instead of blocking on it.
        let data = try RegularFile.contents(atPath: path)
        do {
            return try JSONDecoder().decode(Qwen3Configuration.self, from: data)
        } catch let error as Qwen3Error {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw Qwen3Error.invalidConfiguration(path: path, reason: "missing \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw Qwen3Error.invalidConfiguration(path: path, reason: "\"\(field)\" has the wrong type")
        } catch {
            throw Qwen3Error.invalidConfiguration(path: path, reason: "not valid JSON")
        }
    }

    /// Checks that the sizes are positive and consistent.
    public func validate() throws {
        let sizes: [(String, Int)] = [
            ("hidden_size", hiddenSize), ("num_hidden_layers", layerCount), ("num_attention_heads", attentionHeads),
            ("num_key_value_heads", keyValueHeads), ("head_dim", headDimension), ("intermediate_size", intermediateSize),
            ("vocab_size", vocabularySize), ("max_position_embeddings", maxPositionEmbeddings),
        ]
        for (name, value) in sizes where value <= 0 || value > 1 << 24 {
            throw Qwen3Error.unsupportedConfiguration("\(name) = \(value) is out of range")
        }
        if attentionHeads % keyValueHeads != 0 {
            throw Qwen3Error.unsupportedConfiguration(
                "num_attention_heads (\(attentionHeads)) is not a multiple of num_key_value_heads (\(keyValueHeads))")
        }
        if headDimension % 2 != 0 {
            throw Qwen3Error.unsupportedConfiguration("head_dim \(headDimension) is odd (RoPE rotates pairs)")
        }
        if !(rmsNormEpsilon > 0) || !(ropeTheta > 0) {
            throw Qwen3Error.unsupportedConfiguration("rms_norm_eps and rope_theta must be positive")
        }
    }
}
