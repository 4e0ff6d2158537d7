extension TaskRunner {
    /// Retrieval: exact top-k by cosine, trec_eval metrics at every cut-off; with a reranker, the
    /// top `rerank_top_k` (default 100) of each query rescored and evaluated again as `reranked_*`.
    func runRetrieval(_ task: LoadedTask) async throws -> ([String: Double], [String: Int]) {
        let description = task.description
        let data = try DatasetLoader.retrieval(task)
        let queryVectors = try await embeddings.embed(
            data.queries.map(\.text), instruction: description.resolvedInstruction, label: "\(description.name) queries")
        let corpusVectors = try await embeddings.embed(
            data.corpus.map(\.text), instruction: description.documentInstruction, label: "\(description.name) corpus")
        let ignoreIdentical = description.ignoreIdenticalIDs ?? false
        let k = description.topK ?? 1000
        // trec_eval breaks score ties by document id descending (bytes): rank rows that way.
        let byID = data.corpus.indices.sorted { data.corpus[$1].id.utf8.lexicographicallyPrecedes(data.corpus[$0].id.utf8) }
        var tieRank = [Int](repeating: 0, count: data.corpus.count)
        for (rank, index) in byID.enumerated() { tieRank[index] = rank }
        let hits = SimilaritySearch.topK(queries: queryVectors, corpus: corpusVectors, k: k + (ignoreIdentical ? 1 : 0), tieRank: tieRank)
        var runs: [String: [(id: String, score: Double)]] = [:]
        for (query, queryHits) in zip(data.queries, hits) {
            let kept = queryHits.filter { !ignoreIdentical || data.corpus[$0.index].id != query.id }.prefix(k)
            runs[query.id] = RetrievalMetrics.trecOrder(Dictionary(
                kept.map { (data.corpus[$0.index].id, Double($0.score)) }, uniquingKeysWith: max))
        }
        let (means, evaluated) = RetrievalMetrics.mean(rankings: runs.mapValues { $0.map(\.id) }, qrels: data.qrels)
        var scores = RetrievalMetrics.scoreDictionary(means)
        if let reranker {
            let texts = Dictionary(data.corpus.map { ($0.id, $0.text) }, uniquingKeysWith: { first, _ in first })
            let depth = description.rerankTopK ?? 100
            var pairs: [(query: String, document: String)] = [], owners: [(query: String, document: String)] = []
            for query in data.queries {
                for hit in (runs[query.id] ?? []).prefix(depth) {
                    pairs.append((query.text, texts[hit.id]!)); owners.append((query.id, hit.id))
                }
            }
            let rerankScores = try await rerank(pairs, reranker: reranker, task: task)
            var reranked: [String: [String: Double]] = [:]
            for (owner, score) in zip(owners, rerankScores) { reranked[owner.query, default: [:]][owner.document] = Double(score) }
            let (rerankedMeans, _) = RetrievalMetrics.mean(
                rankings: reranked.mapValues { RetrievalMetrics.trecOrder($0).map(\.id) }, qrels: data.qrels)
            for (name, value) in RetrievalMetrics.scoreDictionary(rerankedMeans) { scores["reranked_\(name)"] = value }
        }
        return (scores, ["queries": evaluated, "documents": data.corpus.count])
    }

    /// Reranking: each query's candidates scored (reranker, or cosine of embeddings), then MTEB v1's
    /// mean average precision (scikit-learn AP per query, main `map`) and MRR@10.
    func runReranking(_ task: LoadedTask) async throws -> ([String: Double], [String: Int]) {
        let description = task.description
        let samples = try DatasetLoader.reranking(task)
        var candidateScores: [[Double]] = []
        if let reranker {
            let pairs = samples.flatMap { sample in (sample.positives + sample.negatives).map { (query: sample.query, document: $0) } }
            var flat = try await rerank(pairs, reranker: reranker, task: task).map(Double.init)[...]
            for sample in samples {
                let count = sample.positives.count + sample.negatives.count
                candidateScores.append(Array(flat.prefix(count)))
                flat = flat.dropFirst(count)
            }
        } else {
            let queries = try await embeddings.embed(samples.map(\.query), instruction: description.resolvedInstruction,
                                                     label: "\(description.name) queries")
            let documents = try await embeddings.embed(samples.flatMap { $0.positives + $0.negatives },
                                                       instruction: description.documentInstruction,
                                                       label: "\(description.name) candidates")
            var offset = 0
            for (sample, query) in zip(samples, queries) {
                let count = sample.positives.count + sample.negatives.count
                candidateScores.append(documents[offset..<(offset + count)].map { VectorMath64.cosine(query, $0) })
                offset += count
            }
        }
        var averagePrecision = 0.0, reciprocalRank = 0.0
        for (sample, scores) in zip(samples, candidateScores) {
            let labels = sample.positives.map { _ in true } + sample.negatives.map { _ in false }
            averagePrecision += RankingMetrics.averagePrecision(labels: labels, scores: scores)
            reciprocalRank += RankingMetrics.reciprocalRank(labels: labels, scores: scores, cutoff: 10)
        }
        let n = Double(samples.count)
        return (["map": averagePrecision / n, "mrr_at_10": reciprocalRank / n],
                ["queries": samples.count, "candidates": candidateScores.reduce(0) { $0 + $1.count }])
    }
}
