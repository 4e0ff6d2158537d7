import Foundation

/// Sentence pairs with a gold value: a similarity score (STS), a 0/1 label (pair classification), or
/// nothing but their alignment (bitext mining).
public struct PairDataset: Sendable {
    public var sentences1: [String]
    public var sentences2: [String]
    public var values: [Double]
}

/// Texts with class or cluster labels.
public struct LabeledTexts: Sendable {
    public var texts: [String]
    public var labels: [String]
}

/// A BEIR-style retrieval collection.
public struct RetrievalDataset: Sendable {
    /// Documents (id, text) in file order; the text is "title text" when a title is given.
    public var corpus: [(id: String, text: String)]
    /// Queries (id, text) that have judgements.
    public var queries: [(id: String, text: String)]
    /// Query id → document id → grade.
    public var qrels: [String: [String: Int]]
}

/// Reranking samples: a query with positive and negative candidates.
public struct RerankingSample: Sendable {
    public var query: String
    public var positives: [String]
    public var negatives: [String]
}

/// Loads the data a task describes, applying its `limit` subsampling.
public enum DatasetLoader {
    /// STS pairs (`sentence1`, `sentence2`, `score`).
    public static func stsPairs(_ task: LoadedTask) throws -> PairDataset {
        let source = task.description.data
        let url = task.resolve(source.path)
        let rows = try TableReader.rows(of: source, at: url, roles: ["sentence1", "sentence2", "score"])
            .prefix(task.description.limit ?? .max)
        return PairDataset(
            sentences1: rows.map { $0["sentence1"]! }, sentences2: rows.map { $0["sentence2"]! },
            values: try rows.map { try TableReader.number($0["score"]!, role: "score", path: url.path) })
    }

    /// Pair-classification pairs (`sentence1`, `sentence2`, `label`), labels mapped to 1 (positive) or 0.
    public static func labeledPairs(_ task: LoadedTask) throws -> PairDataset {
        let source = task.description.data
        let url = task.resolve(source.path)
        let positive = Set(task.description.positiveLabels ?? ["1", "1.0", "true", "True"])
        let rows = try TableReader.rows(of: source, at: url, roles: ["sentence1", "sentence2", "label"])
            .prefix(task.description.limit ?? .max)
        let values = rows.map { positive.contains($0["label"]!) ? 1.0 : 0.0 }
        guard values.contains(1), values.contains(0) else {
            throw EvaluationError.emptyData(path: url.path, what: "pair classification needs both positive and negative pairs (positive labels: \(positive.sorted()))")
        }
        return PairDataset(sentences1: rows.map { $0["sentence1"]! }, sentences2: rows.map { $0["sentence2"]! }, values: values)
    }

    /// Aligned sentence pairs for bitext mining (`sentence1`, `sentence2`). A row repeating an earlier
    /// sentence on either side is dropped: with two identical candidates the gold index is ambiguous.
    public static func bitextPairs(_ task: LoadedTask) throws -> PairDataset {
        let source = task.description.data
        let rows = try TableReader.rows(of: source, at: task.resolve(source.path), roles: ["sentence1", "sentence2"])
        var seen1 = Set<String>(), seen2 = Set<String>(), first: [String] = [], second: [String] = []
        for row in rows where first.count < task.description.limit ?? .max {
            let s1 = row["sentence1"]!, s2 = row["sentence2"]!
            guard !seen1.contains(s1), !seen2.contains(s2) else { continue }
            seen1.insert(s1); seen2.insert(s2)
            first.append(s1); second.append(s2)
        }
        return PairDataset(sentences1: first, sentences2: second, values: [])
    }

    /// Labelled texts (`text`, `label`) from `source`, at most `limit` per label when given.
    public static func labeledTexts(_ task: LoadedTask, source: DataSource, limitPerLabel: Int? = nil) throws -> LabeledTexts {
        let rows = try TableReader.rows(of: source, at: task.resolve(source.path), roles: ["text", "label"])
        var texts: [String] = [], labels: [String] = [], counts: [String: Int] = [:]
        for row in rows {
            let label = row["label"]!
            if let limitPerLabel, counts[label, default: 0] >= limitPerLabel { continue }
            counts[label, default: 0] += 1
            texts.append(row["text"]!); labels.append(label)
        }
        return LabeledTexts(texts: texts, labels: labels)
    }

    /// A BEIR folder: queries limited to `limit` (those with relevant documents first kept in file
    /// order), corpus limited to `corpus_limit` documents (every judged document of a kept query stays).
    public static func retrieval(_ task: LoadedTask) throws -> RetrievalDataset {
        let source = task.description.data
        let folder = task.resolve(source.path)
        let qrelsURL = folder.appendingPathComponent(source.qrels ?? "qrels/test.tsv")
        var qrels = try readQrels(qrelsURL)
        let queryRows = try TableReader.rows(of: DataSource(path: "queries.jsonl", format: .json, fields: ["id": .name("_id")]),
                                             at: folder.appendingPathComponent("queries.jsonl"), roles: ["id", "text"])
        var queries = queryRows.map { (id: $0["id"]!, text: $0["text"]!) }.filter { qrels[$0.id] != nil }
        guard !queries.isEmpty else { throw EvaluationError.emptyData(path: qrelsURL.path, what: "no query in queries.jsonl has judgements") }
        if let limit = task.description.limit {
            let withPositives = queries.filter { qrels[$0.id]!.values.contains { $0 > 0 } }
            queries = Array(withPositives.prefix(limit))
        }
        // Judgements of queries that are not in queries.jsonl cannot be evaluated (MTEB skips them).
        let kept = Set(queries.map(\.id))
        qrels = qrels.filter { kept.contains($0.key) }
        let corpusURL = folder.appendingPathComponent("corpus.jsonl")
        let corpusRows = try TableReader.rows(of: DataSource(path: "corpus.jsonl", format: .json, fields: ["id": .name("_id")]),
                                              at: corpusURL, roles: ["id", "text"])
        let titles = try corpusTitles(corpusURL)
        var corpus = corpusRows.map { row -> (id: String, text: String) in
            let id = row["id"]!
            if let title = titles[id], !title.isEmpty { return (id, (title + " " + row["text"]!).trimmingCharacters(in: .whitespaces)) }
            return (id, row["text"]!)
        }
        if let corpusLimit = task.description.corpusLimit {
            let judged = Set(qrels.values.flatMap(\.keys))
            var others = corpusLimit - corpus.filter { judged.contains($0.id) }.count
            corpus = corpus.filter { document in
                if judged.contains(document.id) { return true }
                others -= 1
                return others >= 0
            }
        }
        return RetrievalDataset(corpus: corpus, queries: queries, qrels: qrels)
    }

    /// Reranking samples: MTEB JSON rows (`query`, `positive` list, `negative` list), or a BEIR folder
    /// whose judged documents are the candidates (grade ≥ `relevance_threshold` positive, lower
    /// grades negative). Samples
    /// without a positive or without a negative are dropped, as MTEB drops them.
    public static func reranking(_ task: LoadedTask) throws -> [RerankingSample] {
        let source = task.description.data
        let url = task.resolve(source.path)
        var samples: [RerankingSample] = []
        if (source.format ?? TableReader.inferredFormat(url.path)) == .beir {
            let collection = try retrieval(task)
            let threshold = task.description.relevanceThreshold ?? 1
            let texts = Dictionary(collection.corpus.map { ($0.id, $0.text) }, uniquingKeysWith: { first, _ in first })
            for query in collection.queries {
                let judged = (collection.qrels[query.id] ?? [:]).sorted { $0.key < $1.key }
                samples.append(RerankingSample(
                    query: query.text,
                    positives: judged.filter { $0.value >= threshold }.compactMap { texts[$0.key] },
                    negatives: judged.filter { $0.value < threshold }.compactMap { texts[$0.key] }))
            }
        } else {
            guard let data = FileManager.default.contents(atPath: url.path) else { throw EvaluationError.unreadableFile(path: url.path) }
            for (number, text) in TableReader.lines(data) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                      let query = object["query"] as? String,
                      let positives = object["positive"] as? [String], let negatives = object["negative"] as? [String] else {
                    throw EvaluationError.malformedRecord(path: url.path, line: number, reason: "expected {\"query\": string, \"positive\": [string], \"negative\": [string]}")
                }
                samples.append(RerankingSample(query: query, positives: positives, negatives: negatives))
            }
            samples = Array(samples.prefix(task.description.limit ?? .max))
        }
        samples = samples.filter { !$0.positives.isEmpty && !$0.negatives.isEmpty }
        guard !samples.isEmpty else { throw EvaluationError.emptyData(path: url.path, what: "no sample has both a positive and a negative candidate") }
        return samples
    }

    /// BEIR qrels: `query-id corpus-id score`, tab-separated, with or without a header line.
    public static func readQrels(_ url: URL) throws -> [String: [String: Int]] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw EvaluationError.unreadableFile(path: url.path) }
        var qrels: [String: [String: Int]] = [:]
        for (index, line) in TableReader.lines(data).enumerated() {
            let cells = line.text.split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init)
            // TREC qrels have four columns (query, iteration, document, grade); BEIR has three.
            guard cells.count == 3 || cells.count == 4 else {
                throw EvaluationError.malformedRecord(path: url.path, line: line.number, reason: "expected query-id, corpus-id, score")
            }
            guard let grade = Int(cells[cells.count - 1]) ?? Double(cells[cells.count - 1]).map({ Int($0) }) else {
                if index == 0 { continue }  // a header line
                throw EvaluationError.malformedRecord(path: url.path, line: line.number, reason: "score \"\(cells[cells.count - 1])\" is not a number")
            }
            qrels[cells[0], default: [:]][cells[cells.count - 2]] = grade
        }
        guard !qrels.isEmpty else { throw EvaluationError.emptyData(path: url.path, what: "no judgements") }
        return qrels
    }

    /// BEIR corpus titles (an optional field the row reader does not require).
    static func corpusTitles(_ url: URL) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw EvaluationError.unreadableFile(path: url.path) }
        var titles: [String: String] = [:]
        for (_, text) in TableReader.lines(data) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                  let id = TableReader.scalar(object["_id"]), let title = object["title"] as? String, !title.isEmpty else { continue }
            titles[id] = title
        }
        return titles
    }
}
