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
    /// A required tensor is absent.
    case missingTensor(name: String, directory: String)
    /// A tensor has another shape than the configuration implies.
    case shapeMismatch(path: String, tensor: String, expected: [Int], actual: [Int])
    /// A sharded checkpoint's index is invalid or refers to a missing shard.
    case invalidIndex(path: String, reason: String)
    /// The directory holds no safetensors checkpoint.
    case noCheckpoint(directory: String)

    /// A one-line description naming the file and tensor.
    public var errorDescription: String? {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .corruptFile(let path, let reason):
            return "corrupt safetensors file \(path): \(reason)"
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
        }
    }
}
