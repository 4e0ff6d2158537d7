import Foundation
import ModelFormats
import ModelTools
import Qwen3

/// Writes a base model with a PEFT LoRA adapter merged in as a full Hugging Face model directory, which
/// transformers and this engine load without the adapter (and which `quantize` can convert).
///
/// Every adapted weight becomes W + scale · B · A, computed in fp32 from the exact value of each stored
/// element and rounded once to the base tensor's dtype (round to nearest even, as PyTorch's `.to`);
/// every other tensor is copied byte for byte. Tensor names, dtypes and the shard layout (with its
/// index) are the base's, and the configuration and tokenizer files are copied, so the output is the
/// base model's directory with different numbers in the adapted weights.
public struct AdapterMerger: Sendable {
    /// Creates a merger.
    public init() {}

    /// Merges `adapter` into the model in `model` and writes the result to `output`, which must not exist
    /// or be an empty directory. Returns the names of the merged tensors as stored in the base checkpoint.
    ///
    /// - Parameters:
    ///   - modelURL: the base model's Hugging Face directory.
    ///   - adapterURL: the PEFT adapter directory.
    ///   - outputURL: the directory to write.
    /// - Throws: `LoRAAdapterError` for an adapter that does not fit the model (and for a GGUF model:
    ///   merge into the safetensors model, then convert); `ModelToolsError` for output problems.
    @discardableResult
    public func merge(model modelURL: URL, adapter adapterURL: URL, output outputURL: URL) throws -> [String] {
        // Paths as the caller spelled them: messages name them.
        let model = modelURL.pathAsGiven, adapterDirectory = adapterURL.pathAsGiven, output = outputURL.pathAsGiven
        if case .gguf(let file)? = try? ModelLocation(path: model) {
            throw LoRAAdapter.ggufRefusal(adapter: adapterDirectory, model: file)
        }
        let resolvedOutput = (output as NSString).standardizingPath
        for input in [model, adapterDirectory] where (input as NSString).standardizingPath == resolvedOutput {
            throw ModelToolsError.invalidArgument("the output directory \(output) is one of the inputs")
        }
        try Self.requireEmptyOrAbsent(output)
        let configuration = try Qwen3Configuration.load(directory: model)
        let adapter = try LoRAAdapter(directory: adapterDirectory, configuration: configuration)
        let checkpoint = try SafetensorsCheckpoint(directory: model)
        for name in adapter.adaptedWeightNames where checkpoint.tensor(named: name) == nil && checkpoint.tensor(named: "model." + name) == nil {
            throw LoRAAdapterError(path: adapterDirectory, reason: "adapts \(name), which the checkpoint in \(model) does not have")
        }

        // Built in a sibling folder and renamed into place, so a failure never leaves half a model.
        let parent = (resolvedOutput as NSString).deletingLastPathComponent
        let staging = (parent as NSString).appendingPathComponent(".\((resolvedOutput as NSString).lastPathComponent).merging-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw ModelToolsError.writeFailed(path: staging, reason: error.localizedDescription)
        }
        do {
            let merged = try write(checkpoint, adapter: adapter, into: staging)
            try ModelDirectory.copySupportFiles(from: model, to: staging)
            if FileManager.default.fileExists(atPath: resolvedOutput) { try? FileManager.default.removeItem(atPath: resolvedOutput) }
            guard rename(staging, resolvedOutput) == 0 else {
                throw ModelToolsError.writeFailed(path: output, reason: String(cString: strerror(errno)))
            }
            return merged
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    private func write(_ checkpoint: SafetensorsCheckpoint, adapter: LoRAAdapter, into directory: String) throws -> [String] {
        var merged: [String] = []
        var weightMap: [String: String] = [:]
        var totalSize = 0
        for (fileName, file) in checkpoint.files.sorted(by: { $0.key < $1.key }) {
            let layouts = file.tensors.values
                .map { TensorLayout(name: $0.name, dataType: $0.dataType, shape: $0.shape) }
                .sorted { $0.name < $1.name }
            let writer = try SafetensorsWriter(path: (directory as NSString).appendingPathComponent(fileName), tensors: layouts)
            for layout in layouts {
                let tensor = file.tensors[layout.name]!
                if let factors = adapter.factors(forWeight: layout.name) {
                    let values = factors.merged(into: tensor.floats())
                    var bytes = [UInt8](repeating: 0, count: layout.byteCount)
                    values.withUnsafeBufferPointer { values in
                        bytes.withUnsafeMutableBytes { ElementEncoding.encode(values, as: layout.dataType, into: $0) }
                    }
                    try bytes.withUnsafeBytes { try writer.write($0) }
                    merged.append(layout.name)
                } else {
                    try writer.write(tensor.data)
                }
                weightMap[layout.name] = fileName
                totalSize += layout.byteCount
            }
            try writer.finish()
        }
        let indexName = "model.safetensors.index.json"
        if checkpoint.files.count > 1 || FileManager.default.fileExists(atPath: (checkpoint.directory as NSString).appendingPathComponent(indexName)) {
            let index: [String: Any] = ["metadata": ["total_size": totalSize], "weight_map": weightMap]
            let path = (directory as NSString).appendingPathComponent(indexName)
            do {
                try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
            } catch {
                throw ModelToolsError.writeFailed(path: path, reason: error.localizedDescription)
            }
        }
        return merged.sorted()
    }

    private static func requireEmptyOrAbsent(_ output: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw ModelToolsError.invalidArgument("the output \(output) exists and is not a directory") }
        guard ((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []).isEmpty else {
            throw ModelToolsError.invalidArgument("the output directory \(output) is not empty")
        }
    }
}
