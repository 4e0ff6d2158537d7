import Foundation
import Kernels
import ModelFormats

extension Qwen3Model {
    /// A model from a `qwen3` GGUF file (hyper-parameters from its metadata, weights bound by
    /// llama.cpp's tensor names; quantized weights run on the integer kernels).
    public convenience init(
        gguf file: GGUFFile, precision: Precision = .float32, features: CPUFeatures = .usable, pool: ComputePool = .shared
    ) throws {
        let configuration = try Qwen3Configuration(gguf: file)
        let weights = try Qwen3Weights(gguf: file, configuration: configuration, precision: precision)
        self.init(configuration: configuration, weights: weights, precision: precision, features: features, pool: pool)
    }

    /// A model from a Hugging Face directory or a GGUF file, whichever `location` is.
    ///
    /// - Parameters:
    ///   - location: a model directory, a `.gguf` file, or a directory holding one.
    ///   - precision: `.float32` (exact, the default) or `.bfloat16` (fast).
    ///   - features: CPU features the kernels may use; `CPUFeatures()` forces the portable Swift kernels.
    ///   - pool: the worker threads the kernels split their work across.
    ///   - adapter: a LoRA adapter merged at load; only a safetensors directory can take one (a GGUF's
    ///     weights may be quantized, so the merge would not be what the adapter was trained for).
    public convenience init(
        modelAt location: URL, precision: Precision = .float32, features: CPUFeatures = .usable,
        pool: ComputePool = .shared, adapter: LoRAAdapter? = nil
    ) throws {
        try self.init(path: location.path, precision: precision, features: features, pool: pool, adapter: adapter)
    }

    /// `init(modelAt:…)` for a path as the command line gives it (inside the package).
    package convenience init(
        path: String, precision: Precision = .float32, features: CPUFeatures = .usable, pool: ComputePool = .shared,
        adapter: LoRAAdapter? = nil
    ) throws {
        switch try ModelLocation(path: path) {
        case .directory(let directory):
            try self.init(directory: directory, precision: precision, features: features, pool: pool, adapter: adapter)
        case .gguf(let file):
            if let adapter { throw LoRAAdapter.ggufRefusal(adapter: adapter.directory, model: file) }
            try self.init(gguf: try GGUFFile(path: file), precision: precision, features: features, pool: pool)
        }
    }
}
