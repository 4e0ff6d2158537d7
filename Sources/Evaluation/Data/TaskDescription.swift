import Foundation
import ModelFormats

/// The kinds of task the harness runs, named as in MTEB.
public enum TaskType: String, Codable, Sendable, CaseIterable {
    case retrieval
    case reranking
    case sts
    case pairClassification = "pair_classification"
    case classification
    case clustering
    case bitextMining = "bitext_mining"

    /// The score MTEB ranks models by for this type.
    public var defaultMainScore: String {
        switch self {
        case .retrieval: return "ndcg_at_10"
        case .reranking: return "map"
        case .sts: return "cosine_spearman"
        case .pairClassification: return "max_ap"
        case .classification: return "accuracy"
        case .clustering: return "v_measure"
        case .bitextMining: return "f1"
        }
    }

    /// The instruction used when a task file names none (Qwen3's official choices where they exist).
    public var defaultInstruction: String {
        switch self {
        case .retrieval, .reranking: return "Given a web search query, retrieve relevant passages that answer the query"
        case .sts, .pairClassification: return "Retrieve semantically similar text"
        case .classification: return "Classify the given text"
        case .clustering: return "Identify categories in user passages"
        case .bitextMining: return "Retrieve parallel sentences"
        }
    }

    /// Asymmetric tasks put the instruction on queries only; symmetric ones on every text.
    public var isAsymmetric: Bool { self == .retrieval || self == .reranking }

    /// A readable name for report headings.
    public var title: String {
        switch self {
        case .retrieval: return "Retrieval"
        case .reranking: return "Reranking"
        case .sts: return "STS"
        case .pairClassification: return "PairClassification"
        case .classification: return "Classification"
        case .clustering: return "Clustering"
        case .bitextMining: return "BitextMining"
        }
    }
}

/// Where one data set lives and how its columns map to the roles a task needs.
public struct DataSource: Codable, Sendable, Equatable {
    /// File formats the loaders read.
    public enum Format: String, Codable, Sendable {
        /// JSON Lines, or one JSON array of objects (MTEB/Hugging Face exports); list-valued fields are
        /// expanded into one row per element (MTEB clustering and pair-classification rows).
        case json
        /// Tab-separated values, with or without a header line.
        case tsv
        /// A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.
        case beir
    }

    /// File or folder, relative to the task's data root.
    public var path: String
    /// The format; inferred from the path when omitted (folder → beir, .tsv/.csv → tsv, else json).
    public var format: Format?
    /// TSV only: whether the first line names the columns (default true).
    public var header: Bool?
    /// Role → field name (JSON, TSV with header) or 0-based column number (TSV without header).
    public var fields: [String: FieldReference]?
    /// Keep only rows whose field equals the value (e.g. `{"data": "test"}`).
    public var filter: [String: String]?
    /// BEIR only: the qrels file inside the folder (default `qrels/test.tsv`).
    public var qrels: String?

    /// A source at `path` with everything else inferred.
    public init(path: String, format: Format? = nil, header: Bool? = nil, fields: [String: FieldReference]? = nil,
                filter: [String: String]? = nil, qrels: String? = nil) {
        self.path = path; self.format = format; self.header = header; self.fields = fields; self.filter = filter; self.qrels = qrels
    }
}

/// A column named by field name or by position.
public enum FieldReference: Codable, Sendable, Equatable {
    case name(String)
    case column(Int)

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let column = try? container.decode(Int.self) { self = .column(column) } else { self = .name(try container.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .name(let name): try container.encode(name)
        case .column(let column): try container.encode(column)
        }
    }
}

/// A task file: what to evaluate, on which data, with which instruction and settings.
///
/// ```json
/// {"name": "JSTS", "type": "sts", "language": "ja", "split": "validation",
///  "data_root": "../../shared/data",
///  "data": {"path": "jsts/valid-v1.3.json", "fields": {"sentence1": "sentence1", "sentence2": "sentence2", "score": "label"}}}
/// ```
public struct TaskDescription: Codable, Sendable, Equatable {
    public var name: String
    public var type: TaskType
    public var description: String?
    public var language: String?
    /// The split evaluated, for reports (e.g. "test").
    public var split: String?
    /// The instruction; omitted → the type's default, "" → no instruction.
    public var instruction: String?
    /// Asymmetric tasks only: an instruction for documents too (symmetric retrieval such as duplicate search).
    public var documentInstruction: String?
    /// The score reported as the task's result; omitted → the type's default.
    public var mainScore: String?
    /// Folder that relative data paths resolve against, itself relative to the task file's folder.
    public var dataRoot: String?
    /// The evaluated data (the test split; for classification the test split).
    public var data: DataSource
    /// Classification only: the training split.
    public var train: DataSource?

    // Type-specific settings (MTEB defaults when omitted).
    /// Pair classification: label values counted as positive (default "1", "1.0", "true").
    public var positiveLabels: [String]?
    /// Retrieval: drop a retrieved document whose id equals the query id.
    public var ignoreIdenticalIDs: Bool?
    /// Retrieval: documents kept per query (default 1000); with a reranker, how many it rescores (default 100).
    public var topK: Int?
    public var rerankTopK: Int?
    /// Reranking from a BEIR folder: grades at or above this are positives, judged grades below it
    /// negatives (default 1; TREC-DL passage judgements use 2).
    public var relevanceThreshold: Int?
    /// Classification: "logreg" (default) or "knn"; experiments, samples per label, seed, neighbours.
    public var method: String?
    public var experiments: Int?
    public var samplesPerLabel: Int?
    public var seed: Int?
    public var neighbors: Int?
    /// Clustering: bootstrap runs, documents per run, fraction of documents embedded.
    public var bootstrapRuns: Int?
    public var documentsPerRun: Int?
    public var fractionEmbedded: Double?
    /// Subsampling for quick runs: at most this many items (pairs, queries, documents per class …).
    public var limit: Int?
    /// Retrieval subsampling: at most this many corpus documents (every judged document of a kept query stays).
    public var corpusLimit: Int?

    enum CodingKeys: String, CodingKey {
        case name, type, description, language, split, instruction, data, train, method, experiments, seed, neighbors, limit
        case documentInstruction = "document_instruction", mainScore = "main_score", dataRoot = "data_root"
        case positiveLabels = "positive_labels", ignoreIdenticalIDs = "ignore_identical_ids", topK = "top_k"
        case rerankTopK = "rerank_top_k", samplesPerLabel = "samples_per_label", bootstrapRuns = "bootstrap_runs"
        case documentsPerRun = "documents_per_run", fractionEmbedded = "fraction_embedded", corpusLimit = "corpus_limit"
        case relevanceThreshold = "relevance_threshold"
    }

    /// The instruction to use: the task's, or the type's default; `nil` when the task sets "".
    public var resolvedInstruction: String? {
        let value = instruction ?? type.defaultInstruction
        return value.isEmpty ? nil : value
    }

    /// The main score's name.
    public var resolvedMainScore: String { mainScore ?? type.defaultMainScore }
}

/// A task file read from disk, with the folder its relative data paths resolve against.
public struct LoadedTask: Sendable {
    public var description: TaskDescription
    /// The task file.
    public var file: URL
    /// Where relative data paths point.
    public var dataRoot: URL

    /// Reads and validates a task file.
    ///
    /// - Parameters:
    ///   - file: the task file (JSON).
    ///   - dataRootOverride: replaces the file's `data_root` (for data kept elsewhere).
    public init(file: URL, dataRootOverride: URL? = nil) throws {
        let path = file.pathAsGiven  // as the caller spelled it, for messages
        self.file = file.standardizedFileURL
        guard let data = FileManager.default.contents(atPath: file.path) else { throw EvaluationError.unreadableFile(path: path) }
        do {
            description = try JSONDecoder().decode(TaskDescription.self, from: data)
        } catch let error as DecodingError {
            throw EvaluationError.invalidTaskFile(path: path, reason: Self.explain(error))
        } catch {
            throw EvaluationError.invalidTaskFile(path: path, reason: "not JSON (\(error.localizedDescription))")
        }
        let folder = file.deletingLastPathComponent()
        if let dataRootOverride {
            dataRoot = dataRootOverride.standardizedFileURL
        } else if let root = description.dataRoot {
            dataRoot = (root.hasPrefix("/") ? URL(fileURLWithPath: root) : folder.appendingPathComponent(root)).standardizedFileURL
        } else {
            dataRoot = folder
        }
        try validate(path: path)
    }

    /// The absolute location of a data path.
    public func resolve(_ path: String) -> URL {
        (path.hasPrefix("/") ? URL(fileURLWithPath: path) : dataRoot.appendingPathComponent(path)).standardizedFileURL
    }

    private func validate(path: String) throws {
        let task = description
        guard !task.name.isEmpty else { throw EvaluationError.invalidTaskFile(path: path, reason: "\"name\" is empty") }
        if task.type == .classification, task.train == nil {
            throw EvaluationError.invalidTaskFile(path: path, reason: "a classification task needs a \"train\" data source")
        }
        if let method = task.method, !["logreg", "knn"].contains(method) {
            throw EvaluationError.invalidTaskFile(path: path, reason: "\"method\" must be \"logreg\" or \"knn\", not \"\(method)\"")
        }
        for (key, value) in [("top_k", task.topK), ("rerank_top_k", task.rerankTopK), ("experiments", task.experiments),
                             ("samples_per_label", task.samplesPerLabel), ("neighbors", task.neighbors),
                             ("bootstrap_runs", task.bootstrapRuns), ("documents_per_run", task.documentsPerRun),
                             ("limit", task.limit), ("corpus_limit", task.corpusLimit)] {
            if let value, value <= 0 { throw EvaluationError.invalidTaskFile(path: path, reason: "\"\(key)\" must be positive, got \(value)") }
        }
        if let fraction = task.fractionEmbedded, !(fraction > 0 && fraction <= 1) {
            throw EvaluationError.invalidTaskFile(path: path, reason: "\"fraction_embedded\" must be in (0, 1], got \(fraction)")
        }
    }

    static func explain(_ error: DecodingError) -> String {
        func location(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = location(context.codingPath)
            return "missing field \"\(parent.isEmpty ? "" : parent + ".")\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field \"\(location(context.codingPath))\": \(context.debugDescription)"
        case .dataCorrupted(let context):
            let field = location(context.codingPath)
            return field.isEmpty ? "not valid JSON" : "field \"\(field)\": \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
