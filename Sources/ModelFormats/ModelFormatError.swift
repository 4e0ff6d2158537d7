import Foundation

/// Errors from reading model files; every message names the file and, where there is one, the tensor.
public enum ModelFormatError: Error, LocalizedError, Equatable {
    /// The file could not be opened or mapped.
    case unreadableFile(path: String, reason: String)
    /// The file's structure is invalid (header, offsets, sizes…).
    case corruptFile(path: String, reason: String)
    /// A tensor entry is invalid.
    case invalidTensor(path: String, tensor: String, reason: String)
    /// A tensor uses a dtype this engine does not load.
    case unsupportedDataType(path: String, tensor: String, dataType: String)
    /// A required tensor is absent: the one error every loader (safetensors, GGUF, training, the GGUF
    /// converter) reports for a weight the configuration implies but the file lacks.
    case missingTensor(name: String, directory: String)
    /// A tensor has another shape than the configuration implies.
    case shapeMismatch(path: String, tensor: String, expected: [Int], actual: [Int])
    /// A sharded checkpoint's index is invalid or refers to a missing shard.
    case invalidIndex(path: String, reason: String)
    /// The directory holds no safetensors checkpoint.
    case noCheckpoint(directory: String)
    /// A well-formed file of a kind or version this engine does not read (GGUF v1, big-endian GGUF).
    case unsupportedFile(path: String, reason: String)
    /// A tensor of a known ggml type that this engine cannot dequantize or run (IQ2_XXS, TQ1_0…). The
    /// file itself is valid; only using the tensor fails.
    case unsupportedTensorType(path: String, tensor: String, type: String)
    /// A GGUF metadata value is missing or has the wrong type or an invalid value.
    case invalidMetadata(path: String, key: String, reason: String)

    /// A one-line description naming the file and tensor.
    public var errorDescription: String? {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .corruptFile(let path, let reason):
            return "corrupt \(Self.formatName(path)) \(path): \(reason)"
        case .invalidTensor(let path, let tensor, let reason):
            return "invalid tensor \"\(tensor)\" in \(path): \(reason)"
        case .unsupportedDataType(let path, let tensor, let dataType):
            return "unsupported dtype \(dataType) for tensor \"\(tensor)\" in \(path) (supported: F32, F16, BF16)"
        case .missingTensor(let name, let directory):
            return "tensor \"\(name)\" is missing from the checkpoint in \(directory)"
        case .shapeMismatch(let path, let tensor, let expected, let actual):
            return "tensor \"\(tensor)\" in \(path) has shape \(actual), expected \(expected)"
        case .invalidIndex(let path, let reason):
            return "invalid checkpoint index \(path): \(reason)"
        case .noCheckpoint(let directory):
            return "no safetensors checkpoint (model.safetensors or model.safetensors.index.json) in \(directory)"
        case .unsupportedFile(let path, let reason):
            return "unsupported \(Self.formatName(path)) \(path): \(reason)"
        case .unsupportedTensorType(let path, let tensor, let type):
            let supported = GGMLType.allCases.filter(\.isSupported).map(\.name).joined(separator: ", ")
            return "tensor \"\(tensor)\" in \(path) has type \(type), which is not supported (supported: \(supported))"
        case .invalidMetadata(let path, let key, let reason):
            return "invalid GGUF metadata \"\(key)\" in \(path): \(reason)"
        }
    }

    /// "GGUF file", "safetensors file" or "model file", from the path's extension: the same
    /// structural errors come from both readers, and the message should say which format was expected.
    private static func formatName(_ path: String) -> String {
        let lowercased = path.lowercased()
        if lowercased.hasSuffix(".gguf") { return "GGUF file" }
        if lowercased.hasSuffix(".safetensors") { return "safetensors file" }
        return "model file"
    }
}
