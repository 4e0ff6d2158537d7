import Foundation
import ModelFormats

/// Configuration checks and file copying for model directories.
public enum ModelDirectory {
    /// `config.json` keys that must agree for two checkpoints to be mergeable.
    static let architectureKeys = [
        "architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings",
    ]

    /// Weight files and download leftovers that are never copied next to merged weights.
    static func isWeightFile(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return [".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json", ".pt", ".pth", ".gguf", ".onnx",
                ".onnx_data", ".h5", ".msgpack", ".ckpt", ".incomplete", ".lock", ".partial"].contains { lowered.hasSuffix($0) }
    }

    /// The parsed `config.json` of a model directory (the shared JSON parser; repeated keys: the last
    /// wins, as Python's json module reads the file).
    static func configuration(_ directory: String) throws(ModelToolsError) -> JSONObject {
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: path) else {
            throw .unreadableConfiguration(path: path, reason: "missing or unreadable (a model directory needs its config.json)")
        }
        let data: Data
        do {
            data = try RegularFile.contents(atPath: path)  // a FIFO or device is refused, never waited on
        } catch {
            throw .unreadableConfiguration(path: path, reason: (error as? LocalizedError)?.errorDescription ?? "\(error)")
        }
        guard let object = (try? JSONValue.parse(data, options: .lenient))?.object else {
            throw .unreadableConfiguration(path: path, reason: "not a JSON object")
        }
        return object
    }

    /// Throws `architectureMismatch` for the first architecture key whose values differ.
    static func requireSameArchitecture(_ directories: [String]) throws(ModelToolsError) {
        let configurations = try directories.map { directory throws(ModelToolsError) in try configuration(directory) }
        for key in architectureKeys {
            let first = canonical(configurations[0][key])
            for index in 1..<configurations.count {
                let other = canonical(configurations[index][key])
                if other != first {
                    throw .architectureMismatch(key: key, first: directories[0], firstValue: first, other: directories[index], otherValue: other)
                }
            }
        }
    }

    /// Copies every non-weight file (configuration, tokenizer, sentence-transformers modules…) from
    /// `source` to `destination`, following symlinks so that copies out of the Hugging Face cache hold the
    /// bytes rather than links into its blobs.
    public static func copySupportFiles(from source: String, to destination: String) throws(ModelToolsError) {
        let manager = FileManager.default
        let entries: [String]
        do {
            entries = try manager.contentsOfDirectory(atPath: source)
        } catch {
            throw .writeFailed(path: destination, reason: "cannot list \(source): \(error.localizedDescription)")
        }
        for name in entries.sorted() where !name.hasPrefix(".") && !isWeightFile(name) {
            let from = (source as NSString).appendingPathComponent(name)
            let to = (destination as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: from, isDirectory: &isDirectory) else { continue }  // dangling link
            do {
                if isDirectory.boolValue {
                    try manager.createDirectory(atPath: to, withIntermediateDirectories: true)
                    try copySupportFiles(from: from, to: to)
                } else {
                    // Reading through the path follows any symlink; copyItem would copy the link itself.
                    // Only regular files are read: a FIFO would block the merge forever.
                    try RegularFile.contents(atPath: from).write(to: URL(fileURLWithPath: to))
                }
            } catch let error as ModelToolsError {
                throw error
            } catch {
                throw .writeFailed(path: to, reason: error.localizedDescription)
            }
        }
    }

    /// A comparable text for a JSON value (`absent` when missing or null): compact JSON with sorted
    /// keys, and a number with an integral value written as an integer, so `40` and `40.0` agree.
    static func canonical(_ value: JSONValue?) -> String {
        guard let value, !value.isNull else { return "absent" }
        var text = ""
        writeCanonical(value, into: &text)
        return text
    }

    private static func writeCanonical(_ value: JSONValue, into text: inout String) {
        switch value {
        case .null:
            text += "null"
        case .bool(let flag):
            text += flag ? "true" : "false"
        case .integer(let number):
            text += String(number)
        case .number(let number):
            if number == number.rounded(), abs(number) < 1e15 {
                text += String(Int(number))
            } else {
                text += String(number)
            }
        case .string(let string):
            writeJSONString(string, into: &text)
        case .array(let elements):
            text += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { text += "," }
                writeCanonical(element, into: &text)
            }
            text += "]"
        case .object(let object):
            // The last of repeated keys wins, as in lookups; then keys in byte order.
            var members: [String: JSONValue] = [:]
            for member in object { members[member.key] = member.value }
            text += "{"
            for (index, key) in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if index > 0 { text += "," }
                writeJSONString(key, into: &text)
                text += ":"
                writeCanonical(members[key]!, into: &text)
            }
            text += "}"
        }
    }
}
