import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which files of a repository a model needs: configuration, tokenizer, and the weights (safetensors, or
/// a single GGUF file), or what `--include` patterns ask for.
public enum FileSelection {
    /// Configuration and tokenizer files fetched whenever the repository has them.
    public static let essentialFiles: Set<String> = [
        "config.json", "generation_config.json",
        "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
        "special_tokens_map.json", "added_tokens.json",
        // sentence-transformers metadata: small, and it lets that library reuse the snapshot as is.
        "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "1_Pooling/config.json",
    ]

    /// The files to fetch from `available`: the essential files plus either the files matching `include`
    /// (fnmatch patterns as in `huggingface_hub`: `*` also matches `/`, a trailing `/` means a folder), or,
    /// without patterns, every `*.safetensors` file with its index, else the only `*.gguf` file.
    public static func select(from available: [String], include: [String], repository: String) throws(HubError) -> [String] {
        var chosen = available.filter { essentialFiles.contains($0) }
        if !include.isEmpty {
            let matching = available.filter { matches($0, anyOf: include) }
            guard !matching.isEmpty else {
                throw .noUsableWeights(repository: repository, reason: "no file matches --include \(include.joined(separator: " ")) (files: \(summary(available)))")
            }
            chosen += matching
        } else if available.contains(where: { $0.hasSuffix(".safetensors") }) {
            chosen += available.filter { $0.hasSuffix(".safetensors") || $0.hasSuffix(".safetensors.index.json") }
        } else {
            let gguf = available.filter { $0.hasSuffix(".gguf") }
            switch gguf.count {
            case 1:
                chosen += gguf
            case 0:
                throw .noUsableWeights(repository: repository, reason: "no *.safetensors or *.gguf weights (files: \(summary(available)))")
            default:
                throw .noUsableWeights(repository: repository, reason: "several GGUF files, choose one with --include (\(gguf.sorted().joined(separator: ", ")))")
            }
        }
        return Array(Set(chosen)).sorted()
    }

    /// What a usable cached snapshot lacks, given the files it has (nil when nothing is missing): the
    /// configuration, weights, and every shard named by a safetensors index.
    static func missingFiles(in directory: String, files: [String], include: [String]) -> String? {
        var missing: [String] = []
        if !files.contains("config.json") { missing.append("config.json") }
        if !include.isEmpty {
            let unmatched = include.filter { pattern in !files.contains { matches($0, anyOf: [pattern]) } }
            missing += unmatched.map { "files matching \($0)" }
        } else if !files.contains(where: { $0.hasSuffix(".safetensors") || $0.hasSuffix(".gguf") }) {
            missing.append("weights (*.safetensors or *.gguf)")
        }
        for index in files where index.hasSuffix(".safetensors.index.json") {
            let folder = (index as NSString).deletingLastPathComponent
            for shard in shards(inIndex: join(directory, index)) {
                let name = folder.isEmpty ? shard : join(folder, shard)
                if !files.contains(name) { missing.append(name) }
            }
        }
        return missing.isEmpty ? nil : missing.joined(separator: ", ")
    }

    /// The shard file names of a `model.safetensors.index.json` (empty when unreadable).
    static func shards(inIndex path: String) -> Set<String> {
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = root["weight_map"] as? [String: Any] else { return [] }
        return Set(map.values.compactMap { $0 as? String })
    }

    /// `fnmatch.fnmatch` semantics on POSIX, with `huggingface_hub`'s "trailing slash means folder" rule.
    static func matches(_ path: String, anyOf patterns: [String]) -> Bool {
        patterns.contains { pattern in
            let pattern = pattern.hasSuffix("/") ? pattern + "*" : pattern
            return fnmatch(pattern, path, 0) == 0
        }
    }

    private static func summary(_ files: [String]) -> String {
        let sorted = files.sorted()
        return sorted.count <= 12 ? sorted.joined(separator: ", ") : sorted.prefix(12).joined(separator: ", ") + ", …"
    }
}
