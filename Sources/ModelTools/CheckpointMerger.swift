import Foundation
import ModelFormats

/// What a merge produced.
public struct MergeSummary: Sendable, Equatable {
    /// Tensors written.
    public var tensorCount: Int
    /// Safetensors files written (shards keep the first checkpoint's partition).
    public var files: [String]
    /// Tensors SLERP interpolated linearly because they were nearly parallel.
    public var linearFallbacks: [String]
}

/// Merges checkpoints of one architecture into a new model directory, tensor by tensor.
///
/// Inputs are memory-mapped and processed in chunks of `chunkElements`, so memory stays flat whatever
/// the model size. Values are combined in Float64 (exact for every bf16/f16/f32 input), rounded to
/// Float32 and then to the first checkpoint's dtype with round-to-nearest-even, as PyTorch's `.to(dtype)`.
/// The output keeps the first checkpoint's shard layout (with `model.safetensors.index.json` when it
/// is sharded) and a copy of its configuration and tokenizer files.
public struct CheckpointMerger: Sendable {
    /// Elements per processing chunk.
    public var chunkElements = 1 << 16

    /// Creates a merger.
    public init() {}

    /// Merges the checkpoints in `inputs` (directories) with `method` into `output`, which must not exist
    /// or be an empty directory. `progress` receives (tensors done, total).
    ///
    /// - Parameters:
    ///   - inputURLs: the checkpoint directories, in the order `method`'s parameters refer to them.
    ///   - method: how tensors are combined.
    ///   - outputURL: the directory to write.
    ///   - progress: called with (tensors done, total) as tensors are written.
    @discardableResult
    public func merge(_ inputURLs: [URL], method: MergeMethod, output outputURL: URL,
                      progress: ((Int, Int) -> Void)? = nil) throws -> MergeSummary {
        // Paths as the caller spelled them: messages and the summary name them.
        let inputs = inputURLs.map(\.pathAsGiven), output = outputURL.pathAsGiven
        try method.validate(checkpointCount: inputs.count)
        let resolvedOutput = (output as NSString).standardizingPath
        for input in inputs where (input as NSString).standardizingPath == resolvedOutput {
            throw ModelToolsError.invalidArgument("the output directory \(output) is one of the inputs")
        }
        try requireEmptyOrAbsent(output)
        try ModelDirectory.requireSameArchitecture(inputs)
        let checkpoints = try inputs.map { try SafetensorsCheckpoint(directory: $0) }
        try requireSameTensors(checkpoints)

        // Build everything in a sibling folder and rename it into place, so a failure leaves no half model.
        let parent = ((resolvedOutput as NSString).deletingLastPathComponent as NSString).standardizingPath
        let staging = (parent as NSString).appendingPathComponent(".\((resolvedOutput as NSString).lastPathComponent).merging-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw ModelToolsError.writeFailed(path: staging, reason: error.localizedDescription)
        }
        do {
            let summary = try write(checkpoints, method: method, into: staging, progress: progress)
            try ModelDirectory.copySupportFiles(from: inputs[0], to: staging)
            if FileManager.default.fileExists(atPath: resolvedOutput) { try? FileManager.default.removeItem(atPath: resolvedOutput) }
            guard rename(staging, resolvedOutput) == 0 else {
                throw ModelToolsError.writeFailed(path: output, reason: String(cString: strerror(errno)))
            }
            return summary
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    private func requireEmptyOrAbsent(_ output: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw ModelToolsError.invalidArgument("the output \(output) exists and is not a directory") }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
        guard contents.isEmpty else { throw ModelToolsError.invalidArgument("the output directory \(output) is not empty") }
    }

    /// Every checkpoint has the same tensor names with the same shapes.
    private func requireSameTensors(_ checkpoints: [SafetensorsCheckpoint]) throws(ModelToolsError) {
        let first = checkpoints[0]
        let names = Set(first.tensorNames)
        for other in checkpoints.dropFirst() {
            let otherNames = Set(other.tensorNames)
            if let missing = names.subtracting(otherNames).min() {
                throw .tensorMissing(tensor: missing, presentIn: first.directory, missingFrom: other.directory)
            }
            if let extra = otherNames.subtracting(names).min() {
                throw .tensorMissing(tensor: extra, presentIn: other.directory, missingFrom: first.directory)
            }
            for name in first.tensorNames {
                let (a, b) = (first.tensor(named: name)!.shape, other.tensor(named: name)!.shape)
                if a != b { throw .shapeMismatch(tensor: name, first: first.directory, firstShape: a, other: other.directory, otherShape: b) }
            }
        }
    }

    /// Writes the merged safetensors files (and index) into `directory`.
    private func write(_ checkpoints: [SafetensorsCheckpoint], method: MergeMethod, into directory: String,
                       progress: ((Int, Int) -> Void)?) throws -> MergeSummary {
        let first = checkpoints[0]
        let total = first.tensorNames.count
        var done = 0
        var fallbacks: [String] = []
        var weightMap: [String: String] = [:]
        var totalSize = 0
        for (fileName, file) in first.files.sorted(by: { $0.key < $1.key }) {
            let layouts = file.tensors.values
                .map { TensorLayout(name: $0.name, dataType: $0.dataType, shape: $0.shape) }
                .sorted { $0.name < $1.name }
            let writer = try SafetensorsWriter(path: (directory as NSString).appendingPathComponent(fileName), tensors: layouts,
                                               metadata: ["format": "pt", "merge_method": method.description])
            for layout in layouts {
                let inputs = checkpoints.map { $0.tensor(named: layout.name)! }
                if try mergeTensor(inputs, method: method, into: writer) { fallbacks.append(layout.name) }
                weightMap[layout.name] = fileName
                totalSize += layout.byteCount
                done += 1
                progress?(done, total)
            }
            try writer.finish()
        }
        if first.files.count > 1 || FileManager.default.fileExists(atPath: (first.directory as NSString).appendingPathComponent("model.safetensors.index.json")) {
            try writeIndex(weightMap, totalSize: totalSize, into: directory)
        }
        return MergeSummary(tensorCount: total, files: first.files.keys.sorted(), linearFallbacks: fallbacks.sorted())
    }

    /// Merges one tensor into the writer; returns whether SLERP fell back to linear interpolation.
    private func mergeTensor(_ tensors: [Tensor], method: MergeMethod, into writer: SafetensorsWriter) throws -> Bool {
        let count = tensors[0].elementCount
        let outputType = tensors[0].dataType
        let chunk = max(1, chunkElements)
        var inputs = [[Float]](repeating: [Float](repeating: 0, count: chunk), count: tensors.count)
        var result = [Float](repeating: 0, count: chunk)
        var encoded = [UInt8](repeating: 0, count: chunk * outputType.byteWidth)

        /// Loads elements `start..<start+length` of every input into `inputs`.
        func load(_ start: Int, _ length: Int) {
            for index in tensors.indices {
                inputs[index].withUnsafeMutableBufferPointer { tensors[index].copyElements(from: start, count: length, into: $0.baseAddress!) }
            }
        }

        let weights: [Double]
        var fellBack = false
        switch method {
        case .slerp(let t):
            // Products of bf16/f16/f32 values are exact in Float64; compensated sums keep the angle
            // independent of tensor size and summation order (multi-million-element embedding tables).
            var dot = CompensatedSum(), squaredA = CompensatedSum(), squaredB = CompensatedSum()
            var start = 0
            while start < count {
                let length = min(chunk, count - start)
                load(start, length)
                for i in 0..<length {
                    let a = Double(inputs[0][i]), b = Double(inputs[1][i])
                    dot.add(a * b)
                    squaredA.add(a * a)
                    squaredB.add(b * b)
                }
                start += length
            }
            let coefficients = Slerp.coefficients(t: t, dot: dot.value, normA: squaredA.value.squareRoot(), normB: squaredB.value.squareRoot())
            weights = [coefficients.s0, coefficients.s1]
            fellBack = coefficients.isLinear
        case .linear(let given):
            weights = given
        }
        // Linear: Σ wᵢxᵢ / Σ wᵢ as mergekit (normalize=True); SLERP: s₀a + s₁b (divisor 1).
        let divisor: Double
        if case .linear = method { divisor = weights.reduce(0, +) } else { divisor = 1 }

        var start = 0
        while start < count {
            let length = min(chunk, count - start)
            load(start, length)
            for i in 0..<length {
                var sum = 0.0
                for index in tensors.indices { sum += weights[index] * Double(inputs[index][i]) }
                result[i] = Float(sum / divisor)
            }
            let byteCount = length * outputType.byteWidth
            try result.withUnsafeBufferPointer { values in
                try encoded.withUnsafeMutableBytes { bytes in
                    let destination = UnsafeMutableRawBufferPointer(rebasing: bytes[..<byteCount])
                    ElementEncoding.encode(UnsafeBufferPointer(rebasing: values[..<length]), as: outputType, into: destination)
                    try writer.write(UnsafeRawBufferPointer(destination))
                }
            }
            start += length
        }
        return fellBack
    }

    /// `model.safetensors.index.json` as transformers writes it.
    private func writeIndex(_ weightMap: [String: String], totalSize: Int, into directory: String) throws {
        let index: [String: Any] = ["metadata": ["total_size": totalSize], "weight_map": weightMap]
        let path = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        do {
            let data = try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw ModelToolsError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }
}

/// Neumaier's compensated summation: the rounding error of every addition is carried along, so the
/// result is as accurate as summing in twice the precision.
struct CompensatedSum {
    private var sum = 0.0
    private var compensation = 0.0

    mutating func add(_ value: Double) {
        let total = sum + value
        if abs(sum) >= abs(value) {
            compensation += (sum - total) + value
        } else {
            compensation += (value - total) + sum
        }
        sum = total
    }

    var value: Double { sum + compensation }
}
