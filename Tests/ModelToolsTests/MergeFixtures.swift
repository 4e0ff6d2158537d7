import Foundation
import ModelFormats
import TestSupport
@testable import ModelTools

/// Paths of the committed fixtures.
enum Fixtures {
    static let root = TestPaths.fixtures
    static let embedding = root.appendingPathComponent("tiny-qwen3-embedding").path
    static let reranker = root.appendingPathComponent("tiny-qwen3-reranker").path
    static let merge = root.appendingPathComponent("merge").path

    /// `Tests/Fixtures/merge/expected.json` as written by Scripts/make_merge_fixtures.py.
    static func expected() throws -> [String: Any] {
        try GoldenFile.dictionary(at: "merge/expected.json")
    }
}

/// A fresh temporary directory.
func temporaryDirectory() throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("model-tools-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The perturbed copies of Scripts/make_merge_fixtures.py, rebuilt bit for bit (see the script's header):
/// norm weights scaled (parallel to the original), every other tensor multiplied and shifted by hashed noise.
enum Perturbation {
    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// The script's stateless `splitmix64(x)`: the first output of SplitMix64 seeded with `x`.
    static func splitmix64(_ x: UInt64) -> UInt64 {
        var generator = SeededGenerator(seed: x)
        return generator.next()
    }

    /// Copy `k` (1 or 2) of `tensor`, as Float values before rounding to the tensor's dtype.
    static func values(of tensor: Tensor, copy k: UInt64) -> [Float] {
        let original = tensor.floats()
        if tensor.name.contains("norm") {
            let scale = k == 1 ? 1.5 : 0.75
            return original.map { Float(Double($0) * scale) }
        }
        let seed = fnv1a64(tensor.name) ^ (k &* golden)
        return original.enumerated().map { index, value in
            let u = Double(splitmix64(seed &+ UInt64(index)) >> 11) * 0x1p-53
            let noise = 2.0 * u - 1.0
            return Float(Double(value) * (1.0 + 0.5 * noise) + 0.01 * noise)
        }
    }

    /// Writes copy `k` of the model in `source` into `destination`, with the same shards and support files.
    static func writeCopy(of source: String, copy k: UInt64, to destination: String) throws {
        let checkpoint = try SafetensorsCheckpoint(directory: source)
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for (fileName, file) in checkpoint.files {
            let tensors = file.tensors.values.sorted { $0.name < $1.name }
            let writer = try SafetensorsWriter(path: (destination as NSString).appendingPathComponent(fileName),
                                               tensors: tensors.map { TensorLayout(name: $0.name, dataType: $0.dataType, shape: $0.shape) })
            for tensor in tensors {
                let values = Perturbation.values(of: tensor, copy: k)
                var bytes = [UInt8](repeating: 0, count: tensor.elementCount * tensor.dataType.byteWidth)
                values.withUnsafeBufferPointer { input in
                    bytes.withUnsafeMutableBytes { ElementEncoding.encode(input, as: tensor.dataType, into: $0) }
                }
                try bytes.withUnsafeBytes { try writer.write($0) }
            }
            try writer.finish()
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: source) where !name.hasSuffix(".safetensors") {
            try FileManager.default.copyItem(atPath: (source as NSString).appendingPathComponent(name),
                                             toPath: (destination as NSString).appendingPathComponent(name))
        }
    }
}

/// sha256 of a tensor's stored bytes.
func digest(_ tensor: Tensor) -> String {
    sha256Hex(tensor.data)
}
