import Foundation
import Kernels
import ModelFormats
import ModelTools
@_spi(Training) import Qwen3

extension TrainableModel {
    /// Writes a Hugging Face model directory that transformers and our `Embedder`/`Reranker` load:
    /// the support files (config, tokenizer…) copied, and `model.safetensors` with the input's tensor
    /// names and dtypes. Full fine-tuning writes the current weights; LoRA writes the base with each
    /// adapter merged in (`W + (alpha/rank)·B·A`), rounded once to the file dtype.
    public func saveModel(to output: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: output, withIntermediateDirectories: true)
        for name in try manager.contentsOfDirectory(atPath: directory.path).sorted() where !name.hasPrefix(".") {
            let lowered = name.lowercased()
            let weight = [".safetensors", ".safetensors.index.json", ".bin", ".gguf", ".pt", ".pth"].contains { lowered.hasSuffix($0) }
            var isDirectory: ObjCBool = false
            let source = directory.appendingPathComponent(name)
            guard !weight, manager.fileExists(atPath: source.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  (try? source.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            try Data(contentsOf: source).write(to: output.appendingPathComponent(name))
        }

        let checkpoint = try SafetensorsCheckpoint(directory: directory.path)
        let byName = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0) })
        var merged: [String: TrainableLinear.Adapter] = [:]
        if case .lora = method {
            for (index, layer) in layers.enumerated() {
                let parts: [(TrainableLinear, [String])] = [
                    (layer.queryKeyValue, ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]),
                    (layer.output, ["self_attn.o_proj"]), (layer.gateUp, ["mlp.gate_proj", "mlp.up_proj"]),
                    (layer.down, ["mlp.down_proj"]),
                ]
                for (linear, names) in parts {
                    for (part, name) in names.enumerated() {
                        if let adapter = linear.adapters[part] { merged["layers.\(index).\(name).weight"] = adapter }
                    }
                }
            }
        }
        let names = checkpoint.tensorNames
        let layouts = names.map { name in
            let tensor = checkpoint.tensor(named: name)!
            return TensorLayout(name: name, dataType: tensor.dataType, shape: tensor.shape)
        }
        let writer = try SafetensorsWriter(path: output.appendingPathComponent("model.safetensors").path, tensors: layouts)
        for name in names {
            let tensor = checkpoint.tensor(named: name)!
            let canonical = name.hasPrefix("model.") ? String(name.dropFirst(6)) : name
            var values: [Float]
            if let parameter = byName[canonical] {
                values = parameter.values
            } else if let adapter = merged[canonical] {
                values = tensor.floats()
                let rows = tensor.shape[0], columns = tensor.shape[1], rank = adapter.rank
                // W += scale · B·A, summed in fp32 per element as PEFT's merge does.
                adapter.b.values.withUnsafeBufferPointer { b in
                    adapter.a.values.withUnsafeBufferPointer { a in
                        for row in 0..<rows {
                            for column in 0..<columns {
                                var sum: Float = 0
                                for k in 0..<rank { sum += b[row * rank + k] * a[k * columns + column] }
                                values[row * columns + column] += adapter.scale * sum
                            }
                        }
                    }
                }
            } else {
                // Untouched tensors are copied byte for byte (no round trip through fp32).
                try writer.write(tensor.data)
                continue
            }
            var bytes = [UInt8](repeating: 0, count: values.count * tensor.dataType.byteWidth)
            values.withUnsafeBufferPointer { values in
                bytes.withUnsafeMutableBytes { ElementEncoding.encode(values, as: tensor.dataType, into: $0) }
            }
            try bytes.withUnsafeBytes { try writer.write($0) }
        }
        try writer.finish()
    }
}
