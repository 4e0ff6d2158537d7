import Foundation

/// A Hugging Face checkpoint directory: `model.safetensors`, or `model.safetensors.index.json` with its
/// shards, or a single other `*.safetensors` file.
///
/// The index is validated against the shards: every shard it names must exist inside the directory,
/// every tensor it maps must be in its shard, and no tensor may appear in two shards.
public final class SafetensorsCheckpoint: Sendable {
    /// The directory.
    public let directory: String
    /// The files, by file name.
    public let files: [String: SafetensorsFile]
    private let tensors: [String: Tensor]

    /// Opens and validates the checkpoint in `directory`.
    public init(directory: String) throws {
        self.directory = directory
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelFormatError.unreadableFile(path: directory, reason: "not a directory")
        }
        let indexPath = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        let singlePath = (directory as NSString).appendingPathComponent("model.safetensors")
        var files: [String: SafetensorsFile] = [:]
        var tensors: [String: Tensor] = [:]
        if manager.fileExists(atPath: indexPath) {
            let weightMap = try Self.readIndex(indexPath)
            for shard in Set(weightMap.values).sorted() {
                guard !shard.contains("/"), !shard.contains("\\"), shard != "..", shard != "." else {
                    throw ModelFormatError.invalidIndex(path: indexPath, reason: "shard name \"\(shard)\" leaves the directory")
                }
                let shardPath = (directory as NSString).appendingPathComponent(shard)
                guard manager.fileExists(atPath: shardPath) else {
                    // Name the alphabetically first tensor so the message is the same on every run.
                    let example = weightMap.filter { $0.value == shard }.keys.min() ?? "?"
                    throw ModelFormatError.invalidIndex(
                        path: indexPath, reason: "shard \(shard) (holding \"\(example)\" and others) is missing")
                }
                files[shard] = try SafetensorsFile(path: shardPath)
            }
            for (name, shard) in weightMap {
                guard let tensor = files[shard]?.tensors[name] else {
                    throw ModelFormatError.invalidIndex(path: indexPath, reason: "tensor \"\(name)\" is not in its shard \(shard)")
                }
                tensors[name] = tensor
            }
            // Tensors present in a shard but absent from the map are still usable; a duplicate is not.
            for (shard, file) in files.sorted(by: { $0.key < $1.key }) {
                for (name, tensor) in file.tensors.sorted(by: { $0.key < $1.key }) {
                    if let owner = weightMap[name] {
                        if owner != shard {
                            throw ModelFormatError.invalidIndex(
                                path: indexPath, reason: "tensor \"\(name)\" is in both \(owner) and \(shard)")
                        }
                    } else if tensors[name] != nil {
                        throw ModelFormatError.invalidIndex(path: indexPath, reason: "tensor \"\(name)\" appears in more than one shard (\(shard))")
                    } else {
                        tensors[name] = tensor
                    }
                }
            }
        } else {
            var path = singlePath
            if !manager.fileExists(atPath: singlePath) {
                let candidates = ((try? manager.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".safetensors") }
                guard candidates.count == 1 else { throw ModelFormatError.noCheckpoint(directory: directory) }
                path = (directory as NSString).appendingPathComponent(candidates[0])
            }
            let file = try SafetensorsFile(path: path)
            files[(path as NSString).lastPathComponent] = file
            tensors = file.tensors
        }
        self.files = files
        self.tensors = tensors
    }

    /// Tensor names, sorted.
    public var tensorNames: [String] { tensors.keys.sorted() }

    /// The tensor called `name`, if present.
    public func tensor(named name: String) -> Tensor? { tensors[name] }

    /// The tensor called `name` with exactly `shape`, or an error naming the tensor, its file and both shapes.
    public func requireTensor(named name: String, shape: [Int]) throws -> Tensor {
        guard let tensor = tensors[name] else { throw ModelFormatError.missingTensor(name: name, directory: directory) }
        guard tensor.shape == shape else {
            throw ModelFormatError.shapeMismatch(path: tensor.file.path, tensor: name, expected: shape, actual: tensor.shape)
        }
        return tensor
    }

    /// Reads `weight_map` (tensor name → shard file name) from an index file.
    private static func readIndex(_ path: String) throws -> [String: String] {
        let data = try RegularFile.contents(atPath: path)
        let json: JSONValue
        do {
            json = try JSONValue.parse(data, options: .strict)
        } catch {
            throw ModelFormatError.invalidIndex(path: path, reason: "not valid JSON (\(error.reason) at byte \(error.offset))")
        }
        guard case .object(let root) = json else {
            throw ModelFormatError.invalidIndex(path: path, reason: "not a JSON object")
        }
        guard case .object(let map)? = root["weight_map"] else {
            throw ModelFormatError.invalidIndex(path: path, reason: "missing object \"weight_map\"")
        }
        var weightMap: [String: String] = [:]
        for (name, value) in map {
            guard case .string(let shard) = value else {
                throw ModelFormatError.invalidIndex(path: path, reason: "weight_map entry \"\(name)\" is not a file name")
            }
            weightMap[name] = shard
        }
        guard !weightMap.isEmpty else { throw ModelFormatError.invalidIndex(path: path, reason: "weight_map is empty") }
        return weightMap
    }
}
