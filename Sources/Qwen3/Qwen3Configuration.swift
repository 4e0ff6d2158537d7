import Foundation
import ModelFormats

/// The hyper-parameters of a Qwen3 decoder, read from a Hugging Face `config.json`.
///
/// Accepts both the transformers 4.x keys (`rope_theta`, `torch_dtype`) and the 5.x keys
/// (`rope_parameters.rope_theta`, `dtype`). Anything this engine does not implement (biases, sliding
/// windows, RoPE scaling, another activation) is refused when loading rather than silently ignored.
///
/// This is also what the GGUF converter reads (`load(directory:purpose:)` with `.conversion`): one
/// reader of `config.json` for running a checkpoint and for converting it, so the two can never read
/// a key differently. Conversion keeps what running refuses (RoPE scaling, which llama.cpp applies) and
/// needs to know which values the file states (`statedValues`), since llama.cpp's converter writes a
/// hyper-parameter only when the checkpoint states it.
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
    /// RoPE scaling as `config.json` states it; nil for plain RoPE. Only a configuration read for
    /// conversion can have one: this engine runs plain RoPE and refuses a scaled configuration to run.
    public var ropeScaling: RopeScaling?
    /// `model_type` as stated (a configuration read to run says `qwen3` or nothing).
    public var modelType: String?
    /// `architectures`: the transformers classes the checkpoint was saved from (`Qwen3ForCausalLM`…).
    public var architectures: [String]
    /// `_name_or_path`: the name the checkpoint was saved under, if stated.
    public var nameOrPath: String?
    /// Special-token ids stated as `<role>_token_id` (`bos_token_id` → `"bos"`), for the roles in
    /// `specialTokenRoles`; ids that are not single non-negative integers are left out.
    public var specialTokenIDs: [String: Int]
    /// Which of the values that have defaults `config.json` states itself.
    public var statedValues: StatedValues

    /// The special-token roles whose `<role>_token_id` is read (gguf-py's `SpecialVocab` roles).
    public static let specialTokenRoles = ["bos", "eos", "unk", "sep", "pad", "cls", "mask", "eot", "eom"]

    /// RoPE scaling of the position frequencies (`rope_scaling`, or `rope_parameters` in transformers 5).
    public struct RopeScaling: Sendable, Equatable {
        /// The scaling methods a converted file can carry (llama.cpp's `rope.scaling.type`).
        public enum Kind: String, Sendable, Equatable {
            /// Positions divided by `factor`.
            case linear
            /// YaRN, which also needs the original context length.
            case yarn
        }
        /// The method.
        public var kind: Kind
        /// The scaling factor.
        public var factor: Double
        /// `original_max_position_embeddings` (YaRN only).
        public var originalContextLength: Int?

        /// A scaling from its parts.
        public init(kind: Kind, factor: Double, originalContextLength: Int? = nil) {
            self.kind = kind
            self.factor = factor
            self.originalContextLength = originalContextLength
        }
    }

    /// The defaulted values a `config.json` states itself.
    public struct StatedValues: OptionSet, Sendable, Hashable {
        /// The raw bits.
        public let rawValue: Int
        /// A set from its raw bits.
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// `head_dim`.
        public static let headDimension = StatedValues(rawValue: 1 << 0)
        /// `max_position_embeddings`.
        public static let maxPositionEmbeddings = StatedValues(rawValue: 1 << 1)
        /// `rms_norm_eps`.
        public static let rmsNormEpsilon = StatedValues(rawValue: 1 << 2)
        /// `rope_theta` (or `rope_parameters.rope_theta`).
        public static let ropeTheta = StatedValues(rawValue: 1 << 3)
        /// Every value stated.
        public static let all: StatedValues = [.headDimension, .maxPositionEmbeddings, .rmsNormEpsilon, .ropeTheta]
    }

    /// What a configuration is read for, which decides what is refused.
    public enum Purpose: Sendable {
        /// To run it with this engine: everything the engine does not implement is refused.
        case inference
        /// To convert the checkpoint (to GGUF): the file is described, not run, so RoPE scaling is kept,
        /// `model_type` is left to the converter to check, and settings the converter does not carry
        /// (activation, biases, sliding window) are not judged here.
        case conversion
    }

    /// The decoder `userInfo` key that selects `Purpose.conversion` (absent: `.inference`).
    private static var purposeKey: CodingUserInfoKey { CodingUserInfoKey(rawValue: "Qwen3Configuration.purpose")! }

    /// A configuration from explicit values.
    public init(
        hiddenSize: Int, layerCount: Int, attentionHeads: Int, keyValueHeads: Int, headDimension: Int,
        intermediateSize: Int, vocabularySize: Int, maxPositionEmbeddings: Int = 32768,
        rmsNormEpsilon: Double = 1e-6, ropeTheta: Double = 1_000_000, tieWordEmbeddings: Bool = true,
        checkpointDataType: String? = nil, ropeScaling: RopeScaling? = nil, modelType: String? = "qwen3",
        architectures: [String] = [], nameOrPath: String? = nil, specialTokenIDs: [String: Int] = [:],
        statedValues: StatedValues = .all
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
        self.ropeScaling = ropeScaling
        self.modelType = modelType
        self.architectures = architectures
        self.nameOrPath = nameOrPath
        self.specialTokenIDs = specialTokenIDs
        self.statedValues = statedValues
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
        case architectures
        case nameOrPath = "_name_or_path"
    }

    /// `<role>_token_id` keys, read by name.
    private struct TokenIDKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct RopeParameters: Decodable {
        var ropeTheta: Double?
        var ropeType: String?
        var factor: Double?
        var originalContextLength: Int?
        enum CodingKeys: String, CodingKey {
            case ropeTheta = "rope_theta"
            case ropeType = "rope_type"
            case type
            case factor
            case originalContextLength = "original_max_position_embeddings"
        }
        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            ropeTheta = try container.decodeIfPresent(Double.self, forKey: .ropeTheta)
            ropeType = try container.decodeIfPresent(String.self, forKey: .ropeType)
                ?? container.decodeIfPresent(String.self, forKey: .type)
            factor = try container.decodeIfPresent(Double.self, forKey: .factor)
            originalContextLength = try container.decodeIfPresent(Int.self, forKey: .originalContextLength)
        }

        /// The scaling these parameters ask for (nil: plain RoPE), refusing methods llama.cpp's
        /// `qwen3` does not apply and incomplete ones.
        func scaling() throws -> RopeScaling? {
            guard let type = ropeType, type != "default" else { return nil }
            guard let kind = RopeScaling.Kind(rawValue: type) else {
                throw Qwen3Error.unsupportedConfiguration("RoPE scaling type \(type) is not supported (default, linear and yarn are)")
            }
            guard let factor else { throw Qwen3Error.unsupportedConfiguration("RoPE scaling \(type) needs a \"factor\"") }
            if kind == .yarn && originalContextLength == nil {
                throw Qwen3Error.unsupportedConfiguration("YaRN RoPE scaling needs \"original_max_position_embeddings\"")
            }
            return RopeScaling(kind: kind, factor: factor, originalContextLength: kind == .yarn ? originalContextLength : nil)
        }
    }

    /// Decodes a `config.json`, validating what the engine supports.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let purpose = decoder.userInfo[Self.purposeKey] as? Purpose ?? .inference
        modelType = try container.decodeIfPresent(String.self, forKey: .modelType)
        if purpose == .inference, let modelType, modelType != "qwen3" {
            throw Qwen3Error.unsupportedConfiguration("model_type \"\(modelType)\" (expected \"qwen3\")")
        }
        architectures = try container.decodeIfPresent([String].self, forKey: .architectures) ?? []
        nameOrPath = try container.decodeIfPresent(String.self, forKey: .nameOrPath)
        // An id that is a list or not an integer names no single token: left out, as gguf-py does.
        let tokenIDs = try decoder.container(keyedBy: TokenIDKey.self)
        var specialTokenIDs: [String: Int] = [:]
        for role in Self.specialTokenRoles {
            if let id = try? tokenIDs.decodeIfPresent(Int.self, forKey: TokenIDKey(stringValue: role + "_token_id")), id >= 0 {
                specialTokenIDs[role] = id
            }
        }
        self.specialTokenIDs = specialTokenIDs
        var stated: StatedValues = []
        if container.contains(.headDimension) { stated.insert(.headDimension) }
        if container.contains(.maxPositionEmbeddings) { stated.insert(.maxPositionEmbeddings) }
        if container.contains(.rmsNormEpsilon) { stated.insert(.rmsNormEpsilon) }
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

        // transformers 5.x: rope_parameters; 4.x: rope_theta (+ rope_scaling, which must be absent to run).
        let ropeParameters = try container.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let legacyScaling = try container.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        switch purpose {
        case .inference:
            for parameters in [ropeParameters, legacyScaling].compactMap({ $0 }) {
                if let type = parameters.ropeType, type != "default" {
                    throw Qwen3Error.unsupportedConfiguration("rope type \"\(type)\" (only \"default\" RoPE is implemented)")
                }
            }
            ropeScaling = nil
        case .conversion:
            ropeScaling = try (ropeParameters ?? legacyScaling)?.scaling()
        }
        let statedTheta = try ropeParameters?.ropeTheta ?? container.decodeIfPresent(Double.self, forKey: .ropeTheta)
        if statedTheta != nil { stated.insert(.ropeTheta) }
        ropeTheta = statedTheta ?? 10_000
        statedValues = stated
        guard purpose == .inference else {
            try validate()
            return
        }

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

    /// Loads and validates `config.json` from a model directory, refusing what `purpose` cannot use.
    ///
    /// - Parameters:
    ///   - directory: the Hugging Face model directory holding `config.json`.
    ///   - purpose: `.inference` (the default) to run the model here, `.conversion` to describe it for
    ///     a converter.
    /// - Throws: `Qwen3Error.missingFile`, `.invalidConfiguration` (naming the file and the key) or
    ///   `.unsupportedConfiguration`.
    public static func load(directoryAt directory: URL, purpose: Purpose = .inference) throws -> Qwen3Configuration {
        try load(directory: directory.path, purpose: purpose)
    }

    /// `load(directoryAt:purpose:)` for a path as the command line gives it (inside the package).
    package static func load(directory: String, purpose: Purpose = .inference) throws -> Qwen3Configuration {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Qwen3Error.missingFile("\(directory) (model directory not found)")
        }
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: path) else { throw Qwen3Error.missingFile(path) }
        // Refuses a FIFO or device named config.json instead of blocking on it.
        let data = try RegularFile.contents(atPath: path)
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[purposeKey] = purpose
            return try decoder.decode(Qwen3Configuration.self, from: data)
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
