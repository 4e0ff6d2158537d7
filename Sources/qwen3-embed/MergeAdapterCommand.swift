import ArgumentParser
import Foundation
import Training

/// `qwen3-embed merge-adapter`: a base model with a PEFT LoRA adapter merged in, written as a full model
/// directory (the base's dtype, tensor names and shards; config and tokenizer copied).
struct MergeAdapterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-adapter",
        abstract: "Merge a PEFT LoRA adapter into its base model; prints a JSON summary.",
        discussion: """
            Every adapted weight becomes W + scale·B·A, computed in fp32 and rounded once to the base tensor's \
            dtype; the other tensors are copied unchanged. The output loads in transformers and here without \
            --adapter, and can be quantized. Serving an adapter directly needs no merge: pass --adapter.
            """)

    @Option(help: "The base model directory (Hugging Face safetensors; a GGUF cannot take an adapter).")
    var model: String

    @Option(help: "The PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors).")
    var adapter: String

    @Option(help: "Directory to create (must not exist or be empty).")
    var output: String

    func run() async throws {
        let status = Progress(label: "merge-adapter", total: 1)
        status.note("merging \(adapter) into \(model)")
        let merged = try AdapterMerger().merge(
            model: URL(fileURLWithPath: model), adapter: URL(fileURLWithPath: adapter), output: URL(fileURLWithPath: output))
        let object: [String: Any] = ["output": output, "model": model, "adapter": adapter, "merged_tensors": merged.count]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        try printOutput(String(decoding: data, as: UTF8.self))
    }
}
