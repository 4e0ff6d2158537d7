import Foundation
import ModelFormats

/// Why a PEFT adapter directory could not be used; the message names the file and what is wrong with it.
public struct LoRAAdapterError: Error, LocalizedError, Equatable, Sendable {
    /// The adapter directory or the file inside it that is at fault.
    public let path: String
    /// What is wrong, in a few words.
    public let reason: String

    /// An error about `path`.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// A one-line description: `invalid LoRA adapter <path>: <reason>`.
    public var errorDescription: String? { "invalid LoRA adapter \(path): \(reason)" }
}

/// The linear layers of a Qwen3 decoder layer that LoRA can adapt, by their PEFT module names.
public enum LoRAModule: String, Sendable, CaseIterable, Comparable, Codable {
    /// `self_attn.q_proj`.
    case queryProjection = "q_proj"
    /// `self_attn.k_proj`.
    case keyProjection = "k_proj"
    /// `self_attn.v_proj`.
    case valueProjection = "v_proj"
    /// `self_attn.o_proj`.
    case outputProjection = "o_proj"
    /// `mlp.gate_proj`.
    case gateProjection = "gate_proj"
    /// `mlp.up_proj`.
    case upProjection = "up_proj"
    /// `mlp.down_proj`.
    case downProjection = "down_proj"

    /// The module's path inside a decoder layer (`self_attn.q_proj`, `mlp.down_proj`).
    public var pathInLayer: String {
        switch self {
        case .queryProjection, .keyProjection, .valueProjection, .outputProjection: return "self_attn." + rawValue
        case .gateProjection, .upProjection, .downProjection: return "mlp." + rawValue
        }
    }

    /// The weight's shape `[out, in]` under `configuration`.
    public func weightShape(_ configuration: Qwen3Configuration) -> [Int] {
        let hidden = configuration.hiddenSize
        let queryWidth = configuration.attentionHeads * configuration.headDimension
        let keyValueWidth = configuration.keyValueHeads * configuration.headDimension
        switch self {
        case .queryProjection: return [queryWidth, hidden]
        case .keyProjection, .valueProjection: return [keyValueWidth, hidden]
        case .outputProjection: return [hidden, queryWidth]
        case .gateProjection, .upProjection: return [configuration.intermediateSize, hidden]
        case .downProjection: return [hidden, configuration.intermediateSize]
        }
    }

    /// Declaration order in the model (q, k, v, o, gate, up, down), so sorted lists read as the model does.
    public static func < (lhs: LoRAModule, rhs: LoRAModule) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`) for a Qwen3 model, read and
/// checked so that it can be merged into the base weights at load: W' = W + scale · B · A.
///
/// Both key layouts PEFT writes are accepted: `base_model.model.layers.0.self_attn.q_proj.lora_A.weight`
/// (an adapter of a bare `Qwen3Model`, as the embedding checkpoints are saved) and
/// `base_model.model.model.layers.0…` (an adapter of `Qwen3ForCausalLM`). The decoder layers are the same
/// in both, so either applies to either kind of checkpoint; `namesCarryModelPrefix` records which it was.
///
/// Only what this engine can apply exactly is accepted: plain LoRA on the seven linear projections of the
/// decoder layers, `fan_in_fan_out` false, no bias, no DoRA, no per-module rank or alpha patterns and no
/// `modules_to_save` (those would replace whole weights that the adapter file does not describe here).
/// `lora_dropout` only matters in training and is ignored.
public struct LoRAAdapter: Sendable {
    /// The factors of one adapted weight, in fp32: ΔW = scale · B · A.
    public struct Factors: Sendable, Equatable {
        /// The adapted module.
        public let module: LoRAModule
        /// The decoder layer.
        public let layer: Int
        /// LoRA rank r.
        public let rank: Int
        /// The weight's input size (columns of W and A).
        public let inputSize: Int
        /// The weight's output size (rows of W and B).
        public let outputSize: Int
        /// A, `rank × inputSize`, row-major.
        public let a: [Float]
        /// B, `outputSize × rank`, row-major.
        public let b: [Float]
        /// alpha / r, or alpha / √r with rsLoRA.
        public let scale: Float

        /// Adds row `row` of scale · B · A to the `inputSize` values at `destination`.
        ///
        /// PEFT computes `(B @ A) * scaling` and adds that to the weight, so the product is formed first
        /// and scaled afterwards, in fp32, the same order here.
        public func addDelta(row: Int, to destination: UnsafeMutablePointer<Float>) {
            precondition(row >= 0 && row < outputSize, "row \(row) outside \(outputSize) rows")
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    for column in 0..<inputSize {
                        var sum: Float = 0
                        for k in 0..<rank { sum += b[row * rank + k] * a[k * inputSize + column] }
                        destination[column] += sum * scale
                    }
                }
            }
        }

        /// The whole W + scale · B · A for a weight given as fp32 values (`outputSize × inputSize`).
        public func merged(into weight: [Float]) -> [Float] {
            precondition(weight.count == outputSize * inputSize, "weight of \(weight.count) values for \(outputSize)×\(inputSize)")
            var result = weight
            result.withUnsafeMutableBufferPointer { buffer in
                for row in 0..<outputSize { addDelta(row: row, to: buffer.baseAddress! + row * inputSize) }
            }
            return result
        }
    }

    /// The adapter directory.
    public let directory: String
    /// `r` of adapter_config.json.
    public let rank: Int
    /// `lora_alpha` of adapter_config.json.
    public let alpha: Double
    /// `use_rslora`: the scale is alpha / √r instead of alpha / r.
    public let usesRankStabilizedScale: Bool
    /// `target_modules` as written: a list of module names, or one regular expression.
    public let targetModules: TargetModules
    /// `base_model_name_or_path`, when recorded.
    public let baseModelNameOrPath: String?
    /// Whether the keys carried the causal LM's `model.` prefix (`base_model.model.model.layers…`).
    public let namesCarryModelPrefix: Bool
    /// The factors, keyed by the adapted weight's checkpoint name without `model.`
    /// (`layers.0.self_attn.q_proj.weight`).
    public let factors: [String: Factors]

    /// PEFT's `target_modules`: module names matched against the end of the module path, or one regular
    /// expression matched against the whole path.
    public enum TargetModules: Sendable, Equatable {
        /// Names such as `q_proj` (or full paths); a module matches when its path equals one or ends in `.name`.
        case names([String])
        /// A regular expression that must match the whole module path (Python's `re.fullmatch`); PEFT's
        /// special value `all-linear` is kept as this case too.
        case pattern(String)
    }

    /// The multiplier of B · A: alpha / r, or alpha / √r with rsLoRA (PEFT's `scaling`).
    public var scale: Float {
        Float(usesRankStabilizedScale ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
    }

    /// The factors for the checkpoint weight `name` (with or without `model.`), if the adapter changes it.
    public func factors(forWeight name: String) -> Factors? {
        factors[name.hasPrefix("model.") ? String(name.dropFirst("model.".count)) : name]
    }

    /// Names (without `model.`) of the weights the adapter changes, in model order.
    public var adaptedWeightNames: [String] {
        factors.values.sorted { ($0.layer, $0.module) < ($1.layer, $1.module) }
            .map { "layers.\($0.layer).\($0.module.pathInLayer).weight" }
    }

    /// A short hexadecimal digest of everything that changes the merged weights (scale, names, shapes and
    /// every factor value), so caches of computed vectors can tell adapted models apart from plain ones
    /// and from each other.
    public var fingerprint: String {
        // FNV-1a, 64 bits: no cryptographic claim is needed, only that distinct adapters differ.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            var value = value
            for _ in 0..<8 {
                hash = (hash ^ (value & 0xff)) &* 0x0000_0100_0000_01b3
                value >>= 8
            }
        }
        for name in factors.keys.sorted() {
            let factor = factors[name]!
            for byte in name.utf8 { mix(UInt64(byte)) }
            mix(UInt64(factor.rank))
            mix(UInt64(factor.inputSize))
            mix(UInt64(factor.outputSize))
            mix(UInt64(factor.scale.bitPattern))
            for value in factor.a { mix(UInt64(value.bitPattern)) }
            for value in factor.b { mix(UInt64(value.bitPattern)) }
        }
        return String(hash, radix: 16).leftPadded(to: 16)
    }

    /// Reads the adapter in `directory` (adapter_config.json and adapter_model.safetensors) and checks
    /// every factor's shape against `configuration`.
    public init(directoryAt directory: URL, configuration: Qwen3Configuration) throws {
        try self.init(directory: directory.path, configuration: configuration)
    }

    /// Reads and checks the adapter in `directory` without a model configuration; call
    /// `validate(against:)` before merging.
    public init(directoryAt directory: URL) throws {
        try self.init(directory: directory.path)
    }

    /// `init(directoryAt:configuration:)` for a path as the command line gives it (inside the package).
    package init(directory: String, configuration: Qwen3Configuration) throws {
        try self.init(directory: directory)
        try validate(against: configuration)
    }

    /// `init(directoryAt:)` for a path as the command line gives it (inside the package): reads and
    /// checks the adapter (configuration, key names, factor ranks).
    package init(directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw LoRAAdapterError(path: directory, reason: "no such directory")
        }
        guard isDirectory.boolValue else {
            throw LoRAAdapterError(path: directory, reason: "not a directory (an adapter is a directory with adapter_config.json and adapter_model.safetensors)")
        }
        self.directory = directory
        let configPath = (directory as NSString).appendingPathComponent("adapter_config.json")
        let config = try Self.readConfiguration(configPath)
        func fail(_ reason: String) -> LoRAAdapterError { LoRAAdapterError(path: configPath, reason: reason) }

        guard let type = config["peft_type"] as? String else { throw fail("missing \"peft_type\"") }
        guard type == "LORA" else { throw fail("peft_type is \"\(type)\"; only LORA adapters can be applied") }
        guard let rank = Self.integer(config["r"]), rank > 0 else { throw fail("\"r\" must be a positive integer") }
        guard let alpha = Self.number(config["lora_alpha"]), alpha.isFinite else { throw fail("\"lora_alpha\" must be a number") }
        self.rank = rank
        self.alpha = alpha
        usesRankStabilizedScale = try Self.flag(config, "use_rslora", configPath)
        if try Self.flag(config, "fan_in_fan_out", configPath) {
            throw fail("fan_in_fan_out is true (weights stored transposed, as GPT-2's Conv1D); Qwen3's linear layers need false")
        }
        if let bias = config["bias"], !(bias is NSNull) {
            guard let bias = bias as? String else { throw fail("\"bias\" must be a string") }
            guard bias == "none" else { throw fail("bias is \"\(bias)\"; only \"none\" is supported (Qwen3's projections have no bias)") }
        }
        for key in ["use_dora", "lora_bias"] where try Self.flag(config, key, configPath) {
            throw fail("\(key) is true; only plain LoRA can be applied")
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let pattern = config[key], !(pattern is NSNull), !((pattern as? [String: Any])?.isEmpty ?? false) {
                throw fail("\(key) is not empty; per-module ranks or alphas are not supported")
            }
        }
        for key in ["modules_to_save", "layer_replication", "trainable_token_indices", "target_parameters"] {
            if let value = config[key], !(value is NSNull), !((value as? [Any])?.isEmpty ?? false) {
                throw fail("\(key) is set; only LoRA factors on linear projections can be applied")
            }
        }
        switch config["target_modules"] {
        case let names as [Any]:
            let strings = names.compactMap { $0 as? String }
            guard strings.count == names.count, !strings.isEmpty else { throw fail("\"target_modules\" must be a non-empty list of strings or a string") }
            for name in strings {
                let last = name.split(separator: ".").last.map(String.init) ?? name
                guard LoRAModule(rawValue: last) != nil else {
                    throw fail("unknown target module \"\(name)\"; LoRA applies to \(LoRAModule.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            targetModules = .names(strings)
        case let pattern as String:
            targetModules = .pattern(pattern)
        default:
            throw fail("\"target_modules\" must be a non-empty list of strings or a string")
        }
        baseModelNameOrPath = config["base_model_name_or_path"] as? String

        let weightsPath = (directory as NSString).appendingPathComponent("adapter_model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            let binPath = (directory as NSString).appendingPathComponent("adapter_model.bin")
            if FileManager.default.fileExists(atPath: binPath) {
                throw LoRAAdapterError(
                    path: binPath,
                    reason: "only adapter_model.safetensors can be read (a .bin file is a pickle); save with safe_serialization=True or convert it")
            }
            throw LoRAAdapterError(path: directory, reason: "missing adapter_model.safetensors")
        }
        let file = try SafetensorsFile(path: weightsPath)
        let (factors, prefixed) = try Self.readFactors(file, path: weightsPath, configuredRank: rank, targets: targetModules,
                                                       scale: Float(usesRankStabilizedScale ? alpha / Double(rank).squareRoot() : alpha / Double(rank)))
        self.factors = factors
        namesCarryModelPrefix = prefixed
    }

    /// Checks that every adapted weight exists in a model of `configuration` with the factors' shapes.
    public func validate(against configuration: Qwen3Configuration) throws {
        let path = (directory as NSString).appendingPathComponent("adapter_model.safetensors")
        for name in adaptedWeightNames {
            let factor = factors[name]!
            guard factor.layer < configuration.layerCount else {
                throw LoRAAdapterError(path: path, reason: "adapts layer \(factor.layer) but the model has \(configuration.layerCount) layers")
            }
            let shape = factor.module.weightShape(configuration)
            guard [factor.outputSize, factor.inputSize] == shape else {
                throw LoRAAdapterError(
                    path: path,
                    reason: "\(name): lora_A is [\(factor.rank), \(factor.inputSize)] and lora_B [\(factor.outputSize), \(factor.rank)], but the model's weight is \(shape) (an adapter for another model?)")
            }
        }
    }

    /// The error for an adapter given with a GGUF model: adapters are merged into safetensors weights only.
    public static func ggufRefusal(adapter: String, model: String) -> LoRAAdapterError {
        LoRAAdapterError(
            path: adapter,
            reason: "cannot be applied to the GGUF model \(model); use the safetensors model directory, or merge it first (qwen3-embed merge-adapter) and convert the merged model")
    }

    // MARK: - Reading

    private static func readConfiguration(_ path: String) throws -> [String: Any] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw LoRAAdapterError(path: (path as NSString).deletingLastPathComponent, reason: "missing adapter_config.json")
        }
        let data: Data
        do {
            data = try RegularFile.contents(atPath: path)
        } catch {
            throw LoRAAdapterError(path: path, reason: (error as? LocalizedError)?.errorDescription ?? "\(error)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LoRAAdapterError(path: path, reason: "not a JSON object")
        }
        return object
    }

    /// An integral JSON number (not a boolean, not a fraction).
    private static func integer(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        let double = number.doubleValue
        guard double.rounded() == double, abs(double) < 1e15 else { return nil }
        return Int(double)
    }

    private static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        return number.doubleValue
    }

    /// JSONSerialization gives booleans as NSNumber too; their Objective-C type is `c` (char) on every
    /// platform, which JSON numbers never are.
    private static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    /// A boolean field: absent or null is false, anything but a JSON boolean is an error.
    private static func flag(_ config: [String: Any], _ key: String, _ path: String) throws -> Bool {
        guard let value = config[key], !(value is NSNull) else { return false }
        guard let number = value as? NSNumber, isBoolean(number) else {
            throw LoRAAdapterError(path: path, reason: "\"\(key)\" must be true or false")
        }
        return number.boolValue
    }

    /// Groups the file's `…lora_A.weight` / `…lora_B.weight` pairs by module.
    private static func readFactors(
        _ file: SafetensorsFile, path: String, configuredRank: Int, targets: TargetModules, scale: Float
    ) throws -> ([String: Factors], Bool) {
        func fail(_ reason: String) -> LoRAAdapterError { LoRAAdapterError(path: path, reason: reason) }
        let regex: Regex<AnyRegexOutput>?
        if case .pattern(let pattern) = targets, pattern != "all-linear" {
            do { regex = try Regex(pattern) } catch { throw fail("target_modules \"\(pattern)\" is not a regular expression this engine can read") }
        } else {
            regex = nil
        }
        var pairs: [String: (a: Tensor?, b: Tensor?, module: LoRAModule, layer: Int)] = [:]
        var prefixes = Set<Bool>()
        for name in file.tensors.keys.sorted() {
            let tensor = file.tensors[name]!
            guard name.hasPrefix("base_model.model.") else {
                throw fail("tensor \"\(name)\" does not start with base_model.model. (not a PEFT adapter key)")
            }
            var modulePath = String(name.dropFirst("base_model.model.".count))
            let isA: Bool
            if modulePath.hasSuffix(".lora_A.weight") {
                isA = true
                modulePath.removeLast(".lora_A.weight".count)
            } else if modulePath.hasSuffix(".lora_B.weight") {
                isA = false
                modulePath.removeLast(".lora_B.weight".count)
            } else {
                throw fail("tensor \"\(name)\" is not a LoRA factor (lora_A.weight / lora_B.weight); only plain LoRA can be applied")
            }
            let peftModulePath = modulePath
            let prefixed = modulePath.hasPrefix("model.")
            if prefixed { modulePath.removeFirst("model.".count) }
            prefixes.insert(prefixed)
            let parts = modulePath.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4, parts[0] == "layers", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
                  let module = LoRAModule(rawValue: parts[3]), module.pathInLayer == parts[2] + "." + parts[3] else {
                throw fail("tensor \"\(name)\" adapts \"\(peftModulePath)\", which is not one of the decoder layers' q/k/v/o/gate/up/down projections")
            }
            let matches: Bool
            switch targets {
            case .names(let names):
                matches = names.contains { peftModulePath == $0 || peftModulePath.hasSuffix("." + $0) }
            case .pattern:
                matches = regex.map { (try? $0.wholeMatch(in: peftModulePath)) != nil } ?? true
            }
            guard matches else {
                throw fail("tensor \"\(name)\" adapts \"\(peftModulePath)\", which target_modules does not select")
            }
            guard tensor.shape.count == 2 else { throw fail("tensor \"\(name)\" has shape \(tensor.shape); LoRA factors are matrices") }
            let key = "layers.\(layer).\(module.pathInLayer).weight"
            var entry = pairs[key] ?? (nil, nil, module, layer)
            if isA { entry.a = tensor } else { entry.b = tensor }
            pairs[key] = entry
        }
        guard !pairs.isEmpty else { throw fail("holds no LoRA factors") }
        guard prefixes.count == 1 else { throw fail("mixes keys with and without the causal LM's model. prefix") }
        var factors: [String: Factors] = [:]
        for (key, entry) in pairs {
            guard let a = entry.a else { throw fail("\(key): lora_B without lora_A") }
            guard let b = entry.b else { throw fail("\(key): lora_A without lora_B") }
            let rank = a.shape[0]
            guard b.shape[1] == rank else {
                throw fail("\(key): lora_A is \(a.shape) but lora_B is \(b.shape) (ranks differ)")
            }
            guard rank == configuredRank else {
                throw fail("\(key): factors of rank \(rank) but adapter_config.json says r = \(configuredRank)")
            }
            factors[key] = Factors(module: entry.module, layer: entry.layer, rank: rank, inputSize: a.shape[1],
                                   outputSize: b.shape[0], a: a.floats(), b: b.floats(), scale: scale)
        }
        return (factors, prefixes.first!)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
