import Foundation
import ModelFormats

/// What a model checkpoint was made for.
///
/// Qwen3-Embedding and Qwen3-Reranker share one architecture, so either loads into either API and
/// computes numbers; only one of the two gives meaningful ones. The kind is decided from the evidence
/// in the model's files when it is loaded (see `ModelClassification`), so that the wrong model is
/// refused with a clear error instead of answering with plausible-looking nonsense.
public enum ModelKind: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// A text-embedding model (Qwen3-Embedding): its output is the pooled last-token state.
    case embedding
    /// A reranker (Qwen3-Reranker): its output is the probability of "yes" to a relevance question.
    case reranker
    /// A causal language model with nothing that marks it as either (a Qwen3 chat or base model, or a
    /// reranker saved under a name that does not say so: the two are indistinguishable in their files).
    case languageModel = "language-model"

    /// The kind with its article, for messages: "an embedding model", "a reranker model",
    /// "a causal language model".
    public var description: String {
        switch self {
        case .embedding: return "an embedding model"
        case .reranker: return "a reranker model"
        case .languageModel: return "a causal language model"
        }
    }
}

/// A model's kind together with the evidence it was decided on (for messages, `/info` and logs).
///
/// The evidence is read in order of reliability, the first conclusive item deciding:
/// - GGUF files: `<arch>.pooling_type` (`last` → embedding, `rank` → reranker, as llama.cpp runs
///   them), then a `cls.output` classification head (only rerankers have one), then an official name
///   (`general.name`, `general.basename`, the file name).
/// - Hugging Face directories: sentence-transformers files (`modules.json`,
///   `config_sentence_transformers.json`, `1_Pooling/config.json`: Qwen3-Embedding ships them,
///   Qwen3-Reranker does not), then an official name (`Qwen3-Embedding-*`, `Qwen3-Reranker-*` as the
///   directory's or Hub repository's name, or `_name_or_path` in config.json), then the architecture
///   (`Qwen3Model` has no LM head: embedding; `*ForSequenceClassification`: reranker), then the
///   weights (saved from the bare `Qwen3Model`, without the `model.` prefix and without `lm_head`, as
///   every Qwen3-Embedding checkpoint is: embedding).
/// - Anything else is a `languageModel`: a `Qwen3ForCausalLM` with an LM head and no marker.
public struct ModelClassification: Sendable, Equatable, CustomStringConvertible {
    /// What the model is.
    public let kind: ModelKind
    /// Why: the file contents or names that decided it, e.g. "GGUF pooling_type rank".
    public let evidence: String

    /// A classification from explicit values.
    public init(kind: ModelKind, evidence: String) {
        self.kind = kind
        self.evidence = evidence
    }

    /// "a reranker model (GGUF pooling_type rank)".
    public var description: String { "\(kind) (\(evidence))" }

    /// Classifies the model at `modelURL` (a Hugging Face directory, a `.gguf` file, or a directory
    /// holding one; a file URL) from its metadata, config and file names; no weights are read.
    public init(modelAt modelURL: URL) throws {
        switch try ModelLocation(path: modelURL.pathAsGiven) {
        case .gguf(let file):
            self.init(gguf: try GGUFFile(path: file))
        case .directory(let directory):
            self = try Self.classify(directory: directory)
        }
    }

    // MARK: - GGUF

    /// llama.cpp's `llama_pooling_type` values, by name.
    private static let poolingTypes = ["none", "mean", "cls", "last", "rank"]

    /// Classifies a GGUF file from its metadata and tensor names.
    init(gguf file: GGUFFile) {
        let architecture = file.metadata["general.architecture"]?.string ?? "qwen3"
        if let pooling = file.metadata["\(architecture).pooling_type"]?.integer {
            let name = Self.poolingTypes.indices.contains(pooling) ? Self.poolingTypes[pooling] : "\(pooling)"
            switch pooling {
            case 4:
                self.init(kind: .reranker, evidence: "GGUF pooling_type rank")
                return
            case 1, 2, 3:
                // Mean or CLS pooling also marks an embedding model (this engine pools the last token,
                // as Qwen3-Embedding does; the evidence says what the file asked for).
                self.init(kind: .embedding, evidence: "GGUF pooling_type \(name)")
                return
            default:
                break  // "none": a plain language model file, or a converter that did not say.
            }
        }
        if file.tensor(named: "cls.output.weight") != nil {
            self.init(kind: .reranker, evidence: "GGUF with a cls.output classification head")
            return
        }
        let names: [(String, String)] = [
            ("general.name", file.metadata["general.name"]?.string),
            ("general.basename", file.metadata["general.basename"]?.string),
            ("file name", (file.path as NSString).lastPathComponent),
        ].compactMap { label, value in value.map { (label, $0) } }
        if let named = Self.officialName(in: names) {
            self = named
            return
        }
        self.init(kind: .languageModel, evidence: "GGUF without pooling_type, classification head or official name")
    }

    // MARK: - Hugging Face directories

    private static func classify(directory: String) throws -> ModelClassification {
        let fileManager = FileManager.default
        let root = URL(fileURLWithPath: directory)
        let sentenceTransformersFiles = ["modules.json", "config_sentence_transformers.json", "1_Pooling/config.json"]
            .filter { fileManager.fileExists(atPath: root.appendingPathComponent($0).path) }
        if !sentenceTransformersFiles.isEmpty {
            var evidence = "sentence-transformers files: " + sentenceTransformersFiles.joined(separator: ", ")
            if let pooling = poolingMode(root.appendingPathComponent("1_Pooling/config.json")) {
                evidence += " (\(pooling) pooling)"
            }
            return ModelClassification(kind: .embedding, evidence: evidence)
        }

        let config = (try? Data(contentsOf: root.appendingPathComponent("config.json")))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        var names: [(String, String)] = [("directory name", repositoryName(directory))]
        if let nameOrPath = config["_name_or_path"] as? String { names.append(("_name_or_path", nameOrPath)) }
        if let named = officialName(in: names) { return named }

        let architectures = config["architectures"] as? [String] ?? []
        if let architecture = architectures.first(where: { $0.hasSuffix("ForSequenceClassification") }) {
            return ModelClassification(kind: .reranker, evidence: "architecture \(architecture)")
        }
        if architectures == ["Qwen3Model"] {
            return ModelClassification(kind: .embedding, evidence: "architecture Qwen3Model (no LM head)")
        }

        let tensorNames = Set(try SafetensorsCheckpoint(directory: directory).tensorNames)
        if tensorNames.contains("embed_tokens.weight") && !tensorNames.contains("lm_head.weight") {
            return ModelClassification(
                kind: .embedding, evidence: "weights of a bare Qwen3Model (no model. prefix, no lm_head), as Qwen3-Embedding saves them")
        }
        let architecture = architectures.first ?? "no architectures in config.json"
        let head = tensorNames.contains("lm_head.weight") ? "lm_head.weight"
            : (config["tie_word_embeddings"] as? Bool ?? false) ? "tied embeddings" : "no LM head"
        return ModelClassification(
            kind: .languageModel,
            evidence: "\(architecture) with \(head); no sentence-transformers files, no official Qwen3-Embedding/Qwen3-Reranker name")
    }

    /// The sentence-transformers pooling mode named in `1_Pooling/config.json`, e.g. "last-token".
    private static func poolingMode(_ url: URL) -> String? {
        guard let data = try? Data(contentsOf: url),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let modes = object.keys.filter { $0.hasPrefix("pooling_mode_") && object[$0] as? Bool == true }.sorted()
        guard !modes.isEmpty else { return nil }
        return modes.map { mode -> String in
            let name = String(mode.dropFirst("pooling_mode_".count))
            return name == "lasttoken" ? "last-token" : name.replacingOccurrences(of: "_", with: "-")
        }.joined(separator: "+")
    }

    /// The name a directory goes by: its own, or the repository's for a Hugging Face cache snapshot
    /// (`models--Org--Name/snapshots/<revision>`, whose own name is a commit hash).
    private static func repositoryName(_ directory: String) -> String {
        let components = (directory as NSString).standardizingPath.split(separator: "/").map(String.init)
        if components.count >= 3, components[components.count - 2] == "snapshots",
           components[components.count - 3].hasPrefix("models--") {
            return components[components.count - 3].components(separatedBy: "--").dropFirst().joined(separator: "/")
        }
        return components.last ?? directory
    }

    /// An official family name ("Qwen3-Embedding", "Qwen3-Reranker"; spaces and underscores count as
    /// hyphens, case is ignored, as llama.cpp's converter matches them) in the first of `names` that
    /// has one.
    private static func officialName(in names: [(label: String, value: String)]) -> ModelClassification? {
        for (label, value) in names {
            let normalized = value.lowercased()
                .replacingOccurrences(of: " ", with: "-").replacingOccurrences(of: "_", with: "-")
            if normalized.contains("qwen3-embedding") {
                return ModelClassification(kind: .embedding, evidence: "\(label) \"\(value)\"")
            }
            if normalized.contains("qwen3-reranker") {
                return ModelClassification(kind: .reranker, evidence: "\(label) \"\(value)\"")
            }
        }
        return nil
    }
}
