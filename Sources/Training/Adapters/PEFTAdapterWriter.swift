import Foundation
import ModelFormats
import ModelTools
import Qwen3

/// Writes LoRA parameters as a PEFT adapter directory that `peft.PeftModel.from_pretrained` (and our own
/// `LoRAAdapter`, hence `--adapter`) loads: `adapter_config.json` with the fields peft 0.21 writes, and
/// `adapter_model.safetensors` with PEFT's key names.
///
/// Keys are `base_model.model.` + the module path + `.lora_A.weight` / `.lora_B.weight`; the module path
/// carries the causal LM's `model.` (`model.layers.0.self_attn.q_proj`) exactly when the base checkpoint's
/// names do, since PEFT keys mirror the module tree of the model it wraps: a bare `Qwen3Model` (the
/// embedding checkpoints) has `layers.0…` at its root, `Qwen3ForCausalLM` (rerankers) has `model.layers.0…`.
public struct PEFTAdapterWriter: Sendable {
    /// The LoRA hyper-parameters the factors were trained with (rank, alpha, targets).
    public var configuration: LoRAConfiguration
    /// Whether the base checkpoint's tensor names carry `model.` (a `Qwen3ForCausalLM` checkpoint).
    public var namesCarryModelPrefix: Bool
    /// `base_model_name_or_path`: the base model's directory or Hub id, recorded for `AutoPeftModel`.
    public var baseModelNameOrPath: String?
    /// PEFT's `task_type`: nil (PEFT then records the base class in `auto_mapping`) or
    /// `FEATURE_EXTRACTION` for an embedding model.
    public var taskType: String?

    /// A writer for adapters of a base model whose names do (`namesCarryModelPrefix`) or do not carry `model.`.
    public init(configuration: LoRAConfiguration, namesCarryModelPrefix: Bool, baseModelNameOrPath: String? = nil,
                taskType: String? = nil) {
        self.configuration = configuration
        self.namesCarryModelPrefix = namesCarryModelPrefix
        self.baseModelNameOrPath = baseModelNameOrPath
        self.taskType = taskType
    }

    /// Writes `parameters` (LoRA factors named `layers.{i}.self_attn.q_proj.lora_A.weight` etc., see
    /// `TrainableParameter`) into `directory`, created if needed; existing adapter files are replaced.
    ///
    /// Every factor must belong to one of the configured targets, come with its partner (A with B) and
    /// have the configured rank, so that what is written is an adapter PEFT would itself have saved.
    public func write(_ parameters: [TrainableParameter], to directory: URL) throws {
        let rank = configuration.rank
        guard rank > 0 else { throw ModelToolsError.invalidArgument("LoRA rank must be positive, got \(rank)") }
        guard configuration.alpha.isFinite else { throw ModelToolsError.invalidArgument("LoRA alpha must be finite") }
        guard !parameters.isEmpty else { throw ModelToolsError.invalidArgument("no LoRA parameters to write") }
        let targets = Set(configuration.targets.map(\.rawValue))
        var seen: [String: (a: Bool, b: Bool)] = [:]
        for parameter in parameters {
            guard let (module, isA) = Self.parse(parameter.name), let target = module.split(separator: ".").last.map(String.init),
                  targets.contains(target) else {
                throw ModelToolsError.invalidArgument(
                    "\"\(parameter.name)\" is not a LoRA factor of the targets \(configuration.targets.map(\.rawValue).joined(separator: ","))")
            }
            guard parameter.shape.count == 2, parameter.shape[isA ? 0 : 1] == rank else {
                throw ModelToolsError.invalidArgument("\"\(parameter.name)\" has shape \(parameter.shape), not rank \(rank)")
            }
            var entry = seen[module] ?? (false, false)
            if isA ? entry.a : entry.b { throw ModelToolsError.invalidArgument("\"\(parameter.name)\" is given twice") }
            if isA { entry.a = true } else { entry.b = true }
            seen[module] = entry
        }
        if let (module, _) = seen.first(where: { !$0.value.a || !$0.value.b }).map({ ($0.key, $0.value) }) {
            throw ModelToolsError.invalidArgument("\(module) has only one of lora_A and lora_B")
        }

        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ModelToolsError.writeFailed(path: directory.path, reason: error.localizedDescription)
        }
        let prefix = "base_model.model." + (namesCarryModelPrefix ? "model." : "")
        let ordered = parameters.sorted { $0.name < $1.name }
        let layouts = ordered.map { TensorLayout(name: prefix + $0.name, dataType: .float32, shape: $0.shape) }
        let writer = try SafetensorsWriter(path: directory.appendingPathComponent("adapter_model.safetensors").path, tensors: layouts)
        for parameter in ordered {
            var bytes = [UInt8](repeating: 0, count: parameter.count * 4)
            parameter.values.withUnsafeBufferPointer { values in
                bytes.withUnsafeMutableBytes { ElementEncoding.encode(values, as: .float32, into: $0) }
            }
            try bytes.withUnsafeBytes { try writer.write($0) }
        }
        try writer.finish()

        let path = directory.appendingPathComponent("adapter_config.json").path
        do {
            let data = try JSONSerialization.data(withJSONObject: adapterConfiguration(), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ModelToolsError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    /// The `adapter_config.json` object: every field peft 0.21.2 writes for a plain LoRA adapter, with its
    /// default where this writer has nothing to say, so peft reads back exactly the configuration trained.
    func adapterConfiguration() -> [String: Any] {
        let null = NSNull()
        // Float → its shortest decimal, so alpha 0.1 is written 0.1, not 0.10000000149011612.
        let alpha: Any = configuration.alpha == configuration.alpha.rounded() && abs(configuration.alpha) < 1e9
            ? Int(configuration.alpha) as Any : (Double(String(configuration.alpha)) ?? Double(configuration.alpha)) as Any
        let autoMapping: Any = taskType == nil
            ? ["base_model_class": namesCarryModelPrefix ? "Qwen3ForCausalLM" : "Qwen3Model",
               "parent_library": "transformers.models.qwen3.modeling_qwen3"] as [String: Any]
            : null
        return [
            "alora_invocation_tokens": null, "alpha_pattern": [String: Any](), "arrow_config": null,
            "auto_mapping": autoMapping, "base_model_name_or_path": baseModelNameOrPath ?? null, "bias": "none",
            "corda_config": null, "ensure_weight_tying": false, "eva_config": null, "exclude_modules": null,
            "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true, "kasa_config": null,
            "layer_replication": null, "layers_pattern": null, "layers_to_transform": null,
            "loftq_config": [String: Any](), "lora_alpha": alpha, "lora_bias": false, "lora_dropout": 0.0,
            "lora_ga_config": null, "megatron_config": null, "megatron_core": "megatron.core", "modules_to_save": null,
            "monteclora_config": null, "peft_type": "LORA", "peft_version": "0.21.2", "qalora_group_size": 16,
            "r": configuration.rank, "rank_pattern": [String: Any](), "revision": null,
            "target_modules": configuration.targets.sorted { Self.order($0) < Self.order($1) }.map(\.rawValue),
            "target_parameters": null, "task_type": taskType ?? null, "trainable_token_indices": null,
            "use_bdlora": null, "use_dora": false, "use_qalora": false, "use_rslora": false, "velora_config": null,
        ]
    }

    private static func order(_ target: LoRATarget) -> Int { LoRATarget.allCases.firstIndex(of: target)! }

    /// `(module path, isA)` of a canonical LoRA name `layers.{i}.{self_attn|mlp}.{proj}.lora_{A|B}.weight`.
    static func parse(_ name: String) -> (String, Bool)? {
        let isA: Bool
        let module: Substring
        if name.hasSuffix(".lora_A.weight") {
            isA = true
            module = name.dropLast(".lora_A.weight".count)
        } else if name.hasSuffix(".lora_B.weight") {
            isA = false
            module = name.dropLast(".lora_B.weight".count)
        } else {
            return nil
        }
        let parts = module.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "layers", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
              let target = LoRATarget(rawValue: String(parts[3])), target.pathInLayer == "\(parts[2]).\(parts[3])" else { return nil }
        return (String(module), isA)
    }
}
